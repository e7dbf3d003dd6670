"""Enrolment: one-time tokens, proof of possession, what the node keeps, and the server CLI."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from crdt.keys import DeviceKey, device_id
from edge.errors import Duplicate
from edge.node import Node
from edge.sync import ENROLL_PATH, ServerRefused, auth_header, enroll, pack
from sync_server.cli import main as server_main
from sync_server.core import HttpRequest, InProcessTransport, SyncServer

from .helpers import Clock, answer, token


def enrol_request(key: DeviceKey, tok: str, *, sign_with: DeviceKey | None = None) -> HttpRequest:
    body = pack({"token": tok, "pubkey": key.public_bytes, "name": "lobby", "community": "a"})
    signer = sign_with or key
    header = auth_header(signer, "POST", ENROLL_PATH, body, 1_750_000_000_000)
    return HttpRequest("POST", ENROLL_PATH, "", {"authorization": header}, body)


def test_enrolment_writes_a_device_op_and_the_node_pins_the_district(
    district: SyncServer, transport: InProcessTransport, tmp_path: Path, clock: Clock
) -> None:
    node = Node.init(tmp_path / "k", "a", wall=clock)
    got = enroll(node, transport, "http://district.test:8470", token(district, "a"), name="Lobby 1")
    pub = district.node.store.ident.key.public_bytes
    assert got["district_pubkey"] == base64.b64encode(pub).decode()
    assert node.store.get("district_pubkey") == pub.hex()
    assert node.store.get("district_dev") == device_id(pub) == district.node.dev
    assert node.store.trusted[district.node.dev] == pub
    marker = json.loads((tmp_path / "k" / "enrollment.json").read_text())
    assert marker == {
        "community": "a",
        "device": node.dev,
        "district": "West",
        "role": "kiosk",
        "scopes": ["a", "district"],
        "server_url": "http://district.test:8470",
    }
    row = district.node.conn.execute(
        "SELECT community, role, name, pubkey FROM devices WHERE dev=?", (node.dev,)
    ).fetchone()
    assert row == ("a", "kiosk", "Lobby 1", node.store.ident.key.public_bytes)
    with pytest.raises(Duplicate):
        enroll(node, transport, "http://district.test:8470", token(district, "a"))
    node.close()


def test_a_token_for_another_community_is_refused_and_stays_usable(
    district: SyncServer, transport: InProcessTransport, tmp_path: Path, clock: Clock
) -> None:
    tok = token(district, "a")
    wrong = Node.init(tmp_path / "b", "b", wall=clock)
    with pytest.raises(ServerRefused) as exc:
        enroll(wrong, transport, "http://d", tok)
    assert (exc.value.status, exc.value.code) == (403, "community_mismatch")
    assert "'a'" in str(exc.value) and "initialised for community 'b'" in str(exc.value)
    assert wrong.store.get("server_url") is None
    right = Node.init(tmp_path / "a", "a", wall=clock)
    assert enroll(right, transport, "http://d", tok)["community"] == "a"
    wrong.close()
    right.close()


def test_enrolment_needs_proof_of_possession_of_the_new_key(district: SyncServer) -> None:
    key, impostor = DeviceKey.generate(), DeviceKey.generate()
    resp = district.handle(enrol_request(key, token(district, "a"), sign_with=impostor))
    assert (resp.status, answer(resp)["error"]) == (401, "signature")
    assert district.node.conn.execute("SELECT COUNT(*) FROM devices").fetchone()[0] == 0


def test_a_retried_enrolment_with_the_same_key_gets_the_same_answer(district: SyncServer) -> None:
    key = DeviceKey.generate()
    tok = token(district, "a")
    first, second = district.handle(enrol_request(key, tok)), district.handle(enrol_request(key, tok))
    assert first.status == second.status == 200
    assert answer(first)["device"] == answer(second)["device"] == key.device_id
    n = district.node.conn.execute("SELECT COUNT(*) FROM ops WHERE type='device.enroll'").fetchone()[0]
    assert n == 1


def test_only_a_hash_of_the_token_is_stored(district: SyncServer) -> None:
    tok = token(district, "a")
    rows = district.node.conn.execute("SELECT hash FROM tokens").fetchall()
    assert len(rows) == 1 and tok.encode() not in bytes(rows[0][0]) and len(bytes(rows[0][0])) == 32


def test_server_cli_init_key_token_devices_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(tmp_path / "srv")
    assert server_main(["init", "--data", data, "--district", "East"]) == 0
    assert server_main(["init", "--data", data, "--district", "East"]) == 1
    capsys.readouterr()
    assert server_main(["key", "--data", data]) == 0
    key = base64.b64decode(capsys.readouterr().out.strip())
    assert len(key) == 32
    assert server_main(["token", "--data", data, "--community", "a", "--role", "kiosk", "--ttl", "2h"]) == 0
    tok = capsys.readouterr().out.strip()
    assert len(tok) >= 30
    assert server_main(["token", "--data", data, "--community", "a", "--role", "boss"]) == 2
    assert server_main(["token", "--data", data, "--community", "a", "--role", "kiosk", "--ttl", "1y"]) == 2
    assert server_main(["token", "--data", data, "--community", "Bad Id", "--role", "kiosk"]) == 2
    server = SyncServer(data)
    node = Node.init(tmp_path / "k", "a")
    enroll(node, InProcessTransport(server), "http://d", tok)
    server.close()
    capsys.readouterr()
    assert server_main(["devices", "--data", data, "--json"]) == 0
    devices = json.loads(capsys.readouterr().out)
    assert [(d["device"], d["community"], d["role"]) for d in devices] == [(node.dev, "a", "kiosk")]
    assert server_main(["revoke", node.dev, "--data", data, "--json", "--reason", "lost"]) == 0
    assert json.loads(capsys.readouterr().out)["revoked_from_seq"] == 1
    assert server_main(["revoke", "nosuchdevice", "--data", data]) == 1
    assert server_main(["key", "--data", str(tmp_path / "nothing")]) == 2
    node.close()
