"""Transactions of the server: one write transaction per group of requests, a savepoint per request.

The server's one writer thread takes the requests waiting for it and handles them in a single
``BEGIN IMMEDIATE`` transaction (group commit): each request runs inside its own savepoint, so it is
still all-or-nothing on its own, and one ``COMMIT`` (one fsync under ``synchronous=FULL``) makes
the whole group durable before any of its answers is sent. ``atomic`` is that savepoint, or a
transaction of its own when no group is open (the command line, tests).
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from edge.store.db import write_tx

__all__ = ["atomic"]

_names = itertools.count()


@contextmanager
def atomic(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A savepoint inside the open transaction, else a ``BEGIN IMMEDIATE`` transaction."""
    if not conn.in_transaction:
        with write_tx(conn):
            yield conn
        return
    name = f"sp{next(_names)}"
    conn.execute(f"SAVEPOINT {name}")
    try:
        yield conn
    except BaseException:
        conn.execute(f"ROLLBACK TO {name}")
        conn.execute(f"RELEASE {name}")
        raise
    conn.execute(f"RELEASE {name}")
