"""The signed audit over real HTTP (``docs/audit.md``): ``linli-server serve`` (uvicorn) on 127.0.0.1.

Honest kiosks verify every sync and cosign; the public ``/v1/audit/*`` endpoints answer without a request
signature; a committee witness cosigns; an export verifies offline and one changed byte is named. A district
database tampered between syncs (an op rewritten, the log truncated), a fork (two servers on copies of one
data directory) and a server restarted with another key each raise a named alarm on the kiosk, which then
applies nothing and keeps refusing until staff clear the alarm.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import sqlite3
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest

from crdt.keys import DeviceKey
from crdt.merkle import leaf_hash, verify_inclusion
from crdt.note import Verifier, open_checkpoint
from edge.audit.client import find_fork, trusted_checkpoint
from edge.audit.export import op_hash_of
from edge.cli import main as edge_main
from edge.errors import AuditAlarm
from edge.node import DB_FILE, KEY_FILE, Node
from edge.sync import HttpTransport, ServerRefused, enroll, sync_once
from sync_server.cli import main as server_main
from sync_server.core import InProcessTransport
from sync_server.enroll import issue_token
from tests.sync_server.helpers import make_district

from .live import LiveServer

pytestmark = pytest.mark.slow

ORIGIN = "linli.district/West"


# --- helpers ------------------------------------------------------------------------------------------
def new_token(data: Path, community: str, role: str = "kiosk") -> str:
    with Node.open(data) as district:
        return issue_token(district.conn, community, role, 3_600_000, district.now_ms())


def new_token_in(district: Any, community: str) -> str:
    return issue_token(district.node.conn, community, "kiosk", 3_600_000, district.wall())


def kiosk_over_http(data: Path, url: str, path: Path, community: str) -> Node:
    node = Node.init(path, community)
    transport = HttpTransport(url)
    enroll(node, transport, url, new_token(data, community))
    transport.close()
    return node


def sync(node: Node, url: str) -> Any:
    transport = HttpTransport(url)
    try:
        return sync_once(node, transport)
    finally:
        transport.close()


def get(url: str) -> tuple[int, bytes]:
    """A public GET, without any Authorization header."""
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


def district_key(data: Path, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert server_main(["key", "--data", str(data)]) == 0
    return capsys.readouterr().out.strip()


def cli(capsys: pytest.CaptureFixture[str], main: Any, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def tamper(data: Path, *statements: tuple[str, tuple[Any, ...]]) -> None:
    """Change the district database behind the server's back, in one transaction."""
    conn = sqlite3.connect(data / DB_FILE, timeout=30, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        for sql, args in statements:
            conn.execute(sql, args)
        conn.execute("COMMIT")
    finally:
        conn.close()


REBUILD_TREE = (
    ("DELETE FROM audit_nodes", ()),
    ("UPDATE audit_tree SET size = 0", ()),
    ("DELETE FROM audit_cosignatures", ()),
    ("DELETE FROM audit_checkpoints", ()),
)
"""What a district rewriting its history does to hide it: drop its tree so the server re-derives and re-signs."""


def assert_alarm(node: Node, code: str, cursor: int, ops: int) -> dict[str, Any]:
    """The alarm is set with ``code``; nothing of the answer was applied; the next sync refuses to start."""
    alarm = node.status()["audit_alarm"]
    assert alarm is not None and alarm["code"] == code, alarm
    assert node.store.get("cursor") == cursor and node.store.op_count() == ops
    with pytest.raises(AuditAlarm, match=f"audit alarm since .*{re.escape(alarm['reason'][:30])}"):
        sync_once(node, InProcessTransport(None))  # type: ignore[arg-type]  # refused before any request
    return dict(alarm)


# --- an honest district -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def honest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("audit-http")
    data = root / "district"
    assert server_main(["init", "--data", str(data), "--district", "West"]) == 0
    server = LiveServer(data)
    a = kiosk_over_http(data, server.url, root / "a1", "a")
    b = kiosk_over_http(data, server.url, root / "b1", "b")
    try:
        a.add_household("1-101")
        a.award("1-101", 30, "stairwell cleaning")
        b.add_household("9-901")
        b.award("9-901", 5, "helped a neighbour")
        for node in (a, b, a, b, a):  # later rounds carry each kiosk's cosignature of the latest checkpoint
            sync(node, server.url)
        yield {"root": root, "data": data, "url": server.url, "a": a, "b": b}
    finally:
        a.close()
        b.close()
        server.stop()


def test_honest_kiosks_verify_each_sync_and_the_public_checkpoint_carries_their_cosignatures(
    honest: dict[str, Any],
) -> None:
    url, a, b = honest["url"], honest["a"], honest["b"]
    status, text = get(url + "/v1/audit/checkpoint")
    assert status == 200
    note = text.decode()
    district = Verifier(ORIGIN, bytes.fromhex(a.store.get("district_pubkey")))
    latest = open_checkpoint(note, district, ORIGIN)
    assert f"— linli.kiosk/{a.dev} " in note and f"— linli.kiosk/{b.dev} " in note
    for node in (a, b):
        assert node.status()["audit_alarm"] is None
        trusted = trusted_checkpoint(node.store)
        assert trusted is not None and 0 < trusted.size <= latest.size
    # Inclusion of a kiosk's op and consistency between two sizes, from the public endpoints.
    idx = int(Node.open(honest["data"]).conn.execute("SELECT MIN(idx) FROM ops WHERE dev=?", (a.dev,)).fetchone()[0])
    status, raw = get(f"{url}/v1/audit/inclusion?index={idx - 1}&size={latest.size}")
    proof = msgpack.unpackb(raw)
    own = a.store.stream_ops(a.dev, "a")[0]
    assert status == 200 and proof["leaf"] == leaf_hash(op_hash_of(own))
    verify_inclusion(proof["leaf"], idx - 1, latest.size, proof["proof"], latest.root)
    status, raw = get(f"{url}/v1/audit/consistency?old=1&new={latest.size}")
    assert status == 200 and msgpack.unpackb(raw)["new"] == latest.size
    assert get(f"{url}/v1/audit/inclusion?index={latest.size}&size={latest.size}")[0] == 400
    assert get(f"{url}/v1/audit/checkpoint?size={latest.size + 1000}")[0] == 404


def test_a_committee_witness_cosigns_over_http_and_the_server_serves_its_cosignature(
    honest: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    data, url, root = honest["data"], honest["url"], honest["root"]
    witness = str(root / "witness")
    key = district_key(data, capsys)
    code, out, err = cli(
        capsys, edge_main, "audit", "witness", "--server", url, "--data", witness, "--district-key", key, "--json"
    )
    first = json.loads(out)
    assert code == 0 and first["posted"] is False and first["post_status"] == 403  # not registered yet
    code, out, _ = cli(capsys, server_main, "witness", "add", first["vkey"], "--data", str(data), "--json")
    assert code == 0 and json.loads(out)["witness"] == first["witness"]
    code, out, err = cli(capsys, edge_main, "audit", "witness", "--server", url, "--data", witness, "--json")
    second = json.loads(out)
    assert code == 0 and second["posted"] is True, err
    status, text = get(f"{url}/v1/audit/checkpoint?size={second['size']}")
    assert status == 200 and second["cosignature"] in text.decode()
    code, out, _ = cli(capsys, server_main, "witness", "list", "--data", str(data), "--json")
    assert [(w["witness"], w["cosigned"]) for w in json.loads(out)] == [(first["witness"], 1)]


def test_an_export_verifies_with_the_committee_summary_and_one_changed_byte_is_named(
    honest: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    data, url, root, a = honest["data"], honest["url"], honest["root"], honest["a"]
    key = district_key(data, capsys)
    witness = str(root / "witness-2")
    cli(capsys, edge_main, "audit", "witness", "--server", url, "--data", witness, "--district-key", key, "--json")
    name = json.loads((Path(witness) / "witness.json").read_text())["name"]
    shown = json.loads(cli(capsys, edge_main, "audit", "witness", "--server", url, "--data", witness, "--json")[1])
    assert cli(capsys, server_main, "witness", "add", shown["vkey"], "--data", str(data))[0] == 0
    shown = json.loads(cli(capsys, edge_main, "audit", "witness", "--server", url, "--data", witness, "--json")[1])
    assert shown["posted"] is True and shown["witness"] == name
    export = root / "audit.export"
    code, out, err = cli(capsys, server_main, "audit", "export", str(export), "--data", str(data), "--json")
    info = json.loads(out)
    assert code == 0 and info["ops"] == info["tree_size"] > 0, err
    code, out, err = cli(
        capsys, edge_main, "audit", "verify", str(export), "--district-key", key, "--witness", shown["vkey"]
    )
    assert code == 0, err
    assert "VERIFIED 验证通过" in out and "Points 积分" in out and "Stock 库存" in out
    assert f"({name})" in out and f"    {shown['size']:,}: 1 / " in out  # the latest checkpoint: this witness
    trusted = root / "a1-checkpoint.txt"
    trusted.write_text(str(a.store.get("audit_checkpoint")), "utf-8")
    code, out, err = cli(
        capsys, edge_main, "audit", "verify", str(export), "--district-key", key, "--checkpoint", str(trusted), "--json"
    )
    report = json.loads(out)
    assert code == 0 and report["checkpoints"][-1]["kiosks"], err  # a kiosk's checkpoint agrees; kiosks cosigned
    # One byte of a kiosk's op changed in the file: named, exit 1.
    raw = bytearray(export.read_bytes())
    at = raw.find(b"stairwell cleaning")
    assert at > 0
    raw[at] ^= 0x20
    bad = root / "audit-tampered.export"
    bad.write_bytes(bytes(raw))
    code, out, err = cli(capsys, edge_main, "audit", "verify", str(bad), "--district-key", key)
    assert code == 1 and "FAILED 验证未通过" in out
    assert "[signature] op at log position" in err and f"{a.dev}/a#" in err


# --- a district that lies ------------------------------------------------------------------------------
def test_an_op_rewritten_in_the_district_database_raises_a_consistency_alarm_until_staff_clear_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "district"
    assert server_main(["init", "--data", str(data), "--district", "West"]) == 0
    server = LiveServer(data)
    try:
        a = kiosk_over_http(data, server.url, tmp_path / "a1", "a")
        b = kiosk_over_http(data, server.url, tmp_path / "a2", "a")
        b.add_household("2-202")
        b.award("2-202", 50, "volunteering")
        sync(b, server.url)
        sync(a, server.url)
        cursor, ops = a.store.get("cursor"), a.store.op_count()
        # The district rewrites b's award (its stored bytes and hash) and re-derives and re-signs its tree.
        conn = sqlite3.connect(data / DB_FILE)
        idx, raw = conn.execute("SELECT idx, raw FROM ops WHERE dev=? ORDER BY idx DESC LIMIT 1", (b.dev,)).fetchone()
        conn.close()
        forged = bytearray(raw)
        forged[-1] ^= 1
        tamper(data, ("UPDATE ops SET raw=?, hash=? WHERE idx=?", (bytes(forged), op_hash_of(bytes(forged)), idx)))
        tamper(data, *REBUILD_TREE)
        kiosk_over_http(data, server.url, tmp_path / "a3", "a").close()  # something new for a to pull
        with pytest.raises(AuditAlarm, match=r"consistency.*does not extend the log of size"):
            sync(a, server.url)
        alarm = assert_alarm(a, "consistency", cursor, ops)
        assert alarm["server"] == server.url and alarm["trusted"] and "linli.district/West" in alarm["checkpoint"]
        # The real commands show it and refuse to sync; staff clear it.
        a.close()
        adir = str(tmp_path / "a1")
        code, out, err = cli(capsys, edge_main, "status", "--data", adir, "--json")
        assert code == 0 and json.loads(out)["audit_alarm"]["code"] == "consistency"
        code, out, err = cli(capsys, edge_main, "sync", "--data", adir, "--server", server.url)
        assert code == 1 and "audit alarm" in err
        code, out, err = cli(
            capsys, edge_main, "audit", "clear-alarm", "--data", adir, "--actor", "s1", "--forget-checkpoint", "--json"
        )
        assert code == 0 and json.loads(out)["cleared"] is True
        code, out, err = cli(capsys, edge_main, "sync", "--data", adir, "--server", server.url, "--json")
        assert code == 0, err
    finally:
        server.stop()


def test_a_truncated_log_is_refused_by_the_server_and_a_rewound_tree_raises_a_rollback_alarm(tmp_path: Path) -> None:
    data = tmp_path / "district"
    assert server_main(["init", "--data", str(data), "--district", "West"]) == 0
    server = LiveServer(data)
    try:
        a = kiosk_over_http(data, server.url, tmp_path / "a1", "a")
        b = kiosk_over_http(data, server.url, tmp_path / "a2", "a")
        b.add_household("2-202")
        b.award("2-202", 50, "volunteering")
        sync(b, server.url)
        sync(a, server.url)
        cursor, ops = a.store.get("cursor"), a.store.op_count()
        top = int(cursor)
        # Ops deleted behind the server's back: it refuses to go on with a damaged log.
        tamper(data, ("DELETE FROM ops WHERE idx > ?", (top - 2,)))
        with pytest.raises(ServerRefused, match="ops were deleted"):
            sync(a, server.url)
        assert a.status()["audit_alarm"] is None
        # The district also rewinds its tree and signs the shorter log: the kiosk names the rollback.
        tamper(data, *REBUILD_TREE)
        with pytest.raises(AuditAlarm, match=f"rollback.*fewer than the {top} this node already verified"):
            sync(a, server.url)
        assert_alarm(a, "rollback", cursor, ops)
        a.close()
        b.close()
    finally:
        server.stop()


def test_a_fork_between_two_servers_on_copies_of_one_data_directory_is_detected_and_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, copy = tmp_path / "district", tmp_path / "district-copy"
    district = make_district(data)
    a = Node.init(tmp_path / "a1", "a")
    b = Node.init(tmp_path / "a2", "a")
    for node in (a, b):
        enroll(node, InProcessTransport(district), "http://district.test", new_token_in(district, "a"))
    for node in (a, b):
        sync_once(node, InProcessTransport(district))
    key = base64.b64encode(district.node.store.ident.key.public_bytes).decode()
    district.close()
    shutil.copytree(data, copy)
    one, two = LiveServer(data), LiveServer(copy)
    try:
        a.add_household("1-101")
        b.add_household("1-102")
        sync(a, one.url)  # each server extends the common history its own way, one op each
        sync(b, two.url)
        ta, tb = trusted_checkpoint(a.store), trusted_checkpoint(b.store)
        assert ta is not None and tb is not None and ta.size == tb.size and ta.root != tb.root
        # Two kiosks' checkpoints side by side prove it.
        verifier = Verifier(ORIGIN, base64.b64decode(key))
        fork = find_fork(str(a.store.get("audit_checkpoint")), str(b.store.get("audit_checkpoint")), verifier)
        assert fork is not None and f"two different trees of size {ta.size}" in fork
        # A committee witness that sees both servers names it.
        witness = str(tmp_path / "witness")
        code, _, err = cli(
            capsys, edge_main, "audit", "witness", "--server", one.url, "--data", witness, "--district-key", key
        )
        assert code == 0, err
        code, _, err = cli(capsys, edge_main, "audit", "witness", "--server", two.url, "--data", witness)
        assert code == 1 and f"fork: the district signed two different trees of size {ta.size}" in err
        # A kiosk that reaches the other server names it and applies nothing of it.
        cursor, ops = a.store.get("cursor"), a.store.op_count()
        with pytest.raises(AuditAlarm, match=f"consistency.*log of size {ta.size}"):
            sync(a, two.url)
        assert assert_alarm(a, "consistency", cursor, ops)["server"] == two.url
        # An export of one server checked against a checkpoint the other signed: fork, exit 1.
        export, other = tmp_path / "one.export", tmp_path / "b-checkpoint.txt"
        other.write_text(str(b.store.get("audit_checkpoint")), "utf-8")
        assert server_main(["audit", "export", str(export), "--data", str(data)]) == 0
        code, _, err = cli(
            capsys, edge_main, "audit", "verify", str(export), "--district-key", key, "--checkpoint", str(other)
        )
        assert code == 1 and "[fork]" in err
    finally:
        one.stop()
        two.stop()
        a.close()
        b.close()


def test_a_server_restarted_with_another_key_raises_a_signature_alarm(tmp_path: Path) -> None:
    data = tmp_path / "district"
    district = make_district(data)
    a = Node.init(tmp_path / "a1", "a")
    enroll(a, InProcessTransport(district), "http://district.test", new_token_in(district, "a"))
    sync_once(a, InProcessTransport(district))
    pinned = base64.b64encode(district.node.store.ident.key.public_bytes).decode()
    district.close()
    (data / KEY_FILE).unlink()
    DeviceKey.generate().save(data / KEY_FILE)
    server = LiveServer(data)
    try:
        a.add_household("1-101")
        cursor, ops = a.store.get("cursor"), a.store.op_count()
        with pytest.raises(
            AuditAlarm, match=f"checkpoint_signature.*not signed by the pinned district key {re.escape(pinned)}"
        ):
            sync(a, server.url)
        assert_alarm(a, "checkpoint_signature", cursor, ops)
    finally:
        server.stop()
        a.close()
