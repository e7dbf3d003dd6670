"""The sync wire, imported by both the client (``edge.sync``) and the district server (``sync_server``).

- bodies are canonical msgpack (``crdt.canonical``), ``application/x-msgpack``; ops travel as ``bin``;
- every request but ``/healthz`` and ``/metrics`` carries
  ``Authorization: Linli-Sig dev=<id>,ts=<unix_ms>,nonce=<16 hex>,sig=<base64>``, the Ed25519
  signature over ``METHOD\\npath[?query]\\nts\\nnonce\\nsha256hex(body)`` (``?query`` only when there
  is one); ``auth_header`` builds it and ``parse_auth`` reads it;
- ``POST /v1/sync`` ``{cursor, push, limit, tree_size, cosignatures}`` answers ``{ops, idx, cursor, heads,
  more, checkpoint, consistency, leaves, inclusion, accepted, rejected, server_time_ms}``; errors are
  ``{error, detail, server_time_ms, ...}``.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from crdt.canonical import decode, encode
from crdt.errors import SignatureError
from crdt.keys import DeviceKey, device_id, verify_signature

__all__ = [
    "CONTENT_TYPE",
    "ENROLL_PATH",
    "MAX_ANSWER",
    "SYNC_PATH",
    "TS_WINDOW_MS",
    "AuthClaim",
    "EnrollAnswer",
    "Rejection",
    "SyncAnswer",
    "auth_header",
    "pack",
    "parse_auth",
    "signing_bytes",
    "unpack",
]

SYNC_PATH = "/v1/sync"
ENROLL_PATH = "/v1/enroll"
CONTENT_TYPE = "application/x-msgpack"
TS_WINDOW_MS = 5 * 60_000
MAX_ANSWER = 64 * 1024 * 1024


def pack(value: Any) -> bytes:
    """Canonical msgpack of a message."""
    return encode(value)


def unpack(raw: bytes, max_size: int) -> Any:
    """Decode a canonical msgpack message of at most ``max_size`` bytes (raises ``crdt`` DecodeError)."""
    return decode(raw, max_size=max_size)


def signing_bytes(method: str, path_query: str, ts_ms: int, nonce: str, body: bytes) -> bytes:
    """The bytes a request signature covers."""
    return f"{method}\n{path_query}\n{ts_ms}\n{nonce}\n{hashlib.sha256(body).hexdigest()}".encode()


def auth_header(key: DeviceKey, method: str, path_query: str, body: bytes, ts_ms: int, nonce: str | None = None) -> str:
    """The ``Authorization`` value for a request."""
    nonce = nonce or secrets.token_hex(8)
    sig = key.sign(signing_bytes(method, path_query, ts_ms, nonce, body))
    return f"Linli-Sig dev={key.device_id},ts={ts_ms},nonce={nonce},sig={base64.b64encode(sig).decode()}"


@dataclass(frozen=True)
class AuthClaim:
    """A parsed ``Linli-Sig`` header."""

    dev: str
    ts_ms: int
    nonce: str
    sig: bytes

    def verify(self, pubkey: bytes, method: str, path_query: str, body: bytes) -> None:
        """Raise ``SignatureError`` unless ``pubkey`` is this device's and signed this request."""
        if device_id(pubkey) != self.dev:
            raise SignatureError(f"the key does not belong to device {self.dev}")
        verify_signature(pubkey, self.sig, signing_bytes(method, path_query, self.ts_ms, self.nonce, body))


def parse_auth(value: str | None) -> AuthClaim:
    """Read a ``Linli-Sig`` header.

    Raises:
        ValueError: the header is missing or malformed (the message says which part).
    """
    if not value:
        raise ValueError("no Authorization header")
    scheme, _, rest = value.partition(" ")
    if scheme != "Linli-Sig":
        raise ValueError(f"authorization scheme {scheme[:20]!r} is not Linli-Sig")
    parts: dict[str, str] = {}
    for item in rest.split(","):
        k, eq, v = item.strip().partition("=")
        if not eq or k in parts:
            raise ValueError(f"authorization field {item.strip()[:20]!r} is malformed or repeated")
        parts[k] = v
    if set(parts) != {"dev", "ts", "nonce", "sig"}:
        raise ValueError(f"authorization fields are {sorted(parts)}, not dev, ts, nonce, sig")
    ts, nonce = parts["ts"], parts["nonce"]
    if not ts.isdigit() or len(ts) > 16:
        raise ValueError(f"ts {ts[:20]!r} is not unix milliseconds")
    if len(nonce) != 16 or any(c not in "0123456789abcdef" for c in nonce):
        raise ValueError(f"nonce {nonce[:20]!r} is not 16 lower-case hex digits")
    try:
        sig = base64.b64decode(parts["sig"], validate=True)
    except ValueError:
        raise ValueError("sig is not base64") from None
    if len(sig) != 64 or len(parts["dev"]) != 26:
        raise ValueError("sig is not 64 bytes or dev is not a device id")
    return AuthClaim(parts["dev"], int(ts), nonce, sig)


class _Msg(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)


class Rejection(_Msg):
    dev: str
    scope: str
    seq: int
    code: str
    detail: str


class SyncAnswer(_Msg):
    """A ``/v1/sync`` answer."""

    ops: list[bytes]
    idx: list[int]
    cursor: int = Field(ge=0)
    heads: dict[str, int]
    more: bool
    checkpoint: Any = None
    accepted: list[int]
    rejected: list[Rejection]
    server_time_ms: int
    behind: dict[str, int] = Field(default_factory=dict)  # own streams the server holds more of (a restore)
    behind_hashes: dict[str, list[bytes]] = Field(default_factory=dict)  # their op hashes, from the device's belief
    epoch: int = Field(default=0, ge=0)  # how often the district was restored from an older copy
    relay_heads: dict[str, int] = Field(default_factory=dict)  # the district's own heads, after a restore


class EnrollAnswer(_Msg):
    """A ``/v1/enroll`` answer."""

    device: str
    community: str
    role: str
    scopes: list[str]
    district_pubkey: bytes = Field(min_length=32, max_length=32)
    server_time_ms: int
    district: str = ""
