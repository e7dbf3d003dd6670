"""Message catalogues: both languages have every key, every key the code uses exists, no screen
shows a raw key, and CJK text lines up."""

from __future__ import annotations

import re
import string
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len

from edge import HOLD_REASONS, STAGES, TRANSFER_STEPS
from edge.domain.people import VULNERABLE
from edge.services import sla
from kiosk_ui import triage
from kiosk_ui.i18n import LANGS, catalogue, tr
from kiosk_ui.screens.award import REASONS as AWARD_REASONS
from kiosk_ui.screens.board import BoardScreen
from kiosk_ui.screens.emergency import REASONS as EMERGENCY_REASONS
from kiosk_ui.screens.emergency import EmergencyScreen
from kiosk_ui.screens.health import HealthScreen
from kiosk_ui.screens.manager_exit import ManagerExitScreen
from kiosk_ui.screens.report import STEPS, ReportScreen
from kiosk_ui.screens.staff_menu import ENTRIES, StaffMenuScreen
from kiosk_ui.screens.stock import StockScreen
from kiosk_ui.screens.techs import STATUSES, TechsScreen
from kiosk_ui.screens.ticket_detail import TicketDetailScreen
from kiosk_ui.seed import HOUSEHOLD_PIN

from .conftest import SIZE, run, screen_text

SOURCE = Path(__file__).resolve().parents[2] / "kiosk_ui"


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_both_catalogues_have_the_same_keys_and_placeholders() -> None:
    zh, en = catalogue("zh"), catalogue("en")
    assert set(zh) == set(en), f"only zh: {sorted(set(zh) - set(en))}; only en: {sorted(set(en) - set(zh))}"
    for key in zh:
        assert _fields(zh[key]) == _fields(en[key]), key
        assert zh[key].strip() and en[key].strip(), key


def test_catalogues_hold_no_characters_of_ambiguous_width() -> None:
    """Ambiguous-width characters (curly quotes, middle dot) are one cell in some terminals and two
    in CJK ones, which breaks alignment; the catalogues use CJK punctuation or ASCII instead."""
    for lang in LANGS:
        for key, text in catalogue(lang).items():
            bad = [c for c in text if unicodedata.east_asian_width(c) == "A"]
            assert not bad, f"{lang}:{key} has {bad}"


def _families() -> set[str]:
    """Keys the code builds from known ids (f-strings)."""
    keys = {f"category.{c}" for c in sla.CATEGORIES}
    keys |= {f"q.{q}" for q in sla.QUESTIONS}
    keys |= {f"urgency.{u}" for u in sla.URGENCIES} | {f"target.{t}" for t in sla.TARGETS}
    keys |= {f"preset.{c}.{i}" for c in sla.CATEGORIES for i in range(1, triage.PRESETS + 1)}
    keys |= {f"reward.{r}" for r, _ in triage.REWARDS}
    keys |= {f"stage.{s}" for s in STAGES} | {f"transfers.step.{s}" for s in TRANSFER_STEPS}
    keys |= {f"hold.{h}" for h in HOLD_REASONS}
    keys |= {f"tier.{t}" for t in ("core", "certified", "volunteer")}
    keys |= {f"tech_status.{s}" for s in STATUSES} | {f"kind.{k}" for k in ("part", "supply", "tool")}
    keys |= {f"mode.{m}" for m in ("normal", "offline", "emergency")} | {"banner.offline", "banner.emergency"}
    keys |= {f"vulnerable.{v}" for v in VULNERABLE} | {f"cert.{c}" for c in ("gas", "electrical", "lift")}
    keys |= {f"role.{r}" for r in ("staff", "manager")} | {f"staff.menu.{e}" for e in ENTRIES}
    keys |= {f"award.reason.{r}" for r in AWARD_REASONS} | {f"emergency.reason.{r}" for r in EMERGENCY_REASONS}
    keys |= {f"report.step.{s}" for s in STEPS} | {f"emergency.done.{m}" for m in ("normal", "emergency")}
    keys |= {f"stock.{a}" for a in ("received", "issued")}
    keys |= {f"supplies.{a}_{b}" for a in ("borrow", "collect") for b in ("for", "done")}
    for table, cols in (
        ("board", ("priority", "code", "urgency", "category", "unit", "stage", "tech", "sla")),
        ("stock", ("sku", "name", "kind", "qty", "rights", "ration", "reorder")),
        ("techs", ("name", "tier", "skills", "certs", "status", "jobs", "phone")),
        ("supplies", ("name", "kind", "qty", "ration")),
    ):
        keys |= {f"{table}.col.{c}" for c in cols}
    return keys


