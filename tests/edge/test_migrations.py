"""Schema migrations (``PRAGMA user_version``), run against databases an older version of Linli created."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge import Node, StoreError
from edge.node import DB_FILE, KEY_FILE
from edge.store import db as db_module
from edge.store.db import Family, connect, migrate, schema_version
from edge.store.schema import MIGRATIONS


def tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def old_database(current: Node, target: Path, version: int) -> None:
    """What the program at schema ``version`` would have on disk for the same ops as ``current``.

    The op log, the stream heads, the node's meta and every view that existed at ``version`` are
    copied (the columns the table had at ``version``); the migrations after it fill the newer
    columns from the op log, so the migrated views must equal the current ones.
    """
    target.mkdir()
    shutil.copy(current.data_dir / KEY_FILE, target / KEY_FILE)
    conn = connect(target / DB_FILE)
    assert migrate(conn, target=version) == version
    conn.execute("ATTACH DATABASE ? AS src", (str(current.data_dir / DB_FILE),))
    conn.execute("BEGIN IMMEDIATE")
    for table in sorted(tables(conn) - {"migrations"}):
        cols = ", ".join(r[1] for r in conn.execute(f"PRAGMA main.table_info({table})"))
        conn.execute(f"INSERT OR REPLACE INTO main.{table} ({cols}) SELECT {cols} FROM src.{table}")
    conn.execute("COMMIT")
    conn.execute("DETACH DATABASE src")
    conn.close()


@pytest.fixture
def current(tmp_path: Path) -> Iterator[Node]:
    node = Node.init(tmp_path / "now", "a")
    node.add_household("1-101", vulnerable=["disabled"])
    node.add_tech("Li", ["water"], "core")
    node.add_item("P1", "水管", "Pipe")
    node.receive("P1", 4)
    code = node.report("1-101", "water", "leak", household="1-101")["code"]
    node.assign(code, "Li")
    node.report("1-101", "door", "lock")
    node.award("1-101", 9, "help")
    yield node
    node.close()


@pytest.mark.parametrize("version", range(1, len(MIGRATIONS)))
def test_a_database_of_an_older_version_is_migrated_and_keeps_its_data(
    current: Node, tmp_path: Path, version: int
) -> None:
    old = tmp_path / f"v{version}"
    old_database(current, old, version)
    conn = sqlite3.connect(old / DB_FILE)
    assert schema_version(conn) == version
    if version == 1:
        assert "transfers" not in tables(conn)  # the sharing tables came with migration 2
    conn.close()

    node = Node.open(old)
    assert schema_version(node.conn) == len(MIGRATIONS)
    names = [r[0] for r in node.conn.execute("SELECT name FROM migrations ORDER BY rowid")]
    assert names == [name for name, _ in MIGRATIONS]
    assert node.digest() == current.digest()
    assert node.rebuild()["same"]
    # The migrated node keeps working: codes continue and the newer tables take writes.
    assert node.report("1-101", "lift", "stuck")["code"].endswith("-0003")
    node.add_household("1-102")
    node.close()


def test_a_database_of_the_current_version_is_left_as_it_is(current: Node) -> None:
    assert migrate(current.conn) == len(MIGRATIONS)
    assert current.conn.execute("SELECT COUNT(*) FROM migrations").fetchone()[0] == len(MIGRATIONS)


def test_a_database_newer_than_the_program_is_refused(current: Node) -> None:
    current.conn.execute(f"PRAGMA user_version={len(MIGRATIONS) + 1}")
    path = current.data_dir
    current.close()
    with pytest.raises(StoreError, match=f"version {len(MIGRATIONS) + 1} is newer"):
        Node.open(path)


def test_a_failing_migration_is_rolled_back_and_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = connect(tmp_path / "x.sqlite3")
    migrate(conn)
    bad = ("9999_broken", ["CREATE TABLE half_done (a INTEGER)", "THIS IS NOT SQL"])
    monkeypatch.setattr(db_module, "MIGRATIONS", [*MIGRATIONS, bad])
    with pytest.raises(StoreError, match=r"migration \d+ \(9999_broken\) failed"):
        migrate(conn)
    assert schema_version(conn) == len(MIGRATIONS)
    assert "half_done" not in tables(conn)
    conn.close()


def test_a_database_with_an_edge_migration_the_program_does_not_know_is_refused(current: Node) -> None:
    current.conn.execute("INSERT INTO migrations (name, applied_ms) VALUES ('0099_future', 0)")
    path = current.data_dir
    current.close()
    with pytest.raises(StoreError, match=r"edge migrations this program does not know \(0099_future\)"):
        Node.open(path)


def test_a_family_that_names_one_migration_twice_is_refused() -> None:
    with pytest.raises(StoreError, match="twice"):
        Family("edge", "migrations", [("0001_a", []), ("0001_a", [])])
