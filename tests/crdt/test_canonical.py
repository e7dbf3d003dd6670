"""Canonical msgpack: round trips, and every rejection class of DESIGN 3.1."""

from __future__ import annotations

import unicodedata

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crdt.canonical import MAX_DEPTH, MAX_SIZE, decode, encode
from crdt.errors import (
    DecodeError,
    DuplicateKey,
    EncodeError,
    ExtensionRejected,
    FloatRejected,
    NonCanonical,
    TooDeep,
    TooLarge,
)

scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=20) | st.binary(max_size=20)
values = st.recursive(
    scalars,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=20,
)


def _nfc(v: object) -> object:
    if isinstance(v, str):
        return unicodedata.normalize("NFC", v)
    if isinstance(v, list):
        return [_nfc(x) for x in v]
    if isinstance(v, dict):
        return {_nfc(k): _nfc(x) for k, x in v.items()}
    return v


@given(values)
def test_encode_then_decode_round_trips_to_the_nfc_value(value: object) -> None:
    raw = encode(value)
    assert decode(raw) == _nfc(value)
    assert encode(decode(raw)) == raw


@given(st.dictionaries(st.text(max_size=6), st.integers(-(2**63), 2**64 - 1), min_size=2, max_size=6))
def test_map_keys_are_sorted_by_utf8_bytes_whatever_the_insertion_order(d: dict[str, int]) -> None:
    forwards = encode(d)
    backwards = encode(dict(reversed(list(d.items()))))
    assert forwards == backwards


def test_integers_take_their_shortest_form() -> None:
    assert encode(1) == b"\x01"
    assert encode(200) == b"\xcc\xc8"
    assert decode(b"\x01") == 1
    with pytest.raises(NonCanonical):
        decode(b"\xcd\x00\x01")  # 1 as uint16


def test_a_map_with_keys_out_of_order_is_non_canonical() -> None:
    raw = b"\x82\xa1b\x01\xa1a\x02"
    assert msgpack.unpackb(raw) == {"b": 1, "a": 2}
    with pytest.raises(NonCanonical):
        decode(raw)


def test_text_that_is_not_nfc_is_non_canonical() -> None:
    decomposed = "e\u0301"
    raw = msgpack.packb(decomposed, use_bin_type=True)
    with pytest.raises(NonCanonical):
        decode(raw)
    assert decode(encode(decomposed)) == "\u00e9"


def test_a_float_is_rejected_on_both_sides() -> None:
    with pytest.raises(EncodeError, match="float"):
        encode({"qty": 1.5})
    with pytest.raises(FloatRejected, match="float"):
        decode(msgpack.packb({"qty": 1.5}))
    with pytest.raises(FloatRejected):
        decode(msgpack.packb([[{"a": [2.0]}]]))


def test_a_duplicate_key_is_rejected_not_resolved_last_one_wins() -> None:
    raw = b"\x82\xa1a\x01\xa1a\x02"
    assert msgpack.unpackb(raw) == {"a": 2}
    with pytest.raises(DuplicateKey, match="'a'"):
        decode(raw)


def test_an_extension_type_is_rejected() -> None:
    raw = msgpack.packb(msgpack.ExtType(5, b"xx"))
    with pytest.raises(ExtensionRejected, match="5"):
        decode(raw)


def test_nesting_deeper_than_the_limit_is_rejected() -> None:
    ok: object = 1
    for _ in range(MAX_DEPTH):
        ok = [ok]
    assert decode(encode(ok)) == ok
    deep = b"\x91" * (MAX_DEPTH + 1) + b"\x01"
    with pytest.raises(TooDeep):
        decode(deep)
    very_deep = b"\x91" * 60000 + b"\x01"
    with pytest.raises(TooDeep):
        decode(very_deep)


def test_input_over_64_kib_is_rejected_before_decoding() -> None:
    big = encode(b"x" * MAX_SIZE)
    with pytest.raises(TooLarge, match=str(MAX_SIZE)):
        decode(big)


def test_trailing_bytes_truncation_and_bad_utf8_are_decode_errors() -> None:
    with pytest.raises(DecodeError, match="trailing"):
        decode(encode(1) + b"\x01")
    with pytest.raises(DecodeError):
        decode(encode({"a": "hello"})[:-2])
    with pytest.raises(DecodeError):
        decode(b"\xa2\xff\xfe")
    with pytest.raises(DecodeError, match="empty"):
        decode(b"")
    with pytest.raises(DecodeError, match="map key"):
        decode(b"\x81\x01\x02")


def test_values_without_a_canonical_form_are_refused_on_encode() -> None:
    with pytest.raises(EncodeError):
        encode({1: "a"})
    with pytest.raises(EncodeError):
        encode(2**64)
    with pytest.raises(EncodeError):
        encode(object())
    with pytest.raises(EncodeError, match="twice"):
        encode({"\u00e9": 1, "e\u0301": 2})


def test_every_committed_crasher_raises_a_typed_decode_error() -> None:
    from pathlib import Path

    corpus = sorted((Path(__file__).parent.parent / "fixtures" / "crashers").glob("*.bin"))
    assert len(corpus) >= 8
    for path in corpus:
        with pytest.raises(DecodeError):
            decode(path.read_bytes())
