"""Resident flows through Pilot: report, lookup, points, supplies, notices, idle, language."""

from __future__ import annotations

from typing import Any

from edge import Node
from kiosk_ui.screens.home import HomeScreen
from kiosk_ui.screens.lookup import LookupScreen
from kiosk_ui.screens.points import PointsScreen
from kiosk_ui.screens.report import ReportScreen
from kiosk_ui.seed import HOUSEHOLD_PIN

from .conftest import SIZE, run, screen_text


def _household(node: Node, *, vulnerable: bool, pin: bool) -> str:
    for h in node.households():
        if bool(h["vulnerable"]) == vulnerable and h["has_pin"] == pin:
            return str(h["id"])
    raise AssertionError("the seed has no such household")


async def _report(pilot: Any, category_key: str, unit: str, answers: str, preset: str = "1") -> None:
    """Home -> report -> category -> unit -> answers (y/n string) -> preset -> confirm."""
    await pilot.press("1")
    await pilot.press(category_key)
    await pilot.press(*unit, "enter")
    for a in answers:
        await pilot.press(a)
    await pilot.press(preset)
    await pilot.pause()


def test_report_flow_writes_a_ticket_with_the_urgency_the_answers_set(make_app, node) -> None:
    unit = _household(node, vulnerable=False, pin=False)
    before = {t["code"] for t in node.tickets()}

    async def go() -> tuple[str, dict[str, Any]]:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            # water: water near electrics? no; spreading? yes -> P2, then stop asking? no: P2 keeps asking
            await _report(pilot, "1", unit, "nyyn" + "n")
            screen = app.screen
            assert isinstance(screen, ReportScreen) and screen.step == "confirm"
            await pilot.press("enter")
            await pilot.pause()
            assert screen.step == "done"
            return screen_text(app), dict(screen.ticket or {})

    text, ticket = run(go())
    new = [t for t in node.tickets() if t["code"] not in before]
    assert len(new) == 1
    stored = new[0]
    assert stored["code"] == ticket["code"] and stored["code"] in text
    assert stored["unit"] == unit and stored["category"] == "water"
    assert stored["urgency"] == "P2"
    assert stored["answers"]["water_spreading"] is True
    assert "15 分钟内响应" in text and "2 小时内到场" in text


def test_a_life_safety_answer_makes_p1_stops_the_questions_and_shows_110_119_120(make_app, node) -> None:
    unit = _household(node, vulnerable=False, pin=False)

    async def go() -> tuple[str, str, list[str]]:
        app = make_app(lang="en")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("1", "3", *unit, "enter", "y")  # gas: "Can you smell gas?" yes
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, ReportScreen)
            describe = screen_text(app)
            await pilot.press("1")
            confirm = screen_text(app)
            await pilot.press("enter")
            await pilot.pause()
            return describe, confirm, [screen_text(app), str(screen.ticket["urgency"] if screen.ticket else "")]

    describe, confirm, (done, urgency) = run(go())
    assert urgency == "P1"
    for text in (describe, confirm, done):
        assert "110 police" in text and "119 fire" in text and "120 ambulance" in text
    assert "5 min" in done and "30 min" in done


def test_a_vulnerable_household_is_raised_one_level(make_app, node) -> None:
    unit = next(str(h["id"]) for h in node.households() if h["vulnerable"] and "elderly_alone" not in h["vulnerable"])

    async def go() -> str:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await _report(pilot, "8", unit, "n")  # pests (P4), elderly alone? no
            await pilot.press("enter")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, ReportScreen) and screen.ticket is not None
            return str(screen.ticket["code"])

    code = run(go())
    assert node.ticket(code)["urgency"] == "P3"


def test_an_empty_unit_is_refused_with_a_message_and_nothing_is_written(make_app, node) -> None:
    ops = node.status()["ops"]

    async def go() -> tuple[str, str]:
        app = make_app(lang="en")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("1", "1", "enter")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, ReportScreen)
            return screen.step, screen_text(app)

    step, text = run(go())
    assert step == "unit" and "Please enter your unit first." in text
    assert node.status()["ops"] == ops


def test_the_report_flow_works_by_touch_with_the_keypad(make_app, node) -> None:
    async def go() -> dict[str, Any] | None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.click("#tile-report")
            await pilot.click("#cat-lift")
            for key in ("kp-2", "kp-dash", "kp-6", "kp-enter"):
                await pilot.click(f"#{key}")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, ReportScreen) and screen.step == "triage", screen.step
            await pilot.click("#yes")  # someone trapped
            await pilot.click("#preset-2")
            await pilot.click("#confirm")
            await pilot.pause()
            return screen.ticket

    ticket = run(go())
    assert ticket is not None and ticket["unit"] == "2-6" and ticket["urgency"] == "P1"


def test_lookup_shows_status_stage_times_and_only_the_technicians_first_name(make_app, node) -> None:
    ticket = next(t for t in node.tickets() if t["stage"] == "en_route")
    tech = next(h for h in node.techs() if h["id"] == ticket["assignee"])

    async def go() -> str:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("2", *str(ticket["code"]).lower(), "enter")
            await pilot.pause()
            assert isinstance(app.screen, LookupScreen)
            return screen_text(app)

    text = run(go())
    assert "师傅在路上" in text and "已派单" in text and "已报修" in text
    assert f"{tech['name'][0]}师傅" in text
    assert tech["name"] not in text and tech["phone"] not in text


