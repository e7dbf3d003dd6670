"""Sync and health: mode, last sync, pending ops, clock skew, audit alarm, disk free and more, from
``Node.status()`` (refreshed with the status bar; the sync daemon writes into the same database).

While an audit alarm stands (the district's checkpoint or proofs failed)
the node refuses to sync; the screen shows its code and reason and lets the signed-in staff member clear
it once they have checked it (recorded with their id in the alarm history)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Label

from edge import EdgeError, NodeStatus

from .. import fmt
from .base import KioskScreen

__all__ = ["HealthScreen", "audit_text", "health_rows"]


def audit_text(alarm: object) -> str:
    """An audit alarm in one line: ``code: reason (server)`` (older alarms were plain text)."""
    if not isinstance(alarm, dict):
        return str(alarm)
    server = f" ({alarm['server']})" if alarm.get("server") else ""
    return f"{alarm.get('code', '?')}: {alarm.get('reason', '')}{server}"


def health_rows(screen: KioskScreen, st: NodeStatus) -> list[tuple[str, str, bool]]:
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
        (
            t("health.audit"),
            audit_text(st["audit_alarm"]) if st.get("audit_alarm") else no,
            bool(st.get("audit_alarm")),
        ),
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
        with Horizontal(classes="actions"):
            button = Button(self.t("health.clear"), id="clear-audit", variant="warning")
            button.display = bool(self.kiosk.status_info.get("audit_alarm"))
            yield button

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "clear-audit":
            return
        event.stop()
        if not self.node.status()["audit_alarm"]:  # cleared meanwhile (the CLI, another screen)
            self.kiosk.refresh_status()
            await self.rebuild()
            return
        actor = self.actor() or ""
        try:
            self.node.clear_audit_alarm(actor)
        except EdgeError as exc:
            self.refuse(exc)
            return
        self.kiosk.refresh_status()
        await self.rebuild()
        self.say(self.t("health.cleared", who=actor), "ok")

    def show_status(self) -> None:
        super().show_status()
        rows = health_rows(self, self.kiosk.status_info)
        for box, (_, value, alarm) in zip(self.query("#body > .kv"), rows, strict=False):
            label = box.query(".v").results(Label)
            for v in label:
                v.update(value)
                v.set_class(alarm, "alert")
        for button in self.query("#clear-audit"):
            button.display = bool(self.kiosk.status_info.get("audit_alarm"))
