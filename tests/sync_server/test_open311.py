"""The read-only Open311 GeoReport v2 view: the specification's fields and parameters, its error list,
and no personal data whatever residents typed."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from xml.etree import ElementTree

import pytest

from edge.domain.fields import CATEGORIES
from edge.node import Node
from edge.sync import sync_once
from sync_server.core import HttpRequest, InProcessTransport, SyncServer
from sync_server.open311 import FIELDS, w3

from .helpers import Clock

# GeoReport v2, GET Service List and GET Service Requests: the fields of each answer.
SERVICE_FIELDS = {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"}
REQUEST_FIELDS = {
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
}
W3 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$")
DAY = 24 * 3600 * 1000
PERSONAL = ("王秀英", "13800001234", "3-1201", "trapped", "elderly_alone", "someone_trapped", "Flat")


@pytest.fixture
def tickets(district: SyncServer, make_node: Callable[..., Node], clock: Clock) -> dict[str, dict[str, Any]]:
    """Tickets in communities a and b: open, on hold, closed, reopened; the oldest 100 days back."""
    a, b = make_node("a1", "a"), make_node("b1", "b")
    a.add_household("3-1201", vulnerable=["elderly_alone"], name="王秀英", phone="13800001234")
    old = a.report("3-1201", "lift", "Flat 3-1201: old fault", urgency="P3", household="3-1201")
    clock.advance(100 * DAY)
    leak = a.report(
        "3-1201", "water", "王秀英 13800001234: burst pipe in Flat 3-1201", contact="13800001234", household="3-1201"
    )
    clock.advance(60_000)
    lift = a.report("3-1201", "lift", "trapped", answers={"someone_trapped": True}, contact="13800001234")
    clock.advance(60_000)
    gas = b.report("7-701", "gas", "smell of gas on the stairs", urgency="P1")
    for stage in ("triaged", "assigned", "on_site", "resolved"):
        clock.advance(60_000)
        b.advance(gas["code"], stage)
    b.advance(gas["code"], "closed", reason="fixed")
    clock.advance(60_000)
    b.advance(gas["code"], "reopen")
    door = b.report("7-702", "door", "entrance door will not lock", urgency="P2")
    b.advance(door["code"], "triaged")
    b.hold(door["code"], "awaiting_parts")
    window = b.report("7-703", "structure", "cracked window", urgency="P4")
    b.advance(window["code"], "resolved")
    b.advance(window["code"], "closed", reason="fixed")
    for node in (a, b):
        sync_once(node, InProcessTransport(district))
    return {"old": old, "leak": leak, "lift": lift, "gas": gas, "door": door, "window": window}


def get(server: SyncServer, path: str, query: str = "", method: str = "GET") -> tuple[int, str, Any]:
    resp = server.handle(HttpRequest(method, path, query))
    text = resp.body.decode("utf-8")
    body = json.loads(text) if resp.content_type.startswith("application/json") else text
    return resp.status, resp.content_type, body


def test_services_are_the_ten_categories_with_chinese_and_english_names(district: SyncServer) -> None:
    status, ctype, services = get(district, "/open311/v2/services.json")
    assert (status, ctype) == (200, "application/json; charset=utf-8")
    assert [s["service_code"] for s in services] == list(CATEGORIES)
    for s in services:
        assert set(s) == SERVICE_FIELDS
        assert s["metadata"] is False and s["type"] == "realtime"
    names = {s["service_code"]: s["service_name"] for s in services}
    assert names["water"] == "水/管道 (Water/plumbing)" and names["gas"] == "燃气/供暖 (Gas/heating)"


def test_requests_carry_the_georeport_fields_and_no_personal_data(district: SyncServer, tickets: Any) -> None:
    status, _, found = get(district, "/open311/v2/requests.json")
    assert status == 200
    assert tuple(REQUEST_FIELDS) and set(FIELDS) == REQUEST_FIELDS
    ids = [r["service_request_id"] for r in found]
    assert set(ids) == {t["id"] for k, t in tickets.items() if k != "old"}  # the default is the last 90 days
    for r in found:
        assert list(r) == list(FIELDS)
        assert r["status"] in ("open", "closed")
        assert r["description"] is None and r["lat"] is None and r["long"] is None and r["media_url"] is None
        for key in ("requested_datetime", "updated_datetime", "expected_datetime"):
            assert W3.fullmatch(r[key]), (key, r[key])
        assert r["updated_datetime"] >= r["requested_datetime"]
        assert r["address_id"] in ("a", "b") and r["agency_responsible"] == f"West, community {r['address_id']}"
    text = json.dumps(found, ensure_ascii=False)
    for secret in PERSONAL:
        assert secret not in text, secret
    by_id = {r["service_request_id"]: r for r in found}
    gas, door, window = (by_id[tickets[k]["id"]] for k in ("gas", "door", "window"))
    assert (gas["status"], gas["status_notes"]) == ("open", "stage: reported; reopened 1 time")
    assert (door["status"], door["status_notes"]) == ("open", "stage: triaged; on hold: awaiting_parts")
    assert (window["status"], window["status_notes"]) == ("closed", "stage: closed (fixed)")
    assert gas["service_notice"] == "urgency P1: acknowledge within 5 min, on site within 30 min, fixed within 24 h"
    assert by_id[tickets["leak"]["id"]]["service_name"] == "水/管道 (Water/plumbing)"


def test_status_service_code_and_dates_filter_the_requests(district: SyncServer, tickets: Any) -> None:
    def ids(query: str) -> set[str]:
        status, _, found = get(district, "/open311/v2/requests.json", query)
        assert status == 200, found
        return {r["service_request_id"] for r in found}

    t = {k: v["id"] for k, v in tickets.items()}
    assert ids("status=closed") == {t["window"]}
    assert ids("status=open") == {t["leak"], t["lift"], t["gas"], t["door"]}
    assert ids("status=open,closed") == ids("") == ids("status=open&status=closed")
    assert ids("service_code=lift") == {t["lift"]}
    assert ids("service_code=water,gas&status=open") == {t["leak"], t["gas"]}
    old = tickets["old"]["reported_ms"]
    assert ids(f"start_date={w3(old - 1000)}&end_date={w3(old + 1000)}") == {t["old"]}
    assert ids(f"start_date={w3(old - 1000)}") == {t["old"]}  # 90 days from the start
    assert ids(f"end_date={w3(tickets['gas']['reported_ms'] - 1000)}") == {t["leak"], t["lift"]}
    assert ids(f"service_request_id={t['old']},{t['gas']}&status=closed") == {t["old"], t["gas"]}
    assert ids("start_date=2010-01-01T08:00:00%2B08:00&end_date=2010-01-02T00:00:00Z") == set()


def test_one_request_is_a_list_of_one_and_an_unknown_id_is_404(district: SyncServer, tickets: Any) -> None:
    status, _, found = get(district, f"/open311/v2/requests/{tickets['door']['id']}.json")
    assert status == 200 and [r["service_request_id"] for r in found] == [tickets["door"]["id"]]
    status, _, errors = get(district, "/open311/v2/requests/01NOSUCHTICKET0000000000000.json")
    assert status == 404 and errors[0]["code"] == 404 and "no service request" in errors[0]["description"]


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("start_date=yesterday", "start_date 'yesterday' is not a W3C date-time"),
        ("end_date=2025-01-01", "end_date '2025-01-01' is not a W3C date-time"),
        ("start_date=2025-01-01T00:00:00", "with a zone"),
        ("start_date=2025-02-30T00:00:00Z", "day is out of range"),
        ("start_date=2025-03-01T00:00:00Z&end_date=2025-02-01T00:00:00Z", "is before start_date"),
        ("start_date=2025-01-01T00:00:00Z&end_date=2025-06-01T00:00:00Z", "more than 90 days"),
        ("status=pending", "status 'pending' is not one of open, closed"),
        ("service_code=roads", "service_code 'roads' is not one of water"),
        ("service_request_id=../../etc", "service_request_id takes"),
        ("a=1&&b=2", "malformed"),
    ],
)
def test_malformed_parameters_are_400_with_the_georeport_error_list(
    district: SyncServer, query: str, words: str
) -> None:
    status, ctype, errors = get(district, "/open311/v2/requests.json", query)
    assert (status, ctype) == (400, "application/json; charset=utf-8")
    assert len(errors) == 1 and set(errors[0]) == {"code", "description"} and errors[0]["code"] == 400
    assert words in errors[0]["description"]


def test_the_xml_format_has_the_same_fields(district: SyncServer, tickets: Any) -> None:
    status, ctype, text = get(district, "/open311/v2/requests.xml", "status=closed")
    assert (status, ctype) == (200, "text/xml; charset=utf-8")
    root = ElementTree.fromstring(text.encode())
    assert root.tag == "service_requests"
    requests = list(root)
    assert [r.tag for r in requests] == ["request"]
    assert [child.tag for child in requests[0]] == list(FIELDS)
    assert requests[0].findtext("status") == "closed" and requests[0].findtext("description") == ""
    status, _, text = get(district, "/open311/v2/services.xml")
    assert status == 200 and [s.findtext("service_code") for s in ElementTree.fromstring(text)] == list(CATEGORIES)
    status, _, text = get(district, "/open311/v2/requests.xml", "status=never")
    assert status == 400 and ElementTree.fromstring(text).findtext("error/code") == "400"


def test_the_view_is_public_read_only_and_nothing_else_is_under_it(district: SyncServer) -> None:
    assert get(district, "/open311/v2/services.json", method="POST")[0] == 405
    assert get(district, "/open311/v2/requests.json", method="DELETE")[0] == 405
    assert get(district, "/open311/v2/tokens/1.json")[0] == 404
    assert get(district, "/open311/v2/requests/a/b.json")[0] == 404
    assert get(district, "/open311/v2/services.json")[0] == 200  # no Authorization header needed
