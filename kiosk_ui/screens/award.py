"""Award volunteer points to a household (who awarded what and why goes into the ledger)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Grid, Horizontal
from textual.widgets import Button, Input, Label

from edge import EdgeError

from .base import KioskScreen

__all__ = ["AwardScreen"]

REASONS = ("cleanup", "elderly_help", "patrol", "repair_help")


class AwardScreen(KioskScreen):
    """Points award for volunteering."""

    TITLE_KEY = "award.title"
    STAFF_ONLY = True

    def compose_body(self) -> ComposeResult:
        with Horizontal(classes="form"):
            yield Label(self.t("award.household"), classes="k")
            yield Input(value=self.value("award-household"), placeholder="3-201", id="award-household", max_length=32)
            yield Label(self.t("award.points"), classes="k")
            yield Input(value=self.value("award-points") or "10", id="award-points", max_length=5, restrict=r"[0-9]*")
        yield Label(self.t("award.reason_pick"))
        with Grid(id="award-reasons"):
            for r in REASONS:
                yield Button(self.t(f"award.reason.{r}"), id=f"reason-{r}", classes="choice")
        with Horizontal(classes="form"):
            yield Label(self.t("award.reason"), classes="k")
            yield Input(value=self.value("award-reason"), id="award-reason", max_length=200)
            yield Button(self.t("award.submit"), id="award", variant="success")

    def award(self) -> None:
        """Award the points the form says."""
        unit = self.value("award-household").strip()
        points = self.value("award-points") or "10"
        reason = self.value("award-reason").strip()
        if not unit or not points.isdigit() or not reason:
            self.say(self.t("award.fill_in"), "error")
            return
        try:
            bal = self.node.award(unit, int(points), reason, actor=self.actor())
        except EdgeError as exc:
            self.refuse(exc)
            return
        self.kiosk.refresh_status()
        self.say(self.t("award.done", n=int(points), unit=unit, balance=bal["balance"]), "ok")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        bid = event.button.id or ""
        if bid.startswith("reason-"):
            event.stop()
            text = self.t(f"award.reason.{bid.removeprefix('reason-')}")
            self.values["award-reason"] = text
            self.query_one("#award-reason", Input).value = text
        elif bid == "award":
            event.stop()
            self.award()
