"""Canonical msgpack (``docs/design.md`` §2.2): one byte string for one value, and a strict decoder.

Canonical form: maps with text keys sorted by their UTF-8 bytes, shortest integer forms, text as
msgpack ``str`` and bytes as ``bin`` (``use_bin_type=True``), text NFC-normalised, no floats, no
extension types. Decoding is the check: the bytes must decode under the limits below and re-encode to
exactly the same bytes, so a value has one and only one accepted encoding.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any

import msgpack

from .errors import (
    DecodeError,
    DuplicateKey,
    EncodeError,
    ExtensionRejected,
    FloatRejected,
    NonCanonical,
    TooDeep,
    TooLarge,
)

MAX_SIZE = 64 * 1024
MAX_DEPTH = 16
_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1

__all__ = ["MAX_DEPTH", "MAX_SIZE", "canonicalize", "decode", "encode"]


# Subclasses (IntEnum, StrEnum, ``class E(str, Enum)``, OrderedDict, namedtuple) encode as the plain value
# of their base type, taken with the base's own method: ``str()`` of a ``(str, Enum)`` member is its
# name ("E.RED"), not its value, and a subclass may override ``__int__`` or ``__bytes__``.
_BASES: tuple[tuple[type, Callable[[Any], Any]], ...] = (
    (int, int.__index__),
    (str, str.__str__),
    (bytes, bytes.__bytes__),
    (dict, dict),
    (list, list),
    (tuple, list),
)


def canonicalize(value: Any, _depth: int = 0) -> Any:
    """Return ``value`` in canonical shape: sorted maps, NFC text, lists for tuples.

    Raises:
        EncodeError: a float, an unsupported type, a non-text map key, an integer out of range,
            or nesting deeper than ``MAX_DEPTH``.
    """
    if value is None or value is True or value is False:
        return value
    t = type(value)
    if t is int:
        if not _INT_MIN <= value <= _INT_MAX:
            raise EncodeError(f"integer {value} does not fit in 64 bits")
        return value
    if t is str:
        return value if value.isascii() else unicodedata.normalize("NFC", value)
    if t is bytes:
        return value
    if (t is dict or t is list or t is tuple) and _depth >= MAX_DEPTH:
        raise EncodeError(f"value nests deeper than {MAX_DEPTH} levels")
    if t is dict:
        items = []
        for k, v in value.items():
            if type(k) is not str:
                raise EncodeError(f"map key {k!r} is not text")
            items.append((canonicalize(k), canonicalize(v, _depth + 1)))
        items.sort(key=lambda kv: kv[0].encode())  # UTF-8 bytes
        for i in range(1, len(items)):
            if items[i][0] == items[i - 1][0]:
                raise EncodeError(f"map key {items[i][0]!r} appears twice after NFC normalisation")
        return dict(items)
    if t is list or t is tuple:
        return [canonicalize(v, _depth + 1) for v in value]
    if isinstance(value, float):
        raise EncodeError(f"float {value!r} has no canonical encoding; use integers")
    for base, plain in _BASES:
        if isinstance(value, base):
            return canonicalize(plain(value), _depth)
    raise EncodeError(f"type {type(value).__name__} has no canonical encoding")


def encode(value: Any) -> bytes:
    """Encode ``value`` canonically.

    Raises:
        EncodeError: ``value`` holds something without a canonical encoding (see ``canonicalize``).
    """
    return msgpack.packb(canonicalize(value), use_bin_type=True)  # type: ignore[no-any-return]


def _pairs(pairs: list[tuple[Any, Any]]) -> dict[Any, Any]:
    # Keys must be text, strictly increasing by UTF-8 bytes: that is both the sort rule and the
    # duplicate check, done while decoding so a later re-encode keeps the received order.
    last: bytes | None = None
    for k, _ in pairs:
        if type(k) is not str:
            raise DecodeError(f"map key {k!r} is not text")
        kb = k.encode()  # UTF-8
        if last is not None and kb <= last:
            if kb == last:
                raise DuplicateKey(f"map key {k!r} appears twice")
            raise NonCanonical(f"map key {k!r} is out of order (keys sort by UTF-8 bytes)")
        last = kb
    return dict(pairs)


def _ext(code: int, data: bytes) -> Any:
    raise ExtensionRejected(f"msgpack extension type {code} is not allowed")


_CHECKED = frozenset({float, str, dict, list})
"""The decoded types ``_check`` looks into; ints, bytes, booleans and nil need nothing (a fast path)."""


def _check(value: Any, depth: int) -> None:
    t = type(value)
    if t is float:
        raise FloatRejected(f"float {value!r} found; Linli values carry integers only")
    if t is str:
        if not value.isascii() and not unicodedata.is_normalized("NFC", value):
            raise NonCanonical(f"text {value!r} is not NFC-normalised")
        return
    if t is not dict and t is not list:
        return
    if depth >= MAX_DEPTH:
        raise TooDeep(f"value nests deeper than {MAX_DEPTH} levels")
    if t is dict:
        for k, v in value.items():
            if not k.isascii() and not unicodedata.is_normalized("NFC", k):
                raise NonCanonical(f"map key {k!r} is not NFC-normalised")
            if type(v) in _CHECKED:
                _check(v, depth + 1)
    else:
        for v in value:
            if type(v) in _CHECKED:
                _check(v, depth + 1)


def decode(raw: bytes, max_size: int = MAX_SIZE) -> Any:
    """Decode canonical msgpack bytes, refusing anything that is not canonical.

    Args:
        raw: the bytes received.
        max_size: refuse more bytes than this.

    Raises:
        TooLarge, FloatRejected, DuplicateKey, ExtensionRejected, TooDeep, NonCanonical, DecodeError.
    """
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise DecodeError(f"expected bytes, got {type(raw).__name__}")
    raw = bytes(raw)
    if len(raw) > max_size:
        raise TooLarge(f"{len(raw)} bytes is over the {max_size}-byte limit")
    if not raw:
        raise DecodeError("empty input")
    try:
        value = msgpack.unpackb(
            raw,
            raw=False,
            use_list=True,
            strict_map_key=True,
            object_pairs_hook=_pairs,
            ext_hook=_ext,
            max_bin_len=max_size,
            max_str_len=max_size,
            max_array_len=max_size,
            max_map_len=max_size,
        )
    except DecodeError:
        raise
    except msgpack.ExtraData as exc:
        raise DecodeError(f"{len(raw) - len(exc.extra)} bytes of value followed by trailing bytes") from None
    except (RecursionError, msgpack.StackError):  # both the C unpacker and the pure-Python one raise StackError
        raise TooDeep(f"value nests deeper than {MAX_DEPTH} levels") from None
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise DecodeError(f"malformed msgpack: {str(exc) or type(exc).__name__}") from None
    _check(value, 0)
    # Key order, duplicates, NFC, floats and depth are checked above; re-packing the value as
    # decoded (maps keep the received order) catches the rest: integer widths and str/bin forms.
    if msgpack.packb(value, use_bin_type=True) != raw:
        raise NonCanonical("bytes decode but are not the canonical encoding (integer or length width)")
    return value
