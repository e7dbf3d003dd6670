"""``edge.reads``: each read, checked on a small real district (kiosks of two communities, relayed in-process)."""

from __future__ import annotations

import pytest

from crdt.op import decode_op
from edge import reads
from edge.store import connect
from tests.helpers import make_community, make_district, relay

T0 = 1_750_000_000_000


class Clock:
    def __init__(self) -> None:
        self.ms = T0

    def __call__(self) -> int:
        return self.ms


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A district with a1, a2 (community a) and b1 (community b): stock, tickets, a transfer shipped twice."""
    root = tmp_path_factory.mktemp("reads")
    clock = Clock()
    d = make_district(root, wall=clock)
    d.add_item("SOAP", "肥皂", "Soap", kind="supply", reorder=5, scope="district")
    a1, a2, b1 = (make_community(root, d, c, name=n, wall=clock) for c, n in (("a", "a1"), ("a", "a2"), ("b", "b1")))
    kiosks = (a1, a2, b1)

    def sync(*nodes):
        for n in nodes:
            relay(n, d)
        for n in nodes:
            relay(d, n)

    sync(*kiosks)
    a1.receive("SOAP", 10)
    a2.receive("SOAP", 10)
    for k in kiosks:
        k.add_household(f"{k.community}-101")
    open_p2 = a1.report("a-101", "water", "burst pipe", urgency="P2")
    held = b1.report("b-101", "common", "stair light", urgency="P4")
    b1.hold(held["code"], "awaiting_parts")
    done = b1.report("b-101", "door", "lock", urgency="P3")
    clock.ms += 60_000
    b1.advance(done["code"], "triaged")
    b1.advance(done["code"], "resolved")
    asked = b1.request_transfer("SOAP", 3, "a")
    sync(b1, a1)
    a1.approve_transfer(asked["id"])
    sync(a1, a2)
    a1.ship_transfer(asked["id"])  # a1 and a2 do not hear of each other's shipment
    a2.ship_transfer(asked["id"])
    sync(*kiosks)
    clock.ms += 60_000
    b1.arrive_transfer(asked["id"])
    sync(b1)
    clock.ms += 60_000  # T0 + 3 min: a2's newest op is in its a stream, received a minute later
    a2.add_household("a-102")
    clock.ms += 60_000  # T0 + 4 min: b1's newest op is in its district stream, its b stream is older
    once = b1.request_transfer("SOAP", 1, "a")
    sync(a2, b1)
    relay(d, a1)
    a1.approve_transfer(once["id"])
    a1.ship_transfer(once["id"])  # shipped once: not a double shipment
    relay(a1, d)
    yield {"d": d, "a1": a1, "a2": a2, "b1": b1, "transfer": asked["id"], "open": open_p2, "held": held, "done": done}
    for n in (d, *kiosks):
        n.close()


def test_max_index_and_ops_page_follow_the_log_order(world):
    conn = world["d"].conn
    top = reads.max_index(conn)
    assert top == world["d"].store.op_count() > 10
    page = reads.ops_page(conn, 0, upto=top, limit=10**6)
    assert [e.idx for e in page] == list(range(1, top + 1))
    a1 = world["a1"].dev
    mine = reads.ops_page(conn, 3, upto=top - 2, limit=10**6, scopes=["a"], exclude_dev=a1)
    ops = [decode_op(e.raw) for e in mine]
    assert ops and all(op.scope == "a" and op.dev != a1 for op in ops)
    assert all(3 < e.idx <= top - 2 for e in mine)
    assert len(reads.ops_page(conn, 0, upto=top, limit=4)) == 4
    assert reads.ops_page(conn, top, upto=top, limit=10) == []


def test_heads_and_top_seq_are_the_stream_heads(world):
    conn, a1 = world["d"].conn, world["a1"]
    heads = reads.device_heads(conn, a1.dev)
    assert heads == {scope: len(a1.store.stream_ops(a1.dev, scope)) for scope in heads} and "a" in heads
    assert reads.heads_by_device(conn)[a1.dev] == heads
    assert reads.top_seq(conn, a1.dev) == max(heads.values())
    assert reads.top_seq(conn, "nobody") == 0 and reads.device_heads(conn, "nobody") == {}


def test_hashes_indices_and_exported_ops_agree_with_the_log(world):
    conn = world["d"].conn
    hashes = reads.hashes_after(conn, 5)
    assert [i for i, _ in hashes] == list(range(6, reads.max_index(conn) + 1))
    page = {e.idx: e.raw for e in reads.ops_page(conn, 0, upto=10**9, limit=10**6)}
    assert all(decode_op(page[i]).hash == h for i, h in hashes)
    assert reads.indices_of(conn, [h for _, h in hashes] + [bytes(32)]) == {h: i for i, h in hashes}
    exported = list(reads.exported_ops(conn, 4))
    assert [raw for raw, _ in exported] == [page[i] for i in range(1, 5)]
    assert all(ms == T0 for _, ms in exported)


def test_ledger_keys_name_the_counters_an_op_moved(world):
    conn = world["d"].conn
    ops = [decode_op(e.raw) for e in reads.ops_page(conn, 0, upto=10**9, limit=10**6)]
    receive = next(op for op in ops if op.type == "stock.receive" and op.dev == world["a1"].dev)
    assert reads.ledger_keys(conn, receive.id) == [reads.LedgerKey("stock", "a", "SOAP")]
    enroll = next(op for op in ops if op.type == "device.enroll")
    assert reads.ledger_keys(conn, enroll.id) == []


def test_device_rows_flags_and_latest_ops(world):
    conn, d, a1 = world["d"].conn, world["d"], world["a1"]
    row = reads.device(conn, a1.dev)
    assert row == reads.DeviceRow(a1.dev, "a", "kiosk", "a1", a1.store.ident.key.public_bytes, None)
    assert not row.revoked and reads.device(conn, d.dev) is None  # the registry only, not trusted keys
    assert [r.name for r in reads.devices(conn)] == ["a1", "a2", "b1"]
    assert reads.flagged(conn, "clock_skew") == {}
    with d.store.tx() as tx:
        d.store.flag(tx.conn, a1.dev, "clock_skew", "2 h ahead")
    assert reads.flagged(conn, "clock_skew") == {a1.dev: "2 h ahead"}
    latest = reads.latest_ops(conn)
    assert set(latest) >= {a1.dev, world["b1"].dev, d.dev}
    assert latest[world["b1"].dev] == reads.LatestOp(T0 + 240_000, T0 + 240_000)
    assert latest[world["a2"].dev] == reads.LatestOp(T0 + 180_000, T0 + 240_000)
    assert latest[a1.dev] == reads.LatestOp(T0 + 240_000, T0 + 240_000)


def test_stock_everywhere_gives_every_scope_its_counter_and_reorder_level(world):
    conn = world["d"].conn
    rows = {r.scope: r for r in reads.stock_everywhere(conn, "SOAP")}
    assert set(rows) == {"a", "b", "district"}
    # 20 received; 3 shipped by two kiosks (counted once) and 1 shipped once
    assert (rows["a"].qty, rows["a"].reorder, rows["a"].known) == (16, 5, True)
    assert (rows["b"].qty, rows["b"].reorder) == (3, 5)  # arrived once
    assert not any(r.known for r in reads.stock_everywhere(conn, "NOTHING"))


def test_report_reads_communities_open_tickets_stock_and_double_shipments(world):
    conn = world["d"].conn
    assert reads.communities(conn) == ["a", "b"]
    assert reads.open_tickets(conn) == [
        reads.OpenTickets("a", "P2", 1, 0, 0),
        reads.OpenTickets("b", "P4", 1, 1, 0),
    ]
    assert reads.stock_counts(conn, "a") == {"SOAP": 16} and reads.stock_counts(conn, "b") == {"SOAP": 3}
    assert reads.repeated_steps(conn) == [reads.RepeatedStep("a", world["transfer"], "shipped", 2, 3)]
    assert reads.conservation_faults(conn) == []


def test_public_tickets_filter_and_carry_nothing_personal(world):
    conn = world["d"].conn
    everything = reads.public_tickets(conn, limit=100)
    assert {t.id for t in everything} == {world[k]["id"] for k in ("open", "held", "done")}
    fields = set(reads.PublicTicket.__dataclass_fields__)
    assert not fields & {"unit", "household", "contact", "text", "answers"}
    done = reads.public_ticket(conn, world["done"]["id"])
    assert done is not None and done.closed and done.stage == "resolved" and done.last_stage_ms == T0 + 60_000
    assert [t.id for t in reads.public_tickets(conn, limit=100, status="closed")] == [done.id]
    assert {t.category for t in reads.public_tickets(conn, limit=100, status="open")} == {"water", "common"}
    assert [t.category for t in reads.public_tickets(conn, limit=100, categories=["common"])] == ["common"]
    assert reads.public_tickets(conn, limit=100, reported_from=T0 + 1) == []
    assert [t.id for t in reads.public_tickets(conn, limit=100, ids=[done.id], status="open")] == [done.id]
    assert len(reads.public_tickets(conn, limit=1)) == 1
    assert reads.public_ticket(conn, "nope") is None


def test_reads_run_on_a_read_only_connection(world):
    conn = connect(world["d"].store.path, readonly=True)
    try:
        assert reads.max_index(conn) == world["d"].store.op_count()
        assert reads.communities(conn) == ["a", "b"]
    finally:
        conn.close()
