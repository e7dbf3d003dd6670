"""Staff flows through Pilot: sign-in, dispatch board, ticket detail, stock, points, technicians,
sync and health, emergency mode, leaving kiosk mode; and the lock-down for residents."""

from __future__ import annotations

from typing import Any

from edge import Node
from kiosk_ui.screens.board import BoardScreen
from kiosk_ui.screens.home import HomeScreen
from kiosk_ui.screens.staff_login import StaffLoginScreen
from kiosk_ui.screens.staff_menu import StaffMenuScreen
from kiosk_ui.screens.ticket_detail import TicketDetailScreen, next_stages
from kiosk_ui.seed import STAFF

from .conftest import SIZE, run, screen_text

STAFF_ID, STAFF_PIN = STAFF[0][0], STAFF[0][1]
MANAGER_ID, MANAGER_PIN = STAFF[2][0], STAFF[2][1]


async def _sign_in(pilot: Any, staff_id: str = STAFF_ID, pin: str = STAFF_PIN) -> None:
    await pilot.click("#nav-staff")
    await pilot.press(*staff_id, "enter", *pin, "enter")
    await pilot.pause()


def _conflict(node: Node, code: str) -> None:
    """Two live assigns on one ticket, as two devices assigning concurrently would leave it."""
    t = node.ticket(code)
    techs = [h for h in node.techs() if h["id"] != t["assignee"]][:2]
    with node.store.tx() as tx:
        for h in techs:
            tx.emit(t["scope"], "ticket.assign", t["id"], {"tech": h["id"], "supersedes": []}, "staff:other")


def test_a_wrong_staff_pin_is_refused_and_stays_on_the_sign_in(make_app) -> None:
    async def go() -> tuple[bool, str, Any]:
        app = make_app(lang="en")
        async with app.run_test(size=SIZE) as pilot:
            await _sign_in(pilot, pin="0000")
            return isinstance(app.screen, StaffLoginScreen), screen_text(app), app.staff

    on_login, text, staff = run(go())
    assert on_login and staff is None and "Wrong unit, staff id or PIN." in text


def test_the_board_lists_open_tickets_by_priority_with_countdowns(make_app, node) -> None:
    async def go() -> tuple[list[int], list[str], str]:
        app = make_app(lang="en")
        async with app.run_test(size=SIZE) as pilot:
            await _sign_in(pilot)
            assert isinstance(app.screen, StaffMenuScreen)
            await pilot.press("1")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, BoardScreen)
            return [r.priority for r in screen.rows], [str(r.ticket["code"]) for r in screen.rows], screen_text(app)

    priorities, codes, text = run(go())
    open_codes = {t["code"] for t in node.tickets(open_only=True)}
    assert set(codes) == open_codes and len(codes) >= 4
    assert priorities == sorted(priorities, reverse=True)
    assert "late" in text and "left" in text
    assert codes[0] in text


def test_staff_assign_from_the_detail_updates_status_and_board(make_app, node) -> None:
    ticket = next(t for t in node.tickets(open_only=True) if t["stage"] == "reported")
    tech = next(
        h
        for h in node.techs()
        if ticket["category"] in h["skills"] and ticket["category"] in (*h["certs"], "water", "door")
    )

    async def go() -> tuple[str, str]:
        app = make_app(lang="en")
        async with app.run_test(size=SIZE) as pilot:
            await _sign_in(pilot)
            await pilot.press("1")
            await pilot.pause()
            board = app.screen
            assert isinstance(board, BoardScreen)
            row = next(i for i, r in enumerate(board.rows) if r.ticket["id"] == ticket["id"])
            board.query_one("#board").move_cursor(row=row)  # type: ignore[attr-defined]
            await pilot.click("#open")
            await pilot.pause()
            assert isinstance(app.screen, TicketDetailScreen)
            app.screen.query_one(f"#assign-{tech['id']}").scroll_visible(animate=False)
            await pilot.pause()
            await pilot.click(f"#assign-{tech['id']}")
            await pilot.pause()
            detail = screen_text(app)
            await pilot.click("#nav-back")
            await pilot.pause()
            assert app.screen is board
            return detail, screen_text(app)

    detail, board_text = run(go())
    stored = node.ticket(ticket["code"])
    assert stored["assignee"] == tech["id"] and stored["status"] == "assigned"
    assert stored["assigns"][0]["tech"] == tech["id"]
    assert "Assigned." in detail
    line = next(line for line in board_text.splitlines() if ticket["code"] in line)
    assert tech["name"] in line and "assigned" in line


