"""The apply helpers of ``edge.store.views``: LWW fields by stamp, the scope guard, bounded counters."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from edge.errors import ScopeForbidden
from edge.store.db import connect, migrate
from edge.store.views import add_counter, counter_value, dumps, lww_set, rights, same_scope, stamp_of


@pytest.fixture
def conn(tmp_path: Path) -> Iterator:
    c = connect(tmp_path / "views.sqlite3")
    migrate(c)
    yield c
    c.close()


def op(wall: int, counter: int = 0, dev: str = "dev-a", hash_byte: int = 1) -> SimpleNamespace:
    """What the helpers read of an op: its HLC, device and hash."""
    return SimpleNamespace(hlc=(wall, counter), dev=dev, scope="a", seq=1, hash=bytes([hash_byte]) * 32)


def test_a_stamp_is_wall_counter_device_and_hash_and_json_is_compact_sorted_and_unescaped() -> None:
    assert stamp_of(op(5, 2, "d", 0xAB)) == [5, 2, "d", "ab" * 32]
    assert dumps({"b": [1, 2], "a": "邻里"}) == '{"a":"邻里","b":[1,2]}'


def _ticket(conn, ident: str = "t1") -> tuple:
    return conn.execute("SELECT scope, unit, text, urgency, stamps FROM tickets WHERE id=?", (ident,)).fetchone()


def test_lww_set_creates_the_row_in_its_scope_with_a_stamp_per_field(conn) -> None:
    took = lww_set(conn, "tickets", {"id": "t1"}, {"unit": "1-101", "text": "leak"}, op(10), scope="a")
    assert took == {"unit": "1-101", "text": "leak"}
    scope, unit, text, urgency, stamps = _ticket(conn)
    assert (scope, unit, text, urgency) == ("a", "1-101", "leak", "P4")
    assert json.loads(stamps) == {"unit": stamp_of(op(10)), "text": stamp_of(op(10))}


def test_each_field_takes_only_where_the_new_stamp_is_greater(conn) -> None:
    lww_set(conn, "tickets", {"id": "t1"}, {"unit": "1-101", "text": "leak"}, op(10), scope="a")
    lww_set(conn, "tickets", {"id": "t1"}, {"urgency": "P2"}, op(5), scope="a")  # a field never set takes
    assert lww_set(conn, "tickets", {"id": "t1"}, {"unit": "old", "text": "old"}, op(9), scope="a") == {}
    assert lww_set(conn, "tickets", {"id": "t1"}, {"text": "same stamp"}, op(10), scope="a") == {}
    took = lww_set(conn, "tickets", {"id": "t1"}, {"unit": "1-102", "text": "drip"}, op(10, 1), scope="a")
    assert took == {"unit": "1-102", "text": "drip"}
    assert lww_set(conn, "tickets", {"id": "t1"}, {"text": "tie on hlc"}, op(10, 1, "dev-b"), scope="a") == {
        "text": "tie on hlc"
    }
    assert lww_set(conn, "tickets", {"id": "t1"}, {"text": "hash"}, op(10, 1, "dev-b", 2), scope="a") == {
        "text": "hash"
    }
    scope, unit, text, urgency, stamps = _ticket(conn)
    assert (unit, text, urgency) == ("1-102", "hash", "P2")
    assert json.loads(stamps) == {
        "unit": stamp_of(op(10, 1)),
        "text": stamp_of(op(10, 1, "dev-b", 2)),
        "urgency": stamp_of(op(5)),
    }


def test_lww_set_keys_by_every_key_column_for_tables_without_a_scope_argument(conn) -> None:
    lww_set(conn, "households", {"scope": "a", "id": "1-101"}, {"name": "王"}, op(1))
    lww_set(conn, "households", {"scope": "b", "id": "1-101"}, {"name": "李"}, op(1))
    lww_set(conn, "households", {"scope": "a", "id": "1-101"}, {"name": "张"}, op(2))
    rows = conn.execute("SELECT scope, id, name FROM households ORDER BY scope").fetchall()
    assert rows == [("a", "1-101", "张"), ("b", "1-101", "李")]


def test_an_op_of_another_scope_never_changes_the_row(conn) -> None:
    lww_set(conn, "tickets", {"id": "t1"}, {"text": "leak"}, op(10), scope="a")
    with pytest.raises(ScopeForbidden, match="tickets 't1' belongs to scope 'a'; an op in scope 'b' may not change"):
        lww_set(conn, "tickets", {"id": "t1"}, {"text": "mine now"}, op(99), scope="b")
    assert _ticket(conn)[:3] == ("a", "", "leak")
    same_scope("tickets", "t1", "a", "a")  # the same scope passes


def test_counters_sum_increments_and_decrements_and_rights_follow_moves(conn) -> None:
    add_counter(conn, "stock", "a", "WATER", "d1", inc=10)
    add_counter(conn, "stock", "a", "WATER", "d1", inc=5, dec=3)
    add_counter(conn, "stock", "a", "WATER", "d1", to="d2", move=4)
    add_counter(conn, "stock", "a", "WATER", "d2", dec=1)
    assert counter_value(conn, "stock", "a", "WATER") == 11
    assert (rights(conn, "stock", "a", "WATER", "d1"), rights(conn, "stock", "a", "WATER", "d2")) == (8, 3)
    row = conn.execute(
        "SELECT inc, dec, moved_in, moved_out FROM counter_rights WHERE key='WATER' AND dev='d2'"
    ).fetchone()
    assert row == (0, 1, 4, 0)
    add_counter(conn, "stock", "a", "WATER", "d1", to="d3", move=0)  # a move of nothing gives d3 no row
    assert conn.execute("SELECT COUNT(*) FROM counter_rights WHERE dev='d3'").fetchone()[0] == 0
    assert rights(conn, "stock", "a", "WATER", "d1") == 8 and counter_value(conn, "stock", "a", "WATER") == 11


def test_counters_are_kept_apart_by_kind_scope_and_key_and_an_unknown_one_is_zero(conn) -> None:
    add_counter(conn, "stock", "a", "WATER", "d1", inc=7)
    add_counter(conn, "points", "a", "WATER", "d1", inc=2)
    add_counter(conn, "stock", "b", "WATER", "d1", inc=3)
    add_counter(conn, "stock", "a", "SOAP", "d1", inc=1)
    assert counter_value(conn, "stock", "a", "WATER") == 7 and rights(conn, "stock", "a", "WATER", "d1") == 7
    assert counter_value(conn, "points", "a", "WATER") == 2 and rights(conn, "points", "a", "WATER", "d1") == 2
    assert counter_value(conn, "stock", "b", "WATER") == 3 and counter_value(conn, "stock", "a", "SOAP") == 1
    assert counter_value(conn, "stock", "c", "WATER") == 0 and rights(conn, "stock", "a", "WATER", "d9") == 0
    assert conn.execute("SELECT COUNT(*) FROM counters").fetchone()[0] == 4


def test_lww_set_needs_no_scope_column_when_no_scope_is_given(conn) -> None:
    """The helper is generic: a table keyed by id alone with a ``stamps`` column is enough."""
    conn.execute("CREATE TABLE plain (id TEXT PRIMARY KEY, text TEXT NOT NULL DEFAULT '', stamps TEXT NOT NULL)")
    assert lww_set(conn, "plain", {"id": "p1"}, {"text": "one"}, op(1)) == {"text": "one"}
    assert lww_set(conn, "plain", {"id": "p1"}, {"text": "two"}, op(2)) == {"text": "two"}
    assert conn.execute("SELECT id, text FROM plain").fetchall() == [("p1", "two")]
