"""Canonical msgpack: round trips, and every rejection class (``docs/design.md`` §2.2)."""

from __future__ import annotations

import enum
import unicodedata
from collections import OrderedDict
from typing import NamedTuple

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


def _nested(depth: int, wrap) -> object:
    value: object = 1
    for _ in range(depth):
        value = wrap(value)
    return value


@pytest.mark.parametrize(
    "wrap",
    [lambda v: [v], lambda v: (v,), lambda v: {"k": v}, lambda v: OrderedDict(k=v)],
    ids=["list", "tuple", "map", "ordered-dict"],
)
def test_the_encoder_refuses_what_every_decoder_would_refuse_as_too_deep(wrap) -> None:
    """Regression: the encoder's depth limit was never tested, so an encoder that built 17-level values
    (which every receiving decoder rejects as ``TooDeep``) would have passed."""
    ok = encode(_nested(MAX_DEPTH, wrap))
    assert decode(ok) == _nfc(_plain(_nested(MAX_DEPTH, wrap)))
    with pytest.raises(EncodeError, match=f"nests deeper than {MAX_DEPTH} levels"):
        encode(_nested(MAX_DEPTH + 1, wrap))


def _plain(value: object) -> object:
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def test_the_decoder_counts_depth_through_maps_as_through_lists() -> None:
    ok = _nested(MAX_DEPTH, lambda v: {"k": v})
    assert decode(msgpack.packb(ok)) == ok
    with pytest.raises(TooDeep, match=f"nests deeper than {MAX_DEPTH} levels"):
        decode(msgpack.packb(_nested(MAX_DEPTH + 1, lambda v: {"k": v})))
    mixed = _nested(MAX_DEPTH // 2, lambda v: {"k": [v]})  # 16 levels, alternating
    assert decode(msgpack.packb(mixed)) == mixed
    with pytest.raises(TooDeep):
        decode(msgpack.packb({"k": mixed}))


def test_a_map_key_that_is_not_nfc_is_non_canonical() -> None:
    raw = msgpack.packb({"e\u0301": 1}, use_bin_type=True)
    with pytest.raises(NonCanonical, match="map key 'e\u0301' is not NFC-normalised"):
        decode(raw)
    assert decode(encode({"e\u0301": 1})) == {"\u00e9": 1}


class Colour(str, enum.Enum):  # noqa: UP042 -- the str-mixin Enum is the case under test
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


class Mode(enum.StrEnum):
    EMERGENCY = "emergency"


class Blob(bytes):
    def __bytes__(self) -> bytes:
        return b"not the data"


class Point(NamedTuple):
    x: int
    y: int


@pytest.mark.parametrize(
    ("value", "plain"),
    [
        (Level.HIGH, 3),
        (Mode.EMERGENCY, "emergency"),
        (Colour.RED, "red"),  # str() of a (str, Enum) member is "Colour.RED": the value must be used
        (Blob(b"data"), b"data"),
        (OrderedDict([("b", 1), ("a", Level.HIGH)]), {"a": 3, "b": 1}),
        (Point(1, 2), [1, 2]),
        ({"p": [Point(0, Level.HIGH)]}, {"p": [[0, 3]]}),
    ],
    ids=["IntEnum", "StrEnum", "str-Enum", "bytes-subclass", "OrderedDict", "namedtuple", "nested"],
)
def test_subclasses_of_the_base_types_encode_as_their_plain_value_never_as_nil(value, plain) -> None:
    """Regression: a subclass that fell through the type checks must not encode as nil (``\\xc0``), and a
    ``(str, Enum)`` member encoded as its name ("Colour.RED") instead of its value."""
    assert encode(value) == encode(plain)
    assert decode(encode(value)) == plain


def test_every_encode_refusal_names_the_value() -> None:
    with pytest.raises(EncodeError, match=f"integer {2**64} does not fit in 64 bits"):
        encode(2**64)
    with pytest.raises(EncodeError, match=f"integer {-(2**63) - 1} does not fit"):
        encode(-(2**63) - 1)
    assert decode(encode(-(2**63))) == -(2**63) and decode(encode(2**64 - 1)) == 2**64 - 1
    with pytest.raises(EncodeError, match="map key 1 is not text"):
        encode({1: "a"})
    with pytest.raises(EncodeError, match="map key 'é' appears twice after NFC normalisation"):
        encode({"\u00e9": 1, "e\u0301": "x"})  # values that cannot be compared: the keys alone decide
    with pytest.raises(EncodeError, match="type object has no canonical encoding"):
        encode(object())

    class Money(float):
        pass

    with pytest.raises(EncodeError, match=r"float 1\.5 has no canonical encoding"):
        encode(Money(1.5))


def test_every_decode_refusal_names_what_was_wrong() -> None:
    with pytest.raises(DecodeError, match="expected bytes, got str"):
        decode("\x01")  # type: ignore[arg-type]
    with pytest.raises(DecodeError, match="^empty input$"):
        decode(b"")
    with pytest.raises(DecodeError, match="^1 bytes of value followed by trailing bytes$"):
        decode(b"\x01\x02")
    with pytest.raises(DecodeError, match="map key b'a' is not text"):
        decode(b"\x81\xc4\x01a\x01")  # a bin key gets past msgpack's strict_map_key
    with pytest.raises(NonCanonical, match="map key 'a' is out of order"):
        decode(b"\x82\xa1b\x01\xa1a\x02")
    with pytest.raises(NonCanonical, match="text 'e\u0301' is not NFC-normalised"):
        decode(msgpack.packb("e\u0301"))
    with pytest.raises(NonCanonical, match=r"^bytes decode but are not the canonical encoding \(integer or length"):
        decode(b"\xcd\x00\x01")
    with pytest.raises(DecodeError, match="^malformed msgpack: FormatError$"):
        decode(b"\xc1")  # msgpack's never-used byte: its error has no text, so its type is named
    with pytest.raises(TooDeep, match=f"nests deeper than {MAX_DEPTH} levels"):
        decode(b"\x91" * 60000 + b"\x01")


def test_the_size_limit_is_inclusive() -> None:
    raw = encode("x" * 100)
    assert decode(raw, max_size=len(raw)) == "x" * 100
    with pytest.raises(TooLarge, match=f"{len(raw)} bytes is over the {len(raw) - 1}-byte limit"):
        decode(raw, max_size=len(raw) - 1)


def test_bytes_and_text_keep_their_own_msgpack_types() -> None:
    assert encode(b"ab") == b"\xc4\x02ab" and encode("ab") == b"\xa2ab"
    assert decode(b"\xc4\x02ab") == b"ab" and decode(b"\xa2ab") == "ab"


def test_booleans_and_nil_keep_their_own_msgpack_forms_not_the_integers_they_equal() -> None:
    """``True == 1`` in Python, so a round trip alone cannot tell a boolean that became an integer."""
    assert (encode(True), encode(False), encode(None)) == (b"\xc3", b"\xc2", b"\xc0")
    assert encode([True, False, 1, 0]) == b"\x94\xc3\xc2\x01\x00"
    assert type(decode(b"\xc3")) is bool
