"""Service levels: target times per urgency, deadlines and countdowns, and the triage table.

The targets are the table of ``docs/dispatch.md`` (which follows the p50/p90 practice of ambulance and fire services
and the emergency / urgent / routine repair categories of UK social housing); ``docs/dispatch.md``
gives the table, its source and the one value the sources leave open (P1 "fixed", set to 24 h here, the
same as P2, because a life-safety job may not be given longer than an emergency one).

Every time is an integer number of milliseconds. Clocks pause only while a ticket is on hold for a
reason the resident causes; callers pass the paused milliseconds to :func:`remaining`.

This module, :mod:`edge.services.dispatch` and :mod:`edge.services.kpi` are pure (no I/O; of ``edge`` they
import only the vocabularies of ``edge.domain`` and the errors) and share one error class,
:class:`PlanningError`. The urgencies and categories are defined once, in ``edge.domain.fields``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from edge.domain.fields import CATEGORIES, URGENCIES
from edge.errors import InputError

__all__ = [
    "CATEGORIES",
    "EMERGENCY_NUMBERS",
    "PlanningError",
    "QUESTIONS",
    "STAGE_TARGET",
    "TARGETS",
    "TARGET_MS",
    "URGENCIES",
    "deadline",
    "raise_one_level",
    "remaining",
    "target_ms",
    "triage_base",
    "urgency_for_household",
    "urgency_from_answers",
]

MINUTE: Final = 60_000
HOUR: Final = 60 * MINUTE
DAY: Final = 24 * HOUR

TARGETS: Final = ("acknowledge", "on_site", "safe", "fixed")
"""The timed targets of every urgency, in the order they fall due."""

TARGET_MS: Final[Mapping[str, Mapping[str, int]]] = MappingProxyType(
    {
        "P1": MappingProxyType({"acknowledge": 5 * MINUTE, "on_site": 30 * MINUTE, "safe": 4 * HOUR, "fixed": DAY}),
        "P2": MappingProxyType({"acknowledge": 15 * MINUTE, "on_site": 2 * HOUR, "safe": 4 * HOUR, "fixed": DAY}),
        "P3": MappingProxyType({"acknowledge": 4 * HOUR, "on_site": 3 * DAY, "safe": 3 * DAY, "fixed": 3 * DAY}),
        "P4": MappingProxyType({"acknowledge": DAY, "on_site": 28 * DAY, "safe": 28 * DAY, "fixed": 28 * DAY}),
    }
)
"""Urgency -> target -> milliseconds from the report."""

STAGE_TARGET: Final[Mapping[str, str]] = MappingProxyType(
    {"triaged": "acknowledge", "on_site": "on_site", "resolved": "fixed"}
)
"""The ticket stage whose first stamp meets a target: reaching it (or any later stage) meets it."""

EMERGENCY_NUMBERS: Final[Mapping[str, str]] = MappingProxyType({"police": "110", "fire": "119", "ambulance": "120"})
"""Shown with every P1 report."""

QUESTIONS: Final = (
    "someone_trapped",
    "gas_smell",
    "fire_or_sparking",
    "water_near_electrics",
    "water_spreading",
    "no_water",
    "no_power",
    "only_toilet",
    "door_wont_lock",
    "elderly_alone",
)
"""Triage questions, answered yes/no at the kiosk."""

_ANSWER_LEVEL: Final[Mapping[str, str]] = MappingProxyType(
    {
        "someone_trapped": "P1",
        "gas_smell": "P1",
        "fire_or_sparking": "P1",
        "water_near_electrics": "P1",
        "water_spreading": "P2",
        "no_water": "P2",
        "no_power": "P2",
        "only_toilet": "P2",
        "door_wont_lock": "P2",
    }
)
"""A "yes" to a question sets at least this level; ``elderly_alone`` marks the household vulnerable."""

_CATEGORY_BASE: Final[Mapping[str, str]] = MappingProxyType(
    {
        "water": "P3",
        "electrical": "P3",
        "gas": "P3",
        "lift": "P3",
        "door": "P3",
        "fire": "P2",
        "structure": "P3",
        "pests": "P4",
        "common": "P4",
        "other": "P4",
    }
)
"""The level of a report in that category when every answer is "no"."""


class PlanningError(InputError):
    """An input to the SLA, dispatch or KPI functions that is malformed or out of range (CLI exit 2)."""


def _check_urgency(urgency: str) -> None:
    if urgency not in TARGET_MS:
        raise PlanningError(f"unknown urgency {urgency!r}; urgencies are {', '.join(URGENCIES)}")


def target_ms(urgency: str, target: str) -> int:
    """Milliseconds allowed from the report to ``target`` for ``urgency``.

    Args:
        urgency: ``"P1"`` .. ``"P4"``.
        target: one of :data:`TARGETS`, or a ticket stage named in :data:`STAGE_TARGET`
            (``triaged`` -> acknowledge, ``on_site`` -> on_site, ``resolved`` -> fixed).

    Raises:
        PlanningError: an unknown urgency or target.
    """
    _check_urgency(urgency)
    name = STAGE_TARGET.get(target, target)
    if name not in TARGETS:
        known = ", ".join((*TARGETS, *STAGE_TARGET))
        raise PlanningError(f"unknown SLA target {target!r} for {urgency}; targets are {known}")
    return TARGET_MS[urgency][name]


def deadline(urgency: str, target: str, reported_ms: int, paused_ms: int = 0) -> int:
    """The wall time (ms) by which ``target`` is due for a ticket reported at ``reported_ms``.

    ``paused_ms`` (time on hold for a resident-caused reason) moves the deadline later.
    """
    if paused_ms < 0:
        raise PlanningError(f"paused time must not be negative, got {paused_ms} ms")
    return reported_ms + target_ms(urgency, target) + paused_ms


def remaining(urgency: str, target: str, reported_ms: int, now_ms: int, paused_ms: int = 0) -> int:
    """Milliseconds left until ``target`` is due at ``now_ms``; negative once overdue (a countdown)."""
    return deadline(urgency, target, reported_ms, paused_ms) - now_ms


def raise_one_level(urgency: str) -> str:
    """The next more urgent level (``P4`` -> ``P3`` ... ``P2`` -> ``P1``); ``P1`` stays ``P1``."""
    _check_urgency(urgency)
    return URGENCIES[max(0, URGENCIES.index(urgency) - 1)]


def urgency_for_household(urgency: str, vulnerable: bool) -> str:
    """``urgency`` raised one level when the household is vulnerable (elderly alone, disabled)."""
    _check_urgency(urgency)
    return raise_one_level(urgency) if vulnerable else urgency


def triage_base(category: str) -> str:
    """The level of a report in ``category`` when every triage answer is "no"."""
    try:
        return _CATEGORY_BASE[category]
    except KeyError:
        raise PlanningError(f"unknown category {category!r}; categories are {', '.join(CATEGORIES)}") from None


def urgency_from_answers(category: str, answers: Mapping[str, bool], vulnerable: bool) -> str:
    """The urgency set by the triage table (``docs/dispatch.md``).

    The level is the most urgent of the category's base level and the level of every question
    answered "yes"; then a vulnerable household (``vulnerable``, or ``elderly_alone`` answered "yes")
    is raised one level. Questions not answered count as "no".

    Args:
        category: a category id (:data:`CATEGORIES`).
        answers: question id (:data:`QUESTIONS`) -> the resident's answer.
        vulnerable: the household is registered as vulnerable.

    Raises:
        PlanningError: an unknown category, an unknown question or an answer that is not a bool.
    """
    levels = [triage_base(category)]
    for question, answer in sorted(answers.items()):
        if question not in QUESTIONS:
            raise PlanningError(f"unknown triage question {question!r}; questions are {', '.join(QUESTIONS)}")
        if not isinstance(answer, bool):
            raise PlanningError(f"triage answer to {question!r} must be true or false, got {answer!r}")
        if answer and question in _ANSWER_LEVEL:
            levels.append(_ANSWER_LEVEL[question])
    level = min(levels, key=URGENCIES.index)
    return urgency_for_household(level, vulnerable or answers.get("elderly_alone", False) is True)
