"""Hybrid logical clock: monotonic through wall-clock jumps, drift capped (``docs/design.md`` §2.4)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crdt.errors import ClockError
from crdt.hlc import COUNTER_MAX, HLC, MAX_DRIFT_MS, MAX_WALL_MS, SKEW_LIMIT_MS, system_ms

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


def test_a_remote_time_beyond_the_skew_limit_is_flagged_and_does_not_drag_the_clock() -> None:
    wall = Wall(1_700_000_000_000)
    clock = HLC(wall)
    skewed = clock.observe((wall.ms + SKEW_LIMIT_MS + 5_000, 3))
    assert skewed is True
    assert clock.state[0] <= wall.ms + MAX_DRIFT_MS
    assert clock.skew_seen_ms > SKEW_LIMIT_MS


def test_a_remote_time_five_minutes_ahead_is_adopted_as_the_hlc_paper_says() -> None:
    wall = Wall(1_700_000_000_000)
    clock = HLC(wall)
    assert clock.observe((wall.ms + 300_000, 4)) is False
    assert clock.state == (wall.ms + 300_000, 5)
    assert clock.now() == (wall.ms + 300_000, 6)


def test_the_skew_limit_is_minutes_not_a_day() -> None:
    """Regression: an op stamped 23 h ahead was merged into every receiver's clock without a flag."""
    wall = Wall(1_700_000_000_000)
    clock = HLC(wall)
    assert clock.observe((wall.ms + 23 * 3_600_000, 0)) is True
    assert clock.state[0] <= wall.ms + MAX_DRIFT_MS


def test_a_hostile_counter_cannot_stop_the_clock() -> None:
    """Regression: after observing ``(now + 23 h, 2**63 - 1)`` the next ``now()`` overflowed the envelope."""
    wall = Wall(1_700_000_000_000)
    for remote in ((wall.ms + 23 * 3_600_000, 2**63 - 1), (wall.ms + 1_000, 2**63 - 1), (wall.ms, 2**63 - 1)):
        clock = HLC(wall)
        clock.observe(remote)
        ts = [clock.now() for _ in range(3)]
        assert ts == sorted(ts) and len(set(ts)) == 3
        assert all(c <= COUNTER_MAX and w < 2**63 for w, c in ts)


def test_a_counter_at_its_bound_carries_into_the_next_millisecond() -> None:
    wall = Wall(1_700_000_000_000)
    clock = HLC(wall, (wall.ms, COUNTER_MAX - 1))
    assert clock.now() == (wall.ms, COUNTER_MAX)
    assert clock.now() == (wall.ms + 1, 0)
    clock = HLC(wall, (wall.ms + 5, 2**63 - 1))  # persisted by a version without the bound
    assert clock.state == (wall.ms + 6, 0) and clock.now() == (wall.ms + 6, 1)


def test_a_wall_time_near_the_envelope_limit_is_read_at_the_clock_limit() -> None:
    clock = HLC(Wall(2**63 - 1))
    assert clock.now() == (MAX_WALL_MS, 0) and clock.now() == (MAX_WALL_MS, 1)


def test_rewind_only_ever_lowers_the_clock() -> None:
    clock = HLC(Wall(1_000), (5_000, 3))
    clock.rewind((9_000, 0))
    assert clock.state == (5_000, 3)
    clock.rewind((2_000, 1))
    assert clock.state == (2_000, 1) and clock.now() == (2_000, 2)
    clock.advance_to((4_000, 0))
    assert clock.state == (4_000, 0)


def test_malformed_states_are_refused_with_the_value_named() -> None:
    for bad in ([1], [1, -1], [1.5, 0], "x", [1, 2, 3]):
        with pytest.raises(ClockError, match="wall_ms"):
            HLC.from_list(bad)


def test_the_system_clock_is_whole_unix_milliseconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("crdt.hlc.time.time_ns", lambda: 1_700_000_000_123_999_999)
    ms = system_ms()
    assert ms == 1_700_000_000_123 and type(ms) is int


def test_a_new_clock_has_seen_no_skew_and_a_later_wall_restarts_the_counter_at_zero() -> None:
    wall = Wall(1_700_000_000_000)
    clock = HLC(wall, (1_600_000_000_000, 9))
    assert clock.skew_seen_ms == 0
    assert clock.now() == (wall.ms, 0)
    clock.observe((wall.ms + 300_000, 0))
    assert clock.skew_seen_ms == 0


@pytest.mark.parametrize(
    ("local", "remote", "merged"),
    [
        # The wall clock is ahead of both: take it, counter 0 (max(l, rl, pt), not max(l, rl)).
        ((1_000, 3), (1_500, 2), (2_000, 0)),
        # The local time is ahead of both: keep it, local counter + 1 (whatever the remote counter).
        ((3_000, 5), (2_500, 9), (3_000, 6)),
        # The remote time is ahead of both: take it, remote counter + 1 (whatever the local counter).
        ((1_000, 7), (2_500, 4), (2_500, 5)),
        # Local and remote times are equal and ahead of the wall: the larger counter + 1.
        ((3_000, 3), (3_000, 5), (3_000, 6)),
        ((3_000, 8), (3_000, 5), (3_000, 9)),
    ],
)
def test_observe_merges_by_the_receive_rule_of_the_hlc_paper(local, remote, merged) -> None:
    clock = HLC(Wall(2_000), local)
    assert clock.observe(remote) is False
    assert clock.state == merged


def test_a_remote_exactly_at_the_skew_limit_is_still_adopted() -> None:
    wall = Wall(1_700_000_000_000)
    clock = HLC(wall)
    assert clock.observe((wall.ms + SKEW_LIMIT_MS, 2)) is False
    assert clock.state == (wall.ms + SKEW_LIMIT_MS, 3) and clock.skew_seen_ms == 0


def test_a_skewed_remote_is_clamped_to_exactly_wall_plus_max_drift_and_its_skew_recorded() -> None:
    wall = Wall(1_700_000_000_000)
    clock = HLC(wall)
    assert clock.observe((wall.ms + SKEW_LIMIT_MS + 5_000, 3)) is True
    assert clock.state == (wall.ms + MAX_DRIFT_MS, 1)  # the clamped remote with counter 0, then + 1
    assert clock.skew_seen_ms == SKEW_LIMIT_MS + 5_000
    assert clock.observe((wall.ms + SKEW_LIMIT_MS + 1_000, 0)) is True
    assert clock.skew_seen_ms == SKEW_LIMIT_MS + 5_000  # the largest skew seen is kept
