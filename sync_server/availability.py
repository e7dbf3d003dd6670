"""``GET /v1/district/availability?sku=S``: the stock of one item in every community (``docs/sharing.md``).

Authenticated like every non-public endpoint (``Linli-Sig``; any enrolled device, of any role, may
ask). The answer ``{sku, communities: [{community, qty, stranded, reorder}]}`` comes from the district node's
views: every community with an enrolled device or ops held, and ``district`` for the district's own
warehouse; its stock counter of ``sku`` (0 when it has none) and the reorder level that applies there
(the community's own catalogue entry, else the district's). Quantities only: no ledger, no
household, no device, so a kiosk may see its neighbours' stock without seeing their people.

Edge answers it (``edge.reads.stock_everywhere``, one SQL statement, ``AVAILABILITY_SQL``, re-exported
here for the benchmark, which runs it raw as the limit). It runs on a reader connection, off the
writer thread: the nonce and last-seen time it records are handed to the writer (``SyncServer.seen_later``).
"""

from __future__ import annotations

import re
import sqlite3
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from edge.reads import AVAILABILITY_SQL, stock_everywhere, stranded_stock
from sync_server.errors import BadRequest, NotFound
from sync_server.http_types import HttpRequest

if TYPE_CHECKING:
    from sync_server.core import SyncServer

__all__ = ["AVAILABILITY_SQL", "availability", "handle_availability", "parse_sku"]

_SKU = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}$")


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
    """``{sku, communities: [{community, qty, stranded, reorder}]}``, or ``None`` when no scope knows ``sku``.

    ``qty`` counts only units some unrevoked device may ship; ``stranded`` the units whose rights a
    revoked device holds (not available until the district hands them on at the revocation).
    """
    rows = stock_everywhere(conn, sku)
    if not any(r.known for r in rows):
        return None
    stranded = stranded_stock(conn, sku)
    return {
        "sku": sku,
        "communities": [
            {
                "community": r.scope,
                "qty": r.qty - stranded.get(r.scope, 0),
                "stranded": stranded.get(r.scope, 0),
                "reorder": r.reorder,
            }
            for r in rows
        ],
    }


def handle_availability(server: SyncServer, req: HttpRequest, conn: sqlite3.Connection) -> dict[str, Any]:
    """``GET /v1/district/availability``, read from ``conn`` (a reader's connection).

    Raises:
        Unauthorized: the request signature (401, see ``auth``). BadRequest: the query (400).
        NotFound: ``unknown_sku``, an item no catalogue or counter knows (404).
    """
    caller = server.gate.authenticate(req.headers.get("authorization"), req.method, req.path_query, req.body, conn)
    server.seen_later(caller.claim)
    sku = parse_sku(req.query)
    answer = availability(conn, sku)
    if answer is None:
        raise NotFound("unknown_sku", f"no catalogue item or stock with sku {sku!r} in this district")
    answer["server_time_ms"] = server.wall()
    return answer
