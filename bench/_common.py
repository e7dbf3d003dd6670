"""Helpers shared by the benchmarks: timing and the raw limits every figure is compared with."""

from __future__ import annotations

import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def rate(fn: Callable[[], object], n: int) -> float:
    """Calls of ``fn`` per second over ``n`` calls."""
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - t0)


def raw_verify_rate(n: int = 3000, size: int = 300) -> float:
    """Raw Ed25519 verifications per second of a ``size``-byte message on one core."""
    key = Ed25519PrivateKey.generate()
    msg = os.urandom(size)
    sig = key.sign(msg)
    pub = key.public_key()
    return rate(lambda: pub.verify(sig, msg), n)


def raw_sign_rate(n: int = 3000, size: int = 300) -> float:
    """Raw Ed25519 signatures per second."""
    key = Ed25519PrivateKey.generate()
    msg = os.urandom(size)
    return rate(lambda: key.sign(msg), n)


def connect_with_design_pragmas(path: str) -> sqlite3.Connection:
    """A connection with the pragmas of DESIGN 8 (WAL, synchronous=FULL, foreign keys, busy timeout)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def raw_insert_latencies(n: int = 500, row_bytes: int = 400) -> list[float]:
    """Seconds per single-row ``BEGIN IMMEDIATE`` insert transaction, same pragmas as the store."""
    with tempfile.TemporaryDirectory() as d:
        conn = connect_with_design_pragmas(os.path.join(d, "raw.sqlite3"))
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
        blob = os.urandom(row_bytes)
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO t (body) VALUES (?)", (blob,))
            conn.execute("COMMIT")
            out.append(time.perf_counter() - t0)
        conn.close()
    return out


def pct(values: list[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank)."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, round(p / 100 * len(s) + 0.5) - 1))
    return s[k]


def median(values: list[float]) -> float:
    return statistics.median(values)
