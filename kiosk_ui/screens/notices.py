"""Notices from the community and the district that are still current, newest first."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Static

from .. import fmt
from .base import KioskScreen

__all__ = ["NoticesScreen"]


class NoticesScreen(KioskScreen):
    """The notice board."""

    TITLE_KEY = "notices.title"

    def compose_body(self) -> ComposeResult:
        notices = sorted(self.node.notices(), key=lambda n: (-int(n["posted_ms"] or 0), n["title_en"], n["id"]))
        if not notices:
            yield Label(self.t("notices.none"))
            return
        for n in notices:
            source = self.t("notices.district") if n["scope"] == "district" else self.t("notices.community")
            with Vertical(classes="notice"):
                yield Label(str(n[f"title_{self.lang}"]), classes="notice-title", markup=False)
                yield Label(f"{source} - {fmt.stamp(n['posted_ms'], self.kiosk.tz)}", classes="notice-meta")
                yield Static(str(n[f"body_{self.lang}"]), classes="notice-body", markup=False)
