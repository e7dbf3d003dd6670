"""Clock faults through the facade and an in-process district (issue: clocks cannot stop, capture or lose
writes). Each test names the reproduction it guards; ``tests/integration/test_clock_http.py`` runs the same
faults through the real CLIs under ``faketime`` against a real server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crdt.hlc import COUNTER_MAX, SKEW_LIMIT_MS
from crdt.op import sign_op
from edge.node import Node
from edge.sync import enroll, pack, sync_once
from edge.sync.client import SyncClient
from sync_server.admin import revoke
from sync_server.core import InProcessTransport, SyncServer
from tests.sync_server.helpers import Clock, make_district, token

MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR
Y2099 = 4_084_560_000_000  # 2099-06-07


class DeviceClock:
    """A device's own clock: the district's time plus an error the test sets (a bad RTC, fake-hwclock)."""

    def __init__(self, district: Clock) -> None:
        self.district = district
        self.error = 0
        self.fixed: int | None = None

    def __call__(self) -> int:
        return self.fixed if self.fixed is not None else self.district() + self.error


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def district(tmp_path: Path, clock: Clock) -> Iterator[SyncServer]:
    server = make_district(tmp_path / "district", clock=clock)
    yield server
    server.close()


def kiosk(district: SyncServer, path: Path, clock: DeviceClock, community: str = "a") -> Node:
    node = Node.init(path, community, wall=clock)
    enroll(node, InProcessTransport(district), "http://district.test", token(district, community))
    return node


def sync(node: Node, district: SyncServer) -> None:
    report = sync_once(node, InProcessTransport(district))
    assert report.caught_up and report.pending == 0


def mode_of(node: Node, scope: str = "a") -> str:
    """The mode declared in ``scope`` as this node's views hold it."""
    row = node.conn.execute("SELECT mode FROM modes WHERE scope=?", (scope,)).fetchone()
    return "normal" if row is None else str(row[0])


def flagged(node: Node) -> set[str]:
    return {d for (d,) in node.conn.execute("SELECT dev FROM flags WHERE flag='clock_skew'")}


def test_an_op_stamped_a_day_ahead_with_the_highest_counter_stops_no_one(
    district: SyncServer, tmp_path: Path, clock: Clock
) -> None:
    """Regression: one op stamped ``(now + 23 h, 2**63 - 1)`` was accepted without a flag, and every
    receiver's next write then failed the envelope check, the district's revocation of the sender included."""
    k = kiosk(district, tmp_path / "k", DeviceClock(clock))
    a = kiosk(district, tmp_path / "a", DeviceClock(clock))
    hostile = sign_op(
        k.store.ident.key,
        scope="a",
        seq=1,
        prev=bytes(32),
        hlc=(clock() + 23 * HOUR, 2**63 - 1),
        actor=None,
        type="household.add",
        obj="1-101",
        data={"unit": "1-101"},
    )
    result = district.node.store.apply_remote([hostile.raw])
    assert len(result.accepted) == 1  # accepted: data is never refused for a clock
    # The district can still sign: its revocation of the sender, and any other op.
    assert revoke(district.node, k.dev, reason="hostile clock")["revoked_from_seq"] == 2
    assert result.skewed == [k.dev] and k.dev in flagged(district.node)  # and the sender is flagged
    wall, counter = district.node.store.get("hlc")
    assert wall <= clock() + MIN and counter <= COUNTER_MAX
    # A receiver too: it takes the op, and its next write is stamped within the envelope.
    sync(a, district)
    assert a.households()[0]["unit"] == "1-101"
    a.add_household("1-102")
    a_wall, a_counter = a.conn.execute(
        "SELECT wall, counter FROM ops WHERE dev=? ORDER BY idx DESC", (a.dev,)
    ).fetchone()
    assert a_wall <= clock() + MIN and a_counter <= COUNTER_MAX
    sync(a, district)
    a.close()
    k.close()


