"""Last-writer-wins register and map (DESIGN 4: ticket fields, catalogue, people, notices).

The order is the :data:`Stamp` ``(hlc_wall_ms, hlc_counter, device_id)``; the higher stamp wins.
Two writes with the same stamp are the same op in an honest system (one device never issues one
HLC twice). A faulty or hostile device could still send two different values under one stamp, so
a tie is broken by :func:`value_key`, a total order over plain values: the merge then stays
commutative and every replica keeps the same value, whatever the order of arrival.

The types here are mutable: ``apply``/``set``/``merge`` change the receiver in place and say
whether anything changed; ``copy()`` gives an independent replica. ``to_plain()`` gives a
JSON-able dump with a deterministic order, for a canonical digest.

This module also holds the helpers the other CRDT modules share: :data:`Stamp`,
:func:`check_stamp`, :func:`plain_stamp`, :func:`value_key` and :func:`plain`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Generic, TypeVar

from .errors import ClockError

__all__ = ["LWWMap", "LWWRegister", "Stamp", "check_stamp", "plain", "plain_stamp", "value_key"]

Stamp = tuple[int, int, str]
"""LWW order key ``(hlc_wall_ms, hlc_counter, device_id)``; a higher stamp wins."""

V = TypeVar("V")


def check_stamp(stamp: object) -> Stamp:
    """Return ``stamp`` as a :data:`Stamp` tuple, or raise.

    Args:
        stamp: a tuple or list ``(wall_ms, counter, device_id)``.

    Raises:
        ClockError: the value is not two non-negative ints followed by a non-empty str.
    """
    if (
        isinstance(stamp, tuple | list)
        and len(stamp) == 3
        and type(stamp[0]) is int
        and type(stamp[1]) is int
        and type(stamp[2]) is str
        and stamp[0] >= 0
        and stamp[1] >= 0
        and stamp[2]
    ):
        return (stamp[0], stamp[1], stamp[2])
    raise ClockError(f"{stamp!r} is not a stamp (wall_ms >= 0, counter >= 0, non-empty device id)")


def plain_stamp(stamp: Stamp) -> list[int | str]:
    """The stamp as a JSON-able list ``[wall_ms, counter, device_id]``."""
    return [stamp[0], stamp[1], stamp[2]]


def value_key(value: object) -> tuple[Any, ...]:
    """A total, deterministic sort key over plain values.

    Orders by kind first (None < bool < int < str < bytes < list/tuple < dict < anything else),
    then by content; dicts compare as their sorted items. Used to break ties between different
    values written under the same stamp, and to sort set members.
    """
    if value is None:
        return (0,)
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, int):
        return (2, value)
    if isinstance(value, str):
        return (3, value)
    if isinstance(value, bytes | bytearray):
        return (4, bytes(value))
    if isinstance(value, list | tuple):
        return (5, tuple(value_key(item) for item in value))
    if isinstance(value, dict):
        return (6, tuple(sorted((value_key(k), value_key(v)) for k, v in value.items())))
    return (7, type(value).__qualname__, repr(value))


def plain(value: Any) -> Any:
    """``value`` with tuples turned into lists and dict keys sorted, recursively.

    Scalars (None, bool, int, str, and bytes if a caller stores them) are returned unchanged.
    """
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {k: plain(value[k]) for k in sorted(value, key=value_key)}
    return value


class LWWRegister(Generic[V]):
    """One value under last-writer-wins; empty until the first write.

    ``None`` is a valid value (e.g. "no hold"); emptiness is ``stamp is None``.
    """

    __slots__ = ("_stamp", "_value")

    def __init__(self) -> None:
        self._value: V | None = None
        self._stamp: Stamp | None = None

    @property
    def value(self) -> V | None:
        """The winning value, or None while empty."""
        return self._value

    @property
    def stamp(self) -> Stamp | None:
        """The winning stamp, or None while empty."""
        return self._stamp

    def apply(self, value: V, stamp: Stamp) -> bool:
        """Merge one write; return True if it became the register's value.

        Raises:
            ClockError: ``stamp`` is malformed.
        """
        stamp = check_stamp(stamp)
        if self._stamp is not None:
            if stamp < self._stamp:
                return False
            if stamp == self._stamp and value_key(value) <= value_key(self._value):
                return False
        self._value, self._stamp = value, stamp
        return True

    def merge(self, other: LWWRegister[V]) -> bool:
        """Merge another replica's state into this one; return True if this one changed."""
        if other._stamp is None:
            return False
        return self.apply(other._value, other._stamp)  # type: ignore[arg-type]

    def copy(self) -> LWWRegister[V]:
        """An independent replica with the same state."""
        twin: LWWRegister[V] = LWWRegister()
        twin._value, twin._stamp = self._value, self._stamp
        return twin

    def to_plain(self) -> dict[str, Any]:
        """``{"stamp": [wall, counter, dev] | None, "value": ...}``."""
        return {
            "stamp": None if self._stamp is None else plain_stamp(self._stamp),
            "value": plain(self._value),
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LWWRegister) and self.to_plain() == other.to_plain()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"LWWRegister(value={self._value!r}, stamp={self._stamp!r})"


class LWWMap(Generic[V]):
    """A map of field name to :class:`LWWRegister`; each field merges on its own."""

    __slots__ = ("_fields",)

    def __init__(self) -> None:
        self._fields: dict[str, LWWRegister[V]] = {}

    def set(self, field: str, value: V, stamp: Stamp) -> bool:
        """Merge a write of one field; return True if it became the field's value.

        Raises:
            ClockError: ``stamp`` is malformed.
        """
        register = self._fields.get(field)
        if register is None:
            register = self._fields[field] = LWWRegister()
        return register.apply(value, stamp)

    def get(self, field: str, default: V | None = None) -> V | None:
        """The field's winning value, or ``default`` if it was never written."""
        register = self._fields.get(field)
        return default if register is None else register.value

    def stamp(self, field: str) -> Stamp | None:
        """The stamp of the field's winning write, or None if it was never written."""
        register = self._fields.get(field)
        return None if register is None else register.stamp

    def items(self) -> list[tuple[str, V | None]]:
        """``(field, value)`` pairs, sorted by field name."""
        return [(name, self._fields[name].value) for name in sorted(self._fields)]

    def merge(self, other: LWWMap[V]) -> bool:
        """Merge another replica's state into this one; return True if any field changed."""
        changed = False
        for name, theirs in other._fields.items():
            mine = self._fields.get(name)
            if mine is None:
                self._fields[name] = theirs.copy()
                changed = True
            else:
                changed = mine.merge(theirs) or changed
        return changed

    def copy(self) -> LWWMap[V]:
        """An independent replica with the same state."""
        twin: LWWMap[V] = LWWMap()
        twin._fields = {name: register.copy() for name, register in self._fields.items()}
        return twin

    def to_plain(self) -> dict[str, Any]:
        """``{field: {"stamp": [...], "value": ...}}`` with fields sorted."""
        return {name: self._fields[name].to_plain() for name in sorted(self._fields)}

    def __contains__(self, field: object) -> bool:
        return field in self._fields

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._fields))

    def __len__(self) -> int:
        return len(self._fields)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LWWMap) and self.to_plain() == other.to_plain()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"LWWMap({dict(self.items())!r})"
