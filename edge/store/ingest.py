"""Remote ingest: validate a batch of op bytes and apply it in the caller's write transaction.

Each op is checked before a byte of it is trusted: canonical envelope, enrolled and not revoked
device, scope and type allowed, signature, hash chain, payload; an op already held is recognised by
its hash before any signature is checked. A large batch has its signatures checked ahead in worker
processes (``spawn``, sized by ``LINLI_VERIFY_WORKERS``, default one per core but one) while the ops
are applied in order, and runs without a savepoint per op unless an apply fails (then the batch is
redone op by op); either way the outcome is the one of checking and applying each op in turn. A
script that applies large batches must guard its entry point with ``if __name__ == "__main__"``, as
``spawn`` requires.
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from crdt.chain import Placement, check_next
from crdt.errors import ChainError, DecodeError, EnvelopeError, Equivocation, Gap, SignatureError, WrongPrev
from crdt.hlc import COUNTER_MAX, HLC, SKEW_LIMIT_MS
from crdt.keys import device_id, verify_signature
from crdt.op import ZERO_HASH, Op, decode_op, op_hash, verify_op
from edge.errors import EdgeError, InputError, OpRejected
from edge.store.optypes import REGISTRY, may_write, validate_payload
from edge.store.views import fence_of

if TYPE_CHECKING:
    from edge.store.log import Store

__all__ = ["AHEAD_MIN_BATCH", "BatchResult", "Retry", "apply_batch", "shutdown_verify_pool"]


@dataclass
class BatchResult:
    """What ``apply_remote`` did with a batch."""

    accepted: list[Op] = field(default_factory=list)
    duplicates: list[bytes] = field(default_factory=list)
    rejected: list[OpRejected] = field(default_factory=list)
    skewed: list[str] = field(default_factory=list)


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
    if not isinstance(raw, bytes):
        return None
    try:
        return op_hash(raw)
    except DecodeError:
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


class Retry(Exception):
    """An op's apply failed on the fast path: redo the batch with one savepoint per op."""


def apply_batch(
    store: Store,
    conn: sqlite3.Connection,
    raws: list[bytes],
    accept_scopes: set[str] | None,
    on_accept: Callable[[sqlite3.Connection, Op, int], None] | None,
    careful: bool,
) -> BatchResult:
    result = BatchResult()
    wall = store.wall_fn(conn)  # the device clock corrected by the offset learnt from the district
    now = wall()
    # The persisted clock, advanced by every op received: a later local op orders after all of them.
    clock = HLC.from_list(store.meta_get(conn, "hlc", [0, 0]), wall)
    batch = _Batch(store, conn, raws, accept_scopes, careful)
    for pos, raw in enumerate(raws):
        try:
            placed = _accept_one(store, conn, raw, now, clock, accept_scopes, result, batch, pos)
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
    store.meta_set(conn, "hlc", clock.to_list())
    return result


def _accept_one(
    store: Store,
    conn: sqlite3.Connection,
    raw: bytes,
    now: int,
    clock: HLC,
    accept_scopes: set[str] | None,
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
        _keep_evidence(store, conn, op, "equivocation", now)
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
    _observe(store, conn, clock, op, now, result)
    if not batch.careful:
        try:
            idx = store._insert_op(conn, op, now)
            REGISTRY[op.type].apply(conn, op, payload)
        except (EdgeError, sqlite3.IntegrityError):
            raise Retry from None
    else:
        conn.execute("SAVEPOINT op")
        try:
            idx = store._append(conn, op, now)
            REGISTRY[op.type].apply(conn, op, payload)
        except (EdgeError, sqlite3.IntegrityError) as exc:
            conn.execute("ROLLBACK TO op")
            conn.execute("RELEASE op")
            raise OpRejected("apply", f"{type(exc).__name__}: {exc}", **where) from None
        conn.execute("RELEASE op")
    batch.taken(op)
    if op.type == "device.fence" and op.obj == store.ident.dev:
        _rewind(store, conn, clock, now)
    return op, idx


def _observe(store: Store, conn: sqlite3.Connection, clock: HLC, op: Op, now: int, result: BatchResult) -> None:
    """Advance the clock past ``op`` as it is compared (at its clock fence, if fenced); flag skew.

    Skew is judged against this node's corrected wall clock (the district's time, once synced), so
    the flag lands on the device whose clock is wrong: the sender of an op stamped more than
    ``SKEW_LIMIT_MS`` ahead of it, even when a fence already caps that op.
    """
    fence = fence_of(conn, op)
    skewed = clock.observe(op.hlc if fence is None else (fence, COUNTER_MAX))
    ahead = op.hlc[0] - now
    if skewed or ahead > SKEW_LIMIT_MS:
        result.skewed.append(op.dev)
        store.flag(
            conn, op.dev, "clock_skew", f"op {op.where()} is {ahead // 60_000} min ahead of the district's clock"
        )


def _rewind(store: Store, conn: sqlite3.Connection, clock: HLC, now: int) -> None:
    """The district fenced this node's clock: resume the HLC from the highest stamp held as compared.

    Ops stamped within ``SKEW_LIMIT_MS`` of the corrected wall count as stamped; beyond it, a fenced op
    counts just after its fence, this node's own unfenced op as stamped (a later write of its own must
    still beat it), and another device's unfenced op not at all (it never moved this clock either).
    """
    me = store.ident.dev
    row = conn.execute(
        "SELECT wall, counter FROM ops WHERE wall <= ? ORDER BY wall DESC, counter DESC LIMIT 1", (now + SKEW_LIMIT_MS,)
    ).fetchone()
    top = (int(row[0]), int(row[1])) if row else (0, 0)
    for raw in conn.execute("SELECT raw FROM ops WHERE wall > ?", (now + SKEW_LIMIT_MS,)).fetchall():
        op = decode_op(bytes(raw[0]))
        fence = fence_of(conn, op)
        if fence is not None:
            top = max(top, (fence + 1, 0))
        elif op.dev == me:
            top = max(top, op.hlc)
    clock.rewind(top)


def _keep_evidence(store: Store, conn: sqlite3.Connection, op: Op, reason: str, now: int) -> None:
    conn.execute(
        "INSERT OR IGNORE INTO evidence (hash, dev, scope, seq, raw, reason, received_ms) VALUES (?,?,?,?,?,?,?)",
        (op.hash, op.dev, op.scope, op.seq, op.raw, reason, now),
    )
    store.flag(conn, op.dev, reason, f"two different ops at {op.where()}")
