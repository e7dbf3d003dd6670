"""The staff transfers screen through Pilot: opened from the staff menu (key 0), a request to another
community, and an incoming request approved and shipped, with the refusals ``edge`` makes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crdt.keys import device_id
from edge import Node
from kiosk_ui.screens.staff_menu import StaffMenuScreen
from kiosk_ui.screens.transfers import TransfersScreen
from kiosk_ui.seed import STAFF
from tests.helpers import make_community, make_district, relay

from .conftest import NOW_MS, SIZE, FakeClock, run, screen_text

STAFF_ID, STAFF_PIN = STAFF[0][0], STAFF[0][1]


async def _open_transfers(pilot: Any) -> TransfersScreen:
    await pilot.click("#nav-staff")
    await pilot.press(*STAFF_ID, "enter", *STAFF_PIN, "enter")
    await pilot.pause()
    assert isinstance(pilot.app.screen, StaffMenuScreen)
    await pilot.press("0")
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, TransfersScreen)
    return screen


async def _click(pilot: Any, selector: str) -> None:
    """Click a widget after scrolling to it; a button pressed a moment ago ignores clicks until its
    press effect ends (``-active``), so wait for that (at most a second)."""
    widget = pilot.app.screen.query_one(selector)
    widget.scroll_visible(animate=False)
    for _ in range(20):
        if not widget.has_class("-active"):
            break
        await pilot.pause(0.05)
    await pilot.pause()
    await pilot.click(selector)
    await pilot.pause()


@pytest.fixture
def north(node: Node, tmp_path: Path) -> Iterator[Node]:
    """A district and a community ``north`` that asks the kiosk's community for 4 bottles of water."""
    clock = FakeClock(NOW_MS)
    district = make_district(tmp_path, wall=clock)
    pub = district.store.ident.key.public_bytes
    with node.store.tx() as tx:
        node.store.meta_set(tx.conn, "district_pubkey", pub.hex())
        node.store.meta_set(tx.conn, "district_dev", district.dev)
    node.store.trusted[device_id(pub)] = pub
    with district.store.tx() as tx:
        enrol = {"pubkey": node.store.ident.key.public_bytes, "community": node.community, "role": "kiosk"}
        tx.emit("district", "device.enroll", node.dev, {**enrol, "name": "lobby"})
    other = make_community(tmp_path, district, "north", wall=clock)
    district.add_item("WATER-T", "瓶装水", "Bottled water", kind="supply", scope="district")
    relay(district, node)
    relay(district, other)
    node.receive("WATER-T", 10, reason="delivery")
    other.request_transfer("WATER-T", 4, node.community, note="flooded basement")
    other.request_transfer("WATER-T", 30, node.community, note="more than there is")
    relay(other, node)
    yield other
    other.close()
    district.close()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_staff_ask_another_community_for_stock_from_the_transfers_screen(make_app, node, lang) -> None:
    async def go() -> str:
        app = make_app(lang=lang)
        async with app.run_test(size=SIZE) as pilot:
            await _open_transfers(pilot)
            await _click(pilot, "#tr-sku")
            await pilot.press(*"TAP-WASHER")
            await _click(pilot, "#tr-qty")
            await pilot.press("end", "backspace", "5")
            await _click(pilot, "#tr-from")
            await pilot.press(*"north")
            await _click(pilot, "#tr-request")
            return screen_text(app)

    text = run(go())
    sent = node.transfers()
    assert [(t["src"], t["dst"], t["sku"], t["qty"], t["step"]) for t in sent] == [
        ("north", node.community, "TAP-WASHER", 5, "requested")
    ]
    if lang == "en":
        assert "Asked north for 5 x TAP-WASHER" in text and "Requested" in text
    else:
        assert "已向 north 申请 TAP-WASHER 5 件" in text and "已申请" in text


def test_an_incoming_request_is_approved_and_shipped_and_its_stock_leaves(make_app, node, north) -> None:
    async def go() -> tuple[str, str, str]:
        app = make_app(lang="en")
        async with app.run_test(size=SIZE) as pilot:
            screen = await _open_transfers(pilot)
            assert sorted(t["qty"] for t in screen.rows) == [4, 30]
            table = screen.query_one("#transfers")
            table.move_cursor(row=next(i for i, t in enumerate(screen.rows) if t["qty"] == 30))  # type: ignore[attr-defined]
            await _click(pilot, "#step-approve")
            too_much = screen_text(app)
            table.move_cursor(row=next(i for i, t in enumerate(screen.rows) if t["qty"] == 4))  # type: ignore[attr-defined]
            await _click(pilot, "#step-approve")
            await _click(pilot, "#step-ship")
            shipped = screen_text(app)
            table.move_cursor(row=next(i for i, t in enumerate(screen.rows) if t["qty"] == 4))  # type: ignore[attr-defined]
            await _click(pilot, "#step-arrive")
            return too_much, shipped, screen_text(app)

    too_much, shipped, not_ours = run(go())
    assert "cannot approve 30 of WATER-T" in too_much
    steps = {t["qty"]: t["step"] for t in node.transfers()}
    assert steps == {4: "shipped", 30: "requested"}
    assert {s["sku"]: s["qty"] for s in node.stock()}["WATER-T"] == 6
    assert "4 x WATER-T: Shipped." in shipped
    assert "belongs to community 'north'" in not_ours
