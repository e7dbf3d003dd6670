"""Reusable kiosk widgets: top bar, banner, status bar, message line, keypad, emergency numbers and
household sign-in. Each carries its own ``DEFAULT_CSS``; colours are theme variables or the 16 ANSI
colours, so they hold up in a 16-colour terminal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import tzinfo
from typing import Any

from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Digits, Input, Label, Static

from . import fmt
from .i18n import tr
from .triage import EMERGENCY_NUMBERS

__all__ = ["Banner", "EmergencyNumbers", "HouseholdLogin", "KeyPad", "MessageLine", "StatusBar", "TopBar"]


class TopBar(Horizontal):
    """Title on the left; back, home, staff and language buttons on the right (touch targets)."""

    DEFAULT_CSS = """
    TopBar { height: 3; background: $panel; }
    TopBar > .title { width: 1fr; height: 3; content-align: left middle; padding: 0 1; text-style: bold; }
    TopBar > Button { height: 3; min-width: 10; margin: 0 0 0 1; }
    """

    def __init__(self, title: str, lang: str, *, back: bool, staff: bool) -> None:
        super().__init__()
        self._title = title
        self._lang = lang
        self._back = back
        self._staff = staff

    def compose(self) -> ComposeResult:
        yield Label(self._title, classes="title", markup=False)
        if self._back:
            yield Button(tr(self._lang, "nav.back"), id="nav-back", action="app.go_back")
            yield Button(tr(self._lang, "nav.home"), id="nav-home", action="app.home")
        if self._staff:
            yield Button(tr(self._lang, "nav.staff"), id="nav-staff", action="app.staff_login")
        yield Button(tr(self._lang, "nav.lang"), id="nav-lang", variant="primary", action="app.toggle_lang")


class Banner(Static):
    """An unmistakable banner while the kiosk is offline or in emergency mode (hidden otherwise)."""

    DEFAULT_CSS = """
    Banner { height: auto; padding: 0 1; text-style: bold; display: none; }
    Banner.-offline { display: block; background: ansi_yellow; color: ansi_black; }
    Banner.-emergency { display: block; background: ansi_red; color: ansi_bright_white; }
    """

    def show(self, mode: str, lang: str) -> None:
        """Show the banner for ``mode`` (``offline`` or ``emergency``) or hide it (``normal``)."""
        self.set_class(mode == "offline", "-offline")
        self.set_class(mode == "emergency", "-emergency")
        self.update(tr(lang, f"banner.{mode}") if mode in ("offline", "emergency") else "")


class StatusBar(Static):
    """Mode, last sync, pending ops, signed-in staff and the time: always at the bottom."""

    DEFAULT_CSS = """
    StatusBar { height: 1; padding: 0 1; background: ansi_blue; color: ansi_bright_white; }
    StatusBar.-offline { background: ansi_yellow; color: ansi_black; }
    StatusBar.-emergency { background: ansi_red; color: ansi_bright_white; }
    """

    def show(self, status: Mapping[str, Any], lang: str, tz: tzinfo | None, now_ms: int, staff: str | None) -> None:
        """Render ``status`` (a ``Node.status()`` dict)."""
        mode = str(status.get("mode", "normal"))
        self.set_class(mode == "offline", "-offline")
        self.set_class(mode == "emergency", "-emergency")
        parts = [
            tr(lang, "status.mode", mode=tr(lang, f"mode.{mode}")),
            tr(lang, "status.last_sync", time=fmt.stamp(status.get("last_sync"), tz)),
            tr(lang, "status.pending", n=int(status.get("pending") or 0)),
        ]
        if staff:
            parts.append(tr(lang, "status.staff", id=staff))
        parts.append(fmt.clock(now_ms, tz))
        self.update(" │ ".join(parts))


class MessageLine(Static):
    """One line of feedback under the body: a refusal, a confirmation or a hint."""

    DEFAULT_CSS = """
    MessageLine { height: auto; min-height: 1; padding: 0 1; }
    MessageLine.-error { background: ansi_red; color: ansi_bright_white; text-style: bold; }
    MessageLine.-ok { background: ansi_green; color: ansi_black; text-style: bold; }
    """

    def say(self, text: str, kind: str = "info") -> None:
        """Show ``text``; ``kind`` is ``error``, ``ok`` or ``info``."""
        self.set_class(kind == "error", "-error")
        self.set_class(kind == "ok", "-ok")
        self.update(text)


class KeyPad(Grid):
    """Touch keypad for digits, ``-`` and extra keys; types into the focused input of the screen.

    Its buttons never take focus, so the input being filled keeps it.
    """

    DEFAULT_CSS = """
    KeyPad { grid-size: 4; grid-gutter: 0 1; height: auto; width: 52; grid-rows: 3; }
    KeyPad > Button { width: 100%; min-width: 6; }
    """

    class Pressed(Message):
        """A keypad key was pressed (after it was typed into the target input)."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    def __init__(self, extra: Iterable[str] = (), *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._extra = list(extra)

    def compose(self) -> ComposeResult:
        keys = ["1", "2", "3", "-", "4", "5", "6", "⌫", "7", "8", "9", "↵", *self._extra, "0"]
        names = {"-": "dash", "⌫": "back", "↵": "enter"}
        for key in keys:
            name = names.get(key) or (key if key.isdigit() else f"extra-{self._extra.index(key)}")
            button = Button(key, id=f"kp-{name}", classes="kp")
            button.can_focus = False
            button.kp_key = key  # type: ignore[attr-defined]
            yield button

    def _target(self) -> Input | None:
        focused = self.screen.focused
        if isinstance(focused, Input):
            return focused
        found = list(self.screen.query(Input))
        return found[0] if found else None

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        key = str(getattr(event.button, "kp_key", ""))
        target = self._target()
        if target is not None:
            if key == "⌫":
                target.value = target.value[:-1]
            elif key == "↵":
                await target.action_submit()
            else:
                target.insert_text_at_cursor(key)
        self.post_message(self.Pressed(key))


