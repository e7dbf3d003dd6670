"""SLA targets, deadlines, countdowns and the triage table (``docs/dispatch.md``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.services.sla import (
    CATEGORIES,
    EMERGENCY_NUMBERS,
    QUESTIONS,
    TARGET_MS,
    TARGETS,
    URGENCIES,
    PlanningError,
    deadline,
    raise_one_level,
    remaining,
    target_ms,
    urgency_for_household,
    urgency_from_answers,
)

MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR


def test_the_target_table_is_the_one_in_design_section_1() -> None:
    assert TARGET_MS == {
        "P1": {"acknowledge": 5 * MIN, "on_site": 30 * MIN, "safe": 4 * HOUR, "fixed": DAY},
        "P2": {"acknowledge": 15 * MIN, "on_site": 2 * HOUR, "safe": 4 * HOUR, "fixed": DAY},
        "P3": {"acknowledge": 4 * HOUR, "on_site": 3 * DAY, "safe": 3 * DAY, "fixed": 3 * DAY},
        "P4": {"acknowledge": DAY, "on_site": 28 * DAY, "safe": 28 * DAY, "fixed": 28 * DAY},
    }


def test_targets_fall_due_in_order_and_a_more_urgent_level_is_never_given_longer() -> None:
    for urgency in URGENCIES:
        times = [TARGET_MS[urgency][t] for t in TARGETS]
        assert times == sorted(times)
    for target in TARGETS:
        times = [TARGET_MS[u][target] for u in URGENCIES]
        assert times == sorted(times)


def test_the_target_table_cannot_be_changed_at_run_time() -> None:
    with pytest.raises(TypeError):
        TARGET_MS["P1"]["acknowledge"] = 1  # type: ignore[index]


def test_a_stage_name_reaches_the_target_it_meets() -> None:
    assert target_ms("P2", "triaged") == target_ms("P2", "acknowledge") == 15 * MIN
    assert target_ms("P3", "on_site") == 3 * DAY
    assert target_ms("P1", "resolved") == target_ms("P1", "fixed") == DAY


def test_deadline_is_report_time_plus_target_plus_paused_time() -> None:
    assert deadline("P1", "on_site", 1_000) == 1_000 + 30 * MIN
    assert deadline("P1", "on_site", 1_000, paused_ms=7 * MIN) == 1_000 + 37 * MIN


def test_remaining_counts_down_and_turns_negative_once_overdue() -> None:
    reported = 1_700_000_000_000
    assert remaining("P1", "acknowledge", reported, reported + 2 * MIN) == 3 * MIN
    assert remaining("P1", "acknowledge", reported, reported + 5 * MIN) == 0
    assert remaining("P1", "acknowledge", reported, reported + 6 * MIN) == -MIN
    assert remaining("P1", "acknowledge", reported, reported + 6 * MIN, paused_ms=2 * MIN) == MIN


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda: target_ms("P5", "on_site"), "'P5'"),
        (lambda: target_ms("P1", "lunch"), "'lunch'"),
        (lambda: deadline("P1", "on_site", 0, paused_ms=-1), "-1"),
        (lambda: raise_one_level("urgent"), "'urgent'"),
        (lambda: urgency_for_household("p1", False), "'p1'"),
    ],
)
def test_an_unknown_level_target_or_negative_pause_is_refused_naming_the_input(call, named) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PlanningError, match=named):
        call()


def test_a_vulnerable_household_is_raised_one_level_and_p1_stays_p1() -> None:
    assert [raise_one_level(u) for u in URGENCIES] == ["P1", "P1", "P2", "P3"]
    assert urgency_for_household("P3", vulnerable=True) == "P2"
    assert urgency_for_household("P3", vulnerable=False) == "P3"


@pytest.mark.parametrize(
    ("category", "answers", "vulnerable", "expected"),
    [
        ("gas", {"gas_smell": True}, False, "P1"),
        ("lift", {"someone_trapped": True}, False, "P1"),
        ("electrical", {"fire_or_sparking": True}, False, "P1"),
        ("water", {"water_near_electrics": True, "water_spreading": True}, False, "P1"),
        ("water", {"water_spreading": True}, False, "P2"),
        ("water", {"no_water": True}, False, "P2"),
        ("water", {"no_water": True, "elderly_alone": True}, False, "P1"),
        ("water", {"no_water": True}, True, "P1"),
        ("electrical", {"no_power": True}, False, "P2"),
        ("water", {"only_toilet": True}, False, "P2"),
        ("door", {"door_wont_lock": True}, False, "P2"),
        ("door", {"door_wont_lock": False}, False, "P3"),
        ("lift", {"someone_trapped": False}, False, "P3"),
        ("lift", {}, True, "P2"),
        ("fire", {}, False, "P2"),
        ("common", {}, False, "P4"),
        ("other", {"elderly_alone": True}, False, "P3"),
    ],
)
def test_the_triage_table_sets_the_documented_level(category, answers, vulnerable, expected) -> None:  # type: ignore[no-untyped-def]
    assert urgency_from_answers(category, answers, vulnerable) == expected


def test_triage_refuses_an_unknown_category_question_or_non_boolean_answer() -> None:
    with pytest.raises(PlanningError, match="'plumbing'"):
        urgency_from_answers("plumbing", {}, False)
    with pytest.raises(PlanningError, match="'smoke'"):
        urgency_from_answers("fire", {"smoke": True}, False)
    with pytest.raises(PlanningError, match="'gas_smell'"):
        urgency_from_answers("gas", {"gas_smell": 1}, False)  # type: ignore[dict-item]


def test_every_p1_shows_the_three_emergency_numbers() -> None:
    assert sorted(EMERGENCY_NUMBERS.values()) == ["110", "119", "120"]


answers_st = st.dictionaries(st.sampled_from(QUESTIONS), st.booleans())


@given(st.sampled_from(CATEGORIES), answers_st, st.sampled_from(QUESTIONS), st.booleans())
def test_answering_one_more_question_yes_never_makes_a_report_less_urgent(category, answers, extra, vuln) -> None:  # type: ignore[no-untyped-def]
    before = urgency_from_answers(category, answers, vuln)
    after = urgency_from_answers(category, {**answers, extra: True}, vuln)
    assert URGENCIES.index(after) <= URGENCIES.index(before)


@given(st.sampled_from(CATEGORIES), answers_st)
def test_a_vulnerable_household_is_never_less_urgent_and_at_most_one_level_up(category, answers) -> None:  # type: ignore[no-untyped-def]
    plain = URGENCIES.index(urgency_from_answers(category, {**answers, "elderly_alone": False}, False))
    vulnerable = URGENCIES.index(urgency_from_answers(category, answers, True))
    assert vulnerable == max(0, plain - 1)
