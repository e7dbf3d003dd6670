"""Opening the node's SQLite database: the pragmas of DESIGN 8 and ordered, named migrations.

Every connection sets ``journal_mode=WAL``, ``synchronous=FULL``, ``foreign_keys=ON`` and a busy
timeout, and checks that they took: ``synchronous`` is per connection, and a connection without it
would acknowledge ops that a power cut can take back. The schema version is ``PRAGMA
user_version``; migrations run forward in order, each in its own transaction, and are recorded by
name in ``migrations``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from edge.errors import StoreError
from edge.store.schema import MIGRATIONS

__all__ = ["BUSY_TIMEOUT_MS", "connect", "migrate", "schema_version", "write_tx"]

BUSY_TIMEOUT_MS = 10_000


def connect(path: str | Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Open ``path`` with the DESIGN 8 pragmas, checked.

    Raises:
        StoreError: a pragma did not take.
    """
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
    else:
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    if not readonly:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"journal_mode is {mode!r}, not 'wal', for {path}")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA cache_size=-32768")  # 32 MiB: op hashes index at random, keep their pages cached
    sync = conn.execute("PRAGMA synchronous").fetchone()[0]
    fks = conn.execute("PRAGMA foreign_keys").fetchone()[0]
    if sync != 2 or fks != 1:
        raise StoreError(f"pragmas not applied on {path}: synchronous={sync} (want 2=FULL), foreign_keys={fks}")
    return conn


def schema_version(conn: sqlite3.Connection) -> int:
    """``PRAGMA user_version``."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


@contextmanager
def write_tx(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def migrate(conn: sqlite3.Connection, target: int | None = None) -> int:
    """Apply every migration past the database's ``user_version`` (up to ``target``); return the new version.

    Each migration runs in its own ``BEGIN IMMEDIATE`` transaction with the version bump and its
    ``migrations`` row, so a failed one leaves the database at the version before it.

    Raises:
        StoreError: the database is newer than this code, or a migration failed (named in the message).
    """
    db = sqlite_utils.Database(conn)
    current = schema_version(conn)
    if current > len(MIGRATIONS):
        raise StoreError(f"database schema version {current} is newer than this program ({len(MIGRATIONS)})")
    last = len(MIGRATIONS) if target is None else min(target, len(MIGRATIONS))
    for number, (name, statements) in enumerate(MIGRATIONS[:last], start=1):
        if number <= current:
            continue
        try:
            with write_tx(conn):
                for sql in statements:
                    conn.execute(sql)
                if not db["migrations"].exists():
                    conn.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_ms INTEGER NOT NULL)")
                conn.execute("INSERT INTO migrations (name, applied_ms) VALUES (?, ?)", (name, int(time.time() * 1000)))
                conn.execute(f"PRAGMA user_version={number}")
        except sqlite3.Error as exc:
            raise StoreError(f"migration {number} ({name}) failed and was rolled back: {exc}") from None
    return schema_version(conn)
