"""Reads of the op log for a node that serves others (the district): pages, heads, hashes, indices.

``ops.idx`` is the order in which this node accepted its ops (the log index; Merkle leaf ``idx - 1``).
Every function reads through the connection it is given, so it runs inside the caller's transaction
(a write transaction of the server's writer, or a read snapshot of a reader connection).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

__all__ = [
    "LedgerKey",
    "LoggedOp",
    "device_heads",
    "exported_ops",
    "hashes_after",
    "heads_by_device",
    "indices_of",
    "ledger_keys",
    "max_index",
    "ops_page",
    "top_seq",
]

_CHUNK = 500


@dataclass(frozen=True, slots=True)
class LoggedOp:
    """An op at its log index: ``idx`` and the exact bytes ``raw``."""

    idx: int
    raw: bytes


@dataclass(frozen=True, slots=True)
class LedgerKey:
    """A counter an op moved: ``(kind, scope, key)``."""

    kind: str
    scope: str
    key: str


def max_index(conn: sqlite3.Connection) -> int:
    """The highest log index (0 for an empty log)."""
    return int(conn.execute("SELECT COALESCE(MAX(idx), 0) FROM ops").fetchone()[0])


def ops_page(
    conn: sqlite3.Connection,
    after: int,
    *,
    upto: int,
    limit: int,
    scopes: Sequence[str] | None = None,
    exclude_dev: str | None = None,
) -> list[LoggedOp]:
    """Ops with ``after < idx <= upto`` in log order, at most ``limit``, of ``scopes`` (``None``: all), not
    written by ``exclude_dev``."""
    sql = "SELECT idx, raw FROM ops WHERE idx > ? AND idx <= ?"
    args: list[object] = [after, upto]
    if exclude_dev is not None:
        sql += " AND dev != ?"
        args.append(exclude_dev)
    if scopes is not None:
        sql += f" AND scope IN ({','.join('?' for _ in scopes)})"
        args += scopes
    sql += " ORDER BY idx LIMIT ?"
    args.append(limit)
    return [LoggedOp(int(i), bytes(r)) for i, r in conn.execute(sql, args)]


def device_heads(conn: sqlite3.Connection, dev: str) -> dict[str, int]:
    """``{scope: head seq}`` of every stream of device ``dev``."""
    return {str(s): int(n) for s, n in conn.execute("SELECT scope, head_seq FROM streams WHERE dev=?", (dev,))}


def stream_hashes(conn: sqlite3.Connection, dev: str, scope: str, after: int, limit: int) -> list[bytes]:
    """The op hashes of stream ``(dev, scope)`` after seq ``after``, in seq order, at most ``limit``."""
    rows = conn.execute(
        "SELECT hash FROM ops WHERE dev=? AND scope=? AND seq>? ORDER BY seq LIMIT ?", (dev, scope, after, limit)
    )
    return [bytes(r[0]) for r in rows]


def heads_by_device(conn: sqlite3.Connection) -> dict[str, dict[str, int]]:
    """``{dev: {scope: head seq}}`` of every stream held."""
    out: dict[str, dict[str, int]] = {}
    for dev, scope, seq in conn.execute("SELECT dev, scope, head_seq FROM streams"):
        out.setdefault(str(dev), {})[str(scope)] = int(seq)
    return out


def top_seq(conn: sqlite3.Connection, dev: str) -> int:
    """The highest seq held of device ``dev`` in any of its streams (0 when none)."""
    return int(conn.execute("SELECT COALESCE(MAX(head_seq), 0) FROM streams WHERE dev=?", (dev,)).fetchone()[0])


def hashes_after(conn: sqlite3.Connection, after: int) -> list[tuple[int, bytes]]:
    """``(idx, op hash)`` of every op after log index ``after``, in log order."""
    rows = conn.execute("SELECT idx, hash FROM ops WHERE idx > ? ORDER BY idx", (after,))
    return [(int(i), bytes(h)) for i, h in rows]


def indices_of(conn: sqlite3.Connection, op_hashes: Sequence[bytes]) -> dict[bytes, int]:
    """``{op hash: log index}`` of those of ``op_hashes`` the log holds (looked up in chunks)."""
    found: dict[bytes, int] = {}
    unique = list(dict.fromkeys(op_hashes))
    for i in range(0, len(unique), _CHUNK):
        part = unique[i : i + _CHUNK]
        marks = ",".join("?" * len(part))
        for h, idx in conn.execute(f"SELECT hash, idx FROM ops WHERE hash IN ({marks})", part):
            found[bytes(h)] = int(idx)
    return found


def exported_ops(conn: sqlite3.Connection, upto: int) -> Iterator[tuple[bytes, int]]:
    """``(raw, received_ms)`` of the ops with ``idx <= upto``, in log order (read lazily)."""
    for raw, ms in conn.execute("SELECT raw, received_ms FROM ops WHERE idx <= ? ORDER BY idx", (upto,)):
        yield bytes(raw), int(ms)


def ledger_keys(conn: sqlite3.Connection, op_id: str) -> list[LedgerKey]:
    """The counters op ``op_id`` (its hash in hex) moved, from the ledger."""
    rows = conn.execute("SELECT kind, scope, key FROM ledger WHERE op=?", (op_id,))
    return [LedgerKey(str(k), str(s), str(key)) for k, s, key in rows]
