"""The one builder of the dispatcher's inputs, and the proposals made from them.

:func:`build_inputs` turns a community's views into the pure inputs of :mod:`edge.services.dispatch`:
every open ticket as a :class:`~edge.services.dispatch.DispatchTicket` (vulnerable when its household is
registered vulnerable or the reporter answered ``elderly_alone``), and as
:class:`~edge.services.dispatch.Technician` s the community's own technicians plus the district's
shared-pool technicians **lent to this community now** (a shared technician not lent here is never
proposed), each with its load of open assigned tickets. Tickets on hold get a priority but no proposal.

``Node.propose``, ``Node.apply_dispatch``, ``Node.dispatch_plan`` (the kiosk's dispatch board), the
daemon's rounds (:mod:`edge.services.autodispatch`) and ``linli-edge dispatch`` all go through here, so
they propose the same technicians for the same node. ``edge.services.dispatch`` is imported when first
needed: it loads scipy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

from edge.domain import people, tickets, transfers
from edge.domain.context import Context
from edge.errors import InvalidTransition, UnknownEntity

if TYPE_CHECKING:
    from edge.services.dispatch import DispatchTicket, Proposal, Technician

__all__ = ["DispatchInputs", "DispatchPlan", "TicketPriority", "apply", "build_inputs", "plan", "propose"]

MAX_JOBS = 3
"""Open jobs a technician may hold at once (the default of ``linli-edge dispatch --max-jobs``)."""


@dataclass(frozen=True)
class DispatchInputs:
    """The dispatcher's view of one community at one moment."""

    tickets: list[DispatchTicket]
    """Every open ticket of the community, on hold or not."""
    held: frozenset[str]
    """Ids of the open tickets on hold: they are never proposed."""
    techs: list[Technician]
    """The community's technicians and the district's lent to it now."""

    @property
    def dispatchable(self) -> list[DispatchTicket]:
        """The open tickets not on hold."""
        return [t for t in self.tickets if t.id not in self.held]


class TicketPriority(TypedDict):
    """An open ticket's place in the dispatcher's order and whether its household is vulnerable."""

    priority: int
    vulnerable: bool


class DispatchPlan(TypedDict):
    """The proposals (as :func:`propose` gives them) and the priority of every open ticket by id."""

    proposals: list[dict[str, Any]]
    priorities: dict[str, TicketPriority]


def build_inputs(ctx: Context) -> DispatchInputs:
    """The dispatcher's inputs for ``ctx``'s community from its views (see the module docstring)."""
    from edge.services.dispatch import DispatchTicket, Technician  # scipy loads only when dispatching

    conn = ctx.conn
    open_tickets = tickets.list_tickets(conn, ctx.community, open_only=True)
    flags = {h["id"]: bool(h["vulnerable"]) for h in people.list_households(conn, ctx.community)}
    load: dict[str, int] = {}
    for t in open_tickets:
        if t["assignee"]:
            load[t["assignee"]] = load.get(t["assignee"], 0) + 1
    lent = transfers.lent_techs(conn, ctx.community, ctx.now_ms())
    techs = []
    for tech in people.list_techs(conn, [ctx.community, "district"]):
        if tech["scope"] == "district" and tech["id"] not in lent:
            continue
        techs.append(
            Technician(
                id=tech["id"],
                name=tech["name"],
                skills=frozenset(tech["skills"]),
                certs=frozenset(tech["certs"]),
                tier=tech["tier"],
                available=tech["status"] == "available",
                home=tech["home"],
                position=(tech["pos"][0], tech["pos"][1]) if tech["pos"] else None,
                load=load.get(tech["id"], 0),
            )
        )
    tix = [
        DispatchTicket(
            id=t["id"],
            code=t["code"],
            category=t["category"],
            urgency=t["urgency"],
            vulnerable=flags.get(t["household"] or "", False) or bool(t["answers"].get("elderly_alone")),
            reported_ms=t["reported_ms"],
            assignee=t["assignee"],
            community=t["scope"],
        )
        for t in open_tickets
    ]
    held = frozenset(t["id"] for t in open_tickets if t["hold_reason"] is not None)
    return DispatchInputs(tix, held, techs)


def _row(p: Proposal, names: dict[str, str]) -> dict[str, Any]:
    return {
        "ticket": p.code,
        "ticket_id": p.ticket,
        "tech": p.tech,
        "tech_name": names.get(p.tech, p.tech),
        "cost": p.cost,
        "urgency": p.urgency,
        "priority": p.priority,
    }


def _propose(inputs: DispatchInputs, now_ms: int, max_jobs: int) -> list[dict[str, Any]]:
    from edge.services.dispatch import dispatch

    names = {t.id: t.name for t in inputs.techs}
    return [_row(p, names) for p in dispatch(inputs.dispatchable, inputs.techs, now_ms, max_jobs=max_jobs)]


def propose(ctx: Context, max_jobs: int = MAX_JOBS) -> list[dict[str, Any]]:
    """The dispatcher's proposals for open, unassigned tickets: ``[{ticket, ticket_id, tech, ...}]``."""
    return _propose(build_inputs(ctx), ctx.now_ms(), max_jobs)


def plan(ctx: Context, max_jobs: int = MAX_JOBS) -> DispatchPlan:
    """:func:`propose`'s proposals and every open ticket's priority, from one reading of the views."""
    from edge.services.dispatch import priority

    inputs = build_inputs(ctx)
    now = ctx.now_ms()
    return DispatchPlan(
        proposals=_propose(inputs, now, max_jobs),
        priorities={t.id: TicketPriority(priority=priority(t, now), vulnerable=t.vulnerable) for t in inputs.tickets},
    )


def apply(ctx: Context, proposals: list[dict[str, Any]] | None, *, actor: str) -> list[dict[str, Any]]:
    """Write ``proposals`` (fresh ones if ``None``) as assign ops by ``actor``; returns those written.

    A proposal whose ticket was assigned, resolved or closed since it was made, or whose technician is
    gone, is skipped (checked inside each assign's transaction): the dispatcher never takes a ticket
    from whoever assigned it.
    """
    chosen = propose(ctx) if proposals is None else proposals
    done = []
    for p in chosen:
        try:
            tickets.assign(ctx, p["ticket_id"], p["tech"], actor=actor, if_unassigned=True)
        except (InvalidTransition, UnknownEntity):
            continue
        done.append(p)
    return done
