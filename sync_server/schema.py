"""The server's own tables, in the district node's database, as ordered named migrations.

They sit next to the node's tables (``edge.store.schema``) in ``edge.sqlite3`` so that accepting an op and
the server's record of it (nonce, device seen, quarantine) commit in one transaction. They are
tracked in ``server_migrations``, apart from the node's ``migrations`` and ``user_version``:

- ``tokens``: one-time enrolment tokens, by SHA-256 of the token (the token itself is never stored);
- ``nonces``: request nonces seen within the timestamp window (survive a restart);
- ``seen``: when each device last made an authenticated request;
- ``quarantine``: devices whose pushes are refused, with the op that put them there.
"""

from __future__ import annotations

import sqlite3
import time

from edge.store.db import write_tx

__all__ = ["SERVER_MIGRATIONS", "migrate_server"]

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


def migrate_server(conn: sqlite3.Connection) -> int:
    """Apply the server migrations not yet recorded; return how many are applied in all."""
    with write_tx(conn):
        conn.execute(
            "CREATE TABLE IF NOT EXISTS server_migrations (name TEXT PRIMARY KEY, applied_ms INTEGER NOT NULL)"
        )
    for name, statements in SERVER_MIGRATIONS:
        with write_tx(conn):
            # Checked inside the write transaction: two processes opening the data at once agree.
            if conn.execute("SELECT 1 FROM server_migrations WHERE name=?", (name,)).fetchone():
                continue
            for sql in statements:
                conn.execute(sql)
            conn.execute(
                "INSERT INTO server_migrations (name, applied_ms) VALUES (?, ?)", (name, int(time.time() * 1000))
            )
    return len(SERVER_MIGRATIONS)