def test_an_assignment_conflict_is_highlighted_and_reassigning_resolves_it(make_app, node) -> None:
    ticket = next(t for t in node.tickets(open_only=True) if t["assignee"])
    _conflict(node, ticket["code"])
    assert node.ticket(ticket["code"])["conflict"]

    async def go() -> tuple[str, Any]:
        app = make_app(lang="en")
        async with app.run_test(size=SIZE) as pilot:
            await _sign_in(pilot)
            await pilot.press("1")
            await pilot.pause()
            board = app.screen
            assert isinstance(board, BoardScreen)
            text = screen_text(app)
            row = next(r for r in board.rows if r.ticket["id"] == ticket["id"])
            cells = board._cells(row)
            return text, cells

    text, cells = run(go())
    line = next(line for line in text.splitlines() if ticket["code"] in line)
    assert "CONFLICT!" in line
    tech_cell = cells[6]  # the technician column
    assert "red" in str(tech_cell.style)
    node.assign(ticket["code"], ticket["assignee"], actor="staff:1001")
    assert not node.ticket(ticket["code"])["conflict"]


def test_accepting_all_proposals_assigns_the_unassigned_tickets(make_app, node) -> None:
    unassigned = [t["code"] for t in node.tickets(open_only=True) if not t["assignee"]]
    assert unassigned

    async def go() -> None:
        app = make_app(lang="en")
        async with app.run_test(size=SIZE) as pilot:
            await _sign_in(pilot)
            await pilot.press("1")
            await pilot.pause()
            await pilot.press("a")
            await pilot.pause()

    run(go())
    assert any(node.ticket(c)["assignee"] for c in unassigned)


def test_the_detail_moves_a_ticket_on_records_comments_and_parts(make_app, node) -> None:
    ticket = next(t for t in node.tickets(open_only=True) if t["stage"] == "assigned")
    lock = next(r for r in node.stock() if r["sku"] == "FUSE-16A")

    async def go() -> str:
        app = make_app(lang="en")
        async with app.run_test(size=SIZE) as pilot:
            await _sign_in(pilot)
            app.open_ticket(str(ticket["id"]))
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, TicketDetailScreen)
            await screen.act("stage-en_route")
            screen.values.update({"comment": "回访：住户确认", "part-sku": "FUSE-16A", "part-qty": "2"})
            await screen.act("add-comment")
            screen.values.update({"part-sku": "FUSE-16A", "part-qty": "2"})
            await screen.act("use-part")
            await pilot.pause()
            return screen_text(app)

    text = run(go())
    stored = node.ticket(ticket["code"])
    assert stored["stage"] == "en_route"
    kinds = [(n["kind"], n["text"], n["sku"]) for n in stored["notes"]]
    assert ("comment", "回访：住户确认", None) in kinds and ("part", "", "FUSE-16A") in kinds
    assert next(r for r in node.stock() if r["sku"] == "FUSE-16A")["qty"] == lock["qty"] - 2
    assert "Part recorded" in text


def test_next_stages_follow_the_write_rule_of_the_status_lattice() -> None:
    assert next_stages("reported") == ["triaged", "en_route", "on_site", "resolved", "cancelled"]
    assert next_stages("on_site") == ["resolved", "cancelled"]
    assert next_stages("resolved") == ["closed", "reopen"]
    assert next_stages("closed") == ["reopen"]
    assert next_stages("cancelled") == []


def test_stock_receive_and_an_issue_beyond_rights_is_refused(make_app, node) -> None:
    water = next(r for r in node.stock() if r["sku"] == "WATER-5L")

    async def go() -> tuple[str, str]:
        app = make_app(lang="en")
        async with app.run_test(size=SIZE) as pilot:
            await _sign_in(pilot)
            await pilot.press("2")
            await pilot.pause()
            screen = app.screen
            screen.values.update({"stock-sku": "WATER-5L", "stock-qty": "10"})  # type: ignore[attr-defined]
            screen.move("receive")  # type: ignore[attr-defined]
            ok = screen_text(app)
            screen.values.update({"stock-qty": str(water["qty"] + 100)})  # type: ignore[attr-defined]
            screen.move("issue")  # type: ignore[attr-defined]
            await pilot.pause()
            return ok, screen_text(app)

    ok, refused = run(go())
    after = next(r for r in node.stock() if r["sku"] == "WATER-5L")
    assert after["qty"] == water["qty"] + 10 and after["rights"] == water["rights"] + 10
    assert f"Received WATER-5L: {water['qty'] + 10} in stock" in ok
    assert "Not enough left to do that. Nothing was changed." in refused


def test_awarding_points_raises_the_balance_and_records_the_reason(make_app, node) -> None:
    unit = str(node.households()[3]["id"])
    before = node.balance(unit)["balance"]

    async def go() -> str:
        app = make_app(lang="en")
        async with app.run_test(size=SIZE) as pilot:
            await _sign_in(pilot)
            await pilot.press("3")
            await pilot.pause()
            await pilot.click("#award-household")
            await pilot.press(*unit)
            await pilot.click("#reason-patrol")
            await pilot.click("#award")
            await pilot.pause()
            return screen_text(app)

    text = run(go())
    bal = node.balance(unit)
    assert bal["balance"] == before + 10
    assert bal["history"][0]["reason"] == "Night safety patrol" and bal["history"][0]["actor"] == "staff:1001"
    assert f"Awarded 10 points to {unit}" in text


