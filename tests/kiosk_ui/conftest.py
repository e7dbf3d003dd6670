"""Fixtures for the kiosk tests: a seeded community node with a fixed key and clock, and the app."""

from __future__ import annotations

import asyncio
import io
import random
import shutil
from collections.abc import Callable, Coroutine, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from crdt.keys import DeviceKey
from edge import Node
from kiosk_ui.app import KioskApp
from kiosk_ui.seed import seed_community

TZ = timezone(timedelta(hours=8))
NOW_MS = int(datetime(2025, 3, 14, 9, 30, tzinfo=TZ).timestamp() * 1000)
SEED_START_MS = NOW_MS - 2 * 3600 * 1000
SIZE = (100, 30)
COMMUNITY = "sunny"


class FakeClock:
    """A wall clock in ms; with ``step`` it moves on by ``step`` ms on every reading (for seeding)."""

    def __init__(self, now: int, step: int = 0) -> None:
        self.now = now
        self.step = step

    def __call__(self) -> int:
        value = self.now
        self.now += self.step
        return value


class FakeMonotonic:
    """A monotonic clock in seconds that tests move on by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def fixed_node_dir(path: Path, clock: FakeClock, seed: bytes = b"\x07" * 32) -> Node:
    """``Node.init`` in ``path`` with a fixed device key (so ticket codes are stable)."""
    Node.init(path, COMMUNITY, wall=clock).close()
    (path / "device.key").unlink()
    DeviceKey.from_seed(seed).save(path / "device.key")
    node = Node.open(path, wall=clock)
    node.store.set("device", node.dev)
    return node


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded community node, built once and copied for each test."""
    path = tmp_path_factory.mktemp("kiosk-template") / "node"
    node = fixed_node_dir(path, FakeClock(SEED_START_MS, step=5000))
    seed_community(node, COMMUNITY, random.Random(4))
    node.close()
    return path


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW_MS)


@pytest.fixture
def node(seeded_template: Path, tmp_path: Path, clock: FakeClock) -> Iterator[Node]:
    dest = tmp_path / "node"
    shutil.copytree(seeded_template, dest)
    n = Node.open(dest, wall=clock)
    yield n
    n.close()


@pytest.fixture
def mono() -> FakeMonotonic:
    return FakeMonotonic()


@pytest.fixture
def make_app(node: Node, mono: FakeMonotonic) -> Callable[..., KioskApp]:
    """A kiosk app on the seeded node with a fixed time zone and a hand-driven idle clock."""

    def make(**kw: Any) -> KioskApp:
        kw.setdefault("tz", TZ)
        kw.setdefault("monotonic", mono)
        kw.setdefault("ansi", False)
        kw.setdefault("status_seconds", 3600.0)
        return KioskApp(node, **kw)

    return make


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a Pilot coroutine (the suite has no asyncio plugin)."""
    return asyncio.run(coro)


def screen_text(app: KioskApp) -> str:
    """The current screen as plain text, as a terminal would show it."""
    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        color_system="truecolor",
        record=True,
        legacy_windows=False,
        safe_box=False,
    )
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()
