"""The staff menu: dispatch board, stock, points award, technicians, sync & health, emergency mode,
leaving kiosk mode (manager PIN), signing out, KPIs, stock transfers and moving points rights."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid
from textual.widgets import Button, Label

from .base import KioskScreen
from .kpi import KpiScreen
from .rights import RightsScreen
from .transfers import TransfersScreen

__all__ = ["StaffMenuScreen"]

ENTRIES = ("board", "stock", "award", "techs", "health", "emergency", "exit", "logout", "kpi", "transfers", "rights")
# The tenth entry's key is 0; the eleventh has no key of its own.


class StaffMenuScreen(KioskScreen):
    """Staff home."""

    TITLE_KEY = "staff.menu.title"
    STAFF_ONLY = True
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(str((i + 1) % 10), f"open('{name}')", show=False) for i, name in enumerate(ENTRIES[:10])
    ]

    def compose_body(self) -> ComposeResult:
        staff = self.kiosk.staff or {"id": "?", "role": "staff"}
        yield Label(self.t("staff.menu.hello", id=staff["id"], role=self.t(f"role.{staff['role']}")))
        with Grid(id="staff-tiles"):
            for i, name in enumerate(ENTRIES):
                label = f"{(i + 1) % 10}  {self.t(f'staff.menu.{name}')}" if i < 10 else self.t(f"staff.menu.{name}")
                if name == "emergency":
                    yield Button(label, id=f"menu-{name}", classes="tile", variant="error")
                else:
                    yield Button(label, id=f"menu-{name}", classes="tile")

    def action_open(self, name: str) -> None:
        """Open the staff screen ``name``."""
        if name == "kpi" and self.kiosk.staff is not None:
            self.app.push_screen(KpiScreen())
        elif name == "transfers" and self.kiosk.staff is not None:
            self.app.push_screen(TransfersScreen())
        elif name == "rights" and self.kiosk.staff is not None:
            self.app.push_screen(RightsScreen())
        else:
            self.kiosk.open_staff(name)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        bid = event.button.id or ""
        if bid.startswith("menu-"):
            event.stop()
            self.action_open(bid.removeprefix("menu-"))
