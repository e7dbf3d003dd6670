"""The store: pragmas, one transaction per local write and per remote batch, validation of remote ops."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest

from crdt.canonical import encode
from crdt.keys import DeviceKey
from edge.errors import InputError
from edge.store import Identity, Store
from edge.store import ingest as store_module
from edge.store.db import connect, schema_version
from edge.store.digest import digest
from edge.store.ingest import AHEAD_MIN_BATCH
from edge.store.schema import MIGRATIONS

from .opgen import World, Writer


def forge(raw: bytes) -> bytes:
    """The same op with one bit of its signature flipped (still canonical, no longer valid)."""
    body, sig = msgpack.unpackb(raw)
    return encode([body, bytes([sig[0] ^ 1]) + sig[1:]])


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def receiver(world: World, tmp_path: Path) -> Iterator[Store]:
    store = world.receiver(tmp_path / "r.sqlite3")
    result = store.apply_remote([op.raw for op in world.ops[: world.enrolls]])
    assert len(result.accepted) == world.enrolls
    yield store
    store.close()


def awards(world: World, n: int, writer: str = "a1") -> list[bytes]:
    w = getattr(world, writer)
    return [
        world.add(w.emit(w.community, "points.award", "1-101", {"household": "1-101", "n": 1, "reason": f"r{i}"})).raw
        for i in range(n)
    ]


def test_every_connection_has_the_design_pragmas_and_the_latest_schema(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite3", Identity(DeviceKey.generate(), "a", "kiosk"))
    other = connect(tmp_path / "s.sqlite3")
    for conn in (store.conn, other):
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] > 0
    assert schema_version(other) == len(MIGRATIONS)
    other.close()
    store.close()


def test_a_local_write_that_fails_part_way_leaves_neither_op_nor_view_behind(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite3", Identity(DeviceKey.generate(), "a", "kiosk"))
    before = (digest(store.conn), store.op_count(), store.heads(), store.get("hlc"))
    with pytest.raises(InputError, match="points.award"):
        with store.tx() as tx:
            tx.emit("a", "household.add", "1-101", {"unit": "1-101"})
            tx.emit("a", "points.award", "1-101", {"household": "1-101", "n": -5, "reason": "x"})
    assert (digest(store.conn), store.op_count(), store.heads(), store.get("hlc")) == before
    store.close()


def test_a_remote_batch_is_one_transaction_so_a_failure_keeps_nothing_of_it(world: World, receiver: Store) -> None:
    raws = awards(world, 5)
    before = (digest(receiver.conn), receiver.op_count(), receiver.heads())
    seen: list[int] = []

    def boom(conn: object, op: object, idx: int) -> None:
        seen.append(idx)
        if len(seen) == 3:
            raise RuntimeError("the sync server's bookkeeping failed")

    with pytest.raises(RuntimeError):
        receiver.apply_remote(raws, on_accept=boom)
    assert (digest(receiver.conn), receiver.op_count(), receiver.heads()) == before
    assert len(receiver.apply_remote(raws).accepted) == 5


def test_applying_a_batch_again_changes_nothing(world: World, receiver: Store) -> None:
    raws = awards(world, 4)
    first = receiver.apply_remote(raws)
    state = (digest(receiver.conn), receiver.op_count(), receiver.heads())
    again = receiver.apply_remote(raws + raws)
    assert len(first.accepted) == 4
    assert not again.accepted and not again.rejected
    assert len(again.duplicates) == 8
    assert (digest(receiver.conn), receiver.op_count(), receiver.heads()) == state


def test_a_bad_op_is_rejected_by_name_and_the_good_ops_around_it_are_kept(world: World, receiver: Store) -> None:
    ok1, ok2, ok3 = awards(world, 3)
    result = receiver.apply_remote([ok1, ok3, forge(ok2), ok2, b"\x92\xc4\x01x", ok3])
    assert len(result.accepted) == 3
    codes = [(r.code, r.seq) for r in result.rejected]
    assert codes == [("gap", 3), ("signature", 2), ("malformed", 0)]
    assert "expected seq 2" in result.rejected[0].detail


def test_a_duplicate_is_recognised_by_its_hash_before_any_key_is_needed(world: World, tmp_path: Path) -> None:
    raws = awards(world, 2)
    store = world.receiver(tmp_path / "r.sqlite3")
    store.apply_remote([op.raw for op in world.ops[: world.enrolls]] + raws)
    store.close()
    # The same database opened by a store that trusts no key at all.
    blind = Store(tmp_path / "r.sqlite3", Identity(DeviceKey.generate(), "x", "kiosk"))
    result = blind.apply_remote(raws)
    assert len(result.duplicates) == 2 and not result.rejected
    blind.close()


def test_an_unknown_device_a_foreign_scope_and_a_revoked_device_are_refused(world: World, receiver: Store) -> None:
    s = Writer("S", "a", "kiosk", 9)  # never enrolled
    unknown = s.emit("a", "points.award", "1-101", {"household": "1-101", "n": 1, "reason": "x"})
    foreign = world.add(world.a1.emit("b", "points.award", "1-101", {"household": "1-101", "n": 1, "reason": "x"}))
    result = receiver.apply_remote([unknown.raw, foreign.raw])
    assert [r.code for r in result.rejected] == ["unknown_device", "forbidden"]
    ok = awards(world, 1, "b1")
    revoke = world.revoke_after_writing(world.b1)
    late = world.add(world.b1.emit("b", "points.award", "1-101", {"household": "1-101", "n": 1, "reason": "x"}))
    result = receiver.apply_remote([*ok, revoke.raw, late.raw])
    assert len(result.accepted) == 2
    assert [r.code for r in result.rejected] == ["revoked"]


def test_equivocation_is_rejected_kept_as_evidence_and_flags_the_device(world: World, receiver: Store) -> None:
    (first,) = awards(world, 1)
    world.a1.heads.clear()  # the device "forgets" and signs another op with the same seq
    (second,) = awards(world, 1)
    result = receiver.apply_remote([first, second])
    assert [r.code for r in result.rejected] == ["equivocation"]
    assert receiver.conn.execute("SELECT COUNT(*) FROM evidence").fetchone()[0] == 1
    flags = receiver.conn.execute("SELECT flag FROM flags WHERE dev=?", (world.a1.dev,)).fetchall()
    assert ("equivocation",) in flags


def test_an_op_for_another_scopes_entity_is_refused_and_changes_nothing(world: World, receiver: Store) -> None:
    """Regression: a community-b op naming a community-a ticket id used to change a's ticket on the district."""
    create = world.add(
        world.a1.emit(
            "a",
            "ticket.create",
            "T-1",
            {"code": "AAX-0001", "unit": "1-101", "category": "water", "urgency": "P3", "text": "leak"},
        )
    )
    receiver.apply_remote([create.raw])
    before = digest(receiver.conn, "a")
    hostile = world.add(world.b1.emit("b", "ticket.stage", "T-1", {"epoch": 0, "stage": "cancelled"}))
    result = receiver.apply_remote([hostile.raw])
    assert [r.code for r in result.rejected] == ["apply"]
    assert "belongs to scope 'a'" in result.rejected[0].detail
    assert digest(receiver.conn, "a") == before


def test_a_large_batch_checked_ahead_by_workers_gives_the_same_result_as_one_by_one(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LINLI_VERIFY_WORKERS", "1")
    raws = awards(world, AHEAD_MIN_BATCH + 40)
    bad = len(raws) // 2
    batch = raws[:bad] + [forge(raws[bad])] + raws[bad:]
    results = []
    for name, size in (("small", 50), ("large", len(batch))):
        store = world.receiver(tmp_path / f"{name}.sqlite3")
        store.apply_remote([op.raw for op in world.ops[: world.enrolls]])
        accepted, rejected = 0, []
        for i in range(0, len(batch), size):
            result = store.apply_remote(batch[i : i + size])
            accepted += len(result.accepted)
            rejected += [(r.code, r.seq) for r in result.rejected]
        results.append((accepted, rejected, digest(store.conn)))
        store.close()
    assert results[0] == results[1]
    assert results[1][0] == len(raws)
    assert results[1][1] == [("signature", bad + 1)]
    assert store_module._pool is not None
