"""Signed operations: the envelope of ``docs/design.md`` §2.1.

An op is the msgpack array ``[body, sig]``; ``body`` is the canonical encoding of
``{v, dev, scope, seq, prev, hlc, actor, type, obj, data}``; ``sig`` is the device's Ed25519
signature of ``body``; the op hash is SHA-256(body ‖ sig). Ops are kept and sent as these exact
bytes (``Op.raw``); every field is read from bytes that were checked to be canonical.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import msgpack

from .canonical import MAX_SIZE, decode, encode
from .errors import DecodeError, EnvelopeError, SignatureError, TooLarge
from .keys import DeviceKey, device_id, verify_signature

__all__ = ["ENVELOPE_KEYS", "ZERO_HASH", "Op", "decode_op", "op_hash", "sign_op", "verify_op"]

ZERO_HASH = bytes(32)
ENVELOPE_KEYS = frozenset({"v", "dev", "scope", "seq", "prev", "hlc", "actor", "type", "obj", "data"})
_DEV = re.compile(r"[a-z2-7]{26}")
_NAME = re.compile(r"[a-z0-9][a-z0-9_.\-]{0,63}")
_TYPE = re.compile(r"[a-z_]{1,32}\.[a-z_]{1,32}")
_MAX_TEXT = 128


@dataclass(frozen=True, slots=True)
class Op:
    """A decoded, canonical op. ``raw`` is the exact bytes; ``hash`` identifies it."""

    dev: str
    scope: str
    seq: int
    prev: bytes
    hlc: tuple[int, int]
    actor: str | None
    type: str
    obj: str
    data: dict[str, Any]
    body: bytes = field(repr=False)
    sig: bytes = field(repr=False)
    raw: bytes = field(repr=False)
    hash: bytes = field(repr=False)

    @property
    def stream(self) -> tuple[str, str]:
        """The op's stream ``(dev, scope)``."""
        return (self.dev, self.scope)

    @property
    def stamp(self) -> tuple[int, int, str]:
        """The LWW order key ``(wall_ms, counter, dev)``."""
        return (self.hlc[0], self.hlc[1], self.dev)

    @property
    def id(self) -> str:
        """The op hash in hex."""
        return self.hash.hex()

    def where(self) -> str:
        """``dev/scope#seq``, for messages."""
        return f"{self.dev}/{self.scope}#{self.seq}"


def _hash(body: bytes, sig: bytes) -> bytes:
    return hashlib.sha256(body + sig).digest()


def op_hash(raw: bytes) -> bytes:
    """The op hash ``SHA-256(body ‖ sig)`` of op bytes, read from the outer array ``[body, sig]`` only.

    Nothing else is checked (not the envelope, the signature, nor that the bytes are canonical), so it
    names what a peer sent before it is validated: ``decode_op(raw).hash == op_hash(raw)`` for every op.

    Raises:
        DecodeError: ``raw`` is not bytes, is over ``MAX_SIZE``, or is not a msgpack array of two bin values.
    """
    if not isinstance(raw, bytes):
        raise DecodeError(f"op bytes expected, got {type(raw).__name__}")
    if len(raw) > MAX_SIZE:
        raise TooLarge(f"op of {len(raw)} bytes is over the {MAX_SIZE}-byte limit")
    try:
        outer = msgpack.unpackb(
            raw, raw=False, max_bin_len=MAX_SIZE, max_str_len=MAX_SIZE, max_array_len=2, max_map_len=0, max_ext_len=0
        )
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise DecodeError(f"op bytes are not msgpack: {str(exc)[:100] or type(exc).__name__}") from None
    if type(outer) is not list or len(outer) != 2 or type(outer[0]) is not bytes or type(outer[1]) is not bytes:
        raise DecodeError("an op is the array [body bytes, sig bytes]")
    return _hash(outer[0], outer[1])


_Fields = tuple[str, str, int, bytes, tuple[int, int], "str | None", str, str, dict[str, Any]]


