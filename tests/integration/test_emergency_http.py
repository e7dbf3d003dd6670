"""Emergency mode over real HTTP: the district declares and ends an emergency with ``linli-edge mode``
on its own data folder while ``linli-server serve`` runs, and a kiosk enrolled over HTTP follows it."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

from edge import Node
from edge.cli import main
from sync_server.cli import main as server_main
from sync_server.enroll import issue_token

from .live import LiveServer


def _cli(data: Path, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([*argv, "--data", str(data)])
    return code, out.getvalue(), err.getvalue()


def test_over_real_http_the_district_declares_and_ends_an_emergency_with_linli_edge_mode(tmp_path: Path) -> None:
    server_data, kiosk = tmp_path / "district", tmp_path / "kiosk"
    assert server_main(["init", "--data", str(server_data), "--district", "West"]) == 0
    server = LiveServer(server_data)
    try:
        with Node.open(server_data) as district:
            ticket = issue_token(district.conn, "a", "kiosk", 3_600_000, district.now_ms())
        assert _cli(kiosk, "init", "--community", "a")[0] == 0
        assert _cli(kiosk, "enroll", "--server", server.url, "--token", ticket)[0] == 0
        code, out, err = _cli(
            server_data, "mode", "emergency", "--reason", "typhoon", "--actor", "district:ops", "--json"
        )
        assert code == 0, err
        assert json.loads(out)["declarations"][0]["scope"] == "district"
        code, out, err = _cli(kiosk, "sync", "--json")
        assert code == 0 and json.loads(out)["mode"] == "emergency", err
        code, _, err = _cli(kiosk, "mode", "normal", "--actor", "staff:1")
        assert code == 1 and "declared by the district" in err
        assert _cli(server_data, "mode", "normal", "--actor", "district:ops")[0] == 0
        code, out, err = _cli(kiosk, "sync", "--json")
        assert code == 0 and json.loads(out)["mode"] == "normal", err
        status = json.loads(_cli(kiosk, "status", "--json")[1])
        shown = [(d["scope"], d["mode"], d["actor"]) for d in status["mode_declarations"]]
        assert status["mode"] == "normal" and shown == [("district", "normal", "district:ops")]
    finally:
        server.stop()
