"""Move a household's points rights from this kiosk to another device of the community.

Points awarded at a kiosk may be redeemed only where their rights are; before a kiosk is retired (or
to let a household redeem at the other lobby), staff move the rights to another enrolled device. A
move to a device that is unknown, revoked or of another community is refused by ``edge`` with a
message that says why.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Grid, Horizontal
from textual.widgets import Button, Input, Label

from edge import EdgeError

from .base import KioskScreen

__all__ = ["RightsScreen"]


class RightsScreen(KioskScreen):
    """Points rights: household, number, and the device that receives them."""

    TITLE_KEY = "rights.title"
    STAFF_ONLY = True

    def compose_body(self) -> ComposeResult:
        with Horizontal(classes="form"):
            yield Label(self.t("rights.household"), classes="k")
            yield Input(value=self.value("rights-household"), placeholder="3-201", id="rights-household", max_length=32)
            yield Label(self.t("rights.points"), classes="k")
            yield Input(value=self.value("rights-points"), id="rights-points", max_length=6, restrict=r"[0-9]*")
        yield Label(self.t("rights.pick"))
        with Grid(id="rights-devices"):
            for d in self.node.rights_targets()[:8]:
                yield Button(f"{d['name'] or d['dev'][:8]} ({d['role']})", id=f"dev-{d['dev']}", classes="choice")
        with Horizontal(classes="form"):
            yield Label(self.t("rights.device"), classes="k")
            yield Input(value=self.value("rights-device"), id="rights-device", max_length=40)
            yield Button(self.t("rights.submit"), id="rights-move", variant="success")

    def move(self) -> None:
        """Move the rights the form says."""
        unit = self.value("rights-household").strip()
        points = self.value("rights-points")
        device = self.value("rights-device").strip()
        if not unit or not points.isdigit() or not device:
            self.say(self.t("rights.fill_in"), "error")
            return
        try:
            bal = self.node.move_points_rights(unit, int(points), device, actor=self.actor())
        except EdgeError as exc:
            self.refuse(exc)
            return
        self.say(self.t("rights.done", n=int(points), unit=unit, dev=device[:8], left=bal["spendable_here"]), "ok")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        bid = event.button.id or ""
        if bid.startswith("dev-"):
            event.stop()
            dev = bid.removeprefix("dev-")
            self.values["rights-device"] = dev
            self.query_one("#rights-device", Input).value = dev
        elif bid == "rights-move":
            event.stop()
            self.move()
