"""The node's store: op log, stream heads, persisted HLC, and the one write path for every op.

Local writes: ``with store.tx() as tx: tx.emit(...)`` runs in one ``BEGIN IMMEDIATE`` transaction
that allocates the stream ``seq`` and the HLC inside it, signs the op, appends it, applies it to the
views and persists the clock; either all of it commits or none. Remote ops: ``store.apply_remote``
validates each op (DESIGN 3.2: canonical envelope, enrolled and not revoked device, scope and type
allowed, signature, chain, payload) before a byte of it is trusted, and applies a batch in one
transaction; an op already held is recognised by its hash before any signature is checked.

A large remote batch has its signatures checked ahead in worker processes (``spawn``, sized by
``LINLI_VERIFY_WORKERS``, default one per core but one) while the ops are applied in order, and runs
without a savepoint per op unless an apply fails (then the batch is redone op by op); either way the
outcome is the one of checking and applying each op in turn. A script that applies large batches
must guard its entry point with ``if __name__ == "__main__"``, as ``spawn`` requires.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack

from crdt.chain import Placement, check_next
from crdt.errors import ChainError, DecodeError, EnvelopeError, Equivocation, Gap, SignatureError, WrongPrev
from crdt.hlc import HLC, system_ms
from crdt.keys import DeviceKey, device_id, verify_signature
from crdt.op import ZERO_HASH, Op, decode_op, sign_op, verify_op

from .db import connect, migrate, write_tx
from .errors import EdgeError, InputError, OpRejected, ScopeForbidden
from .optypes import REGISTRY, may_write, validate_payload

__all__ = ["BatchResult", "Identity", "Store", "Tx"]


@dataclass(frozen=True)
class Identity:
    """Who this node is: its key, community and role (``kiosk``, ``staff`` or ``district``)."""

    key: DeviceKey
    community: str
    role: str

    @property
    def dev(self) -> str:
        return self.key.device_id


@dataclass
class BatchResult:
    """What ``apply_remote`` did with a batch."""

    accepted: list[Op] = field(default_factory=list)
    duplicates: list[bytes] = field(default_factory=list)
    rejected: list[OpRejected] = field(default_factory=list)
    skewed: list[str] = field(default_factory=list)


class Tx:
    """A write transaction on the store; ``emit`` writes one local op."""

    def __init__(self, store: Store, conn: sqlite3.Connection) -> None:
        self.store = store
        self.conn = conn
        self.ident = store.ident
        self.clock = HLC.from_list(store.meta_get(conn, "hlc", [0, 0]), store.wall)
        self.ops: list[Op] = []

    @property
    def now_ms(self) -> int:
        return self.store.wall()

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


# --- a batch of remote ops ------------------------------------------------------------------------
AHEAD_MIN_BATCH = 256  # smaller batches are verified inline: a worker round trip is not worth it
_CHUNK = 64
_pool: ProcessPoolExecutor | None = None


def _verify_chunk(items: list[tuple[bytes, bytes, bytes]]) -> list[bool]:
    """In a worker process: whether each ``(pubkey, sig, body)`` signature verifies."""
    out = []
    for pub, sig, body in items:
        try:
            verify_signature(pub, sig, body)
        except SignatureError:
            out.append(False)
        else:
            out.append(True)
    return out


def _verify_pool() -> ProcessPoolExecutor | None:
    """The process-wide pool that checks signatures ahead, or ``None`` on one core.

    ``LINLI_VERIFY_WORKERS`` sets its size (0 turns it off); the default leaves one core to the
    process that applies the batch.
    """
    global _pool
    if _pool is None:
        env = os.environ.get("LINLI_VERIFY_WORKERS", "")
        workers = int(env) if env.isdigit() else (os.cpu_count() or 1) - 1
        if workers < 1:
            return None
        _pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    return _pool


def shutdown_verify_pool() -> None:
    """Stop the signature workers, if any were started (a server stopping on a signal calls this:
    a process that ends by a re-raised SIGTERM runs no atexit hooks, and would orphan them)."""
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=True, cancel_futures=True)
        _pool = None


def _outer_hash(raw: object) -> bytes | None:
    """The op hash of ``raw`` read without any other check (``None`` if it is not ``[body, sig]``)."""
    try:
        outer = msgpack.unpackb(raw, raw=False)
        return hashlib.sha256(outer[0] + outer[1]).digest()
    except Exception:
        return None


class _Batch:
    """What ``apply_remote`` knows about one batch while it applies it in order.

    The hashes already held are looked up for the whole batch at once; device keys and stream heads
    are read once and then followed in memory (keys are read again after a ``device.*`` op). For a
    large batch, the signatures are checked ahead in worker processes while the ops are applied in
    order here; an op is still taken only after its own checks, in order, and any signature the
    workers did not confirm is verified inline, so the outcome is the same as checking one by one.
    """

    def __init__(
        self, store: Store, conn: sqlite3.Connection, raws: list[bytes], scopes: set[str] | None, careful: bool
    ) -> None:
        self.store = store
        self.conn = conn
        # Careful: every op in its own savepoint, heads written as it goes. Otherwise (no callback to
        # keep in step) an apply error restarts the whole batch carefully; heads are written at the end.
        self.careful = careful
        self.dirty: set[tuple[str, str]] = set()
        self.hashes = [_outer_hash(raw) for raw in raws]
        self.known: set[bytes] = set()
        wanted = [h for h in self.hashes if h is not None]
        for i in range(0, len(wanted), 500):
            part = wanted[i : i + 500]
            marks = ",".join("?" for _ in part)
            rows = conn.execute(f"SELECT hash FROM ops WHERE hash IN ({marks})", part)
            self.known.update(bytes(r[0]) for r in rows)
        self.keys: dict[str, tuple[bytes, str, str, int | None] | None] = {}
        self.heads: dict[tuple[str, str], tuple[int, bytes]] = {}
        self.ops: list[Op | None] = [None] * len(raws)
        self.chunks: list[tuple[Future[list[bool]], list[tuple[int, bytes]]]] = []
        self.chunk_of: dict[int, tuple[int, int]] = {}
        pool = _verify_pool() if len(raws) >= AHEAD_MIN_BATCH else None
        if pool is not None:
            self._ahead(pool, raws, scopes)

    def _ahead(self, pool: ProcessPoolExecutor, raws: list[bytes], scopes: set[str] | None) -> None:
        items: list[tuple[bytes, bytes, bytes]] = []
        where: list[tuple[int, bytes]] = []
        for pos, raw in enumerate(raws):
            h = self.hashes[pos]
            if h is None or h in self.known or not isinstance(raw, bytes):
                continue
            try:
                op = decode_op(raw)
            except (DecodeError, EnvelopeError):
                continue
            self.ops[pos] = op
            key = self.pubkey(op.dev)
            if key is None or device_id(key[0]) != op.dev or (scopes is not None and op.scope not in scopes):
                continue
            items.append((key[0], op.sig, op.body))
            where.append((pos, key[0]))
            if len(items) == _CHUNK:
                self._submit(pool, items, where)
                items, where = [], []
        if items:
            self._submit(pool, items, where)

    def _submit(
        self, pool: ProcessPoolExecutor, items: list[tuple[bytes, bytes, bytes]], where: list[tuple[int, bytes]]
    ) -> None:
        try:
            fut = pool.submit(_verify_chunk, items)
        except RuntimeError:  # the pool is shut down or broken: verify inline
            return
        for i, (pos, _) in enumerate(where):
            self.chunk_of[pos] = (len(self.chunks), i)
        self.chunks.append((fut, where))

    def verified(self, pos: int, pubkey: bytes) -> bool:
        """Whether a worker confirmed the signature of the op at ``pos`` under ``pubkey``.

        A chunk no worker has started yet is taken back (and verified inline by the caller).
        """
        place = self.chunk_of.get(pos)
        if place is None:
            return False
        fut, where = self.chunks[place[0]]
        if fut.cancel():
            return False
        try:
            ok = fut.result()
        except Exception:
            return False
        return ok[place[1]] and where[place[1]][1] == pubkey

    def pubkey(self, dev: str) -> tuple[bytes, str, str, int | None] | None:
        if dev not in self.keys:
            self.keys[dev] = self.store.pubkey(self.conn, dev)
        return self.keys[dev]

    def head(self, stream: tuple[str, str]) -> tuple[int, bytes]:
        if stream not in self.heads:
            sql = "SELECT head_seq, head_hash FROM streams WHERE dev=? AND scope=?"
            row = self.conn.execute(sql, stream).fetchone()
            self.heads[stream] = (row[0], bytes(row[1])) if row else (0, ZERO_HASH)
        return self.heads[stream]

    def taken(self, op: Op) -> None:
        """Follow an accepted op: its hash is held, its stream moved on, device keys may have changed."""
        self.known.add(op.hash)
        self.heads[op.stream] = (op.seq, op.hash)
        if not self.careful:
            self.dirty.add(op.stream)
        if op.type.startswith("device."):
            self.keys.clear()

    def flush(self) -> None:
        """Write the stream heads the batch moved (when it did not write them op by op)."""
        self.conn.executemany(
            "INSERT INTO streams (dev, scope, head_seq, head_hash) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (dev, scope) DO UPDATE SET head_seq=excluded.head_seq, head_hash=excluded.head_hash",
            [(dev, scope, *self.heads[(dev, scope)]) for dev, scope in sorted(self.dirty)],
        )
        self.dirty.clear()


# ``set`` is a method of ``Store``, so annotations inside the class name the type through this alias.
ScopeSet = set[str]


class _Retry(Exception):
    """An op's apply failed on the fast path: redo the batch with one savepoint per op."""


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
        self.wall = wall
        self.conn = connect(self.path)
        migrate(self.conn)
        # Keys trusted before any device.enroll op: this node's own, the pinned district key.
        self.trusted: dict[str, bytes] = {ident.dev: ident.key.public_bytes}
        self.trusted.update(trusted_keys or {})

    def close(self) -> None:
        self.conn.close()

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
            return self._apply_batch(conn, raws, accept_scopes, on_accept, careful=True)
        conn.execute("SAVEPOINT batch")
        try:
            result = self._apply_batch(conn, raws, accept_scopes, None, careful=False)
        except _Retry:
            conn.execute("ROLLBACK TO batch")
            conn.execute("RELEASE batch")
            return self._apply_batch(conn, raws, accept_scopes, None, careful=True)
        conn.execute("RELEASE batch")
        return result

    def _apply_batch(
        self,
        conn: sqlite3.Connection,
        raws: list[bytes],
        accept_scopes: ScopeSet | None,
        on_accept: Callable[[sqlite3.Connection, Op, int], None] | None,
        careful: bool,
    ) -> BatchResult:
        result = BatchResult()
        now = self.wall()
        clock = HLC.from_list(self.meta_get(conn, "hlc", [0, 0]), self.wall)
        batch = _Batch(self, conn, raws, accept_scopes, careful)
        for pos, raw in enumerate(raws):
            try:
                placed = self._accept_one(conn, raw, now, clock, accept_scopes, result, batch, pos)
            except OpRejected as rej:
                result.rejected.append(rej)
                continue
            if placed is None:
                continue
            op, idx = placed
            if on_accept is not None:
                on_accept(conn, op, idx)
            result.accepted.append(op)
        batch.flush()
        self.meta_set(conn, "hlc", clock.to_list())
        return result

    def _accept_one(
        self,
        conn: sqlite3.Connection,
        raw: bytes,
        now: int,
        clock: HLC,
        accept_scopes: ScopeSet | None,
        result: BatchResult,
        batch: _Batch,
        pos: int,
    ) -> tuple[Op, int] | None:
        if not isinstance(raw, bytes) or len(raw) > 64 * 1024:
            raise OpRejected("too_large" if isinstance(raw, bytes) else "malformed", "op is not bytes up to 64 KiB")
        # Duplicates are recognised by op hash before anything is verified.
        op_hash = batch.hashes[pos]
        if op_hash is not None and op_hash in batch.known:
            result.duplicates.append(op_hash)
            return None
        decoded = batch.ops[pos]
        try:
            op = decoded if decoded is not None else decode_op(raw)
        except (DecodeError, EnvelopeError) as exc:
            raise OpRejected("malformed", str(exc)) from None
        where: dict[str, Any] = {"dev": op.dev, "scope": op.scope, "seq": op.seq}
        if accept_scopes is not None and op.scope not in accept_scopes:
            raise OpRejected("scope", f"this node does not hold scope {op.scope!r}", **where)
        dev = batch.pubkey(op.dev)
        if dev is None:
            raise OpRejected("unknown_device", f"device {op.dev} is not enrolled", **where)
        pubkey, community, role, revoked = dev
        if revoked is not None and op.seq >= revoked:
            raise OpRejected("revoked", f"device {op.dev} is revoked from seq {revoked}", **where)
        why = may_write(role, community, op.scope, op.type)
        if why is not None:
            raise OpRejected("forbidden", why, **where)
        try:
            if not batch.verified(pos, pubkey):
                verify_op(op, pubkey)
        except SignatureError as exc:
            raise OpRejected("signature", str(exc), **where) from None
        head_seq, head_hash = batch.head(op.stream)

        def hash_at(seq: int) -> bytes | None:
            r = conn.execute("SELECT hash FROM ops WHERE dev=? AND scope=? AND seq=?", (op.dev, op.scope, seq))
            row = r.fetchone()
            return bytes(row[0]) if row else None

        try:
            placement = check_next(op, head_seq, head_hash, hash_at)
        except Equivocation as exc:
            self._keep_evidence(conn, op, "equivocation", now)
            raise OpRejected("equivocation", str(exc), **where) from None
        except Gap as exc:
            raise OpRejected("gap", str(exc), **where) from None
        except WrongPrev as exc:
            raise OpRejected("wrong_prev", str(exc), **where) from None
        except ChainError as exc:
            raise OpRejected("chain", str(exc), **where) from None
        if placement is Placement.DUPLICATE:
            result.duplicates.append(op.hash)
            return None
        try:
            payload = validate_payload(op.type, op.data)
        except InputError as exc:
            raise OpRejected("invalid_data", str(exc), **where) from None
        why = may_write(role, community, op.scope, op.type, op.obj, payload)
        if why is not None:
            raise OpRejected("forbidden", why, **where)
        if clock.observe(op.hlc):
            result.skewed.append(op.dev)
            self.flag(conn, op.dev, "clock_skew", f"op {op.where()} is {clock.skew_seen_ms // 3_600_000} h ahead")
        if not batch.careful:
            try:
                idx = self._insert_op(conn, op, now)
                REGISTRY[op.type].apply(conn, op, payload)
            except (EdgeError, sqlite3.IntegrityError):
                raise _Retry from None
            batch.taken(op)
            return op, idx
        conn.execute("SAVEPOINT op")
        try:
            idx = self._append(conn, op, now)
            REGISTRY[op.type].apply(conn, op, payload)
        except (EdgeError, sqlite3.IntegrityError) as exc:
            conn.execute("ROLLBACK TO op")
            conn.execute("RELEASE op")
            raise OpRejected("apply", f"{type(exc).__name__}: {exc}", **where) from None
        conn.execute("RELEASE op")
        batch.taken(op)
        return op, idx

    def _keep_evidence(self, conn: sqlite3.Connection, op: Op, reason: str, now: int) -> None:
        conn.execute(
            "INSERT OR IGNORE INTO evidence (hash, dev, scope, seq, raw, reason, received_ms) VALUES (?,?,?,?,?,?,?)",
            (op.hash, op.dev, op.scope, op.seq, op.raw, reason, now),
        )
        self.flag(conn, op.dev, reason, f"two different ops at {op.where()}")

    def flag(self, conn: sqlite3.Connection, dev: str, flag: str, detail: str) -> None:
        """Record a flag on a device (clock skew, equivocation, quarantine)."""
        conn.execute(
            "INSERT INTO flags (dev, flag, detail, ms) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (dev, flag) DO UPDATE SET detail=excluded.detail, ms=excluded.ms",
            (dev, flag, detail, self.wall()),
        )

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
