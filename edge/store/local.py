"""The local write path: ``with store.tx() as tx: tx.emit(...)`` signs, appends and applies one op.

A ``Tx`` lives inside one ``BEGIN IMMEDIATE`` transaction, which allocates the stream ``seq`` and the
HLC inside it, signs the op, appends it, applies it to the views and persists the clock; either all
of it commits or none. A command checks its rules against the views through ``tx.conn`` inside the
same transaction, so two writers on one device cannot both pass a rule that only one may.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

from crdt.errors import DecodeError, EnvelopeError
from crdt.hlc import HLC
from crdt.op import ZERO_HASH, Op, sign_op
from edge.errors import InputError, ScopeForbidden
from edge.store.optypes import REGISTRY, may_write, validate_payload

if TYPE_CHECKING:
    from edge.store.log import Store

__all__ = ["Tx"]


class Tx:
    """A write transaction on the store; ``emit`` writes one local op."""

    def __init__(self, store: Store, conn: sqlite3.Connection) -> None:
        self.store = store
        self.conn = conn
        self.ident = store.ident
        self.wall = store.wall_fn(conn)
        # The persisted clock: never below anything this node issued or observed (ingest advances it).
        self.clock = HLC.from_list(store.meta_get(conn, "hlc", [0, 0]), self.wall)
        self.ops: list[Op] = []

    @property
    def now_ms(self) -> int:
        return self.wall()

    def emit(self, scope: str, type_name: str, obj: str, data: dict[str, Any], actor: str | None = None) -> Op:
        """Sign, append and apply a local op.

        Raises:
            InputError: the payload does not fit the type's model.
            ScopeForbidden: this device may not write that type to that scope.
        """
        why = may_write(self.ident.role, self.ident.community, scope, type_name)
        if why is not None:
            raise ScopeForbidden(why)
        payload = validate_payload(type_name, data)
        why = may_write(self.ident.role, self.ident.community, scope, type_name, obj, payload)
        if why is not None:
            raise ScopeForbidden(why)
        row = self.conn.execute(
            "SELECT head_seq, head_hash FROM streams WHERE dev=? AND scope=?", (self.ident.dev, scope)
        ).fetchone()
        seq, prev = (row[0] + 1, row[1]) if row else (1, ZERO_HASH)
        hlc = self.clock.now()
        try:
            op = sign_op(
                self.ident.key,
                scope=scope,
                seq=seq,
                prev=prev,
                hlc=hlc,
                actor=actor,
                type=type_name,
                obj=obj,
                data=payload.model_dump(mode="python"),
            )
        except (DecodeError, EnvelopeError, TypeError) as exc:
            raise InputError(f"{type_name}: {exc}") from None
        self.store._append(self.conn, op, self.now_ms)
        REGISTRY[type_name].apply(self.conn, op, payload)
        self.store.meta_set(self.conn, "hlc", self.clock.to_list())
        self.ops.append(op)
        return op
