"""Leave kiosk mode: a manager's staff id and PIN (a modal; staff without the manager role are refused)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from edge import EdgeError

from ..i18n import tr
from .base import explain

if TYPE_CHECKING:
    from ..app import KioskApp

__all__ = ["ManagerExitScreen"]


class ManagerExitScreen(ModalScreen[bool]):
    """Ask for a manager PIN; dismiss with ``True`` when the kiosk may close."""

    def t(self, key: str, **values: object) -> str:
        return tr(cast("KioskApp", self.app).lang, key, **values)

    def compose(self) -> ComposeResult:
        with Vertical(id="exit-dialog"):
            yield Label(self.t("exit.title"), classes="section")
            yield Label(self.t("exit.prompt"))
            with Horizontal(classes="row"):
                yield Label(self.t("staff.login.id"), classes="k")
                yield Input(id="exit-id", max_length=64)
            with Horizontal(classes="row"):
                yield Label(self.t("staff.login.pin"), classes="k")
                yield Input(id="exit-pin", password=True, max_length=8, restrict=r"[0-9]*")
            yield Label("", id="exit-msg")
            with Horizontal(classes="actions"):
                yield Button(self.t("exit.confirm"), id="exit-confirm", variant="error")
                yield Button(self.t("exit.cancel"), id="exit-cancel")

    def on_mount(self) -> None:
        self.query_one("#exit-id", Input).focus()

    def check(self) -> None:
        """Dismiss with ``True`` for a manager's PIN; otherwise say why not."""
        app = cast("KioskApp", self.app)
        staff_id = self.query_one("#exit-id", Input).value.strip()
        pin = self.query_one("#exit-pin", Input).value.strip()
        msg = self.query_one("#exit-msg", Label)
        try:
            who = app.node.staff_login(staff_id, pin)
        except EdgeError as exc:
            msg.update(explain(exc, app.lang))
            return
        if who["role"] != "manager":
            msg.update(self.t("exit.not_manager"))
            return
        self.dismiss(True)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "exit-id":
            self.query_one("#exit-pin", Input).focus()
        else:
            self.check()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "exit-confirm":
            self.check()
        else:
            self.dismiss(False)
