"""The sync client: clock correction, pending ops, rejections surfaced, causal push order, failures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from crdt.errors import SignatureError
from crdt.keys import DeviceKey
from crdt.op import sign_op
from edge.audit.client import request_fields
from edge.errors import InputError
from edge.node import Node
from edge.sync import (
    HttpTransport,
    OwnOpsRejected,
    SyncFailed,
    Unreachable,
    auth_header,
    enroll,
    pack,
    parse_auth,
    signing_bytes,
    sync_once,
)
from sync_server.core import InProcessTransport, SyncServer
from tests.sync_server.helpers import Clock, free_port, make_district, token


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def district(tmp_path: Path, clock: Clock) -> Iterator[SyncServer]:
    server = make_district(tmp_path / "district", clock=clock)
    yield server
    server.close()


def kiosk(district: SyncServer, path: Path, clock: Callable[[], int], community: str = "a") -> Node:
    node = Node.init(path, community, wall=clock)
    enroll(node, InProcessTransport(district), "http://district.test", token(district, community))
    return node


def test_a_kiosk_clock_ten_minutes_behind_is_corrected_from_the_server_time(
    district: SyncServer, tmp_path: Path, clock: Clock
) -> None:
    node = kiosk(district, tmp_path / "k", clock)
    node.store.set("clock_offset_ms", 0)
    node.store.wall = lambda: clock() - 10 * 60_000  # the Pi restarted from an old fake-hwclock time
    node.add_household("1-101")
    report = sync_once(node, InProcessTransport(district))
    assert report.caught_up and report.pushed == 1
    assert node.store.get("clock_offset_ms") == 10 * 60_000
    assert node.store.get("clock_offset_alarm") is True and node.status()["clock_skew"] is True
    node.close()


def test_a_small_offset_is_learnt_without_an_alarm(district: SyncServer, tmp_path: Path, clock: Clock) -> None:
    node = kiosk(district, tmp_path / "k", lambda: clock() + 90_000)
    sync_once(node, InProcessTransport(district))
    assert node.store.get("clock_offset_ms") == -90_000 and node.store.get("clock_offset_alarm") is False
    assert node.status()["clock_skew"] is False
    node.close()


def test_pending_ops_and_last_sync_are_in_status(district: SyncServer, tmp_path: Path, clock: Clock) -> None:
    node = kiosk(district, tmp_path / "k", clock)
    assert node.mode() == "offline"  # enrolled, never synced
    for unit in ("1-101", "1-102", "1-103"):
        node.add_household(unit)
    assert node.status()["pending"] == 3
    sync_once(node, InProcessTransport(district))
    status = node.status()
    assert (status["pending"], status["last_sync"], status["mode"]) == (0, clock(), "normal")
    node.close()


def test_ops_the_server_rejects_are_surfaced_and_not_pushed_again(
    district: SyncServer, tmp_path: Path, clock: Clock
) -> None:
    node = kiosk(district, tmp_path / "k", clock)
    node.add_household("1-101")
    bad = sign_op(
        node.store.ident.key,
        scope="a",
        seq=2,
        prev=node.conn.execute("SELECT hash FROM ops WHERE dev=? AND seq=1", (node.dev,)).fetchone()[0],
        hlc=(clock(), 5),
        actor=None,
        type="ticket.comment",
        obj="01T",
        data={"text": ""},  # an empty comment: the server's payload model refuses it
    )
    with node.store.tx() as tx:
        node.store._append(tx.conn, bad, clock())
    node.add_household("1-102")  # seq 3, behind the rejected op
    with pytest.raises(OwnOpsRejected, match="invalid_data"):
        sync_once(node, InProcessTransport(district))
    status = node.status()
    assert status["pending"] == 2 and "invalid_data" in status["last_sync_error"]
    assert node.store.get("sync_blocked")[f"{node.dev}/a"]["seq"] == 2
    with pytest.raises(OwnOpsRejected):
        sync_once(node, InProcessTransport(district))
    assert district.metrics.rejected["invalid_data"] == 1  # not pushed a second time
    node.close()


def test_own_ops_are_pushed_in_local_log_order_across_streams(
    district: SyncServer, tmp_path: Path, clock: Clock
) -> None:
    district.node.add_tech("Wang", ["water"], "core", shared=True)
    node = kiosk(district, tmp_path / "k", clock)
    sync_once(node, InProcessTransport(district))
    tech = node.techs()[0]["id"]
    node.add_household("1-101")
    node.tech_status(tech, "busy")
    node.add_household("1-102")
    node.tech_status(tech, "available")
    sync_once(node, InProcessTransport(district))
    order = "SELECT scope, seq FROM ops WHERE dev=? ORDER BY idx"
    assert district.node.conn.execute(order, (node.dev,)).fetchall() == node.conn.execute(order, (node.dev,)).fetchall()
    assert {r[0] for r in node.conn.execute(order, (node.dev,))} == {"a", "district"}
    node.close()


class Scripted:
    """A transport that answers with prepared bodies."""

    def __init__(self, *answers: tuple[int, bytes]) -> None:
        self.answers = list(answers)
        self.sent: list[bytes] = []

    def request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        self.sent.append(body)
        return self.answers.pop(0)


def test_a_pulled_op_this_node_rejects_stops_the_sync_before_it(
    district: SyncServer, tmp_path: Path, clock: Clock
) -> None:
    node = kiosk(district, tmp_path / "k", clock)
    other = kiosk(district, tmp_path / "o", clock)
    other.add_household("2-201")
    other.add_household("2-202")
    first, second = other.store.stream_ops(other.dev, "a")
    sync_once(node, InProcessTransport(district))  # learns the other device's key
    page = {
        "ops": [first, b"\x92\xc4\x01x\xc4\x01y", second],
        "idx": [7, 8, 9],
        "cursor": 9,
        "heads": {},
        "more": False,
        "checkpoint": None,
        "accepted": [],
        "rejected": [],
        "server_time_ms": clock(),
    }
    page.update(district.audit.log.sync_fields(request_fields(node.store)["tree_size"], []))  # a valid audit
    with pytest.raises(SyncFailed, match="stops before it"):
        sync_once(node, Scripted((200, pack(page))))
    assert node.store.get("cursor") == 7
    assert node.conn.execute("SELECT COUNT(*) FROM ops WHERE dev=?", (other.dev,)).fetchone()[0] == 1
    assert "stops before it" in node.status()["last_sync_error"]
    node.close()
    other.close()


def test_a_malformed_answer_or_an_unreachable_server_fails_and_is_recorded(
    district: SyncServer, tmp_path: Path, clock: Clock
) -> None:
    node = kiosk(district, tmp_path / "k", clock)
    with pytest.raises(SyncFailed, match="malformed"):
        sync_once(node, Scripted((200, b"\xc1")))
    with pytest.raises(Unreachable):
        sync_once(node, HttpTransport(f"http://127.0.0.1:{free_port()}", timeout=2))
    assert "127.0.0.1" in node.status()["last_sync_error"]
    node.close()


def test_enrolment_refuses_a_district_node_and_an_empty_token(district: SyncServer, tmp_path: Path) -> None:
    with pytest.raises(InputError):
        enroll(district.node, InProcessTransport(district), "http://d", "tok")
    node = Node.init(tmp_path / "k", "a")
    with pytest.raises(InputError):
        enroll(node, InProcessTransport(district), "http://d", "  ")
    node.close()


def test_the_auth_header_round_trips_and_covers_method_path_and_body() -> None:
    key = DeviceKey.generate()
    claim = parse_auth(auth_header(key, "POST", "/v1/sync", b"body", 1234, "00112233aabbccdd"))
    assert (claim.dev, claim.ts_ms, claim.nonce) == (key.device_id, 1234, "00112233aabbccdd")
    claim.verify(key.public_bytes, "POST", "/v1/sync", b"body")
    assert signing_bytes("POST", "/v1/sync", 1234, "00112233aabbccdd", b"").startswith(b"POST\n/v1/sync\n1234\n")
    for method, path, body in (
        ("GET", "/v1/sync", b"body"),
        ("POST", "/v1/enroll", b"body"),
        ("POST", "/v1/sync", b""),
    ):
        with pytest.raises(SignatureError):
            claim.verify(key.public_bytes, method, path, body)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer abc",
        "Linli-Sig dev=x,ts=1,nonce=00112233aabbccdd",
        "Linli-Sig dev=abcdefghijklmnopqrstuvwxyz,ts=1.5,nonce=00112233aabbccdd,sig=" + "A" * 88,
        "Linli-Sig dev=abcdefghijklmnopqrstuvwxyz,ts=1,nonce=XYZ,sig=" + "A" * 88,
        "Linli-Sig dev=abcdefghijklmnopqrstuvwxyz,ts=1,nonce=00112233aabbccdd,sig=!!",
        "Linli-Sig dev=abcdefghijklmnopqrstuvwxyz,ts=1,ts=2,nonce=00112233aabbccdd,sig=" + "A" * 88,
    ],
)
def test_malformed_auth_headers_are_refused_with_a_reason(header: str | None) -> None:
    with pytest.raises(ValueError):
        parse_auth(header)