def test_lookup_of_an_unknown_code_says_so(make_app) -> None:
    async def go() -> str:
        app = make_app(lang="en")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("2", *"nope-9999", "enter")
            await pilot.pause()
            return screen_text(app)

    assert "No ticket with that code" in run(go())


def test_a_resolved_ticket_can_be_rated_from_the_lookup(make_app, node) -> None:
    ticket = next(t for t in node.tickets() if t["stage"] == "on_site")
    node.advance(ticket["code"], "resolved", actor="staff:1001")

    async def go() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("2", *str(ticket["code"]), "enter")
            await pilot.pause()
            await pilot.click("#rate-5")
            await pilot.pause()

    run(go())
    assert node.ticket(ticket["code"])["rating"] == 5


async def _sign_in_points(pilot: Any, unit: str, pin: str) -> None:
    await pilot.press("3")
    await pilot.press(*unit, "enter", *pin, "enter")
    await pilot.pause()


def test_points_show_masked_name_and_phone_and_redeeming_lowers_the_balance(make_app, node) -> None:
    unit = next(u for u in (h["id"] for h in node.households() if h["has_pin"]) if node.balance(u)["balance"] >= 20)
    hh = next(h for h in node.households() if h["id"] == unit)
    before = node.balance(unit)["balance"]

    async def go() -> tuple[str, str]:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await _sign_in_points(pilot, unit, HOUSEHOLD_PIN)
            assert isinstance(app.screen, PointsScreen) and app.screen.household is not None
            shown = screen_text(app)
            await pilot.click("#reward-bike_repair")
            await pilot.pause()
            return shown, screen_text(app)

    shown, after = run(go())
    assert f"积分余额：{before} 分" in shown
    assert hh["name"] not in shown and hh["phone"] not in shown
    assert hh["phone"][:3] + "****" + hh["phone"][-4:] in shown
    assert node.balance(unit)["balance"] == before - 20
    assert "已兑换" in after and f"积分余额：{before - 20} 分" in after


def test_redeem_beyond_balance_is_refused_clearly_and_changes_nothing(make_app, node) -> None:
    unit = next(str(h["id"]) for h in node.households() if h["has_pin"] and node.balance(h["id"])["balance"] < 120)
    before = node.balance(unit)
    ops = node.status()["ops"]

    async def go() -> str:
        app = make_app(lang="en")
        async with app.run_test(size=SIZE) as pilot:
            await _sign_in_points(pilot, unit, HOUSEHOLD_PIN)
            await pilot.click("#reward-deep_clean")
            await pilot.pause()
            return screen_text(app)

    text = run(go())
    assert f"Not enough points: this needs 120, your balance is {before['balance']}" in text
    assert "Nothing was changed." in text
    assert node.balance(unit) == before
    assert node.status()["ops"] == ops


def test_a_wrong_household_pin_is_refused(make_app, node) -> None:
    unit = _household(node, vulnerable=False, pin=True)

    async def go() -> tuple[str, bool]:
        app = make_app(lang="en")
        async with app.run_test(size=SIZE) as pilot:
            await _sign_in_points(pilot, unit, "0000")
            screen = app.screen
            assert isinstance(screen, PointsScreen)
            return screen_text(app), screen.household is None

    text, signed_out = run(go())
    assert signed_out and "Wrong unit, staff id or PIN." in text


def test_a_household_borrows_a_tool_and_stock_goes_down(make_app, node) -> None:
    unit = _household(node, vulnerable=False, pin=True)
    drill = next(r for r in node.stock() if r["sku"] == "DRILL")

    async def go() -> str:
        app = make_app(lang="en")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("4")
            await pilot.pause()
            table = app.screen.query_one("#supplies")
            rows = app.screen.rows  # type: ignore[attr-defined]
            table.move_cursor(row=next(i for i, r in enumerate(rows) if r["sku"] == "DRILL"))  # type: ignore[attr-defined]
            await pilot.click("#borrow")
            await pilot.press(*unit, "enter", *HOUSEHOLD_PIN, "enter")
            await pilot.pause()
            return screen_text(app)

    text = run(go())
    assert "Borrowing recorded: Power drill" in text
    assert next(r for r in node.stock() if r["sku"] == "DRILL")["qty"] == drill["qty"] - 1
    loans = node.loans()
    assert [(x["sku"], x["household"]) for x in loans] == [("DRILL", unit)]


def test_notices_show_in_the_chosen_language(make_app) -> None:
    async def go() -> tuple[str, str]:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("5")
            await pilot.pause()
            zh = screen_text(app)
            await pilot.press("f2")
            await pilot.pause()
            return zh, screen_text(app)

    zh, en = run(go())
    assert "周三停水通知" in zh and "Water off on Wednesday" in en


def test_switching_language_mid_report_keeps_what_was_entered(make_app) -> None:
    async def go() -> tuple[str, str]:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("1", "1", *"5-501")
            await pilot.click("#nav-lang")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, ReportScreen)
            return screen.step, screen_text(app)

    step, text = run(go())
    assert step == "unit" and "Your unit" in text and "5-501" in text


def test_idle_for_a_minute_returns_any_screen_home_in_the_default_language(make_app, mono) -> None:
    async def go() -> tuple[bool, str, bool]:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("1", "1", "f2")
            await pilot.pause()
            mono.t += 59
            await app.return_home_if_idle()
            still = isinstance(app.screen, ReportScreen)
            mono.t += 2
            await app.return_home_if_idle()
            await pilot.pause()
            return still, app.lang, isinstance(app.screen, HomeScreen) and len(app.screen_stack) == 1

    still, lang, home = run(go())
    assert still and home and lang == "zh"
