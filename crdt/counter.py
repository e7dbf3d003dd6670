"""Bounded counter with per-device rights (DESIGN 4.1; Balegas et al., 2015, "Putting consistency
back into eventual consistency").

One counter (stock of one sku in one community, points of one household) is three tables of
per-writer totals, summed from ops:

* ``inc[d]``: what device ``d`` added (incrementing gives the rights to the incrementing device);
* ``dec[d]``: what device ``d`` took away;
* ``moved[(a, b)]``: rights device ``a`` handed to device ``b``.

``rights(d) = inc[d] + Σ moved[·→d] − Σ moved[d→·] − dec[d]`` and ``value = Σ inc − Σ dec``
(which equals ``Σ rights``). A device decrements or moves only within its own rights, checked
against its own replica before it writes the op (:meth:`BoundedCounter.decrement_checked`,
:meth:`BoundedCounter.move_checked`). Rights only grow for a device through ops it has already
seen, so its replica never overstates them: with honest devices no right and hence no value ever
goes below zero, however long they are partitioned. A negative right can only come from a device
that skipped the check; :meth:`BoundedCounter.negative_devices` names them (the server checks it
after every push).

Two ways to merge, both convergent:

* **op-based** (:meth:`BoundedCounter.apply`): each op is added once; an op id already applied
  is ignored, so duplicates and any delivery order give the same state (addition commutes).
* **state-based** (:meth:`BoundedCounter.merge`): every entry ``inc[d]``, ``dec[d]`` and
  ``moved[(a, b)]`` is written by one device only (``d``, resp. ``a``) and only ever increased by
  it, so of two replicas' totals for one entry the larger one has seen at least the ops the
  smaller has. Merge is therefore the pointwise max of the per-writer totals (plus the union of
  the applied op ids), which is commutative, associative and idempotent. This holds when each
  replica has applied a *prefix* of each writer's ops, as the gapless per-stream ``seq`` order of
  DESIGN 3.1 guarantees; merging replicas that each hold a different, non-prefix subset of one
  writer's ops would undercount.

The applied op ids are bookkeeping for idempotence, not part of :meth:`BoundedCounter.to_plain`:
under the prefix condition the totals determine them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .errors import CounterError, InsufficientRights

__all__ = ["KINDS", "BoundedCounter"]

KINDS: tuple[str, ...] = ("increment", "decrement", "move")
"""The op kinds :meth:`BoundedCounter.apply` understands."""


def _amount(n: object, what: str) -> int:
    if type(n) is not int or n <= 0:
        raise CounterError(f"{what} needs a positive integer amount, got {n!r}")
    return n


def _device(dev: object, what: str) -> str:
    if type(dev) is not str or not dev:
        raise CounterError(f"{what} needs a non-empty device id, got {dev!r}")
    return dev


class BoundedCounter:
    """A non-negative counter split into per-device rights. Mutable."""

    __slots__ = ("_applied", "_dec", "_inc", "_moved")

    def __init__(self) -> None:
        self._inc: dict[str, int] = {}
        self._dec: dict[str, int] = {}
        self._moved: dict[tuple[str, str], int] = {}
        self._applied: set[str] = set()

    # -- op-based apply (no rights check: ops from others are merged as they are) ---------------

    def apply(self, op_id: str, kind: str, dev: str, n: int, to: str | None = None) -> bool:
        """Apply one op once; return False (and change nothing) if ``op_id`` was applied before.

        Args:
            op_id: the op's id (op hash hex); an id is applied at most once.
            kind: ``"increment"``, ``"decrement"`` or ``"move"``.
            dev: the writing device (for a move: the source).
            n: the amount, a positive int.
            to: for a move, the receiving device; None otherwise.

        Raises:
            CounterError: unknown kind, a non-positive amount, a missing or self-target for a
                move, or a ``to`` given for another kind. Nothing changes.
        """
        if kind not in KINDS:
            raise CounterError(f"unknown counter op kind {kind!r}; kinds are {', '.join(KINDS)}")
        if type(op_id) is not str or not op_id:
            raise CounterError(f"{kind} needs a non-empty op id, got {op_id!r}")
        dev = _device(dev, kind)
        n = _amount(n, kind)
        dst = ""
        if kind == "move":
            dst = _device(to, "move to")
            if dst == dev:
                raise CounterError(f"move of {n} from device {dev!r} to itself")
        elif to is not None:
            raise CounterError(f"{kind} takes no receiving device, got to={to!r}")
        if op_id in self._applied:
            return False
        self._applied.add(op_id)
        if kind == "increment":
            self._inc[dev] = self._inc.get(dev, 0) + n
        elif kind == "decrement":
            self._dec[dev] = self._dec.get(dev, 0) + n
        else:
            self._moved[(dev, dst)] = self._moved.get((dev, dst), 0) + n
        return True

    def increment(self, op_id: str, dev: str, n: int) -> bool:
        """Apply an increment by ``dev`` (it gains ``n`` rights)."""
        return self.apply(op_id, "increment", dev, n)

    def decrement(self, op_id: str, dev: str, n: int) -> bool:
        """Apply a received decrement by ``dev``, unchecked (see :meth:`decrement_checked`)."""
        return self.apply(op_id, "decrement", dev, n)

    def move(self, op_id: str, src: str, dst: str, n: int) -> bool:
        """Apply a received move of ``n`` rights from ``src`` to ``dst``, unchecked."""
        return self.apply(op_id, "move", src, n, dst)

    # -- checked writers (the device's own new ops) ---------------------------------------------

    def decrement_checked(self, op_id: str, dev: str, n: int) -> bool:
        """Write a decrement by ``dev`` only if ``dev`` holds ``n`` rights on this replica.

        Raises:
            InsufficientRights: ``dev`` holds fewer than ``n`` rights; nothing changes.
            CounterError: a malformed amount or device.
        """
        if op_id in self._applied:
            return False
        if not self.can_decrement(dev, n):
            raise InsufficientRights(f"device {dev!r} asked to decrement {n} but holds {self.rights(dev)} rights")
        return self.decrement(op_id, dev, n)

    def move_checked(self, op_id: str, src: str, dst: str, n: int) -> bool:
        """Write a move of ``n`` rights from ``src`` to ``dst`` only if ``src`` holds them here.

        Raises:
            InsufficientRights: ``src`` holds fewer than ``n`` rights; nothing changes.
            CounterError: a malformed amount or device, or ``src == dst``.
        """
        if op_id in self._applied:
            return False
        if not self.can_move(src, dst, n):
            raise InsufficientRights(
                f"device {src!r} asked to move {n} rights to {dst!r} but holds {self.rights(src)} rights"
            )
        return self.move(op_id, src, dst, n)

    # -- queries ---------------------------------------------------------------------------------

    def rights(self, dev: str) -> int:
        """``inc[dev] + Σ moved[·→dev] − Σ moved[dev→·] − dec[dev]`` on this replica."""
        total = self._inc.get(dev, 0) - self._dec.get(dev, 0)
        for (src, dst), n in self._moved.items():
            if dst == dev:
                total += n
            if src == dev:
                total -= n
        return total

    @property
    def value(self) -> int:
        """``Σ inc − Σ dec`` (equal to the sum of all rights)."""
        return sum(self._inc.values()) - sum(self._dec.values())

    def can_decrement(self, dev: str, n: int) -> bool:
        """True if ``dev`` holds at least ``n`` rights on this replica.

        Raises:
            CounterError: ``n`` is not a positive int or ``dev`` is not a device id.
        """
        return self.rights(_device(dev, "decrement")) >= _amount(n, "decrement")

    def can_move(self, src: str, dst: str, n: int) -> bool:
        """True if ``src`` holds at least ``n`` rights on this replica to give to ``dst``.

        Raises:
            CounterError: ``n`` is not a positive int, a device id is malformed, or ``src == dst``.
        """
        src, dst = _device(src, "move"), _device(dst, "move to")
        n = _amount(n, "move")
        if src == dst:
            raise CounterError(f"move of {n} from device {src!r} to itself")
        return self.rights(src) >= n

    def devices(self) -> list[str]:
        """Every device named by an op on this counter, sorted."""
        seen: set[str] = set(self._inc) | set(self._dec)
        for src, dst in self._moved:
            seen.update((src, dst))
        return sorted(seen)

    def negative_devices(self) -> list[str]:
        """Devices whose rights are below zero, sorted: only a device that skipped its check."""
        return [dev for dev in self.devices() if self.rights(dev) < 0]

    def has_applied(self, op_id: str) -> bool:
        """True if the op with this id was applied (directly or through a merge)."""
        return op_id in self._applied

    # -- state-based merge -----------------------------------------------------------------------

    def merge(self, other: BoundedCounter) -> bool:
        """Pointwise max of the per-writer totals, union of applied ids (see the module docstring).

        Returns True if this replica changed.
        """
        changed = _max_into(self._inc, other._inc.items())
        changed = _max_into(self._dec, other._dec.items()) or changed
        changed = _max_into(self._moved, other._moved.items()) or changed
        new_ids = other._applied - self._applied
        self._applied |= new_ids
        return changed or bool(new_ids)

    def copy(self) -> BoundedCounter:
        """An independent replica with the same state."""
        twin = BoundedCounter()
        twin._inc, twin._dec, twin._moved = dict(self._inc), dict(self._dec), dict(self._moved)
        twin._applied = set(self._applied)
        return twin

    def to_plain(self) -> dict[str, Any]:
        """``{"dec": {dev: n}, "inc": {dev: n}, "moved": {src: {dst: n}}}``, keys sorted."""
        moved: dict[str, dict[str, int]] = {}
        for src, dst in sorted(self._moved):
            moved.setdefault(src, {})[dst] = self._moved[(src, dst)]
        return {
            "dec": {d: self._dec[d] for d in sorted(self._dec)},
            "inc": {d: self._inc[d] for d in sorted(self._inc)},
            "moved": moved,
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BoundedCounter) and self.to_plain() == other.to_plain()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        rights = {dev: self.rights(dev) for dev in self.devices()}
        return f"BoundedCounter(value={self.value}, rights={rights!r})"


def _max_into(mine: dict[Any, int], theirs: Iterable[tuple[Any, int]]) -> bool:
    changed = False
    for key, n in theirs:
        if n > mine.get(key, 0):
            mine[key] = n
            changed = True
    return changed
