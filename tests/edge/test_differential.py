"""The store's merge against the reference model: the same random histories, equal state, field by field.

Four devices write ops of every registered type (the district, two kiosks of community ``a``, one of
``b``), with clocks that collide across devices (two devices writing one object at one HLC) and,
now and then, a device that signs two ops with one HLC (only the op hash orders those). The ops
reach two real stores in different orders that keep each stream's own order, with re-sent
duplicates: one takes them in batches through the fast ingest path, the other one op at a time
through the careful path (a savepoint per op). After every step
both stores' views, read back row by row through ``digest.dump``, must equal the model
(``tests/model/reference.py``) of the ops delivered so far, and a rebuild from the log must give
them again.

The named properties of the merge (a decline beats a concurrent approve, shipped stays shipped,
first stamp per stage kept, superseded assigns stay dead, honest partitioned devices never drive a
counter negative) are checked below as examples against the store too.
"""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from crdt.op import Op
from edge import REGISTRY
from edge.store import Store
from edge.store.digest import dump, rebuild_views
from edge.store.views import counter_value, rights
from tests.model.reference import APPLY, COLUMNS, KEYS, Model

from .opgen import MAKERS_FOR, World, batches, interleave, make_op

TYPES = sorted(MAKERS_FOR - {"device.revoke"})
Tables = dict[str, dict[tuple[Any, ...], dict[str, Any]]]


def _noop(conn: sqlite3.Connection, op: Op, idx: int) -> None:
    """An ``on_accept`` callback: asks ``apply_remote`` for its careful, op-by-op path."""


def store_tables(conn: sqlite3.Connection) -> Tables:
    """The store's views as ``{table: {primary key: {column: value}}}``, ``stamps`` parsed."""
    out: Tables = {}
    for table, rows in dump(conn).items():
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
        keyed = {}
        for values in rows:
            row = dict(zip(cols, values, strict=True))
            if "stamps" in row:
                row["stamps"] = json.loads(row["stamps"])
            keyed[tuple(row[c] for c in KEYS[table])] = row
        out[table] = keyed
    return out


def differences(model: Tables, store: Tables) -> list[str]:
    """Every field where ``store`` differs from ``model`` (missing and extra rows too)."""
    out = []
    if set(model) != set(store):
        return [f"tables: model {sorted(model)} store {sorted(store)}"]
    for table in model:
        m, s = model[table], store[table]
        for key in sorted(set(m) | set(s), key=repr):
            if key not in s:
                out.append(f"{table}{key}: missing from the store; model {m[key]}")
            elif key not in m:
                out.append(f"{table}{key}: not in the model; store {s[key]}")
            elif set(m[key]) != set(s[key]):
                out.append(f"{table}{key}: columns {sorted(m[key])} (model) != {sorted(s[key])} (store)")
            else:
                for col in m[key]:
                    if m[key][col] != s[key][col]:
                        out.append(f"{table}{key}.{col}: store {s[key][col]!r} != model {m[key][col]!r}")
    return out


def assert_agrees(model: Model, *stores: Store) -> None:
    want = model.tables()
    for store in stores:
        diff = differences(want, store_tables(store.conn))
        assert not diff, f"{store.path.name} differs from the model:\n" + "\n".join(diff[:20])


def test_the_model_has_a_rule_for_every_registered_op_type() -> None:
    assert set(APPLY) == set(REGISTRY)


def test_the_model_knows_every_view_table_and_column(tmp_path: Path) -> None:
    store = World().receiver(tmp_path / "s.sqlite3")
    try:
        for table in dump(store.conn):
            cols = [r[1] for r in store.conn.execute(f"PRAGMA table_info({table})")]
            assert list(COLUMNS[table]) == cols, table
        assert set(COLUMNS) == set(dump(store.conn))
    finally:
        store.close()


