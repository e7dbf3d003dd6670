"""Hostile input to the sync server: each case gets its exact status and code, and changes no state.

Request-level refusals are 400 (malformed body), 401 (header, signature, time, nonce, device,
token), 403 (scope or another device's op), 409 (equivocation), 413 (size), 429 (rate); an op that is
bad on its own inside an authentic request is a ``rejected`` entry of a 200 answer (docs/sync.md).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import pytest

from crdt.keys import DeviceKey
from crdt.op import ZERO_HASH, Op, decode_op, sign_op
from edge.node import Node
from edge.sync import ServerRefused, enroll, pack, sync_once
from sync_server.admin import revoke
from sync_server.core import HttpRequest, InProcessTransport, Limits, SyncServer

from .helpers import Clock, answer, make_district, signed, sync_body, token


def craft(node: Node, scope: str, seq: int, prev: bytes, type_: str = "ticket.comment", **data: Any) -> Op:
    """An op signed by ``node``'s key, outside its store."""
    return sign_op(
        node.store.ident.key,
        scope=scope,
        seq=seq,
        prev=prev,
        hlc=(node.store.wall(), 0),
        actor=None,
        type=type_,
        obj="01TICKET",
        data=data or {"text": "hello"},
    )


def head(server: SyncServer, node: Node, scope: str = "a") -> tuple[int, bytes]:
    row = server.node.conn.execute(
        "SELECT head_seq, head_hash FROM streams WHERE dev=? AND scope=?", (node.dev, scope)
    ).fetchone()
    return (row[0], bytes(row[1])) if row else (0, ZERO_HASH)


def raw_map(pairs: list[tuple[str, bytes]]) -> bytes:
    """A msgpack map written by hand from packed values (keys in the order given, repeats allowed)."""
    n = len(pairs)
    header = bytes([0x80 | n]) if n < 16 else b"\xde" + n.to_bytes(2, "big")
    return header + b"".join(msgpack.packb(k) + v for k, v in pairs)


def hand_signed(node: Node, seq: int, prev: bytes, data_bytes: bytes) -> bytes:
    """An op whose ``data`` is the given bytes, signed; the rest of the body is canonical."""
    p = msgpack.packb
    body = raw_map(
        [
            ("actor", p(None)),
            ("data", data_bytes),
            ("dev", p(node.dev)),
            ("hlc", p([node.store.wall(), 0])),
            ("obj", p("01TICKET")),
            ("prev", p(prev, use_bin_type=True)),
            ("scope", p("a")),
            ("seq", p(seq)),
            ("type", p("ticket.comment")),
            ("v", p(1)),
        ]
    )
    sig = node.store.ident.key.sign(body)
    return bytes(msgpack.packb([body, sig], use_bin_type=True))


@pytest.fixture
def kiosk(make_node: Callable[..., Node], transport: InProcessTransport) -> Node:
    node = make_node("k1", "a")
    node.add_household("1-101")
    node.award("1-101", 5, "volunteering")
    sync_once(node, transport)
    return node


def refused(server: SyncServer, resp: Any, status: int, code: str, before: str) -> dict[str, Any]:
    body = answer(resp)
    assert (resp.status, body.get("error")) == (status, code), body
    assert server.node.digest() == before
    return body


def test_forged_request_signature_is_401_and_changes_nothing(district: SyncServer, kiosk: Node) -> None:
    before = district.node.digest()
    op = craft(kiosk, "a", head(district, kiosk)[0] + 1, head(district, kiosk)[1])
    req = signed(kiosk, sync_body([op.raw]))
    forged = type(req)(req.method, req.path, req.query, req.headers, sync_body([op.raw], cursor=1))
    refused(district, district.handle(forged), 401, "signature", before)
    other = DeviceKey.generate()
    header = signed(kiosk, sync_body(), key=other).headers["authorization"].replace(other.device_id, kiosk.dev)
    req2 = type(req)("POST", "/v1/sync", "", {"authorization": header}, sync_body())
    refused(district, district.handle(req2), 401, "signature", before)


def test_replayed_request_is_401_and_changes_nothing(district: SyncServer, kiosk: Node) -> None:
    op = craft(kiosk, "a", head(district, kiosk)[0] + 1, head(district, kiosk)[1])
    req = signed(kiosk, sync_body([op.raw]))
    assert district.handle(req).status == 200
    after_first = district.node.digest()
    refused(district, district.handle(req), 401, "replay", after_first)


def test_stale_timestamp_is_401_with_the_server_time(district: SyncServer, kiosk: Node, clock: Clock) -> None:
    before = district.node.digest()
    req = signed(kiosk, sync_body(), ts=clock() - 5 * 60_000 - 1)
    body = refused(district, district.handle(req), 401, "stale_timestamp", before)
    assert body["server_time_ms"] == clock()
    ahead = signed(kiosk, sync_body(), ts=clock() + 6 * 60_000)
    refused(district, district.handle(ahead), 401, "stale_timestamp", before)


