"""Tool lending and shared-facility bookings in a community scope (issue [07]).

Loans: ``tool.lend`` (a tool, a household, a due date) and ``tool.return``; the stock of the tool
moves by ``stock.issue``/``stock.receive`` written in the same transaction, so a tool is lent only
within this device's rights. A loan is open until a return is seen; overdue = open past its due date.

Bookings: ``booking.make`` for a facility and slot, ``booking.cancel``. Two kiosks booking the same
slot while partitioned both write their op; when they merge, the booking with the lowest
``(hlc, dev, id)`` keeps the slot (first come, first served, as the clocks saw it) and the other is
shown as ``bumped``, with a notice to its household. This is decided when reading, from the set of
booking ops alone, so every replica agrees whatever order the ops arrived in.
"""

from __future__ import annotations

import sqlite3
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from crdt.op import Op
from edge.domain.fields import Name, OptShort, Sku, Unit
from edge.store.optypes import Payload, register
from edge.store.views import lww_set

__all__ = ["BookingMake", "ToolLend", "bookings", "loans"]

Slot = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$")]


class ToolLend(Payload):
    sku: Sku
    household: Unit
    due_ms: int = Field(ge=0)
    note: OptShort = ""


class ToolReturn(Payload):
    note: OptShort = ""


class BookingMake(Payload):
    facility: Name
    slot: Slot
    household: Unit


class BookingCancel(Payload):
    reason: OptShort = ""


@register("tool.lend", ToolLend)
def _lend(conn: sqlite3.Connection, op: Op, p: ToolLend) -> None:
    lww_set(
        conn,
        "loans",
        {"id": op.obj},
        {"sku": p.sku, "household": p.household, "due_ms": p.due_ms, "lent_ms": op.hlc[0], "note": p.note},
        op,
        scope=op.scope,
    )


@register("tool.return", ToolReturn)
def _return(conn: sqlite3.Connection, op: Op, p: ToolReturn) -> None:
    lww_set(conn, "loans", {"id": op.obj}, {"returned_ms": op.hlc[0]}, op, scope=op.scope)


@register("booking.make", BookingMake)
def _book(conn: sqlite3.Connection, op: Op, p: BookingMake) -> None:
    # Should two ops name one booking id, the lowest (stamp, content) keeps it, whatever arrives first.
    conn.execute(
        "INSERT INTO bookings (id, scope, facility, slot, household, wall, counter, dev) VALUES (?,?,?,?,?,?,?,?) "
        "ON CONFLICT (id) DO UPDATE SET facility=excluded.facility, slot=excluded.slot, "
        "household=excluded.household, wall=excluded.wall, counter=excluded.counter, dev=excluded.dev "
        "WHERE scope = excluded.scope AND (excluded.wall, excluded.counter, excluded.dev, excluded.facility, "
        "excluded.slot, excluded.household) < (wall, counter, dev, facility, slot, household)",
        (op.obj, op.scope, p.facility, p.slot, p.household, op.hlc[0], op.hlc[1], op.dev),
    )


@register("booking.cancel", BookingCancel)
def _cancel(conn: sqlite3.Connection, op: Op, p: BookingCancel) -> None:
    conn.execute("INSERT OR IGNORE INTO booking_cancels (id, scope) VALUES (?, ?)", (op.obj, op.scope))


_LOAN = ("id", "sku", "household", "due_ms", "lent_ms", "returned_ms", "note")


def loans(
    conn: sqlite3.Connection, scope: str, *, open_only: bool = False, overdue_at: int | None = None
) -> list[dict[str, Any]]:
    """Loans of ``scope``; ``open_only`` for unreturned; ``overdue_at`` for unreturned and past due then."""
    sql = f"SELECT {', '.join(_LOAN)} FROM loans WHERE scope=? AND sku IS NOT NULL"
    args: list[Any] = [scope]
    if open_only or overdue_at is not None:
        sql += " AND returned_ms IS NULL"
    if overdue_at is not None:
        sql += " AND due_ms < ?"
        args.append(overdue_at)
    return [dict(zip(_LOAN, r, strict=True)) for r in conn.execute(sql + " ORDER BY due_ms, id", args)]


def bookings(conn: sqlite3.Connection, scope: str, facility: str | None = None) -> list[dict[str, Any]]:
    """Bookings with ``status`` ``confirmed``, ``bumped`` (lost a concurrent booking) or ``cancelled``."""
    sql = (
        "SELECT b.id, b.facility, b.slot, b.household, b.wall, b.counter, b.dev, "
        "EXISTS (SELECT 1 FROM booking_cancels c WHERE c.id=b.id) FROM bookings b WHERE b.scope=?"
    )
    args: list[Any] = [scope]
    if facility is not None:
        sql += " AND b.facility=?"
        args.append(facility)
    rows = conn.execute(sql + " ORDER BY b.facility, b.slot, b.wall, b.counter, b.dev, b.id", args).fetchall()
    out: list[dict[str, Any]] = []
    holder: dict[tuple[str, str], dict[str, Any]] = {}
    for bid, fac, slot, hh, wall, _c, _d, cancelled in rows:
        entry = {"id": bid, "facility": fac, "slot": slot, "household": hh, "made_ms": wall}
        if cancelled:
            entry["status"] = "cancelled"
        elif (fac, slot) in holder:
            entry["status"] = "bumped"
            entry["bumped_by"] = holder[(fac, slot)]["id"]
        else:
            entry["status"] = "confirmed"
            holder[(fac, slot)] = entry
        out.append(entry)
    return out
