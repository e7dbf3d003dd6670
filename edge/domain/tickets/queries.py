"""Tickets as the views hold them: one ticket, a community's list, stage times, notes and holds."""

from __future__ import annotations

import json
import sqlite3
from typing import Any, TypedDict

from edge.errors import AmbiguousTicket

__all__ = [
    "Assign",
    "Note",
    "Ticket",
    "TicketDetail",
    "find",
    "holds",
    "list_tickets",
    "notes",
    "stage_times",
    "ticket_row",
]


class Ticket(TypedDict):
    """A ticket as the views hold it (``status`` is ``stage`` again, under the name callers show)."""

    id: str
    scope: str
    code: str
    unit: str
    category: str
    urgency: str
    text: str
    contact: str
    household: str | None
    answers: dict[str, bool]
    reported_ms: int
    epoch: int
    stage: str
    assignee: str | None
    conflict: bool
    hold_reason: str | None
    hold_since: int | None
    close_reason: str | None
    rating: int | None
    status: str


class Note(TypedDict):
    """A comment, photo, part used, hold or rating comment of a ticket."""

    kind: str
    text: str
    sku: str | None
    qty: int | None
    actor: str | None
    wall: int


class Assign(TypedDict):
    """A live (not superseded) assign: its op hash, the technician and its wall time."""

    op: str
    tech: str
    wall: int


class TicketDetail(Ticket):
    """A ticket with ``stage_times`` (``"epoch:stage"`` -> first wall time), notes and live assigns."""

    stage_times: dict[str, int]
    notes: list[Note]
    assigns: list[Assign]


_NAMES = (
    "id",
    "scope",
    "code",
    "unit",
    "category",
    "urgency",
    "text",
    "contact",
    "household",
    "answers",
    "reported_ms",
    "epoch",
    "stage",
    "assignee",
    "conflict",
    "hold_reason",
    "hold_since",
    "close_reason",
    "rating",
)
# The close reason belongs to its epoch: a reopened ticket shows none until it is closed again.
_COLS = ", ".join("CASE WHEN close_epoch IS epoch THEN close_reason END" if n == "close_reason" else n for n in _NAMES)


def ticket_row(row: sqlite3.Row | tuple[Any, ...]) -> Ticket:
    """A ``tickets`` row (the columns of ``_COLS``) as a :class:`Ticket`."""
    d = dict(zip(_NAMES, row, strict=True))
    return Ticket(
        id=d["id"],
        scope=d["scope"],
        code=d["code"],
        unit=d["unit"],
        category=d["category"],
        urgency=d["urgency"],
        text=d["text"],
        contact=d["contact"],
        household=d["household"],
        answers=json.loads(d["answers"]),
        reported_ms=d["reported_ms"],
        epoch=d["epoch"],
        stage=d["stage"],
        assignee=d["assignee"],
        conflict=bool(d["conflict"]),
        hold_reason=d["hold_reason"],
        hold_since=d["hold_since"],
        close_reason=d["close_reason"],
        rating=d["rating"],
        status=d["stage"],
    )


def find(conn: sqlite3.Connection, ref: str, scopes: list[str] | None = None) -> Ticket | None:
    """A ticket by id or short code (case-insensitive), or ``None``."""
    ref = ref.strip()
    row = conn.execute(f"SELECT {_COLS} FROM tickets WHERE id=? AND code != ''", (ref,)).fetchone()
    if row is None:
        rows = conn.execute(f"SELECT {_COLS} FROM tickets WHERE code=? ORDER BY id", (ref.upper(),)).fetchall()
        found = [t for t in map(ticket_row, rows) if scopes is None or t["scope"] in scopes]
        if len(found) > 1:
            # Never show one household's ticket for another's code: refuse, naming no ticket.
            raise AmbiguousTicket(f"the code {ref.upper()!r} names {len(found)} tickets here; look it up by its id")
        return found[0] if found else None
    t = ticket_row(row)
    if scopes is not None and t["scope"] not in scopes:
        return None
    return t


def list_tickets(conn: sqlite3.Connection, scope: str | None, open_only: bool = False) -> list[Ticket]:
    """Tickets of ``scope`` (all scopes for ``None``), newest first."""
    sql = f"SELECT {_COLS} FROM tickets WHERE code != ''"
    args: list[Any] = []
    if scope is not None:
        sql += " AND scope=?"
        args.append(scope)
    if open_only:
        sql += " AND stage NOT IN ('resolved', 'closed', 'cancelled')"
    sql += " ORDER BY reported_ms DESC, id DESC"
    return [ticket_row(r) for r in conn.execute(sql, args)]


def stage_times(conn: sqlite3.Connection, ticket: str) -> dict[tuple[int, str], int]:
    """First HLC wall time each ``(epoch, stage)`` was reached."""
    rows = conn.execute("SELECT epoch, stage, wall FROM ticket_stages WHERE ticket=?", (ticket,))
    return {(int(e), str(s)): int(w) for e, s, w in rows}


def notes(conn: sqlite3.Connection, ticket: str) -> list[Note]:
    """The ticket's notes in time order."""
    rows = conn.execute(
        "SELECT kind, text, sku, qty, actor, wall FROM ticket_notes WHERE ticket=? ORDER BY wall, counter, dev, op",
        (ticket,),
    )
    return [Note(kind=k, text=t, sku=s, qty=q, actor=a, wall=w) for k, t, s, q, a, w in rows]


def holds(conn: sqlite3.Connection, ticket: str) -> list[tuple[str, int]]:
    """``(reason or 'released', wall)`` hold events in the full LWW order ``(wall, counter, dev, op hash)``.

    So a hold and its release written in one millisecond (the HLC counter orders them) are read in the
    order they were written, and the last event is the one the ticket's ``hold_reason`` shows.
    """
    rows = conn.execute(
        "SELECT text, wall FROM ticket_notes WHERE ticket=? AND kind='hold' ORDER BY wall, counter, dev, op",
        (ticket,),
    )
    return [(str(t), int(w)) for t, w in rows]
