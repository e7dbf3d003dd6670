"""Offline verification of an audit export: an honest history verifies with its figures; every tamper is named."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import sqlite3

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crdt.keys import DeviceKey
from crdt.note import Checkpoint, Verifier, parse_note, sign_checkpoint
from crdt.op import ZERO_HASH, sign_op
from edge import Node
from edge.audit.client import witness_vkey
from edge.audit.export import records, write_export
from edge.audit.summary import format_report
from edge.audit.verify import verify_export
from edge.errors import InputError, StoreError
from tests.edge.audit_sim import ORIGIN, Clock, District, audited_sync, setup


@pytest.fixture(scope="module")
def honest(tmp_path_factory):
    """A district with two kiosks: points, stock, a transfer and two tickets, all synced with audit, exported."""
    root = tmp_path_factory.mktemp("honest")
    clock = Clock()
    d, k = setup(root, "ab", wall=clock)
    a, b = k["a"], k["b"]
    a.award("1-101", 30, "stairwell cleaning")
    a.award("1-102", 10, "garden")
    a.redeem("1-101", 5, "haircut")
    a.receive("WATER", 50)
    a.issue("WATER", 3, household="1-101")
    b.award("1-101", 7, "lift watch")
    t = b.request_transfer("WATER", 20, "a")
    for n in (a, b, a):
        audited_sync(n, d)
    a.approve_transfer(t["id"])
    a.ship_transfer(t["id"])
    audited_sync(a, d)
    audited_sync(b, d)
    b.arrive_transfer(t["id"])
    p2 = a.report("1-101", "water", "burst pipe", urgency="P2")
    p1 = a.report("1-102", "gas", "gas smell", urgency="P1")
    clock.advance(10)
    a.advance(p2["code"], "triaged")
    clock.advance(10)
    a.advance(p1["code"], "triaged")
    clock.advance(40)
    a.advance(p2["code"], "on_site")
    clock.advance(120)
    a.advance(p2["code"], "resolved")
    for n in (a, b, a, b):
        audited_sync(n, d)
    path = root / "district.export"
    d.log.export(path)
    info = {
        "key": d.key,
        "digest": d.node.digest(),
        "kiosk_a": witness_vkey(a.store),
        "kiosk_a_checkpoint": a.store.get("audit_checkpoint"),
        "size": d.log.size,
        "ops": d.node.conn.execute("SELECT idx, dev, scope, seq, raw FROM ops ORDER BY idx").fetchall(),
    }
    yield path, info, (d, a, b)
    for n in (d, a, b):
        n.close()


def test_an_honest_export_verifies_and_rebuilds_the_districts_state(honest):
    path, info, _ = honest
    report = verify_export(path, info["key"])
    assert report.ok, [f.line() for f in report.failures]
    assert report.ops == info["size"] and report.origin == ORIGIN
    assert report.digest == info["digest"]
    assert set(report.digests) == {"a", "b", "district"}
    assert all(c.signed and c.root_ok for c in report.checkpoints)
    assert report.checkpoints[-1].size == info["size"]


def test_the_summary_gives_points_per_household_group_stock_movements_and_sla_per_urgency(honest):
    path, info, _ = honest
    s = verify_export(path, info["key"]).summary
    assert s["points"] == {
        "a": {
            "vulnerable": {"households": 1, "issued": 30, "redeemed": 5},
            "other": {"households": 1, "issued": 10, "redeemed": 0},
        },
        "b": {"vulnerable": {"households": 1, "issued": 7, "redeemed": 0}},
    }
    water_a, water_b = s["stock"]["a"]["WATER"], s["stock"]["b"]["WATER"]
    assert (water_a["received"], water_a["issued"], water_a["transferred_out"], water_a["balance"]) == (50, 3, 20, 27)
    assert (water_b["transferred_in"], water_b["received"], water_b["balance"]) == (20, 0, 20)
    p1, p2 = s["tickets"]["by_urgency"]["P1"], s["tickets"]["by_urgency"]["P2"]
    assert (p2["count"], p2["sla_attained"], p2["sla_total"]) == (1, 1, 1)
    assert (p1["count"], p1["sla_attained"], p1["sla_total"]) == (1, 0, 1)  # acknowledged after 20 min: missed
    assert p2["response"]["p50"] == 10 * 60_000


def test_the_printed_report_is_readable_in_chinese_and_english(honest):
    path, info, _ = honest
    text = format_report(verify_export(path, info["key"]))
    for label in ("VERIFIED 验证通过", "Points 积分", "vulnerable 弱势户", "Stock 库存", "瓶装水 Bottled water", "P2"):
        assert label in text


def test_cosignatures_count_as_independent_only_with_the_witness_key_given(honest):
    path, info, _ = honest
    plain = verify_export(path, info["key"])
    cosigned = [c for c in plain.checkpoints if c.kiosks]
    assert cosigned and all(not c.independent for c in plain.checkpoints)
    witnessed = verify_export(path, info["key"], witnesses=[info["kiosk_a"]])
    assert any(c.independent == [info["kiosk_a"].split("+")[0]] for c in witnessed.checkpoints)


def test_the_key_can_be_given_as_a_verifier_key_and_a_wrong_key_is_named(honest):
    path, info, _ = honest
    raw = base64.b64decode(info["key"])
    assert verify_export(path, Verifier(ORIGIN, raw).vkey()).ok
    other = base64.b64encode(DeviceKey.generate().public_bytes).decode()
    report = verify_export(path, other)
    assert not report.ok and report.failures[0].code == "district_key"
    assert f"not the key given {other}" in report.failures[0].detail
    wrong_name = verify_export(path, Verifier("linli.district/other", raw).vkey())
    assert wrong_name.failures[0].code == "district_key"
    with pytest.raises(InputError, match="district key"):
        verify_export(path, "nonsense")


def test_a_checkpoint_collected_from_a_kiosk_matches_the_export_and_one_from_another_history_is_a_fork(honest):
    path, info, (d, _, _) = honest
    assert verify_export(path, info["key"], checkpoints=[info["kiosk_a_checkpoint"]]).ok
    cp = Checkpoint.parse(parse_note(info["kiosk_a_checkpoint"]).body)
    forged = sign_checkpoint(Checkpoint(ORIGIN, cp.size, hashlib.sha256(b"x").digest()), d.signer, ORIGIN)
    longer = sign_checkpoint(Checkpoint(ORIGIN, info["size"] + 5, cp.root), d.signer, ORIGIN)
    report = verify_export(path, info["key"], checkpoints=[forged, longer])
    codes = [(f.code, f.where) for f in report.failures]
    assert ("fork", f"checkpoint given 1 (size {cp.size}, cosigned by nobody)") in codes
    assert any(c == "fork" and w.startswith("checkpoint given 2") for c, w in codes)


def test_expected_digests_are_compared_per_scope(honest):
    path, info, _ = honest
    assert verify_export(path, info["key"], digests={"all": info["digest"]}).ok
    report = verify_export(path, info["key"], digests={"a": "0" * 64})
    assert [f.code for f in report.failures] == ["digest"] and report.failures[0].where == "scope a"


def _clone(d, to):
    """A copy of the district's node (key and database) to tamper with, leaving the fixture intact."""
    to.mkdir()
    shutil.copy(d.node.data_dir / "device.key", to / "device.key")
    dst = sqlite3.connect(to / "edge.sqlite3")
    d.node.conn.backup(dst)
    dst.close()
    return District(Node.open(to))


