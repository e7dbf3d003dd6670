"""Ticket status lattice ``(epoch, stage)`` (DESIGN 4).

Stages are ordered ``reported < triaged < assigned < en_route < on_site < resolved < closed <
cancelled``; statuses compare by ``(epoch, stage index)``; a ``reopen`` starts ``(epoch + 1,
reported)``, so it beats everything in the epoch before it.

Two rules, kept apart on purpose:

* the **merge** rule (:meth:`TicketStatus.apply`, :meth:`TicketStatus.merge`) accepts any
  ``(epoch, stage)`` from any op: the current status is the maximum reached, and for each
  ``(epoch, stage)`` the earliest stamp it was reached at is kept (min), for SLA timers. Both are
  commutative, associative and idempotent, so replicas agree whatever they received in which
  order;
* the **write** rule (:func:`check_transition`) is checked by the device that writes a new op,
  against its own current status: stages move forward (skipping is allowed) up to ``resolved``;
  ``closed`` only from ``resolved``; ``cancelled`` from any stage before ``resolved``; a reopen only
  from ``resolved`` or ``closed``; nothing out of ``cancelled``; writing the current stage again is
  refused.
"""

from __future__ import annotations

from typing import Any

from .errors import LatticeError
from .lww import Stamp, check_stamp, plain_stamp

__all__ = [
    "STAGES",
    "Status",
    "TicketStatus",
    "check_transition",
    "reopen_target",
    "stage_index",
    "status_key",
]

STAGES: tuple[str, ...] = (
    "reported",
    "triaged",
    "assigned",
    "en_route",
    "on_site",
    "resolved",
    "closed",
    "cancelled",
)
"""The ticket stages, in lattice order."""

Status = tuple[int, str]
"""``(epoch, stage)``; epoch 0 until the first reopen."""

_INDEX = {stage: i for i, stage in enumerate(STAGES)}
_RESOLVED = _INDEX["resolved"]


def stage_index(stage: str) -> int:
    """The position of ``stage`` in :data:`STAGES`.

    Raises:
        LatticeError: ``stage`` is not a ticket stage.
    """
    try:
        return _INDEX[stage]
    except (KeyError, TypeError):
        raise LatticeError(f"unknown ticket stage {stage!r}; stages are {', '.join(STAGES)}") from None


def _check_status(status: object) -> Status:
    if not isinstance(status, tuple | list) or len(status) != 2 or type(status[0]) is not int or status[0] < 0:
        raise LatticeError(f"{status!r} is not a ticket status (epoch >= 0, stage)")
    stage_index(status[1])
    return (status[0], status[1])


def status_key(status: Status) -> tuple[int, int]:
    """The lattice order of a status: ``(epoch, stage index)``.

    Raises:
        LatticeError: ``status`` is malformed.
    """
    epoch, stage = _check_status(status)
    return (epoch, _INDEX[stage])


def _show(status: Status | None) -> str:
    return "nothing" if status is None else f"{status[1]} (epoch {status[0]})"


def _refuse(current: Status | None, target: Status, why: str) -> LatticeError:
    return LatticeError(f"ticket status {_show(current)} -> {_show(target)} refused: {why}")


def reopen_target(current: Status) -> Status:
    """The status a reopen of ``current`` writes: ``(epoch + 1, "reported")``."""
    return (_check_status(current)[0] + 1, "reported")


def check_transition(current: Status | None, target: Status) -> None:
    """The write rule: raise unless a device at ``current`` may write ``target``.

    Args:
        current: the writer's current status, or None for a ticket not yet reported.
        target: the status the new op would write.

    Raises:
        LatticeError: the step is not allowed; the message names both statuses and the rule.
    """
    target = _check_status(target)
    t_epoch, t_stage = target
    if current is None:
        if target != (0, "reported"):
            raise _refuse(current, target, "a new ticket starts at reported in epoch 0")
        return
    current = _check_status(current)
    c_epoch, c_stage = current
    if c_stage == "cancelled":
        raise _refuse(current, target, "nothing moves out of cancelled")
    if t_epoch == c_epoch + 1:
        if t_stage != "reported":
            raise _refuse(current, target, "a reopen starts the next epoch at reported")
        if c_stage not in ("resolved", "closed"):
            raise _refuse(current, target, "a ticket is reopened only from resolved or closed")
        return
    if t_epoch != c_epoch:
        raise _refuse(current, target, f"the epoch must stay {c_epoch}, or be {c_epoch + 1} for a reopen")
    c_index, t_index = _INDEX[c_stage], _INDEX[t_stage]
    if t_index == c_index:
        raise _refuse(current, target, "the ticket is already at that stage")
    if t_index < c_index:
        raise _refuse(current, target, "stages only move forward")
    if t_stage == "closed" and c_stage != "resolved":
        raise _refuse(current, target, "a ticket is closed only from resolved")
    if t_stage == "cancelled" and c_index >= _RESOLVED:
        raise _refuse(current, target, "a ticket is cancelled only before it is resolved")


