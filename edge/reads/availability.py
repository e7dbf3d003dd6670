"""The stock of one item in every scope this node holds (``GET /v1/district/availability`` at the district).

One SQL statement answers it (``AVAILABILITY_SQL``; the benchmark runs it raw as the limit): the scopes
come from ``streams`` (a row per device and scope) and ``devices``, and each scope's counter and items
are primary-key lookups. The reorder level is the scope's own catalogue entry's, else the district's.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

__all__ = ["AVAILABILITY_SQL", "ScopeStock", "stock_everywhere", "stranded_stock"]

AVAILABILITY_SQL = """
WITH sc AS (SELECT scope FROM streams UNION SELECT community FROM devices)
SELECT sc.scope, COALESCE(c.value, 0), COALESCE(li.reorder, di.reorder, 0),
       c.value IS NOT NULL OR li.sku IS NOT NULL OR di.sku IS NOT NULL
FROM sc
LEFT JOIN counters c ON c.kind = 'stock' AND c.scope = sc.scope AND c.key = :sku
LEFT JOIN items li ON li.scope = sc.scope AND li.sku = :sku
LEFT JOIN items di ON di.scope = 'district' AND di.sku = :sku
ORDER BY sc.scope
"""


@dataclass(frozen=True, slots=True)
class ScopeStock:
    """One scope's stock of an item: quantity, reorder level, and whether any catalogue or counter knows it."""

    scope: str
    qty: int
    reorder: int
    known: bool


def stock_everywhere(conn: sqlite3.Connection, sku: str) -> list[ScopeStock]:
    """Every scope (a stream's or an enrolled device's community) with its stock of ``sku``, by scope."""
    rows = conn.execute(AVAILABILITY_SQL, {"sku": sku}).fetchall()
    return [ScopeStock(str(s), int(q), int(r), bool(k)) for s, q, r, k in rows]


def stranded_stock(conn: sqlite3.Connection, sku: str) -> dict[str, int]:
    """``{scope: units}`` of ``sku`` whose rights a revoked device holds: nobody can ship them until the
    district hands them on (``linli-server revoke DEVICE --rights-to DEVICE2``)."""
    rows = conn.execute(
        "SELECT r.scope, SUM(r.inc + r.moved_in - r.moved_out - r.dec) FROM counter_rights r "
        "JOIN devices d ON d.dev = r.dev WHERE r.kind = 'stock' AND r.key = ? AND d.revoked_from_seq IS NOT NULL "
        "AND r.inc + r.moved_in - r.moved_out - r.dec > 0 GROUP BY r.scope",
        (sku,),
    )
    return {str(s): int(n) for s, n in rows}
