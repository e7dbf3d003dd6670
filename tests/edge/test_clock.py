"""Time (``docs/design.md`` §2.4): a wall clock that goes back never reorders ops; a clock far ahead is flagged."""

from __future__ import annotations

from pathlib import Path

from edge import Node

from .opgen import Writer

DAY = 24 * 3600 * 1000
T0 = 1_780_000_000_000


class Wall:
    """A wall clock the test sets; it ticks 1 ms per reading, like a real one would."""

    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        self.ms += 1
        return self.ms


def hlcs(node: Node) -> list[tuple[int, int]]:
    return [(w, c) for w, c in node.conn.execute("SELECT wall, counter FROM ops ORDER BY idx")]


def test_ops_written_after_the_clock_went_back_a_day_still_order_after_the_old_ones(tmp_path: Path) -> None:
    wall = Wall(T0)
    node = Node.init(tmp_path / "n", "a", wall=wall)
    node.add_household("1-101")
    node.add_tech("Li", ["water"], "core")
    code = node.report("1-101", "water", "leak")["code"]
    node.tech_status("Li", "busy")
    node.close()

    wall.ms = T0 - DAY  # a power cut, and fake-hwclock restored an old time
    node = Node.open(tmp_path / "n", wall=wall)
    node.tech_status("Li", "off")
    node.advance(code, "triaged")
    node.award("1-101", 5, "help")
    stamps = hlcs(node)
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert stamps[-1][0] >= T0  # the clock resumed from what it had persisted, not from the wall
    # LWW follows the HLC, so the newer status wins although its wall clock reads a day earlier.
    assert node.techs()[0]["status"] == "off"
    times = node.ticket(code)["stage_times"]
    assert times["0:triaged"] > times["0:reported"]
    assert node.rebuild()["same"]
    node.close()


def test_a_clock_restarting_from_1970_keeps_the_order_too(tmp_path: Path) -> None:
    wall = Wall(T0)
    node = Node.init(tmp_path / "n", "a", wall=wall)
    node.add_household("1-101")
    node.close()
    wall.ms = 0
    node = Node.open(tmp_path / "n", wall=wall)
    node.add_household("1-102")
    node.add_household("1-103")
    stamps = hlcs(node)
    assert stamps == sorted(stamps) and stamps[-1] > (T0, 0)
    node.close()


def test_an_op_from_a_clock_days_ahead_is_accepted_flagged_and_does_not_drag_the_clock(tmp_path: Path) -> None:
    wall = Wall(T0)
    node = Node.init(tmp_path / "n", "district", role="district", wall=wall)
    kiosk = Writer("K", "a", "kiosk", 11)
    kiosk.wall = T0 + 3 * DAY
    with node.store.tx() as tx:
        tx.emit(
            "district",
            "device.enroll",
            kiosk.dev,
            {"pubkey": kiosk.key.public_bytes, "community": "a", "role": "kiosk", "name": "k"},
        )
    ahead = kiosk.emit("a", "household.add", "1-101", {"unit": "1-101"})
    result = node.store.apply_remote([ahead.raw])
    assert len(result.accepted) == 1 and result.skewed == [kiosk.dev]
    status = node.status()
    # The flag names the device whose clock is wrong; this node's own clock is fine (regression: the
    # honest receiver's status said "clock skew").
    assert status["clock_skew"] is False
    assert [d["dev"] for d in status["clock_skew_devices"]] == [kiosk.dev]
    node.post_notice("t", "t", "b", "b", scope="a")  # a local op after the skewed one
    last_wall = hlcs(node)[-1][0]
    assert last_wall <= wall.ms + 60_000
    node.close()
