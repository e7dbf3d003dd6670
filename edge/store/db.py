"""Opening a Linli SQLite database: checked pragmas, write transactions, and the one migration runner.

Every connection sets ``journal_mode=WAL``, ``synchronous=FULL``, ``foreign_keys=ON`` and a busy
timeout, and checks that they took: ``synchronous`` is per connection, and a connection without it
would acknowledge ops that a power cut can take back.

Schema changes are named, ordered migrations grouped in families (``Family``): the node's tables
(``edge_family()``, from ``edge.store.schema``) and the district server's (``sync_server.schema``), which
share one file on a district. ``apply_migrations`` runs a family's pending migrations in order, each
in its own ``BEGIN IMMEDIATE`` transaction together with its record, and refuses a database that has
migrations this program does not know (written by a newer version). Each family records the names
it applied in a table of its own, so two families in one file never see each other's records; the
edge family also keeps its count in ``PRAGMA user_version``, which belongs to it alone.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from edge.errors import StoreError
from edge.store.schema import MIGRATIONS

__all__ = [
    "BUSY_TIMEOUT_MS",
    "EDGE_MIGRATIONS_TABLE",
    "Family",
    "Migration",
    "apply_migrations",
    "applied_migrations",
    "connect",
    "edge_family",
    "migrate",
    "schema_version",
    "write_tx",
]

BUSY_TIMEOUT_MS = 10_000


def connect(path: str | Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Open ``path`` with the pragmas above, checked.

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


# A migration: its name (recorded in the database, never renamed once released) and its statements.
Migration = tuple[str, Sequence[str]]

EDGE_MIGRATIONS_TABLE = "migrations"


@dataclass(frozen=True)
class Family:
    """A list of named, ordered migrations, recorded in the database in a table of their own.

    Attributes:
        name: what messages call the family (``"edge"``, ``"server"``).
        table: the table that records the applied names; one per family, so families sharing a file
            never read each other's records.
        migrations: in the order they apply; a released one is never renamed, reordered or removed.
        user_version: the family's count is also kept in ``PRAGMA user_version`` (one family per file).
    """

    name: str
    table: str
    migrations: Sequence[Migration]
    user_version: bool = False

    def __post_init__(self) -> None:
        names = [name for name, _ in self.migrations]
        if len(set(names)) != len(names):
            raise StoreError(f"the {self.name} migrations name one migration twice: {names}")
        if not self.table.isidentifier():
            raise StoreError(f"the {self.name} migrations table {self.table!r} is not a plain name")


def edge_family() -> Family:
    """The node's tables (``edge.store.schema.MIGRATIONS``), counted in ``user_version`` as well."""
    return Family("edge", EDGE_MIGRATIONS_TABLE, MIGRATIONS, user_version=True)


def schema_version(conn: sqlite3.Connection) -> int:
    """``PRAGMA user_version``: how many of the edge migrations the database has."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def applied_migrations(conn: sqlite3.Connection, family: Family) -> list[str]:
    """The names of ``family``'s migrations the database has, in the order they were applied.

    Raises:
        StoreError: the database has migrations of this family that this program does not know, or
            (for the ``user_version`` family) a version past the last one it knows.
    """
    known = [name for name, _ in family.migrations]
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (family.table,)).fetchone()
    applied = [str(r[0]) for r in conn.execute(f"SELECT name FROM {family.table} ORDER BY rowid")] if exists else []
    if family.user_version and schema_version(conn) > len(known):
        raise StoreError(
            f"database schema version {schema_version(conn)} is newer than this program ({len(known)}):"
            " it was written by a newer version of Linli"
        )
    unknown = [name for name in applied if name not in known]
    if unknown:
        raise StoreError(
            f"the database has {family.name} migrations this program does not know ({', '.join(unknown)}):"
            " it was written by a newer version of Linli"
        )
    return applied


def apply_migrations(conn: sqlite3.Connection, family: Family, target: int | None = None) -> int:
    """Apply ``family``'s migrations the database lacks (the first ``target`` of them); return how many it has.

    Each migration runs in its own ``BEGIN IMMEDIATE`` transaction with its record (and the
    ``user_version`` bump), so a failed one leaves the database as it was before it. What is applied
    is read inside that transaction, so two processes opening one database at once agree.

    Raises:
        StoreError: the database is newer than this program, or a migration failed (named in the message).
    """
    last = len(family.migrations) if target is None else min(target, len(family.migrations))
    with write_tx(conn):
        applied_migrations(conn, family)  # refuse a newer database before writing anything
        conn.execute(f"CREATE TABLE IF NOT EXISTS {family.table} (name TEXT PRIMARY KEY, applied_ms INTEGER NOT NULL)")
    for number, (name, statements) in enumerate(family.migrations[:last], start=1):
        try:
            with write_tx(conn):
                if name in applied_migrations(conn, family):
                    continue
                for sql in statements:
                    conn.execute(sql)
                conn.execute(
                    f"INSERT INTO {family.table} (name, applied_ms) VALUES (?, ?)", (name, int(time.time() * 1000))
                )
                if family.user_version:
                    conn.execute(f"PRAGMA user_version={number}")
        except sqlite3.Error as exc:
            raise StoreError(f"{family.name} migration {number} ({name}) failed and was rolled back: {exc}") from None
    return len(applied_migrations(conn, family))


def migrate(conn: sqlite3.Connection, target: int | None = None) -> int:
    """Apply the edge migrations (up to the first ``target``); return the schema version."""
    apply_migrations(conn, edge_family(), target)
    return schema_version(conn)
