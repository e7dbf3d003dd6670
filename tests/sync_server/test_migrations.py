"""The server's migrations: older server databases open, newer ones are refused, edge and server share a file."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from edge import StoreError
from edge.node import DB_FILE, Node
from edge.store.db import EDGE_MIGRATIONS_TABLE, applied_migrations, edge_family, schema_version
from edge.store.schema import MIGRATIONS
from edge.sync import enroll
from sync_server import schema as server_schema
from sync_server.cli import main as server_main
from sync_server.core import InProcessTransport, SyncServer
from sync_server.enroll import issue_token
from sync_server.schema import SERVER_MIGRATIONS, SERVER_MIGRATIONS_TABLE, migrate_server, server_family

from .helpers import START_MS, Clock


def previous_migrate_server(conn: sqlite3.Connection) -> None:
    """The server's migration code as released before it moved onto the edge runner, kept verbatim in
    substance: a ``server_migrations`` table made on its own, then each migration checked by name."""
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("CREATE TABLE IF NOT EXISTS server_migrations (name TEXT PRIMARY KEY, applied_ms INTEGER NOT NULL)")
    conn.execute("COMMIT")
    for name, statements in SERVER_MIGRATIONS[:1]:
        conn.execute("BEGIN IMMEDIATE")
        if not conn.execute("SELECT 1 FROM server_migrations WHERE name=?", (name,)).fetchone():
            for sql in statements:
                conn.execute(sql)
            conn.execute("INSERT INTO server_migrations (name, applied_ms) VALUES (?, ?)", (name, 1))
        conn.execute("COMMIT")


def bare_district(path: Path) -> None:
    """A district node whose database holds the node's tables only, as ``Node.init`` leaves it."""
    node = Node.init(path, "district", role="district")
    node.store.set("district_name", "West")
    node.close()


def server_tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")} & {
        "tokens",
        "nonces",
        "seen",
        "quarantine",
    }


def test_a_server_database_made_by_the_previous_version_opens_and_keeps_its_tokens(tmp_path: Path) -> None:
    data = tmp_path / "district"
    bare_district(data)
    conn = sqlite3.connect(data / DB_FILE, isolation_level=None)
    previous_migrate_server(conn)
    token = issue_token(conn, "a", "kiosk", 3_600_000, START_MS)
    before = conn.execute("SELECT name, applied_ms FROM server_migrations ORDER BY rowid").fetchall()
    conn.close()

    clock = Clock()
    server = SyncServer(data, wall=clock)
    kiosk = Node.init(tmp_path / "kiosk", "a", wall=clock)
    try:
        conn = server.node.conn
        assert conn.execute("SELECT name, applied_ms FROM server_migrations ORDER BY rowid").fetchall() == before
        assert schema_version(conn) == len(MIGRATIONS)  # the node's version is untouched by the server's tables
        # The token the old database issued still enrols a device, once.
        enroll(kiosk, InProcessTransport(server), "http://district.test", token)
        assert conn.execute("SELECT used_by FROM tokens").fetchone() == (kiosk.dev,)
    finally:
        kiosk.close()
        server.close()


def test_a_district_database_from_before_the_server_tables_gains_them_on_open(tmp_path: Path) -> None:
    data = tmp_path / "district"
    bare_district(data)
    conn = sqlite3.connect(data / DB_FILE)
    assert server_tables(conn) == set()
    conn.close()

    server = SyncServer(data, wall=Clock())
    try:
        assert server_tables(server.node.conn) == {"tokens", "nonces", "seen", "quarantine"}
        assert applied_migrations(server.node.conn, server_family()) == [name for name, _ in SERVER_MIGRATIONS]
    finally:
        server.close()


def test_a_server_database_of_the_previous_version_takes_a_new_server_migration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "district"
    bare_district(data)
    conn = sqlite3.connect(data / DB_FILE, isolation_level=None)
    previous_migrate_server(conn)
    conn.execute("INSERT INTO seen (dev, last_seen_ms, requests) VALUES ('d1', 5, 2)")
    conn.close()
    later = ("s0002_seen_agent", ["ALTER TABLE seen ADD COLUMN agent TEXT NOT NULL DEFAULT ''"])
    monkeypatch.setattr(server_schema, "SERVER_MIGRATIONS", [*SERVER_MIGRATIONS, later])

    node = Node.open(data)
    try:
        assert migrate_server(node.conn) == len(SERVER_MIGRATIONS) + 1
        assert node.conn.execute("SELECT dev, requests, agent FROM seen").fetchall() == [("d1", 2, "")]
        names = [r[0] for r in node.conn.execute("SELECT name FROM server_migrations ORDER BY rowid")]
        assert names == [*(name for name, _ in SERVER_MIGRATIONS), "s0002_seen_agent"]
        assert migrate_server(node.conn) == len(SERVER_MIGRATIONS) + 1  # a second run changes nothing
    finally:
        node.close()


def test_a_server_database_newer_than_the_program_is_refused_with_the_unknown_migration_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "district"
    assert server_main(["init", "--data", str(data), "--district", "West"]) == 0
    capsys.readouterr()
    conn = sqlite3.connect(data / DB_FILE, isolation_level=None)
    conn.execute("INSERT INTO server_migrations (name, applied_ms) VALUES ('s0099_future', ?)", (int(time.time()),))
    tables_before = conn.execute("SELECT name FROM sqlite_master ORDER BY name").fetchall()
    conn.close()

    with pytest.raises(StoreError, match=r"server migrations this program does not know \(s0099_future\).*newer"):
        SyncServer(data, wall=Clock())
    assert server_main(["devices", "--data", str(data)]) == 1
    err = capsys.readouterr().err
    assert "s0099_future" in err and "newer version" in err
    conn = sqlite3.connect(data / DB_FILE)
    assert conn.execute("SELECT name FROM sqlite_master ORDER BY name").fetchall() == tables_before
    conn.close()


@pytest.mark.parametrize("server_first", [False, True])
def test_edge_and_server_migrations_share_one_file_without_colliding(tmp_path: Path, server_first: bool) -> None:
    from edge.store.db import apply_migrations, connect

    conn = connect(tmp_path / "one.sqlite3")
    families = [edge_family(), server_family()]
    for family in reversed(families) if server_first else families:
        apply_migrations(conn, family)
    assert schema_version(conn) == len(MIGRATIONS)  # user_version belongs to the edge family alone
    edge_names = [r[0] for r in conn.execute(f"SELECT name FROM {EDGE_MIGRATIONS_TABLE} ORDER BY rowid")]
    server_names = [r[0] for r in conn.execute(f"SELECT name FROM {SERVER_MIGRATIONS_TABLE} ORDER BY rowid")]
    assert edge_names == [name for name, _ in MIGRATIONS]
    assert server_names == [name for name, _ in SERVER_MIGRATIONS]
    assert EDGE_MIGRATIONS_TABLE != SERVER_MIGRATIONS_TABLE and not set(edge_names) & set(server_names)
    for family in families:  # both again, either way round: nothing left to do, nothing refused
        assert apply_migrations(conn, family) == len(family.migrations)
    conn.close()
