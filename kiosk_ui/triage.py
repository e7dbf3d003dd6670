"""What the report wizard asks and what it promises: triage questions per category, description
presets, the points reward catalogue and the SLA targets shown to residents and staff.

The urgency rules and target times themselves live in ``edge`` (``urgency_from_answers``, ``target_ms``,
``remaining``); this module only chooses which questions a category needs and turns a ticket's stage into
its next due target.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edge import (
    CATEGORIES,
    SLA_TARGETS,
    STAGES,
    remaining,
    target_ms,
    urgency_from_answers,
)
from edge import EMERGENCY_NUMBERS as _EMERGENCY_SERVICES

__all__ = [
    "CATEGORIES",
    "CATEGORY_QUESTIONS",
    "EMERGENCY_NUMBERS",
    "LIFE_SAFETY",
    "PRESETS",
    "REWARDS",
    "is_life_safety",
    "next_due",
    "predicted_urgency",
    "questions_for",
    "targets",
]

EMERGENCY_NUMBERS: tuple[str, ...] = tuple(_EMERGENCY_SERVICES.values())
LIFE_SAFETY: tuple[str, ...] = ("someone_trapped", "gas_smell", "fire_or_sparking", "water_near_electrics")
"""Questions whose "yes" makes a report P1; asked first in emergency mode, whatever the category."""

CATEGORY_QUESTIONS: Mapping[str, tuple[str, ...]] = {
    "water": ("water_near_electrics", "water_spreading", "no_water", "only_toilet", "elderly_alone"),
    "electrical": ("fire_or_sparking", "water_near_electrics", "no_power", "elderly_alone"),
    "gas": ("gas_smell", "fire_or_sparking", "elderly_alone"),
    "lift": ("someone_trapped", "elderly_alone"),
    "door": ("door_wont_lock", "someone_trapped", "elderly_alone"),
    "fire": ("fire_or_sparking", "someone_trapped", "gas_smell", "elderly_alone"),
    "structure": ("someone_trapped", "water_spreading", "elderly_alone"),
    "pests": ("elderly_alone",),
    "common": ("fire_or_sparking", "water_spreading", "no_power", "elderly_alone"),
    "other": (
        "someone_trapped",
        "gas_smell",
        "fire_or_sparking",
        "water_near_electrics",
        "water_spreading",
        "elderly_alone",
    ),
}
"""The yes/no questions relevant to each category, most dangerous first."""

PRESETS = 3
"""Description presets per category (catalogue keys ``preset.<category>.1`` .. ``.3``)."""

REWARDS: tuple[tuple[str, int], ...] = (
    ("bike_repair", 20),
    ("appliance_check", 30),
    ("haircut", 40),
    ("labour_hour", 50),
    ("deep_clean", 120),
)
"""The redeem catalogue: reward id (catalogue key ``reward.<id>``) and its price in points."""


def questions_for(category: str, emergency: bool = False) -> tuple[str, ...]:
    """The questions to ask for ``category``; in emergency mode the life-safety ones come first."""
    asked = CATEGORY_QUESTIONS[category]
    if not emergency:
        return asked
    return LIFE_SAFETY + tuple(q for q in asked if q not in LIFE_SAFETY)


def is_life_safety(answers: Mapping[str, bool]) -> bool:
    """Whether any life-safety question was answered "yes" (the report is P1)."""
    return any(answers.get(q, False) for q in LIFE_SAFETY)


def predicted_urgency(category: str, answers: Mapping[str, bool], vulnerable: bool) -> str:
    """The urgency ``edge`` will give the report (shown on the confirm step)."""
    return urgency_from_answers(category, dict(answers), vulnerable)


def targets(urgency: str) -> dict[str, int]:
    """Target milliseconds from the report per target (acknowledge, on_site, safe, fixed)."""
    return {name: target_ms(urgency, name) for name in SLA_TARGETS}


def next_due(ticket: Mapping[str, Any], now_ms: int) -> tuple[str, int] | None:
    """The next target a ticket must meet and the milliseconds left (negative once overdue).

    ``None`` for resolved, closed and cancelled tickets or a ticket without a report time. Time on
    hold for ``no_access`` (caused by the resident) pauses the clock.
    """
    stage = str(ticket.get("stage") or "reported")
    reported = ticket.get("reported_ms")
    if reported is None or stage not in STAGES or STAGES.index(stage) >= STAGES.index("resolved"):
        return None
    index = STAGES.index(stage)
    if index < STAGES.index("triaged"):
        target = "acknowledge"
    elif index < STAGES.index("on_site"):
        target = "on_site"
    else:
        target = "fixed"
    paused = 0
    if ticket.get("hold_reason") == "no_access" and ticket.get("hold_since"):
        paused = max(0, now_ms - int(ticket["hold_since"]))
    urgency = str(ticket.get("urgency") or "P4")
    return target, remaining(urgency, target, int(reported), now_ms, paused)
