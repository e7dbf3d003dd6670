"""Conservation: every lifecycle step with a numeric effect takes effect exactly once per lifecycle,
whatever number of devices write the step concurrently (``docs/design.md`` §5).

The reproductions first (each failed before lifecycle keys: the stock moved once per device that
wrote the step), then a property over random schedules of partitioned kiosks exchanging ops.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge import Node, Refused, reads
from edge.domain.lending import bookings
from tests.helpers import make_community, make_district, relay, sync_all


def _qty(node: Node, sku: str, scope: str) -> int:
    row = node.conn.execute(
        "SELECT value FROM counters WHERE kind='stock' AND scope=? AND key=?", (scope, sku)
    ).fetchone()
    return int(row[0]) if row else 0


@pytest.fixture
def two_by_two(tmp_path: Path):
    """The district, two kiosks of ``a`` (holds 10 WATER on a1) and two of ``b``, on one clock that
    moves a millisecond at every reading (so the op written first has the lower stamp)."""
    ticks = itertools.count(1_800_000_000_000)

    def wall() -> int:
        return next(ticks)

    d = make_district(tmp_path, wall=wall)
    d.add_item("WATER", "瓶装水", "Bottled water", kind="supply", scope="district")
    a1, a2 = make_community(tmp_path, d, "a", "a1", wall=wall), make_community(tmp_path, d, "a", "a2", wall=wall)
    b1, b2 = make_community(tmp_path, d, "b", "b1", wall=wall), make_community(tmp_path, d, "b", "b2", wall=wall)
    kiosks = [a1, a2, b1, b2]
    sync_all(d, kiosks)
    a1.receive("WATER", 10)
    a1.move_stock_rights("WATER", 5, a2.dev)  # both kiosks of the holder may ship
    sync_all(d, kiosks)
    yield d, a1, a2, b1, b2
    for n in (d, *kiosks):
        n.close()


def test_two_receiving_kiosks_that_both_mark_arrived_count_the_units_once(two_by_two) -> None:
    """Regression: each partitioned kiosk of the receiver wrote its own ``stock.receive``, so 4 units
    shipped became 8 on the receiver's books (the issue's 10 become 14)."""
    d, a1, a2, b1, b2 = two_by_two
    b2.receive("WATER", 10)
    sync_all(d, [a1, a2, b1, b2])
    t = b1.request_transfer("WATER", 4, "a")
    sync_all(d, [a1, a2, b1, b2])
    a1.approve_transfer(t["id"])
    a1.ship_transfer(t["id"])
    sync_all(d, [a1, a2, b1, b2])
    b2.arrive_transfer(t["id"])  # partitioned from each other: neither sees the other's arrival
    b1.arrive_transfer(t["id"])  # b2's is the earlier, so it is the one that counts
    sync_all(d, [a1, a2, b1, b2])
    for node in (d, b1, b2):
        assert _qty(node, "WATER", "b") == 14
    for node in (d, a1, a2):
        assert _qty(node, "WATER", "a") == 6
    # The rights of the arrival went to the requester (b1), not to b2 whose arrival counted.
    assert {s["sku"]: s["rights"] for s in b1.stock()}["WATER"] == 4
    assert {s["sku"]: s["rights"] for s in b2.stock()}["WATER"] == 10
    assert b1.digest("b") == b2.digest("b") == d.digest("b")


def test_two_holding_kiosks_that_both_ship_issue_the_units_once(two_by_two) -> None:
    """Regression: two kiosks of the holder could each ship one approved transfer, issuing it twice."""
    d, a1, a2, b1, b2 = two_by_two
    t = b1.request_transfer("WATER", 3, "a")
    sync_all(d, [a1, a2, b1, b2])
    a1.approve_transfer(t["id"])
    sync_all(d, [a1, a2, b1, b2])
    a1.ship_transfer(t["id"])
    a2.ship_transfer(t["id"])
    sync_all(d, [a1, a2, b1, b2])
    for node in (d, a1, a2):
        assert _qty(node, "WATER", "a") == 7
    # Neither kiosk's rights went negative, and together they hold what is left.
    rights = [{s["sku"]: s["rights"] for s in k.stock()}["WATER"] for k in (a1, a2)]
    assert min(rights) >= 0 and sum(rights) == 7
    b2.arrive_transfer(t["id"])
    sync_all(d, [a1, a2, b1, b2])
    assert _qty(d, "WATER", "b") == 3


def test_a_re_sent_request_with_another_sku_or_quantity_does_not_change_what_ships(two_by_two) -> None:
    """Regression: the request's sku and quantity were LWW, so a request re-sent with the same id after
    approval changed what the holder then shipped."""
    d, a1, a2, b1, b2 = two_by_two
    t = b1.request_transfer("WATER", 2, "a")
    sync_all(d, [a1, a2, b1, b2])
    a1.approve_transfer(t["id"])
    sync_all(d, [a1, a2, b1, b2])
    with b1.store.tx() as tx:
        tx.emit("district", "transfer.request", t["id"], {"sku": "WATER", "qty": 9, "src": "a", "dst": "b"})
    sync_all(d, [a1, a2, b1, b2])
    assert a1.ship_transfer(t["id"])["qty"] == 2
    sync_all(d, [a1, a2, b1, b2])
    assert _qty(d, "WATER", "a") == 8
    assert d.transfers(all_communities=True)[0]["requested"] == {"sku": "WATER", "qty": 2}


def test_a_loan_returned_on_two_kiosks_returns_one_tool(tmp_path: Path) -> None:
    """Regression: a tool loan returned on two partitioned kiosks received the tool twice (two drills)."""
    clock = [1_800_000_000_000]
    d = make_district(tmp_path, wall=lambda: clock[0])
    k1 = make_community(tmp_path, d, "a", "k1", wall=lambda: clock[0])
    k2 = make_community(tmp_path, d, "a", "k2", wall=lambda: clock[0])
    k1.add_item("DRILL", "电钻", "Drill", kind="tool")
    k1.add_household("2-301")
    k1.receive("DRILL", 1)
    loan = k1.lend_tool("DRILL", "2-301")
    sync_all(d, [k1, k2])
    clock[0] += 1000
    k2.return_tool(loan["id"])  # k2's return is the earlier one, so it is the one that counts
    clock[0] += 1000
    k1.return_tool(loan["id"])
    sync_all(d, [k1, k2])
    for node in (d, k1, k2):
        assert _qty(node, "DRILL", "a") == 1
    # The tool is back in the rights of the kiosk that lent it, not of the one whose return counted.
    assert {s["sku"]: s["rights"] for s in k1.stock()}["DRILL"] == 1
    assert {s["sku"]: s["rights"] for s in k2.stock()}["DRILL"] == 0
    for n in (d, k1, k2):
        n.close()


def test_a_booking_cancel_written_in_another_scope_frees_nothing(tmp_path: Path) -> None:
    """Regression: ``booking.cancel`` ignored its scope, so a cancel in one community's scope naming
    another community's booking id freed that booking's slot."""
    d = make_district(tmp_path)
    a = make_community(tmp_path, d, "a")
    a.add_household("1-101")
    booked = a.book("hall", "2026-12-01T09:00", "1-101")
    sync_all(d, [a])
    with d.store.tx() as tx:
        tx.emit("b", "booking.cancel", booked["id"], {"reason": "not yours"})
    sync_all(d, [a])
    rows = d.conn.execute(
        "SELECT EXISTS (SELECT 1 FROM booking_cancels c WHERE c.id=b.id AND c.scope=b.scope) FROM bookings b"
    ).fetchall()
    assert rows == [(0,)]
    assert [b["status"] for b in a.bookings()] == ["confirmed"]
    assert [b["status"] for b in bookings(d.conn, "a")] == ["confirmed"]
    a.close()
    d.close()


# --- the property ---------------------------------------------------------------------------------
KIOSKS = ("a1", "a2", "a3", "b1", "b2")
_NEXT = {("requested", True): "approve", ("approved", True): "ship", ("shipped", False): "arrive"}
Round = tuple[bool, int, int, int]
"""``(request?, which kiosks act, pick, qty)``: one round of a schedule (see :func:`_run`)."""


def _check_replica(node: Node) -> None:
    """On one replica: each transfer's stock moved at most once out and once in, by its quantity; no
    counter or rights negative; each counter is the sum of its ledger."""
    transfers = {t["id"]: t for t in node.transfers(all_communities=True)}
    rows = node.conn.execute(
        "SELECT scope, key, reason, action, delta FROM ledger WHERE kind='stock' AND reason LIKE 'transfer %'"
    ).fetchall()
    effective: dict[tuple[str, str], list[int]] = {}
    for scope, _sku, reason, action, delta in rows:
        if delta:
            effective.setdefault((reason.removeprefix("transfer "), action), []).append(delta)
            t = transfers[reason.removeprefix("transfer ")]
            assert scope == (t["src"] if action == "issue" else t["dst"])
    for (tid, action), deltas in effective.items():
        assert deltas == [-transfers[tid]["qty"] if action == "issue" else transfers[tid]["qty"]], (tid, action)
    for kind, scope, key, value in node.conn.execute("SELECT kind, scope, key, value FROM counters"):
        (total,) = node.conn.execute(
            "SELECT COALESCE(SUM(delta), 0) FROM ledger WHERE kind=? AND scope=? AND key=?", (kind, scope, key)
        ).fetchone()
        assert value == total >= 0, (scope, key)
    bad = node.conn.execute("SELECT COUNT(*) FROM counter_rights WHERE inc + moved_in - moved_out - dec < 0")
    assert bad.fetchone()[0] == 0


def _run(tmp: Path, rounds: list[Round]) -> int:
    """Play ``rounds`` and check conservation after every write; returns how many steps were repeated.

    In each round the kiosks are partitioned from each other: one kiosk may request a transfer, then
    every kiosk in the ``acting`` bit mask writes the next step of one transfer that its own side may
    write as far as it has seen (approve or ship for the holder, arrive for the receiver), or issues
    stock to a household; then either everyone syncs or only one kiosk does (``qty``).
    """
    d = make_district(tmp)
    d.add_item("W", "水", "Water", kind="supply", scope="district")
    nodes = {name: make_community(tmp, d, name[0], name) for name in KIOSKS}
    kiosks = list(nodes.values())
    sync_all(d, kiosks)
    for name, qty in (("a1", 20), ("a2", 10), ("b1", 6)):
        nodes[name].receive("W", qty)
    sync_all(d, kiosks)
    # Two transfers to start with, one each way, seen by everyone.
    tids = [nodes["b1"].request_transfer("W", 3, "a")["id"], nodes["a1"].request_transfer("W", 2, "b")["id"]]
    sync_all(d, kiosks)
    external = 36
    try:
        for ask, acting, pick, qty in rounds:
            if ask:
                k = kiosks[pick % len(kiosks)]
                tids.append(k.request_transfer("W", 1 + qty % 6, "b" if k.community == "a" else "a")["id"])
            for i, k in enumerate(kiosks):
                if not acting >> i & 1:
                    continue
                try:
                    if qty % 7 == i:
                        k.issue("W", 1)
                        external -= 1
                    elif tids:
                        # The next step this kiosk's side may write, as far as this kiosk has seen.
                        seen = {t["id"]: t for t in k.transfers(all_communities=True)}
                        t = seen.get(tids[-1 - pick % min(2, len(tids))])  # all acting kiosks: one recent transfer
                        step = None if t is None else _NEXT.get((t["step"], k.community == t["src"]))
                        if step is not None:
                            getattr(k, f"{step}_transfer")(t["id"])
                except Refused:
                    pass
                _check_replica(k)
            if qty % 3:
                sync_all(d, kiosks, rounds=1)
            else:
                relay(kiosks[qty % len(kiosks)], d)
            _check_replica(d)
        sync_all(d, kiosks)
        for node in (d, *kiosks):
            _check_replica(node)
        # The whole district: every community's stock plus what is in transit is what came in minus
        # what was issued to households.
        in_transit = 0
        for t in d.transfers(all_communities=True):
            moved = d.conn.execute(
                "SELECT COALESCE(SUM(delta), 0) FROM ledger WHERE kind='stock' AND reason=?", (f"transfer {t['id']}",)
            ).fetchone()[0]
            in_transit -= moved
        total = d.conn.execute("SELECT COALESCE(SUM(value), 0) FROM counters WHERE kind='stock'").fetchone()[0]
        assert total + in_transit == external
        for x in kiosks:
            for scope in x.scopes:
                assert x.digest(scope) == d.digest(scope)
        return len(reads.repeated_steps(d.conn))
    finally:
        for node in (d, *kiosks):
            node.close()


_rounds = st.lists(
    st.tuples(st.sampled_from([True, False, False, False]), st.integers(0, 31), st.integers(0, 7), st.integers(0, 29)),
    min_size=3,
    max_size=14,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rounds=_rounds)
def test_stock_is_conserved_on_every_replica_for_any_schedule_of_partitioned_kiosks(tmp_path_factory, rounds) -> None:
    _run(tmp_path_factory.mktemp("c"), rounds)


def test_a_schedule_with_every_step_written_twice_conserves_stock(tmp_path: Path) -> None:
    """One fixed schedule: b1 requests; a1 approves; a1 and a2 both ship; b1 and b2 both mark arrival."""
    rounds: list[Round] = [
        (False, 0b00001, 1, 2),  # a1 approves b1's request for 3 (made at the start)
        (False, 0b00011, 1, 2),  # a1 and a2 ship, partitioned
        (False, 0b11000, 1, 2),  # b1 and b2 mark it arrived, partitioned
    ]
    assert _run(tmp_path, rounds) == 2
