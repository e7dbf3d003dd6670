"""The facade ``edge.Node``: ticket codes, triage, status lattice, rights, modes, digests per scope."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge import (
    AuthFailed,
    Duplicate,
    InputError,
    InsufficientRights,
    InvalidTransition,
    Node,
    NotInitialised,
    RationExceeded,
    ScopeForbidden,
)
from tests.helpers import make_community, make_district, relay, sync_all


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    n = Node.init(tmp_path / "kiosk", "east-1")
    n.add_household("3-101", vulnerable=["elderly_alone"], pin="2468", name="王小明", phone="13812345678")
    n.add_household("3-102")
    n.add_tech("Li", ["water", "door"], "core")
    n.add_tech("Zhao", ["electrical", "gas"], "certified", certs=["gas", "electrical"])
    yield n
    n.close()


def test_a_ticket_gets_a_short_code_that_finds_it_in_any_case(node: Node) -> None:
    codes = [node.report("3-102", "water", f"leak {i}")["code"] for i in range(3)]
    assert len(set(codes)) == 3
    for code in codes:
        assert re.fullmatch(r"EASL[A-Z]{2}-\d{4}", code)  # not enrolled: letters of its own id
        assert node.ticket(code.lower())["code"] == code
    assert [int(c[-4:]) for c in codes] == [1, 2, 3]


def test_ticket_codes_continue_after_the_node_is_reopened(node: Node, tmp_path: Path) -> None:
    first = node.report("3-102", "door", "lock stuck")["code"]
    node.close()
    again = Node.open(tmp_path / "kiosk")
    second = again.report("3-102", "door", "lock stuck again")["code"]
    assert int(second[-4:]) == int(first[-4:]) + 1
    again.close()


@pytest.mark.parametrize(
    ("category", "answers", "household", "expected"),
    [
        ("water", {}, "3-102", "P3"),
        ("water", {"water_near_electrics": True}, "3-102", "P1"),
        ("water", {"water_near_electrics": False, "only_toilet": True}, "3-102", "P2"),
        ("gas", {"gas_smell": True}, "3-102", "P1"),
        ("lift", {"someone_trapped": True}, None, "P1"),
        ("pests", {}, None, "P4"),
        ("fire", {}, None, "P2"),
        ("door", {}, "3-101", "P2"),  # elderly living alone: P3 raised one level
        ("common", {"no_power": True}, "3-101", "P1"),
    ],
)
def test_triage_answers_and_a_vulnerable_household_set_the_urgency(node, category, answers, household, expected):
    t = node.report("3-102" if household is None else household, category, "help", household=household, answers=answers)
    assert t["urgency"] == expected


def test_an_urgency_given_by_staff_wins_over_triage(node: Node) -> None:
    assert node.report("3-102", "gas", "smell", answers={"gas_smell": True}, urgency="P4")["urgency"] == "P4"


def test_an_unknown_triage_question_is_an_input_error(node: Node) -> None:
    with pytest.raises(InputError, match="unknown triage question 'is_it_bad'"):
        node.report("3-102", "water", "leak", answers={"is_it_bad": True})


def test_a_ticket_moves_through_the_lattice_and_refuses_steps_back(node: Node) -> None:
    code = node.report("3-102", "water", "burst pipe")["code"]
    assert node.assign(code, "Li")["status"] == "assigned"
    assert node.advance(code, "on_site")["status"] == "on_site"
    with pytest.raises(InvalidTransition, match="stages only move forward"):
        node.advance(code, "en_route")
    with pytest.raises(InvalidTransition, match="closed only from resolved"):
        node.advance(code, "closed")
    node.advance(code, "resolved")
    closed = node.advance(code, "closed", reason="fixed")
    assert (closed["status"], closed["close_reason"]) == ("closed", "fixed")
    reopened = node.advance(code, "reopen")
    assert (reopened["epoch"], reopened["status"]) == (1, "reported")
    stages = node.ticket(code)["stage_times"]
    assert list(stages)[:2] == ["0:assigned", "0:closed"] and "1:reported" in stages


def test_hold_comment_and_rating_are_recorded(tmp_path: Path) -> None:
    """Regression (flaky, about 1 run in 15): hold events were read in ``(wall ms, op hash)`` order, so a
    hold and its release in one millisecond came out in either order. The wall clock is frozen here so
    every op shares one millisecond: only the full stamp orders them, every run."""
    node = Node.init(tmp_path / "frozen", "east-1", wall=lambda: 1_800_000_000_000)
    node.add_household("3-102")
    code = node.report("3-102", "water", "drip")["code"]
    assert node.hold(code, "no_access")["hold_reason"] == "no_access"
    assert node.hold(code, None)["hold_reason"] is None
    with pytest.raises(InvalidTransition, match="only resolved or closed"):
        node.rate(code, 5)
    node.advance(code, "resolved")
    assert node.rate(code, 4)["rating"] == 4
    shown = node.comment(code, "washer replaced", actor="staff-7")
    assert [(n["kind"], n["text"]) for n in shown["notes"]] == [
        ("hold", "no_access"),
        ("hold", "released"),
        ("comment", "washer replaced"),
    ]
    assert shown["notes"][-1]["actor"] == "staff-7"
    node.close()


def test_points_never_go_negative_and_a_pin_is_checked(node: Node) -> None:
    assert node.award("3-101", 30, "stairwell cleaning", actor="staff-1")["balance"] == 30
    with pytest.raises(InsufficientRights, match="cannot redeem 31 points: balance 30"):
        node.redeem("3-101", 31, "haircut")
    with pytest.raises(AuthFailed):
        node.redeem("3-101", 5, "haircut", pin="0000")
    bal = node.redeem("3-101", 10, "haircut", pin="2468")
    assert (bal["household"], bal["balance"]) == ("3-101", 20)
    assert [h["action"] for h in bal["history"]] == ["redeem", "award"]


def test_emergency_supplies_are_rationed_per_household_in_emergency_mode(node: Node) -> None:
    node.add_item("WATER-5L", "桶装水", "Water 5 L", kind="supply", emergency=True, ration=2)
    node.receive("WATER-5L", 10)
    node.issue("WATER-5L", 3, household="3-101")  # normal mode: no ration
    assert node.set_mode("emergency", "typhoon", actor="mgr")["mode"] == "emergency"
    assert node.status()["mode"] == "emergency"
    node.issue("WATER-5L", 2, household="3-102")
    with pytest.raises(RationExceeded, match="3-102 has had 2"):
        node.issue("WATER-5L", 1, household="3-102")
    with pytest.raises(InputError, match="name the household"):
        node.issue("WATER-5L", 1)
    node.set_mode("normal")
    assert node.issue("WATER-5L", 1, household="3-102")["qty"] == 4


def test_personal_lists_never_carry_a_pin_hash(node: Node) -> None:
    node.add_staff("s1", "1357", role="manager", name="Ms Chen")
    assert node.staff_login("s1", "1357") == {"id": "s1", "role": "manager"}
    with pytest.raises(AuthFailed):
        node.staff_login("s1", "0000")
    rows = [*node.households(), *node.staff()]
    assert rows and all("pin_hash" not in r and "scrypt" not in str(r) for r in rows)
    assert node.household_login("3-101", "2468")["id"] == "3-101"


def test_status_has_the_design_keys(node: Node) -> None:
    status = node.status()
    for key in ("device", "community", "mode", "last_sync", "pending", "clock_skew", "audit_alarm"):
        assert key in status
    assert status["pending"] == 4  # 2 households + 2 techs, all local and never pushed
    assert status["community"] == "east-1"


def test_rebuild_recreates_the_views_with_the_same_digest(node: Node) -> None:
    code = node.report("3-101", "water", "burst", household="3-101")["code"]
    node.assign(code, "Li")
    node.add_item("P1", "水管", "Pipe")
    node.receive("P1", 5)
    node.issue("P1", 2, ticket=code)
    node.award("3-102", 7, "help")
    node.post_notice("停水", "Water off", "明天", "Tomorrow")
    before = node.digest()
    result = node.rebuild()
    assert result["same"] and result["digest"] == before
    assert result["ops"] == node.status()["ops"]


def test_the_digest_of_one_scope_ignores_changes_in_another(tmp_path: Path) -> None:
    district = make_district(tmp_path)
    district.add_item("GLOVES", "手套", "Gloves", kind="supply", scope="district")
    before = district.digest("district")
    whole = district.digest()
    district.post_notice("通知", "Notice", "内容", "Body", scope="a")
    assert district.digest("district") == before
    assert district.digest() != whole
    assert district.digest("a") != district.digest("b")
    district.close()


def test_concurrent_assigns_on_two_kiosks_show_a_conflict_that_a_new_assign_resolves(tmp_path: Path) -> None:
    district = make_district(tmp_path)
    k1 = make_community(tmp_path, district, "a", "k1")
    k2 = make_community(tmp_path, district, "a", "k2")
    k1.add_tech("Li", ["water"], "core")
    k1.add_tech("Wu", ["water"], "volunteer")
    code = k1.report("1-1", "water", "leak")["code"]
    sync_all(district, [k1, k2])
    k1.assign(code, "Li")
    k2.assign(code, "Wu")  # offline from each other
    sync_all(district, [k1, k2])
    views = [(n.ticket(code)["assignee"], n.ticket(code)["conflict"]) for n in (k1, k2, district)]
    assert views[0] == views[1] == views[2]
    assert views[0][1] is True
    k2.assign(code, "Li")
    sync_all(district, [k1, k2])
    assert k1.ticket(code)["conflict"] is False
    assert k1.digest("a") == k2.digest("a") == district.digest("a")
    for n in (k1, k2, district):
        n.close()


def test_stock_rights_move_between_kiosks_and_bound_what_each_may_issue(tmp_path: Path) -> None:
    district = make_district(tmp_path)
    k1 = make_community(tmp_path, district, "a", "k1")
    k2 = make_community(tmp_path, district, "a", "k2")
    k1.add_item("FUSE", "保险丝", "Fuse")
    k1.receive("FUSE", 10)
    relay(district, k1)  # k1 learns k2's enrolment: rights go only to devices it knows of its community
    k1.move_stock_rights("FUSE", 4, k2.dev)
    with pytest.raises(InsufficientRights, match="this device holds 6"):
        k1.move_stock_rights("FUSE", 7, k2.dev)
    relay(k1, district)
    relay(district, k2)
    with pytest.raises(InsufficientRights, match="stock is 10, of which this device may issue 4"):
        k2.issue("FUSE", 5)
    assert k2.issue("FUSE", 4)["qty"] == 6
    for n in (k1, k2, district):
        n.close()


def test_a_shared_technician_is_added_by_the_district_only(node: Node) -> None:
    with pytest.raises(ScopeForbidden):
        node.add_tech("Pool", ["lift"], "core", shared=True)


def test_init_refuses_a_directory_that_holds_a_node_and_open_refuses_an_empty_one(tmp_path: Path) -> None:
    Node.init(tmp_path / "n", "a").close()
    with pytest.raises(Duplicate, match="already lives"):
        Node.init(tmp_path / "n", "a")
    with pytest.raises(NotInitialised, match="linli-edge init"):
        Node.open(tmp_path / "empty")
    with pytest.raises(InputError, match="community id"):
        Node.init(tmp_path / "m", "East 1")
