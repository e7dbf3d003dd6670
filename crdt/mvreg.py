"""Multi-value register with explicit supersedes (DESIGN 4: ticket assignee).

Every ``assign`` op has an id (the op hash in hex), a value, a :data:`~crdt.lww.Stamp` and the set
of assign ids it supersedes (the live assigns its writer saw). The state is every assign seen plus
every id any of them supersedes; an assign is *live* when no assign seen supersedes it. Both parts
only grow by union, so the register converges whatever the order of arrival: an assign that
arrives after the one superseding it is dead on arrival.

Concurrent assigns all stay live. The view shows the :meth:`MVRegister.winner` (the live assign
with the highest ``(stamp, id)``) and :attr:`MVRegister.conflict`; staff resolve the conflict by a
new assign that supersedes every live one (:meth:`MVRegister.live_ids`).

Two assigns under one id are the same op in an honest system; if a faulty device sends different
contents under one id, the one with the higher :func:`~crdt.lww.value_key` of
``(stamp, value, supersedes)`` is kept, so replicas still agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .lww import Stamp, check_stamp, plain, plain_stamp, value_key

__all__ = ["Assign", "MVRegister"]

V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Assign(Generic[V]):
    """One assign op: its id, the value, its stamp and the assign ids it supersedes."""

    id: str
    value: V
    stamp: Stamp
    supersedes: frozenset[str]

    def order_key(self) -> tuple[Stamp, str]:
        """The winner order: highest stamp, then highest id."""
        return (self.stamp, self.id)

    def content_key(self) -> tuple[Any, ...]:
        """A total order over the contents, to pick one of two different assigns with one id."""
        return value_key((list(self.stamp), self.value, sorted(self.supersedes)))

    def to_plain(self) -> dict[str, Any]:
        """``{"id", "stamp", "supersedes" (sorted), "value"}``."""
        return {
            "id": self.id,
            "stamp": plain_stamp(self.stamp),
            "supersedes": sorted(self.supersedes),
            "value": plain(self.value),
        }


class MVRegister(Generic[V]):
    """Multi-value register; mutable (``apply``/``merge`` change it in place)."""

    __slots__ = ("_assigns", "_superseded")

    def __init__(self) -> None:
        self._assigns: dict[str, Assign[V]] = {}
        self._superseded: set[str] = set()

    def apply(self, assign_id: str, value: V, stamp: Stamp, supersedes: Iterable[str] = ()) -> bool:
        """Merge one assign op; return True if the state changed.

        Args:
            assign_id: the op's id (op hash hex).
            value: the assigned value (e.g. a technician id, or None to unassign).
            stamp: the op's stamp.
            supersedes: ids of the assigns this one replaces.

        Raises:
            ClockError: ``stamp`` is malformed.
        """
        assign = Assign(assign_id, value, check_stamp(stamp), frozenset(supersedes))
        return self._add(assign)

    def _add(self, assign: Assign[V]) -> bool:
        changed = False
        known = self._assigns.get(assign.id)
        if known is None or assign.content_key() > known.content_key():
            self._assigns[assign.id] = assign
            changed = True
        new_dead = assign.supersedes - self._superseded
        if new_dead:
            self._superseded |= new_dead
            changed = True
        return changed

    def merge(self, other: MVRegister[V]) -> bool:
        """Merge another replica's state into this one; return True if this one changed."""
        changed = False
        for assign in other._assigns.values():
            changed = self._add(assign) or changed
        new_dead = other._superseded - self._superseded
        if new_dead:
            self._superseded |= new_dead
            changed = True
        return changed

    def live(self) -> list[Assign[V]]:
        """Assigns no seen assign supersedes, winner first (by ``(stamp, id)``, descending)."""
        alive = [a for a in self._assigns.values() if a.id not in self._superseded]
        return sorted(alive, key=Assign.order_key, reverse=True)

    def live_ids(self) -> list[str]:
        """Ids of the live assigns, sorted: what a resolving assign should supersede."""
        return sorted(a.id for a in self._assigns.values() if a.id not in self._superseded)

    def winner(self) -> Assign[V] | None:
        """The live assign with the highest ``(stamp, id)``, or None if there is none."""
        alive = self.live()
        return alive[0] if alive else None

    @property
    def value(self) -> V | None:
        """The winner's value, or None if there is no live assign."""
        top = self.winner()
        return None if top is None else top.value

    @property
    def conflict(self) -> bool:
        """True when more than one assign is live (concurrent assigns nobody resolved)."""
        return len(self.live_ids()) > 1

    def seen(self, assign_id: str) -> bool:
        """True if the assign with this id has been merged."""
        return assign_id in self._assigns

    def copy(self) -> MVRegister[V]:
        """An independent replica with the same state."""
        twin: MVRegister[V] = MVRegister()
        twin._assigns = dict(self._assigns)
        twin._superseded = set(self._superseded)
        return twin

    def to_plain(self) -> dict[str, Any]:
        """``{"assigns": [assign, ... by id], "superseded": [id, ... sorted]}``."""
        return {
            "assigns": [self._assigns[k].to_plain() for k in sorted(self._assigns)],
            "superseded": sorted(self._superseded),
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MVRegister) and self.to_plain() == other.to_plain()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"MVRegister(live={[(a.id, a.value) for a in self.live()]!r})"
