"""My ticket: look a ticket up by its short code; status, stage times, technician's first name.

A public screen: it never shows the resident's contact or the technician's full name or phone. A
resolved or closed ticket that has no rating yet can be rated 1-5 here.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label

from edge import STAGES, EdgeError, TicketDetail

from .. import fmt
from ..widgets import KeyPad
from .base import KioskScreen

__all__ = ["LookupScreen"]


class LookupScreen(KioskScreen):
    """Ticket lookup by short code."""

    TITLE_KEY = "lookup.title"

    def __init__(self, code: str = "") -> None:
        super().__init__()
        if code:
            self.values["code"] = code
        self.ticket: TicketDetail | None = None

    def prefixes(self) -> list[str]:
        """Code prefixes of this community's tickets (keypad keys, so codes can be typed by touch)."""
        seen: list[str] = []
        for t in self.node.tickets():
            prefix = str(t["code"]).split("-")[0]
            if prefix not in seen:
                seen.append(prefix)
        return sorted(seen)[:4]

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="lookup-form"):
            yield Label(self.t("lookup.prompt"))
            yield Input(value=self.value("code"), placeholder="ABCDE-0001", id="code", max_length=16)
            yield Button(self.t("lookup.find"), id="find", variant="primary")
        if self.ticket is None:
            yield KeyPad([f"{p}-" for p in self.prefixes()])
            return
        yield from self._compose_ticket(self.ticket)

    def _compose_ticket(self, t: TicketDetail) -> ComposeResult:
        tz = self.kiosk.tz
        tech = "-"
        if t.get("assignee"):
            named = next((h for h in self.node.techs() if h["id"] == t["assignee"]), None)
            tech = fmt.public_tech_name(named["name"], self.lang) if named else "-"
        rows = [
            (self.t("lookup.code"), str(t["code"])),
            (self.t("report.category"), self.t(f"category.{t['category']}")),
            (self.t("report.urgency"), self.t(f"urgency.{t['urgency']}")),
            (self.t("lookup.status"), self.t(f"stage.{t['stage']}")),
            (self.t("lookup.tech"), tech),
        ]
        if t.get("hold_reason"):
            rows.append((self.t("lookup.hold"), self.t(f"hold.{t['hold_reason']}")))
        with Vertical(id="ticket"):
            for label, value in rows:
                with Horizontal(classes="kv"):
                    yield Label(label, classes="k")
                    yield Label(value, classes="v", markup=False)
            yield Label(self.t("lookup.times"), classes="section")
            times = sorted(
                (
                    (int(k.split(":")[0]), STAGES.index(k.split(":")[1]), k.split(":")[1], w)
                    for k, w in t["stage_times"].items()
                ),
            )
            for epoch, _, stage, wall in times:
                label = self.t(f"stage.{stage}") + (self.t("lookup.reopened", n=epoch) if epoch else "")
                with Horizontal(classes="kv"):
                    yield Label(label, classes="k")
                    yield Label(fmt.stamp(wall, tz), classes="v")
        if t["stage"] in ("resolved", "closed") and not t.get("rating"):
            yield Label(self.t("lookup.rate"))
            with Horizontal(classes="actions"):
                for n in range(1, 6):
                    yield Button(self.t("lookup.stars", n=n), id=f"rate-{n}", classes="rate")

    async def find(self) -> None:
        """Look the typed code up and show the ticket (or why not)."""
        code = self.value("code").strip().upper()
        if not code:
            self.say(self.t("lookup.missing"), "error")
            return
        try:
            self.ticket = self.node.ticket(code)
        except EdgeError as exc:
            if self.ticket is not None:
                self.ticket = None
                await self.rebuild()
            self.refuse(exc)
            return
        self.values["code"] = str(self.ticket["code"])
        await self.rebuild()

    async def rate(self, n: int) -> None:
        """Rate a resolved or closed ticket 1-5."""
        assert self.ticket is not None
        try:
            self.node.rate(str(self.ticket["id"]), n)
        except EdgeError as exc:
            self.refuse(exc)
            return
        self.ticket = self.node.ticket(str(self.ticket["id"]))
        await self.rebuild()
        self.say(self.t("lookup.thanks"), "ok")

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        bid = event.button.id or ""
        if bid == "find":
            event.stop()
            await self.find()
        elif bid.startswith("rate-"):
            event.stop()
            await self.rate(int(bid.removeprefix("rate-")))

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        await self.find()
