"""The dispatcher: open tickets, technicians and the clock in, proposed assignments out (``docs/dispatch.md``).

A pure, deterministic function: no I/O, no randomness, of ``edge`` only the vocabularies imported; the caller
turns the store's views into :class:`DispatchTicket` and :class:`Technician` and the proposals into
assign ops. Weights are documented in ``docs/dispatch.md`` and held by :class:`Weights`.

**Model.** Every technician offers ``max_jobs - load`` free *slots*; slot ``k`` of technician ``h``
costs ``pair_cost(t, h, k)`` = distance + load weight x (``h.load + k``) + a tier term. A ticket may
take a slot only if the technician is available and has the category's skill and, for ``gas`` and
``electrical``, the matching certification. Each ticket has an integer :func:`priority` = urgency
weight + vulnerable bonus + waiting points. The dispatcher picks a set of (ticket, slot) pairs, each
ticket and slot used at most once, that

1. maximises the total priority of the tickets served, and among those
2. minimises the total cost.

**Solved as one min-cost assignment.** With ``C`` the largest pair cost and ``n`` the most pairs any
assignment can hold, let ``M = n * C + 1`` and give every allowed pair the value
``cost - M * priority`` and every forbidden pair the value 0. For assignments ``A`` and ``B`` with
total priorities ``P(A) > P(B)`` (integers, so ``P(A) >= P(B) + 1``)::

    value(A) <= n*C - M*P(A) <= n*C - M*P(B) - M < -M*P(B) <= value(B)

so a minimum-value assignment serves the largest total priority first and the least cost second.
Every allowed value is negative (``M * priority > C``), so a forbidden pair is worth exactly as much
as leaving the ticket unserved: ``scipy.optimize.linear_sum_assignment`` on the rectangular
tickets x slots matrix, with forbidden pairs dropped from its answer, solves the problem above.

**Every P1 beats any P3.** Suppose the answer serves a ticket ``y`` on technician ``h`` while a
ticket ``x`` with higher priority is left unserved although ``x`` is allowed on ``h``. Giving ``y``'s
slot to ``x`` is a valid assignment with a larger total priority: contradiction. So no unserved ticket
is ever allowed on the technician of a served ticket of lower priority. :class:`Weights` insists that
two levels apart the urgency weights differ by more than the vulnerable bonus plus the largest waiting
bonus, so any P1 has a higher priority than any P3 (with the default weights, than any P2), and a
vulnerable household outranks an otherwise equal one.

**Deterministic.** Inputs are sorted by id before the matrix is built, so equal inputs in any order
give the same matrix and the same answer; within one technician the slots (and their load costs) are
handed out in order of priority, then ticket id. Costs are integers; scipy's floats stay exact because
every value is an integer below 2**53 (checked).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import numpy as np
from scipy.optimize import linear_sum_assignment

from edge.domain.people import TIERS
from edge.services.sla import CATEGORIES, URGENCIES, PlanningError, target_ms

__all__ = [
    "CERTIFIED_CATEGORIES",
    "DEFAULT_WEIGHTS",
    "DispatchTicket",
    "PlanningError",
    "Proposal",
    "TIERS",
    "Technician",
    "Weights",
    "allowed",
    "dispatch",
    "distance",
    "pair_cost",
    "priority",
    "required_skill",
]

CERTIFIED_CATEGORIES: Final = frozenset({"gas", "electrical"})
"""Categories whose work needs the certification of the same name."""

_EXACT: Final = 2**52
_COORD_LIMIT: Final = 2**40


@dataclass(frozen=True, slots=True)
class DispatchTicket:
    """An open ticket as the dispatcher sees it.

    ``position`` is a point on the community's map in integer units (metres); ``community`` is where
    the ticket is (``None``: the same community as every technician).
    """

    id: str
    code: str
    category: str
    urgency: str
    vulnerable: bool
    reported_ms: int
    position: tuple[int, int] | None = None
    assignee: str | None = None
    community: str | None = None


@dataclass(frozen=True, slots=True)
class Technician:
    """A technician: ``load`` is the number of jobs they hold now."""

    id: str
    name: str
    skills: frozenset[str]
    certs: frozenset[str]
    tier: str
    available: bool
    home: str
    position: tuple[int, int] | None = None
    load: int = 0


@dataclass(frozen=True, slots=True)
class Proposal:
    """Assign ``ticket`` (its id; ``code`` for people) to ``tech`` at integer ``cost``."""

    ticket: str
    tech: str
    cost: int
    code: str
    urgency: str
    priority: int


@dataclass(frozen=True, slots=True)
class Weights:
    """The dispatcher's weights, in integer points (priority) and integer cost units (about metres).

    Raises:
        PlanningError: weights that would break the guarantees in the module docstring.
    """

    urgency: tuple[int, int, int, int] = (4000, 3000, 2000, 1000)
    vulnerable: int = 300
    wait_cap: int = 600
    distance_cap: int = 5000
    unknown_distance: int = 500
    away_distance: int = 3000
    load: int = 200
    volunteer_emergency: int = 1000

    def __post_init__(self) -> None:
        values = (
            *self.urgency,
            *(self.vulnerable, self.wait_cap, self.distance_cap, self.unknown_distance),
            *(self.away_distance, self.load, self.volunteer_emergency),
        )
        if len(self.urgency) != 4 or any(v < 0 for v in values) or min(self.urgency) < 1:
            raise PlanningError(f"weights must be non-negative and urgency weights at least 1, got {self}")
        bonus = self.vulnerable + self.wait_cap
        for i in range(2):
            if self.urgency[i] - self.urgency[i + 2] <= bonus:
                raise PlanningError(
                    f"urgency weights {self.urgency} must differ two levels apart by more than the vulnerable "
                    f"bonus plus the waiting cap ({bonus}), or a P3 could outrank a P1 (a P4 a P2)"
                )
        if any(a <= b for a, b in zip(self.urgency, self.urgency[1:], strict=False)):
            raise PlanningError(f"urgency weights must fall from P1 to P4, got {self.urgency}")


DEFAULT_WEIGHTS: Final = Weights()


def required_skill(category: str) -> str | None:
    """The skill a technician needs for ``category`` (its own id); ``other`` needs none."""
    if category not in CATEGORIES:
        raise PlanningError(f"unknown category {category!r}; categories are {', '.join(CATEGORIES)}")
    return None if category == "other" else category


def priority(ticket: DispatchTicket, now_ms: int, weights: Weights = DEFAULT_WEIGHTS) -> int:
    """Urgency weight + vulnerable bonus + waiting points (``wait_cap`` once the on-site target has passed)."""
    level = URGENCIES.index(ticket.urgency) if ticket.urgency in URGENCIES else -1
    if level < 0:
        raise PlanningError(f"ticket {ticket.id!r}: unknown urgency {ticket.urgency!r}")
    waited = max(0, now_ms - ticket.reported_ms)
    wait = min(weights.wait_cap, waited * weights.wait_cap // target_ms(ticket.urgency, "on_site"))
    return weights.urgency[level] + (weights.vulnerable if ticket.vulnerable else 0) + wait


def allowed(ticket: DispatchTicket, tech: Technician, max_jobs: int = 3) -> bool:
    """The hard constraints: available, below ``max_jobs``, the skill, and the certification if needed."""
    skill = required_skill(ticket.category)
    if not tech.available or tech.load >= max_jobs or (skill is not None and skill not in tech.skills):
        return False
    return ticket.category not in CERTIFIED_CATEGORIES or ticket.category in tech.certs


def distance(ticket: DispatchTicket, tech: Technician, weights: Weights = DEFAULT_WEIGHTS) -> int:
    """Manhattan distance capped at ``distance_cap``; fixed costs when away or a position is unknown."""
    if ticket.community is not None and ticket.community != tech.home:
        return weights.away_distance
    if ticket.position is None or tech.position is None:
        return weights.unknown_distance
    d = abs(ticket.position[0] - tech.position[0]) + abs(ticket.position[1] - tech.position[1])
    return min(d, weights.distance_cap)


def pair_cost(ticket: DispatchTicket, tech: Technician, slot: int, weights: Weights = DEFAULT_WEIGHTS) -> int:
    """Cost of ``ticket`` taking free slot ``slot`` (0 = the first) of ``tech``."""
    tier = weights.volunteer_emergency if tech.tier == "volunteer" and ticket.urgency in ("P1", "P2") else 0
    return distance(ticket, tech, weights) + weights.load * (tech.load + slot) + tier


def _check(tickets: list[DispatchTicket], techs: list[Technician], max_jobs: int) -> None:
    if max_jobs < 1:
        raise PlanningError(f"max_jobs must be at least 1, got {max_jobs}")
    for kind, ids in (("ticket", [t.id for t in tickets]), ("technician", [h.id for h in techs])):
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            raise PlanningError(f"duplicate {kind} ids: {dup}")
    for t in tickets:
        required_skill(t.category)
        if t.urgency not in URGENCIES:
            raise PlanningError(f"ticket {t.id!r}: unknown urgency {t.urgency!r}")
        _check_position(f"ticket {t.id!r}", t.position)
    for h in techs:
        if h.tier not in TIERS:
            raise PlanningError(f"technician {h.id!r}: unknown tier {h.tier!r}; tiers are {', '.join(TIERS)}")
        if h.load < 0:
            raise PlanningError(f"technician {h.id!r}: load must not be negative, got {h.load}")
        _check_position(f"technician {h.id!r}", h.position)


def _check_position(who: str, pos: tuple[int, int] | None) -> None:
    if pos is not None and (len(pos) != 2 or any(abs(c) >= _COORD_LIMIT for c in pos)):
        raise PlanningError(f"{who}: position must be two integers below {_COORD_LIMIT} in size, got {pos}")


def _positions(items: list[DispatchTicket] | list[Technician]) -> tuple[np.ndarray, np.ndarray]:
    known = np.array([it.position is not None for it in items], dtype=bool)
    xy = np.array([it.position if it.position is not None else (0, 0) for it in items], dtype=np.int64)
    return xy.reshape(len(items), 2), known


def _cost_matrix(tickets: list[DispatchTicket], techs: list[Technician], w: Weights) -> np.ndarray:
    """Tickets x technicians: distance + tier term (the load term is added per slot)."""
    txy, tknown = _positions(tickets)
    hxy, hknown = _positions(techs)
    manhattan = np.abs(txy[:, None, 0] - hxy[None, :, 0]) + np.abs(txy[:, None, 1] - hxy[None, :, 1])
    dist = np.where(tknown[:, None] & hknown[None, :], np.minimum(manhattan, w.distance_cap), w.unknown_distance)
    codes: dict[str, int] = {}
    home = np.array([codes.setdefault(h.home, len(codes)) for h in techs], dtype=np.int64)
    where = np.array([-1 if t.community is None else codes.get(t.community, -2) for t in tickets], dtype=np.int64)
    away = (where[:, None] != -1) & (where[:, None] != home[None, :])
    dist = np.where(away, w.away_distance, dist)
    urgent = np.array([t.urgency in ("P1", "P2") for t in tickets], dtype=bool)
    volunteer = np.array([h.tier == "volunteer" for h in techs], dtype=bool)
    return dist + np.where(urgent[:, None] & volunteer[None, :], w.volunteer_emergency, 0)


def _allowed_matrix(tickets: list[DispatchTicket], techs: list[Technician]) -> np.ndarray:
    """Tickets x technicians (already filtered to available ones with a free slot): the skill rules."""
    by_category: dict[str, np.ndarray] = {}
    for category in CATEGORIES:
        skill = required_skill(category)
        by_category[category] = np.array(
            [
                (skill is None or skill in h.skills) and (category not in CERTIFIED_CATEGORIES or category in h.certs)
                for h in techs
            ],
            dtype=bool,
        )
    return np.array([by_category[t.category] for t in tickets], dtype=bool).reshape(len(tickets), len(techs))


@dataclass(frozen=True)
class _Problem:
    """The min-cost assignment ``dispatch`` solves: tickets x slots ``value``, see the module docstring."""

    tickets: list[DispatchTicket]
    techs: list[Technician]
    prio: np.ndarray
    slot_tech: np.ndarray
    allowed: np.ndarray
    value: np.ndarray


def _build(
    tickets: Iterable[DispatchTicket], technicians: Iterable[Technician], now_ms: int, max_jobs: int, w: Weights
) -> _Problem | None:
    """Check the input and build the assignment problem; ``None`` when nothing can be assigned."""
    all_tickets = sorted(tickets, key=lambda t: t.id)
    all_techs = sorted(technicians, key=lambda h: h.id)
    _check(all_tickets, all_techs, max_jobs)
    open_tickets = [t for t in all_tickets if t.assignee is None]
    techs = [h for h in all_techs if h.available and h.load < max_jobs]
    if not open_tickets or not techs:
        return None
    ok = _allowed_matrix(open_tickets, techs)
    rows = np.flatnonzero(ok.any(axis=1))
    cols = np.flatnonzero(ok.any(axis=0))
    if rows.size == 0:
        return None
    tks = [open_tickets[i] for i in rows]
    hs = [techs[j] for j in cols]
    ok = ok[np.ix_(rows, cols)]
    prio = np.array([priority(t, now_ms, w) for t in tks], dtype=np.int64)
    free = np.array([max_jobs - h.load for h in hs], dtype=np.int64)
    slot_tech = np.repeat(np.arange(len(hs)), free)
    slot_k = np.arange(slot_tech.size) - np.repeat(np.cumsum(free) - free, free)
    slot_load = w.load * (np.array([h.load for h in hs], dtype=np.int64)[slot_tech] + slot_k)
    cost = _cost_matrix(tks, hs, w)[:, slot_tech] + slot_load[None, :]
    allowed_slots = ok[:, slot_tech]
    pairs = min(len(tks), slot_tech.size)
    big_m = pairs * int(cost.max()) + 1
    if (big_m * int(prio.max()) + int(cost.max())) * pairs >= _EXACT:
        raise PlanningError(f"{len(tks)} tickets x {slot_tech.size} slots is too large to solve exactly")
    value = np.where(allowed_slots, cost - big_m * prio[:, None], 0).astype(np.float64)
    return _Problem(tks, hs, prio, slot_tech, allowed_slots, value)


def dispatch(
    tickets: Iterable[DispatchTicket],
    technicians: Iterable[Technician],
    now_ms: int,
    *,
    max_jobs: int = 3,
    weights: Weights = DEFAULT_WEIGHTS,
) -> list[Proposal]:
    """Propose assignments for the unassigned tickets (see the module docstring for the rules).

    Args:
        tickets: open tickets; those with an ``assignee`` are skipped.
        technicians: every technician; unavailable ones and those at ``max_jobs`` get nothing.
        now_ms: the clock, for waiting time.
        max_jobs: the most concurrent jobs a technician may hold.
        weights: priority and cost weights.

    Returns:
        Proposals ordered by priority (highest first), then ticket id.

    Raises:
        PlanningError: duplicate ids, an unknown category, urgency or tier, a negative load, a bad
            position, or an instance too large to solve exactly.
    """
    problem = _build(tickets, technicians, now_ms, max_jobs, weights)
    if problem is None:
        return []
    r, c = linear_sum_assignment(problem.value)
    chosen: dict[int, list[int]] = {}
    for i, s in zip(r.tolist(), c.tolist(), strict=True):
        if problem.allowed[i, s]:
            chosen.setdefault(int(problem.slot_tech[s]), []).append(i)
    tks, hs, prio = problem.tickets, problem.techs, problem.prio
    out: list[Proposal] = []
    for j, ticket_rows in chosen.items():
        ticket_rows.sort(key=lambda i: (-int(prio[i]), tks[i].id))
        for k, i in enumerate(ticket_rows):
            t = tks[i]
            out.append(Proposal(t.id, hs[j].id, pair_cost(t, hs[j], k, weights), t.code, t.urgency, int(prio[i])))
    out.sort(key=lambda p: (-p.priority, p.ticket))
    return out
