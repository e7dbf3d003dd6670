"""The dispatcher: hard constraints, priority under short capacity, determinism, optimality (``docs/dispatch.md``)."""

from __future__ import annotations

import itertools
import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.services.dispatch import (
    DEFAULT_WEIGHTS,
    DispatchTicket,
    PlanningError,
    Proposal,
    Technician,
    Weights,
    allowed,
    dispatch,
    pair_cost,
    priority,
)

NOW = 1_700_000_000_000
MIN = 60_000


def ticket(
    tid: str,
    category: str,
    urgency: str,
    *,
    vulnerable: bool = False,
    age_min: int = 0,
    pos: tuple[int, int] | None = (0, 0),
    assignee: str | None = None,
    community: str | None = None,
) -> DispatchTicket:
    """A ticket reported ``age_min`` minutes before ``NOW``."""
    return DispatchTicket(
        tid, tid.upper(), category, urgency, vulnerable, NOW - age_min * MIN, pos, assignee, community
    )


def tech(
    hid: str,
    skills: str,
    *,
    certs: str = "",
    tier: str = "core",
    available: bool = True,
    pos: tuple[int, int] | None = (0, 0),
    load: int = 0,
    home: str = "c1",
) -> Technician:
    """A technician with comma-separated ``skills`` and ``certs``."""
    return Technician(
        hid,
        hid,
        frozenset(skills.split(",")) - {""},
        frozenset(certs.split(",")) - {""},
        tier,
        available,
        home,
        pos,
        load,
    )


def scenario() -> tuple[list[DispatchTicket], list[Technician]]:
    """40 tickets (four emergencies named in the issue and routine work) and 8 mixed technicians."""
    tickets = [
        ticket("gas-smell", "gas", "P1", pos=(40, 10)),
        ticket("flooded-stairwell", "water", "P2", pos=(5, 60)),
        ticket("lift-trapped", "lift", "P1", pos=(20, 20)),
        ticket("elderly-no-water", "water", "P1", vulnerable=True, pos=(70, 70)),
        ticket("sparking-socket", "electrical", "P1", pos=(10, 90)),
    ]
    rng = random.Random(7)
    routine = ["water", "electrical", "gas", "door", "common", "pests", "structure", "other", "fire", "lift"]
    for i in range(35):
        tickets.append(
            ticket(
                f"job-{i:02d}",
                routine[i % len(routine)],
                ("P2", "P3", "P3", "P4", "P4")[i % 5],
                vulnerable=i % 7 == 0,
                age_min=rng.randrange(0, 5000),
                pos=(rng.randrange(100), rng.randrange(100)),
            )
        )
    techs = [
        tech("t1-plumber", "water,door", pos=(0, 0)),
        tech("t2-gasfitter", "gas,water", certs="gas", tier="certified", pos=(50, 50)),
        tech("t3-sparky", "electrical,common", certs="electrical", tier="certified", pos=(90, 10), load=1),
        tech("t4-uncertified", "gas,electrical,water", pos=(40, 12)),
        tech("t5-lift", "lift,door", pos=(20, 25)),
        tech("t6-volunteer", "common,pests,other,water", tier="volunteer", pos=(60, 60)),
        tech("t7-off", "water,gas,electrical,lift", certs="gas,electrical", available=False),
        tech("t8-busy", "structure,door,fire", load=3),
    ]
    return tickets, techs


def by_ticket(props: list[Proposal]) -> dict[str, Proposal]:
    return {p.ticket: p for p in props}


def test_the_scenario_never_gives_gas_or_electrical_work_to_an_uncertified_technician() -> None:
    tickets, techs = scenario()
    props = dispatch(tickets, techs, NOW)
    kinds = {t.id: t.category for t in tickets}
    certs = {h.id: h.certs for h in techs}
    assert props, "the scenario must assign something"
    for p in props:
        if kinds[p.ticket] in ("gas", "electrical"):
            assert kinds[p.ticket] in certs[p.tech]
    assert "t4-uncertified" not in {p.tech for p in props if kinds[p.ticket] in ("gas", "electrical")}