class Merge(RuleBasedStateMachine):
    """Writes, deliveries and duplicates as rules; store == model after every step."""

    ROOT: Path = Path(tempfile.gettempdir())

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(dir=self.ROOT))
        self.world = World()
        self.fast = self.world.receiver(self.dir / "fast.sqlite3")
        self.careful = self.world.receiver(self.dir / "careful.sqlite3")
        self.model = Model()
        prefix = self.world.ops[: self.world.enrolls]
        for store in (self.fast, self.careful):
            assert len(store.apply_remote([op.raw for op in prefix]).accepted) == len(prefix)
        self.model.apply_all(prefix)
        self.pending: dict[tuple[str, str], list[Op]] = {}
        self.delivered: list[Op] = list(prefix)
        self.revocations = 0

    def _queue(self, op: Op) -> None:
        self.pending.setdefault(op.stream, []).append(op)

    @rule(
        type_name=st.sampled_from(TYPES),
        pick=st.integers(0, 3),
        obj=st.integers(0, 5),
        n=st.integers(0, 10_000),
        tick=st.sampled_from([-1, 0, 0, 1, 1, 2]),
    )
    def write(self, type_name: str, pick: int, obj: int, n: int, tick: int) -> None:
        self._queue(make_op(self.world, type_name, pick, obj, n, tick))

    @rule(
        type_name=st.sampled_from(TYPES),
        pick=st.integers(0, 3),
        obj=st.integers(0, 5),
        n=st.integers(0, 10_000),
        m=st.integers(0, 10_000),
    )
    def twins(self, type_name: str, pick: int, obj: int, n: int, m: int) -> None:
        """Two ops of one type by one device on one object under one HLC: only the op hash orders them."""
        self._queue(make_op(self.world, type_name, pick, obj, n, 1))
        self._queue(make_op(self.world, type_name, pick, obj, m, -1))

    @rule(
        type_name=st.sampled_from(TYPES),
        picks=st.tuples(st.integers(0, 3), st.integers(0, 3)),
        obj=st.integers(0, 5),
        n=st.integers(0, 10_000),
        m=st.integers(0, 10_000),
    )
    def collide(self, type_name: str, picks: tuple[int, int], obj: int, n: int, m: int) -> None:
        """Two ops of one type on one object by (usually) two devices whose clocks read the same."""
        self.world.align_clocks()
        self._queue(make_op(self.world, type_name, picks[0], obj, n, -1))
        self._queue(make_op(self.world, type_name, picks[1], obj, m, -1))

    @rule(who=st.sampled_from(["a1", "a2", "b1"]), days=st.integers(1, 30))
    def leap(self, who: str, days: int) -> None:
        """A device's clock jumps days ahead (a bad RTC): its writes outrank everyone's until fenced."""
        getattr(self.world, who).wall += days * 24 * 3_600_000

    @precondition(lambda self: self.revocations < 2)
    @rule(who=st.sampled_from(["a2", "b1"]), ahead=st.integers(0, 3))
    def revoke(self, who: str, ahead: int) -> None:
        """Revoke a device from a seq it will not reach here, so every op it writes stays valid."""
        self.revocations += 1
        dev = getattr(self.world, who).dev
        op = self.world.district.emit("district", "device.revoke", dev, {"from_seq": 1000 + ahead, "reason": "lost"})
        self._queue(self.world.add(op))

    @rule(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 30), dups=st.integers(0, 4))
    def deliver(self, seed: int, k: int, dups: int) -> None:
        """Deliver the first ``k`` ops of a random interleaving of what is pending, with re-sent ops.

        The fast store takes them in batches of random sizes, the careful one one at a time in
        another interleaving of the same ops.
        """
        rng = random.Random(seed)
        chosen = interleave(self.pending.values(), rng)[:k]
        if not chosen:
            return
        for op in chosen:
            self.pending[op.stream].remove(op)
        resent = [rng.choice(self.delivered + chosen) for _ in range(dups)]
        first = chosen + resent
        by_stream: dict[tuple[str, str], list[Op]] = {}
        for op in chosen:
            by_stream.setdefault(op.stream, []).append(op)
        second = interleave(by_stream.values(), rng) + rng.sample(resent, len(resent))
        for batch in batches([op.raw for op in first], rng):
            result = self.fast.apply_remote(batch)
            assert not result.rejected, [r.as_dict() for r in result.rejected]
        for op in second:
            result = self.careful.apply_remote([op.raw], on_accept=_noop)
            assert not result.rejected, [r.as_dict() for r in result.rejected]
        self.model.apply_all(chosen)
        self.delivered += chosen

    @invariant()
    def stores_equal_the_model(self) -> None:
        assert_agrees(self.model, self.fast, self.careful)

    def teardown(self) -> None:
        try:
            rest = [op for ops in self.pending.values() for op in ops]
            if rest:
                self.deliver(0, len(rest), 0)
                assert_agrees(self.model, self.fast, self.careful)
            with self.fast.conn:
                self.fast.conn.execute("BEGIN IMMEDIATE")
                rebuild_views(self.fast.conn)
            assert_agrees(self.model, self.fast)
        finally:
            self.fast.close()
            self.careful.close()
            shutil.rmtree(self.dir, ignore_errors=True)


