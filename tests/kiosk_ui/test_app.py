"""App-level behaviour: the 16-colour theme, the status bar refresh, the CLI and the exports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.color import ColorSystem, ColorType

import kiosk_ui
from edge import Node
from kiosk_ui import cli
from kiosk_ui.screens.report import ReportScreen

from .conftest import NOW_MS, SIZE, run, screen_text


def _colours(app: Any) -> tuple[set[ColorType], list[str]]:
    """Colour types used on screen, and any visible text drawn in its own background colour."""
    types: set[ColorType] = set()
    unreadable = []
    for strip in app.screen._compositor.render_strips():
        for seg in strip:
            style = seg.style
            if style is None:
                continue
            for colour in (style.color, style.bgcolor):
                if colour is not None:
                    types.add(colour.type)
            fg, bg = style.color, style.bgcolor
            if seg.text.strip() and fg is not None and fg.type != ColorType.DEFAULT and fg == bg:
                unreadable.append(seg.text)
    return types, unreadable


def test_in_the_16_colour_theme_every_screen_uses_only_ansi_colours_and_stays_readable(make_app) -> None:
    async def go() -> list[tuple[set[ColorType], list[str]]]:
        app = make_app(ansi=True)
        seen = []
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert app.theme == "ansi-dark"
            seen.append(_colours(app))
            for keys in (("1",), ("4", *"2-1601", "enter"), ("y", "2")):
                await pilot.press(*keys)
                await pilot.pause()
                seen.append(_colours(app))
            await app.go_home()
            await pilot.click("#nav-staff")
            await pilot.press(*"1001", "enter", *"2468", "enter", "1")
            await pilot.pause()
            seen.append(_colours(app))
        return seen

    for types, unreadable in run(go()):
        assert types <= {ColorType.STANDARD, ColorType.DEFAULT}, types
        assert not unreadable


def test_a_16_colour_terminal_gets_the_ansi_theme_by_itself(make_app) -> None:
    async def go() -> str:
        app = make_app(ansi=None)
        app.console._color_system = ColorSystem.STANDARD
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            return str(app.theme)

    assert run(go()) == "ansi-dark"


def test_the_status_bar_follows_what_the_sync_daemon_writes(make_app, node: Node) -> None:
    async def go() -> tuple[str, str]:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            before = screen_text(app)
            node.store.set("server_url", "http://127.0.0.1:9")
            node.store.set("last_sync_ms", NOW_MS - 60_000)  # the daemon synced a minute ago
            app.refresh_status()
            await pilot.pause()
            return before, screen_text(app)

    before, after = run(go())
    assert "上次同步：-" in before
    assert "上次同步：03-14 09:29" in after and "模式：正常" in after


def test_the_home_screen_recomposes_when_the_mode_changes_under_it(make_app, node: Node) -> None:
    async def go() -> list[str]:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            node.set_mode("emergency", actor="district:admin")
            app.refresh_status()
            await pilot.pause()
            return app.screen.tiles()  # type: ignore[attr-defined]

    assert run(go()) == ["report", "lookup", "supplies", "notices"]


def test_in_emergency_mode_the_report_asks_life_safety_questions_first(make_app, node: Node) -> None:
    node.set_mode("emergency", actor="staff:1001")

    async def go() -> list[str]:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("1", "8", *"1-101", "enter")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, ReportScreen)
            return screen.questions()

    assert run(go())[:4] == ["someone_trapped", "gas_smell", "fire_or_sparking", "water_near_electrics"]


def test_cli_help_names_every_option() -> None:
    text = cli.parser().format_help()
    for option in ("--data", "--lang", "--dev"):
        assert option in text


def test_cli_without_a_node_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--data", str(tmp_path / "nothing")]) == 2
    assert "no node in" in capsys.readouterr().err


def test_cli_refuses_an_unknown_language() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "kiosk_ui.cli", "--lang", "fr"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_all_is_sorted_and_complete() -> None:
    assert kiosk_ui.__all__ == sorted(kiosk_ui.__all__)
    for name in kiosk_ui.__all__:
        assert hasattr(kiosk_ui, name)