def test_every_key_the_code_uses_is_in_the_catalogue() -> None:
    source = "\n".join(p.read_text("utf-8") for p in SOURCE.rglob("*.py"))
    literal = set(re.findall(r'\bt\(\s*"([^"{}]+)"', source)) | set(re.findall(r'\btr\([^,()]+,\s*"([^"{}]+)"', source))
    literal |= {k for _, k in re.findall(r'\("(\w+)", "(err\.[a-z_]+)"\)', source)} | {"err.generic"}
    used = literal | _families()
    assert len(literal) > 100
    missing = sorted(k for k in used if k not in catalogue("zh"))
    assert not missing, missing


def test_no_catalogue_key_is_left_unused() -> None:
    source = "\n".join(p.read_text("utf-8") for p in SOURCE.rglob("*.py"))
    used = _families()
    unused = [k for k in catalogue("zh") if k not in used and f'"{k}"' not in source]
    assert not unused, unused


async def _tour(app: Any, node: Any, pilot: Any) -> list[tuple[str, str]]:
    """Visit every screen (and every report step) and return ``(name, text)`` for each."""
    shots: list[tuple[str, str]] = []

    async def shot(name: str) -> None:
        await pilot.pause()
        shots.append((name, screen_text(app)))

    await shot("home")
    await pilot.press("1")
    await shot("report.category")
    await pilot.press("4", *"2-1601", "enter")
    await shot("report.triage")
    await pilot.press("y")
    await shot("report.describe")
    await pilot.press("2")
    await shot("report.confirm")
    await pilot.press("enter")
    await shot("report.done")
    assert isinstance(app.screen, ReportScreen) and app.screen.ticket is not None
    code = str(app.screen.ticket["code"])
    await app.go_home()
    await pilot.press("2", *code, "enter")
    await shot("lookup")
    await app.go_home()
    await pilot.press("3")
    await shot("points.login")
    unit = next(str(h["id"]) for h in node.households() if h["has_pin"])
    await pilot.press(*unit, "enter", *HOUSEHOLD_PIN, "enter")
    await shot("points")
    await app.go_home()
    for key, name in (("4", "supplies"), ("5", "notices")):
        await pilot.press(key)
        await shot(name)
        await app.go_home()
    await pilot.click("#nav-staff")
    await shot("staff.login")
    app.staff = {"id": "1001", "role": "staff"}
    for name, screen in (
        ("staff.menu", StaffMenuScreen()),
        ("board", BoardScreen()),
        ("detail", TicketDetailScreen(str(node.ticket(code)["id"]))),
        ("stock", StockScreen()),
        ("techs", TechsScreen()),
        ("health", HealthScreen()),
        ("emergency", EmergencyScreen()),
        ("exit", ManagerExitScreen()),
    ):
        await app.push_screen(screen)
        await shot(name)
        app.pop_screen()
    from kiosk_ui.screens.award import AwardScreen

    await app.push_screen(AwardScreen())
    await shot("award")
    return shots


@pytest.mark.parametrize("lang", LANGS)
def test_no_screen_shows_a_raw_catalogue_key(make_app, node, lang) -> None:
    keys = sorted(catalogue(lang), key=len, reverse=True)

    async def go() -> list[tuple[str, str]]:
        app = make_app(lang=lang)
        async with app.run_test(size=SIZE) as pilot:
            return await _tour(app, node, pilot)

    shots = run(go())
    assert len(shots) >= 20
    for name, text in shots:
        raw = [k for k in keys if k in text]
        assert not raw, f"{lang} screen {name} shows raw keys {raw}"
        assert tr(lang, "status.pending", n=102)[:3] in text, f"{lang} screen {name} has no status bar"


def test_cjk_columns_of_the_dispatch_board_line_up(make_app) -> None:
    async def go() -> str:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.click("#nav-staff")
            await pilot.press(*"1001", "enter", *"2468", "enter", "1")
            await pilot.pause()
            return screen_text(app)

    text = run(go())
    lines = [line for line in text.splitlines() if re.search(r"[A-Z0-9]+-\d{4}", line)]
    assert len(lines) >= 4
    header = next(line for line in text.splitlines() if "单号" in line and "时限" in line)
    # Every column starts at the same terminal cell in every row as in the header.
    for label in ("单号", "紧急", "类别", "房号", "状态", "技术员", "时限"):
        col = cell_len(header[: header.index(label)])
        for line in lines:
            prefix_cells = 0
            for i, ch in enumerate(line):
                if prefix_cells == col:
                    assert line[i - 1] == " " and line[i] != " ", f"column {label} misaligned in {line!r}"
                    break
                prefix_cells += cell_len(ch)
            else:
                pytest.fail(f"row {line!r} is shorter than column {label}")