def _envelope(body: dict[str, Any]) -> _Fields:
    if set(body) != ENVELOPE_KEYS:
        missing = sorted(ENVELOPE_KEYS - set(body))
        extra = sorted(set(body) - ENVELOPE_KEYS)
        raise EnvelopeError(f"op body keys wrong: missing {missing}, unexpected {extra}")
    if body["v"] != 1 or type(body["v"]) is not int:
        raise EnvelopeError(f"op version {body['v']!r} is not 1")
    dev, scope, seq, prev = body["dev"], body["scope"], body["seq"], body["prev"]
    if type(dev) is not str or not _DEV.fullmatch(dev):
        raise EnvelopeError(f"dev {dev!r} is not a device id")
    if type(scope) is not str or not _NAME.fullmatch(scope):
        raise EnvelopeError(f"scope {scope!r} is not a scope name")
    if type(seq) is not int or seq < 1:
        raise EnvelopeError(f"seq {seq!r} is not a positive integer")
    if type(prev) is not bytes or len(prev) != 32:
        raise EnvelopeError("prev is not a 32-byte hash")
    hlc = body["hlc"]
    if type(hlc) is not list or len(hlc) != 2 or any(type(x) is not int or x < 0 or x >= 2**63 for x in hlc):
        raise EnvelopeError(f"hlc {hlc!r} is not [wall_ms, counter]")
    actor, typ, obj, data = body["actor"], body["type"], body["obj"], body["data"]
    if actor is not None and (type(actor) is not str or not 0 < len(actor) <= _MAX_TEXT):
        raise EnvelopeError(f"actor {actor!r} is not text or null")
    if type(typ) is not str or not _TYPE.fullmatch(typ):
        raise EnvelopeError(f"type {typ!r} is not a 'domain.action' name")
    if type(obj) is not str or not 0 < len(obj) <= _MAX_TEXT:
        raise EnvelopeError(f"obj {obj!r} is not an entity id")
    if type(data) is not dict:
        raise EnvelopeError("data is not a map")
    if seq == 1 and prev != ZERO_HASH:
        raise EnvelopeError("seq 1 must have prev of 32 zero bytes")
    return dev, scope, seq, prev, (hlc[0], hlc[1]), actor, typ, obj, data


def decode_op(raw: bytes) -> Op:
    """Decode and check the envelope of an op's bytes (the signature is checked by ``verify_op``).

    Raises:
        DecodeError: not canonical msgpack, or over 64 KiB (its subclasses say which).
        EnvelopeError: fields missing, extra or of the wrong type.
    """
    if len(raw) > MAX_SIZE:
        raise TooLarge(f"op of {len(raw)} bytes is over the {MAX_SIZE}-byte limit")
    outer = decode(raw)
    if type(outer) is not list or len(outer) != 2 or type(outer[0]) is not bytes or type(outer[1]) is not bytes:
        raise EnvelopeError("an op is the array [body bytes, sig bytes]")
    body_bytes, sig = outer
    if len(sig) != 64:
        raise EnvelopeError(f"sig has {len(sig)} bytes, not 64")
    body = decode(body_bytes)
    if type(body) is not dict:
        raise EnvelopeError("op body is not a map")
    fields = _envelope(body)
    return Op(*fields, body=body_bytes, sig=sig, raw=raw, hash=_hash(body_bytes, sig))


def verify_op(op: Op, pubkey: bytes) -> None:
    """Raise ``SignatureError`` unless ``op`` was signed by ``pubkey`` and ``pubkey`` is ``op.dev``."""
    if device_id(pubkey) != op.dev:
        raise SignatureError(f"op {op.where()}: key does not belong to device {op.dev}")
    try:
        verify_signature(pubkey, op.sig, op.body)
    except SignatureError:
        raise SignatureError(f"op {op.where()}: signature does not verify") from None


def sign_op(
    key: DeviceKey,
    *,
    scope: str,
    seq: int,
    prev: bytes,
    hlc: tuple[int, int],
    actor: str | None,
    type: str,
    obj: str,
    data: dict[str, Any],
) -> Op:
    """Build, sign and encode an op; the result decodes back to itself."""
    body_map = {
        "v": 1,
        "dev": key.device_id,
        "scope": scope,
        "seq": seq,
        "prev": prev,
        "hlc": [hlc[0], hlc[1]],
        "actor": actor,
        "type": type,
        "obj": obj,
        "data": data,
    }
    body_bytes = encode(body_map)
    body = msgpack.unpackb(body_bytes, raw=False)
    fields = _envelope(body)
    sig = key.sign(body_bytes)
    raw = encode([body_bytes, sig])
    if len(raw) > MAX_SIZE:
        raise DecodeError(f"op of {len(raw)} bytes would be over the {MAX_SIZE}-byte limit")
    return Op(*fields, body=body_bytes, sig=sig, raw=raw, hash=_hash(body_bytes, sig))