def test_the_scenario_serves_every_emergency_and_keeps_to_capacity_and_availability() -> None:
    tickets, techs = scenario()
    props = dispatch(tickets, techs, NOW)
    served = by_ticket(props)
    assert len(tickets) > sum(max(0, 3 - h.load) for h in techs if h.available), "capacity must be short"
    for tid in ("gas-smell", "lift-trapped", "elderly-no-water", "sparking-socket", "flooded-stairwell"):
        assert tid in served
    assert served["gas-smell"].tech == "t2-gasfitter"
    assert served["sparking-socket"].tech == "t3-sparky"
    assert served["lift-trapped"].tech == "t5-lift"
    per_tech = Counter(p.tech for p in props)
    load = {h.id: h.load for h in techs}
    assert all(n <= 3 - load[h] for h, n in per_tech.items())
    assert "t7-off" not in per_tech and "t8-busy" not in per_tech


def test_when_capacity_is_short_no_waiting_ticket_could_take_the_place_of_a_lower_priority_one() -> None:
    tickets, techs = scenario()
    props = dispatch(tickets, techs, NOW)
    served = by_ticket(props)
    tmap = {h.id: h for h in techs}
    for waiting in (t for t in tickets if t.id not in served):
        for p in props:
            if priority(waiting, NOW) > p.priority:
                assert not allowed(waiting, tmap[p.tech]), (waiting.id, p)
    served_p3 = [p for p in props if p.urgency == "P3"]
    assert served_p3, "the scenario must serve some P3 so the check above means something"
    for waiting_p1 in (t for t in tickets if t.urgency == "P1" and t.id not in served):
        assert not any(allowed(waiting_p1, h) for h in techs)


def test_every_p1_beats_any_p3_on_the_one_technician_who_can_do_both() -> None:
    p3s = [ticket(f"p3-{i}", "water", "P3", vulnerable=True, age_min=100_000) for i in range(4)]
    p1 = ticket("z-p1", "water", "P1", pos=(900, 900))
    props = dispatch([*p3s, p1], [tech("only", "water", pos=(0, 0))], NOW, max_jobs=1)
    assert [(p.ticket, p.tech) for p in props] == [("z-p1", "only")]


def test_a_vulnerable_household_goes_ahead_of_an_otherwise_equal_one() -> None:
    plain = ticket("a-plain", "door", "P3", pos=(1, 1))
    vulnerable = ticket("b-vulnerable", "door", "P3", vulnerable=True, pos=(1, 1))
    props = dispatch([plain, vulnerable], [tech("h", "door")], NOW, max_jobs=1)
    assert [p.ticket for p in props] == ["b-vulnerable"]
    assert priority(vulnerable, NOW) - priority(plain, NOW) == DEFAULT_WEIGHTS.vulnerable


def test_a_ticket_waiting_longer_goes_ahead_of_an_otherwise_equal_one() -> None:
    fresh = ticket("a-fresh", "door", "P3", age_min=0)
    old = ticket("b-old", "door", "P3", age_min=24 * 60)
    props = dispatch([fresh, old], [tech("h", "door")], NOW, max_jobs=1)
    assert [p.ticket for p in props] == ["b-old"]


def test_identical_input_gives_identical_output_in_any_order() -> None:
    tickets, techs = scenario()
    first = dispatch(tickets, techs, NOW)
    rng = random.Random(3)
    for _ in range(3):
        t2, h2 = tickets[:], techs[:]
        rng.shuffle(t2)
        rng.shuffle(h2)
        assert dispatch(t2, h2, NOW) == first
    assert all(type(p.cost) is int and type(p.priority) is int for p in first)


def test_assigned_tickets_are_skipped_and_full_or_unavailable_technicians_get_nothing() -> None:
    tickets = [ticket("done", "water", "P1", assignee="x"), ticket("open", "water", "P4")]
    assert dispatch(tickets, [tech("full", "water", load=3), tech("off", "water", available=False)], NOW) == []
    props = dispatch(tickets, [tech("free", "water", load=2)], NOW)
    assert [(p.ticket, p.tech) for p in props] == [("open", "free")]


