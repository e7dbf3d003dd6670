"""Facade methods for running the service (issue [05]): the local dispatcher and KPIs.

These turn the store's views into the pure inputs of ``edge.services.dispatch`` and ``edge.services.kpi`` — one
module each for the CLI, the kiosk's staff screens, the daemon and the district report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edge.domain import people, tickets
from edge.domain.tickets import STAGES
from edge.errors import InputError, InvalidTransition, UnknownEntity
from edge.services import autodispatch
from edge.services import kpi as _kpi

if TYPE_CHECKING:
    from edge.services.dispatch import DispatchTicket, Proposal, Technician
    from edge.store import Store

__all__ = ["Operations", "ticket_times"]

DAY_MS = 24 * 3600 * 1000
PERIODS = {"day": DAY_MS, "week": 7 * DAY_MS, "month": 30 * DAY_MS, "quarter": 91 * DAY_MS, "year": 365 * DAY_MS}


def _holds(conn: Any, ticket: str) -> tuple[_kpi.Hold, ...]:
    """Hold intervals of a ticket from its hold events (a new hold ends the one before)."""
    out: list[_kpi.Hold] = []
    current: tuple[str, int] | None = None
    for reason, wall in tickets.holds(conn, ticket):
        if current is not None:
            out.append(_kpi.Hold(current[0], current[1], wall))
            current = None
        if reason != "released":
            current = (reason, wall)
    if current is not None:
        out.append(_kpi.Hold(current[0], current[1], None))
    return tuple(out)


def ticket_times(conn: Any, scope: str | None) -> list[_kpi.TicketTimes]:
    """Every ticket of ``scope`` (all for ``None``) as KPI input."""
    skewed = {d for (d,) in conn.execute("SELECT dev FROM flags WHERE flag='clock_skew'")}
    creators = dict(conn.execute("SELECT obj, dev FROM ops WHERE type='ticket.create'").fetchall())
    out = []
    for t in tickets.list_tickets(conn, scope):
        stages = tickets.stage_times(conn, t["id"])
        walls = [stages[k] for k in sorted(stages, key=lambda k: (k[0], STAGES.index(k[1])))]
        unreliable = creators.get(t["id"]) in skewed or walls != sorted(walls)
        out.append(
            _kpi.TicketTimes(
                id=t["id"],
                urgency=t["urgency"],
                category=t["category"],
                community=t["scope"],
                reported_ms=t["reported_ms"],
                stage_times=stages,
                reopens=t["epoch"],
                holds=_holds(conn, t["id"]),
                rating=t["rating"],
                clock_unreliable=unreliable,
            )
        )
    return out


class Operations:
    """Mixin of ``Node``: dispatcher proposals and KPIs."""

    store: Store
    community: str

    def now_ms(self) -> int:
        return self.store.wall()

    def _dispatch_inputs(self) -> tuple[list[DispatchTicket], list[Technician]]:
        from edge.services.dispatch import DispatchTicket, Technician  # scipy loads only when dispatching

        conn = self.store.conn
        open_tickets = tickets.list_tickets(conn, self.community, open_only=True)
        flags = {h["id"]: bool(h["vulnerable"]) for h in people.list_households(conn, self.community)}
        load: dict[str, int] = {}
        for t in open_tickets:
            if t["assignee"]:
                load[t["assignee"]] = load.get(t["assignee"], 0) + 1
        lent = self.lent_techs() if hasattr(self, "lent_techs") else {}
        techs = []
        for tech in people.list_techs(conn, [self.community, "district"]):
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
            if t["hold_reason"] is None
        ]
        return tix, techs

    def propose(self, max_jobs: int = 3) -> list[dict[str, Any]]:
        """The dispatcher's proposals for open, unassigned tickets: ``[{ticket, tech, cost, ...}]``."""
        from edge.services.dispatch import dispatch

        tix, techs = self._dispatch_inputs()
        names = {t.id: t.name for t in techs}
        return [self._proposal(p, names) for p in dispatch(tix, techs, self.now_ms(), max_jobs=max_jobs)]

    @staticmethod
    def _proposal(p: Proposal, names: dict[str, str]) -> dict[str, Any]:
        return {
            "ticket": p.code,
            "ticket_id": p.ticket,
            "tech": p.tech,
            "tech_name": names.get(p.tech, p.tech),
            "cost": p.cost,
            "urgency": p.urgency,
            "priority": p.priority,
        }

    def apply_dispatch(
        self, proposals: list[dict[str, Any]] | None = None, *, actor: str = "dispatcher"
    ) -> list[dict[str, Any]]:
        """Write the proposals (fresh ones if none given) as assign ops with actor ``dispatcher``.

        A proposal whose ticket was assigned, resolved or closed since it was made, or whose technician is
        gone, is skipped (checked inside each assign's transaction): the dispatcher never takes a ticket
        from whoever assigned it. Returns the proposals written.
        """
        chosen = self.propose() if proposals is None else proposals
        done = []
        for p in chosen:
            try:
                self.assign(p["ticket_id"], p["tech"], actor=actor, if_unassigned=True)  # type: ignore[attr-defined]
            except (InvalidTransition, UnknownEntity):
                continue
            done.append(p)
        return done

    # --- the daemon's dispatcher rounds (edge.services.autodispatch) ---------------------------------------------
    def auto_dispatch(self) -> bool:
        """Whether this node's daemon applies the dispatcher's proposals on its own in emergency mode."""
        return autodispatch.auto_dispatch(self.store)

    def set_auto_dispatch(self, on: bool) -> dict[str, Any]:
        """Turn the daemon's own assigning in emergency mode on or off (a setting of this device)."""
        return autodispatch.set_auto_dispatch(self.store, on)

    def stored_proposals(self) -> dict[str, Any] | None:
        """The proposals the daemon stored for the staff board: ``{at, mode, proposals, applied}`` or ``None``."""
        return autodispatch.stored_proposals(self.store)

    def dispatch_round(self, mode: str | None = None) -> autodispatch.DispatchRound:
        """One round of the daemon's dispatcher in ``mode`` (default the current one)."""
        return autodispatch.dispatch_round(self, mode)  # type: ignore[arg-type]

    def kpi(self, period: str = "month", *, end_ms: int | None = None, all_scopes: bool = False) -> dict[str, Any]:
        """KPIs for the last ``period`` (day, week, month, quarter, year) up to ``end_ms`` (now)."""
        if period not in PERIODS:
            raise InputError(f"period {period!r} is not one of {', '.join(PERIODS)}")
        end = self.now_ms() if end_ms is None else end_ms
        start = end - PERIODS[period]
        times = ticket_times(self.store.conn, None if all_scopes else self.community)
        result = _kpi.kpis(
            times, start, end + 1, now_ms=self.now_ms(), community=None if all_scopes else self.community
        )
        result["period_name"] = period
        return result
