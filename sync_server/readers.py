"""Read-only connections to the district database, for the public reads answered off the writer thread.

The writer thread owns the one read-write connection (``app.Writer``); public ``GET`` requests
(``/healthz``, ``/metrics``, ``/v1/district/availability``, ``/open311/...``, ``/v1/audit/*`` reads) run
on a reader thread instead, each on a connection of its own from this pool, inside one read
transaction: WAL lets it read the last committed state while the writer writes, so a read never waits
for a push, and it sees one snapshot from its first query to its last.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edge.store.db import connect

__all__ = ["MAX_READERS", "Readers"]

MAX_READERS = 4


class Readers:
    """Up to ``size`` read-only connections to ``path``, opened when first needed and then reused."""

    def __init__(self, path: str | Path, size: int = MAX_READERS) -> None:
        self.path = Path(path)
        self._free: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._slots = threading.BoundedSemaphore(size)
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection inside a read transaction, for one request (waits while all are busy)."""
        with self._slots:
            try:
                conn = self._free.get_nowait()
            except queue.Empty:
                conn = connect(self.path, readonly=True)
                with self._lock:
                    self._all.append(conn)
            try:
                conn.execute("BEGIN")
                try:
                    yield conn
                finally:
                    conn.execute("ROLLBACK")  # nothing to keep: the connection is read-only
            finally:
                self._free.put(conn)

    def close(self) -> None:
        """Close every connection opened."""
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
