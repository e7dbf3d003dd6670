"""Signed ops: build, verify, hash, and the per-stream chain checks."""

from __future__ import annotations

import hashlib
import os
import stat

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crdt.canonical import encode
from crdt.chain import Placement, check_next, verify_stream
from crdt.errors import (
    CRDTError,
    DecodeError,
    EnvelopeError,
    Equivocation,
    Gap,
    NonCanonical,
    Reorder,
    SignatureError,
    TooLarge,
    WrongPrev,
)
from crdt.keys import DeviceKey, device_id
from crdt.op import ZERO_HASH, Op, decode_op, sign_op, verify_op

KEY = DeviceKey.from_seed(bytes(range(32)))
OTHER = DeviceKey.from_seed(bytes(range(1, 33)))


def make_stream(key: DeviceKey, n: int, scope: str = "a") -> list[Op]:
    ops: list[Op] = []
    prev = ZERO_HASH
    for seq in range(1, n + 1):
        op = sign_op(
            key,
            scope=scope,
            seq=seq,
            prev=prev,
            hlc=(1_700_000_000_000 + seq, 0),
            actor="staff-1",
            type="ticket.comment",
            obj="01HZX3ABCDEFGHJKMNPQRSTVWX",
            data={"text": f"comment {seq} 水管漏水"},
        )
        ops.append(op)
        prev = op.hash
    return ops


def test_device_id_is_base32_of_the_first_16_bytes_of_the_key_hash() -> None:
    import base64

    expect = base64.b32encode(hashlib.sha256(KEY.public_bytes).digest()[:16]).decode().rstrip("=").lower()
    assert KEY.device_id == expect == device_id(KEY.public_bytes)
    assert len(KEY.device_id) == 26


def test_a_saved_key_has_mode_0600_loads_back_and_is_not_overwritten(tmp_path) -> None:
    path = tmp_path / "device.key"
    KEY.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert DeviceKey.load(path).device_id == KEY.device_id
    with pytest.raises(CRDTError, match="overwrite"):
        OTHER.save(path)
    assert DeviceKey.load(path).device_id == KEY.device_id


def test_a_signed_op_decodes_back_to_itself_and_verifies() -> None:
    op = make_stream(KEY, 1)[0]
    again = decode_op(op.raw)
    assert again == op
    assert again.hash == hashlib.sha256(op.body + op.sig).digest()
    assert again.data["text"] == "comment 1 水管漏水"
    verify_op(again, KEY.public_bytes)


def test_an_op_checked_against_another_devices_key_is_refused() -> None:
    op = make_stream(KEY, 1)[0]
    with pytest.raises(SignatureError, match="does not belong"):
        verify_op(op, OTHER.public_bytes)


@given(st.data())
def test_flipping_any_single_byte_of_a_signed_op_makes_it_fail(data: st.DataObject) -> None:
    op = make_stream(KEY, 1)[0]
    i = data.draw(st.integers(0, len(op.raw) - 1))
    bit = data.draw(st.integers(0, 7))
    raw = bytearray(op.raw)
    raw[i] ^= 1 << bit
    with pytest.raises(CRDTError):
        verify_op(decode_op(bytes(raw)), KEY.public_bytes)


def test_every_byte_position_flipped_fails_verification() -> None:
    op = make_stream(KEY, 1)[0]
    for i in range(len(op.raw)):
        raw = bytearray(op.raw)
        raw[i] ^= 0x01
        with pytest.raises(CRDTError):
            verify_op(decode_op(bytes(raw)), KEY.public_bytes)


def test_a_non_canonical_re_encoding_of_a_signed_op_is_refused() -> None:
    op = make_stream(KEY, 1)[0]
    body = msgpack.unpackb(op.body, raw=False)
    reordered = msgpack.packb(dict(reversed(list(body.items()))), use_bin_type=True)
    assert msgpack.unpackb(reordered, raw=False) == body
    sig = KEY.sign(reordered)
    with pytest.raises(NonCanonical):
        decode_op(encode([reordered, sig]))


