"""SVG snapshots of the main screens in both languages (CJK alignment is visible in them), the
offline and emergency banners, and the 16-colour theme. Update only after looking at them:
``pytest tests/kiosk_ui/test_snapshots.py --snapshot-update``."""

from __future__ import annotations

from typing import Any

import pytest

from kiosk_ui.seed import HOUSEHOLD_PIN

from .conftest import NOW_MS, SIZE

LANGS = ["zh", "en"]


async def _to_confirm_p1(pilot: Any) -> None:
    await pilot.press("1", "4", *"2-1601", "enter", "y", "2")
    await pilot.pause()


@pytest.mark.parametrize("lang", LANGS)
def test_home(snap_compare, make_app, lang) -> None:
    assert snap_compare(make_app(lang=lang), terminal_size=SIZE)


@pytest.mark.parametrize("lang", LANGS)
def test_report_categories(snap_compare, make_app, lang) -> None:
    assert snap_compare(make_app(lang=lang), press=["1"], terminal_size=SIZE)


@pytest.mark.parametrize("lang", LANGS)
def test_report_triage_question(snap_compare, make_app, lang) -> None:
    assert snap_compare(make_app(lang=lang), press=["1", "1", *"6-1203", "enter"], terminal_size=SIZE)


@pytest.mark.parametrize("lang", LANGS)
def test_report_confirm_p1_shows_emergency_numbers(snap_compare, make_app, lang) -> None:
    assert snap_compare(make_app(lang=lang), run_before=_to_confirm_p1, terminal_size=SIZE)


@pytest.mark.parametrize("lang", LANGS)
def test_report_done_shows_code_and_targets(snap_compare, make_app, lang) -> None:
    async def before(pilot: Any) -> None:
        await pilot.press("1", "8", *"6-1203", "enter", "n", "1", "enter")
        await pilot.pause()

    assert snap_compare(make_app(lang=lang), run_before=before, terminal_size=SIZE)


@pytest.mark.parametrize("lang", LANGS)
def test_ticket_lookup(snap_compare, make_app, node, lang) -> None:
    code = next(t["code"] for t in node.tickets() if t["stage"] == "en_route")
    assert snap_compare(make_app(lang=lang), press=["2", *code, "enter"], terminal_size=SIZE)


@pytest.mark.parametrize("lang", LANGS)
def test_points_of_a_household(snap_compare, make_app, node, lang) -> None:
    unit = next(str(h["id"]) for h in node.households() if h["has_pin"] and node.balance(h["id"])["history"])
    assert snap_compare(make_app(lang=lang), press=["3", *unit, "enter", *HOUSEHOLD_PIN, "enter"], terminal_size=SIZE)


@pytest.mark.parametrize("lang", LANGS)
def test_dispatch_board(snap_compare, make_app, lang) -> None:
    async def before(pilot: Any) -> None:
        await pilot.pause()
        await pilot.click("#nav-staff")
        await pilot.press(*"1001", "enter", *"2468", "enter", "1")
        await pilot.pause()

    assert snap_compare(make_app(lang=lang), run_before=before, terminal_size=SIZE)


def test_home_offline_banner(snap_compare, make_app, node) -> None:
    node.store.set("server_url", "http://127.0.0.1:9")
    node.store.set("last_sync_ms", NOW_MS - 10 * 60_000)
    assert snap_compare(make_app(), terminal_size=SIZE)


def test_home_in_emergency_mode(snap_compare, make_app, node) -> None:
    node.set_mode("emergency", reason="flood", actor="staff:1001")
    assert snap_compare(make_app(lang="en"), terminal_size=SIZE)


@pytest.mark.parametrize("lang", LANGS)
def test_report_confirm_in_the_16_colour_theme(snap_compare, make_app, lang) -> None:
    assert snap_compare(make_app(lang=lang, ansi=True), run_before=_to_confirm_p1, terminal_size=SIZE)
