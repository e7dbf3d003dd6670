"""The same ops, in any order that keeps each stream's own order and with duplicates, give equal digests.

Ops of every registered type are written by four devices (the district, two kiosks of community ``a``
and one of ``b``), with concurrent assigns of one ticket, stages and reopens at once, holds and
releases, rights moves and a revocation. Each receiver is a fresh store that pins only the district
key and learns the other devices from the district's ``device.enroll`` ops, which it gets first.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crdt.chain import verify_stream
from crdt.op import decode_op
from edge import REGISTRY
from edge.store.digest import digest, rebuild_views
from edge.store.schema import VIEW_TABLES

from .opgen import MAKERS_FOR, World, batches, interleave, make_op, with_duplicates

TYPES = sorted(t for t in MAKERS_FOR if t != "device.revoke")

steps = st.lists(
    st.tuples(st.sampled_from(TYPES), st.integers(0, 3), st.integers(0, 5), st.integers(0, 10_000)),
    max_size=25,
)


# The conflicts the property must hold through, whatever else is drawn: concurrent assigns by two
# kiosks, a stage and a reopen at once, a hold and a release at once, rights moved both ways.
PRELUDE = [
    ("ticket.create", 0, 0, 1),
    ("ticket.assign", 0, 0, 1),
    ("ticket.assign", 1, 1, 0),
    ("ticket.stage", 0, 0, 21),  # A1: (epoch 0, resolved)
    ("ticket.stage", 1, 0, 12),  # A2, concurrently: (epoch 0, on_site)
    ("ticket.stage", 1, 0, 16),  # A2: reopen, (epoch 1, reported)
    ("ticket.hold", 0, 0, 1),
    ("ticket.hold", 1, 0, 0),
    ("stock.rights", 0, 0, 0),
    ("stock.rights", 1, 0, 1),
    ("points.rights", 0, 0, 2),
    ("points.rights", 1, 0, 3),
]


def build(extra: list[tuple[str, int, int, int]]) -> World:
    """One op of every type (in a drawn mix of writers), the prelude, ``extra`` ops, then a revocation."""
    world = World()
    for i, type_name in enumerate(TYPES):
        make_op(world, type_name, i, i, i * 7)
    for type_name, pick, obj, n in PRELUDE:
        make_op(world, type_name, pick, obj, n)
    for type_name, pick, obj, n in extra:
        make_op(world, type_name, pick, obj, n)
    world.revoke_after_writing(world.b1)
    return world


def apply_all(world: World, path: Path, order: list[bytes], rng: random.Random) -> str:
    store = world.receiver(path)
    try:
        prefix = store.apply_remote([op.raw for op in world.ops[: world.enrolls]])
        assert len(prefix.accepted) == world.enrolls
        accepted = duplicates = 0
        for batch in batches(order, rng):
            result = store.apply_remote(batch)
            assert not result.rejected, [r.as_dict() for r in result.rejected]
            accepted += len(result.accepted)
            duplicates += len(result.duplicates)
        assert accepted == len(world.ops) - world.enrolls
        assert duplicates == len(order) - accepted
        return digest(store.conn)
    finally:
        store.close()


def test_the_generator_covers_every_registered_op_type() -> None:
    """A new op type must be added to ``opgen`` so that it takes part in the any-order property."""
    missing = set(REGISTRY) - MAKERS_FOR
    assert not missing, f"add these op types to tests/edge/opgen.py: {sorted(missing)}"
    world = build([])
    assert {op.type for op in world.ops} == set(REGISTRY)


@given(extra=steps, seed=st.integers(0, 2**32 - 1))
@settings(max_examples=25)
def test_any_interleaving_with_duplicates_gives_the_same_digest(
    tmp_path_factory: pytest.TempPathFactory, extra: list[tuple[str, int, int, int]], seed: int
) -> None:
    world = build(extra)
    rng = random.Random(seed)
    streams = world.streams()
    in_order = [op.raw for s in streams.values() for op in s]
    shuffled = [op.raw for op in with_duplicates(interleave(streams.values(), rng), rng, k=rng.randint(1, 8))]
    root = tmp_path_factory.mktemp("any-order")
    first = apply_all(world, root / "one.sqlite3", in_order, rng)
    second = apply_all(world, root / "two.sqlite3", shuffled, rng)
    assert first == second


def test_every_stream_received_verifies_and_a_rebuild_keeps_the_digest(tmp_path: Path) -> None:
    world = build([("ticket.assign", 0, 0, 1), ("ticket.assign", 1, 0, 2), ("ticket.stage", 2, 0, 5)])
    rng = random.Random(7)
    order = [op.raw for op in with_duplicates(interleave(world.streams().values(), rng), rng, k=5)]
    store = world.receiver(tmp_path / "r.sqlite3")
    store.apply_remote([op.raw for op in world.ops[: world.enrolls]])
    for batch in batches(order, rng):
        assert not store.apply_remote(batch).rejected
    for key in store.heads():
        dev, scope = key.split("/")
        ops = [decode_op(raw) for raw in store.stream_ops(dev, scope)]
        assert verify_stream(ops) == store.heads()[key]
    before = digest(store.conn)
    store.conn.execute("BEGIN IMMEDIATE")
    for table in VIEW_TABLES:  # lose every view row: only the op log is left to rebuild from
        store.conn.execute(f"DELETE FROM {table}")
    assert digest(store.conn) != before
    rebuild_views(store.conn)
    store.conn.execute("COMMIT")
    assert digest(store.conn) == before
    store.close()


def test_concurrent_assigns_both_survive_with_a_conflict_flag_in_any_order(tmp_path: Path) -> None:
    world = World()
    a1 = make_op(world, "ticket.create", 0, 0, 1)
    x = world.add(world.a1.emit("a", "ticket.assign", a1.obj, {"tech": "a-tech0", "supersedes": []}))
    y = world.add(world.a2.emit("a", "ticket.assign", a1.obj, {"tech": "a-tech1", "supersedes": []}))
    views = []
    for i, order in enumerate(([a1, x, y], [y, a1, x])):
        store = world.receiver(tmp_path / f"{i}.sqlite3")
        store.apply_remote([op.raw for op in world.ops[: world.enrolls]])
        assert not store.apply_remote([op.raw for op in order]).rejected
        views.append(store.conn.execute("SELECT assignee, conflict FROM tickets WHERE id=?", (a1.obj,)).fetchone())
        store.close()
    assert views[0] == views[1]
    assert views[0][1] == 1
    winner = max((x, y), key=lambda op: (op.hlc, op.dev, op.id))
    assert views[0][0] == winner.data["tech"]
