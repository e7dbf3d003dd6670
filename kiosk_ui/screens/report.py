"""Report a repair: category grid -> unit -> yes/no triage -> description -> confirm -> short code.

The triage answers set the urgency (``edge.urgency_from_answers``); a registered vulnerable household is raised one
level. The last step shows the ticket's short code and the target times for its urgency; a P1
report shows the emergency numbers 110 / 119 / 120 on the confirm and final steps. Nothing is
written until the resident confirms.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from edge import EdgeError, Ticket

from .. import fmt
from ..triage import CATEGORIES, PRESETS, is_life_safety, predicted_urgency, questions_for, targets
from ..widgets import EmergencyNumbers, KeyPad
from .base import KioskScreen

__all__ = ["ReportScreen"]

STEPS = ("category", "unit", "triage", "describe", "confirm", "done")


class ReportScreen(KioskScreen):
    """The report wizard (one screen; each step recomposes the body)."""

    TITLE_KEY = "report.title"
    BINDINGS: ClassVar[list[BindingType]] = [
        *(Binding(str((i + 1) % 10), f"digit({i})", show=False) for i in range(10)),
        Binding("y", "answer(True)", show=False),
        Binding("n", "answer(False)", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.step = "category"
        self.category: str | None = None
        self.answers: dict[str, bool] = {}
        self.auto: dict[str, bool] = {}
        """Answers known from the registered household (not asked again)."""
        self.question = 0
        self.text = ""
        self.ticket: Ticket | None = None

    # --- state -----------------------------------------------------------------------------
    @property
    def emergency(self) -> bool:
        return self.kiosk.status_info.get("mode") == "emergency"

    def questions(self) -> list[str]:
        """The questions to ask (those the household register already answers are skipped)."""
        assert self.category is not None
        return [q for q in questions_for(self.category, self.emergency) if q not in self.auto]

    def all_answers(self) -> dict[str, bool]:
        return {**self.auto, **self.answers}

    def household(self) -> dict[str, Any] | None:
        """The registered household of the unit typed in, if any."""
        unit = self.value("unit").strip()
        return next((h for h in self.node.households() if h["id"] == unit), None)

    def urgency(self) -> str:
        assert self.category is not None
        hh = self.household()
        return predicted_urgency(self.category, self.all_answers(), bool(hh and hh["vulnerable"]))

    async def goto(self, step: str) -> None:
        """Show ``step`` of the wizard."""
        self.step = step
        await self.rebuild()
        focus = {"unit": "#unit", "describe": "#preset-1", "confirm": "#confirm", "done": "#done"}.get(step)
        if focus:
            self.query_one(focus).focus()
        elif step == "triage":
            self.set_focus(None)

    # --- compose ---------------------------------------------------------------------------
    def compose_body(self) -> ComposeResult:
        n = STEPS.index(self.step) + 1
        yield Label(self.t("report.step", n=min(n, 5), total=5, name=self.t(f"report.step.{self.step}")), id="step")
        yield from getattr(self, f"_compose_{self.step}")()

    def _compose_category(self) -> ComposeResult:
        yield Label(self.t("report.choose_category"))
        with Grid(id="categories"):
            for i, cat in enumerate(CATEGORIES):
                yield Button(f"{(i + 1) % 10}  {self.t(f'category.{cat}')}", id=f"cat-{cat}", classes="choice")

    def _compose_unit(self) -> ComposeResult:
        with Horizontal(classes="pad-form"):
            with Vertical(classes="fields"):
                yield Label(self.t("report.unit_prompt"))
                yield Input(value=self.value("unit"), placeholder="3-201", id="unit", max_length=32)
                yield Label(self.t("report.contact_prompt"))
                yield Input(
                    value=self.value("contact"),
                    placeholder="138xxxxxxxx",
                    id="contact",
                    max_length=20,
                    restrict=r"[0-9 +-]*",
                )
                with Horizontal(classes="actions"):
                    yield Button(self.t("report.next"), id="next", variant="primary")
            yield KeyPad()

    def _compose_triage(self) -> ComposeResult:
        qs = self.questions()
        q = qs[self.question]
        yield Label(self.t("report.question_n", n=self.question + 1, total=len(qs)))
        yield Static(self.t(f"q.{q}"), id="question", classes="question")
        with Horizontal(classes="yesno"):
            yield Button(self.t("report.yes"), id="yes", variant="error", classes="answer")
            yield Button(self.t("report.no"), id="no", variant="success", classes="answer")

    def _compose_describe(self) -> ComposeResult:
        assert self.category is not None
        if is_life_safety(self.answers):
            yield EmergencyNumbers(self.lang)
        yield Label(self.t("report.describe_prompt"))
        with Grid(id="presets"):
            for i in range(1, PRESETS + 1):
                yield Button(f"{i}  {self.t(f'preset.{self.category}.{i}')}", id=f"preset-{i}", classes="choice")
        yield Input(
            value=self.value("text"), placeholder=self.t("report.describe_placeholder"), id="text", max_length=500
        )
        with Horizontal(classes="actions"):
            yield Button(self.t("report.next"), id="next", variant="primary")

    def _summary(self, urgency: str) -> ComposeResult:
        assert self.category is not None
        yes = [self.t(f"q.{q}") for q, a in self.all_answers().items() if a]
        rows = [
            (self.t("report.category"), self.t(f"category.{self.category}")),
            (self.t("report.unit"), self.value("unit").strip()),
            (self.t("report.description"), self.text),
            (self.t("report.answers_yes"), "；".join(yes) if yes else self.t("report.none")),
            (self.t("report.urgency"), self.t(f"urgency.{urgency}")),
        ]
        for label, value in rows:
            with Horizontal(classes="kv"):
                yield Label(label, classes="k")
                yield Label(value, classes="v", markup=False)

    def _targets_line(self, urgency: str) -> str:
        tg = targets(urgency)
        return self.t(
            "report.targets",
            ack=fmt.duration(tg["acknowledge"], self.lang),
            site=fmt.duration(tg["on_site"], self.lang),
        )

    def _compose_confirm(self) -> ComposeResult:
        urgency = self.urgency()
        if urgency == "P1":
            yield EmergencyNumbers(self.lang)
        yield from self._summary(urgency)
        yield Label(self._targets_line(urgency), id="targets")
        with Horizontal(classes="actions"):
            yield Button(self.t("report.confirm"), id="confirm", variant="success")
            yield Button(self.t("report.edit"), id="edit")

    def _compose_done(self) -> ComposeResult:
        assert self.ticket is not None
        urgency = str(self.ticket["urgency"])
        if urgency == "P1":
            yield EmergencyNumbers(self.lang)
        yield Label(self.t("report.your_code"))
        yield Static(str(self.ticket["code"]), id="code", markup=False)
        yield Label(self.t("report.keep_code"))
        yield Label(self.t("report.urgency_is", urgency=self.t(f"urgency.{urgency}")), id="urgency")
        yield Label(self._targets_line(urgency), id="targets")
        with Horizontal(classes="actions"):
            yield Button(self.t("report.done"), id="done", variant="primary")

    # --- actions ---------------------------------------------------------------------------
    async def action_digit(self, index: int) -> None:
        """Keys 1..9, 0: a category on the first step, a preset on the description step."""
        if self.step == "category" and index < len(CATEGORIES):
            await self.choose_category(CATEGORIES[index])
        elif self.step == "describe" and index < PRESETS:
            await self.choose_preset(index + 1)

    async def action_answer(self, yes: bool) -> None:
        """Keys y / n on the triage step."""
        if self.step == "triage":
            await self.answer(yes)

    async def choose_category(self, category: str) -> None:
        self.category = category
        self.answers = {}
        self.auto = {}
        self.question = 0
        await self.goto("unit")

    async def submit_unit(self) -> None:
        unit = self.value("unit").strip()
        if not unit:
            self.say(self.t("report.unit_missing"), "error")
            return
        if "/" in unit or "\\" in unit:
            self.say(self.t("report.unit_invalid"), "error")
            return
        hh = self.household()
        self.auto = {"elderly_alone": True} if hh is not None and "elderly_alone" in hh["vulnerable"] else {}
        self.answers = {}
        self.question = 0
        await self.goto("triage" if self._remaining_questions() else "describe")

    def _remaining_questions(self) -> bool:
        return self.question < len(self.questions()) and not is_life_safety(self.answers)

    async def answer(self, yes: bool) -> None:
        qs = self.questions()
        self.answers[qs[self.question]] = yes
        self.question += 1
        await self.goto("triage" if self._remaining_questions() else "describe")

    async def choose_preset(self, i: int) -> None:
        assert self.category is not None
        self.values["text"] = self.t(f"preset.{self.category}.{i}")
        await self.submit_text()

    async def submit_text(self) -> None:
        text = self.value("text").strip()
        if not text:
            self.say(self.t("report.text_missing"), "error")
            return
        self.text = text
        await self.goto("confirm")

    async def confirm(self) -> None:
        """Write the ticket (one op, one transaction) and show its code."""
        assert self.category is not None
        hh = self.household()
        try:
            self.ticket = self.node.report(
                self.value("unit").strip(),
                self.category,
                self.text,
                household=hh["id"] if hh else None,
                answers=self.all_answers(),
                contact=self.value("contact").strip(),
            )
        except EdgeError as exc:
            self.refuse(exc)
            return
        self.kiosk.refresh_status()
        await self.goto("done")

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        bid = event.button.id or ""
        if bid.startswith("nav-") or bid.startswith("kp-"):
            return
        event.stop()
        if bid.startswith("cat-"):
            await self.choose_category(bid.removeprefix("cat-"))
        elif bid in ("yes", "no"):
            await self.answer(bid == "yes")
        elif bid.startswith("preset-"):
            await self.choose_preset(int(bid.removeprefix("preset-")))
        elif bid == "next":
            await (self.submit_unit() if self.step == "unit" else self.submit_text())
        elif bid == "confirm":
            await self.confirm()
        elif bid == "edit":
            await self.goto("category")
        elif bid == "done":
            self.kiosk.action_home()

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.step == "unit":
            await self.submit_unit()
        elif self.step == "describe":
            await self.submit_text()
