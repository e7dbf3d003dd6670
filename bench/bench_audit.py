"""Audit throughput: the Merkle log at 1,000,000 leaves, and ``audit verify`` of an export of 100,000 ops.

Raw limit, measured in the same run: SHA-256 of a 65-byte input (one RFC 9162 node hash) through
``hashlib``. Appending a leaf costs one node hash on average (a log of n leaves has n - 1 interior
nodes), so leaves per second over raw hashes per second is the share of the limit the log reaches;
for a proof verification the column shows (proof hashes x raw hash time) / verify time (a
consistency check hashes up to twice per proof hash, so its figure understates its efficiency).

The same appends and proofs are then run on the district's SQLite node store (``sync_server.audit.log``), in
transactions of 1,000 leaves with the store's pragmas (WAL, synchronous=FULL).

``audit verify``: an export of 100,000 ops signed with ``crdt.op.sign_op`` by a district and five enrolled
kiosks (awards, stock in and out, tickets), a checkpoint every 1,000 ops and cosignatures on the last, is
verified end to end (``edge.audit.verify.verify_export``: every signature, chain and payload through
``Store.apply_remote`` into a temporary node, every checkpoint root, the summary). Raw limit: Ed25519
verifications per second on one core, measured in the same run; the store may check signatures in worker
processes (``LINLI_VERIFY_WORKERS``), so the ratio can exceed 1 on several cores.

Run: ``make bench`` or ``.venv/bin/python bench/bench_audit.py``.
"""

from __future__ import annotations

import hashlib
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import median, raw_verify_rate  # noqa: E402

from crdt.merkle import MemoryNodeStore, MerkleLog, verify_consistency, verify_inclusion  # noqa: E402

LEAVES = 1_000_000
BATCH = 1_000
QUERIES = 1_000
RAW_HASHES = 1_000_000

T = TypeVar("T")


def raw_node_hash_rate(n: int) -> float:
    """SHA-256 digests of a 65-byte input per second (the work of one RFC 9162 node hash)."""
    data = b"\x01" + bytes(range(64))
    sha = hashlib.sha256
    t0 = time.perf_counter()
    for _ in range(n):
        sha(data).digest()
    return n / (time.perf_counter() - t0)


def timed(fn: Callable[[int], T], n: int) -> tuple[list[float], list[T]]:
    """Seconds per call of ``fn(i)`` for ``i`` in ``range(n)``, and the results."""
    times: list[float] = []
    out: list[T] = []
    for i in range(n):
        t0 = time.perf_counter()
        out.append(fn(i))
        times.append(time.perf_counter() - t0)
    return times, out


def main() -> None:
    rng = random.Random(20260601)
    leaves = [hashlib.sha256(b"\x00" + i.to_bytes(8, "big")).digest() for i in range(LEAVES)]

    raw = raw_node_hash_rate(RAW_HASHES)

    store = MemoryNodeStore()
    log = MerkleLog(store)
    t0 = time.perf_counter()
    for start in range(0, LEAVES, BATCH):
        log.append_many(leaves[start : start + BATCH])
    append_s = time.perf_counter() - t0
    append_rate = LEAVES / append_s
    n = log.size
    root = log.root()

    indices = [rng.randrange(n) for _ in range(QUERIES)]
    olds = [rng.randrange(1, n) for _ in range(QUERIES)]
    incl_gen, incl = timed(lambda q: log.inclusion_proof(indices[q], n), QUERIES)
    incl_ver, _ = timed(lambda q: verify_inclusion(leaves[indices[q]], indices[q], n, incl[q], root), QUERIES)
    old_roots = [log.root(m) for m in olds]
    cons_gen, cons = timed(lambda q: log.consistency_proof(olds[q], n), QUERIES)
    cons_ver, _ = timed(lambda q: verify_consistency(olds[q], n, cons[q], old_roots[q], root), QUERIES)
    root_t, _ = timed(lambda q: log.root(olds[q]), QUERIES)

    incl_hashes = median([float(len(p)) for p in incl])
    cons_hashes = median([float(len(p)) for p in cons])
    per_raw = 1 / raw

    print(f"{LEAVES:,} leaves appended in batches of {BATCH:,} to MerkleLog(MemoryNodeStore); {QUERIES:,} random")
    print(f"queries at size {n:,} (median); raw limit = hashlib SHA-256 of 65 bytes in this run")
    print()
    print(f"{'operation':<38}{'median':>12}{'per second':>14}{'vs raw limit':>14}")
    print(f"{'raw SHA-256 (65-byte input)':<38}{per_raw * 1e6:>10.2f}µs{raw:>14,.0f}{1:>14.2f}")
    print(
        f"{'append (per leaf, batches of 1,000)':<38}{1e6 / append_rate:>10.2f}µs{append_rate:>14,.0f}"
        f"{append_rate / raw:>14.2f}"
    )
    rows = [
        ("root(size) from stored subtrees", root_t, None),
        (f"inclusion proof, generate ({incl_hashes:.0f} hashes)", incl_gen, None),
        ("inclusion proof, verify", incl_ver, incl_hashes),
        (f"consistency proof, generate ({cons_hashes:.0f} h.)", cons_gen, None),
        ("consistency proof, verify", cons_ver, cons_hashes),
    ]
    for label, times, hashes in rows:
        m = median(times)
        vs = f"{hashes * per_raw / m:>14.2f}" if hashes else f"{'':>14}"
        print(f"{label:<38}{m * 1e6:>10.2f}µs{1 / m:>14,.0f}{vs}")
    print()
    print(
        f"append reaches {100 * append_rate / raw:.0f}% of the raw node-hash rate "
        f"({append_s:.2f} s for {LEAVES:,} leaves, {len(store):,} stored subtree hashes)"
    )
    print()
    sqlite_log(leaves, raw)
    print()
    export_verify()


