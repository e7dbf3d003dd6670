"""Every vocabulary is defined once: the payload models accept exactly it, and the SLA rules, the KPIs,
the dispatcher, the CLI and the kiosk use that same definition."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

import edge
from edge.domain import fields, modes, people, stock, tickets, transfers
from edge.errors import InputError
from edge.services import dispatch, kpi, sla
from edge.store.optypes import REGISTRY, validate_payload
from kiosk_ui import triage
from kiosk_ui.screens import ticket_detail
from kiosk_ui.screens import transfers as transfer_screen

ROOT = Path(__file__).resolve().parents[2]
H = "0" * 64

# (vocabulary, op type, a valid payload with "{}" where the word goes, whether the field is a list)
CASES: list[tuple[str, tuple[str, ...], str, dict[str, Any], str, bool]] = [
    ("stages", tickets.STAGES, "ticket.stage", {"epoch": 0}, "stage", False),
    ("close reasons", tickets.CLOSE_REASONS, "ticket.stage", {"epoch": 0, "stage": "closed"}, "reason", False),
    ("hold reasons", tickets.HOLD_REASONS, "ticket.hold", {}, "reason", False),
    (
        "categories",
        fields.CATEGORIES,
        "ticket.create",
        {"code": "AB-0001", "unit": "1-1", "urgency": "P3", "text": "x"},
        "category",
        False,
    ),
    (
        "urgencies",
        fields.URGENCIES,
        "ticket.create",
        {"code": "AB-0001", "unit": "1-1", "category": "water", "text": "x"},
        "urgency",
        False,
    ),
    (
        "categories as skills",
        fields.CATEGORIES,
        "tech.add",
        {"name": "Li", "tier": "core", "home": "a"},
        "skills",
        True,
    ),
    ("tiers", people.TIERS, "tech.add", {"name": "Li", "skills": ["water"], "home": "a"}, "tier", False),
    (
        "certificates",
        people.CERTS,
        "tech.add",
        {"name": "Li", "skills": ["water"], "tier": "core", "home": "a"},
        "certs",
        True,
    ),
    ("technician statuses", people.TECH_STATUSES, "tech.status", {}, "status", False),
    ("vulnerability flags", people.VULNERABLE, "household.add", {"unit": "1-1"}, "vulnerable", True),
    ("staff roles", people.STAFF_ROLES, "staff.add", {"pin_hash": "h"}, "role", False),
    ("item kinds", stock.ITEM_KINDS, "item.add", {"sku": "A1", "name_zh": "甲", "name_en": "A"}, "kind", False),
    ("declared modes", modes.DECLARED_MODES, "mode.set", {}, "mode", False),
]


@pytest.mark.parametrize(("name", "words", "type_name", "base", "field", "many"), CASES, ids=[c[0] for c in CASES])
def test_the_payload_models_accept_exactly_the_vocabulary(
    name: str, words: tuple[str, ...], type_name: str, base: dict[str, Any], field: str, many: bool
) -> None:
    assert words and len(set(words)) == len(words)
    for word in words:
        validate_payload(type_name, {**base, field: [word] if many else word})
    for stranger in ("", "other_thing", words[0].upper(), words[0] + " "):
        if stranger in words:
            continue
        with pytest.raises(InputError, match=field):
            validate_payload(type_name, {**base, field: [stranger] if many else stranger})


def test_the_transfer_op_types_are_exactly_the_steps() -> None:
    written = {"requested": "transfer.request", **{s: t for t, s in transfers.STEP_OF_TYPE.items()}}
    assert tuple(sorted(written, key=transfers.STEPS.index)) == transfers.STEPS
    assert all(t in REGISTRY for t in written.values())


def test_every_user_of_a_vocabulary_holds_the_one_definition() -> None:
    assert sla.CATEGORIES is fields.CATEGORIES is edge.CATEGORIES is triage.CATEGORIES
    assert sla.URGENCIES is fields.URGENCIES is edge.URGENCIES is kpi.URGENCIES
    assert dispatch.CATEGORIES is fields.CATEGORIES and dispatch.URGENCIES is fields.URGENCIES
    assert kpi.STAGES is tickets.STAGES is edge.STAGES is ticket_detail.STAGES
    assert edge.HOLD_REASONS is tickets.HOLD_REASONS and kpi.RESIDENT_HOLDS <= set(tickets.HOLD_REASONS)
    assert edge.TRANSFER_STEPS is transfers.STEPS and set(transfer_screen.STEPS) == set(transfers.STEPS)
    assert edge.VULNERABLE is people.VULNERABLE
    assert dispatch.TIERS is people.TIERS is edge.TECH_TIERS and edge.TECH_STATUSES is people.TECH_STATUSES


VOCABULARIES = {
    "stages": tickets.STAGES,
    "hold reasons": tickets.HOLD_REASONS,
    "close reasons": tickets.CLOSE_REASONS,
    "categories": fields.CATEGORIES,
    "urgencies": fields.URGENCIES,
    "transfer steps": transfers.STEPS,
    "vulnerability flags": people.VULNERABLE,
    "tiers": people.TIERS,
    "certificates": people.CERTS,
    "technician statuses": people.TECH_STATUSES,
    "item kinds": stock.ITEM_KINDS,
}


def _spelled_out(path: Path) -> list[str]:
    """Tuples, lists and sets of string literals in ``path`` that spell out a whole vocabulary again
    (the one definition of each, a ``Literal[...]``, is not one of them)."""
    tree = ast.parse(path.read_text("utf-8"))
    literal = {
        id(n.slice)
        for n in ast.walk(tree)
        if isinstance(n, ast.Subscript) and isinstance(n.value, ast.Name) and n.value.id == "Literal"
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Tuple | ast.List | ast.Set) and len(node.elts) >= 2 and id(node) not in literal:
            words = {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
            for name, vocabulary in VOCABULARIES.items():
                if words == set(vocabulary):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: the {name}")
    return found


def test_no_module_of_edge_or_the_kiosk_spells_out_a_vocabulary_again() -> None:
    files = [p for d in ("edge", "kiosk_ui") for p in sorted((ROOT / d).rglob("*.py"))]
    found = [f for p in files for f in _spelled_out(p)]
    assert not found, "\n".join(found)