def test_an_op_altered_in_the_server_database_is_named_by_position_and_stream(honest, tmp_path):
    path, info, (d, a, _) = honest
    idx, dev, scope, seq, raw = next(r for r in info["ops"] if r[1] == a.dev and r[3] == 3)
    body, sig = msgpack.unpackb(raw)
    assert b"stairwell" in body
    altered = msgpack.packb([body.replace(b"stairwell", b"stairwelL"), sig])
    copy = _clone(d, tmp_path / "copy")
    copy.node.conn.execute("UPDATE ops SET raw=? WHERE idx=?", (altered, idx))
    copy.log.export(tmp_path / "altered.export")
    copy.close()
    report = verify_export(tmp_path / "altered.export", info["key"])
    where = f"op at log position {idx - 1} ({dev}/{scope}#{seq})"
    assert ("signature", where) in [(f.code, f.where) for f in report.failures]
    assert any(f.code == "root" and "positions" in f.detail for f in report.failures)
    assert "[signature] " + where in format_report(report)


def test_a_truncated_log_is_refused_by_the_district_and_named_by_the_verifier(honest, tmp_path):
    path, info, (d, _, _) = honest
    copy = _clone(d, tmp_path / "copy")
    copy.node.conn.execute("DELETE FROM ops WHERE idx > ?", (info["size"] - 3,))
    with pytest.raises(StoreError, match="truncated"):
        copy.log.export(tmp_path / "refused.export")
    copy.log.export(tmp_path / "truncated.export", checkpoint=False)
    copy.close()
    report = verify_export(tmp_path / "truncated.export", info["key"])
    truncated = {f.where: f.detail for f in report.failures if f.code == "truncated"}
    assert f"holds only {info['size'] - 3}" in truncated[f"checkpoint of size {info['size']}"]
    assert all(int(w.rsplit(" ", 1)[1]) > info["size"] - 3 for w in truncated)


def test_a_checkpoint_signed_by_another_key_is_named_by_its_size(honest, tmp_path):
    path, info, (d, _, _) = honest
    copy = _clone(d, tmp_path / "copy")
    rec = copy.log.checkpoints()[1]
    bad = sign_checkpoint(Checkpoint.parse(parse_note(rec.note).body), DeviceKey.generate(), ORIGIN)
    copy.node.conn.execute("UPDATE audit_checkpoints SET note=? WHERE size=?", (bad, rec.size))
    copy.log.export(tmp_path / "other-key.export")
    copy.close()
    report = verify_export(tmp_path / "other-key.export", info["key"])
    assert [(f.code, f.where) for f in report.failures] == [("checkpoint_signature", f"checkpoint of size {rec.size}")]


