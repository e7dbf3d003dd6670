"""The ticket list: per-community and open-only filters, newest first, placeholders left out.

Written against the public queries, ``Node.tickets(open_only=..., scope=...)`` and
``edge.domain.tickets.list_tickets``, so it holds whatever module the commands live in.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crdt.op import decode_op
from edge import Node
from edge.domain.tickets import list_tickets
from tests.helpers import make_community, make_district, sync_all


class Wall:
    def __init__(self, ms: int = 1_800_000_000_000) -> None:
        self.ms = ms

    def __call__(self) -> int:
        self.ms += 1_000  # every write a second later: "newest first" is then a fixed order
        return self.ms


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Node, Node, Node, dict[str, str]]]:
    """The district and communities a and b; a has one ticket at each kind of stage, b one open ticket."""
    wall = Wall()
    d = make_district(tmp_path, wall=wall)
    a = make_community(tmp_path, d, "a", wall=wall)
    b = make_community(tmp_path, d, "b", wall=wall)
    codes = {}
    for name in ("open", "assigned", "resolved", "closed", "cancelled"):
        codes[name] = a.report("1-101", "water", f"ticket {name}")["code"]
    codes["b"] = b.report("2-202", "lift", "stuck")["code"]
    a.advance(codes["assigned"], "triaged")
    a.advance(codes["assigned"], "assigned")
    a.advance(codes["resolved"], "resolved")
    a.advance(codes["closed"], "resolved")
    a.advance(codes["closed"], "closed", reason="fixed")
    a.advance(codes["cancelled"], "cancelled")
    sync_all(d, [a, b])
    yield d, a, b, codes
    for node in (d, a, b):
        node.close()


def _codes(tickets: list[dict]) -> list[str]:
    return [t["code"] for t in tickets]


def test_a_community_lists_its_own_tickets_newest_first(world) -> None:
    _, a, b, codes = world
    mine = ["cancelled", "closed", "resolved", "assigned", "open"]
    assert _codes(a.tickets()) == [codes[n] for n in mine]
    assert _codes(b.tickets()) == [codes["b"]]
    assert all(t["scope"] == "a" for t in a.tickets())


def test_open_only_leaves_out_resolved_closed_and_cancelled_tickets(world) -> None:
    _, a, _, codes = world
    assert _codes(a.tickets(open_only=True)) == [codes["assigned"], codes["open"]]
    assert {t["stage"] for t in a.tickets(open_only=True)} == {"assigned", "reported"}
    assert {t["stage"] for t in a.tickets(open_only=False)} == {
        "assigned",
        "reported",
        "resolved",
        "closed",
        "cancelled",
    }


def test_the_district_lists_one_community_by_scope_or_every_community_through_the_query(world) -> None:
    d, _, _, codes = world
    assert _codes(d.tickets(scope="b")) == [codes["b"]]
    assert _codes(d.tickets(scope="a", open_only=True)) == [codes["assigned"], codes["open"]]
    assert d.tickets() == []  # the district's own scope holds no tickets
    everyone = list_tickets(d.conn, None)
    assert _codes(everyone) == [codes["b"], *(codes[n] for n in ("cancelled", "closed", "resolved", "assigned"))] + [
        codes["open"]
    ]
    assert _codes(list_tickets(d.conn, None, open_only=True)) == [codes["b"], codes["assigned"], codes["open"]]
    assert _codes(list_tickets(d.conn, "a", open_only=True)) == _codes(d.tickets(scope="a", open_only=True))


def test_the_same_report_time_is_ordered_by_id_newest_first(world) -> None:
    d, _, _, _ = world
    d.conn.execute("UPDATE tickets SET reported_ms = 5")  # a view edit for the test only: every tie at once
    ids = [t["id"] for t in list_tickets(d.conn, None)]
    assert ids == sorted(ids, reverse=True) and len(ids) == 6


def test_a_ticket_known_only_from_a_later_step_is_not_listed_until_its_report_arrives(tmp_path: Path) -> None:
    """A stage op that arrives before the ticket's create leaves a placeholder row without a code."""
    d = make_district(tmp_path)
    a1 = make_community(tmp_path, d, "a", "a1")
    a2 = make_community(tmp_path, d, "a", "a2")
    late = make_community(tmp_path, d, "a", "late")
    code = a1.report("1-101", "water", "leak")["code"]
    sync_all(d, [a1, a2])
    a2.advance(code, "triaged")
    sync_all(d, [a2])
    ops = [raw for _, raw in d.store.ops_after(0, None, limit=10**9)]
    without_create = [raw for raw in ops if decode_op(raw).dev != a1.dev]
    assert not late.store.apply_remote(without_create, accept_scopes=set(late.scopes)).rejected
    assert late.conn.execute("SELECT stage, code FROM tickets").fetchall() == [("triaged", "")]
    assert late.tickets() == [] and late.tickets(open_only=True) == []
    late.store.apply_remote(ops, accept_scopes=set(late.scopes))
    assert [(t["code"], t["stage"]) for t in late.tickets(open_only=True)] == [(code, "triaged")]
    for node in (d, a1, a2, late):
        node.close()
