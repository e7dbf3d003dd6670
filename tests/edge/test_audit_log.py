"""The district's audit log: SQLite node store, catch-up in log order, checkpoints, cosignatures, endpoints."""

from __future__ import annotations

import hashlib
import sqlite3

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crdt.keys import DeviceKey
from crdt.merkle import MemoryNodeStore, MerkleLog, leaf_hash, root, verify_consistency, verify_inclusion
from crdt.note import Checkpoint, Verifier, cosign, open_checkpoint, parse_note
from edge.audit.client import request_fields, witness_vkey
from edge.audit.names import district_origin
from edge.errors import InputError, Refused, StoreError, UnknownEntity
from edge.store import db
from edge.sync import pack, unpack
from sync_server.audit.http import handle
from sync_server.audit.log import SqliteNodeStore
from tests.edge.audit_sim import ORIGIN, audited_sync, own_ops, setup
from tests.helpers import make_community


def _memory_conn() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    for _, statements in db.MIGRATIONS:
        for sql in statements:
            conn.execute(sql)
    return conn


@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=6))
def test_the_sqlite_node_store_gives_the_reference_roots_and_proofs_for_any_batching(batches):
    conn = _memory_conn()
    log = MerkleLog(SqliteNodeStore(conn))
    leaves: list[bytes] = []
    for n in batches:
        new = [leaf_hash(hashlib.sha256(str(len(leaves) + i).encode()).digest()) for i in range(n)]
        conn.execute("BEGIN")
        log.append_many(new)
        conn.execute("COMMIT")
        leaves += new
    size = len(leaves)
    assert log.size == size and log.root() == root(leaves)
    reopened = MerkleLog(SqliteNodeStore(conn))  # a fresh log reloads its frontier from the tables
    assert reopened.root(size // 2 + 1) == root(leaves[: size // 2 + 1])
    for index in {0, size // 2, size - 1}:
        assert verify_inclusion(leaves[index], index, size, reopened.inclusion_proof(index), root(leaves))
    old = max(1, size // 3)
    assert verify_consistency(old, size, reopened.consistency_proof(old), root(leaves[:old]), root(leaves))


def test_an_append_rolled_back_with_its_transaction_leaves_the_tree_as_it_was():
    conn = _memory_conn()
    log = MerkleLog(SqliteNodeStore(conn))
    a, b, c = (leaf_hash(bytes([i]) * 32) for i in range(3))
    conn.execute("BEGIN")
    log.append_many([a])
    conn.execute("COMMIT")
    conn.execute("BEGIN")
    log.append_many([b])
    conn.execute("ROLLBACK")
    assert log.size == 1
    conn.execute("BEGIN")
    log.append_many([c])
    conn.execute("COMMIT")
    assert log.root() == root([a, c])


def test_catch_up_appends_every_op_hash_in_log_order_and_is_idempotent(tmp_path):
    d, kiosks = setup(tmp_path)
    rows = d.node.conn.execute("SELECT idx, hash FROM ops ORDER BY idx").fetchall()
    assert d.log.size == len(rows) and [i for i, _ in rows] == list(range(1, len(rows) + 1))
    assert d.log.root() == root([leaf_hash(bytes(h)) for _, h in rows])
    with db.write_tx(d.node.conn) as conn:
        assert d.log.catch_up(conn) == 0
    kiosks["a"].award("1-101", 5, "litter pick")
    audited_sync(kiosks["a"], d)
    new_hash = d.node.conn.execute("SELECT hash FROM ops ORDER BY idx DESC LIMIT 1").fetchone()[0]
    assert d.log.leaf(d.log.size - 1) == leaf_hash(bytes(new_hash))
    d.close()


def test_a_district_op_written_outside_a_sync_is_appended_at_the_next_checkpoint(tmp_path):
    d, _ = setup(tmp_path, "a")
    before = d.log.size
    d.node.post_notice("停水通知", "Water off", "明天停水", "Water off tomorrow")
    assert d.log.size == before
    cp = d.log.checkpoint()
    assert cp.size == before + 1 == d.log.size
    d.close()


def test_a_gap_or_a_deleted_op_in_the_log_stops_the_audit_tree_and_is_named(tmp_path):
    d, _ = setup(tmp_path, "a")
    size = d.log.size
    d.node.conn.execute("DELETE FROM ops WHERE idx >= ?", (size - 1,))
    with pytest.raises(StoreError, match=f"ends at log index {size - 2} but the audit tree has {size} leaves"):
        d.log.checkpoint()
    d.close()


def test_a_gap_in_the_ops_not_yet_in_the_tree_is_named(tmp_path):
    d, _ = setup(tmp_path, "a")
    size = d.log.size
    d.node.post_notice("t1", "t1", "b", "b")
    d.node.post_notice("t2", "t2", "b", "b")
    d.node.conn.execute("DELETE FROM ops WHERE idx = ?", (size + 1,))
    with pytest.raises(StoreError, match=f"gap: expected log index {size + 1}, found {size + 2}"):
        d.log.checkpoint()
    d.close()


def test_a_checkpoint_is_signed_only_when_the_tree_grew_and_verifies_with_the_district_key(tmp_path):
    d, _ = setup(tmp_path, "a")
    first = d.log.checkpoint()
    assert d.log.checkpoint() == first
    district = Verifier(ORIGIN, d.node.store.ident.key.public_bytes)
    cp = open_checkpoint(first.note, district, ORIGIN)
    assert (cp.size, cp.root) == (first.size, first.root) == (d.log.size, d.log.root())
    d.node.post_notice("t", "t", "b", "b")
    second = d.log.checkpoint()
    assert second.size == first.size + 1
    assert [c.size for c in d.log.checkpoints()][-2:] == [first.size, second.size]
    d.close()


def test_the_origin_names_the_district_and_refuses_a_name_with_a_space():
    assert district_origin("east-7") == "linli.district/east-7"
    with pytest.raises(InputError, match="cannot name a checkpoint origin"):
        district_origin("east 7")


def test_a_kiosk_cosignature_is_verified_with_its_enrolled_key_before_it_is_kept(tmp_path):
    d, kiosks = setup(tmp_path, "a")
    a = kiosks["a"]
    line = audited_sync(a, d)  # the kiosk cosigned the latest checkpoint; it travels with the next sync
    audited_sync(a, d)
    size = d.log.latest().size
    assert line in d.log.checkpoint_with_cosignatures(size)
    assert d.log.add_cosignature(size, line)["stored"] is False  # held already
    forged = cosign(Checkpoint(ORIGIN, size, bytes(32)), a.store.ident.key, f"linli.kiosk/{a.dev}", 1)
    with pytest.raises(InputError, match="does not verify"):
        d.log.add_cosignature(size, forged.line())
    stranger = DeviceKey.generate()
    cp = Checkpoint.parse(parse_note(d.log.latest().note).body)
    with pytest.raises(Refused, match="not known to this district"):
        d.log.add_cosignature(size, cosign(cp, stranger, "linli.witness/x", 1).line())
    with pytest.raises(UnknownEntity, match="no checkpoint was signed at tree size 999"):
        d.log.add_cosignature(999, line)
    d.close()


def test_a_revoked_kiosk_can_no_longer_cosign(tmp_path):
    d, kiosks = setup(tmp_path, "a")
    a = kiosks["a"]
    with d.node.store.tx() as tx:
        tx.emit("district", "device.revoke", a.dev, {"from_seq": 99, "reason": "stolen"})
    cp_rec = d.log.checkpoint()
    cp = Checkpoint.parse(parse_note(cp_rec.note).body)
    line = cosign(cp, a.store.ident.key, f"linli.kiosk/{a.dev}", 1).line()
    with pytest.raises(Refused, match="not known"):
        d.log.add_cosignature(cp_rec.size, line)
    d.close()


def test_a_committee_witness_registered_by_its_verifier_key_may_cosign(tmp_path):
    d, _ = setup(tmp_path, "a")
    committee = DeviceKey.generate()
    vkey = Verifier("linli.witness/committee", committee.public_bytes).vkey()
    d.log.add_witness(vkey)
    rec = d.log.checkpoint()
    line = cosign(Checkpoint.parse(parse_note(rec.note).body), committee, "linli.witness/committee", 7).line()
    assert d.log.add_cosignature(rec.size, line) == {
        "size": rec.size,
        "witness": "linli.witness/committee",
        "timestamp": 7,
        "stored": True,
    }
    with pytest.raises(InputError, match="witness key"):
        d.log.add_witness("not a key")
    d.close()


def test_sync_fields_prove_the_pushed_ops_and_consistency_from_the_trusted_size(tmp_path):
    d, kiosks = setup(tmp_path, "a")
    old = d.log.latest()
    a = kiosks["a"]
    a.award("1-101", 5, "litter pick")
    op = a.conn.execute("SELECT raw, hash FROM ops WHERE dev=? ORDER BY idx DESC LIMIT 1", (a.dev,)).fetchone()
    d.node.store.apply_remote([bytes(op[0])], on_accept=d.log.on_accept)
    d.log.checkpoint()
    fields = d.log.sync_fields(old.size, [bytes(op[0]), b"not an op"])
    new = open_checkpoint(fields["checkpoint"], Verifier(ORIGIN, d.node.store.ident.key.public_bytes))
    assert verify_consistency(old.size, new.size, fields["consistency"], old.root, new.root)
    index = fields["leaves"][0]
    assert verify_inclusion(leaf_hash(bytes(op[1])), index, new.size, fields["inclusion"][0], new.root)
    assert fields["leaves"][1] is None and fields["inclusion"][1] is None
    d.close()


def test_the_public_endpoints_answer_checkpoints_proofs_and_cosignatures_and_name_bad_requests(tmp_path):
    d, kiosks = setup(tmp_path, "a")
    rec = d.log.checkpoint()
    status, ctype, body = handle(d.log, "GET", "/v1/audit/checkpoint")
    assert (status, ctype) == (200, "text/plain; charset=utf-8") and body.decode() == rec.note
    status, _, body = handle(d.log, "GET", f"/v1/audit/consistency?old=2&new={rec.size}")
    proof = msgpack.unpackb(body)["proof"]
    assert status == 200 and verify_consistency(2, rec.size, proof, d.log.root(2), rec.root)
    status, _, body = handle(d.log, "GET", f"/v1/audit/inclusion?index=1&size={rec.size}")
    answer = msgpack.unpackb(body)
    assert status == 200 and verify_inclusion(answer["leaf"], 1, rec.size, answer["proof"], rec.root)
    a = kiosks["a"]
    line = cosign(Checkpoint.parse(parse_note(rec.note).body), a.store.ident.key, f"linli.kiosk/{a.dev}", 3).line()
    unsorted = msgpack.packb({"size": rec.size, "line": line})  # keys out of canonical order
    status, _, body = handle(d.log, "POST", "/v1/audit/cosignature", unsorted)
    assert status == 400 and "not canonical msgpack" in unpack(body, 4096)["detail"]
    status, _, body = handle(d.log, "POST", "/v1/audit/cosignature", pack({"size": rec.size, "line": line}))
    assert status == 200 and unpack(body, 4096)["stored"] is True
    status, _, body = handle(d.log, "GET", f"/v1/audit/checkpoint?size={rec.size}")
    assert line in body.decode()
    for target, want in [
        (f"/v1/audit/consistency?old={rec.size + 1}&new={rec.size}", 400),
        ("/v1/audit/inclusion?index=-1&size=3", 400),
        ("/v1/audit/consistency?old=1", 400),
        ("/v1/audit/checkpoint?size=1", 404),
        ("/v1/audit/nothing", 404),
    ]:
        status, _, body = handle(d.log, "GET", target)
        assert status == want, target
        assert msgpack.unpackb(body)["detail"]
    status, _, body = handle(d.log, "POST", "/v1/audit/cosignature", b"\xc1")
    assert status == 400 and "not canonical msgpack" in msgpack.unpackb(body)["detail"]
    assert witness_vkey(a.store).startswith(f"linli.kiosk/{a.dev}+")
    d.close()


def test_the_audit_migration_applies_to_a_database_made_by_the_previous_version(tmp_path, monkeypatch):
    path = tmp_path / "old.sqlite3"
    conn = db.connect(path)
    monkeypatch.setattr(db, "MIGRATIONS", db.MIGRATIONS[:2])
    assert db.migrate(conn) == 2
    conn.execute("INSERT INTO meta (key, value) VALUES ('community', '\"a\"')")
    monkeypatch.undo()
    assert db.migrate(conn) == len(db.MIGRATIONS) >= 3
    assert conn.execute("SELECT size FROM audit_tree").fetchone() == (0,)
    assert conn.execute("SELECT value FROM meta WHERE key='community'").fetchone() == ('"a"',)
    conn.close()


def test_a_district_reopened_from_disk_continues_the_same_tree(tmp_path):
    d, kiosks = setup(tmp_path, "a")
    before = d.log.checkpoint()
    d = d.reopen()
    assert d.log.size == before.size and d.log.root() == before.root
    kiosks["a"].award("1-102", 2, "help")
    audited_sync(kiosks["a"], d)
    assert d.log.latest().size == before.size + 1
    reference = MerkleLog(MemoryNodeStore())
    reference.append_many([leaf_hash(bytes(h)) for (h,) in d.node.conn.execute("SELECT hash FROM ops ORDER BY idx")])
    assert d.log.root() == reference.root()
    make_community(tmp_path, d.node, "c").close()
    d.close()


def test_a_sync_batch_rolled_back_takes_its_leaves_checkpoint_and_cosignatures_with_it(tmp_path):
    d, kiosks = setup(tmp_path, "a")
    a = kiosks["a"]
    a.award("1-101", 3, "help")
    audited_sync(a, d)
    pending = request_fields(a.store)["cosignatures"]  # of the checkpoint just signed, not yet sent
    a.award("1-101", 4, "help")
    size, latest = d.log.size, d.log.latest()
    with pytest.raises(RuntimeError, match="power cut"):
        with db.write_tx(d.node.conn) as conn:
            d.node.store.apply_remote_in(conn, own_ops(a), on_accept=d.log.on_accept)
            assert [r.get("stored") for r in d.log.receive_cosignatures(pending, conn)] == [True]
            assert d.log.checkpoint(conn).size == size + 1
            raise RuntimeError("power cut")
    assert (d.log.size, d.log.latest()) == (size, latest)
    assert d.log.cosignature_lines(pending[0]["size"]) == []
    audited_sync(a, d)
    hashes = [bytes(h) for (h,) in d.node.conn.execute("SELECT hash FROM ops ORDER BY idx")]
    assert d.log.root() == root([leaf_hash(h) for h in hashes]) and d.log.size == size + 1
    d.close()
