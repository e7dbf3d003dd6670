"""Technicians and their availability: tier, skills, certifications, status and open jobs; staff
set a technician available, busy or off."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, DataTable, Label

from edge import TECH_STATUSES, TECH_TIERS, EdgeError

from .base import KioskScreen

__all__ = ["TechsScreen"]

STATUSES = TECH_STATUSES


class TechsScreen(KioskScreen):
    """The technician roster."""

    TITLE_KEY = "techs.title"
    STAFF_ONLY = True

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, Any]] = []

    def compose_body(self) -> ComposeResult:
        yield DataTable(id="techs", cursor_type="row", zebra_stripes=True)
        yield Label(self.t("techs.set_status"))
        with Horizontal(classes="actions"):
            for s in STATUSES:
                yield Button(self.t(f"tech_status.{s}"), id=f"status-{s}")

    def on_mount(self) -> None:
        self.refresh_data()

    def refresh_data(self) -> None:
        tables = list(self.query("#techs").results(DataTable))
        if not tables:
            return
        table = tables[0]
        keep = table.cursor_row
        if not table.columns:
            for key in ("name", "tier", "status", "jobs", "certs", "skills", "phone"):
                table.add_column(self.t(f"techs.col.{key}"), key=key)
        table.clear()
        jobs: dict[str, int] = {}
        for t in self.node.tickets(open_only=True):
            if t["assignee"]:
                jobs[t["assignee"]] = jobs.get(t["assignee"], 0) + 1
        self.rows = sorted(self.node.techs(), key=lambda h: (TECH_TIERS.index(h["tier"]), h["name"]))
        sep = "、" if self.lang == "zh" else ", "
        for h in self.rows:
            status = h["status"] or "available"
            table.add_row(
                Text(str(h["name"]), style="bold"),
                Text(self.t(f"tier.{h['tier']}")),
                Text(self.t(f"tech_status.{status}"), style="bold" if status == "available" else "dim"),
                Text(str(jobs.get(h["id"], 0))),
                Text(sep.join(self.t(f"cert.{c}") for c in h["certs"]) or "-"),
                Text(sep.join(self.t(f"category.{s}") for s in h["skills"])),
                Text(str(h["phone"] or "-")),
                key=str(h["id"]),
            )
        if self.rows:
            table.move_cursor(row=min(max(keep, 0), len(self.rows) - 1))

    def set_status(self, status: str) -> None:
        """Set the selected technician's availability."""
        table = self.query_one("#techs", DataTable)
        if not 0 <= table.cursor_row < len(self.rows):
            self.say(self.t("techs.pick"), "error")
            return
        tech = self.rows[table.cursor_row]
        try:
            self.node.tech_status(str(tech["id"]), status, actor=self.actor())
        except EdgeError as exc:
            self.refuse(exc)
            return
        self.refresh_data()
        self.kiosk.refresh_status()
        self.say(self.t("techs.done", name=tech["name"], status=self.t(f"tech_status.{status}")), "ok")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        bid = event.button.id or ""
        if bid.startswith("status-"):
            event.stop()
            self.set_status(bid.removeprefix("status-"))
