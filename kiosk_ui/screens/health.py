"""Sync and health: mode, last sync, pending ops, clock skew, audit alarm, disk free and more, from
``Node.status()`` (refreshed with the status bar; the sync daemon writes into the same database)."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label

from .. import fmt
from .base import KioskScreen

__all__ = ["HealthScreen", "health_rows"]


def health_rows(screen: KioskScreen, st: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """``(label, value, alarm)`` rows for a ``Node.status()`` dict."""
    t = screen.t
    now = screen.node.now_ms()
    last = st.get("last_sync")
    ago = fmt.duration(now - int(last), screen.lang) if last else ""
    skew_devs = ", ".join(str(d["dev"])[:8] for d in st.get("clock_skew_devices") or [])
    yes, no = t("health.yes"), t("health.no")
    return [
        (t("health.mode"), t(f"mode.{st.get('mode', 'normal')}"), st.get("mode") != "normal"),
        (t("health.declared"), t(f"mode.{st.get('declared_mode', 'normal')}"), st.get("declared_mode") == "emergency"),
        (
            t("health.last_sync"),
            t("health.ago", time=fmt.stamp(last, screen.kiosk.tz), ago=ago) if last else t("health.never"),
            False,
        ),
        (t("health.last_error"), str(st.get("last_sync_error") or "-"), bool(st.get("last_sync_error"))),
        (t("health.pending"), str(st.get("pending", 0)), False),
        (
            t("health.skew"),
            (yes + (f" ({skew_devs})" if skew_devs else "")) if st.get("clock_skew") else no,
            bool(st.get("clock_skew")),
        ),
        (t("health.audit"), str(st.get("audit_alarm")) if st.get("audit_alarm") else no, bool(st.get("audit_alarm"))),
        (t("health.disk"), t("health.mb", n=st.get("disk_free_mb", 0)), int(st.get("disk_free_mb") or 0) < 500),
        (t("health.server"), str(st.get("server") or t("health.not_enrolled")), not st.get("enrolled")),
        (t("health.device"), str(st.get("device", "-")), False),
        (t("health.ops"), str(st.get("ops", 0)), False),
    ]


class HealthScreen(KioskScreen):
    """Sync and health of this node."""

    TITLE_KEY = "health.title"
    STAFF_ONLY = True

    def compose_body(self) -> ComposeResult:
        for label, value, alarm in health_rows(self, self.kiosk.status_info):
            with Horizontal(classes="kv"):
                yield Label(label, classes="k")
                yield Label(value, classes="v alert" if alarm else "v", markup=False)

    def show_status(self) -> None:
        super().show_status()
        rows = health_rows(self, self.kiosk.status_info)
        for box, (_, value, alarm) in zip(self.query("#body > .kv"), rows, strict=False):
            label = box.query(".v").results(Label)
            for v in label:
                v.update(value)
                v.set_class(alarm, "alert")
