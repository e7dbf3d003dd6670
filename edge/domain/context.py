"""The context a domain command runs in: this node's store, who it is, and its clock.

Commands are functions over a :class:`Context`, not over ``edge.Node``: each checks its rule against the
views through ``ctx.store.tx()`` (the same ``BEGIN IMMEDIATE`` transaction that writes its ops) and
emits the ops; ``edge.Node`` builds one context and delegates to them.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from edge.store import Store

__all__ = ["Context"]


@dataclass(frozen=True)
class Context:
    """What a command needs: the store (its one writer connection), community, role and clock."""

    store: Store
    community: str
    role: str

    @classmethod
    def of(cls, store: Store) -> Context:
        """The context of the node that owns ``store``."""
        return cls(store, store.ident.community, store.ident.role)

    @property
    def conn(self) -> sqlite3.Connection:
        """The store's connection (inside ``store.tx()`` it is the transaction's)."""
        return self.store.conn

    @property
    def dev(self) -> str:
        """This device's id: the rights of bounded counters are held per device."""
        return self.store.ident.dev

    @property
    def scopes(self) -> list[str]:
        """The scopes this node reads: its community, then the district."""
        return [self.community] if self.community == "district" else [self.community, "district"]

    @property
    def is_district(self) -> bool:
        return self.role == "district"

    def home(self, scope: str | None) -> str:
        """``scope``, or this node's community when none is given."""
        return scope or self.community

    def now_ms(self) -> int:
        """The store's wall clock in milliseconds."""
        return self.store.wall()
