"""Merkle log throughput: appends, proof generation and verification at 1,000,000 leaves.

Raw limit, measured in the same run: SHA-256 of a 65-byte input (one RFC 9162 node hash) through
``hashlib``. Appending a leaf costs one node hash on average (a log of n leaves has n - 1 interior
nodes), so leaves per second over raw hashes per second is the share of the limit the log reaches;
for a proof verification the column shows (proof hashes x raw hash time) / verify time (a
consistency check hashes up to twice per proof hash, so its figure understates its efficiency).

Not measured here yet: ``linli-edge audit verify`` of an export (it needs the store and the CLI).

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

from _common import median  # noqa: E402

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
    print("not measured yet: audit verify of an export (needs the store and the CLI)")


if __name__ == "__main__":
    main()
