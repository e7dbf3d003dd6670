"""Sharing between and within communities: transfers, lent technicians, tool loans, bookings."""

from __future__ import annotations

import pytest

from edge import InsufficientRights, InvalidTransition, ScopeForbidden
from edge.errors import OpRejected
from tests.helpers import make_community, make_district, relay, sync_all


@pytest.fixture
def district_abc(tmp_path):
    d = make_district(tmp_path)
    d.add_item("WATER", "瓶装水", "Bottled water", kind="supply", emergency=True, ration=4, scope="district")
    nodes = {c: make_community(tmp_path, d, c) for c in "abc"}
    for n in nodes.values():
        n.add_household("1-101")
    sync_all(d, list(nodes.values()))
    yield d, nodes
    for n in [d, *nodes.values()]:
        n.close()


def test_a_request_made_while_the_holder_is_offline_is_approved_later_and_stock_ends_consistent(district_abc):
    d, n = district_abc
    a, b = n["a"], n["b"]
    a.receive("WATER", 50)
    t = b.request_transfer("WATER", 20, "a")
    relay(b, d)  # a is offline: it sees nothing yet
    assert a.transfers() == []
    sync_all(d, [a, b])
    a.approve_transfer(t["id"])
    a.ship_transfer(t["id"])
    sync_all(d, [a, b])
    b.arrive_transfer(t["id"])
    sync_all(d, [a, b])
    assert a.stock()[0]["qty"] == 30
    assert {s["sku"]: s["qty"] for s in b.stock()}["WATER"] == 20
    for node in (d, a, b):
        assert node.transfers(all_communities=True)[0]["step"] == "arrived"
    assert a.digest("district") == b.digest("district") == d.digest("district")
    assert a.digest("a") == d.digest("a") and b.digest("b") == d.digest("b")


def test_two_concurrent_requests_for_the_last_units_never_oversell(district_abc):
    d, n = district_abc
    a, b, c = n["a"], n["b"], n["c"]
    a.receive("WATER", 10)
    tb = b.request_transfer("WATER", 10, "a")
    tc = c.request_transfer("WATER", 10, "a")
    sync_all(d, [a, b, c])
    a.approve_transfer(tb["id"])
    a.approve_transfer(tc["id"])
    a.ship_transfer(tb["id"])
    with pytest.raises(InsufficientRights, match="can no longer be met"):
        a.ship_transfer(tc["id"])
    sync_all(d, [a, b, c])
    assert a.stock()[0]["qty"] == 0


def test_a_decline_beats_a_concurrent_approve(district_abc):
    d, n = district_abc
    a, b = n["a"], n["b"]
    a.receive("WATER", 10)
    t = b.request_transfer("WATER", 5, "a")
    sync_all(d, [a, b])
    a2 = make_community(d.data_dir.parent, d, "a", name="a-second-kiosk")
    sync_all(d, [a, b, a2])
    a.approve_transfer(t["id"])
    a2.decline_transfer(t["id"])
    sync_all(d, [a, b, a2])
    assert {x.transfers(all_communities=True)[0]["step"] for x in (a, a2, b, d)} == {"declined"}
    with pytest.raises(InvalidTransition):
        a.ship_transfer(t["id"])
    a2.close()


def test_a_community_cannot_approve_its_own_request_or_ship_another_communitys_stock(district_abc):
    d, n = district_abc
    b = n["b"]
    t = b.request_transfer("WATER", 5, "a")
    with pytest.raises(ScopeForbidden):
        b.approve_transfer(t["id"])
    with pytest.raises(ScopeForbidden):
        b.ship_transfer(t["id"])
    # A hand-made op that tries it anyway is refused by the receiving node's guard.
    with b.store.tx() as tx:
        with pytest.raises(ScopeForbidden, match="holding community"):
            tx.emit("district", "transfer.approve", t["id"], {})
    assert b.transfers()[0]["step"] == "requested"
    assert isinstance(OpRejected("forbidden", "x"), Exception)


def test_a_lent_technician_is_listed_for_the_borrower_until_the_loan_ends(district_abc):
    d, n = district_abc
    tech = d.add_tech("张师傅", ["water", "gas"], "core", certs=["gas"], shared=True)
    d.lend_tech(tech["id"], "b", d.now_ms() + 3_600_000)
    sync_all(d, list(n.values()))
    assert tech["id"] in n["b"].lent_techs()
    assert n["a"].lent_techs() == {}


def test_tool_loans_move_stock_and_overdue_loans_are_listed(tmp_path):
    from edge import Node

    clock = [1_800_000_000_000]
    node = Node.init(tmp_path / "a", "a", wall=lambda: clock[0])
    node.add_item("DRILL", "电钻", "Drill", kind="tool")
    node.add_household("2-301")
    node.receive("DRILL", 1)
    loan = node.lend_tool("DRILL", "2-301", days=3)
    assert node.stock()[0]["qty"] == 0
    with pytest.raises(InsufficientRights):
        node.lend_tool("DRILL", "2-301")
    assert node.loans(overdue=True) == []
    clock[0] += 4 * 24 * 3_600_000
    assert [x["id"] for x in node.loans(overdue=True)] == [loan["id"]]
    node.return_tool(loan["id"])
    assert node.stock()[0]["qty"] == 1 and node.loans(overdue=True) == []
    with pytest.raises(InvalidTransition):
        node.return_tool(loan["id"])


def test_two_kiosks_booking_one_slot_while_partitioned_end_with_one_booking(district_abc):
    d, n = district_abc
    a = n["a"]
    a2 = make_community(d.data_dir.parent, d, "a", name="a-lobby-2")
    sync_all(d, [a, a2])
    first = a.book("activity-room", "2026-12-01T09:00", "1-101")
    second = a2.book("activity-room", "2026-12-01T09:00", "1-101")
    sync_all(d, [a, a2])
    views = [sorted((b["id"], b["status"]) for b in x.bookings()) for x in (a, a2, d)]
    assert views[0] == views[1]
    statuses = dict(views[0])
    assert sorted(statuses.values()) == ["bumped", "confirmed"]
    assert {first["id"], second["id"]} == set(statuses)
    with pytest.raises(InvalidTransition):
        a.book("activity-room", "2026-12-01T09:00", "1-101")
    a2.close()
