"""Points: a household signs in with unit and PIN, sees its balance and history, and redeems
rewards from the catalogue. Redeeming beyond the balance is refused with the numbers, and nothing
changes (``edge`` checks it inside the writing transaction). Names and phones are masked.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.widgets import Button, Label

from edge import EdgeError, InsufficientRights

from .. import fmt
from ..i18n import catalogue
from ..triage import REWARDS
from ..widgets import HouseholdLogin
from .base import KioskScreen

__all__ = ["PointsScreen"]


class PointsScreen(KioskScreen):
    """Points balance and the redeem catalogue for one household."""

    TITLE_KEY = "points.title"

    def __init__(self) -> None:
        super().__init__()
        self.household: dict[str, Any] | None = None
        self.pin = ""

    def compose_body(self) -> ComposeResult:
        if self.household is None:
            yield HouseholdLogin(self.lang, self.value("hh-unit"))
            return
        hh = self.household
        bal = self.node.balance(hh["id"])
        who = fmt.mask_name(hh["name"]) if hh["name"] else self.t("points.household")
        with Vertical(id="account"):
            yield Label(self.t("points.who", who=who, unit=hh["unit"], phone=fmt.mask_phone(hh["phone"])), markup=False)
            yield Label(self.t("points.balance", n=bal["balance"]), id="balance")
            if bal["spendable_here"] != bal["balance"]:
                yield Label(self.t("points.spendable_here", n=bal["spendable_here"]), id="spendable")
        yield Label(self.t("points.catalogue"), classes="section")
        with Grid(id="rewards"):
            for rid, cost in REWARDS:
                yield Button(
                    self.t("points.reward", name=self.t(f"reward.{rid}"), n=cost),
                    id=f"reward-{rid}",
                    classes="choice",
                    variant="primary" if cost <= bal["spendable_here"] else "default",
                )
        yield Label(self.t("points.history"), classes="section")
        known = catalogue(self.lang)
        if not bal["history"]:
            yield Label(self.t("points.no_history"))
        for row in bal["history"][:5]:
            reason = str(row["reason"] or "")
            reason = known.get(f"reward.{reason}", reason)
            with Horizontal(classes="kv"):
                yield Label(fmt.stamp(row["wall"], self.kiosk.tz), classes="k")
                yield Label(f"{row['delta']:+d}  {reason}", classes="v", markup=False)

    async def on_household_login_submitted(self, event: HouseholdLogin.Submitted) -> None:
        event.stop()
        try:
            self.household = self.node.household_login(event.unit, event.pin)
        except EdgeError as exc:
            self.refuse(exc)
            return
        self.pin = event.pin
        await self.rebuild()

    async def redeem(self, reward: str, cost: int) -> None:
        """Redeem ``reward`` for ``cost`` points (refused with the numbers if the balance is short)."""
        assert self.household is not None
        unit = str(self.household["id"])
        before = self.node.balance(unit)
        try:
            after = self.node.redeem(unit, cost, reward, pin=self.pin, actor=f"household:{unit}")
        except InsufficientRights:
            self.say(
                self.t("points.refused", n=cost, balance=before["balance"], spendable=before["spendable_here"]),
                "error",
            )
            return
        except EdgeError as exc:
            self.refuse(exc)
            return
        self.kiosk.refresh_status()
        await self.rebuild()
        self.say(self.t("points.redeemed", name=self.t(f"reward.{reward}"), n=after["balance"]), "ok")

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        bid = event.button.id or ""
        if bid.startswith("reward-"):
            event.stop()
            rid = bid.removeprefix("reward-")
            await self.redeem(rid, dict(REWARDS)[rid])
