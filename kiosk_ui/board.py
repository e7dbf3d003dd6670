"""The dispatch board's model: open tickets in priority order with SLA countdowns, conflicts and
the dispatcher's proposals (``edge.services.dispatch``, imported when first needed: it loads scipy).

While the kiosk is offline the proposals shown are the ones the daemon's dispatcher stored
(``Node.stored_proposals``, see ``edge.services.autodispatch``), so staff accept or override exactly what
``linli-edge run`` proposed; otherwise the board computes its own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edge import Node

from .triage import next_due

__all__ = ["BoardRow", "board_rows", "offline_proposals"]


@dataclass(frozen=True)
class BoardRow:
    """One open ticket on the board."""

    ticket: dict[str, Any]
    priority: int
    vulnerable: bool
    assignee_name: str | None
    proposal: str | None
    """The technician id the dispatcher proposes (only for unassigned tickets)."""
    proposal_name: str | None
    due: tuple[str, int] | None
    """The next SLA target and the milliseconds left (negative: overdue)."""

    @property
    def overdue(self) -> bool:
        return self.due is not None and self.due[1] < 0


def offline_proposals(node: Node) -> dict[str, Any] | None:
    """The daemon's stored proposals ``{at, mode, proposals, applied}`` while offline, else ``None``."""
    stored = node.stored_proposals()
    return stored if stored is not None and node.mode() == "offline" else None


def board_rows(node: Node) -> list[BoardRow]:
    """Open tickets, highest priority first (then oldest, then code)."""
    from edge.services.dispatch import DispatchTicket, Technician, dispatch, priority

    now = node.now_ms()
    open_tickets = node.tickets(open_only=True)
    vulnerable = {h["id"]: bool(h["vulnerable"]) for h in node.households()}
    techs = node.techs()
    names = {t["id"]: str(t["name"]) for t in techs}
    load: dict[str, int] = {}
    for t in open_tickets:
        if t["assignee"]:
            load[t["assignee"]] = load.get(t["assignee"], 0) + 1
    planned = [
        DispatchTicket(
            id=str(t["id"]),
            code=str(t["code"]),
            category=str(t["category"]),
            urgency=str(t["urgency"]),
            vulnerable=vulnerable.get(str(t["household"] or ""), False),
            reported_ms=int(t["reported_ms"] or now),
            assignee=t["assignee"],
        )
        for t in open_tickets
    ]
    technicians = [
        Technician(
            id=str(h["id"]),
            name=str(h["name"]),
            skills=frozenset(h["skills"]),
            certs=frozenset(h["certs"]),
            tier=str(h["tier"]),
            available=(h["status"] or "available") == "available",
            home=str(h["home"]),
            position=(int(h["pos"][0]), int(h["pos"][1])) if h["pos"] else None,
            load=load.get(str(h["id"]), 0),
        )
        for h in techs
    ]
    stored = offline_proposals(node)
    if stored is not None:
        proposals = {str(p["ticket_id"]): str(p["tech"]) for p in stored["proposals"]}
    else:
        proposals = {p.ticket: p.tech for p in dispatch(planned, technicians, now)}
    rows = []
    for t, d in zip(open_tickets, planned, strict=True):
        tech = proposals.get(d.id)
        rows.append(
            BoardRow(
                ticket=t,
                priority=priority(d, now),
                vulnerable=d.vulnerable,
                assignee_name=names.get(t["assignee"]) if t["assignee"] else None,
                proposal=tech,
                proposal_name=names.get(tech) if tech else None,
                due=next_due(t, now),
            )
        )
    rows.sort(key=lambda r: (-r.priority, int(r.ticket["reported_ms"] or 0), str(r.ticket["code"])))
    return rows
