"""The export file is canonical msgpack, record by record, and the reader refuses a record that is not."""

from __future__ import annotations

import msgpack

from crdt.canonical import decode, encode
from crdt.keys import DeviceKey
from edge.audit.export import EXPORT_FORMAT, records, write_export
from edge.audit.verify import verify_export
from tests.edge.audit_sim import District, setup


def _export(tmp_path):
    d, kiosks = setup(tmp_path, "a")
    kiosks["a"].award("1-101", 5, "garden")
    path = tmp_path / "district.export"
    d.log.export(path)
    return d, path


def test_a_fresh_export_is_canonical_record_by_record_and_verifies(tmp_path):
    d, path = _export(tmp_path)
    data = path.read_bytes()
    with open(path, "rb") as fh:
        found = list(records(fh))
    assert found[0][0] == 0 and found[-1][1] == len(data)
    for start, end, record in found:
        assert encode(record) == data[start:end] and decode(data[start:end], max_size=end - start + 1) == record
    header = found[0][2]
    assert list(header) == sorted(header) and header["format"] == EXPORT_FORMAT
    assert verify_export(path, District(d.node).key).ok
    d.close()


def test_a_record_written_out_of_canonical_order_is_unreadable(tmp_path):
    d, path = _export(tmp_path)
    data = path.read_bytes()
    with open(path, "rb") as fh:
        start, end, header = next(iter(records(fh)))
    # The header as the writer wrote it before records were canonical: keys in writing order.
    old = {k: header[k] for k in ("format", "origin", "district_pubkey", "created_ms")}
    unsorted = msgpack.packb(old, use_bin_type=True)
    assert len(unsorted) == end - start and unsorted != data[start:end]
    (tmp_path / "unsorted.export").write_bytes(unsorted + data[end:])
    report = verify_export(tmp_path / "unsorted.export", District(d.node).key)
    assert not report.ok and [f.code for f in report.failures][:1] == ["unreadable"]
    assert "out of order" in report.failures[0].detail
    d.close()


def test_a_record_cut_off_by_the_end_of_the_file_ends_the_stream(tmp_path):
    d, path = _export(tmp_path)
    data = path.read_bytes()
    with open(path, "rb") as fh:
        full = list(records(fh))
    cut = tmp_path / "cut.export"
    cut.write_bytes(data[: full[2][1] + 3])
    with open(cut, "rb") as fh:
        assert [r[:2] for r in records(fh)] == [r[:2] for r in full[:3]]
    d.close()


def test_records_that_straddle_the_read_chunks_come_back_whole(tmp_path):
    ops = [(bytes([i % 256]) * (700 + i), 1_750_000_000_000 + i) for i in range(300)]  # about 300 KB
    path = tmp_path / "big.export"
    write_export(path, origin="o", signer=DeviceKey.generate(), ops=ops, checkpoints=[("note\n", 1)], created_ms=5)
    with open(path, "rb") as fh:
        found = list(records(fh))
    assert [(r["op"], r["received_ms"]) for _, _, r in found[1:-2]] == ops
    assert found[-2][2] == {"checkpoint": "note\n", "created_ms": 1} and found[-1][1] == path.stat().st_size
