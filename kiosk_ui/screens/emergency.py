"""Emergency mode switch: staff declare or end emergency mode for the community (an op, with the
staff member as actor). Emergency mode adds life-safety-first triage, per-household rationing of
emergency supplies and the simplified resident home screen."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Grid, Horizontal
from textual.widgets import Button, Input, Label

from edge import EdgeError

from .base import KioskScreen

__all__ = ["EmergencyScreen"]

REASONS = ("power_cut", "flood", "fire", "network_down")


class EmergencyScreen(KioskScreen):
    """Declare or end emergency mode."""

    TITLE_KEY = "emergency.title"
    STAFF_ONLY = True

    def compose_body(self) -> ComposeResult:
        declared = str(self.kiosk.status_info.get("declared_mode", "normal"))
        yield Label(self.t("emergency.now", mode=self.t(f"mode.{declared}")), id="declared")
        yield Label(self.t("emergency.explain"))
        if declared == "emergency":
            with Horizontal(classes="actions"):
                yield Button(self.t("emergency.end"), id="end", variant="success", classes="big")
            return
        yield Label(self.t("emergency.reason_pick"))
        with Grid(id="emergency-reasons"):
            for r in REASONS:
                yield Button(self.t(f"emergency.reason.{r}"), id=f"reason-{r}", classes="choice")
        with Horizontal(classes="form"):
            yield Label(self.t("emergency.reason"), classes="k")
            yield Input(value=self.value("emergency-reason"), id="emergency-reason", max_length=200)
        with Horizontal(classes="actions"):
            yield Button(self.t("emergency.declare"), id="declare", variant="error", classes="big")

    async def switch(self, mode: str) -> None:
        """Declare ``mode`` (``emergency`` or ``normal``)."""
        try:
            self.node.set_mode(mode, reason=self.value("emergency-reason").strip(), actor=self.actor())
        except EdgeError as exc:
            self.refuse(exc)
            return
        self.kiosk.refresh_status()
        await self.rebuild()
        self.say(self.t(f"emergency.done.{mode}"), "ok")

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        bid = event.button.id or ""
        if bid.startswith("reason-"):
            event.stop()
            text = self.t(f"emergency.reason.{bid.removeprefix('reason-')}")
            self.values["emergency-reason"] = text
            self.query_one("#emergency-reason", Input).value = text
        elif bid in ("declare", "end"):
            event.stop()
            await self.switch("emergency" if bid == "declare" else "normal")