def test_both_apply_paths_agree_with_the_model_for_any_history(tmp_path_factory: pytest.TempPathFactory) -> None:
    class Machine(Merge):
        ROOT = tmp_path_factory.mktemp("differential")

    run_state_machine_as_test(Machine, settings=settings(stateful_step_count=30))


# --- the named properties, as examples against the store -------------------------------------------


def _receive(world: World, path: Path, ops: list[Op]) -> Store:
    store = world.receiver(path)
    store.apply_remote([op.raw for op in world.ops[: world.enrolls]])
    result = store.apply_remote([op.raw for op in ops])
    assert not result.rejected, [r.as_dict() for r in result.rejected]
    assert_agrees(Model().apply_all(world.ops[: world.enrolls] + ops), store)
    return store


def _in_orders(world: World, tmp_path: Path, orders: list[list[Op]], sql: str, args: tuple[Any, ...] = ()) -> Any:
    """``sql`` read from a fresh store per delivery order (each keeping stream order); all must agree."""
    seen = []
    for i, order in enumerate(orders):
        store = _receive(world, tmp_path / f"{i}.sqlite3", order)
        seen.append(store.conn.execute(sql, args).fetchall())
        store.close()
    assert all(x == seen[0] for x in seen)
    return seen[0]


def _transfer(world: World, step: str, by: Any, data: dict[str, Any] | None = None) -> Op:
    return world.add(by.emit("district", f"transfer.{step}", "b>a:t0", data or {"note": step}))


def test_a_decline_beats_a_concurrent_approve_in_either_order(tmp_path: Path) -> None:
    world = World()
    req = _transfer(world, "request", world.a1, {"sku": "S1", "qty": 2, "src": "b", "dst": "a", "note": ""})
    approve = _transfer(world, "approve", world.district)
    decline = _transfer(world, "decline", world.b1)
    orders = [[req, approve, decline], [decline, approve, req], [approve, req, decline]]
    assert _in_orders(world, tmp_path, orders, "SELECT step FROM transfers") == [("declined",)]


def test_goods_shipped_stay_shipped_when_a_concurrent_decline_arrives(tmp_path: Path) -> None:
    world = World()
    req = _transfer(world, "request", world.a1, {"sku": "S1", "qty": 2, "src": "b", "dst": "a", "note": ""})
    approve = _transfer(world, "approve", world.b1)
    ship = _transfer(world, "ship", world.b1)
    decline = _transfer(world, "decline", world.district)
    store = _receive(world, tmp_path / "s.sqlite3", [req, decline, approve, ship])
    assert store.conn.execute("SELECT step FROM transfers").fetchall() == [("shipped",)]
    store.close()


def test_the_first_stamp_of_each_stage_is_kept_for_sla_whatever_arrives_first(tmp_path: Path) -> None:
    world = World()
    create = make_op(world, "ticket.create", 0, 0, 1, tick=1)
    early = world.add(world.a1.emit("a", "ticket.stage", create.obj, {"epoch": 0, "stage": "on_site"}, tick=5))
    world.a2.wall = world.a1.wall + 100
    late = world.add(world.a2.emit("a", "ticket.stage", create.obj, {"epoch": 0, "stage": "on_site"}, tick=1))
    sql = "SELECT wall, dev FROM ticket_stages WHERE ticket=? AND stage='on_site'"
    rows = _in_orders(world, tmp_path, [[create, late, early], [create, early, late]], sql, (create.obj,))
    assert rows == [(early.hlc[0], early.dev)]


def test_a_stale_cancel_never_erases_a_concurrent_completed_repair(tmp_path: Path) -> None:
    """Regression: ``cancelled`` topped the stage lattice, so a cancel written on one kiosk while another
    resolved the ticket erased the completed repair on every replica. Now the repair stands."""
    world = World()
    create = make_op(world, "ticket.create", 0, 0, 1, tick=1)
    cancel = world.add(world.a1.emit("a", "ticket.stage", create.obj, {"epoch": 0, "stage": "cancelled"}, tick=1))
    resolve = world.add(world.a2.emit("a", "ticket.stage", create.obj, {"epoch": 0, "stage": "resolved"}, tick=9))
    sql = "SELECT epoch, stage FROM tickets WHERE id=?"
    orders = [[create, cancel, resolve], [resolve, create, cancel]]
    assert _in_orders(world, tmp_path, orders, sql, (create.obj,)) == [(0, "resolved")]
    cancel_times = "SELECT stage FROM ticket_stages WHERE ticket=? ORDER BY stage"
    assert _in_orders(world, tmp_path, orders, cancel_times, (create.obj,)) == [
        ("cancelled",),
        ("reported",),
        ("resolved",),
    ]


