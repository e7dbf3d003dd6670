"""``digest``: SHA-256 over a canonical dump of the materialised views, for one scope or all.

Two nodes holding the same set of ops have the same views, whatever order the ops came in, so the
same digest; ``rebuild`` replays the op log into empty views and must give the same digest again.
"""

from __future__ import annotations

import hashlib
import sqlite3
from typing import Any

from crdt.canonical import encode
from edge.store.optypes import REGISTRY, validate_payload
from edge.store.schema import VIEW_TABLES
from edge.store.views import fence_rows

__all__ = ["digest", "dump", "rebuild_views"]


def dump(conn: sqlite3.Connection, scope: str | None = None) -> dict[str, list[list[Any]]]:
    """Every view row (of ``scope``, or all), ordered by primary key."""
    out: dict[str, list[list[Any]]] = {}
    for table, order in VIEW_TABLES.items():
        sql = f"SELECT * FROM {table}"
        args: tuple[Any, ...] = ()
        if scope is not None:
            sql += " WHERE scope = ?"
            args = (scope,)
        sql += " ORDER BY " + ", ".join(order)
        out[table] = [[bytes(v) if isinstance(v, memoryview) else v for v in row] for row in conn.execute(sql, args)]
    return out


def digest(conn: sqlite3.Connection, scope: str | None = None) -> str:
    """Hex SHA-256 of the canonical dump."""
    return hashlib.sha256(encode(dump(conn, scope))).hexdigest()


def rebuild_views(conn: sqlite3.Connection) -> int:
    """Empty every view and replay the op log into it, in log order (inside the caller's transaction).

    The clock fences of the log are written first, so every op is compared under all the fences held
    (``edge.domain.devices``), whatever their place in the log.

    Returns:
        The number of ops replayed.
    """
    from crdt.op import decode_op

    for table in VIEW_TABLES:
        conn.execute(f"DELETE FROM {table}")
    for (raw,) in conn.execute("SELECT raw FROM ops WHERE type='device.fence' ORDER BY idx").fetchall():
        fence = decode_op(bytes(raw))
        payload = validate_payload(fence.type, fence.data).model_dump()
        fence_rows(conn, fence, payload["max_wall"], payload["through"])
    n = 0
    for (raw,) in conn.execute("SELECT raw FROM ops ORDER BY idx").fetchall():
        op = decode_op(bytes(raw))
        REGISTRY[op.type].apply(conn, op, validate_payload(op.type, op.data))
        n += 1
    return n
