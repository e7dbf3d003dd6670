"""Reads for a public view of tickets (Open311 at the district): what may leave the node, and no more.

``PublicTicket`` carries a ticket's id, scope, category, urgency, stage and times only: never the unit,
the household, the contact, the triage answers, the description or the comments.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["CLOSED_STAGES", "PublicTicket", "public_ticket", "public_tickets"]

CLOSED_STAGES = ("resolved", "closed", "cancelled")

_SELECT = (
    "SELECT t.id, t.scope, t.category, t.urgency, t.reported_ms, t.epoch, t.stage, t.hold_reason, "
    "t.close_reason, t.hold_since, (SELECT MAX(s.wall) FROM ticket_stages s WHERE s.ticket = t.id) "
    "FROM tickets t WHERE t.code != ''"
)


@dataclass(frozen=True, slots=True)
class PublicTicket:
    """A ticket without anything personal: ``last_stage_ms`` is the time of its latest stage, if any."""

    id: str
    scope: str
    category: str
    urgency: str
    reported_ms: int
    epoch: int
    stage: str
    hold_reason: str | None
    close_reason: str | None
    hold_since: int | None
    last_stage_ms: int | None

    @property
    def closed(self) -> bool:
        return self.stage in CLOSED_STAGES


def _ticket(r: tuple[Any, ...]) -> PublicTicket:
    tid, scope, category, urgency, reported, epoch, stage, hold, close, since, last = r
    return PublicTicket(
        str(tid),
        str(scope),
        str(category),
        str(urgency),
        int(reported),
        int(epoch),
        str(stage),
        None if hold is None else str(hold),
        None if close is None else str(close),
        None if since is None else int(since),
        None if last is None else int(last),
    )


def public_ticket(conn: sqlite3.Connection, ticket_id: str) -> PublicTicket | None:
    """The ticket ``ticket_id`` (not a draft without a code), or ``None``."""
    row = conn.execute(_SELECT + " AND t.id = ?", (ticket_id,)).fetchone()
    return None if row is None else _ticket(row)


def public_tickets(
    conn: sqlite3.Connection,
    *,
    limit: int,
    ids: Sequence[str] = (),
    reported_from: int | None = None,
    reported_to: int | None = None,
    categories: Sequence[str] = (),
    status: Literal["open", "closed"] | None = None,
) -> list[PublicTicket]:
    """Tickets newest first, at most ``limit``: those of ``ids`` when given (the other filters are then
    ignored), else those reported in ``[reported_from, reported_to]``, of ``categories`` (all when empty)
    and of ``status`` (``open``: not resolved, closed or cancelled; ``None``: both)."""
    sql = _SELECT
    args: list[object] = []
    if ids:
        sql += f" AND t.id IN ({','.join('?' for _ in ids)})"
        args += ids
    else:
        if reported_from is not None:
            sql += " AND t.reported_ms >= ?"
            args.append(reported_from)
        if reported_to is not None:
            sql += " AND t.reported_ms <= ?"
            args.append(reported_to)
        if categories:
            sql += f" AND t.category IN ({','.join('?' for _ in categories)})"
            args += categories
        if status is not None:
            marks = ",".join("?" for _ in CLOSED_STAGES)
            sql += f" AND t.stage {'NOT IN' if status == 'open' else 'IN'} ({marks})"
            args += CLOSED_STAGES
    sql += " ORDER BY t.reported_ms DESC, t.id DESC LIMIT ?"
    args.append(limit)
    return [_ticket(r) for r in conn.execute(sql, args)]