class TicketStatus:
    """A ticket's status: every ``(epoch, stage)`` reached, with the earliest stamp of each.

    Mutable: ``apply``/``merge``/``write``/``reopen`` change it in place.
    """

    __slots__ = ("_reached",)

    def __init__(self) -> None:
        self._reached: dict[Status, Stamp] = {}

    def apply(self, epoch: int, stage: str, stamp: Stamp) -> bool:
        """The merge rule: record that ``(epoch, stage)`` was reached at ``stamp``.

        Accepts any step (validity is the writer's business); keeps the earliest stamp per step.
        Returns True if the state changed.

        Raises:
            LatticeError: ``(epoch, stage)`` is malformed.
            ClockError: ``stamp`` is malformed.
        """
        status = _check_status((epoch, stage))
        stamp = check_stamp(stamp)
        known = self._reached.get(status)
        if known is not None and known <= stamp:
            return False
        self._reached[status] = stamp
        return True

    def merge(self, other: TicketStatus) -> bool:
        """Merge another replica's state into this one; return True if this one changed."""
        changed = False
        for (epoch, stage), stamp in other._reached.items():
            changed = self.apply(epoch, stage, stamp) or changed
        return changed

    @property
    def current(self) -> Status | None:
        """The highest ``(epoch, stage)`` reached, or None before the first op."""
        if not self._reached:
            return None
        return max(self._reached, key=status_key)

    @property
    def reopen_count(self) -> int:
        """How many times the ticket was reopened (the current epoch; 0 before any op)."""
        current = self.current
        return 0 if current is None else current[0]

    def _epoch(self, epoch: int | None) -> int:
        if epoch is not None:
            return epoch
        return self.reopen_count

    def reached(self, stage: str, epoch: int | None = None) -> Stamp | None:
        """The earliest stamp at which ``stage`` was reached in ``epoch`` (default: the current one).

        Returns None if that stage was never reached there (stages may be skipped).

        Raises:
            LatticeError: ``stage`` is unknown.
        """
        stage_index(stage)
        return self._reached.get((self._epoch(epoch), stage))

    def first_at_least(self, stage: str, epoch: int | None = None) -> Stamp | None:
        """The earliest stamp at which ``stage`` or any later stage was reached in ``epoch``.

        For SLA timers when stages are skipped: "acknowledged" is the first of triaged or beyond.

        Raises:
            LatticeError: ``stage`` is unknown.
        """
        floor = stage_index(stage)
        want = self._epoch(epoch)
        stamps = [s for (e, st), s in self._reached.items() if e == want and _INDEX[st] >= floor]
        return min(stamps, default=None)

    def history(self) -> list[tuple[int, str, Stamp]]:
        """Every ``(epoch, stage, first stamp)`` reached, in lattice order."""
        return [(e, st, self._reached[(e, st)]) for e, st in sorted(self._reached, key=status_key)]

    def write(self, stage: str, stamp: Stamp) -> Status:
        """Checked writer: move to ``stage`` in the current epoch (epoch 0 for a new ticket).

        Returns:
            The status written, for the op payload.

        Raises:
            LatticeError: the write rule refuses the step; nothing changes.
        """
        current = self.current
        target = (0 if current is None else current[0], stage)
        check_transition(current, target)
        self.apply(target[0], target[1], stamp)
        return target

    def reopen(self, stamp: Stamp) -> Status:
        """Checked writer: reopen, i.e. write ``(epoch + 1, "reported")``.

        Raises:
            LatticeError: the ticket is not resolved or closed (or was never reported).
        """
        current = self.current
        if current is None:
            raise _refuse(None, (1, "reported"), "a ticket that was never reported cannot be reopened")
        target = reopen_target(current)
        check_transition(current, target)
        self.apply(target[0], target[1], stamp)
        return target

    def copy(self) -> TicketStatus:
        """An independent replica with the same state."""
        twin = TicketStatus()
        twin._reached = dict(self._reached)
        return twin

    def to_plain(self) -> dict[str, Any]:
        """``{"current": [epoch, stage] | None, "reached": [[epoch, stage, stamp], ...]}``."""
        current = self.current
        return {
            "current": None if current is None else [current[0], current[1]],
            "reached": [[e, st, plain_stamp(s)] for e, st, s in self.history()],
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TicketStatus) and self._reached == other._reached

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"TicketStatus(current={self.current!r}, reopens={self.reopen_count})"
