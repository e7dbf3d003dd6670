"""Tool lending and shared-facility bookings in a community scope.

Loans: ``tool.lend`` (a tool, a household, a due date) and ``tool.return``; the stock of the tool
moves by ``stock.issue``/``stock.receive`` written in the same transaction, so a tool is lent only
within this device's rights. A loan is open until a return is seen; overdue = open past its due date.

Bookings: ``booking.make`` for a facility and slot, ``booking.cancel``. Two kiosks booking the same
slot while partitioned both write their op; when they merge, the booking with the lowest
``(hlc, dev, id)`` keeps the slot (first come, first served, as the clocks saw it) and the other is
shown as ``bumped``, with a notice to its household. This is decided when reading, from the set of
booking ops alone, so every replica agrees whatever order the ops arrived in.

Op types (scope: the community), with their merge rule and invariant:

- ``tool.lend``, ``tool.return``: LWW fields of the loan; a loan is open until a return is seen. A
  tool is lent only within the writing device's stock rights (its ``stock.issue`` is checked and
  written in the same transaction), so no more tools are out than were on hand. The stock ops carry
  the lifecycle keys ``lend <loan>`` and ``return <loan>`` (``stock.py``): a loan returned on two
  kiosks while they were partitioned puts one tool back, not two.
- ``booking.make``: a grow-only set of bookings; the slot's holder is the lowest ``(hlc, dev, id)``
  not cancelled, so exactly one booking per slot is ``confirmed`` on every replica.
- ``booking.cancel``: a grow-only set of cancelled ``(id, scope)``; a cancel frees a booking only of
  its own scope (a cancel is final).

Every command below reads the loan or the slot through the transaction that writes its op, so the
kiosk UI and the daemon on one kiosk cannot both pass a rule only one may (one return, one booking).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from crdt.ids import new_ulid
from crdt.op import Op
from edge.domain import inputs, people, stock
from edge.domain.context import Context
from edge.domain.fields import Name, OptShort, Sku, Unit
from edge.errors import InputError, InsufficientRights, InvalidTransition, UnknownEntity
from edge.store.optypes import Payload, register
from edge.store.views import lww_set, rights

__all__ = [
    "BookingMake",
    "ToolLend",
    "book",
    "bookings",
    "cancel_booking",
    "get_loan",
    "lend_tool",
    "loans",
    "return_tool",
]

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
    # Keyed by scope too: a cancel naming another scope's booking id frees nothing there.
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
        "EXISTS (SELECT 1 FROM booking_cancels c WHERE c.id=b.id AND c.scope=b.scope) FROM bookings b WHERE b.scope=?"
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


# --- commands ---------------------------------------------------------------------------------
def _household(ctx: Context, household: str) -> None:
    if people.find_household(ctx.conn, ctx.community, household) is None:
        raise UnknownEntity(f"no household {household!r} in community {ctx.community}")


def get_loan(ctx: Context, loan: str) -> dict[str, Any]:
    """A tool loan of this community.

    Raises:
        UnknownEntity: none.
    """
    return _loan(ctx.conn, ctx.community, loan)


def _loan(conn: sqlite3.Connection, community: str, loan: str) -> dict[str, Any]:
    for entry in loans(conn, community):
        if entry["id"] == loan:
            return entry
    raise UnknownEntity(f"no loan {loan!r}")


def lend_tool(ctx: Context, sku: str, household: str, days: int = 7, *, actor: str | None = None) -> dict[str, Any]:
    """Lend a tool to a household (within this device's stock rights), due in ``days``.

    Raises:
        UnknownEntity: no such tool or household; InputError: ``days`` not 1 to 60;
        InsufficientRights: this device has none of the tool to lend.
    """
    item = stock.find_item(ctx.conn, sku, [ctx.community, "district"])
    if item is None or item["kind"] != "tool":
        raise UnknownEntity(f"no tool with sku {sku!r}")
    _household(ctx, household)
    if not 1 <= days <= 60:
        raise InputError(f"a loan lasts 1 to 60 days, not {days}")
    loan = new_ulid(ctx.now_ms())
    with ctx.store.tx() as tx:
        held = rights(tx.conn, "stock", ctx.community, sku, ctx.dev)
        if held < 1:
            raise InsufficientRights(f"no {sku} on hand to lend (this device may issue {held})")
        out = {"sku": sku, "qty": 1, "household": household, "reason": f"loan {loan}", "once": f"lend {loan}"}
        tx.emit(ctx.community, "stock.issue", sku, out, actor)
        due = ctx.now_ms() + days * inputs.DAY_MS
        tx.emit(ctx.community, "tool.lend", loan, {"sku": sku, "household": household, "due_ms": due}, actor)
    return get_loan(ctx, loan)


def return_tool(ctx: Context, loan: str, *, actor: str | None = None) -> dict[str, Any]:
    """Take a lent tool back into stock.

    Raises:
        UnknownEntity: no such loan; InvalidTransition: returned already.
    """
    with ctx.store.tx() as tx:
        entry = _loan(tx.conn, ctx.community, loan)
        if entry["returned_ms"] is not None:
            raise InvalidTransition(f"loan {loan} was already returned")
        tx.emit(ctx.community, "tool.return", loan, {}, actor)
        # The tool goes back into the rights of the device that lent it, whichever kiosk takes it back.
        lender = json.loads(tx.conn.execute("SELECT stamps FROM loans WHERE id=?", (loan,)).fetchone()[0])["sku"][2]
        back = {"sku": entry["sku"], "qty": 1, "reason": f"return {loan}", "once": f"return {loan}"}
        back["rights_to"] = lender
        tx.emit(ctx.community, "stock.receive", entry["sku"], back, actor)
    return get_loan(ctx, loan)


def book(ctx: Context, facility: str, slot: str, household: str, *, actor: str | None = None) -> dict[str, Any]:
    """Book a facility slot (``YYYY-MM-DDTHH:MM``); refused if this node already sees it taken.

    Raises:
        UnknownEntity: no such household; InvalidTransition: the slot is taken.
    """
    _household(ctx, household)
    bid = new_ulid(ctx.now_ms())
    with ctx.store.tx() as tx:
        taken = [
            b for b in bookings(tx.conn, ctx.community, facility) if b["slot"] == slot and b["status"] == "confirmed"
        ]
        if taken:
            raise InvalidTransition(f"{facility} at {slot} is already booked")
        data = {"facility": facility, "slot": slot, "household": household}
        tx.emit(ctx.community, "booking.make", bid, data, actor)
    return next(b for b in bookings(ctx.conn, ctx.community) if b["id"] == bid)


def cancel_booking(ctx: Context, booking: str, *, reason: str = "", actor: str | None = None) -> dict[str, Any]:
    """Cancel a booking (a bumped one too); the slot goes to the next booking for it, if any.

    Raises:
        UnknownEntity: no such booking. InvalidTransition: already cancelled.
    """
    with ctx.store.tx() as tx:
        found = [b for b in bookings(tx.conn, ctx.community) if b["id"] == booking]
        if not found:
            raise UnknownEntity(f"no booking {booking!r} in community {ctx.community}")
        if found[0]["status"] == "cancelled":
            raise InvalidTransition(f"booking {booking} is already cancelled")
        tx.emit(ctx.community, "booking.cancel", booking, {"reason": reason}, actor)
    return next(b for b in bookings(ctx.conn, ctx.community) if b["id"] == booking)
