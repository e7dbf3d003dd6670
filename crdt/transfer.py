"""Cross-community transfer lattice (DESIGN 4).

Steps are ordered ``requested < approved < declined < shipped < arrived``. As with ticket status,
the **merge** rule and the **write** rule are separate:

* merge (:meth:`Transfer.apply`, :meth:`Transfer.merge`): the current step is the maximum reached,
  whatever arrived in which order; a decline beats a concurrent approve, and goods that were
  shipped stay shipped even if a decline arrives later. The first stamp each step was reached at
  is kept (min);
* write (:func:`check_step`), checked by the writing device against its own replica: ``requested``
  only as the first step; ``approved`` and ``declined`` only from ``requested``; ``shipped`` only
  from ``approved``; ``arrived`` only from ``shipped``.
"""

from __future__ import annotations

from typing import Any

from .errors import LatticeError
from .lww import Stamp, check_stamp, plain_stamp

__all__ = ["STEPS", "Transfer", "check_step", "step_index"]

STEPS: tuple[str, ...] = ("requested", "approved", "declined", "shipped", "arrived")
"""The transfer steps, in lattice order."""

_INDEX = {step: i for i, step in enumerate(STEPS)}
_FROM: dict[str, str | None] = {
    "requested": None,
    "approved": "requested",
    "declined": "requested",
    "shipped": "approved",
    "arrived": "shipped",
}


def step_index(step: str) -> int:
    """The position of ``step`` in :data:`STEPS`.

    Raises:
        LatticeError: ``step`` is not a transfer step.
    """
    try:
        return _INDEX[step]
    except (KeyError, TypeError):
        raise LatticeError(f"unknown transfer step {step!r}; steps are {', '.join(STEPS)}") from None


def check_step(current: str | None, target: str) -> None:
    """The write rule: raise unless a device whose replica is at ``current`` may write ``target``.

    Args:
        current: the transfer's current step, or None if nothing was written yet.
        target: the step the new op would write.

    Raises:
        LatticeError: the step is not allowed; the message names both steps and the rule.
    """
    step_index(target)
    if current is not None:
        step_index(current)
    need = _FROM[target]
    if current == need:
        return
    shown = "nothing" if current is None else current
    if need is None:
        why = "requested is only the first step"
    else:
        why = f"{target} is written only from {need}"
    raise LatticeError(f"transfer step {shown} -> {target} refused: {why}")


class Transfer:
    """One transfer's state: each step reached, with its earliest stamp.

    Mutable: ``apply``/``merge``/``write`` change it in place.
    """

    __slots__ = ("_reached",)

    def __init__(self) -> None:
        self._reached: dict[str, Stamp] = {}

    def apply(self, step: str, stamp: Stamp) -> bool:
        """The merge rule: record that ``step`` was reached at ``stamp`` (any step is accepted).

        Returns True if the state changed (a new step, or an earlier stamp for a known one).

        Raises:
            LatticeError: ``step`` is unknown.
            ClockError: ``stamp`` is malformed.
        """
        step_index(step)
        stamp = check_stamp(stamp)
        known = self._reached.get(step)
        if known is not None and known <= stamp:
            return False
        self._reached[step] = stamp
        return True

    def merge(self, other: Transfer) -> bool:
        """Merge another replica's state into this one; return True if this one changed."""
        changed = False
        for step, stamp in other._reached.items():
            changed = self.apply(step, stamp) or changed
        return changed

    @property
    def current(self) -> str | None:
        """The highest step reached, or None before the first op."""
        if not self._reached:
            return None
        return max(self._reached, key=_INDEX.__getitem__)

    def reached(self, step: str) -> Stamp | None:
        """The earliest stamp ``step`` was reached at, or None if it never was.

        Raises:
            LatticeError: ``step`` is unknown.
        """
        step_index(step)
        return self._reached.get(step)

    def write(self, step: str, stamp: Stamp) -> str:
        """Checked writer: check ``step`` against the current step, then apply it.

        Returns:
            The step written.

        Raises:
            LatticeError: the write rule refuses the step; nothing changes.
        """
        check_step(self.current, step)
        self.apply(step, stamp)
        return step

    def copy(self) -> Transfer:
        """An independent replica with the same state."""
        twin = Transfer()
        twin._reached = dict(self._reached)
        return twin

    def to_plain(self) -> dict[str, Any]:
        """``{"current": step | None, "reached": [[step, stamp], ...]}`` in lattice order."""
        return {
            "current": self.current,
            "reached": [[s, plain_stamp(self._reached[s])] for s in STEPS if s in self._reached],
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Transfer) and self._reached == other._reached

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Transfer(current={self.current!r})"
