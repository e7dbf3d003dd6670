"""Home: large touch targets for residents (no sign-in), a staff button and the language button.

In emergency mode the home screen is simplified: report, my ticket, supplies and notices, with the
emergency numbers on top.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid
from textual.widgets import Button, Label

from ..widgets import EmergencyNumbers
from .base import KioskScreen

__all__ = ["HomeScreen"]

_TILES = (
    ("report", "home.report"),
    ("lookup", "home.lookup"),
    ("points", "home.points"),
    ("supplies", "home.supplies"),
    ("notices", "home.notices"),
    ("lang", "home.lang"),
)
_EMERGENCY_TILES = ("report", "lookup", "supplies", "notices")


class HomeScreen(KioskScreen):
    """The resident home screen (the bottom of the screen stack)."""

    MODE_SENSITIVE = True
    TITLE_KEY = "home.title"
    SHOW_BACK = False
    SHOW_STAFF = True
    BINDINGS: ClassVar[list[BindingType]] = [Binding(str(i + 1), f"tile({i})", show=False) for i in range(len(_TILES))]

    def title_text(self) -> str:
        return self.t("home.title", community=self.node.community)

    def tiles(self) -> list[str]:
        """The tiles shown now (fewer in emergency mode)."""
        if self.kiosk.status_info.get("mode") == "emergency":
            return list(_EMERGENCY_TILES)
        return [name for name, _ in _TILES]

    def compose_body(self) -> ComposeResult:
        tiles = self.tiles()
        if len(tiles) < len(_TILES):
            yield EmergencyNumbers(self.lang)
        yield Label(self.t("home.welcome"), id="welcome")
        keys = dict(_TILES)
        with Grid(id="tiles"):
            for i, name in enumerate(tiles):
                yield Button(f"{i + 1}  {self.t(keys[name])}", id=f"tile-{name}", classes="tile")

    def action_tile(self, index: int) -> None:
        """Open the tile at ``index`` (keys 1..6)."""
        tiles = self.tiles()
        if 0 <= index < len(tiles):
            self.open(tiles[index])

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id and event.button.id.startswith("tile-"):
            event.stop()
            self.open(event.button.id.removeprefix("tile-"))

    def open(self, name: str) -> None:
        """Open the resident screen ``name`` (or switch the language)."""
        if name == "lang":
            self.kiosk.action_toggle_lang()
            return
        self.kiosk.open_resident(name)
