"""The ticket write rule names both statuses and the rule it applied; what the ticket queries return.

Written against public names (``check_transition``, ``stage_index``, ``holds``, ``Node.ticket``), so it
holds whatever module the ticket commands end up in.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from crdt.op import decode_op
from edge import REGISTRY, Node, ScopeForbidden
from edge.domain.tickets import check_transition, holds, live_assigns, stage_index
from edge.errors import InvalidTransition
from edge.store.optypes import validate_payload
from tests.helpers import make_community, make_district, sync_all


@pytest.mark.parametrize(
    ("current", "target", "message"),
    [
        (None, (0, "triaged"), "nothing -> triaged (epoch 0) refused: a new ticket starts at reported in epoch 0"),
        (
            (0, "cancelled"),
            (1, "reported"),
            "cancelled (epoch 0) -> reported (epoch 1) refused: nothing moves out of cancelled",
        ),
        (
            (0, "resolved"),
            (1, "triaged"),
            "resolved (epoch 0) -> triaged (epoch 1) refused: a reopen starts the next epoch at reported",
        ),
        (
            (0, "on_site"),
            (1, "reported"),
            "on_site (epoch 0) -> reported (epoch 1) refused: a ticket is reopened only from resolved or closed",
        ),
        (
            (1, "triaged"),
            (3, "reported"),
            "triaged (epoch 1) -> reported (epoch 3) refused: the epoch must stay 1, or be 2 for a reopen",
        ),
        (
            (0, "assigned"),
            (0, "assigned"),
            "assigned (epoch 0) -> assigned (epoch 0) refused: the ticket is already at that stage",
        ),
        ((0, "on_site"), (0, "triaged"), "on_site (epoch 0) -> triaged (epoch 0) refused: stages only move forward"),
        (
            (0, "on_site"),
            (0, "closed"),
            "on_site (epoch 0) -> closed (epoch 0) refused: a ticket is closed only from resolved",
        ),
        (
            (0, "resolved"),
            (0, "cancelled"),
            "resolved (epoch 0) -> cancelled (epoch 0) refused: a ticket is cancelled only before it is resolved",
        ),
    ],
)
def test_every_refusal_of_the_write_rule_names_both_statuses_and_the_rule(current, target, message) -> None:
    with pytest.raises(InvalidTransition, match=f"^ticket status {re.escape(message)}$"):
        check_transition(current, target)


def test_an_unknown_stage_is_refused_with_the_list_of_stages() -> None:
    stages = "reported, triaged, assigned, en_route, on_site, resolved, closed, cancelled"
    with pytest.raises(InvalidTransition, match=f"^unknown ticket stage 'done'; stages are {stages}$"):
        stage_index("done")


class Wall:
    def __init__(self) -> None:
        self.ms = 1_800_000_000_000

    def __call__(self) -> int:
        return self.ms


def test_a_ticket_carries_its_answers_stage_times_notes_and_holds(tmp_path: Path) -> None:
    wall = Wall()
    node = Node.init(tmp_path / "a", "a", wall=wall)
    node.add_item("PIPE", "水管", "Pipe")
    node.receive("PIPE", 5)
    code = node.report("1-101", "water", "leak", answers={"water_spreading": True})["code"]
    wall.ms += 60_000
    node.advance(code, "triaged")
    wall.ms += 60_000
    node.hold(code, "awaiting_parts")
    wall.ms += 60_000
    node.hold(code, None)
    node.issue("PIPE", 2, ticket=code)
    t = node.ticket(code)
    assert t["answers"] == {"water_spreading": True}
    start = 1_800_000_000_000
    assert t["stage_times"] == {"0:reported": start, "0:triaged": start + 60_000}
    part = next(n for n in t["notes"] if n["kind"] == "part")
    assert (part["sku"], part["qty"], part["wall"]) == ("PIPE", 2, start + 180_000)
    assert holds(node.conn, t["id"]) == [("awaiting_parts", start + 120_000), ("released", start + 180_000)]
    node.close()


def test_an_assign_names_the_winner_and_an_assign_before_its_report_keeps_a_placeholder(tmp_path: Path) -> None:
    wall = Wall()
    a1 = Node.init(tmp_path / "a1", "a", wall=wall)
    tech = a1.add_tech("Li", ["water"], "core")["id"]
    code = a1.report("1-101", "water", "leak")["code"]
    wall.ms += 5_000
    t = a1.assign(code, "Li")
    assert t["assignee"] == tech and not t["conflict"]
    assigns = a1.ticket(code)["assigns"]
    assert [(x["tech"], x["wall"]) for x in assigns] == [(tech, wall.ms)]
    ((op, who, at, counter, dev),) = live_assigns(a1.conn, t["id"])
    assert (op, who, at, dev) == (assigns[0]["op"], tech, wall.ms, a1.dev) and counter == 0
    a1.close()


def test_an_assign_that_arrives_before_its_report_keeps_a_placeholder_with_the_assignee(tmp_path: Path) -> None:
    d = make_district(tmp_path)
    a1 = make_community(tmp_path, d, "a", "a1")
    a2 = make_community(tmp_path, d, "a", "a2")
    late = make_community(tmp_path, d, "a", "late")
    tech = a1.add_tech("Li", ["water"], "core")["id"]
    code = a1.report("1-101", "water", "leak")["code"]
    sync_all(d, [a1, a2])
    a2.assign(code, "Li")
    sync_all(d, [a2])
    ops = [raw for _, raw in d.store.ops_after(0, None, limit=10**9)]
    assert not late.store.apply_remote(
        [r for r in ops if decode_op(r).dev != a1.dev], accept_scopes=set(late.scopes)
    ).rejected
    assert late.conn.execute("SELECT code, stage, assignee FROM tickets").fetchall() == [("", "assigned", tech)]
    assert late.tickets() == []
    late.store.apply_remote(ops, accept_scopes=set(late.scopes))
    assert [(t["code"], t["assignee"]) for t in late.tickets()] == [(code, tech)]
    for node in (d, a1, a2, late):
        node.close()


def test_a_step_written_in_another_scope_never_moves_the_ticket_and_names_it(tmp_path: Path) -> None:
    """The apply rule itself refuses (the guard before it refuses such ops earlier, by the writer's community)."""
    node = Node.init(tmp_path / "a", "a")
    t = node.report("1-101", "water", "leak")
    spec = REGISTRY["ticket.stage"]
    foreign = SimpleNamespace(obj=t["id"], scope="b", hlc=(node.now_ms(), 0), dev="dev-b", actor=None)
    payload = validate_payload("ticket.stage", {"epoch": 0, "stage": "triaged"})
    message = f"^ticket {t['id']!r} belongs to scope 'a'; an op in scope 'b' may not change it$"
    with pytest.raises(ScopeForbidden, match=message):
        spec.apply(node.conn, foreign, payload)
    assert node.ticket(t["code"])["stage"] == "reported"
    node.close()