def test_max_jobs_caps_new_work_by_current_load_and_slots_cost_more_as_they_fill() -> None:
    tickets = [ticket(f"t{i}", "pests", "P4", pos=(0, 0)) for i in range(6)]
    props = dispatch(tickets, [tech("h", "pests", load=1)], NOW, max_jobs=4)
    assert len(props) == 3
    load_w = DEFAULT_WEIGHTS.load
    assert sorted(p.cost for p in props) == [load_w * 1, load_w * 2, load_w * 3]


def test_with_enough_capacity_the_nearest_qualified_technician_is_chosen() -> None:
    t = ticket("leak", "water", "P4", pos=(100, 100))
    props = dispatch([t], [tech("far", "water", pos=(0, 0)), tech("near", "water", pos=(95, 99))], NOW)
    assert [(p.tech, p.cost) for p in props] == [("near", 6)]


def test_a_core_technician_is_preferred_to_a_volunteer_for_an_emergency_but_not_for_routine_work() -> None:
    core = tech("core", "water", pos=(50, 0))
    vol = tech("vol", "water", tier="volunteer", pos=(0, 0))
    assert dispatch([ticket("e", "water", "P2")], [core, vol], NOW)[0].tech == "core"
    assert dispatch([ticket("r", "water", "P4")], [core, vol], NOW)[0].tech == "vol"


def test_a_technician_from_another_community_costs_the_away_distance() -> None:
    t = ticket("x", "door", "P3", pos=(0, 0), community="c1")
    away = tech("away", "door", home="c2", pos=(0, 0))
    assert pair_cost(t, away, 0) == DEFAULT_WEIGHTS.away_distance
    home = tech("home", "door", home="c1", pos=(2000, 0))
    assert dispatch([t], [away, home], NOW)[0].tech == "home"


def test_other_needs_no_skill_but_every_other_category_needs_its_own() -> None:
    handy = tech("h", "door")
    assert allowed(ticket("o", "other", "P4"), handy)
    assert not allowed(ticket("p", "pests", "P4"), handy)
    assert not allowed(ticket("g", "gas", "P1"), tech("g", "gas"))
    assert allowed(ticket("g", "gas", "P1"), tech("g", "gas", certs="gas"))


@pytest.mark.parametrize(
    ("tickets", "techs", "named"),
    [
        ([ticket("a", "water", "P1"), ticket("a", "door", "P2")], [], "'a'"),
        ([ticket("a", "plumbing", "P1")], [], "'plumbing'"),
        ([ticket("a", "water", "P0")], [], "'P0'"),
        ([], [tech("h", "water", tier="boss")], "'boss'"),
        ([], [tech("h", "water", load=-1)], "-1"),
        ([ticket("a", "water", "P1", pos=(2**41, 0))], [], "2199023255552"),
    ],
)
def test_malformed_input_is_refused_naming_what_was_wrong(tickets, techs, named) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PlanningError, match=named):
        dispatch(tickets, techs, NOW)


def test_weights_that_would_let_a_p3_outrank_a_p1_are_refused() -> None:
    with pytest.raises(PlanningError, match="P3 could outrank a P1"):
        Weights(urgency=(4000, 3500, 3000, 1000), vulnerable=500, wait_cap=600)
    with pytest.raises(PlanningError, match="fall from P1"):
        Weights(urgency=(4000, 4000, 2000, 1000))
    with pytest.raises(PlanningError):
        dispatch([], [], NOW, max_jobs=0)


# --- optimality against brute force on small random instances ------------------------------------

CATS = ["water", "gas", "electrical", "other"]


