"""Grow-only set (DESIGN 4: ticket comments, photo hashes, parts used); merge is union.

Members must be hashable plain values (str, int, bytes, tuples of those; not bools, which Python
counts equal to 0 and 1, nor floats). Iteration and
``to_plain()`` order members by :func:`~crdt.lww.value_key`, so the order never depends on the
order of arrival.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator
from typing import Any, Generic, TypeVar

from .lww import plain, value_key

__all__ = ["GSet"]

T = TypeVar("T", bound=Hashable)


class GSet(Generic[T]):
    """A grow-only set; mutable (``add``/``merge`` change it in place)."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[T] = ()) -> None:
        self._items: set[T] = set(items)

    def add(self, item: T) -> bool:
        """Add one member; return True if it was new."""
        if item in self._items:
            return False
        self._items.add(item)
        return True

    def merge(self, other: GSet[T]) -> bool:
        """Union another replica's members into this one; return True if any was new."""
        new = other._items - self._items
        self._items |= new
        return bool(new)

    def items(self) -> list[T]:
        """The members in :func:`~crdt.lww.value_key` order."""
        return sorted(self._items, key=value_key)

    def copy(self) -> GSet[T]:
        """An independent replica with the same members."""
        return GSet(self._items)

    def to_plain(self) -> list[Any]:
        """The members as a sorted list (tuples become lists)."""
        return [plain(item) for item in self.items()]

    def __contains__(self, item: object) -> bool:
        return item in self._items

    def __iter__(self) -> Iterator[T]:
        return iter(self.items())

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GSet) and self._items == other._items

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"GSet({self.items()!r})"