def sqlite_log(leaves: list[bytes], raw: float) -> None:
    """Appends and proofs on the district's SQLite node store, same leaves."""
    import sqlite3
    import tempfile

    from edge.store.db import connect, migrate
    from sync_server.audit.log import SqliteNodeStore

    with tempfile.TemporaryDirectory() as tmp:
        conn: sqlite3.Connection = connect(Path(tmp) / "audit.sqlite3")
        migrate(conn)
        log = MerkleLog(SqliteNodeStore(conn))
        t0 = time.perf_counter()
        for start in range(0, len(leaves), BATCH):
            conn.execute("BEGIN IMMEDIATE")
            log.append_many(leaves[start : start + BATCH])
            conn.execute("COMMIT")
        append_s = time.perf_counter() - t0
        n = log.size
        rng = random.Random(7)
        indices = [rng.randrange(n) for _ in range(QUERIES)]
        olds = [rng.randrange(1, n) for _ in range(QUERIES)]
        fresh = MerkleLog(SqliteNodeStore(conn))
        incl_gen, _ = timed(lambda q: fresh.inclusion_proof(indices[q], n), QUERIES)
        cons_gen, _ = timed(lambda q: fresh.consistency_proof(olds[q], n), QUERIES)
        root_t, _ = timed(lambda q: fresh.root(olds[q]), QUERIES)
        size_mb = sum(f.stat().st_size for f in Path(tmp).iterdir()) / 1e6
        conn.close()
    rate = n / append_s
    print(f"SQLite node store (audit log), {n:,} leaves in transactions of {BATCH:,}, {size_mb:.0f} MB on disk")
    print(f"{'operation':<38}{'median':>12}{'per second':>14}{'vs raw limit':>14}")
    print(f"{'append (per leaf)':<38}{1e6 / rate:>10.2f}µs{rate:>14,.0f}{rate / raw:>14.2f}")
    for label, times in [
        ("root(size) from stored subtrees", root_t),
        ("inclusion proof, generate", incl_gen),
        ("consistency proof, generate", cons_gen),
    ]:
        m = median(times)
        print(f"{label:<38}{m * 1e6:>10.2f}µs{1 / m:>14,.0f}{'':>14}")


EXPORT_OPS = 100_000
KIOSKS = 5
CHECKPOINT_EVERY = 1_000


