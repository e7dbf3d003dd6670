"""Hybrid logical clock: monotonic through wall-clock jumps, drift capped per DESIGN 3.3."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crdt.errors import ClockError
from crdt.hlc import HLC, MAX_DRIFT_MS, SKEW_LIMIT_MS

DAY = 24 * 3600 * 1000


class Wall:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def test_now_never_goes_backwards_when_the_wall_clock_jumps_back_a_day() -> None:
    wall = Wall(1_700_000_000_000)
    clock = HLC(wall)
    before = [clock.now() for _ in range(3)]
    wall.ms -= DAY
    after = [clock.now() for _ in range(3)]
    stamps = before + after
    assert stamps == sorted(stamps) and len(set(stamps)) == 6


def test_a_clock_resumed_from_its_persisted_state_orders_after_it_even_from_1970() -> None:
    clock = HLC(Wall(1_700_000_000_000))
    last = clock.now()
    resumed = HLC.from_list(clock.to_list(), Wall(0))
    assert resumed.now() > last


@given(st.lists(st.tuples(st.sampled_from(["tick", "jump", "recv"]), st.integers(-DAY, DAY)), max_size=60))
def test_every_timestamp_is_greater_than_everything_issued_or_observed_before(steps) -> None:
    wall = Wall(1_700_000_000_000)
    clock = HLC(wall)
    high = clock.state
    for kind, n in steps:
        if kind == "jump":
            wall.ms = max(0, wall.ms + n)
        elif kind == "recv":
            remote = (max(0, wall.ms + n), abs(n) % 7)
            clock.observe(remote)
            assert clock.state > min(remote, (wall.ms + MAX_DRIFT_MS, 0)) or clock.state >= high
            high = max(high, clock.state)
        else:
            ts = clock.now()
            assert ts > high
            high = ts


def test_a_remote_time_more_than_a_day_ahead_is_flagged_and_does_not_drag_the_clock() -> None:
    wall = Wall(1_700_000_000_000)
    clock = HLC(wall)
    skewed = clock.observe((wall.ms + SKEW_LIMIT_MS + 5_000, 3))
    assert skewed is True
    assert clock.state[0] <= wall.ms + MAX_DRIFT_MS
    assert clock.skew_seen_ms > SKEW_LIMIT_MS


def test_a_remote_time_an_hour_ahead_is_adopted_as_the_hlc_paper_says() -> None:
    wall = Wall(1_700_000_000_000)
    clock = HLC(wall)
    assert clock.observe((wall.ms + 3_600_000, 4)) is False
    assert clock.state == (wall.ms + 3_600_000, 5)
    assert clock.now() == (wall.ms + 3_600_000, 6)


def test_malformed_states_are_refused_with_the_value_named() -> None:
    for bad in ([1], [1, -1], [1.5, 0], "x", [1, 2, 3]):
        with pytest.raises(ClockError, match="wall_ms"):
            HLC.from_list(bad)
