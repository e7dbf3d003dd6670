"""Reads for a district's report: which communities there are, open tickets, stock, repeated transfer steps.

Counts, skus and ids only: nothing here names a household.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

__all__ = [
    "ConservationFault",
    "OpenTickets",
    "RepeatedStep",
    "communities",
    "conservation_faults",
    "open_tickets",
    "repeated_steps",
    "stock_counts",
]


@dataclass(frozen=True, slots=True)
class OpenTickets:
    """Open tickets (not resolved, closed or cancelled) of one scope and urgency."""

    scope: str
    urgency: str
    count: int
    on_hold: int
    conflicts: int


@dataclass(frozen=True, slots=True)
class RepeatedStep:
    """A transfer step with stock (``shipped`` out of ``scope``, ``arrived`` into it) that ``writes``
    devices wrote, and the quantity it moved: once, whatever the number of writes."""

    scope: str
    transfer: str
    step: str
    writes: int
    qty_moved: int


@dataclass(frozen=True, slots=True)
class ConservationFault:
    """A transfer step whose stock movement is not its approved quantity, moved once (none expected)."""

    scope: str
    transfer: str
    step: str
    qty_moved: int
    qty: int


def communities(conn: sqlite3.Connection) -> list[str]:
    """Every community with an enrolled device, a ticket, a stock counter or a transfer, sorted."""
    found: set[str] = set()
    for sql in (
        "SELECT DISTINCT community FROM devices",
        "SELECT DISTINCT scope FROM tickets",
        "SELECT DISTINCT scope FROM counters WHERE kind = 'stock'",
        "SELECT src FROM transfers UNION SELECT dst FROM transfers",
    ):
        found |= {str(r[0]) for r in conn.execute(sql) if r[0]}
    return sorted(found)


def open_tickets(conn: sqlite3.Connection) -> list[OpenTickets]:
    """Open tickets counted by scope and urgency, with how many are on hold or have an assignment conflict."""
    rows = conn.execute(
        "SELECT scope, urgency, COUNT(*), SUM(hold_reason IS NOT NULL), SUM(conflict) FROM tickets "
        "WHERE code != '' AND stage NOT IN ('resolved', 'closed', 'cancelled') GROUP BY scope, urgency "
        "ORDER BY scope, urgency"
    )
    return [OpenTickets(str(s), str(u), int(n), int(h or 0), int(c or 0)) for s, u, n, h, c in rows]


def stock_counts(conn: sqlite3.Connection, scope: str) -> dict[str, int]:
    """``{sku: quantity}`` of the stock counters of ``scope``."""
    rows = conn.execute("SELECT key, value FROM counters WHERE kind='stock' AND scope=?", (scope,))
    return {str(k): int(v) for k, v in rows}


_STEP = {"issue": "shipped", "receive": "arrived"}


def repeated_steps(conn: sqlite3.Connection) -> list[RepeatedStep]:
    """Transfers shipped or marked arrived by more than one device (stock ops with reason ``transfer ID``).

    Each write after the first is in the ledger with delta 0 (its lifecycle key has counted already),
    so ``qty_moved`` is the transfer's quantity once: the report shows the repeats, not lost stock.
    """
    rows = conn.execute(
        "SELECT scope, reason, action, COUNT(*), ABS(SUM(delta)) FROM ledger WHERE kind='stock' "
        "AND action IN ('issue', 'receive') AND reason LIKE 'transfer %' GROUP BY scope, reason, action "
        "HAVING COUNT(*) > 1 ORDER BY scope, reason, action"
    )
    return [
        RepeatedStep(str(s), str(r).removeprefix("transfer "), _STEP[str(a)], int(n), int(q)) for s, r, a, n, q in rows
    ]


def conservation_faults(conn: sqlite3.Connection) -> list[ConservationFault]:
    """Transfer steps whose stock did not move by exactly the transfer's (approved) quantity.

    Exactly-once lifecycle keys keep this empty; the report checks it on the district's full view.
    """
    qty = {
        str(t): int(q)
        for t, q in conn.execute("SELECT id, COALESCE(approved_qty, qty) FROM transfers WHERE qty IS NOT NULL")
    }
    rows = conn.execute(
        "SELECT scope, reason, action, ABS(SUM(delta)) FROM ledger WHERE kind='stock' "
        "AND action IN ('issue', 'receive') AND reason LIKE 'transfer %' GROUP BY scope, reason, action "
        "ORDER BY scope, reason, action"
    )
    out = []
    for s, r, a, moved in rows:
        tid = str(r).removeprefix("transfer ")
        if tid in qty and int(moved) != qty[tid]:
            out.append(ConservationFault(str(s), tid, _STEP[str(a)], int(moved), qty[tid]))
    return out