def build_export(path: Path) -> tuple[str, float]:
    """Write an export of ``EXPORT_OPS`` valid ops; return the district key (base64) and the seconds it took."""
    import base64

    from crdt.keys import DeviceKey
    from crdt.merkle import leaf_hash
    from crdt.note import Checkpoint, cosign, sign_checkpoint
    from crdt.op import ZERO_HASH, Op, sign_op
    from edge.audit.export import write_export

    t0 = time.perf_counter()
    rng = random.Random(11)
    district = DeviceKey.from_seed(bytes(range(32)))
    kiosks = [DeviceKey.from_seed(bytes([i + 1]) * 32) for i in range(KIOSKS)]
    origin = "linli.district/bench"
    heads: dict[tuple[str, str], tuple[int, bytes]] = {}
    wall = 1_750_000_000_000
    ops: list[Op] = []

    def emit(key: DeviceKey, scope: str, type_: str, obj: str, data: dict[str, object]) -> None:
        nonlocal wall
        wall += 1_000
        seq, prev = heads.get((key.device_id, scope), (0, ZERO_HASH))
        op = sign_op(
            key, scope=scope, seq=seq + 1, prev=prev, hlc=(wall, 0), actor=None, type=type_, obj=obj, data=data
        )
        heads[(key.device_id, scope)] = (op.seq, op.hash)
        ops.append(op)

    emit(district, "district", "item.add", "WATER", {"sku": "WATER", "name_zh": "水", "name_en": "Water"})
    for i, k in enumerate(kiosks):
        data = {"pubkey": k.public_bytes, "community": f"c{i}", "role": "kiosk", "name": f"kiosk-{i}"}
        emit(district, "district", "device.enroll", k.device_id, data)
    for i, k in enumerate(kiosks):
        for h in range(20):
            emit(k, f"c{i}", "household.add", f"{h + 1}-101", {"unit": f"{h + 1}-101"})
    serial = 0
    while len(ops) < EXPORT_OPS:
        i = rng.randrange(KIOSKS)
        k, scope = kiosks[i], f"c{i}"
        roll = rng.random()
        household = f"{rng.randrange(20) + 1}-101"
        if roll < 0.4:
            emit(
                k,
                scope,
                "points.award",
                household,
                {"household": household, "n": rng.randrange(1, 20), "reason": "help"},
            )
        elif roll < 0.7:
            emit(k, scope, "stock.receive", "WATER", {"sku": "WATER", "qty": 10, "reason": "delivery"})
        elif roll < 0.85:
            emit(k, scope, "stock.issue", "WATER", {"sku": "WATER", "qty": 1, "household": household})
        else:
            serial += 1
            code = f"C{i}K-{serial:04d}"
            data = {"code": code, "unit": household, "category": "water", "urgency": "P3", "text": "leak"}
            emit(k, scope, "ticket.create", f"T{serial:025d}", data)
    tree = MerkleLog(MemoryNodeStore())
    notes: list[tuple[str, int]] = []
    for start in range(0, len(ops), CHECKPOINT_EVERY):
        tree.append_many([leaf_hash(op.hash) for op in ops[start : start + CHECKPOINT_EVERY]])
        note = sign_checkpoint(Checkpoint(origin, tree.size, tree.root()), district, origin)
        notes.append((note, wall))
    last = Checkpoint(origin, tree.size, tree.root())
    lines = "".join(cosign(last, k, f"linli.kiosk/{k.device_id}", wall // 1000).line() for k in kiosks[:2])
    notes[-1] = (notes[-1][0] + lines, wall)
    write_export(
        path,
        origin=origin,
        signer=district,
        ops=((op.raw, wall + 60_000) for op in ops),
        checkpoints=notes,
        created_ms=wall + 120_000,
    )
    return base64.b64encode(district.public_bytes).decode("ascii"), time.perf_counter() - t0


def export_verify() -> None:
    """Time ``verify_export`` of a 100,000-op export against the raw Ed25519 verify rate."""
    import os
    import tempfile

    from edge.audit.verify import verify_export

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.export"
        key, built = build_export(path)
        size_mb = path.stat().st_size / 1e6
        raw_ed = raw_verify_rate(20_000)
        t0 = time.perf_counter()
        report = verify_export(path, key)
        took = time.perf_counter() - t0
    if not report.ok:
        raise SystemExit(f"the bench export failed verification: {report.failures[0].line()}")
    rate = report.ops / took
    workers = os.environ.get("LINLI_VERIFY_WORKERS", f"default ({os.cpu_count()} cores)")
    print(
        f"audit verify of an export of {report.ops:,} ops ({len(report.checkpoints)} checkpoints, {size_mb:.1f} MB; "
        f"built in {built:.1f} s), verify workers: {workers}"
    )
    print(f"{'':<38}{'seconds':>12}{'ops/s':>14}{'vs raw limit':>14}")
    print(f"{'raw Ed25519 verify (one core)':<38}{report.ops / raw_ed:>12.2f}{raw_ed:>14,.0f}{1:>14.2f}")
    print(f"{'audit verify (end to end)':<38}{took:>12.2f}{rate:>14,.0f}{rate / raw_ed:>14.2f}")


if __name__ == "__main__":
    main()
