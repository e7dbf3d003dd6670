"""Stock transfers for staff: requests to and from other communities (and the district's warehouse)
with their step, the next step for the selected one (approve, decline, ship, arrive), and a form to
ask another community for stock.

Every action is an op written here at once; offline it goes out, and others' answers come in, when
the link returns. ``edge`` decides who may write which step (the holder approves, declines and ships,
the requester marks arrival) and refuses a ship the stock here can no longer cover, so nothing is sold
twice.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, DataTable, Input, Label
from textual.widgets.button import ButtonVariant

from edge import TRANSFER_STEPS, EdgeError

from .base import KioskScreen

__all__ = ["ACTIONS", "TransfersScreen"]

COLUMNS = (
    ("dir", "transfers.col.dir"),
    ("other", "transfers.col.other"),
    ("sku", "transfers.col.sku"),
    ("qty", "transfers.col.qty"),
    ("step", "transfers.col.step"),
    ("id", "transfers.col.id"),
)
STEPS = {step: f"transfers.step.{step}" for step in TRANSFER_STEPS}
DIRECTIONS = {"in": "transfers.dir.in", "out": "transfers.dir.out"}
ACTIONS: tuple[tuple[str, str, ButtonVariant], ...] = (
    ("approve", "transfers.approve", "success"),
    ("decline", "transfers.decline", "error"),
    ("ship", "transfers.ship", "warning"),
    ("arrive", "transfers.arrive", "primary"),
)
"""The step buttons: action, catalogue key, button variant."""
_OPEN = ("requested", "approved", "shipped")


class TransfersScreen(KioskScreen):
    """Incoming and outgoing transfers, their next steps, and new requests."""

    TITLE_KEY = "transfers.title"
    STAFF_ONLY = True

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, Any]] = []

    def compose_body(self) -> ComposeResult:
        yield Label(self.t("transfers.intro"), classes="note")
        yield DataTable(id="transfers", cursor_type="row", zebra_stripes=True)
        with Horizontal(classes="actions"):
            for action, key, variant in ACTIONS:
                yield Button(self.t(key), id=f"step-{action}", variant=variant)
        yield Label(self.t("transfers.new"), classes="section")
        with Horizontal(classes="form"):
            yield Label(self.t("transfers.sku"), classes="k")
            yield Input(value=self.value("tr-sku"), id="tr-sku", max_length=40)
            yield Label(self.t("transfers.qty"), classes="k")
            yield Input(value=self.value("tr-qty") or "1", id="tr-qty", max_length=7, restrict=r"[0-9]*")
        with Horizontal(classes="form"):
            yield Label(self.t("transfers.from"), classes="k")
            yield Input(value=self.value("tr-from"), placeholder="district", id="tr-from", max_length=64)
            yield Label(self.t("transfers.note"), classes="k")
            yield Input(value=self.value("tr-note"), id="tr-note", max_length=200)
        with Horizontal(classes="actions"):
            yield Button(self.t("transfers.request"), id="tr-request", variant="primary")

    def on_mount(self) -> None:
        self.refresh_data()

    def _direction(self, t: dict[str, Any]) -> str:
        return "out" if t["src"] == self.node.community else "in"

    def refresh_data(self) -> None:
        tables = list(self.query("#transfers").results(DataTable))
        if not tables:
            return
        table = tables[0]
        keep = table.cursor_row
        if not table.columns:
            for name, key in COLUMNS:
                table.add_column(self.t(key), key=name)
        table.clear()
        # Open ones first (newest first within each), then the finished ones.
        rows = self.node.transfers()
        self.rows = [t for t in rows if t["step"] in _OPEN] + [t for t in rows if t["step"] not in _OPEN]
        for t in self.rows:
            direction = self._direction(t)
            other = t["dst"] if direction == "out" else t["src"]
            live = t["step"] in _OPEN
            table.add_row(
                Text(self.t(DIRECTIONS[direction]), style="bold" if live else "dim"),
                Text(str(other)),
                Text(str(t["sku"])),
                Text(str(t["qty"])),
                Text(self.t(STEPS[t["step"]]), style="bold" if live else "dim"),
                Text(str(t["id"]).rpartition(":")[2][-8:]),
                key=str(t["id"]),
            )
        if self.rows:
            table.move_cursor(row=min(max(keep, 0), len(self.rows) - 1))

    def selected(self) -> dict[str, Any] | None:
        """The transfer under the table's cursor."""
        table = self.query_one("#transfers", DataTable)
        return self.rows[table.cursor_row] if 0 <= table.cursor_row < len(self.rows) else None

    def step(self, action: str) -> None:
        """Write ``action`` (approve, decline, ship, arrive) for the selected transfer."""
        t = self.selected()
        if t is None:
            self.say(self.t("transfers.pick"), "error")
            return
        try:
            done = getattr(self.node, f"{action}_transfer")(str(t["id"]), actor=self.actor())
        except EdgeError as exc:
            self.refuse(exc)
            return
        self.refresh_data()
        self.kiosk.refresh_status()
        step = self.t(STEPS[done["step"]])
        self.say(self.t("transfers.done", sku=done["sku"], qty=done["qty"], step=step), "ok")

    def request(self) -> None:
        """Ask the community in the form for stock."""
        sku = self.value("tr-sku").strip()
        qty_text = self.value("tr-qty") or "1"
        src = self.value("tr-from").strip()
        if not sku or not src or not qty_text.isdigit() or int(qty_text) <= 0:
            self.say(self.t("transfers.fill_in"), "error")
            return
        try:
            self.node.request_transfer(sku, int(qty_text), src, note=self.value("tr-note").strip(), actor=self.actor())
        except EdgeError as exc:
            self.refuse(exc)
            return
        self.refresh_data()
        self.kiosk.refresh_status()
        self.say(self.t("transfers.requested", sku=sku, qty=int(qty_text), src=src), "ok")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        bid = event.button.id or ""
        if bid.startswith("step-"):
            event.stop()
            self.step(bid.removeprefix("step-"))
        elif bid == "tr-request":
            event.stop()
            self.request()
