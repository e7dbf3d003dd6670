"""The whole resident report flow with the district server unreachable: the kiosk keeps working
on its own store, says it is offline, and never opens a socket itself."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from edge import Node
from kiosk_ui.screens.report import ReportScreen

from .conftest import NOW_MS, SIZE, run, screen_text


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def offline_node(node: Node) -> Node:
    """Enrolled with a district server that does not answer; last synced 10 minutes ago."""
    node.store.set("server_url", f"http://127.0.0.1:{_closed_port()}")
    node.store.set("last_sync_ms", NOW_MS - 10 * 60_000)
    node.store.set("last_sync_error", "connection refused")
    return node


def test_the_report_flow_works_offline_with_the_banner_shown_throughout(make_app, offline_node, monkeypatch) -> None:
    def no_socket(*args: Any, **kw: Any) -> Any:
        raise AssertionError("the kiosk UI opened a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_socket)
    monkeypatch.setattr(socket.socket, "connect_ex", no_socket)
    monkeypatch.setattr(socket, "create_connection", no_socket)
    node = offline_node
    assert node.mode() == "offline"
    pending = node.status()["pending"]
    unit = str(node.households()[5]["id"])

    async def go() -> tuple[list[str], dict[str, Any] | None, str]:
        app = make_app()
        texts = []
        async with app.run_test(size=SIZE) as pilot:
            texts.append(screen_text(app))
            for keys in (("1",), ("2",), (*unit, "enter"), ("y",), ("1",)):
                await pilot.press(*keys)
                await pilot.pause()
                texts.append(screen_text(app))
            await pilot.press("enter")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, ReportScreen)
            return texts, screen.ticket, screen_text(app)

    texts, ticket, done = run(go())
    assert ticket is not None
    stored = node.ticket(str(ticket["code"]))
    assert stored["category"] == "electrical" and stored["urgency"] == "P1"
    for text in [*texts, done]:
        assert "【离线模式】" in text and "模式：离线" in text
    assert str(ticket["code"]) in done
    assert node.status()["pending"] > pending
    assert f"待同步：{node.status()['pending']}" in done
