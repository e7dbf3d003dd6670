"""A read-only Open311 GeoReport v2 view of the district's tickets, for city systems.

Public (no ``Linli-Sig``), ``GET`` only, JSON (``.json``) or XML (``.xml``), under ``/open311/v2/``:

- ``services.json``: the ten repair categories as service types (code = category id, name in Chinese
  and English);
- ``requests.json``: tickets, newest first, at most 1,000, filtered by ``service_code`` (comma list),
  ``status`` (``open``, ``closed``), ``start_date`` / ``end_date`` (W3C date-times with a zone, at
  most 90 days apart; the last 90 days by default) or ``service_request_id`` (comma list, which
  overrides the others, as the specification says); ``jurisdiction_id`` is accepted and ignored (one
  district per server);
- ``requests/{id}.json``: one ticket, as a list of one.

**No personal data.** A request carries the ticket's id, category, urgency targets, stage times and
community only. Not the unit (it names a household), the household, the contact number, the triage
answers (they say who is elderly or disabled), the comments or the reporter's description: free text
a resident typed may hold names and phone numbers, and nothing here can tell, so ``description`` is
always null. ``address`` names the community, ``lat``/``long``/``zipcode``/``media_url`` are null.

``status`` is ``open`` until the ticket is resolved, closed or cancelled, then ``closed``;
``status_notes`` gives the detailed stage (and a hold reason, a close reason, a reopening).
Malformed parameters are ``400`` with the GeoReport error list ``[{code, description}]``; an unknown
request id or path ``404``; another method ``405``.
"""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs
from xml.etree import ElementTree

from edge.reads import CLOSED_STAGES, PublicTicket, public_ticket, public_tickets
from edge.services import sla
from edge.store import Store
from sync_server.http_types import HttpRequest

if TYPE_CHECKING:
    from sync_server.core import SyncServer

__all__ = ["FIELDS", "PREFIX", "SERVICES", "handle_open311", "request_of", "w3"]

PREFIX = "/open311/v2/"
MAX_SPAN_MS = 90 * 24 * 3600 * 1000
MAX_RESULTS = 1000
MAX_IDS = 100
JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "text/xml; charset=utf-8"

SERVICES: dict[str, tuple[str, str, str]] = {
    "water": ("水/管道", "Water/plumbing", "Leaks, burst pipes, no water, blocked drains and toilets"),
    "electrical": ("电气", "Electrical", "No power, partial power, sparking, faulty switches and sockets"),
    "gas": ("燃气/供暖", "Gas/heating", "Gas smell, heating and hot-water faults"),
    "lift": ("电梯", "Lifts", "Lift out of service or a person trapped"),
    "door": ("门/锁/门禁", "Doors/locks", "Entrance doors, locks and access control"),
    "fire": ("消防安全", "Fire safety", "Alarms, extinguishers, blocked escape routes"),
    "structure": ("屋顶/门窗/结构", "Roof/windows/structure", "Roof leaks, windows, cracks and falling parts"),
    "pests": ("虫害/卫生", "Pests/hygiene", "Pests and hygiene in shared spaces"),
    "common": ("公共区域/照明", "Common areas/lighting", "Stairwell lights, corridors, shared facilities"),
    "other": ("其他/不确定", "Other/unsure", "Anything else"),
}
"""Service code (the ticket category) -> (Chinese name, English name, description)."""

FIELDS = (
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
)
"""The GeoReport v2 fields of a service request, in the specification's order."""

_W3 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$")
_ID = re.compile(r"^[0-9A-Za-z]{1,64}$")
_TARGET_WORDS = (("acknowledge", "acknowledge"), ("on_site", "on site"), ("fixed", "fixed"))


class _Bad(Exception):
    """An Open311 error: HTTP status and description."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def w3(ms: int | None) -> str | None:
    """Unix milliseconds as a W3C date-time in UTC (``2010-01-01T00:00:00Z``)."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_w3(name: str, text: str) -> int:
    if not _W3.fullmatch(text):
        raise _Bad(400, f"{name} {text[:40]!r} is not a W3C date-time with a zone, e.g. 2010-01-01T00:00:00Z")
    try:
        return int(datetime.fromisoformat(text).timestamp() * 1000)
    except ValueError as exc:
        raise _Bad(400, f"{name} {text[:40]!r}: {exc}") from None


def _span(ms: int) -> str:
    minutes = ms // 60_000
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} days"


def _service_name(code: str) -> str:
    zh, en, _ = SERVICES.get(code, SERVICES["other"])
    return f"{zh} ({en})"


def _notes(stage: str, epoch: int, hold: str | None, close: str | None) -> str:
    notes = f"stage: {stage}"
    if close and stage in ("closed", "resolved"):
        notes += f" ({close})"
    if hold and stage not in CLOSED_STAGES:
        notes += f"; on hold: {hold}"
    if epoch:
        notes += f"; reopened {epoch} time{'s' if epoch > 1 else ''}"
    return notes


def request_of(t: PublicTicket, district: str) -> dict[str, Any]:
    """One ticket as a GeoReport service request, with nothing personal in it."""
    targets = ", ".join(f"{word} within {_span(sla.target_ms(t.urgency, k))}" for k, word in _TARGET_WORDS)
    updated = max(x for x in (t.reported_ms, t.last_stage_ms, t.hold_since) if x is not None)
    return {
        "service_request_id": t.id,
        "status": "closed" if t.closed else "open",
        "status_notes": _notes(t.stage, t.epoch, t.hold_reason, t.close_reason),
        "service_name": _service_name(t.category),
        "service_code": t.category,
        "description": None,
        "agency_responsible": f"{district}, community {t.scope}",
        "service_notice": f"urgency {t.urgency}: {targets}",
        "requested_datetime": w3(t.reported_ms),
        "updated_datetime": w3(updated),
        "expected_datetime": w3(sla.deadline(t.urgency, "fixed", t.reported_ms)),
        "address": f"community {t.scope}, {district}",
        "address_id": t.scope,
        "zipcode": None,
        "lat": None,
        "long": None,
        "media_url": None,
    }


