"""The dispatch board's model: open tickets in priority order with SLA countdowns, conflicts and
the dispatcher's proposals (``Node.dispatch_plan``).

While the kiosk is offline the proposals shown are the ones the daemon's dispatcher stored
(``Node.stored_proposals``), so staff accept or override exactly what ``linli-edge run`` proposed;
otherwise they are the ones ``Node.propose`` (and ``linli-edge dispatch``) gives now."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edge import Node, Ticket, TicketPriority

from .triage import next_due

__all__ = ["BoardRow", "board_rows", "offline_proposals"]


@dataclass(frozen=True)
class BoardRow:
    """One open ticket on the board."""

    ticket: Ticket
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
    """Open tickets, highest priority first (then oldest, then code).

    Priorities and proposals come from ``Node.dispatch_plan``, the same builder of the dispatcher's
    inputs ``linli-edge dispatch`` uses, so the board proposes what the CLI proposes (and never a
    district technician who is not lent to this community).
    """
    now = node.now_ms()
    open_tickets = node.tickets(open_only=True)
    names = {t["id"]: str(t["name"]) for t in node.techs()}
    plan = node.dispatch_plan()
    stored = offline_proposals(node)
    chosen = plan["proposals"] if stored is None else stored["proposals"]
    proposals = {str(p["ticket_id"]): str(p["tech"]) for p in chosen}
    rows = []
    for t in open_tickets:
        tech = proposals.get(t["id"])
        ranked = plan["priorities"].get(t["id"], TicketPriority(priority=0, vulnerable=False))
        rows.append(
            BoardRow(
                ticket=t,
                priority=ranked["priority"],
                vulnerable=ranked["vulnerable"],
                assignee_name=names.get(t["assignee"]) if t["assignee"] else None,
                proposal=tech,
                proposal_name=names.get(tech) if tech else None,
                due=next_due(t, now),
            )
        )
    rows.sort(key=lambda r: (-r.priority, int(r.ticket["reported_ms"] or 0), str(r.ticket["code"])))
    return rows