class EmergencyNumbers(Vertical):
    """The emergency numbers 110 / 119 / 120 in large digits (every P1 report shows them)."""

    DEFAULT_CSS = """
    EmergencyNumbers { height: auto; background: ansi_red; color: ansi_bright_white; padding: 0 2; margin: 1 0; }
    EmergencyNumbers > Label { width: 100%; text-style: bold; }
    EmergencyNumbers > Digits { width: auto; }
    """

    def __init__(self, lang: str) -> None:
        super().__init__(id="emergency-numbers")
        self._lang = lang

    def compose(self) -> ComposeResult:
        yield Label(tr(self._lang, "p1.call_now"))
        yield Digits("  ".join(EMERGENCY_NUMBERS))
        yield Label(tr(self._lang, "p1.legend"))


class HouseholdLogin(Horizontal):
    """Household sign-in: unit and PIN, with a keypad; posts :class:`HouseholdLogin.Submitted`."""

    DEFAULT_CSS = """
    HouseholdLogin { height: auto; }
    HouseholdLogin > .fields { width: 1fr; height: auto; }
    HouseholdLogin Input { width: 24; }
    HouseholdLogin .row { height: auto; }
    HouseholdLogin .row > Label { width: 10; padding: 1 1 0 0; }
    """

    class Submitted(Message):
        """Unit and PIN were entered."""

        def __init__(self, unit: str, pin: str) -> None:
            super().__init__()
            self.unit = unit
            self.pin = pin

    def __init__(self, lang: str, unit: str = "") -> None:
        super().__init__(id="household-login")
        self._lang = lang
        self._unit = unit

    def compose(self) -> ComposeResult:
        with Vertical(classes="fields"):
            yield Label(tr(self._lang, "household.prompt"))
            with Horizontal(classes="row"):
                yield Label(tr(self._lang, "household.unit"))
                yield Input(value=self._unit, placeholder="3-201", id="hh-unit", max_length=32)
            with Horizontal(classes="row"):
                yield Label(tr(self._lang, "household.pin"))
                yield Input(password=True, id="hh-pin", max_length=8, restrict=r"[0-9]*")
            yield Button(tr(self._lang, "household.sign_in"), id="hh-submit", variant="primary")
        yield KeyPad()

    def _submit(self) -> None:
        unit = self.query_one("#hh-unit", Input).value.strip()
        pin = self.query_one("#hh-pin", Input).value.strip()
        self.post_message(self.Submitted(unit, pin))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "hh-unit":
            self.query_one("#hh-pin", Input).focus()
        else:
            self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "hh-submit":
            event.stop()
            self._submit()