def test_a_superseded_assign_arriving_late_stays_dead_and_the_superseder_wins(tmp_path: Path) -> None:
    world = World()
    create = make_op(world, "ticket.create", 0, 0, 1, tick=1)
    world.a2.wall = world.a1.wall + 1000  # the superseded assign carries the later clock
    old = world.add(world.a2.emit("a", "ticket.assign", create.obj, {"tech": "a-tech0", "supersedes": []}))
    other = world.add(world.b1.emit("b", "ticket.comment", "b-T0", {"text": "x"}))
    new = world.add(world.a1.emit("a", "ticket.assign", create.obj, {"tech": "a-tech1", "supersedes": [old.id]}))
    sql = "SELECT assignee, conflict FROM tickets WHERE id=?"
    orders = [[create, new, other, old], [old, other, create, new], [create, old, new, other]]
    assert _in_orders(world, tmp_path, orders, sql, (create.obj,)) == [("a-tech1", 0)]


def test_equal_clocks_of_one_device_are_ordered_by_op_hash(tmp_path: Path) -> None:
    """Two ops of one device under one HLC: the higher op hash wins the field, in either order."""
    world = World()
    create = make_op(world, "ticket.create", 0, 0, 1, tick=1)
    twins = [world.add(world.a1.emit("a", "ticket.update", create.obj, {"text": "v0"}, tick=1))]
    twins += [world.add(world.a1.emit("a", "ticket.update", create.obj, {"text": f"v{i}"}, tick=-1)) for i in (1, 2)]
    assert len({op.hlc for op in twins}) == 1
    winner = max(twins, key=lambda op: op.id)
    assert winner is not twins[0], "signatures are deterministic: pick texts where a later twin has the top hash"
    sql = "SELECT text FROM tickets WHERE id=?"
    # All are in one stream, so every store gets them in seq order; the model decides the same way.
    assert _in_orders(world, tmp_path, [[create, *twins]], sql, (create.obj,)) == [(winner.data["text"],)]


def test_live_assigns_under_one_clock_of_one_device_are_ordered_by_op_hash(tmp_path: Path) -> None:
    world = World()
    create = make_op(world, "ticket.create", 0, 0, 1, tick=1)
    first = world.add(world.a1.emit("a", "ticket.assign", create.obj, {"tech": "a-tech0", "supersedes": []}, tick=1))
    twins = [first] + [
        world.add(world.a1.emit("a", "ticket.assign", create.obj, {"tech": f"a-tech{i}", "supersedes": []}, tick=-1))
        for i in (1, 2)
    ]
    winner = max(twins, key=lambda op: op.id)
    sql = "SELECT assignee, conflict FROM tickets WHERE id=?"
    assert _in_orders(world, tmp_path, [[create, *twins]], sql, (create.obj,)) == [(winner.data["tech"], 1)]


def test_two_bookings_under_one_id_settle_on_the_lower_stamp_in_either_order(tmp_path: Path) -> None:
    """Regression: a booking id written twice kept whichever op arrived first, so replicas holding
    the same ops could show different bookings (and digests)."""
    world = World()
    slot = "2026-05-01T10:00"
    x = world.add(world.a1.emit("a", "booking.make", "a-B0", {"facility": "hall", "slot": slot, "household": "1-101"}))
    y = world.add(world.a2.emit("a", "booking.make", "a-B0", {"facility": "gym", "slot": slot, "household": "1-102"}))
    first = min((x, y), key=lambda op: (op.hlc, op.dev))
    sql = "SELECT facility, dev FROM bookings"
    assert _in_orders(world, tmp_path, [[x, y], [y, x]], sql) == [(first.data["facility"], first.dev)]


# --- bounded counters: honest devices partitioned at random never go negative ------------------------

