"""Helpers shared by the benchmarks: timing and the raw limits every figure is compared with."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

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
    """A connection with the node's pragmas (WAL, synchronous=FULL, foreign keys, busy timeout)."""
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


ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``linli-server serve`` in a subprocess on 127.0.0.1, the per-device rate limit out of the way."""

    def __init__(self, data: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "sync_server.cli", "serve", "--data", str(data), "--port", str(self.port)]
        cmd += ["--rate", "1000000", "--burst", "1000000"]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