def test_unknown_device_is_401(district: SyncServer, tmp_path: Path, clock: Clock) -> None:
    stranger = Node.init(tmp_path / "stranger", "a", wall=clock)
    stranger.add_household("9-909")
    before = district.node.digest()
    push = [r for r in stranger.store.stream_ops(stranger.dev, "a")]
    refused(district, district.handle(signed(stranger, sync_body(push))), 401, "unknown_device", before)
    stranger.close()


def test_revoked_device_is_401_and_its_later_ops_are_refused(district: SyncServer, kiosk: Node) -> None:
    result = revoke(district.node, kiosk.dev, reason="stolen")
    assert result["revoked_from_seq"] == head(district, kiosk)[0] + 1
    before = district.node.digest()
    op = craft(kiosk, "a", head(district, kiosk)[0] + 1, head(district, kiosk)[1])
    refused(district, district.handle(signed(kiosk, sync_body([op.raw]))), 401, "revoked", before)


def test_op_for_a_scope_the_device_may_not_write_is_403(district: SyncServer, kiosk: Node) -> None:
    before = district.node.digest()
    other_scope = craft(kiosk, "b", 1, ZERO_HASH)
    body = refused(district, district.handle(signed(kiosk, sync_body([other_scope.raw]))), 403, "forbidden", before)
    assert body["rejected"][0]["code"] == "forbidden"
    notice = craft(kiosk, "district", 1, ZERO_HASH, "notice.post", title_zh="t", title_en="t", body_zh="b", body_en="b")
    refused(district, district.handle(signed(kiosk, sync_body([notice.raw]))), 403, "forbidden", before)


def test_pushing_another_devices_op_is_403(district: SyncServer, kiosk: Node, make_node: Callable[..., Node]) -> None:
    other = make_node("k2", "a")
    op = craft(other, "a", 1, ZERO_HASH)
    before = district.node.digest()
    refused(district, district.handle(signed(kiosk, sync_body([op.raw]))), 403, "forbidden", before)
    assert head(district, other) == (0, ZERO_HASH)


def test_equivocation_is_409_keeps_evidence_and_quarantines(district: SyncServer, kiosk: Node) -> None:
    seq, _ = head(district, kiosk)
    held = district.node.conn.execute("SELECT raw FROM ops WHERE dev=? AND seq=?", (kiosk.dev, seq)).fetchone()
    twin = craft(kiosk, "a", seq, decode_op(bytes(held[0])).prev, text="a different op at the same seq")
    before = district.node.digest()
    body = refused(district, district.handle(signed(kiosk, sync_body([twin.raw]))), 409, "equivocation", before)
    assert body["rejected"][0]["code"] == "equivocation"
    evidence = district.node.conn.execute("SELECT reason FROM evidence WHERE hash=?", (twin.hash,)).fetchone()
    assert evidence == ("equivocation",)
    nxt = craft(kiosk, "a", seq + 1, head(district, kiosk)[1])
    refused(district, district.handle(signed(kiosk, sync_body([nxt.raw]))), 403, "quarantined", before)


def test_gap_in_a_stream_is_a_per_op_rejection(district: SyncServer, kiosk: Node) -> None:
    seq, prev = head(district, kiosk)
    before = district.node.digest()
    op = craft(kiosk, "a", seq + 2, prev)
    resp = district.handle(signed(kiosk, sync_body([op.raw])))
    body = answer(resp)
    assert resp.status == 200
    assert [(r["code"], r["seq"]) for r in body["rejected"]] == [("gap", seq + 2)]
    assert body["accepted"] == [] and district.node.digest() == before


def test_oversized_body_is_413(tmp_path: Path, clock: Clock) -> None:
    server = make_district(tmp_path / "d", clock=clock, limits=Limits(max_body=1000))
    node = Node.init(tmp_path / "n", "a", wall=clock)
    enroll(node, InProcessTransport(server), "http://d", token(server, "a"))
    before = server.node.digest()
    refused(server, server.handle(signed(node, sync_body([b"x" * 2000]))), 413, "too_large", before)
    node.close()
    server.close()


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"\xc1\x00", "malformed"),
        (b"\x91" * 40 + b"\x00", "deeper"),
        (msgpack.packb({"cursor": 1.5, "limit": 10, "push": []}), "float"),
        (msgpack.packb({"cursor": 0, "limit": 10, "push": [1.5]}), "float"),
        (msgpack.packb({"push": [], "cursor": 0}), "out of order"),
        (pack({"cursor": "zero", "push": []}), "cursor"),
    ],
    ids=["malformed-msgpack", "deep-nesting", "float-in-body", "float-as-op", "unsorted-keys", "wrong-type"],
)
def test_malformed_request_bodies_are_400(district: SyncServer, kiosk: Node, body: bytes, detail: str) -> None:
    before = district.node.digest()
    got = refused(district, district.handle(signed(kiosk, body)), 400, "malformed", before)
    assert detail in got["detail"]