@st.composite
def instances(draw: st.DrawFn) -> tuple[list[DispatchTicket], list[Technician], int]:
    n_t = draw(st.integers(0, 5))
    n_h = draw(st.integers(0, 3))
    pos = st.tuples(st.integers(0, 30), st.integers(0, 30)) | st.none()
    tickets = [
        DispatchTicket(
            f"t{i}",
            f"T{i}",
            draw(st.sampled_from(CATS)),
            draw(st.sampled_from(["P1", "P2", "P3", "P4"])),
            draw(st.booleans()),
            NOW - draw(st.integers(0, 10**8)),
            draw(pos),
            community=draw(st.sampled_from([None, "c1", "c2"])),
        )
        for i in range(n_t)
    ]
    techs = [
        Technician(
            f"h{j}",
            f"h{j}",
            frozenset(draw(st.sets(st.sampled_from(CATS)))),
            frozenset(draw(st.sets(st.sampled_from(["gas", "electrical"])))),
            draw(st.sampled_from(["core", "certified", "volunteer"])),
            draw(st.booleans() | st.just(True)),
            draw(st.sampled_from(["c1", "c2"])),
            draw(pos),
            draw(st.integers(0, 2)),
        )
        for j in range(n_h)
    ]
    return tickets, techs, draw(st.integers(1, 2))


def brute_force(tickets: list[DispatchTicket], techs: list[Technician], max_jobs: int) -> tuple[int, int]:
    """(max total priority, min total cost among those) over every assignment, by enumeration."""
    best = (0, 0)
    options = [[None, *(h for h in techs if allowed(t, h, max_jobs))] for t in tickets]
    for choice in itertools.product(*options):
        used = Counter(h.id for h in choice if h is not None)
        if any(used[h.id] > max_jobs - h.load for h in techs if h.id in used):
            continue
        prio = sum(priority(t, NOW) for t, h in zip(tickets, choice, strict=True) if h is not None)
        cost = sum(
            pair_cost(t, h, 0) - DEFAULT_WEIGHTS.load * h.load
            for t, h in zip(tickets, choice, strict=True)
            if h is not None
        )
        cost += sum(DEFAULT_WEIGHTS.load * (h.load + k) for h in techs for k in range(used[h.id]))
        best = max(best, (prio, -cost))
    return best[0], -best[1]


@given(instances())
def test_the_dispatcher_reaches_the_brute_force_optimum_on_small_instances(inst) -> None:  # type: ignore[no-untyped-def]
    tickets, techs, max_jobs = inst
    props = dispatch(tickets, techs, NOW, max_jobs=max_jobs)
    assert (sum(p.priority for p in props), sum(p.cost for p in props)) == brute_force(tickets, techs, max_jobs)
    tmap, tk = {h.id: h for h in techs}, {t.id: t for t in tickets}
    for h_id, group in itertools.groupby(sorted(props, key=lambda p: p.tech), key=lambda p: p.tech):
        for k, p in enumerate(sorted(group, key=lambda p: (-p.priority, p.ticket))):
            assert allowed(tk[p.ticket], tmap[h_id], max_jobs)
            assert p.cost == pair_cost(tk[p.ticket], tmap[h_id], k)


@given(st.randoms(use_true_random=False), st.integers(10, 40), st.integers(1, 6))
def test_no_unserved_ticket_is_allowed_where_a_lower_priority_ticket_was_served(rng, n_t, n_h) -> None:  # type: ignore[no-untyped-def]
    tickets = [
        ticket(
            f"t{i:02d}",
            rng.choice(CATS),
            rng.choice(["P1", "P2", "P3", "P4"]),
            vulnerable=rng.random() < 0.2,
            age_min=rng.randrange(10_000),
            pos=(rng.randrange(50), rng.randrange(50)),
        )
        for i in range(n_t)
    ]
    techs = [
        tech(
            f"h{j}",
            ",".join(rng.sample(CATS, 2)),
            certs=rng.choice(["", "gas", "electrical", "gas,electrical"]),
            tier=rng.choice(["core", "certified", "volunteer"]),
            pos=(rng.randrange(50), rng.randrange(50)),
            load=rng.randrange(3),
        )
        for j in range(n_h)
    ]
    props = dispatch(tickets, techs, NOW)
    served, tmap = by_ticket(props), {h.id: h for h in techs}
    for waiting in (t for t in tickets if t.id not in served):
        for p in props:
            if priority(waiting, NOW) > p.priority:
                assert not allowed(waiting, tmap[p.tech])
