"""``KioskScreen``: what every kiosk screen shares.

Layout, top to bottom: the top bar (title, back, home, language), the offline / emergency banner,
the screen's body, a message line and the status bar. Text is translated when the screen is
composed; after a language switch the screen recomposes, keeping what was typed (``values``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Input

from edge import EdgeError, Node

from ..i18n import tr
from ..widgets import Banner, MessageLine, StatusBar, TopBar

if TYPE_CHECKING:
    from ..app import KioskApp

__all__ = ["KioskScreen", "explain"]

_ERROR_KEYS = (
    ("AuthFailed", "err.auth"),
    ("RationExceeded", "err.ration"),
    ("InsufficientRights", "err.rights"),
    ("UnknownTicket", "err.unknown_ticket"),
    ("UnknownEntity", "err.unknown"),
    ("Duplicate", "err.duplicate"),
    ("InvalidTransition", "err.transition"),
    ("ScopeForbidden", "err.forbidden"),
    ("InputError", "err.input"),
)


def explain(exc: EdgeError, lang: str, detail: bool = False) -> str:
    """A refusal from ``edge`` in words for people; staff screens add ``edge``'s own detail."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    key = next((k for name, k in _ERROR_KEYS if name in names), "err.generic")
    text = tr(lang, key)
    return f"{text} ({exc})" if detail else text


class KioskScreen(Screen[None]):
    """Base of every kiosk screen (see the module docstring)."""

    AUTO_FOCUS = "#body *"
    TITLE_KEY: ClassVar[str] = "app.title"
    SHOW_BACK: ClassVar[bool] = True
    SHOW_STAFF: ClassVar[bool] = False
    MODE_SENSITIVE: ClassVar[bool] = False
    """Screens whose layout depends on the mode (recomposed when it changes)."""
    STAFF_ONLY: ClassVar[bool] = False
    """Staff screens: refusals show edge's detail, and the screen needs a signed-in staff member."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self.composed_lang: str | None = None
        self.composed_mode: str | None = None

    # --- shortcuts -------------------------------------------------------------------------
    @property
    def kiosk(self) -> KioskApp:
        """The running kiosk app."""
        return cast("KioskApp", self.app)

    @property
    def node(self) -> Node:
        """The edge node the kiosk works on."""
        return self.kiosk.node

    @property
    def lang(self) -> str:
        return self.kiosk.lang

    def t(self, key: str, **values: object) -> str:
        """``key`` translated into the current language."""
        return tr(self.lang, key, **values)

    def actor(self) -> str | None:
        """Who is acting: ``staff:<id>`` when staff are signed in, else ``None`` (a resident)."""
        staff = self.kiosk.staff
        return f"staff:{staff['id']}" if staff else None

    # --- layout ----------------------------------------------------------------------------
    @property
    def stale(self) -> bool:
        """Composed in another language, or (mode-sensitive screens) in another mode."""
        if self.composed_lang is None:
            return False
        mode = self.kiosk.status_info.get("mode")
        return self.composed_lang != self.lang or (self.MODE_SENSITIVE and self.composed_mode != mode)

    def compose(self) -> ComposeResult:
        self.composed_lang = self.lang
        self.composed_mode = str(self.kiosk.status_info.get("mode", "normal"))
        yield TopBar(self.title_text(), self.lang, back=self.SHOW_BACK, staff=self.SHOW_STAFF)
        yield Banner(id="banner")
        with VerticalScroll(id="body"):
            yield from self.compose_body()
        yield MessageLine(id="msg")
        yield StatusBar(id="status")

    def title_text(self) -> str:
        """The title in the top bar."""
        return self.t(self.TITLE_KEY)

    def compose_body(self) -> ComposeResult:
        """The screen's own widgets (subclasses override)."""
        yield from ()

    def value(self, input_id: str) -> str:
        """What was typed into the input ``input_id`` (kept across recomposes)."""
        return self.values.get(input_id, "")

    # --- feedback --------------------------------------------------------------------------
    def say(self, text: str, kind: str = "info") -> None:
        """Show ``text`` on the message line (``error``, ``ok`` or ``info``)."""
        for line in self.query(MessageLine):
            line.say(text, kind)

    def refuse(self, exc: EdgeError) -> None:
        """Show a refusal from ``edge``."""
        self.say(explain(exc, self.lang, detail=self.STAFF_ONLY), "error")

    def show_status(self) -> None:
        """Render the status bar and banner from the app's latest ``Node.status()``."""
        app = self.kiosk
        staff = app.staff["id"] if app.staff else None
        mode = str(app.status_info.get("mode", "normal"))
        for bar in self.query(StatusBar):
            bar.show(app.status_info, self.lang, app.tz, app.node.now_ms(), staff)
        for banner in self.query(Banner):
            banner.show(mode, self.lang)

    def refresh_data(self) -> None:
        """Reload what the screen shows from the node (subclasses with live data override)."""

    # --- events ----------------------------------------------------------------------------
    def on_mount(self) -> None:
        self.show_status()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id:
            self.values[event.input.id] = event.value

    async def rebuild(self) -> None:
        """Recompose in the current language, then show status and data again."""
        await self.recompose()
        self.show_status()
        self.refresh_data()
        self.focus_first()

    def focus_first(self, selector: str | None = None) -> None:
        """Focus the first focusable widget matching ``selector`` (default: ``AUTO_FOCUS``)."""
        for widget in self.query(selector or self.AUTO_FOCUS or "#body *"):
            if widget.focusable:
                self.set_focus(widget)
                return

    async def on_screen_resume(self) -> None:
        if self.stale:
            await self.rebuild()
        else:
            self.refresh_data()
