"""Staff screens through Pilot: the KPI view (from the staff menu, both languages, three
periods) and the dispatch board showing the daemon's stored proposals while offline."""

from __future__ import annotations

from typing import Any

from edge import Node
from kiosk_ui.screens.board import BoardScreen
from kiosk_ui.screens.kpi import KpiScreen, percent, spread
from kiosk_ui.seed import STAFF

from .conftest import SIZE, run, screen_text

STAFF_ID, STAFF_PIN = STAFF[0][0], STAFF[0][1]
MINUTE = 60_000


async def _sign_in(pilot: Any) -> None:
    await pilot.click("#nav-staff")
    await pilot.press(*STAFF_ID, "enter", *STAFF_PIN, "enter")
    await pilot.pause()


def test_percentages_and_spreads_are_written_for_people() -> None:
    assert [percent(v) for v in (None, 0, 5000, 6667, 8750, 10000)] == [
        "-",
        "0.0%",
        "50.0%",
        "66.7%",
        "87.5%",
        "100.0%",
    ]
    assert spread({"n": 0, "p50": None, "p90": None}, "en") == "-"
    assert spread({"n": 2, "p50": 3 * MINUTE, "p90": 150 * MINUTE}, "en") == "3 min / 2 h"


def test_the_kpi_view_opens_from_the_staff_menu_and_shows_the_nodes_figures(make_app, node: Node) -> None:
    week = node.kpi("week")
    day = node.kpi("day")

    async def go() -> tuple[str, str, str]:
        app = make_app(lang="en")
        async with app.run_test(size=SIZE) as pilot:
            await _sign_in(pilot)
            await pilot.press("9")
            await pilot.pause()
            assert isinstance(app.screen, KpiScreen)
            week_text = screen_text(app)
            await pilot.press("d")
            await pilot.pause()
            day_text = screen_text(app)
            app.action_toggle_lang()
            await pilot.pause()
            return week_text, day_text, screen_text(app)

    week_text, day_text, zh_text = run(go())
    assert "Last 7 days: 7 tickets reported." in week_text and week["tickets"] == 7
    for urgency, row in week["by_urgency"].items():
        line = next(line for line in week_text.splitlines() if line.strip().startswith(urgency))
        assert f"{percent(row['sla_pct_x100'])} ({row['sla_attained']}/{row['sla_total']})" in line
        assert str(row["count"]) in line
    ftf = week["first_time_fix"]
    assert f"First-time fix: {percent(ftf['pct_x100'])} ({ftf['fixed_first_time']} of {ftf['resolved']}" in week_text
    assert "Resident satisfaction: 4.00 of 5 (1 ratings)" in week_text and week["satisfaction"]["mean_x100"] == 400
    assert f"Last 24 hours: {day['tickets']} tickets reported." in day_text
    assert "响应 p50 / p90" in zh_text and "一次修复率" in zh_text and "最近24小时" in zh_text
    assert not any("kpi." in text for text in (week_text, day_text, zh_text))  # no raw catalogue key


def test_offline_the_board_shows_the_daemons_proposals_and_accepting_assigns_them(make_app, node: Node) -> None:
    node.store.set("server_url", "http://district.test")  # enrolled, never synced: offline
    assert node.mode() == "offline"
    node.dispatch_round()
    stored = node.stored_proposals()
    assert stored is not None and stored["proposals"]

    async def go() -> tuple[str, list[str]]:
        app = make_app(lang="en")
        async with app.run_test(size=SIZE) as pilot:
            await _sign_in(pilot)
            await pilot.press("1")
            await pilot.pause()
            board = app.screen
            assert isinstance(board, BoardScreen)
            text = screen_text(app)
            await pilot.press("a")
            await pilot.pause()
            return text, [str(r.ticket["assignee"]) for r in board.rows]

    text, _ = run(go())
    assert "Offline: the dispatcher's proposals of 09:30." in text
    for p in stored["proposals"]:
        line = next(line for line in text.splitlines() if p["ticket"] in line)
        assert f"suggest {p['tech_name']}" in line
        shown = node.ticket(p["ticket_id"])
        assert shown["assignee"] == p["tech"] and shown["assigns"][0]["tech"] == p["tech"]
    proposed = {p["ticket_id"] for p in stored["proposals"]}
    rows = node.conn.execute("SELECT ticket, actor FROM ticket_assigns").fetchall()
    actors = {actor for ticket, actor in rows if ticket in proposed}
    assert actors == {f"staff:{STAFF_ID}"}
