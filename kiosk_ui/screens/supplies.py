"""Supplies: emergency supplies and shared tools on hand; a household borrows a tool (unit + PIN).

In emergency mode a household may also collect one unit of a rationed emergency supply here; the
ration per household per day is enforced by ``edge``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, DataTable, Label

from edge import EdgeError, StockLevel

from ..widgets import HouseholdLogin
from .base import KioskScreen

__all__ = ["SuppliesScreen"]


class SuppliesScreen(KioskScreen):
    """Supplies on hand and tool borrowing."""

    MODE_SENSITIVE = True
    TITLE_KEY = "supplies.title"

    def __init__(self) -> None:
        super().__init__()
        self.pending: tuple[str, str] | None = None
        self.rows: list[StockLevel] = []

    @property
    def emergency(self) -> bool:
        return self.kiosk.status_info.get("mode") == "emergency"

    def compose_body(self) -> ComposeResult:
        if self.pending is not None:
            action, sku = self.pending
            name = self._item_name(next((r for r in self.node.stock() if r["sku"] == sku), {"sku": sku}))
            yield Label(self.t(f"supplies.{action}_for", name=name), classes="section", markup=False)
            yield HouseholdLogin(self.lang, self.value("hh-unit"))
            yield Button(self.t("supplies.cancel"), id="cancel")
            return
        yield Label(self.t("supplies.intro"))
        table: DataTable[str] = DataTable(id="supplies", cursor_type="row", zebra_stripes=True)
        yield table
        with Horizontal(classes="actions"):
            yield Button(self.t("supplies.borrow"), id="borrow", variant="primary")
            if self.emergency:
                yield Button(self.t("supplies.collect"), id="collect", variant="warning")

    def _item_name(self, row: Mapping[str, Any]) -> str:
        return str(row.get(f"name_{self.lang}") or row["sku"])

    def refresh_data(self) -> None:
        tables = list(self.query("#supplies").results(DataTable))
        if not tables:
            return
        table = tables[0]
        if not table.columns:
            for key in ("name", "kind", "qty", "ration"):
                table.add_column(self.t(f"supplies.col.{key}"), key=key)
        table.clear()
        self.rows = [r for r in self.node.stock() if r["kind"] in ("supply", "tool")]
        self.rows.sort(key=lambda r: (r["kind"] != "supply", not r["emergency"], r["sku"]))
        for r in self.rows:
            ration = self.t("supplies.ration", n=r["ration"]) if r["emergency"] and r["ration"] else "-"
            table.add_row(self._item_name(r), self.t(f"kind.{r['kind']}"), str(r["qty"]), ration, key=r["sku"])

    def on_mount(self) -> None:
        self.refresh_data()

    def selected(self) -> StockLevel | None:
        """The row under the table cursor."""
        tables = list(self.query("#supplies").results(DataTable))
        if not tables or not self.rows:
            return None
        row = tables[0].cursor_row
        return self.rows[row] if 0 <= row < len(self.rows) else None

    async def start(self, action: str) -> None:
        """Ask for the household before borrowing or collecting the selected item."""
        row = self.selected()
        if row is None:
            self.say(self.t("supplies.pick"), "error")
            return
        if action == "borrow" and row["kind"] != "tool":
            self.say(self.t("supplies.not_tool"), "error")
            return
        if action == "collect" and not (row["emergency"] and row["kind"] == "supply"):
            self.say(self.t("supplies.not_emergency"), "error")
            return
        if row["qty"] < 1:
            self.say(self.t("supplies.none_left"), "error")
            return
        self.pending = (action, str(row["sku"]))
        await self.rebuild()

    async def on_household_login_submitted(self, event: HouseholdLogin.Submitted) -> None:
        event.stop()
        assert self.pending is not None
        action, sku = self.pending
        try:
            hh = self.node.household_login(event.unit, event.pin)
            actor = f"household:{hh['id']}"
            if action == "borrow":
                self.node.lend_tool(sku, hh["id"], actor=actor)
            else:
                self.node.issue(sku, 1, household=hh["id"], reason=action, actor=actor)
        except EdgeError as exc:
            self.refuse(exc)
            return
        self.pending = None
        self.kiosk.refresh_status()
        await self.rebuild()
        row = next((r for r in self.rows if r["sku"] == sku), {"sku": sku})
        self.say(self.t(f"supplies.{action}_done", name=self._item_name(row)), "ok")

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        bid = event.button.id or ""
        if bid in ("borrow", "collect"):
            event.stop()
            await self.start(bid)
        elif bid == "cancel":
            event.stop()
            self.pending = None
            await self.rebuild()
