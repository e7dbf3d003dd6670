"""Sharing between and within communities: transfers, lent technicians, tool loans, bookings."""

from __future__ import annotations

import pytest

from crdt.op import ZERO_HASH, sign_op
from edge import InsufficientRights, InvalidTransition, ScopeForbidden
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
    # b's own write path refuses to emit the op at all.
    with b.store.tx() as tx:
        with pytest.raises(ScopeForbidden, match="holding community"):
            tx.emit("district", "transfer.approve", t["id"], {})
    assert b.transfers()[0]["step"] == "requested"


@pytest.mark.parametrize("step", ["transfer.approve", "transfer.ship"])
def test_a_receiving_node_rejects_a_signed_step_from_a_community_that_may_not_write_it(district_abc, step):
    """A hand-signed op that skips b's write path is refused as ``forbidden`` by every node that receives it."""
    d, n = district_abc
    a, b = n["a"], n["b"]
    a.receive("WATER", 10)
    t = b.request_transfer("WATER", 5, "a")
    sync_all(d, [a, b])
    op = _signed_by(b, "district", step, t["id"], {"note": ""})
    for receiver in (d, a):
        before = receiver.digest("district")
        result = receiver.store.apply_remote([op.raw])
        assert result.accepted == [] and len(result.rejected) == 1
        rejected = result.rejected[0]
        assert (rejected.code, rejected.dev, rejected.scope, rejected.seq) == ("forbidden", b.dev, "district", op.seq)
        assert "holding community" in rejected.detail
        assert receiver.digest("district") == before
        assert receiver.transfers(all_communities=True)[0]["step"] == "requested"


def _signed_by(node, scope, type_, obj, data):
    """An op signed with ``node``'s key at the next seq of its stream, made outside its store."""
    row = node.conn.execute(
        "SELECT head_seq, head_hash FROM streams WHERE dev=? AND scope=?", (node.dev, scope)
    ).fetchone()
    seq, prev = (int(row[0]) + 1, bytes(row[1])) if row else (1, ZERO_HASH)
    return sign_op(
        node.store.ident.key,
        scope=scope,
        seq=seq,
        prev=prev,
        hlc=(node.store.wall(), 0),
        actor=None,
        type=type_,
        obj=obj,
        data=data,
    )


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


def test_a_technician_is_lent_to_one_community_at_a_time_and_a_loan_can_end_early(district_abc):
    d, n = district_abc
    tech = d.add_tech("李师傅", ["electrical"], "core", certs=["electrical"], shared=True)
    d.lend_tech("李师傅", "b", d.now_ms() + 3_600_000)
    with pytest.raises(InvalidTransition, match="lent to b"):
        d.lend_tech(tech["id"], "c", d.now_ms() + 3_600_000)
    with pytest.raises(ScopeForbidden):
        n["a"].lend_tech(tech["id"], "a", n["a"].now_ms() + 3_600_000)
    assert d.end_tech_loan(tech["id"])["active"] is False
    with pytest.raises(InvalidTransition, match="not lent"):
        d.end_tech_loan(tech["id"])
    d.lend_tech(tech["id"], "c", d.now_ms() + 3_600_000)
    sync_all(d, list(n.values()))
    assert n["b"].lent_techs() == {} and tech["id"] in n["c"].lent_techs()
    assert [(x["to"], x["active"]) for x in d.tech_loans()] == [("c", True)]
    assert n["b"].tech_loans() == [] and [x["tech"] for x in n["c"].tech_loans()] == [tech["id"]]


def test_cancelling_the_confirmed_booking_gives_the_slot_to_the_bumped_one(district_abc):
    d, n = district_abc
    a = n["a"]
    a2 = make_community(d.data_dir.parent, d, "a", name="a-lobby-3")
    sync_all(d, [a, a2])
    first = a.book("gym", "2026-12-02T18:00", "1-101")
    second = a2.book("gym", "2026-12-02T18:00", "1-101")
    sync_all(d, [a, a2])
    winner, loser = (first, second) if a.bookings()[0]["id"] == first["id"] else (second, first)
    assert {b["id"]: b["status"] for b in a.bookings()} == {winner["id"]: "confirmed", loser["id"]: "bumped"}
    a.cancel_booking(winner["id"], reason="ill")
    sync_all(d, [a, a2])
    assert {b["id"]: b["status"] for b in a2.bookings()} == {winner["id"]: "cancelled", loser["id"]: "confirmed"}
    with pytest.raises(InvalidTransition):
        a2.cancel_booking(winner["id"])
    a2.close()


def test_the_sharing_commands_run_from_the_command_line(tmp_path, capsys):
    import json

    from edge.cli import main
    from edge.cli.share import parse_instant

    d = make_district(tmp_path)
    d.add_item("WATER", "瓶装水", "Bottled water", kind="supply", scope="district")
    d.add_item("LADDER", "梯子", "Ladder", kind="tool", scope="district")
    a, b = make_community(tmp_path, d, "a"), make_community(tmp_path, d, "b")
    sync_all(d, [a, b])
    a.add_household("2-201")
    a.receive("LADDER", 1)
    a.receive("WATER", 9)
    for node in (d, a, b):
        node.close()

    def run(*argv, code=0):
        capsys.readouterr()
        assert main([*argv, "--json"]) == code
        out = capsys.readouterr()
        return json.loads(out.out) if code == 0 else out.err

    a_dir, b_dir, d_dir = (str(tmp_path / x) for x in ("a", "b", "district"))
    asked = run("transfer", "request", "WATER", "4", "--from", "a", "--note", "party", "--data", b_dir)
    assert (asked["src"], asked["dst"], asked["qty"], asked["note"]) == ("a", "b", 4, "party")
    assert [t["id"] for t in run("transfer", "list", "--open", "--data", b_dir)] == [asked["id"]]
    assert "belongs to community 'a'" in run("transfer", "approve", asked["id"], "--data", b_dir, code=1)
    assert run("transfer", "request", "WATER", "0", "--from", "a", "--data", b_dir, code=2)
    assert "not enrolled" in run("transfer", "availability", "WATER", "--data", b_dir, code=2)
    loan = run("tool", "lend", "LADDER", "2-201", "--days", "2", "--data", a_dir)
    assert run("tool", "loans", "--overdue", "--data", a_dir) == []
    assert [x["id"] for x in run("tool", "loans", "--data", a_dir)] == [loan["id"]]
    assert "no LADDER on hand" in run("tool", "lend", "LADDER", "2-201", "--data", a_dir, code=1)
    booked = run("booking", "make", "hall", "2026-12-03T10:00", "2-201", "--data", a_dir)
    assert run("booking", "cancel", booked["id"], "--reason", "rain", "--data", a_dir)["status"] == "cancelled"
    assert run("booking", "make", "hall", "tomorrow", "2-201", "--data", a_dir, code=2)
    assert "district" in run("tech", "lend", "x", "--to", "a", "--until", "2030-01-01T00:00Z", "--data", a_dir, code=1)
    assert "not an ISO date-time" in run("tech", "lend", "x", "--to", "a", "--until", "soon", "--data", d_dir, code=2)
    assert run("tech", "loans", "--data", d_dir) == []
    assert parse_instant("2030-01-01T08:00+08:00") == parse_instant("2030-01-01T00:00Z") == 1_893_456_000_000
