"""KPIs from stage times, checked against figures worked out by hand."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.services.kpi import Hold, PlanningError, TicketTimes, kpis, kpis_by_community, nearest_rank

MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR
T0 = 1_700_000_000_000
END = T0 + 30 * DAY


def times(tid: str, urgency: str, stages: dict[str, int], *, at: int = T0, **kw) -> TicketTimes:  # type: ignore[no-untyped-def]
    """A ticket reported at ``at`` whose epoch-0 stages were reached ``stages[s]`` minutes later."""
    stage_times = {(0, s): at + m * MIN for s, m in {"reported": 0, **stages}.items()}
    stage_times.update(kw.pop("extra", {}))
    return TicketTimes(tid, urgency, kw.pop("category", "water"), kw.pop("community", "c1"), at, stage_times, **kw)


def test_nearest_rank_percentiles_of_ten_values_are_the_fifth_and_ninth() -> None:
    values = [m * MIN for m in (10, 1, 9, 2, 8, 3, 7, 4, 6, 5)]
    assert nearest_rank(values, 50) == 5 * MIN
    assert nearest_rank(values, 90) == 9 * MIN
    assert nearest_rank(values, 100) == 10 * MIN
    assert nearest_rank([7], 50) == 7 and nearest_rank([], 90) is None
    assert nearest_rank([1, 2, 3], 50) == 2 and nearest_rank([1, 2, 3, 4], 50) == 2


def test_p1_response_arrival_and_resolution_percentiles_match_the_hand_computed_ones() -> None:
    tickets = [
        times(f"t{i}", "P1", {"triaged": ack, "on_site": site, "resolved": fix})
        for i, (ack, site, fix) in enumerate([(1, 10, 60), (2, 20, 120), (3, 25, 180), (4, 40, 240), (6, 50, 300)])
    ]
    p1 = kpis(tickets, T0, END)["by_urgency"]["P1"]
    assert p1["count"] == 5
    # nearest rank of 5: p50 -> rank 3, p90 -> rank 5
    assert p1["response"] == {"n": 5, "p50": 3 * MIN, "p90": 6 * MIN}
    assert p1["arrival"] == {"n": 5, "p50": 25 * MIN, "p90": 50 * MIN}
    assert p1["resolution"] == {"n": 5, "p50": 180 * MIN, "p90": 300 * MIN}
    # SLA P1: acknowledge 5 min, on site 30 min, fixed 24 h -> t0, t1, t2 met; t3 late on site, t4 late both
    assert (p1["sla_attained"], p1["sla_total"], p1["sla_pct_x100"]) == (3, 5, 6000)
    assert p1["sla_by_target"]["acknowledge"] == {"met": 4, "total": 5, "pct_x100": 8000}
    assert p1["sla_by_target"]["on_site"] == {"met": 3, "total": 5, "pct_x100": 6000}
    assert p1["sla_by_target"]["fixed"] == {"met": 5, "total": 5, "pct_x100": 10000}


def test_resident_caused_holds_are_subtracted_once_and_waiting_for_parts_is_not() -> None:
    holds = (
        Hold("no_access", T0 + 10 * MIN, T0 + 40 * MIN),
        Hold("awaiting_resident", T0 + 30 * MIN, T0 + 50 * MIN),  # overlaps the first: 40 min paused in all
        Hold("awaiting_parts", T0 + 60 * MIN, T0 + 200 * MIN),
    )
    t = times("t", "P2", {"triaged": 5, "on_site": 150, "resolved": 300}, holds=holds)
    p2 = kpis([t], T0, END)["by_urgency"]["P2"]
    assert p2["response"]["p50"] == 5 * MIN
    assert p2["arrival"]["p50"] == 110 * MIN  # 150 - 40: within the 2 h target
    assert p2["resolution"]["p50"] == 260 * MIN
    assert p2["sla_attained"] == 1


def test_an_open_resident_hold_pauses_the_clock_until_now() -> None:
    t = times("t", "P1", {"triaged": 1}, holds=(Hold("no_access", T0 + 2 * MIN),))
    live = kpis([t], T0, END, now_ms=T0 + 3 * DAY)["by_urgency"]["P1"]
    assert (live["sla_total"], live["sla_pending"]) == (0, 1)
    unpaused = times("u", "P1", {"triaged": 1})
    late = kpis([unpaused], T0, END, now_ms=T0 + 31 * MIN)["by_urgency"]["P1"]
    assert (late["sla_attained"], late["sla_total"], late["sla_by_target"]["on_site"]["total"]) == (0, 1, 1)


def test_an_unfinished_ticket_is_pending_until_a_target_passes_then_missed() -> None:
    t = times("t", "P3", {"triaged": 60})
    assert kpis([t], T0, END, now_ms=T0 + DAY)["by_urgency"]["P3"]["sla_pending"] == 1
    after = kpis([t], T0, END, now_ms=T0 + 3 * DAY + 1)["by_urgency"]["P3"]
    assert (after["sla_attained"], after["sla_total"], after["sla_pending"]) == (0, 1, 0)


def test_skipped_stages_count_as_reached_when_a_later_stage_is() -> None:
    t = times("t", "P4", {"resolved": 90})
    p4 = kpis([t], T0, END)["by_urgency"]["P4"]
    assert p4["response"]["p50"] == p4["arrival"]["p50"] == p4["resolution"]["p50"] == 90 * MIN
    assert p4["sla_attained"] == 1


def test_a_reopen_is_a_new_episode_and_is_not_a_first_time_fix() -> None:
    reopen_at = T0 + 2 * DAY
    extra = {(1, "reported"): reopen_at, (1, "triaged"): reopen_at + 20 * MIN, (1, "resolved"): reopen_at + DAY}
    reopened = times("r", "P3", {"triaged": 30, "resolved": 600}, reopens=1, extra=extra)
    clean = times("c", "P3", {"triaged": 10, "resolved": 100})
    unresolved = times("u", "P3", {"triaged": 10})
    out = kpis([reopened, clean, unresolved], T0, END)
    p3 = out["by_urgency"]["P3"]
    assert p3["count"] == 4
    # responses 30, 20 (the reopen), 10, 10 min: p50 is rank 2 of 4, p90 rank 4
    assert p3["response"] == {"n": 4, "p50": 10 * MIN, "p90": 30 * MIN}
    assert p3["resolution"]["n"] == 3 and p3["resolution"]["p90"] == DAY
    assert out["first_time_fix"] == {"fixed_first_time": 1, "resolved": 2, "pct_x100": 5000}


def test_a_cancelled_episode_is_counted_but_not_timed() -> None:
    t = times("x", "P2", {"triaged": 3, "cancelled": 10})
    p2 = kpis([t], T0, END)["by_urgency"]["P2"]
    assert (p2["count"], p2["cancelled"], p2["response"]["n"], p2["sla_total"], p2["sla_pending"]) == (1, 1, 0, 0, 0)


def test_satisfaction_mean_and_percentages_round_half_up_in_hundredths() -> None:
    tickets = [times(f"t{i}", "P4", {"resolved": 10}, rating=r) for i, r in enumerate([5, 4, 4])]
    tickets.append(times("t9", "P4", {"resolved": 10}))
    sat = kpis(tickets, T0, END)["satisfaction"]
    assert sat == {"count": 3, "mean_x100": 433, "by_score": {"1": 0, "2": 0, "3": 0, "4": 2, "5": 1}}
    two_of_three = [times("a", "P4", {"resolved": 1}), times("b", "P4", {"resolved": 1}), times("c", "P4", {})]
    assert kpis(two_of_three, T0, END, now_ms=T0 + 40 * DAY)["by_urgency"]["P4"]["sla_pct_x100"] == 6667
    halves = [times(f"h{i}", "P4", {"resolved": 1}, rating=r) for i, r in enumerate([4, 5])]
    assert kpis(halves, T0, END)["satisfaction"]["mean_x100"] == 450


def test_the_period_includes_its_start_and_excludes_its_end() -> None:
    at_start, at_end = times("s", "P4", {}, at=T0), times("e", "P4", {}, at=END)
    out = kpis([at_start, at_end], T0, END)
    assert out["tickets"] == 1 and out["by_urgency"]["P4"]["count"] == 1


def test_kpis_per_community_and_clock_warnings_are_counted() -> None:
    a = times("a", "P1", {"triaged": 1}, community="north", clock_unreliable=True)
    b = times("b", "P1", {"triaged": 9}, community="south")
    per = kpis_by_community([b, a], T0, END)
    assert list(per) == ["north", "south"]
    assert per["north"]["by_urgency"]["P1"]["response"]["p50"] == MIN
    assert per["south"]["by_urgency"]["P1"]["response"]["p50"] == 9 * MIN
    assert (per["north"]["clock_unreliable"], per["south"]["clock_unreliable"]) == (1, 0)


def test_an_empty_period_reports_none_not_zero_and_every_level_is_present() -> None:
    out = kpis([], T0, END)
    assert list(out["by_urgency"]) == ["P1", "P2", "P3", "P4"]
    assert out["by_urgency"]["P1"]["sla_pct_x100"] is None
    assert out["by_urgency"]["P1"]["response"] == {"n": 0, "p50": None, "p90": None}
    assert out["first_time_fix"]["pct_x100"] is None and out["satisfaction"]["mean_x100"] is None


def test_the_result_survives_a_json_round_trip_and_holds_no_floats() -> None:
    t = times("t", "P2", {"triaged": 3, "on_site": 50, "resolved": 90}, rating=3)
    out = kpis([t], T0, END)
    assert json.loads(json.dumps(out)) == out
    assert "." not in json.dumps(out)


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        (TicketTimes("a", "P9", "water", "c", T0), "'P9'"),
        (TicketTimes("a", "P1", "water", "c", T0, {(0, "fixing"): T0}), "'fixing'"),
        (TicketTimes("a", "P1", "water", "c", T0, rating=6), "6"),
        (TicketTimes("a", "P1", "water", "c", T0, holds=(Hold("no_access", T0, T0 - 1),)), "no_access"),
        (TicketTimes("a", "P1", "water", "c", T0, holds=(Hold("lunch", T0),)), "lunch"),
    ],
)
def test_a_malformed_ticket_is_refused_naming_what_was_wrong(bad, named) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PlanningError, match=named):
        kpis([bad], T0, END)


def test_an_empty_or_reversed_period_is_refused() -> None:
    with pytest.raises(PlanningError, match="period"):
        kpis([], END, T0)


@given(st.lists(st.integers(0, 10**9), min_size=1, max_size=60), st.integers(1, 100))
def test_nearest_rank_is_a_measured_value_with_at_least_p_percent_at_or_below_it(values, p) -> None:  # type: ignore[no-untyped-def]
    r = nearest_rank(values, p)
    assert r in values
    n = len(values)
    assert sum(v <= r for v in values) * 100 >= p * n
    assert sum(v < r for v in values) * 100 < p * n
