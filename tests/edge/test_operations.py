"""The dispatcher and KPIs driven through the Node facade (views → pure modules → ops)."""

from __future__ import annotations

import pytest

from edge import InputError, Node

HOUR = 3_600_000


@pytest.fixture
def node(tmp_path):
    clock = [1_800_000_000_000]
    n = Node.init(tmp_path / "a", "a", wall=lambda: clock[0])
    n.clock = clock  # type: ignore[attr-defined]
    n.add_household("1-101", vulnerable=["elderly_alone"])
    n.add_household("1-102")
    yield n
    n.close()


def test_gas_work_is_proposed_only_to_a_gas_certified_technician(node):
    node.add_tech("王师傅", ["water", "gas"], "volunteer")
    certified = node.add_tech("李师傅", ["gas"], "core", certs=["gas"])
    t = node.report("1-102", "gas", "楼道有煤气味", answers={"gas_smell": True})
    assert t["urgency"] == "P1"
    proposals = node.propose()
    assert [(p["ticket"], p["tech"]) for p in proposals] == [(t["code"], certified["id"])]


def test_applied_proposals_become_assigns_by_the_dispatcher(node):
    tech = node.add_tech("赵师傅", ["water"], "core")
    t = node.report("1-101", "water", "No water at all", household="1-101")
    done = node.apply_dispatch()
    assert done[0]["tech"] == tech["id"]
    shown = node.ticket(t["code"])
    assert shown["assignee"] == tech["id"] and shown["status"] == "assigned"
    assert node.propose() == []


def test_a_vulnerable_household_is_served_before_an_equal_other_when_one_technician_is_free(node):
    node.add_tech("钱师傅", ["water"], "core")
    plain = node.report("1-102", "water", "Blocked sink", urgency="P3")
    frail = node.report("1-101", "water", "Blocked sink", urgency="P3", household="1-101")
    proposals = node.propose(max_jobs=1)
    assert [p["ticket"] for p in proposals] == [frail["code"]]
    assert plain["code"] not in [p["ticket"] for p in proposals]


def test_kpi_response_and_resolution_times_match_hand_computed_values(node):
    node.add_tech("孙师傅", ["electrical"], "core", certs=["electrical"])
    t = node.report("1-102", "electrical", "Socket sparking", urgency="P1")
    node.clock[0] += 3 * 60_000
    node.advance(t["code"], "triaged")
    node.clock[0] += 20 * 60_000
    node.advance(t["code"], "on_site")
    node.clock[0] += 2 * HOUR
    node.advance(t["code"], "resolved")
    node.rate(t["code"], 5)
    k = node.kpi("day")
    p1 = k["by_urgency"]["P1"]
    assert p1["response"]["p50"] == 3 * 60_000
    assert p1["arrival"]["p50"] == 23 * 60_000
    assert p1["resolution"]["p50"] == 23 * 60_000 + 2 * HOUR
    assert k["satisfaction"]["count"] == 1 and k["first_time_fix"]["resolved"] == 1


def test_an_unknown_kpi_period_is_an_input_error(node):
    with pytest.raises(InputError, match="period"):
        node.kpi("fortnight")