SCHEDULE = st.lists(
    st.one_of(
        st.tuples(st.just("receive"), st.integers(0, 2), st.integers(1, 6)),
        st.tuples(st.just("issue"), st.integers(0, 2), st.integers(1, 4)),
        st.tuples(st.just("move"), st.integers(0, 2), st.integers(1, 4)),
        st.tuples(st.just("sync"), st.integers(0, 2), st.integers(0, 2)),
    ),
    min_size=6,
    max_size=25,
)


def test_honest_partitioned_devices_never_drive_stock_or_rights_below_zero(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Three kiosks of one community, each spending only within its own rights on its own replica
    (the rule the issue and move commands check in their writing transaction), exchange ops at
    random; no replica ever shows a negative stock or a negative right, and the merged state is
    the model's."""
    from hypothesis import given

    root = tmp_path_factory.mktemp("bounded")

    @given(schedule=SCHEDULE)
    @settings(max_examples=30)
    def run(schedule: list[tuple[str, int, int]]) -> None:
        here = Path(tempfile.mkdtemp(dir=root))
        world = World()
        writers = [world.a1, world.a2]
        stores = [world.receiver(here / f"{i}.sqlite3") for i in range(2)]
        logs: list[list[Op]] = [list(world.ops[: world.enrolls]) for _ in stores]
        try:
            for s in stores:
                s.apply_remote([op.raw for op in world.ops[: world.enrolls]])
            for kind, who, n in schedule:
                i = who % 2
                w, store = writers[i], stores[i]
                if kind == "sync":
                    j = n % 2
                    if j == i:
                        continue
                    known = {op.id for op in logs[j]}
                    new = [op for op in logs[i] if op.id not in known]
                    assert not stores[j].apply_remote([op.raw for op in new]).rejected
                    logs[j] += new
                    continue
                held = rights(store.conn, "stock", "a", "S1", w.dev)
                if kind == "receive":
                    op = w.emit("a", "stock.receive", "S1", {"sku": "S1", "qty": n})
                elif kind == "issue" and n <= held:
                    op = w.emit("a", "stock.issue", "S1", {"sku": "S1", "qty": n})
                elif kind == "move" and n <= held:
                    to = writers[1 - i].dev
                    op = w.emit("a", "stock.rights", "S1", {"sku": "S1", "qty": n, "to": to})
                else:
                    continue
                assert not store.apply_remote([op.raw]).rejected
                logs[i].append(op)
                for s in stores:
                    assert counter_value(s.conn, "stock", "a", "S1") >= 0
                    for d in (world.a1.dev, world.a2.dev):
                        assert rights(s.conn, "stock", "a", "S1", d) >= 0
            for i, j in ((0, 1), (1, 0)):
                known = {op.id for op in logs[j]}
                new = [op for op in logs[i] if op.id not in known]
                stores[j].apply_remote([op.raw for op in new])
                logs[j] += new
            assert_agrees(Model().apply_all(logs[0]), *stores)
            assert counter_value(stores[0].conn, "stock", "a", "S1") >= 0
        finally:
            for s in stores:
                s.close()

    run()


def test_a_fenced_clock_loses_to_a_later_correct_write_whatever_arrives_first(tmp_path: Path) -> None:
    """A device whose clock ran days ahead is fenced by the district: a correct device's later write wins
    the field whether the fence arrives before the ops it caps or after them (then the views are rebuilt)."""
    world = World()
    world.a1.wall += 30 * 24 * 3_600_000  # a1's clock says a month ahead
    ahead = world.add(world.a1.emit("a", "mode.set", "a", {"mode": "emergency", "reason": "flood"}))
    later = world.add(world.a1.emit("a", "mode.set", "a", {"mode": "emergency", "reason": "flood, again"}))
    fence = world.add(
        world.district.emit(
            "district", "device.fence", world.a1.dev, {"max_wall": world.a2.wall + 5, "through": {"a": 2}}
        )
    )
    world.a2.wall += 10  # after the district saw them
    normal = world.add(world.a2.emit("a", "mode.set", "a", {"mode": "normal", "reason": "over"}))
    orders = [[fence, ahead, later, normal], [ahead, later, normal, fence], [ahead, normal, fence, later]]
    assert _in_orders(world, tmp_path, orders, "SELECT mode, reason FROM modes") == [("normal", "over")]
    # The fenced device's own later write still beats its earlier one, both compared at the fence.
    orders = [[fence, ahead, later], [ahead, later, fence], [ahead, fence, later]]
    (tmp_path / "own").mkdir()
    assert _in_orders(world, tmp_path / "own", orders, "SELECT reason FROM modes") == [("flood, again",)]
