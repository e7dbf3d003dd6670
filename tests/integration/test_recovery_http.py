"""The recovery recipes of ``deploy/README.md`` (section 4, cases A to D), run as an operator runs them:
a real ``linli-server serve`` on 127.0.0.1, the ``linli-edge`` and ``linli-server`` command lines, and
backups copied back over a data folder while its processes are stopped."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.cli import main as edge_main
from edge.node import Node
from sync_server.cli import main as server_main

from . import live
from .live import LiveServer


class Lab:
    """A district served over HTTP, and the commands an operator types."""

    def __init__(self, root: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.root = root
        self.capsys = capsys
        self.data = root / "server"
        assert server_main(["init", "--data", str(self.data), "--district", "West"]) == 0
        self.server: LiveServer | None = LiveServer(self.data)
        self.port = self.server.port

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    def edge(self, *argv: str, code: int = 0) -> Any:
        self.capsys.readouterr()
        got = edge_main([*argv, "--json"])
        out = self.capsys.readouterr()
        assert got == code, out.err
        return json.loads(out.out) if code == 0 and out.out.strip() else out.err

    def linli_server(self, *argv: str, code: int = 0) -> Any:
        self.capsys.readouterr()
        got = server_main([*argv, "--data", str(self.data), "--json"])
        out = self.capsys.readouterr()
        assert got == code, out.err
        return json.loads(out.out) if code == 0 and out.out.strip() else out.err

    def kiosk(self, name: str, community: str = "a") -> str:
        data = str(self.root / name)
        self.edge("init", "--data", data, "--community", community)
        token = self.linli_server("token", "--community", community, "--role", "kiosk")["token"]
        self.edge("enroll", "--data", data, "--server", self.url, "--token", token)
        return data

    def report(self, kiosk: str, text: str) -> str:
        return str(
            self.edge("ticket", "report", "--data", kiosk, "--unit", "1-101", "--category", "water", "--text", text)[
                "id"
            ]
        )

    def district_tickets(self) -> set[str]:
        with Node.open(self.data) as district:
            return {t["id"] for t in district.tickets(scope="a")}

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def start(self) -> None:
        """Start the server again on the same port (the kiosks know its URL)."""
        chosen, live.free_port = live.free_port, lambda: self.port  # type: ignore[assignment]
        try:
            self.server = LiveServer(self.data)
        finally:
            live.free_port = chosen  # type: ignore[assignment]


@pytest.fixture
def lab(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Lab]:
    lab = Lab(tmp_path, capsys)
    try:
        yield lab
    finally:
        lab.stop()


def nightly_backup(data: str | Path, dest: Path) -> Path:
    """What the backup timer does: SQLite's online backup of the live store."""
    src = sqlite3.connect(Path(data) / "edge.sqlite3")
    out = sqlite3.connect(dest)
    try:
        src.backup(out)
    finally:
        src.close()
        out.close()
    return dest


