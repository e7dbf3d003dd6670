"""``linli-server report``: per community open tickets by urgency, SLA attainment, stock at or below its
reorder level, transfers in flight, and devices with their last request and clock skew."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edge.node import Node
from edge.sync import sync_once
from sync_server.cli import main as server_main
from sync_server.core import InProcessTransport, SyncServer
from sync_server.report import district_report, render_report

from .helpers import Clock, enrolled_node

MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR


@pytest.fixture
def report(district: SyncServer, make_node: Callable[..., Node], clock: Clock, tmp_path: Path) -> dict[str, Any]:
    d = district.node
    d.add_item("WATER", "瓶装水", "Bottled water", kind="supply", reorder=10, scope="district")
    d.add_item("PIPE", "水管", "Pipe", reorder=3, scope="district")
    a1, a2, b1 = make_node("a1", "a"), make_node("a2", "a"), make_node("b1", "b")
    ahead = enrolled_node(district, tmp_path / "c1", "c", clock=lambda: clock() + 2 * DAY)  # a clock two days fast
    everyone = (a1, a2, b1, ahead)

    def sync() -> None:
        for node in everyone:
            sync_once(node, InProcessTransport(district))

    sync()
    a1.receive("WATER", 5)
    a1.receive("PIPE", 20)
    b1.receive("WATER", 50)
    met = a1.report("1-101", "water", "burst pipe", urgency="P2")  # every target met
    late = a1.report("1-102", "door", "lock sticks", urgency="P3")  # acknowledged after 5 h: missed
    clock.advance(10 * MIN)
    a1.advance(met["code"], "triaged")
    clock.advance(HOUR)
    a1.advance(met["code"], "on_site")
    clock.advance(HOUR)
    a1.advance(met["code"], "resolved")
    clock.advance(3 * HOUR)
    sync()
    a2.advance(late["code"], "triaged")
    b1.report("5-501", "gas", "smell of gas", urgency="P1")
    held = b1.report("5-502", "common", "stair light", urgency="P4")
    b1.hold(held["code"], "awaiting_parts")
    b1.request_transfer("WATER", 5, "a", note="for the fair")
    ahead.add_household("1-1")
    sync()
    result = district_report(d, period="month")
    for node in everyone:
        node.close()
    return result


def test_open_tickets_are_counted_by_urgency_per_community(report: dict[str, Any]) -> None:
    assert set(report["communities"]) == {"a", "b", "c"}
    a, b = report["communities"]["a"]["open_tickets"], report["communities"]["b"]["open_tickets"]
    assert (a["P3"], a["P2"], a["total"]) == (1, 0, 1)
    assert (b["P1"], b["P4"], b["total"], b["on_hold"], b["conflicts"]) == (1, 1, 2, 1, 0)
    assert report["totals"]["open_tickets"] == 3


def test_sla_attainment_comes_from_the_kpi_module(report: dict[str, Any]) -> None:
    sla = report["communities"]["a"]["sla"]
    assert (sla["attained"], sla["total"], sla["pct_x100"]) == (1, 2, 5000)
    assert sla["by_urgency"]["P2"]["attained"] == 1 and sla["by_urgency"]["P2"]["total"] == 1
    assert sla["by_urgency"]["P3"] == {"attained": 0, "total": 1, "pending": 0, "pct_x100": 0}
    assert report["communities"]["b"]["sla"]["pending"] == 2  # the P1 and the P4 are not decided yet


def test_stock_at_or_below_its_reorder_level_is_listed(report: dict[str, Any]) -> None:
    low = {c: [(x["sku"], x["qty"], x["reorder"]) for x in r["low_stock"]] for c, r in report["communities"].items()}
    assert low == {
        "a": [("WATER", 5, 10)],
        "b": [("PIPE", 0, 3)],
        "c": [("PIPE", 0, 3), ("WATER", 0, 10)],
    }


def test_transfers_in_flight_show_on_both_ends(report: dict[str, Any]) -> None:
    out = report["communities"]["a"]["transfers_in_flight"]
    into = report["communities"]["b"]["transfers_in_flight"]
    assert [(t["direction"], t["src"], t["dst"], t["qty"], t["step"]) for t in out] == [
        ("out", "a", "b", 5, "requested")
    ]
    assert [(t["direction"], t["id"]) for t in into] == [("in", out[0]["id"])]


def test_devices_show_when_they_were_last_seen_and_a_fast_clock(report: dict[str, Any], clock: Clock) -> None:
    devices = {c: r["devices"] for c, r in report["communities"].items()}
    assert [len(devices[c]) for c in ("a", "b", "c")] == [2, 1, 1]
    for d in devices["a"] + devices["b"]:
        assert d["last_seen_ms"] == clock() and d["clock_skew"] is False and abs(d["skew_ms"]) < DAY
    fast = devices["c"][0]
    # Its clock is flagged (it reports the offset it learnt from the district), but its ops are stamped
    # on the district's time: its HLC runs on its clock corrected by that offset since enrolment.
    assert fast["clock_skew"] is True and "2880 min ahead of" in fast["clock_skew_detail"]
    assert abs(fast["skew_ms"]) < MIN
    assert fast["last_seen_ms"] == clock()


def test_the_command_prints_the_report_as_json_and_as_text(
    district: SyncServer, report: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(district.node.data_dir)
    capsys.readouterr()
    assert server_main(["report", "--data", data, "--json", "--period", "year"]) == 0
    printed = json.loads(capsys.readouterr().out)
    for c, r in report["communities"].items():
        mine = printed["communities"][c]
        assert mine["open_tickets"] == r["open_tickets"] and mine["low_stock"] == r["low_stock"]
        assert mine["transfers_in_flight"] == r["transfers_in_flight"]
    assert server_main(["report", "--data", data]) == 0
    text = capsys.readouterr().out
    assert "== a" in text and "== c" in text and "CLOCK SKEW" in text and "WATER 5 (reorder at 10)" in text
    assert render_report(printed).splitlines()[2] == text.splitlines()[2] == "== a"
    assert server_main(["report", "--data", data, "--period", "decade"]) == 2


def test_a_transfer_shipped_or_arrived_twice_by_partitioned_kiosks_is_reported_and_counted_once(
    district: SyncServer, make_node: Callable[..., Node]
) -> None:
    district.node.add_item("SOAP", "肥皂", "Soap", kind="supply", scope="district")
    a1, a2, b1 = make_node("a1", "a"), make_node("a2", "a"), make_node("b1", "b")

    def sync(*nodes: Node) -> None:
        for node in nodes:
            sync_once(node, InProcessTransport(district))

    sync(a1, a2, b1)
    a1.receive("SOAP", 10)
    a2.receive("SOAP", 10)
    asked = b1.request_transfer("SOAP", 3, "a")
    sync(b1, a1)
    a1.approve_transfer(asked["id"])
    sync(a1, a2)
    a1.ship_transfer(asked["id"])  # a1 and a2 do not hear of each other's shipment
    a2.ship_transfer(asked["id"])
    sync(a1, a2, b1)
    b2 = make_node("b2", "b")
    sync(b2)
    b1.arrive_transfer(asked["id"])
    sync(b1)
    report = district_report(district.node)
    # Both shipments are listed; the stock left once (exactly-once lifecycle keys).
    repeated = [{"transfer": asked["id"], "step": "shipped", "writes": 2, "qty_moved": 3}]
    assert report["communities"]["a"]["repeated_steps"] == repeated
    assert report["communities"]["b"]["repeated_steps"] == [] and report["totals"]["repeated_steps"] == 1
    assert report["totals"]["conservation_faults"] == 0
    assert "SHIPPED BY 2 DEVICES, COUNTED ONCE (3 moved)" in render_report(report)
    b2.arrive_transfer(asked["id"])  # b2 has not heard of b1's arrival
    sync(b2)
    report = district_report(district.node)
    repeated = [{"transfer": asked["id"], "step": "arrived", "writes": 2, "qty_moved": 3}]
    assert report["communities"]["b"]["repeated_steps"] == repeated
    assert "ARRIVED BY 2 DEVICES, COUNTED ONCE (3 moved)" in render_report(report)