def test_a_kiosk_whose_clock_says_2099_cannot_keep_its_emergency_for_good(
    district: SyncServer, tmp_path: Path, clock: Clock
) -> None:
    """Regression: a kiosk whose clock said 2099 won every LWW field for good (its emergency could never
    be ended). The district fences its clock; a correct device's later write wins everywhere."""
    k_clock = DeviceClock(clock)
    k = kiosk(district, tmp_path / "k", k_clock)
    a = kiosk(district, tmp_path / "a", DeviceClock(clock))
    k_clock.fixed = Y2099  # its RTC now says 2099; offline, staff declare an emergency there
    k.set_mode("emergency", reason="flood", actor="staff:k")
    clock.advance(MIN)
    sync(k, district)
    assert mode_of(district.node) == "emergency"
    clock.advance(MIN)
    sync(a, district)
    assert a.mode() == "emergency"
    clock.advance(10 * MIN)
    a.set_mode("normal", reason="water down", actor="staff:a")  # after the district saw the emergency
    sync(a, district)
    clock.advance(MIN)
    sync(k, district)
    for node in (district.node, a, k):
        assert mode_of(node) == "normal", node.dev
        assert node.rebuild()["same"]
    # The flag is on the kiosk whose clock is wrong: at the district, and in its own status.
    assert k.dev in flagged(district.node) and a.dev not in flagged(district.node)
    assert k.status()["clock_skew"] is True and a.status()["clock_skew"] is False
    # Once fenced, the kiosk's clock runs on the district's time again: its own later write wins too.
    k.set_mode("emergency", reason="again", actor="staff:k")
    last = k.conn.execute("SELECT wall FROM ops WHERE dev=? ORDER BY idx DESC", (k.dev,)).fetchone()[0]
    assert last < clock() + MIN
    clock.advance(MIN)
    sync(k, district)
    sync(a, district)
    assert mode_of(a) == "emergency" and mode_of(district.node) == "emergency"
    a.close()
    k.close()


def test_a_kiosk_that_boots_days_in_the_past_keeps_its_staffs_later_release(
    district: SyncServer, tmp_path: Path, clock: Clock
) -> None:
    """Regression: a kiosk that booted in the past (fake-hwclock after days offline) lost its staff's later
    writes (a hold release), and the honest device that wrote the hold got the skew flag."""
    p_clock = DeviceClock(clock)
    p = kiosk(district, tmp_path / "p", p_clock)
    a = kiosk(district, tmp_path / "a", DeviceClock(clock))
    sync(p, district)
    off = clock()  # the kiosk loses power; fake-hwclock saved this time
    clock.advance(2 * DAY)
    code = a.report("1-101", "water", "leak")["code"]
    a.hold(code, "no_access", actor="staff:a")
    sync(a, district)
    clock.advance(DAY)
    p_clock.fixed = off  # it boots three days later, its clock three days behind, and goes online
    sync(p, district)
    assert p.ticket(code)["hold_reason"] == "no_access"
    p_clock.fixed = None
    p_clock.error = -3 * DAY
    clock.advance(MIN)
    p.hold(code, None, actor="staff:p")  # the resident is home: released at the kiosk
    sync(p, district)
    sync(a, district)
    for node in (district.node, a, p):
        assert node.ticket(code)["hold_reason"] is None, node.dev
    # The flag is on the kiosk whose clock is wrong, never on the honest one.
    assert a.dev not in flagged(p) and a.dev not in flagged(district.node)
    assert p.status()["clock_skew"] is True and p.dev in flagged(district.node)
    assert a.status()["clock_skew"] is False
    a.close()
    p.close()


def test_a_write_after_what_the_kiosk_saw_before_a_power_cut_wins_from_the_persisted_clock(
    district: SyncServer, tmp_path: Path, clock: Clock
) -> None:
    """The HLC resumes from what it persisted, which receiving ops advanced: offline, with its clock in the
    past, the kiosk's release still orders after the hold it had seen."""
    p_clock = DeviceClock(clock)
    p = kiosk(district, tmp_path / "p", p_clock)
    a = kiosk(district, tmp_path / "a", DeviceClock(clock))
    clock.advance(DAY)
    code = a.report("1-101", "water", "leak")["code"]
    a.hold(code, "awaiting_resident", actor="staff:a")
    sync(a, district)
    sync(p, district)
    held = p.conn.execute("SELECT wall FROM ops WHERE type='ticket.hold'").fetchone()[0]
    assert p.store.get("hlc")[0] >= held  # receipt advanced the persisted clock
    p.close()
    p_clock.error = -3 * DAY  # power cut; fake-hwclock restores a time three days back; still offline
    p = Node.open(tmp_path / "p", wall=p_clock)
    p.hold(code, None, actor="staff:p")
    clock.advance(HOUR)
    sync(p, district)
    sync(a, district)
    assert p.ticket(code)["hold_reason"] is None and a.ticket(code)["hold_reason"] is None
    a.close()
    p.close()