def _offsets(path):
    with open(path, "rb") as fh:
        return [(start, end, rec) for start, end, rec in records(fh)]


def _patch(path, out, offset, value=None):
    data = bytearray(path.read_bytes())
    data[offset] = data[offset] ^ 0x01 if value is None else value
    out.write_bytes(bytes(data))
    return out


def test_one_changed_byte_at_each_kind_of_place_is_detected_and_named(honest, tmp_path):
    path, info, _ = honest
    data = path.read_bytes()
    recs = _offsets(path)
    header, first_op, last_cp, end = recs[0], recs[1], recs[-2], recs[-1]
    head = "\n".join(last_cp[2]["checkpoint"].split("\n")[:2]).encode() + b"\n"
    root_line = last_cp[0] + data[last_cp[0] : last_cp[1]].index(head) + len(head)
    first_char = data[root_line]
    cases = [
        (
            "the origin in the header",
            header[0] + data[header[0] : header[1]].index(b"district/test") + 9,
            None,
            {"export_digest", "checkpoint_signature"},
        ),
        ("an op's signature", first_op[1] - 9 - 12 - 10, None, {"signature"}),
        ("an op's receive time", first_op[1] - 1, None, {"export_digest"}),
        ("a checkpoint's root", root_line, ord("B") if first_char != ord("B") else ord("C"), {"checkpoint_signature"}),
        ("the end record's signature", end[1] - 5, None, {"export_signature"}),
    ]
    for what, offset, value, codes in cases:
        report = verify_export(_patch(path, tmp_path / "changed.export", offset, value), info["key"])
        got = {f.code for f in report.failures}
        assert not report.ok and codes <= got, (what, got)
    report = verify_export(_patch(path, tmp_path / "changed.export", first_op[1] - 9 - 12 - 10), info["key"])
    failure = next(f for f in report.failures if f.code == "signature")
    assert failure.where.startswith("op at log position 0 (") and failure.where.endswith("/district#1)")


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_any_single_changed_byte_anywhere_in_an_export_is_detected(honest, tmp_path, data):
    path, info, _ = honest
    size = path.stat().st_size
    offset = data.draw(st.integers(min_value=0, max_value=size - 1))
    bit = data.draw(st.integers(min_value=0, max_value=7))
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 1 << bit
    out = tmp_path / f"any-{offset}-{bit}.export"
    out.write_bytes(bytes(raw))
    report = verify_export(out, info["key"])
    assert not report.ok and report.failures and all(f.where and f.detail for f in report.failures)
    os.unlink(out)


def test_ops_by_a_device_the_district_never_enrolled_are_named(tmp_path):
    district, rogue = DeviceKey.generate(), DeviceKey.generate()
    op = sign_op(
        rogue,
        scope="a",
        seq=1,
        prev=ZERO_HASH,
        hlc=(1_750_000_000_000, 0),
        actor=None,
        type="points.award",
        obj="1-101",
        data={"household": "1-101", "n": 1000, "reason": "self-award"},
    )
    from crdt.merkle import MerkleLog, leaf_hash

    tree = MerkleLog()
    tree.append(leaf_hash(op.hash))
    note = sign_checkpoint(Checkpoint(ORIGIN, 1, tree.root()), district, ORIGIN)
    out = tmp_path / "rogue.export"
    write_export(out, origin=ORIGIN, signer=district, ops=[(op.raw, 1)], checkpoints=[(note, 1)], created_ms=2)
    report = verify_export(out, base64.b64encode(district.public_bytes).decode())
    assert [(f.code, f.where) for f in report.failures] == [
        ("unknown_device", f"op at log position 0 ({rogue.device_id}/a#1)")
    ]


def test_a_file_that_is_not_an_export_or_is_cut_short_is_named(honest, tmp_path):
    path, info, _ = honest
    junk = tmp_path / "junk"
    junk.write_bytes(msgpack.packb({"hello": 1}))
    assert verify_export(junk, info["key"]).failures[0].code == "format"
    cut = tmp_path / "cut.export"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    report = verify_export(cut, info["key"])
    assert "end" in {f.code for f in report.failures}
    huge = tmp_path / "huge.export"
    header_end = _offsets(path)[0][1]
    huge.write_bytes(path.read_bytes()[:header_end] + b"\x81\xa2op\xc6\x00\x01\x00\x01" + bytes(70_000))
    empty = tmp_path / "empty.export"
    empty.write_bytes(path.read_bytes()[:20])
    assert [f.code for f in verify_export(empty, info["key"]).failures] == ["format"]
    assert "unreadable" in {f.code for f in verify_export(huge, info["key"]).failures}
    with pytest.raises(InputError, match="no export file"):
        verify_export(tmp_path / "missing", info["key"])