def install_backup(copy: Path, data: str | Path) -> None:
    """``install -m 0600 BACKUP edge.sqlite3`` and ``rm -f edge.sqlite3-wal edge.sqlite3-shm``."""
    target = Path(data) / "edge.sqlite3"
    target.write_bytes(copy.read_bytes())
    target.chmod(0o600)
    for suffix in ("-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)


def test_recipe_a_a_kiosk_restored_from_a_backup_loses_no_report(lab: Lab, tmp_path: Path) -> None:
    k = lab.kiosk("k1")
    lab.report(k, "tap drips")
    lab.edge("sync", "--data", k)
    copy = nightly_backup(k, tmp_path / "edge-nightly.sqlite3")
    after_backup = {lab.report(k, f"pipe {i}") for i in range(3)}
    lab.edge("sync", "--data", k)
    # The card's store is damaged: the operator puts last night's backup back, and residents report again
    # before the kiosk next reaches the district.
    install_backup(copy, k)
    since_restore = {lab.report(k, f"door {i}") for i in range(2)}
    synced = lab.edge("sync", "--data", k)
    assert synced["caught_up"] and synced["pending"] == 0
    status = lab.edge("status", "--data", k)
    assert status["pending"] == 0 and not status["last_sync_error"]
    everything = after_backup | since_restore
    assert everything <= lab.district_tickets()
    mine = {t["id"] for t in lab.edge("ticket", "list", "--data", k)}
    assert everything <= mine
    devices = lab.linli_server("devices")
    assert all(not d["quarantined"] for d in devices)


def test_recipe_b_a_district_restored_from_a_backup_converges_with_its_kiosks(lab: Lab, tmp_path: Path) -> None:
    k1, k2 = lab.kiosk("k1"), lab.kiosk("k2")
    key = lab.linli_server("key")
    witness = str(tmp_path / "witness")
    lab.report(k1, "tap drips")
    for k in (k1, k2):
        lab.edge("sync", "--data", k)
    lab.edge("audit", "witness", "--data", witness, "--server", lab.url, "--district-key", key)
    lab.stop()
    copy = nightly_backup(lab.data, tmp_path / "server-nightly.sqlite3")
    lab.start()
    lost = {lab.report(k1, "pipe burst"), lab.report(k2, "lock broken")}
    for k in (k1, k2, k1):
        lab.edge("sync", "--data", k)
    lab.edge("audit", "witness", "--data", witness, "--server", lab.url)
    # The district's disk dies; the operator restores last night's backup and marks the restore.
    lab.stop()
    install_backup(copy, lab.data)
    lab.linli_server("restored")
    lab.start()
    assert not lost & lab.district_tickets()
    fresh = lab.report(k2, "lift stuck")
    for k in (k2, k1, k2, k1):
        assert lab.edge("sync", "--data", k)["caught_up"]
    assert lost | {fresh} <= lab.district_tickets()
    assert fresh in {t["id"] for t in lab.edge("ticket", "list", "--data", k1)}
    for k in (k1, k2):
        status = lab.edge("status", "--data", k)
        assert status["audit_alarm"] is None and status["pending"] == 0
    digests = {lab.edge("digest", "--data", k, "--scope", "a")["digest"] for k in (k1, k2)}
    assert len(digests) == 1
    # The committee's witness raises one alarm, and the committee clears it after checking.
    err = lab.edge("audit", "witness", "--data", witness, "--server", lab.url, code=1)
    assert "rollback" in err or "consistency" in err
    lab.edge("audit", "witness", "--data", witness, "--server", lab.url, code=1)  # the same alarm stands
    state = json.loads((Path(witness) / "witness.json").read_text())
    assert state["alarm"] is not None and not state.get("cleared")
    assert lab.edge("audit", "witness", "--data", witness, "--server", lab.url, "--clear-alarm")["size"] > 0
    lab.edge("audit", "witness", "--data", witness, "--server", lab.url)
    assert len(json.loads((Path(witness) / "witness.json").read_text())["cleared"]) == 1


def test_recipe_c_a_dead_kiosk_is_replaced_and_its_rights_handed_on(lab: Lab) -> None:
    old = lab.kiosk("old")
    lab.edge("item", "add", "FUSE", "--name-zh", "保险丝", "--name-en", "Fuse", "--data", old)
    lab.edge("stock", "receive", "FUSE", "10", "--data", old)
    lab.edge("household", "add", "1-101", "--data", old)
    lab.edge("points", "award", "1-101", "30", "--reason", "cleanup", "--data", old)
    lab.edge("sync", "--data", old)
    # The old kiosk is dead. A new one is enrolled; the old one is revoked with its rights handed on.
    new = lab.kiosk("new")
    old_dev = lab.edge("status", "--data", old)["device"]
    new_dev = lab.edge("status", "--data", new)["device"]
    lab.linli_server("revoke", old_dev, "--rights-to", "typo", code=1)
    moved = lab.linli_server("revoke", old_dev, "--rights-to", new_dev, "--reason", "card dead")
    assert {(m["kind"], m["n"]) for m in moved["rights_moved"]} == {("stock", 10), ("points", 30)}
    lab.edge("sync", "--data", new)
    assert lab.edge("stock", "issue", "FUSE", "10", "--data", new)["qty"] == 0
    assert lab.edge("points", "redeem", "1-101", "30", "--reward", "rice", "--data", new)["balance"] == 0
    lab.edge("sync", "--data", new)


def test_recipe_d_a_compromised_kiosk_is_revoked_and_its_later_ops_refused(lab: Lab) -> None:
    stolen, other = lab.kiosk("stolen"), lab.kiosk("other")
    lab.edge("household", "add", "1-101", "--data", stolen)
    lab.edge("points", "award", "1-101", "20", "--reason", "patrol", "--data", stolen)
    lab.edge("sync", "--data", stolen)
    stolen_dev = lab.edge("status", "--data", stolen)["device"]
    other_dev = lab.edge("status", "--data", other)["device"]
    lab.linli_server("revoke", stolen_dev, "--rights-to", other_dev, "--reason", "stolen")
    forged = lab.report(stolen, "forged report")
    err = lab.edge("sync", "--data", stolen, code=1)
    assert "revoked" in err
    lab.edge("sync", "--data", other)
    assert forged not in lab.district_tickets()
    assert lab.edge("points", "redeem", "1-101", "20", "--reward", "rice", "--data", other)["balance"] == 0
