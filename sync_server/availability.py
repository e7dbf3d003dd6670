"""``GET /v1/district/availability?sku=S``: the stock of one item in every community (DESIGN 5.1).

Authenticated like every non-public endpoint (``Linli-Sig``; any enrolled device, of any role, may
ask). The answer ``{sku, communities: [{community, qty, reorder}]}`` comes from the district node's
views: every community with an enrolled device or ops held, and ``district`` for the district's own
warehouse; its stock counter of ``sku`` (0 when it has none) and the reorder level that applies there
(the community's own catalogue entry, else the district's). Quantities only: no ledger, no
household, no device, so a kiosk may see its neighbours' stock without seeing their people.

One SQL statement answers it (``AVAILABILITY_SQL``; the benchmark runs it raw as the limit): the
scopes come from ``streams`` (a row per device and scope) and ``devices``, and each scope's counter and
items are primary-key lookups.
"""

from __future__ import annotations

import re
import sqlite3
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from sync_server.db import atomic
from sync_server.errors import BadRequest, NotFound

if TYPE_CHECKING:
    from sync_server.core import HttpRequest, SyncServer

__all__ = ["AVAILABILITY_SQL", "availability", "handle_availability", "parse_sku"]

_SKU = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}$")

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


def parse_sku(query: str) -> str:
    """The one ``sku`` parameter of a query string.

    Raises:
        BadRequest: ``malformed``: no sku, more than one, or one that is not a sku.
    """
    try:
        params = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query), max_num_fields=8)
    except ValueError as exc:
        raise BadRequest("malformed", f"query string {query[:100]!r}: {exc}") from None
    values = params.get("sku", [])
    if len(values) != 1:
        raise BadRequest("malformed", f"give exactly one sku parameter, got {len(values)}: ?sku=WATER-5L")
    sku = values[0]
    if not _SKU.fullmatch(sku):
        raise BadRequest("malformed", f"sku {sku[:50]!r} is not letters, digits, '.', '_' or '-' (up to 40)")
    return sku


def availability(conn: sqlite3.Connection, sku: str) -> dict[str, Any] | None:
    """``{sku, communities: [{community, qty, reorder}]}``, or ``None`` when no scope knows ``sku``."""
    rows = conn.execute(AVAILABILITY_SQL, {"sku": sku}).fetchall()
    if not any(known for *_, known in rows):
        return None
    return {
        "sku": sku,
        "communities": [{"community": str(s), "qty": int(q), "reorder": int(r)} for s, q, r, _ in rows],
    }


def handle_availability(server: SyncServer, req: HttpRequest) -> dict[str, Any]:
    """``GET /v1/district/availability``.

    Raises:
        Unauthorized: the request signature (401, see ``auth``). BadRequest: the query (400).
        NotFound: ``unknown_sku``, an item no catalogue or counter knows (404).
    """
    caller = server.gate.authenticate(req.headers.get("authorization"), req.method, req.path_query, req.body)
    conn = server.node.conn
    with atomic(conn):
        server.gate.mark_seen(conn, caller.claim)
    server.metrics.seen(caller.dev, server.wall())
    sku = parse_sku(req.query)
    answer = availability(conn, sku)
    if answer is None:
        raise NotFound("unknown_sku", f"no catalogue item or stock with sku {sku!r} in this district")
    answer["server_time_ms"] = server.wall()
    return answer
