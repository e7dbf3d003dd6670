"""KPIs for staff: response, arrival and resolution times (p50 / p90) per urgency, SLA attainment,
first-time fix and resident satisfaction, over the last day, week or month (``Node.kpi``)."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Button, DataTable, Label

from edge import EdgeError

from .. import fmt
from .base import KioskScreen

__all__ = ["KpiScreen", "percent", "spread"]

PERIODS = (("day", "kpi.period.day"), ("week", "kpi.period.week"), ("month", "kpi.period.month"))
"""The periods offered, with their catalogue keys."""
COLUMNS = (
    ("urgency", "kpi.col.urgency"),
    ("count", "kpi.col.count"),
    ("response", "kpi.col.response"),
    ("arrival", "kpi.col.arrival"),
    ("resolution", "kpi.col.resolution"),
    ("sla", "kpi.col.sla"),
)
_ALERT = "bold bright_white on red"


def percent(pct_x100: int | None) -> str:
    """A percentage held as an integer times 100, to one decimal (``8750`` -> ``87.5%``); ``-`` for none."""
    if pct_x100 is None:
        return "-"
    tenths = (pct_x100 + 5) // 10
    return f"{tenths // 10}.{tenths % 10}%"


def spread(figure: dict[str, Any], lang: str) -> str:
    """``p50 / p90`` of a measured duration (``-`` when nothing was measured)."""
    if not figure.get("n"):
        return "-"
    return f"{fmt.duration(int(figure['p50']), lang)} / {fmt.duration(int(figure['p90']), lang)}"


class KpiScreen(KioskScreen):
    """Service figures of this community."""

    TITLE_KEY = "kpi.title"
    STAFF_ONLY = True
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("d", "period('day')", show=False),
        Binding("w", "period('week')", show=False),
        Binding("m", "period('month')", show=False),
    ]

    def __init__(self, period: str = "week") -> None:
        super().__init__()
        self.period = period
        self.figures: dict[str, Any] = {}

    def compose_body(self) -> ComposeResult:
        with Horizontal(classes="actions"):
            for name, key in PERIODS:
                yield Button(self.t(key), id=f"period-{name}", variant="primary" if name == self.period else "default")
        yield Label("", id="kpi-heading")
        yield DataTable(id="kpi", cursor_type="none", zebra_stripes=True)
        yield Label("", id="kpi-ftf")
        yield Label("", id="kpi-satisfaction")
        yield Label("", id="kpi-clock", classes="note")
        yield Label(self.t("kpi.explain"), classes="note")

    def on_mount(self) -> None:
        self.refresh_data()

    def refresh_data(self) -> None:
        tables = list(self.query("#kpi").results(DataTable))
        if not tables:
            return
        try:
            self.figures = self.node.kpi(self.period)
        except EdgeError as exc:
            self.refuse(exc)
            return
        table = tables[0]
        if not table.columns:
            for name, key in COLUMNS:
                table.add_column(self.t(key), key=name)
        table.clear()
        for urgency, row in self.figures["by_urgency"].items():
            missed = row["sla_total"] - row["sla_attained"]
            sla = f"{percent(row['sla_pct_x100'])} ({row['sla_attained']}/{row['sla_total']})"
            table.add_row(
                Text(urgency, style="bold"),
                Text(str(row["count"])),
                Text(spread(row["response"], self.lang)),
                Text(spread(row["arrival"], self.lang)),
                Text(spread(row["resolution"], self.lang)),
                Text(sla, style=_ALERT if missed and urgency == "P1" else ""),
                key=urgency,
            )
        self._labels()

    def _labels(self) -> None:
        k = self.figures
        period = self.t(dict(PERIODS)[self.period])
        self.query_one("#kpi-heading", Label).update(self.t("kpi.heading", period=period, n=k["tickets"]))
        ftf = k["first_time_fix"]
        self.query_one("#kpi-ftf", Label).update(
            self.t("kpi.ftf", pct=percent(ftf["pct_x100"]), n=ftf["fixed_first_time"], resolved=ftf["resolved"])
        )
        sat = k["satisfaction"]
        mean = "-" if sat["mean_x100"] is None else f"{sat['mean_x100'] // 100}.{sat['mean_x100'] % 100:02d}"
        self.query_one("#kpi-satisfaction", Label).update(self.t("kpi.satisfaction", mean=mean, n=sat["count"]))
        clock = self.t("kpi.clock_unreliable", n=k["clock_unreliable"]) if k["clock_unreliable"] else ""
        self.query_one("#kpi-clock", Label).update(clock)

    def action_period(self, period: str) -> None:
        """Show the figures of ``period`` (day, week or month)."""
        self.period = period
        for name, _ in PERIODS:
            self.query_one(f"#period-{name}", Button).variant = "primary" if name == period else "default"
        self.refresh_data()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        bid = event.button.id or ""
        if bid.startswith("period-"):
            event.stop()
            self.action_period(bid.removeprefix("period-"))
