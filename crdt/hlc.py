"""Hybrid logical clock (Kulkarni et al., 2014) with the drift rules of ``docs/design.md`` §2.4.

A timestamp is ``(wall_ms, counter)``. ``now()`` never goes backwards, whatever the wall clock
does (a Raspberry Pi restarts from fake-hwclock's saved time, or 1970). ``observe()`` merges a
remote timestamp, but a remote wall time more than ``SKEW_LIMIT_MS`` ahead of the local wall clock
does not drag the clock further than ``wall + MAX_DRIFT_MS``; it is reported as clock skew
instead. Remote times less far ahead are merged as the HLC paper says.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .errors import ClockError

__all__ = ["HLC", "MAX_DRIFT_MS", "SKEW_LIMIT_MS", "Timestamp", "system_ms"]

Timestamp = tuple[int, int]
MAX_DRIFT_MS = 60_000
SKEW_LIMIT_MS = 24 * 3600 * 1000


def system_ms() -> int:
    """The wall clock in unix milliseconds."""
    return time.time_ns() // 1_000_000


def _check(ts: object) -> Timestamp:
    if not isinstance(ts, list | tuple) or len(ts) != 2 or any(type(x) is not int or x < 0 for x in ts):
        raise ClockError(f"{ts!r} is not a [wall_ms, counter] pair of non-negative integers")
    return (ts[0], ts[1])


class HLC:
    """A hybrid logical clock over an injectable wall clock.

    Args:
        wall: returns the wall clock in unix ms.
        state: the last timestamp issued or observed (persisted with each op); resuming takes
            ``max(state, wall())``.
    """

    def __init__(self, wall: Callable[[], int] = system_ms, state: Timestamp = (0, 0)) -> None:
        self._wall = wall
        self._l, self._c = _check(state)
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
        pt = self._wall()
        if pt > self._l:
            self._l, self._c = pt, 0
        else:
            self._c += 1
        return (self._l, self._c)

    def observe(self, remote: Timestamp) -> bool:
        """Merge a remote timestamp into the clock.

        Returns:
            ``True`` when the remote wall time was more than ``SKEW_LIMIT_MS`` ahead of the local
            wall clock: the clock then moves no further than ``wall + MAX_DRIFT_MS``, and the
            caller flags clock skew.
        """
        rl, rc = _check(remote)
        pt = self._wall()
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
        self._l, self._c = l_new, c_new
        return skewed
