"""Clock faults through the real CLIs under ``faketime`` against a real ``linli-server serve`` on 127.0.0.1.

Each kiosk command runs as its own ``linli-edge`` process; ``faketime`` (a Debian package, installed by
``scripts/install-system-deps``) shifts that process's clock: ``faketime '2099-06-01 00:00:00'`` for a
kiosk whose real-time clock says 2099, ``faketime -f -3d`` for one that booted from fake-hwclock's saved
time three days back. The server runs on the true time.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from crdt.op import sign_op
from edge import Node
from edge.sync import HttpTransport, pack
from edge.sync.client import SyncClient
from edge.sync.protocol import SYNC_PATH
from sync_server.cli import main as server_main
from sync_server.enroll import issue_token

from .live import LiveServer

ROOT = Path(__file__).resolve().parents[2]
FAKETIME = shutil.which("faketime")
HOUR = 3_600_000

needs_faketime = pytest.mark.skipif(
    FAKETIME is None and os.environ.get("CI") != "true",
    reason="faketime is not installed (scripts/install-system-deps)",
)


def edge(data: Path, *argv: str, fake: list[str] | None = None) -> Any:
    """``linli-edge ARGV --data DATA --json`` in its own process, under ``faketime FAKE`` if given."""
    assert FAKETIME is not None, "faketime is not installed (scripts/install-system-deps)"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LINLI_VERIFY_WORKERS": "0"}
    cmd = [sys.executable, "-m", "edge.cli", *argv, "--data", str(data), "--json"]
    if fake is not None:
        cmd = [FAKETIME, *fake, *cmd]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{' '.join(argv)}: {proc.stderr}{proc.stdout}"
    return json.loads(proc.stdout) if proc.stdout.strip() else None


def district_report(data: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "sync_server.cli", "report", "--data", str(data), "--json"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True)
    return dict(json.loads(proc.stdout))


def devices_of(report: dict[str, Any], community: str = "a") -> dict[str, dict[str, Any]]:
    return {d["device"]: d for d in report["communities"][community]["devices"]}


@pytest.fixture
def world(tmp_path: Path) -> Any:
    data = tmp_path / "district"
    assert server_main(["init", "--data", str(data), "--district", "West"]) == 0
    server = LiveServer(data)
    kiosks: dict[str, Path] = {}
    try:
        for name in ("k", "a"):
            path = tmp_path / name
            with Node.open(data) as district:
                ticket = issue_token(district.conn, "a", "kiosk", HOUR, district.now_ms())
            edge(path, "init", "--community", "a")
            edge(path, "enroll", "--server", server.url, f"--token={ticket}")
            kiosks[name] = path
        yield server, data, kiosks
    finally:
        server.stop()


@needs_faketime
def test_a_kiosk_whose_clock_says_2099_cannot_keep_its_emergency_for_good(world: Any) -> None:
    """Regression: an emergency declared on a kiosk whose clock said 2099 could never be ended."""
    server, data, kiosks = world
    k, a = kiosks["k"], kiosks["a"]
    y2099 = ["2099-06-01 00:00:00"]
    k_dev = edge(k, "status")["device"]
    a_dev = edge(a, "status")["device"]
    edge(k, "mode", "emergency", "--reason", "flood", "--actor", "staff:k", fake=y2099)  # offline, in 2099
    edge(k, "sync", fake=y2099)
    assert edge(a, "sync")["mode"] == "emergency"
    edge(a, "mode", "normal", "--reason", "water down", "--actor", "staff:a")
    edge(a, "sync")
    edge(k, "sync", fake=y2099)
    assert edge(k, "mode")["mode"] == "normal" and edge(a, "mode")["mode"] == "normal"
    status = edge(k, "status", fake=y2099)
    assert status["clock_skew"] is True and edge(a, "status")["clock_skew"] is False
    devices = devices_of(district_report(data))
    assert devices[k_dev]["clock_skew"] is True and devices[a_dev]["clock_skew"] is False
    assert edge(k, "rebuild", fake=y2099)["same"] is True


@needs_faketime
def test_a_kiosk_that_boots_three_days_back_keeps_its_staffs_later_release(world: Any) -> None:
    """Regression: a kiosk booted from fake-hwclock days in the past lost its staff's hold release, and the
    honest kiosk that wrote the hold got the skew flag."""
    server, data, kiosks = world
    p, a = kiosks["k"], kiosks["a"]
    back = ["-f", "-3d"]
    p_dev = edge(p, "status")["device"]
    a_dev = edge(a, "status")["device"]
    edge(p, "sync")
    code = edge(a, "ticket", "report", "--unit", "1-101", "--category", "water", "--text", "leak")["code"]
    edge(a, "ticket", "hold", code, "no_access", "--actor", "staff:a")
    edge(a, "sync")
    edge(p, "sync", fake=back)  # boots three days back and goes online
    assert edge(p, "ticket", "show", code, fake=back)["hold_reason"] == "no_access"
    edge(p, "ticket", "hold", code, "none", "--actor", "staff:p", fake=back)
    edge(p, "sync", fake=back)
    edge(a, "sync")
    assert edge(a, "ticket", "show", code)["hold_reason"] is None
    assert edge(p, "ticket", "show", code, fake=back)["hold_reason"] is None
    status = edge(p, "status", fake=back)
    assert status["clock_skew"] is True and a_dev not in {d["dev"] for d in status["clock_skew_devices"]}
    edge(p, "sync", fake=back)  # reports its offset to the district
    devices = devices_of(district_report(data))
    assert devices[p_dev]["clock_skew"] is True and devices[a_dev]["clock_skew"] is False


@needs_faketime
def test_an_op_a_day_ahead_with_the_highest_counter_stops_no_one_over_http(world: Any) -> None:
    """Regression: after one op stamped ``(now + 23 h, 2**63 - 1)`` the district's ``revoke`` of its sender
    and every receiver's next write failed the envelope check."""
    server, data, kiosks = world
    k, a = kiosks["k"], kiosks["a"]
    with Node.open(k) as node:
        hostile = sign_op(
            node.store.ident.key,
            scope="a",
            seq=1,
            prev=bytes(32),
            hlc=(node.now_ms() + 23 * HOUR, 2**63 - 1),
            actor=None,
            type="household.add",
            obj="1-101",
            data={"unit": "1-101"},
        )
        client = SyncClient(node)
        body = pack({"cursor": 0, "push": [hostile.raw], "limit": 10})
        transport = HttpTransport(server.url)
        try:
            status, _ = transport.request("POST", SYNC_PATH, body, client.headers("POST", SYNC_PATH, body))
        finally:
            transport.close()
        assert status == 200
        k_dev = node.dev
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    revoke = [sys.executable, "-m", "sync_server.cli", "revoke", k_dev, "--data", str(data), "--reason", "hostile"]
    proc = subprocess.run(revoke, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    edge(a, "sync")
    edge(a, "household", "add", "1-102")
    edge(a, "sync")
    assert devices_of(district_report(data))[k_dev]["clock_skew"] is True


@needs_faketime
def test_a_resident_report_is_taken_whatever_the_kiosk_clock_says(world: Any) -> None:
    server, data, kiosks = world
    for fake in (["2099-06-01 00:00:00"], ["1970-01-02 00:00:00"], ["-f", "-40d"]):
        code = edge(kiosks["k"], "ticket", "report", "--unit", "1-101", "--category", "water", "--text", "x", fake=fake)
        edge(kiosks["k"], "sync", fake=fake)
        edge(kiosks["a"], "sync")
        assert edge(kiosks["a"], "ticket", "show", code["code"])["unit"] == "1-101"
