"""Stock for staff: levels and the rights this kiosk holds, receiving and issuing (to a household or
against a ticket). ``edge`` refuses an issue beyond this kiosk's rights or beyond an emergency ration."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, DataTable, Input, Label

from edge import EdgeError, StockLevel

from .base import KioskScreen

__all__ = ["StockScreen"]


class StockScreen(KioskScreen):
    """Stock levels, receive and issue."""

    TITLE_KEY = "stock.title"
    STAFF_ONLY = True

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[StockLevel] = []

    def compose_body(self) -> ComposeResult:
        yield DataTable(id="stock", cursor_type="row", zebra_stripes=True)
        with Horizontal(classes="form"):
            yield Label(self.t("stock.sku"), classes="k")
            yield Input(value=self.value("stock-sku"), id="stock-sku", max_length=40)
            yield Label(self.t("stock.qty"), classes="k")
            yield Input(value=self.value("stock-qty") or "1", id="stock-qty", max_length=7, restrict=r"[0-9]*")
        with Horizontal(classes="form"):
            yield Label(self.t("stock.household"), classes="k")
            yield Input(value=self.value("stock-household"), placeholder="3-201", id="stock-household", max_length=32)
            yield Label(self.t("stock.ticket"), classes="k")
            yield Input(value=self.value("stock-ticket"), id="stock-ticket", max_length=16)
        with Horizontal(classes="actions"):
            yield Button(self.t("stock.receive"), id="receive", variant="success")
            yield Button(self.t("stock.issue"), id="issue", variant="warning")

    def on_mount(self) -> None:
        self.refresh_data()

    def refresh_data(self) -> None:
        tables = list(self.query("#stock").results(DataTable))
        if not tables:
            return
        table = tables[0]
        if not table.columns:
            for key in ("sku", "name", "kind", "qty", "rights", "ration", "reorder"):
                table.add_column(self.t(f"stock.col.{key}"), key=key)
        table.clear()
        self.rows = self.node.stock()
        for r in self.rows:
            low = r["reorder"] and r["qty"] <= r["reorder"]
            table.add_row(
                Text(str(r["sku"]), style="bold"),
                Text(str(r["name_zh"] if self.lang == "zh" else r["name_en"])),
                Text(self.t(f"kind.{r['kind']}")),
                Text(str(r["qty"]), style="bold bright_white on red" if low else ""),
                Text(str(r["rights"])),
                Text(str(r["ration"]) if r["emergency"] and r["ration"] else "-"),
                Text(str(r["reorder"] or "-")),
                key=str(r["sku"]),
            )

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if 0 <= event.cursor_row < len(self.rows):
            sku = str(self.rows[event.cursor_row]["sku"])
            self.values["stock-sku"] = sku
            self.query_one("#stock-sku", Input).value = sku

    def move(self, action: str) -> None:
        """Receive or issue what the form says."""
        sku = self.value("stock-sku").strip()
        qty_text = self.value("stock-qty") or "1"
        if not sku or not qty_text.isdigit():
            self.say(self.t("stock.fill_in"), "error")
            return
        qty = int(qty_text)
        actor = self.actor()
        try:
            if action == "receive":
                row = self.node.receive(sku, qty, reason="delivery", actor=actor)
            else:
                row = self.node.issue(
                    sku,
                    qty,
                    household=self.value("stock-household").strip() or None,
                    ticket=self.value("stock-ticket").strip() or None,
                    reason="issue",
                    actor=actor,
                )
        except EdgeError as exc:
            self.refuse(exc)
            return
        self.refresh_data()
        self.kiosk.refresh_status()
        self.say(self.t(f"stock.{action}d", sku=sku, qty=row["qty"], rights=row["rights"]), "ok")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id in ("receive", "issue"):
            event.stop()
            self.move(event.button.id)
