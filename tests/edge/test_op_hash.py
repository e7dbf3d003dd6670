"""One op hash: ``crdt.op.op_hash`` is what the op, the store, ingest and the audit export all use."""

from __future__ import annotations

import msgpack
import pytest

from crdt.errors import DecodeError
from crdt.op import decode_op, op_hash
from edge.audit.export import op_hash_of
from edge.store.ingest import _outer_hash
from tests.edge.audit_sim import audited_sync, setup


def test_every_former_call_site_agrees_on_the_hash_of_real_ops(tmp_path):
    d, kiosks = setup(tmp_path, "ab")
    kiosks["a"].award("1-101", 30, "stairwell cleaning")
    kiosks["b"].receive("WATER", 50)
    for k in kiosks.values():
        audited_sync(k, d)
    rows = d.node.conn.execute("SELECT hash, raw FROM ops ORDER BY idx").fetchall()
    assert len(rows) >= 8
    for stored, raw in rows:
        raw = bytes(raw)
        h = op_hash(raw)
        assert h == bytes(stored) == decode_op(raw).hash == op_hash_of(raw) == _outer_hash(raw)
    d.close()


def test_bytes_that_are_not_an_op_have_no_op_hash_and_each_call_site_says_so_its_way(tmp_path):
    d, _ = setup(tmp_path, "a")
    raw = d.node.store.ops_after(0)[0][1]
    body, sig = msgpack.unpackb(raw)
    # The same [body, sig] written with a wider bin header: not canonical, but the same signed content.
    wide = b"\x92" + msgpack.packb(body) + b"\xc5\x00\x40" + sig
    assert op_hash(wide) == op_hash(raw) == _outer_hash(wide)
    for junk in (b"", b"\xc1", msgpack.packb([1, 2]), msgpack.packb([body]), msgpack.packb({"a": body})):
        with pytest.raises(DecodeError):
            op_hash(junk)
        assert _outer_hash(junk) is None
        assert op_hash_of(junk) not in (op_hash(raw), None)
    with pytest.raises(DecodeError):
        op_hash(b"\x92" + msgpack.packb(bytes(70_000)) + msgpack.packb(sig))
    assert _outer_hash("text") is None
    d.close()
