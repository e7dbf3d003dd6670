"""The dispatch board: open tickets by priority, SLA countdowns, assignment conflicts highlighted,
and the dispatcher's proposals, which staff accept (all at once here, or one by one in the detail)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Button, DataTable, Label

from edge import EdgeError

from .. import fmt
from ..board import BoardRow, board_rows, offline_proposals
from .base import KioskScreen

__all__ = ["BoardScreen"]

_ALERT = "bold bright_white on red"


class BoardScreen(KioskScreen):
    """Open tickets, highest priority first."""

    TITLE_KEY = "board.title"
    STAFF_ONLY = True
    BINDINGS: ClassVar[list[BindingType]] = [Binding("a", "accept_all", show=False)]

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[BoardRow] = []

    def compose_body(self) -> ComposeResult:
        yield Label(self.t("board.hint"), id="board-hint")
        yield DataTable(id="board", cursor_type="row", zebra_stripes=True)
        with Horizontal(classes="actions"):
            yield Button(self.t("board.accept_all"), id="accept-all", variant="primary")
            yield Button(self.t("board.open"), id="open")

    def on_mount(self) -> None:
        self.refresh_data()
        self.set_interval(5.0, self.refresh_data)

    def refresh_data(self) -> None:
        tables = list(self.query("#board").results(DataTable))
        if not tables:
            return
        table = tables[0]
        keep = table.cursor_row
        if not table.columns:
            for key in ("priority", "code", "urgency", "category", "unit", "stage", "tech", "sla"):
                table.add_column(self.t(f"board.col.{key}"), key=key)
        table.clear()
        self.rows = board_rows(self.node)
        for r in self.rows:
            table.add_row(*self._cells(r), key=str(r.ticket["id"]))
        if self.rows:
            table.move_cursor(row=min(max(keep, 0), len(self.rows) - 1))
        hint = self.t("board.hint_n", n=len(self.rows), conflicts=sum(1 for r in self.rows if r.ticket["conflict"]))
        stored = offline_proposals(self.node)
        if stored is not None:
            hint += "\n" + self.t("board.offline_proposals", time=fmt.clock(int(stored["at"]), self.kiosk.tz))
        self.query_one("#board-hint", Label).update(hint)

    def _cells(self, r: BoardRow) -> list[Text]:
        t = r.ticket
        mark = "*" if r.vulnerable else ""
        urgency = Text(f"{t['urgency']}{mark}", style=_ALERT if t["urgency"] == "P1" else "")
        if t["conflict"]:
            tech = Text(self.t("board.conflict", name=r.assignee_name or "?"), style=_ALERT)
        elif r.assignee_name:
            tech = Text(r.assignee_name)
        elif r.proposal_name:
            tech = Text(self.t("board.proposed", name=r.proposal_name), style="italic")
        else:
            tech = Text("-")
        if r.due is None:
            sla = Text("-")
        else:
            target, left = r.due
            label = f"{self.t(f'target.{target}')} {fmt.countdown(left, self.lang)}"
            sla = Text(label, style=_ALERT if left < 0 else "")
        return [
            Text(str(r.priority)),
            Text(str(t["code"]), style="bold"),
            urgency,
            Text(self.t(f"category.{t['category']}")),
            Text(str(t["unit"])),
            Text(self.t(f"stage.{t['stage']}")),
            tech,
            sla,
        ]

    def selected(self) -> BoardRow | None:
        table = self.query_one("#board", DataTable)
        return self.rows[table.cursor_row] if 0 <= table.cursor_row < len(self.rows) else None

    def open_selected(self) -> None:
        row = self.selected()
        if row is None:
            self.say(self.t("board.empty"), "error")
            return
        self.kiosk.open_ticket(str(row.ticket["id"]))

    def action_accept_all(self) -> None:
        """Assign every unassigned ticket to the technician the dispatcher proposes."""
        done = 0
        for r in self.rows:
            if r.proposal and not r.ticket["assignee"]:
                try:
                    self.node.assign(str(r.ticket["id"]), r.proposal, actor=self.actor())
                except EdgeError as exc:
                    self.refuse(exc)
                    break
                done += 1
        self.refresh_data()
        self.kiosk.refresh_status()
        if done:
            self.say(self.t("board.accepted", n=done), "ok")
        elif not any(r.proposal for r in self.rows):
            self.say(self.t("board.no_proposals"))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.open_selected()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "accept-all":
            event.stop()
            self.action_accept_all()
        elif event.button.id == "open":
            event.stop()
            self.open_selected()
