"""``KioskApp``: the lobby kiosk (Textual), on top of one ``edge.Node``.

Locked down: no command palette, no quit key for residents (``ctrl+q`` and ``ctrl+c`` do nothing
unless ``dev``), staff leave kiosk mode only with a manager PIN. Any screen returns home, in the
default language, after ``idle_seconds`` without input (``staff_idle_seconds`` while staff are
signed in, who are then signed out). The status bar and banner are refreshed from
``Node.status()`` every ``status_seconds``: the sync daemon, a separate process, writes into the
same database.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from datetime import tzinfo
from typing import Any, ClassVar

from textual import events
from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import Screen

from edge import EdgeError, Node, NodeStatus

from .i18n import DEFAULT_LANG, LANGS, other_lang
from .screens.award import AwardScreen
from .screens.base import KioskScreen
from .screens.board import BoardScreen
from .screens.emergency import EmergencyScreen
from .screens.health import HealthScreen
from .screens.home import HomeScreen
from .screens.lookup import LookupScreen
from .screens.manager_exit import ManagerExitScreen
from .screens.notices import NoticesScreen
from .screens.points import PointsScreen
from .screens.report import ReportScreen
from .screens.staff_login import StaffLoginScreen
from .screens.staff_menu import StaffMenuScreen
from .screens.stock import StockScreen
from .screens.supplies import SuppliesScreen
from .screens.techs import TechsScreen
from .screens.ticket_detail import TicketDetailScreen

__all__ = ["KioskApp"]

RESIDENT_SCREENS: dict[str, Callable[[], KioskScreen]] = {
    "report": ReportScreen,
    "lookup": LookupScreen,
    "points": PointsScreen,
    "supplies": SuppliesScreen,
    "notices": NoticesScreen,
}
STAFF_SCREENS: dict[str, Callable[[], KioskScreen]] = {
    "board": BoardScreen,
    "stock": StockScreen,
    "award": AwardScreen,
    "techs": TechsScreen,
    "health": HealthScreen,
    "emergency": EmergencyScreen,
}


class KioskApp(App[int], inherit_bindings=False):
    """The kiosk UI.

    Args:
        node: the community node (``edge.Node``) to work on.
        lang: the default language (``zh`` or ``en``); idle returns to it.
        dev: allow ``ctrl+q`` / ``ctrl+c`` to quit (``make demo``); never on a real kiosk.
        idle_seconds: resident idle time before returning home.
        staff_idle_seconds: staff idle time before signing out and returning home.
        status_seconds: how often the status bar is refreshed from ``Node.status()``.
        tz: time zone for times shown (``None``: the system's).
        monotonic: the clock used for idle time (tests inject one).
        ansi: use the 16-colour ANSI theme (``None``: when the terminal has 16 colours or fewer).
    """

    CSS_PATH = "kiosk.tcss"
    ENABLE_COMMAND_PALETTE = False
    TITLE = "Linli"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "request_quit", show=False, priority=True),
        Binding("ctrl+c", "request_quit", show=False, priority=True),
        Binding("f2", "toggle_lang", show=False, priority=True),
        Binding("escape", "go_back", show=False),
    ]

    def __init__(
        self,
        node: Node,
        *,
        lang: str = DEFAULT_LANG,
        dev: bool = False,
        idle_seconds: float = 60.0,
        staff_idle_seconds: float = 180.0,
        status_seconds: float = 2.0,
        tz: tzinfo | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        ansi: bool | None = None,
    ) -> None:
        super().__init__()
        if lang not in LANGS:
            raise ValueError(f"language {lang!r} is not one of {', '.join(LANGS)}")
        self.node = node
        self.default_lang = lang
        self.lang = lang
        self.dev = dev
        self.idle_seconds = idle_seconds
        self.staff_idle_seconds = staff_idle_seconds
        self.status_seconds = status_seconds
        self.tz = tz
        self.ansi = ansi
        self._monotonic = monotonic
        self.last_input = monotonic()
        self.staff: dict[str, Any] | None = None
        self.status_info: NodeStatus = node.status()

    # --- lifecycle -------------------------------------------------------------------------
    def get_default_screen(self) -> Screen[Any]:
        return HomeScreen()

    def on_mount(self) -> None:
        few_colours = str(self.console.color_system) in ("standard", "windows")
        if self.ansi or (self.ansi is None and few_colours):
            self.theme = "ansi-dark"
        self.set_interval(self.status_seconds, self.refresh_status)
        self.set_interval(1.0, self.return_home_if_idle)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key | events.MouseDown | events.MouseScrollDown | events.MouseScrollUp):
            self.note_input()
        await super().on_event(event)

    def note_input(self) -> None:
        """Restart the idle timer (any key or touch)."""
        self.last_input = self._monotonic()

    # --- status ----------------------------------------------------------------------------
    def refresh_status(self) -> None:
        """Re-read ``Node.status()`` and redraw the status bar and banner (and home, if the mode changed)."""
        try:
            status = self.node.status()
        except (EdgeError, sqlite3.Error):
            return
        changed = status.get("mode") != self.status_info.get("mode")
        self.status_info = status
        screen = self.screen
        if isinstance(screen, KioskScreen):
            screen.show_status()
            if changed and screen.stale:
                self.call_later(screen.rebuild)

    # --- idle ------------------------------------------------------------------------------
    async def return_home_if_idle(self) -> None:
        """Return home (signing staff out, back to the default language) after the idle time."""
        limit = self.staff_idle_seconds if self.staff else self.idle_seconds
        if self._monotonic() - self.last_input < limit:
            return
        if len(self.screen_stack) > 1 or self.staff or self.lang != self.default_lang:
            await self.go_home(reset=True)
        self.note_input()

    async def go_home(self, reset: bool = False) -> None:
        """Pop every screen above home; sign staff out; with ``reset``, back to the default language."""
        self.staff = None
        if reset:
            self.lang = self.default_lang
        while len(self.screen_stack) > 1:
            await self.pop_screen()
        home = self.screen
        if isinstance(home, KioskScreen) and home.stale:
            await home.rebuild()
        elif isinstance(home, KioskScreen):
            home.show_status()

    # --- navigation ------------------------------------------------------------------------
    def open_resident(self, name: str) -> None:
        """Open the resident screen ``name`` (report, lookup, points, supplies, notices)."""
        self.push_screen(RESIDENT_SCREENS[name]())

    def open_staff(self, name: str) -> None:
        """Open the staff screen ``name``; ``exit`` asks for a manager PIN, ``logout`` signs out."""
        if self.staff is None:
            self.push_screen(StaffLoginScreen())
        elif name == "logout":
            self.run_worker(self.go_home(), exclusive=True, group="nav")
        elif name == "exit":
            self.push_screen(ManagerExitScreen(), self._exit_answer)
        else:
            self.push_screen(STAFF_SCREENS[name]())

    def open_ticket(self, ticket_id: str) -> None:
        """Open the staff detail of a ticket."""
        self.push_screen(TicketDetailScreen(ticket_id))

    def sign_in(self, staff: dict[str, Any]) -> None:
        """A staff member signed in: the staff menu replaces the sign-in screen."""
        self.staff = staff
        self.switch_screen(StaffMenuScreen())

    def _exit_answer(self, ok: bool | None) -> None:
        if ok:
            self.exit(0)

    # --- actions ---------------------------------------------------------------------------
    def action_request_quit(self) -> None:
        """``ctrl+q`` / ``ctrl+c``: quit only in ``dev`` mode; a kiosk ignores it."""
        if self.dev:
            self.exit(0)

    async def action_quit(self) -> None:
        """Textual's own quit action, routed through the kiosk rule."""
        self.action_request_quit()

    def action_command_palette(self) -> None:
        """No command palette on a kiosk."""

    def action_toggle_lang(self) -> None:
        """Switch between Chinese and English; the current screen recomposes.

        The recompose runs from the app's message loop (``call_later``), never inside the handler of
        the button that asked for it: that button is removed by the recompose.
        """
        self.lang = other_lang(self.lang)
        screen = self.screen
        if isinstance(screen, KioskScreen):
            self.call_later(screen.rebuild)

    def action_home(self) -> None:
        """Back to the home screen (signs staff out)."""
        self.run_worker(self.go_home(), exclusive=True, group="nav")

    def action_go_back(self) -> None:
        """One screen back; leaving the staff screens signs staff out."""
        if len(self.screen_stack) <= 1:
            return
        remaining = self.screen_stack[:-1]
        if self.staff and not any(isinstance(s, KioskScreen) and s.STAFF_ONLY for s in remaining):
            self.staff = None
        self.pop_screen()

    async def action_back(self) -> None:
        """Textual's own back action, routed through the kiosk rule."""
        self.action_go_back()

    def action_staff_login(self) -> None:
        """Open the staff sign-in (or the staff menu when already signed in)."""
        if self.staff:
            self.push_screen(StaffMenuScreen())
        else:
            self.push_screen(StaffLoginScreen())
