"""The audit alarm on the staff health screen (``docs/audit.md``): shown with its code and reason, cleared by staff."""

from __future__ import annotations

from typing import Any

from edge.audit.client import ALARM_KEY
from kiosk_ui.seed import STAFF

from .conftest import SIZE, run, screen_text

STAFF_ID, STAFF_PIN = STAFF[0][0], STAFF[0][1]
ALARM = {
    "code": "consistency",
    "reason": "the district's log of size 12 does not extend the log of size 11 this node verified",
    "at": 1,
    "server": "http://district.test",
    "checkpoint": "linli.district/West\n12\n...",
    "trusted": None,
}


async def _health(app: Any, pilot: Any) -> None:
    await pilot.click("#nav-staff")
    await pilot.press(*STAFF_ID, "enter", *STAFF_PIN, "enter")
    await pilot.pause()
    app.refresh_status()
    await pilot.press("5")
    await pilot.pause()


def test_a_standing_audit_alarm_is_named_and_a_signed_in_staff_member_clears_it(make_app, node) -> None:
    node.store.set(ALARM_KEY, ALARM)

    async def go() -> tuple[str, bool, str, bool]:
        app = make_app(lang="en")
        async with app.run_test(size=SIZE) as pilot:
            await _health(app, pilot)
            before = screen_text(app)
            shown = bool(app.screen.query_one("#clear-audit").display)
            await pilot.click("#clear-audit")
            await pilot.pause()
            return before, shown, screen_text(app), bool(app.screen.query_one("#clear-audit").display)

    before, shown, after, still_shown = run(go())
    assert "consistency: the district's log of size 12" in before and shown
    assert node.store.get(ALARM_KEY) is None and node.status()["audit_alarm"] is None
    history = node.store.get("audit_alarm_history")
    assert history[-1]["cleared_by"] == f"staff:{STAFF_ID}" and history[-1]["alarm"]["code"] == "consistency"
    assert f"Audit alarm cleared by staff:{STAFF_ID}." in after and not still_shown


def test_without_an_alarm_the_clear_button_is_hidden(make_app, node) -> None:
    async def go() -> tuple[str, bool]:
        app = make_app(lang="zh")
        async with app.run_test(size=SIZE) as pilot:
            await _health(app, pilot)
            return screen_text(app), bool(app.screen.query_one("#clear-audit").display)

    text, shown = run(go())
    assert "审计告警" in text and not shown
    assert node.store.get("audit_alarm_history") is None
