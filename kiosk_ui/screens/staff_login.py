"""Staff sign-in: staff id and PIN (checked against the scrypt hash in the store)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label

from edge import EdgeError

from ..widgets import KeyPad
from .base import KioskScreen

__all__ = ["StaffLoginScreen"]


class StaffLoginScreen(KioskScreen):
    """Sign in as staff; success opens the staff menu."""

    TITLE_KEY = "staff.login.title"

    def compose_body(self) -> ComposeResult:
        with Horizontal(classes="pad-form"):
            with Vertical(classes="fields"):
                yield Label(self.t("staff.login.prompt"))
                with Horizontal(classes="row"):
                    yield Label(self.t("staff.login.id"), classes="k")
                    yield Input(value=self.value("staff-id"), id="staff-id", max_length=64)
                with Horizontal(classes="row"):
                    yield Label(self.t("staff.login.pin"), classes="k")
                    yield Input(password=True, id="staff-pin", max_length=8, restrict=r"[0-9]*")
                yield Button(self.t("staff.login.submit"), id="sign-in", variant="primary")
            yield KeyPad()

    def on_mount(self) -> None:
        self.query_one("#staff-id", Input).focus()

    def sign_in(self) -> None:
        """Check the PIN; open the staff menu in place of this screen."""
        staff_id = self.value("staff-id").strip()
        pin = self.value("staff-pin").strip()
        try:
            staff = self.node.staff_login(staff_id, pin)
        except EdgeError as exc:
            self.query_one("#staff-pin", Input).value = ""
            self.refuse(exc)
            return
        self.kiosk.sign_in(staff)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "staff-id":
            self.query_one("#staff-pin", Input).focus()
        else:
            self.sign_in()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "sign-in":
            event.stop()
            self.sign_in()
