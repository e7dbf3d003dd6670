"""The sync daemon: backoff with jitter, modes from sync health, stopping between requests."""

from __future__ import annotations

import logging
import random
import threading
import time
from pathlib import Path

import pytest

from edge.node import Node
from edge.sync import Unreachable, enroll, sync_once
from edge.sync.daemon import Backoff, Daemon
from sync_server.core import InProcessTransport, SyncServer
from tests.sync_server.helpers import Clock, make_district, token


class Down:
    """A transport whose server is unreachable."""

    def request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        raise Unreachable("http://district.test: connection refused")


class Switch:
    """A transport that is down until switched on."""

    def __init__(self, server: SyncServer) -> None:
        self.up = False
        self.inner = InProcessTransport(server)

    def request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if not self.up:
            raise Unreachable("http://district.test: network down")
        return self.inner.request(method, path, body, headers)


@pytest.fixture
def setup(tmp_path: Path):  # type: ignore[no-untyped-def]
    clock = Clock()
    server = make_district(tmp_path / "district", clock=clock)
    node = Node.init(tmp_path / "k", "a", wall=clock)
    enroll(node, InProcessTransport(server), "http://district.test", token(server, "a"))
    yield server, node, clock
    node.close()
    server.close()


def test_backoff_grows_exponentially_with_full_jitter_up_to_a_cap_and_resets() -> None:
    backoff = Backoff(base_s=1.0, cap_s=30.0, rng=random.Random(7))
    for n in range(1, 12):
        assert 0 <= backoff.failure() <= min(30.0, 2 ** (n - 1))
    sixth = []
    for seed in range(200):
        b = Backoff(base_s=1.0, cap_s=30.0, rng=random.Random(seed))
        for _ in range(5):
            b.failure()
        sixth.append(b.failure())
    assert max(sixth) > 16 and min(sixth) < 8  # spread out: kiosks do not retry in step
    backoff.success()
    assert backoff.failures == 0 and backoff.failure() <= 1.0


def test_offline_after_two_minutes_without_a_sync_and_normal_after_one(
    setup: tuple[SyncServer, Node, Clock], caplog: pytest.LogCaptureFixture
) -> None:
    server, node, clock = setup
    link = Switch(server)
    daemon = Daemon(node, link, interval_s=5, rng=random.Random(1))
    link.up = True
    assert daemon.step() <= 6 and node.mode() == "normal"
    link.up = False
    caplog.set_level(logging.INFO, logger="linli.daemon")
    for _ in range(4):
        clock.advance(30_000)
        daemon.step()
    assert node.mode() == "normal"  # 120 s exactly: not yet
    clock.advance(1)
    daemon.step()
    assert node.mode() == "offline" and "mode normal -> offline" in caplog.text
    assert daemon.backoff.failures == 5 and "network down" in node.status()["last_sync_error"]
    link.up = True
    daemon.step()
    assert node.mode() == "normal" and "mode offline -> normal" in caplog.text
    assert daemon.backoff.failures == 0 and node.status()["last_sync_error"] is None


def test_run_returns_promptly_when_stopped(setup: tuple[SyncServer, Node, Clock]) -> None:
    _, node, _ = setup
    daemon = Daemon(node, Down(), interval_s=60, backoff=Backoff(base_s=60, cap_s=60, rng=random.Random(3)))
    daemon.backoff.rng = random.Random(0)
    threading.Timer(0.2, daemon.stop.set).start()
    t0 = time.monotonic()
    summary = daemon.run()
    assert time.monotonic() - t0 < 5
    assert summary["failures"] >= 1 and summary["syncs"] == 0 and summary["mode"] == "offline"


def test_a_stopping_sync_returns_between_requests_without_claiming_success(
    setup: tuple[SyncServer, Node, Clock],
) -> None:
    server, node, _ = setup
    for i in range(30):
        node.add_household(f"1-{i:03d}")
    asked = []

    def stop_after_first() -> bool:
        asked.append(1)
        return len(asked) > 1

    report = sync_once(node, InProcessTransport(server), push_batch=10, should_stop=stop_after_first)
    assert (report.rounds, report.caught_up, report.pending) == (1, False, 20)
    assert node.store.get("last_sync_ms") is None
