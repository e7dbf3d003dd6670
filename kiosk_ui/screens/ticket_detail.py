"""Ticket detail for staff: fields, stage times, notes; stage changes, assignment (the dispatcher's
proposal first), hold and release, comments and parts used (issued from stock against the ticket)."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label

from edge import HOLD_REASONS, STAGES, EdgeError, Note, TicketDetail

from .. import fmt
from ..board import board_rows
from .base import KioskScreen

__all__ = ["TicketDetailScreen", "next_stages"]

_CERTIFIED = ("gas", "electrical")


def next_stages(stage: str) -> list[str]:
    """Stages a ticket may move to from ``stage`` (the write rule of the status lattice)."""
    i = STAGES.index(stage)
    if stage == "resolved":
        return ["closed", "reopen"]
    if stage == "closed":
        return ["reopen"]
    if stage == "cancelled":
        return []
    return [s for s in STAGES[i + 1 : STAGES.index("resolved") + 1] if s != "assigned"] + ["cancelled"]


def can_do(tech: dict[str, Any], category: str) -> bool:
    """Whether ``tech`` has the skill (and, for gas and electrical work, the certification)."""
    if category != "other" and category not in tech["skills"]:
        return False
    return category not in _CERTIFIED or category in tech["certs"]


class TicketDetailScreen(KioskScreen):
    """One ticket, with every staff action on it."""

    TITLE_KEY = "detail.title"
    STAFF_ONLY = True

    def __init__(self, ticket_id: str) -> None:
        super().__init__()
        self.ticket_id = ticket_id

    def title_text(self) -> str:
        return self.t("detail.title", code=self.node.ticket(self.ticket_id)["code"])

    def compose_body(self) -> ComposeResult:
        t = self.node.ticket(self.ticket_id)
        tz = self.kiosk.tz
        techs = {h["id"]: h for h in self.node.techs()}
        hh = next((h for h in self.node.households() if h["id"] == t["household"]), None)
        assignee = techs[t["assignee"]]["name"] if t["assignee"] in techs else "-"
        rows = [
            (self.t("report.category"), self.t(f"category.{t['category']}")),
            (self.t("report.urgency"), self.t(f"urgency.{t['urgency']}")),
            (self.t("report.unit"), str(t["unit"])),
            (
                self.t("detail.vulnerable"),
                ", ".join(self.t(f"vulnerable.{v}") for v in hh["vulnerable"]) if hh else "-",
            ),
            (self.t("detail.contact"), str(t["contact"] or "-")),
            (self.t("lookup.status"), self.t(f"stage.{t['stage']}")),
            (self.t("detail.assignee"), assignee),
            (self.t("report.description"), str(t["text"])),
        ]
        if t["hold_reason"]:
            rows.append((self.t("lookup.hold"), self.t(f"hold.{t['hold_reason']}")))
        for label, value in rows:
            with Horizontal(classes="kv"):
                yield Label(label, classes="k")
                yield Label(value, classes="v", markup=False)
        if t["conflict"]:
            names = [techs[a["tech"]]["name"] if a["tech"] in techs else a["tech"] for a in t["assigns"]]
            yield Label(self.t("detail.conflict", names="、".join(names)), id="conflict", classes="alert", markup=False)
        yield Label(self.t("lookup.times"), classes="section")
        for key, wall in sorted(t["stage_times"].items(), key=lambda kv: (kv[1], kv[0])):
            epoch, stage = key.split(":")
            label = self.t(f"stage.{stage}") + (self.t("lookup.reopened", n=int(epoch)) if int(epoch) else "")
            with Horizontal(classes="kv"):
                yield Label(label, classes="k")
                yield Label(fmt.stamp(wall, tz), classes="v")
        if t["notes"]:
            yield Label(self.t("detail.notes"), classes="section")
            for n in t["notes"]:
                yield Label(self._note(n), classes="note", markup=False)
        yield from self._compose_actions(t, techs)

    def _note(self, n: Note) -> str:
        when = fmt.stamp(n["wall"], self.kiosk.tz)
        who = n["actor"] or "-"
        if n["kind"] == "part":
            return self.t("detail.note.part", when=when, who=who, sku=n["sku"], qty=n["qty"])
        if n["kind"] == "hold":
            reason = self.t(f"hold.{n['text']}") if n["text"] != "released" else self.t("detail.released")
            return self.t("detail.note.hold", when=when, who=who, reason=reason)
        return self.t("detail.note.comment", when=when, who=who, text=n["text"])

    def _compose_actions(self, t: TicketDetail, techs: dict[str, dict[str, Any]]) -> ComposeResult:
        stages = next_stages(str(t["stage"]))
        if stages:
            yield Label(self.t("detail.move_to"), classes="section")
            with Horizontal(classes="actions wrap"):
                for s in stages:
                    label = self.t("detail.reopen") if s == "reopen" else self.t(f"stage.{s}")
                    yield Button(label, id=f"stage-{s}", variant="error" if s == "cancelled" else "primary")
        if t["stage"] in ("resolved", "closed", "cancelled"):
            return
        proposal = next((r.proposal for r in board_rows(self.node) if r.ticket["id"] == t["id"]), None)
        yield Label(self.t("detail.assign"), classes="section")
        with Vertical(classes="techs"):
            able = sorted(
                (h for h in techs.values() if can_do(h, str(t["category"]))),
                key=lambda h: (h["id"] != proposal, h["name"]),
            )
            if not able:
                yield Label(self.t("detail.no_tech"))
            for h in able:
                label = self.t(
                    "detail.tech_choice",
                    name=h["name"],
                    tier=self.t(f"tier.{h['tier']}"),
                    status=self.t(f"tech_status.{h['status'] or 'available'}"),
                )
                if h["id"] == proposal:
                    label = self.t("detail.proposed", choice=label)
                yield Button(
                    label,
                    id=f"assign-{h['id']}",
                    variant="success" if h["id"] == proposal else "default",
                    classes="tech",
                )
        yield Label(self.t("detail.hold_section"), classes="section")
        with Horizontal(classes="actions wrap"):
            for reason in HOLD_REASONS:
                yield Button(self.t(f"hold.{reason}"), id=f"hold-{reason}")
            if t["hold_reason"]:
                yield Button(self.t("detail.release"), id="hold-release", variant="success")
        yield Label(self.t("detail.comment"), classes="section")
        with Horizontal(classes="form"):
            yield Input(value=self.value("comment"), id="comment", max_length=500)
            yield Button(self.t("detail.add"), id="add-comment")
        yield Label(self.t("detail.part"), classes="section")
        with Horizontal(classes="form"):
            yield Input(value=self.value("part-sku"), placeholder="SKU", id="part-sku", max_length=40)
            yield Input(value=self.value("part-qty") or "1", id="part-qty", max_length=6, restrict=r"[0-9]*")
            yield Button(self.t("detail.use_part"), id="use-part")

    async def act(self, bid: str) -> None:
        """Run the action of button ``bid`` and show the result."""
        actor = self.actor()
        try:
            if bid.startswith("stage-"):
                self.node.advance(self.ticket_id, bid.removeprefix("stage-"), actor=actor)
                done = self.t("detail.moved")
            elif bid.startswith("assign-"):
                self.node.assign(self.ticket_id, bid.removeprefix("assign-"), actor=actor)
                done = self.t("detail.assigned")
            elif bid.startswith("hold-"):
                reason = bid.removeprefix("hold-")
                self.node.hold(self.ticket_id, None if reason == "release" else reason, actor=actor)
                done = self.t("detail.held")
            elif bid == "add-comment":
                self.node.comment(self.ticket_id, self.value("comment"), actor=actor)
                self.values["comment"] = ""
                done = self.t("detail.commented")
            elif bid == "use-part":
                qty = int(self.value("part-qty") or "0")
                self.node.issue(
                    self.value("part-sku").strip(), qty, ticket=self.ticket_id, reason="repair", actor=actor
                )
                self.values["part-sku"] = ""
                done = self.t("detail.part_used")
            else:
                return
        except EdgeError as exc:
            self.refuse(exc)
            return
        self.kiosk.refresh_status()
        await self.rebuild()
        self.say(done, "ok")

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        bid = event.button.id or ""
        if bid.startswith(("stage-", "assign-", "hold-")) or bid in ("add-comment", "use-part"):
            event.stop()
            await self.act(bid)
