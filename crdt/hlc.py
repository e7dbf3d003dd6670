"""Hybrid logical clock (Kulkarni et al., 2014) with the drift and bound rules of ``docs/design.md`` §2.4.

A timestamp is ``(wall_ms, counter)``. ``now()`` never goes backwards, whatever the wall clock
does (a Raspberry Pi restarts from fake-hwclock's saved time, or 1970). ``observe()`` merges a
remote timestamp, but a remote wall time more than ``SKEW_LIMIT_MS`` ahead of the local wall clock
does not drag the clock further than ``wall + MAX_DRIFT_MS``; it is reported as clock skew
instead. Remote times less far ahead are merged as the HLC paper says.

**No timestamp can stop a clock.** The counter never passes ``COUNTER_MAX``: a remote counter above
it is read as ``COUNTER_MAX`` (clamped, never trusted), and a counter that would pass it carries into
the next millisecond (``(l, COUNTER_MAX)`` is followed by ``(l + 1, 0)``). So whatever ops a node has
observed, ``now()`` always returns a timestamp inside the op envelope's integer range (``< 2**63``),
greater than everything before it: no op can make a node unable to sign its next op.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .errors import ClockError

__all__ = ["COUNTER_MAX", "HLC", "MAX_DRIFT_MS", "MAX_WALL_MS", "SKEW_LIMIT_MS", "Timestamp", "system_ms"]

Timestamp = tuple[int, int]
MAX_DRIFT_MS = 60_000
SKEW_LIMIT_MS = 10 * 60_000
"""A remote wall time further ahead of the (corrected) local wall clock than this is clock skew."""
COUNTER_MAX = 2**31 - 1
"""The highest counter a clock issues or adopts; far above what any honest device reaches in one ms."""
MAX_WALL_MS = 2**62
"""Wall times at or beyond this are read as this (the envelope allows up to ``2**63 - 1``)."""


def system_ms() -> int:
    """The wall clock in unix milliseconds."""
    return time.time_ns() // 1_000_000


def _check(ts: object) -> Timestamp:
    if not isinstance(ts, list | tuple) or len(ts) != 2 or any(type(x) is not int or x < 0 for x in ts):
        raise ClockError(f"{ts!r} is not a [wall_ms, counter] pair of non-negative integers")
    return (ts[0], ts[1])


def _bounded(l: int, c: int) -> Timestamp:  # noqa: E741 - the paper's name
    """``(l, c)`` with the counter carried into the wall ms once it passes ``COUNTER_MAX``."""
    if c > COUNTER_MAX:
        return (min(l, MAX_WALL_MS) + 1, 0)
    return (min(l, MAX_WALL_MS), c)


class HLC:
    """A hybrid logical clock over an injectable wall clock.

    Args:
        wall: returns the wall clock in unix ms.
        state: the last timestamp issued or observed (persisted with each op); resuming takes
            ``max(state, wall())``. A persisted counter beyond ``COUNTER_MAX`` (written by an older
            version that adopted a hostile counter) resumes in the next millisecond.
    """

    def __init__(self, wall: Callable[[], int] = system_ms, state: Timestamp = (0, 0)) -> None:
        self._wall = wall
        self._l, self._c = _bounded(*_check(state))
        self.skew_seen_ms = 0

    @property
    def state(self) -> Timestamp:
        """The last timestamp issued or observed."""
        return (self._l, self._c)

    def to_list(self) -> list[int]:
        """The state as ``[wall_ms, counter]`` (for persisting)."""
        return [self._l, self._c]

    @classmethod
    def from_list(cls, state: object, wall: Callable[[], int] = system_ms) -> HLC:
        """Resume from a persisted state."""
        return cls(wall, _check(state))

    def now(self) -> Timestamp:
        """A new timestamp, greater than every timestamp issued or observed before."""
        pt = min(self._wall(), MAX_WALL_MS)
        if pt > self._l:
            self._l, self._c = pt, 0
        else:
            self._l, self._c = _bounded(self._l, self._c + 1)
        return (self._l, self._c)

    def observe(self, remote: Timestamp) -> bool:
        """Merge a remote timestamp into the clock.

        A remote counter above ``COUNTER_MAX`` is read as ``COUNTER_MAX``.

        Returns:
            ``True`` when the remote wall time was more than ``SKEW_LIMIT_MS`` ahead of the local
            wall clock: the clock then moves no further than ``wall + MAX_DRIFT_MS``, and the
            caller flags clock skew.
        """
        rl, rc = _check(remote)
        rl, rc = min(rl, MAX_WALL_MS), min(rc, COUNTER_MAX)
        pt = min(self._wall(), MAX_WALL_MS)
        skewed = rl - pt > SKEW_LIMIT_MS
        if skewed:
            self.skew_seen_ms = max(self.skew_seen_ms, rl - pt)
            rl, rc = pt + MAX_DRIFT_MS, 0
        l_new = max(self._l, rl, pt)
        if l_new == self._l and l_new == rl:
            c_new = max(self._c, rc) + 1
        elif l_new == self._l:
            c_new = self._c + 1
        elif l_new == rl:
            c_new = rc + 1
        else:
            c_new = 0
        self._l, self._c = _bounded(l_new, c_new)
        return skewed

    def advance_to(self, floor: Timestamp) -> None:
        """Move the clock up to at least ``floor`` (never back): the next ``now()`` is above it."""
        fl, fc = _bounded(*_check(floor))
        if (fl, fc) > (self._l, self._c):
            self._l, self._c = fl, fc

    def rewind(self, to: Timestamp) -> None:
        """Set the clock back to ``to`` if it is lower (the one exception to "never backwards").

        Only for a node the district has fenced (``device.fence``): its own ops stamped beyond the fence
        are compared at the fence everywhere, so its clock may resume from the highest stamp it holds
        *as compared*, rather than from a wrong clock's far-future time. The caller computes ``to``.
        """
        low = _bounded(*_check(to))
        if low < (self._l, self._c):
            self._l, self._c = low
