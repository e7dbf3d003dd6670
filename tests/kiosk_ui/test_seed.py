"""Demo data: realistic, complete for every screen, and the same for the same random seed."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from edge import Node
from kiosk_ui.errors import UsageError
from kiosk_ui.seed import HOUSEHOLD_PIN, STAFF, seed_community, seed_district

from .conftest import COMMUNITY, FakeClock, fixed_node_dir


def test_households_have_chinese_style_units_vulnerabilities_pins_names_and_phones(node: Node) -> None:
    households = node.households()
    assert len(households) == 20
    assert all(re.fullmatch(r"[1-6]-\d{3,4}", h["unit"]) for h in households)
    flags = {f for h in households for f in h["vulnerable"]}
    assert {"elderly_alone", "disabled"} <= flags
    with_pin = [h for h in households if h["has_pin"]]
    assert 5 <= len(with_pin) < len(households)
    assert node.household_login(with_pin[0]["id"], HOUSEHOLD_PIN)["id"] == with_pin[0]["id"]
    assert all(h["name"] and re.fullmatch(r"1\d{10}", h["phone"]) for h in households)


def test_technicians_cover_every_tier_with_skills_and_certifications(node: Node) -> None:
    techs = node.techs()
    tiers = {t["tier"] for t in techs}
    assert tiers == {"core", "certified", "volunteer"}
    core_certs = {c for t in techs if t["tier"] == "core" for c in t["certs"]}
    assert {"gas", "electrical"} <= core_certs
    assert any(t["certs"] for t in techs if t["tier"] == "certified")
    assert not any(t["certs"] for t in techs if t["tier"] == "volunteer")
    assert all(t["skills"] and t["pos"] for t in techs)


def test_catalogue_has_parts_rationed_emergency_supplies_and_tools_in_stock(node: Node) -> None:
    stock = node.stock()
    kinds = {r["kind"] for r in stock}
    assert kinds == {"part", "supply", "tool"}
    water = next(r for r in stock if r["sku"] == "WATER-5L")
    assert water["emergency"] and water["ration"] == 2 and water["qty"] > 0
    assert all(r["qty"] > 0 and r["rights"] == r["qty"] for r in stock)


def test_tickets_points_staff_and_notices_are_seeded(node: Node) -> None:
    tickets = node.tickets()
    stages = {t["stage"] for t in tickets}
    assert {"reported", "triaged", "assigned", "en_route", "on_site", "resolved", "closed"} <= stages
    assert any(t["rating"] for t in tickets)
    assert {t["urgency"] for t in tickets} >= {"P1", "P2", "P3"}
    door = next(t for t in tickets if t["category"] == "door")
    assert [n["kind"] for n in node.ticket(door["code"])["notes"]] == ["part", "comment"]
    balances = [node.balance(h["id"]) for h in node.households()]
    assert sum(1 for b in balances if b["balance"] > 0) >= 5
    assert any(row["action"] == "redeem" for b in balances for row in b["history"])
    for staff_id, pin, role, _ in STAFF:
        assert node.staff_login(staff_id, pin)["role"] == role
    assert len(node.notices()) >= 2


def test_the_same_seed_gives_the_same_community(node: Node, tmp_path: Path) -> None:
    other = fixed_node_dir(tmp_path / "again", FakeClock(0, step=5000), seed=b"\x09" * 32)
    seed_community(other, COMMUNITY, random.Random(4))

    def people(n: Node) -> list[tuple[object, ...]]:
        hh = [(h["unit"], h["name"], h["phone"], tuple(h["vulnerable"]), h["has_pin"]) for h in n.households()]
        return hh + [(t["name"], t["tier"], tuple(t["skills"])) for t in n.techs()]

    assert people(other) == people(node)
    other.close()


def test_seeding_a_node_of_another_community_is_refused(tmp_path: Path) -> None:
    node = Node.init(tmp_path / "n", "river")
    with pytest.raises(UsageError, match="river"):
        seed_community(node, COMMUNITY, random.Random(1))
    assert node.households() == []
    node.close()


def test_seed_district_adds_district_items_shared_technicians_and_notices(tmp_path: Path) -> None:
    district = Node.init(tmp_path / "d", "district", role="district")
    summary = seed_district(district)
    items = district.items()
    assert summary["items"] == len(items) and all(i["scope"] == "district" for i in items)
    assert {r["sku"]: r["qty"] for r in district.stock(scope="district")}["D-SANDBAG"] == 500
    assert all(t["shared"] and t["scope"] == "district" for t in district.techs())
    assert {n["scope"] for n in district.notices()} == {"district"}
    district.close()


def test_seed_district_needs_a_district_node(node: Node) -> None:
    with pytest.raises(UsageError, match="district node"):
        seed_district(node)