def test_float_or_duplicate_key_hidden_in_a_signed_op_is_rejected(district: SyncServer, kiosk: Node) -> None:
    seq, prev = head(district, kiosk)
    before = district.node.digest()
    with_float = hand_signed(kiosk, seq + 1, prev, raw_map([("text", msgpack.packb(1.5))]))
    dup_key = hand_signed(kiosk, seq + 1, prev, raw_map([("text", msgpack.packb("x")), ("text", msgpack.packb("y"))]))
    for raw, word in ((with_float, "float"), (dup_key, "twice")):
        resp = district.handle(signed(kiosk, sync_body([raw])))
        body = answer(resp)
        assert resp.status == 200 and body["accepted"] == []
        assert body["rejected"][0]["code"] == "malformed" and word in body["rejected"][0]["detail"]
    assert district.node.digest() == before


def test_non_canonical_re_encoding_of_a_signed_op_is_rejected(district: SyncServer, kiosk: Node) -> None:
    seq, prev = head(district, kiosk)
    op = craft(kiosk, "a", seq + 1, prev)
    # The same body and signature, the signature written as bin16 instead of the shortest bin8.
    wide = b"\x92" + msgpack.packb(op.body, use_bin_type=True) + b"\xc5\x00\x40" + op.sig
    assert msgpack.unpackb(wide) == [op.body, op.sig] and wide != op.raw
    before = district.node.digest()
    body = answer(district.handle(signed(kiosk, sync_body([wide]))))
    assert body["accepted"] == [] and body["rejected"][0]["code"] == "malformed"
    assert "canonical" in body["rejected"][0]["detail"]
    assert district.node.digest() == before
    good = answer(district.handle(signed(kiosk, sync_body([op.raw]))))
    assert len(good["accepted"]) == 1


def test_reused_and_expired_enrolment_tokens_are_401(district: SyncServer, tmp_path: Path, clock: Clock) -> None:
    t = token(district, "a", ttl_ms=60_000)
    first = Node.init(tmp_path / "first", "a", wall=clock)
    enroll(first, InProcessTransport(district), "http://d", t)
    before = district.node.digest()
    second = Node.init(tmp_path / "second", "a", wall=clock)
    with pytest.raises(ServerRefused) as reused:
        enroll(second, InProcessTransport(district), "http://d", t)
    assert (reused.value.status, reused.value.code) == (401, "token_used")
    late = token(district, "a", ttl_ms=60_000)
    clock.advance(60_001)
    with pytest.raises(ServerRefused) as expired:
        enroll(second, InProcessTransport(district), "http://d", late)
    assert (expired.value.status, expired.value.code) == (401, "token_expired")
    assert district.node.digest() == before
    first.close()
    second.close()


def test_a_replay_after_a_server_restart_is_still_refused(tmp_path: Path, clock: Clock) -> None:
    server = make_district(tmp_path / "d", clock=clock)
    node = Node.init(tmp_path / "n", "a", wall=clock)
    enroll(node, InProcessTransport(server), "http://d", token(server, "a"))
    node.add_household("2-202")
    req = signed(node, sync_body(node.store.stream_ops(node.dev, "a")))
    assert server.handle(req).status == 200
    server.close()
    clock.advance(60_000)
    restarted = make_district(tmp_path / "d", clock=clock)
    before = restarted.node.digest()
    refused(restarted, restarted.handle(req), 401, "replay", before)
    restarted.close()
    node.close()


def test_too_many_requests_from_one_device_is_429(tmp_path: Path, clock: Clock) -> None:
    server = make_district(tmp_path / "d", clock=clock, limits=Limits(rate_per_s=1, burst=3))
    node = Node.init(tmp_path / "n", "a", wall=clock)
    enroll(node, InProcessTransport(server), "http://d", token(server, "a"))
    codes = [server.handle(signed(node, sync_body())).status for _ in range(3)]
    assert codes == [200, 200, 429]  # the enrolment took the first of the burst of 3
    clock.advance(1000)
    assert server.handle(signed(node, sync_body())).status == 200
    server.close()
    node.close()


def test_unknown_paths_and_methods_are_404_and_405(district: SyncServer) -> None:
    assert district.handle(HttpRequest("GET", "/v2/nothing")).status == 404
    assert district.handle(HttpRequest("GET", "/v1/sync")).status == 405