def _params(query: str) -> dict[str, str]:
    """The query parameters; a repeated one is joined with commas (the spec's lists)."""
    try:
        parsed = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query), max_num_fields=32)
    except ValueError as exc:
        raise _Bad(400, f"query string {query[:100]!r} is malformed: {exc}") from None
    return {k: ",".join(v for v in vs if v) for k, vs in parsed.items()}


def _list(value: str, allowed: tuple[str, ...] | None, name: str) -> list[str]:
    items = [x.strip() for x in value.split(",") if x.strip()]
    for x in items:
        if allowed is not None and x not in allowed:
            raise _Bad(400, f"{name} {x[:40]!r} is not one of {', '.join(allowed)}")
    return items


def _requests(conn: sqlite3.Connection, params: dict[str, str], now_ms: int, district: str) -> list[dict[str, Any]]:
    ids = _list(params.get("service_request_id", ""), None, "service_request_id")
    if ids:
        if len(ids) > MAX_IDS or any(not _ID.fullmatch(i) for i in ids):
            raise _Bad(400, f"service_request_id takes up to {MAX_IDS} ids of letters and digits, comma separated")
        return [request_of(t, district) for t in public_tickets(conn, limit=MAX_RESULTS, ids=ids)]
    codes = _list(params.get("service_code", ""), tuple(SERVICES), "service_code")
    statuses = set(_list(params.get("status", ""), ("open", "closed"), "status"))
    start = _parse_w3("start_date", params["start_date"]) if params.get("start_date") else None
    end = _parse_w3("end_date", params["end_date"]) if params.get("end_date") else None
    if start is None:
        end = now_ms if end is None else end
        start = end - MAX_SPAN_MS
    elif end is None:
        end = start + MAX_SPAN_MS
    if end < start:
        raise _Bad(400, f"end_date {w3(end)} is before start_date {w3(start)}")
    if end - start > MAX_SPAN_MS:
        raise _Bad(400, f"start_date {w3(start)} to end_date {w3(end)} spans more than 90 days")
    status: Literal["open", "closed"] | None = None
    if statuses == {"open"}:
        status = "open"
    elif statuses == {"closed"}:
        status = "closed"
    found = public_tickets(
        conn, limit=MAX_RESULTS, reported_from=start, reported_to=end, categories=codes, status=status
    )
    return [request_of(t, district) for t in found]


def _services() -> list[dict[str, Any]]:
    return [
        {
            "service_code": code,
            "service_name": f"{zh} ({en})",
            "description": f"{desc} / {zh}",
            "metadata": False,
            "type": "realtime",
            "keywords": f"{code}, {en}, {zh}",
            "group": "repairs",
        }
        for code, (zh, en, desc) in SERVICES.items()
    ]


def _xml(root: str, child: str, items: list[dict[str, Any]]) -> bytes:
    top = ElementTree.Element(root)
    for item in items:
        el = ElementTree.SubElement(top, child)
        for key, value in item.items():
            ElementTree.SubElement(el, key).text = (
                "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
            )
    body: bytes = ElementTree.tostring(top, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body


def _render(fmt: str, root: str, child: str, items: list[dict[str, Any]], status: int = 200) -> tuple[int, bytes, str]:
    if fmt == "xml":
        return status, _xml(root, child, items), XML_TYPE
    return status, json.dumps(items, ensure_ascii=False, separators=(",", ":")).encode(), JSON_TYPE


def handle_open311(server: SyncServer, req: HttpRequest, conn: sqlite3.Connection) -> tuple[int, bytes, str]:
    """Answer a request under ``/open311/v2/`` from ``conn`` (a reader's): ``(status, body, content type)``.

    Never raises for bad input.
    """
    rest = req.path[len(PREFIX) :] if req.path.startswith(PREFIX) else ""
    stem, dot, fmt = rest.rpartition(".")
    if not dot or fmt not in ("json", "xml"):
        stem, fmt = rest, "json"
    try:
        if req.method != "GET":
            raise _Bad(405, f"the Open311 view is read-only: GET, not {req.method[:10]}")
        if req.oversize is not None or req.body:
            raise _Bad(400, "a GET takes no body")
        if stem == "services":
            return _render(fmt, "services", "service", _services())
        district = str(Store.meta_get(conn, "district_name") or "district")
        if stem == "requests":
            found = _requests(conn, _params(req.query), server.wall(), district)
            return _render(fmt, "service_requests", "request", found)
        if stem.startswith("requests/") and stem.count("/") == 1:
            rid = stem.removeprefix("requests/")
            _params(req.query)
            ticket = public_ticket(conn, rid) if _ID.fullmatch(rid) else None
            if ticket is None:
                raise _Bad(404, f"no service request {rid[:64]!r}")
            return _render(fmt, "service_requests", "request", [request_of(ticket, district)])
        raise _Bad(404, f"no Open311 resource {req.path[:100]!r}; see {PREFIX}services.json")
    except _Bad as bad:
        return _render(fmt, "errors", "error", [{"code": bad.status, "description": bad.description}], bad.status)