def test_setting_a_technician_off_shows_in_the_roster(make_app, node) -> None:
    async def go() -> tuple[str, str]:
        app = make_app(lang="en")
        async with app.run_test(size=SIZE) as pilot:
            await _sign_in(pilot)
            await pilot.press("4")
            await pilot.pause()
            first = app.screen.rows[0]  # type: ignore[attr-defined]
            await pilot.click("#status-off")
            await pilot.pause()
            return str(first["id"]), screen_text(app)

    tech_id, text = run(go())
    tech = next(h for h in node.techs() if h["id"] == tech_id)
    assert tech["status"] == "off" and f"{tech['name']} is now off." in text


def test_sync_and_health_shows_mode_pending_ops_and_alarms(make_app, node) -> None:
    node.store.set("audit_alarm", "checkpoint 12 does not extend checkpoint 11")
    pending = node.status()["pending"]

    async def go() -> str:
        app = make_app(lang="en")
        async with app.run_test(size=SIZE) as pilot:
            await _sign_in(pilot)
            app.refresh_status()
            await pilot.press("5")
            await pilot.pause()
            return screen_text(app)

    text = run(go())
    assert "Pending ops" in text and str(pending) in text
    assert "checkpoint 12 does not extend checkpoint 11" in text
    assert "Last sync" in text and "never" in text and "Disk free" in text and "Clock skew" in text


def test_declaring_emergency_shows_the_banner_and_simplifies_home(make_app, node) -> None:
    async def go() -> tuple[str, str, list[str]]:
        app = make_app(lang="en")
        async with app.run_test(size=SIZE) as pilot:
            await _sign_in(pilot)
            await pilot.press("6")
            await pilot.pause()
            await pilot.click("#reason-flood")
            await pilot.click("#declare")
            await pilot.pause()
            staff_view = screen_text(app)
            await pilot.click("#nav-home")
            await pilot.pause()
            home = app.screen
            assert isinstance(home, HomeScreen) and app.staff is None
            return staff_view, screen_text(app), home.tiles()

    staff_view, home_text, tiles = run(go())
    assert node.mode() == "emergency" and node.status()["declared_mode"] == "emergency"
    assert "EMERGENCY MODE: life safety first!" in staff_view and "Mode: emergency" in staff_view
    assert "EMERGENCY MODE" in home_text and "110 police" in home_text
    assert tiles == ["report", "lookup", "supplies", "notices"]


def test_leaving_kiosk_mode_needs_a_manager_pin(make_app) -> None:
    async def go() -> tuple[bool, str, Any]:
        app = make_app(lang="en")
        async with app.run_test(size=SIZE) as pilot:
            await _sign_in(pilot)
            await pilot.press("7")
            await pilot.press(*STAFF_ID, "enter", *STAFF_PIN, "enter")
            await pilot.pause()
            refused = screen_text(app)
            still_running = app.is_running
            dialog = app.screen
            dialog.query_one("#exit-id").value = MANAGER_ID  # type: ignore[attr-defined]
            dialog.query_one("#exit-pin").value = MANAGER_PIN  # type: ignore[attr-defined]
            await pilot.click("#exit-confirm")
            await pilot.pause()
            return still_running, refused, app.return_value

    still_running, refused, code = run(go())
    assert still_running and "Only a manager may leave kiosk mode." in refused
    assert code == 0


def test_residents_cannot_quit_or_open_a_command_palette(make_app) -> None:
    async def go() -> tuple[bool, int, list[str]]:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("ctrl+q", "ctrl+c", "ctrl+p", "ctrl+backslash", "ctrl+z")
            await pilot.pause()
            actions = [b.binding.action for b in app.active_bindings.values()]
            return app.is_running, len(app.screen_stack), actions

    running, depth, actions = run(go())
    assert running and depth == 1
    assert "quit" not in actions and "command_palette" not in actions and "suspend_process" not in actions


def test_dev_mode_quits_on_ctrl_q(make_app) -> None:
    async def go() -> Any:
        app = make_app(dev=True)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("ctrl+q")
            await pilot.pause()
        return app.return_value

    assert run(go()) == 0


def test_staff_are_signed_out_when_idle(make_app, mono) -> None:
    async def go() -> tuple[Any, bool]:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await _sign_in(pilot)
            await pilot.press("1")
            await pilot.pause()
            mono.t += app.staff_idle_seconds + 1
            await app.return_home_if_idle()
            await pilot.pause()
            return app.staff, isinstance(app.screen, HomeScreen)

    staff, home = run(go())
    assert staff is None and home


def test_going_back_from_the_staff_menu_signs_out(make_app) -> None:
    async def go() -> Any:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await _sign_in(pilot)
            await pilot.press("escape")
            await pilot.pause()
            return app.staff

    assert run(go()) is None
