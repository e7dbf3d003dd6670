"""The server's own tables, in the district node's database: the server family of migrations.

They sit next to the node's tables (``edge.store.schema``) in ``edge.sqlite3`` so that accepting an op and
the server's record of it (nonce, device seen, quarantine) commit in one transaction. They run through
the node's migration runner (``edge.store.db.apply_migrations``) as a family of their own, recorded in
``server_migrations``, apart from the node's ``migrations`` and ``user_version``; their names start
with ``s`` so that no name means two things in one file:

- ``tokens``: one-time enrolment tokens, by SHA-256 of the token (the token itself is never stored);
- ``nonces``: request nonces seen within the timestamp window (survive a restart);
- ``seen``: when each device last made an authenticated request;
- ``quarantine``: devices whose pushes are refused, with the op that put them there.
"""

from __future__ import annotations

import sqlite3

from edge.store.db import Family, apply_migrations

__all__ = ["SERVER_MIGRATIONS", "SERVER_MIGRATIONS_TABLE", "migrate_server", "server_family"]

SERVER_MIGRATIONS_TABLE = "server_migrations"

# Released migrations are never renamed, reordered or removed: databases record them by name.
SERVER_MIGRATIONS: list[tuple[str, list[str]]] = [
    (
        "s0001_server",
        [
            """CREATE TABLE tokens (
                hash BLOB PRIMARY KEY, community TEXT NOT NULL, role TEXT NOT NULL,
                created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL,
                used_ms INTEGER, used_by TEXT)""",
            """CREATE TABLE nonces (
                dev TEXT NOT NULL, nonce TEXT NOT NULL, ts_ms INTEGER NOT NULL,
                PRIMARY KEY (dev, nonce))""",
            "CREATE INDEX nonces_ts ON nonces (ts_ms)",
            """CREATE TABLE seen (
                dev TEXT PRIMARY KEY, last_seen_ms INTEGER NOT NULL, requests INTEGER NOT NULL DEFAULT 0)""",
            """CREATE TABLE quarantine (
                dev TEXT PRIMARY KEY, reason TEXT NOT NULL, op_hash BLOB, detail TEXT NOT NULL,
                ms INTEGER NOT NULL)""",
        ],
    ),
]


def server_family() -> Family:
    """The server's migrations (``SERVER_MIGRATIONS``), recorded in ``server_migrations``."""
    return Family("server", SERVER_MIGRATIONS_TABLE, SERVER_MIGRATIONS)


def migrate_server(conn: sqlite3.Connection) -> int:
    """Apply the server migrations the database lacks; return how many it has.

    Raises:
        StoreError: the database has server migrations this program does not know, or one failed.
    """
    return apply_migrations(conn, server_family())
