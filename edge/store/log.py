"""The node's store: the op log, stream heads, device keys, flags and meta, over one SQLite file.

Writes go through two doors: ``Store.tx`` (the local write path, ``edge.store.local``) and
``Store.apply_remote`` / ``apply_remote_in`` (remote ingest, ``edge.store.ingest``); both append to
the same log and apply each op through the one apply rule its type registered.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crdt.hlc import system_ms
from crdt.keys import DeviceKey
from crdt.op import Op
from edge.store.db import connect, migrate, write_tx
from edge.store.ingest import BatchResult, Retry, apply_batch, shutdown_verify_pool
from edge.store.local import Tx

__all__ = ["MAX_CLOCK_OFFSET_MS", "BatchResult", "Identity", "Store", "Tx", "shutdown_verify_pool"]

MAX_CLOCK_OFFSET_MS = 100 * 365 * 24 * 3600 * 1000
"""The largest correction of the device clock applied (a Pi restarting from 1970 needs about 56 years)."""


@dataclass(frozen=True)
class Identity:
    """Who this node is: its key, community and role (``kiosk``, ``staff`` or ``district``)."""

    key: DeviceKey
    community: str
    role: str

    @property
    def dev(self) -> str:
        return self.key.device_id


# ``set`` is a method of ``Store``, so annotations inside the class name the type through this alias.
ScopeSet = set[str]


class Store:
    """A node's SQLite database (``edge.sqlite3`` in its data directory)."""

    def __init__(
        self,
        path: str | Path,
        ident: Identity,
        *,
        wall: Callable[[], int] = system_ms,
        trusted_keys: dict[str, bytes] | None = None,
    ) -> None:
        self.path = Path(path)
        self.ident = ident
        self.system_wall = wall
        self.conn = connect(self.path)
        migrate(self.conn)
        # Keys trusted before any device.enroll op: this node's own, the pinned district key.
        self.trusted: dict[str, bytes] = {ident.dev: ident.key.public_bytes}
        self.trusted.update(trusted_keys or {})

    def close(self) -> None:
        self.conn.close()

    # --- time ---------------------------------------------------------------------------------
    def clock_offset(self, conn: sqlite3.Connection | None = None) -> int:
        """The correction of the device clock learnt from the district (meta ``clock_offset_ms``), bounded.

        The sync client writes it only from answers it has verified (``edge.sync.client``); a district
        node never has one.
        """
        value = self.meta_get(self.conn if conn is None else conn, "clock_offset_ms", 0)
        if type(value) is not int:
            return 0
        return max(-MAX_CLOCK_OFFSET_MS, min(MAX_CLOCK_OFFSET_MS, value))

    def wall(self) -> int:
        """This node's wall clock: the device clock corrected by the offset learnt from the district.

        The HLC runs on it (``Tx``, ``apply_batch``), so a kiosk whose clock restarted in the past or
        runs ahead stamps its ops on the district's time once it has synced, and judges skew against it.
        Never below 0 (an offset learnt before the device clock jumped back can overshoot until the next
        sync): a resident's report is never refused because of a clock.
        """
        return max(0, self.system_wall() + self.clock_offset())

    def wall_fn(self, conn: sqlite3.Connection) -> Callable[[], int]:
        """The corrected wall clock with the offset read once (for the clock of one transaction)."""
        offset = self.clock_offset(conn)
        system = self.system_wall
        return lambda: max(0, system() + offset)

    # --- meta ---------------------------------------------------------------------------------
    @staticmethod
    def meta_get(conn: sqlite3.Connection, key: str, default: Any = None) -> Any:
        row = conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    @staticmethod
    def meta_set(conn: sqlite3.Connection, key: str, value: Any) -> None:
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value=excluded.value",
            (key, json.dumps(value)),
        )

    def get(self, key: str, default: Any = None) -> Any:
        return self.meta_get(self.conn, key, default)

    def set(self, key: str, value: Any) -> None:
        with write_tx(self.conn):
            self.meta_set(self.conn, key, value)

    # --- writing ------------------------------------------------------------------------------
    @contextmanager
    def tx(self) -> Iterator[Tx]:
        """One ``BEGIN IMMEDIATE`` transaction for local writes."""
        with write_tx(self.conn) as conn:
            yield Tx(self, conn)

    @contextmanager
    def tx_in(self, conn: sqlite3.Connection) -> Iterator[Tx]:
        """Local writes inside a write transaction the caller holds and commits (the sync server's)."""
        yield Tx(self, conn)

    def _append(self, conn: sqlite3.Connection, op: Op, received_ms: int) -> int:
        idx = self._insert_op(conn, op, received_ms)
        conn.execute(
            "INSERT INTO streams (dev, scope, head_seq, head_hash) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (dev, scope) DO UPDATE SET head_seq=excluded.head_seq, head_hash=excluded.head_hash",
            (op.dev, op.scope, op.seq, op.hash),
        )
        return idx

    @staticmethod
    def _insert_op(conn: sqlite3.Connection, op: Op, received_ms: int) -> int:
        cur = conn.execute(
            "INSERT INTO ops (hash, dev, scope, seq, type, obj, wall, counter, raw, received_ms) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (op.hash, op.dev, op.scope, op.seq, op.type, op.obj, op.hlc[0], op.hlc[1], op.raw, received_ms),
        )
        return int(cur.lastrowid or 0)

    # --- remote ops ---------------------------------------------------------------------------
    def pubkey(self, conn: sqlite3.Connection, dev: str) -> tuple[bytes, str, str, int | None] | None:
        """``(pubkey, community, role, revoked_from_seq)`` of an enrolled device, or ``None``."""
        row = conn.execute(
            "SELECT pubkey, community, role, revoked_from_seq FROM devices WHERE dev=?", (dev,)
        ).fetchone()
        if row is not None:
            return (bytes(row[0]), row[1], row[2], row[3])
        if dev in self.trusted:
            role = "district" if dev == self.get_district_dev() else self.ident.role
            community = "district" if role == "district" else self.ident.community
            return (self.trusted[dev], community, role, None)
        return None

    def get_district_dev(self) -> str | None:
        value = self.get("district_dev")
        return str(value) if value else None

    def apply_remote(
        self,
        raws: list[bytes],
        *,
        accept_scopes: ScopeSet | None = None,
        on_accept: Callable[[sqlite3.Connection, Op, int], None] | None = None,
    ) -> BatchResult:
        """Validate and apply a batch of op bytes in one transaction; idempotent.

        Args:
            raws: op bytes, in the order to apply.
            accept_scopes: scopes this node keeps (``None``: all).
            on_accept: called inside the transaction for each accepted op with its log index.
        """
        with write_tx(self.conn) as conn:
            return self.apply_remote_in(conn, raws, accept_scopes=accept_scopes, on_accept=on_accept)

    def apply_remote_in(
        self,
        conn: sqlite3.Connection,
        raws: list[bytes],
        *,
        accept_scopes: ScopeSet | None = None,
        on_accept: Callable[[sqlite3.Connection, Op, int], None] | None = None,
    ) -> BatchResult:
        """``apply_remote`` inside a write transaction the caller holds and commits (or rolls back).

        The sync server uses it to record its own bookkeeping (nonce, quarantine) in the same
        transaction as the ops; an exception from ``on_accept`` propagates to the caller.
        """
        if on_accept is not None:
            return apply_batch(self, conn, raws, accept_scopes, on_accept, careful=True)
        conn.execute("SAVEPOINT batch")
        try:
            result = apply_batch(self, conn, raws, accept_scopes, None, careful=False)
        except Retry:
            conn.execute("ROLLBACK TO batch")
            conn.execute("RELEASE batch")
            return apply_batch(self, conn, raws, accept_scopes, None, careful=True)
        conn.execute("RELEASE batch")
        return result

    def flag(self, conn: sqlite3.Connection, dev: str, flag: str, detail: str) -> None:
        """Record a flag on a device (clock skew, equivocation, quarantine)."""
        conn.execute(
            "INSERT INTO flags (dev, flag, detail, ms) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (dev, flag) DO UPDATE SET detail=excluded.detail, ms=excluded.ms",
            (dev, flag, detail, self.wall()),
        )

    @staticmethod
    def unflag(conn: sqlite3.Connection, dev: str, flag: str) -> None:
        """Lift a flag from a device (a clock back within bounds)."""
        conn.execute("DELETE FROM flags WHERE dev=? AND flag=?", (dev, flag))

    # --- reading the log ----------------------------------------------------------------------
    def heads(self, scopes: ScopeSet | None = None) -> dict[str, int]:
        """``{"dev/scope": head_seq}`` for every stream held (or of ``scopes``)."""
        rows = self.conn.execute("SELECT dev, scope, head_seq FROM streams").fetchall()
        return {f"{d}/{s}": n for d, s, n in rows if scopes is None or s in scopes}

    def ops_after(self, idx: int, scopes: ScopeSet | None = None, limit: int = 1000) -> list[tuple[int, bytes]]:
        """``(idx, raw)`` of ops after log index ``idx``, in log order."""
        if scopes is None:
            rows = self.conn.execute("SELECT idx, raw FROM ops WHERE idx > ? ORDER BY idx LIMIT ?", (idx, limit))
        else:
            marks = ",".join("?" for _ in scopes)
            rows = self.conn.execute(
                f"SELECT idx, raw FROM ops WHERE idx > ? AND scope IN ({marks}) ORDER BY idx LIMIT ?",
                (idx, *sorted(scopes), limit),
            )
        return [(int(i), bytes(r)) for i, r in rows]

    def stream_ops(self, dev: str, scope: str, after_seq: int = 0) -> list[bytes]:
        """A stream's ops after ``after_seq``, in seq order."""
        rows = self.conn.execute(
            "SELECT raw FROM ops WHERE dev=? AND scope=? AND seq > ? ORDER BY seq", (dev, scope, after_seq)
        )
        return [bytes(r[0]) for r in rows]

    def op_count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM ops").fetchone()[0])