def test_a_float_hidden_in_op_data_is_refused_even_when_signed() -> None:
    body = msgpack.unpackb(make_stream(KEY, 1)[0].body, raw=False)
    body["data"] = {"qty": 2.5}
    raw_body = msgpack.packb(dict(sorted(body.items())), use_bin_type=True)
    with pytest.raises(DecodeError, match="float"):
        decode_op(encode([raw_body, KEY.sign(raw_body)]))


def test_envelope_fields_are_checked() -> None:
    good = msgpack.unpackb(make_stream(KEY, 1)[0].body, raw=False)
    cases = {
        "v": 2,
        "seq": 0,
        "prev": b"short",
        "hlc": [1, 2, 3],
        "type": "NoDot",
        "scope": "Bad Scope!",
        "dev": "not-a-device",
        "data": [1],
        "obj": "",
    }
    for field, value in cases.items():
        body = dict(good)
        body[field] = value
        raw_body = encode(body)
        with pytest.raises(EnvelopeError, match=field if field != "data" else "data"):
            decode_op(encode([raw_body, KEY.sign(raw_body)]))
    extra = dict(good, extra=1)
    with pytest.raises(EnvelopeError, match="unexpected"):
        decode_op(encode([encode(extra), bytes(64)]))
    with pytest.raises(EnvelopeError, match=r"\[body"):
        decode_op(encode([1, 2]))


def test_an_op_over_64_kib_is_refused() -> None:
    with pytest.raises(DecodeError):
        sign_op(
            KEY,
            scope="a",
            seq=1,
            prev=ZERO_HASH,
            hlc=(1, 0),
            actor=None,
            type="notice.post",
            obj="x",
            data={"text": "x" * 70_000},
        )
    with pytest.raises(TooLarge):
        decode_op(b"\x00" * 70_000)


def test_a_whole_stream_verifies_and_each_break_is_named() -> None:
    ops = make_stream(KEY, 5)
    assert verify_stream(ops) == 5
    with pytest.raises(Gap, match="expected seq 3"):
        verify_stream([ops[0], ops[1], ops[3]])
    with pytest.raises(Reorder):
        verify_stream([ops[0], ops[2], ops[1]][:1] + [ops[1], ops[0]])
    forged = sign_op(
        KEY,
        scope="a",
        seq=2,
        prev=hashlib.sha256(b"other").digest(),
        hlc=(5, 0),
        actor=None,
        type="ticket.comment",
        obj="x",
        data={},
    )
    with pytest.raises(WrongPrev):
        verify_stream([ops[0], forged])
    twin = sign_op(
        KEY,
        scope="a",
        seq=2,
        prev=ops[0].hash,
        hlc=(5, 0),
        actor=None,
        type="ticket.comment",
        obj="x",
        data={"text": "different"},
    )
    with pytest.raises(Equivocation):
        verify_stream([ops[0], ops[1], twin])
    with pytest.raises(Gap):
        verify_stream([ops[1]])


def test_check_next_places_duplicates_and_detects_equivocation_against_held_ops() -> None:
    ops = make_stream(KEY, 3)
    held = {op.seq: op.hash for op in ops[:2]}
    assert check_next(ops[2], 2, ops[1].hash, held.get) is Placement.NEXT
    assert check_next(ops[0], 2, ops[1].hash, held.get) is Placement.DUPLICATE
    assert check_next(ops[1], 2, ops[1].hash, held.get) is Placement.DUPLICATE
    twin = sign_op(
        KEY,
        scope="a",
        seq=1,
        prev=ZERO_HASH,
        hlc=(9, 9),
        actor=None,
        type="ticket.comment",
        obj="x",
        data={},
    )
    with pytest.raises(Equivocation, match="seq 1"):
        check_next(twin, 2, ops[1].hash, held.get)
