"""End to end over real HTTP: ``linli-server serve`` (uvicorn) on 127.0.0.1, two communities with two
devices each plus the district, offline writes everywhere, sync, equal digests per scope."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from crdt.op import decode_op
from edge.cli import main as edge_main
from edge.node import Node
from edge.sync import HttpTransport, enroll, pack, sync_once, unpack
from sync_server.cli import main as server_main
from sync_server.enroll import issue_token
from tests.sync_server.helpers import ROOT, signed, sync_body

from .live import LiveServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    root = tmp_path_factory.mktemp("e2e")
    data = root / "district"
    assert server_main(["init", "--data", str(data), "--district", "West"]) == 0
    server = LiveServer(data, "--max-body", "200000")
    try:
        yield {"root": root, "data": data, "server": server, "url": server.url}
    finally:
        server.stop()


def new_token(data: Path, community: str) -> str:
    district = Node.open(data)
    try:
        return issue_token(district.conn, community, "kiosk", 3_600_000, district.now_ms())
    finally:
        district.close()


def run_edge(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    capsys.readouterr()
    code = edge_main([*argv, "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


def test_two_communities_converge_and_never_see_each_other(
    world: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    root, data, url = Path(str(world["root"])), Path(str(world["data"])), str(world["url"])
    # a1 goes through the linli-edge command line, the others through the Python API; all over HTTP.
    a1 = str(root / "a1")
    run_edge(capsys, "init", "--data", a1, "--community", "a")
    got = run_edge(capsys, "enroll", "--data", a1, "--server", url, "--token", new_token(data, "a"))
    assert isinstance(got, dict) and got["community"] == "a"
    nodes = {"a1": Node.open(a1)}
    for name, community in (("a2", "a"), ("b1", "b"), ("b2", "b")):
        node = Node.init(root / name, community)
        transport = HttpTransport(url)
        enroll(node, transport, url, new_token(data, community))
        transport.close()
        nodes[name] = node
    # Offline writes on every device, and on the district.
    district = Node.open(data)
    district.add_item("PIPE-15", "水管", "Pipe 15 mm", scope="district")
    district.post_notice("停水通知", "Water off", "周二", "Tuesday", scope="district")
    for name, node in nodes.items():
        unit = f"{name}-101"
        node.add_household(unit)
        node.award(unit, 10, "helped at the fair")
        node.redeem(unit, 4, "tool loan")
        node.report(unit, "water", f"leak reported at {name}", urgency="P2")
    nodes["a1"].close()
    run_edge(capsys, "ticket", "report", "--data", a1, "--unit", "a1-102", "--category", "lift", "--text", "stuck")
    nodes["a1"] = Node.open(a1)
    # Sync everyone twice (the second round brings the others' ops), a1 through the CLI.
    for _ in range(2):
        nodes["a1"].close()
        report = run_edge(capsys, "sync", "--data", a1)
        assert isinstance(report, dict) and report["caught_up"] and report["pending"] == 0
        nodes["a1"] = Node.open(a1)
        for name in ("a2", "b1", "b2"):
            transport = HttpTransport(url)
            sync_once(nodes[name], transport)
            transport.close()
    for scope, members in (("a", ("a1", "a2")), ("b", ("b1", "b2"))):
        digests = {nodes[m].digest(scope) for m in members} | {district.digest(scope)}
        assert len(digests) == 1, scope
    assert len({n.digest("district") for n in nodes.values()} | {district.digest("district")}) == 1
    for name, node in nodes.items():
        held = {r[0] for r in node.conn.execute("SELECT DISTINCT scope FROM ops")}
        assert held == {name[0], "district"}
        status = node.status()
        assert status["pending"] == 0 and status["mode"] == "normal" and status["last_sync_error"] is None
    # A kiosk asking from cursor 0 gets nothing of the other community.
    transport = HttpTransport(url)
    req = signed(nodes["b1"], sync_body(cursor=0))
    code, body = transport.request("POST", "/v1/sync", req.body, {"Authorization": req.headers["authorization"]})
    transport.close()
    assert code == 200
    assert {decode_op(r).scope for r in unpack(body, 1 << 26)["ops"]} == {"b", "district"}
    for node in nodes.values():
        node.close()
    district.close()


def test_an_oversized_body_is_refused_with_413_over_http(world: dict[str, object]) -> None:
    transport = HttpTransport(str(world["url"]))
    status, body = transport.request("POST", "/v1/sync", b"\0" * 300_000, {"Content-Type": "application/x-msgpack"})
    transport.close()
    assert status == 413 and unpack(body, 1 << 20)["error"] == "too_large"


def test_unauthenticated_sync_over_http_is_401_and_health_and_metrics_answer(world: dict[str, object]) -> None:
    transport = HttpTransport(str(world["url"]))
    status, body = transport.request("POST", "/v1/sync", pack({"cursor": 0, "push": []}), {})
    assert (status, unpack(body, 1 << 20)["error"]) == (401, "auth_header")
    assert transport.request("GET", "/healthz", b"", {}) == (200, b"ok\n")
    status, text = transport.request("GET", "/metrics", b"", {})
    transport.close()
    assert status == 200 and b"linli_ops_accepted_total" in text and b'status="401"' in text


def test_the_daemon_syncs_and_stops_cleanly_on_sigterm(world: dict[str, object]) -> None:
    root, data, url = Path(str(world["root"])), Path(str(world["data"])), str(world["url"])
    node = Node.init(root / "daemon", "c")
    transport = HttpTransport(url)
    enroll(node, transport, url, new_token(data, "c"))
    transport.close()
    node.add_household("c-1")
    node.close()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "edge.cli", "run", "--data", str(root / "daemon"), "--interval", "0.2", "--json"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with Node.open(root / "daemon") as probe:
                if probe.status()["last_sync"] and probe.status()["pending"] == 0:
                    break
            time.sleep(0.1)
        else:
            pytest.fail("the daemon did not sync within 20 s")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err.decode()
    summary = json.loads(out)
    assert summary["syncs"] >= 1 and summary["mode"] == "normal" and summary["pending"] == 0
    assert b"stopping" in err
