"""Reads for a district's report: which communities there are, open tickets, stock, double shipments.

Counts, skus and ids only: nothing here names a household.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

__all__ = ["DoubleShipment", "OpenTickets", "communities", "double_shipments", "open_tickets", "stock_counts"]


@dataclass(frozen=True, slots=True)
class OpenTickets:
    """Open tickets (not resolved, closed or cancelled) of one scope and urgency."""

    scope: str
    urgency: str
    count: int
    on_hold: int
    conflicts: int


@dataclass(frozen=True, slots=True)
class DoubleShipment:
    """A transfer the stock of ``scope`` left for more than once, and how much was issued for it in all."""

    scope: str
    transfer: str
    shipments: int
    qty_issued: int


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


def double_shipments(conn: sqlite3.Connection) -> list[DoubleShipment]:
    """Transfers a scope's stock was issued for more than once (``stock.issue`` with reason ``transfer ID``)."""
    rows = conn.execute(
        "SELECT scope, reason, COUNT(*), -SUM(delta) FROM ledger WHERE kind='stock' AND action='issue' "
        "AND reason LIKE 'transfer %' GROUP BY scope, reason HAVING COUNT(*) > 1 ORDER BY scope, reason"
    )
    return [DoubleShipment(str(s), str(r).removeprefix("transfer "), int(n), int(q)) for s, r, n, q in rows]