def test_the_hlc_runs_on_the_clock_corrected_by_the_district_offset(
    district: SyncServer, tmp_path: Path, clock: Clock
) -> None:
    """Regression: the offset learnt from the district was used for request headers only, never for the HLC."""
    k_clock = DeviceClock(clock)
    k_clock.error = -20 * MIN
    k = kiosk(district, tmp_path / "k", k_clock)
    assert k.store.get("clock_offset_ms") == 20 * MIN
    k.add_household("1-101")
    wall = k.conn.execute("SELECT wall FROM ops WHERE dev=?", (k.dev,)).fetchone()[0]
    assert abs(wall - clock()) <= 1  # stamped on the district's time, not 20 minutes behind
    assert k.now_ms() == clock()
    assert k.status()["clock_skew"] is True  # and the kiosk knows its own clock is wrong
    sync(k, district)
    assert k.dev in flagged(district.node)
    k_clock.error = 0  # its clock is fixed: the offset follows at the next sync, the district's flag at the one after
    sync(k, district)
    assert k.store.get("clock_offset_ms") == 0 and k.status()["clock_skew"] is False
    sync(k, district)
    assert k.dev not in flagged(district.node)
    k.close()


def test_an_offset_from_an_unverified_refusal_signs_the_retry_but_never_moves_the_clock(
    district: SyncServer, tmp_path: Path, clock: Clock
) -> None:
    """An error answer is not verified: a forged ``server_time_ms`` in it cannot move the kiosk's clock."""
    k = kiosk(district, tmp_path / "k", DeviceClock(clock))
    client = SyncClient(k)
    forged = pack({"error": "stale_timestamp", "detail": "", "server_time_ms": Y2099})
    err = client.refused(401, forged, clock(), clock())
    assert err.code == "stale_timestamp" and client.retry_ms == Y2099 - clock()
    assert k.store.get("clock_offset_ms") == 0 and k.now_ms() == clock()
    k.close()


def test_a_resident_report_is_never_refused_because_of_a_clock(
    district: SyncServer, tmp_path: Path, clock: Clock
) -> None:
    for name, fixed in (("ahead", Y2099), ("1970", 0), ("behind", clock() - 30 * DAY)):
        d_clock = DeviceClock(clock)
        node = kiosk(district, tmp_path / name, d_clock)
        d_clock.fixed = fixed
        code = node.report("1-101", "water", f"leak seen on a clock {name}")["code"]
        sync(node, district)
        assert district.node.ticket(code)["text"].endswith(name)
        node.close()


def test_kpi_durations_from_a_clock_known_to_be_wrong_are_marked(
    district: SyncServer, tmp_path: Path, clock: Clock
) -> None:
    k_clock = DeviceClock(clock)
    k = kiosk(district, tmp_path / "k", k_clock)
    a = kiosk(district, tmp_path / "a", DeviceClock(clock))
    good = a.report("1-101", "water", "leak", urgency="P2")["code"]
    a.advance(good, "triaged")
    k_clock.fixed = clock() + 2 * SKEW_LIMIT_MS + DAY  # ahead: its ops are fenced by the district
    bad = k.report("1-102", "water", "leak", urgency="P2")["code"]
    k.advance(bad, "triaged")
    clock.advance(MIN)
    sync(a, district)
    sync(k, district)
    kpi = district.node.kpi("week", all_scopes=True, end_ms=clock() + 2 * DAY)  # its claimed times included
    assert kpi["tickets"] == 2 and kpi["clock_unreliable"] == 1
    assert kpi["by_urgency"]["P2"]["count"] == 2 and kpi["by_urgency"]["P2"]["clock_unreliable"] == 1
    a.close()
    k.close()
