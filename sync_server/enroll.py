"""Enrolment: one-time tokens bound to a community and a role, and ``POST /v1/enroll``.

``issue_token`` stores only the SHA-256 of a new random token, with its community, role and expiry.
A device enrols with ``{token, pubkey, name[, community]}`` signed (``Linli-Sig`` header) by the new
key itself, whose device id the header names: that is the proof of possession. The server then
writes a ``device.enroll`` op (scope ``district``) in the same transaction that spends the token,
so every node learns the key, and answers ``{device, community, role, scopes, district_pubkey,
server_time_ms, district}``. Sending the same token again with the same key answers the same
enrolment (a lost answer can be retried); another key gets ``token_used``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crdt.errors import CRDTError
from crdt.keys import device_id
from edge.domain.devices import next_number
from edge.reads import device
from edge.store import Tx
from edge.store.db import write_tx
from edge.sync import unpack
from sync_server.db import atomic
from sync_server.errors import BadRequest, Conflict, Forbidden, RateLimited, Unauthorized
from sync_server.http_types import HttpRequest

if TYPE_CHECKING:
    from sync_server.core import SyncServer

__all__ = ["ROLES", "EnrollRequest", "handle_enroll", "issue_token", "parse_ttl"]

ROLES = ("kiosk", "staff")
_TTL = re.compile(r"(\d{1,6})([smhd])")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_COMMUNITY = re.compile(r"[a-z0-9][a-z0-9_\-]{0,63}")
MAX_TTL_MS = 30 * 86_400_000


class EnrollRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    token: str = Field(min_length=1, max_length=200)
    pubkey: bytes = Field(min_length=32, max_length=32)
    name: str = Field(min_length=1, max_length=64)
    community: str | None = Field(default=None, max_length=64)


def parse_ttl(text: str) -> int:
    """``"24h"`` → milliseconds (``s``, ``m``, ``h``, ``d``; at most 30 days).

    Raises:
        ValueError: not a duration, or too long.
    """
    m = _TTL.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"ttl {text!r} is not a number followed by s, m, h or d (e.g. 24h)")
    ms = int(m.group(1)) * _UNIT_MS[m.group(2)]
    if not 0 < ms <= MAX_TTL_MS:
        raise ValueError(f"ttl {text!r} must be more than 0 and at most 30 days")
    return ms


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def issue_token(conn: sqlite3.Connection, community: str, role: str, ttl_ms: int, now_ms: int) -> str:
    """A new one-time token; only its hash is stored.

    Raises:
        ValueError: a bad community id or role.
    """
    if not _COMMUNITY.fullmatch(community) or community == "district":
        raise ValueError(f"community id {community!r} must be lower-case letters, digits, '-' or '_', not 'district'")
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
    token = secrets.token_urlsafe(24)
    with write_tx(conn):
        conn.execute(
            "INSERT INTO tokens (hash, community, role, created_ms, expires_ms) VALUES (?, ?, ?, ?, ?)",
            (_token_hash(token), community, role, now_ms, now_ms + ttl_ms),
        )
    return token


def _answer(server: SyncServer, dev: str, community: str, role: str) -> dict[str, Any]:
    node = server.node
    return {
        "device": dev,
        "community": community,
        "role": role,
        "scopes": [community, "district"],
        "district_pubkey": node.store.ident.key.public_bytes,
        "district": str(node.store.get("district_name", "")),
        "server_time_ms": server.wall(),
    }


def handle_enroll(server: SyncServer, req: HttpRequest) -> dict[str, Any]:
    """``POST /v1/enroll``."""
    gate = server.gate
    claim = gate.claim(req.headers.get("authorization"))
    try:
        msg = EnrollRequest.model_validate(unpack(req.body, server.limits.max_body))
    except (CRDTError, ValidationError) as exc:
        raise BadRequest("malformed", f"enrolment body: {str(exc)[:300]}") from None
    dev = device_id(msg.pubkey)
    if dev != claim.dev:
        raise Unauthorized("signature", f"the header names device {claim.dev}, but the key is device {dev}")
    if server.gate.rates.take("enroll", server.wall()) is not None:
        raise RateLimited("rate_limited", "too many enrolments; try again in a second", retry_after_ms=1000)
    gate.verify(claim, msg.pubkey, req.method, req.path_query, req.body)
    now = server.wall()
    conn = server.node.conn
    with atomic(conn):
        row = conn.execute(
            "SELECT community, role, expires_ms, used_ms, used_by FROM tokens WHERE hash=?", (_token_hash(msg.token),)
        ).fetchone()
        if row is None:
            raise Unauthorized("token_invalid", "the enrolment token is not one this district issued")
        community, role, expires, used_ms, used_by = row
        if used_ms is not None and used_by != dev:
            raise Unauthorized("token_used", "the enrolment token was already used by another device")
        if used_ms is None and now > expires:
            raise Unauthorized("token_expired", f"the enrolment token expired {(now - expires) // 60_000} min ago")
        if msg.community is not None and msg.community != community:
            raise Forbidden("community_mismatch", f"the token is for community {community!r}, not {msg.community!r}")
        known = device(conn, dev)
        if known is not None and known.revoked_from_seq is not None:
            raise Unauthorized("revoked", f"device {dev} is revoked (from seq {known.revoked_from_seq})")
        gate.mark_seen(conn, claim)
        if used_ms is not None:  # the same device again: answer the same enrolment
            return _answer(server, dev, community, role)
        if known is not None:
            raise Conflict("already_enrolled", f"device {dev} is already enrolled in community {known.community!r}")
        conn.execute("UPDATE tokens SET used_ms=?, used_by=? WHERE hash=?", (now, dev, _token_hash(msg.token)))
        Tx(server.node.store, conn).emit(
            "district",
            "device.enroll",
            dev,
            # The short number is assigned here, on the district's one writer, in the transaction that
            # writes the enrolment: numbers are unique in the district (ticket code prefixes).
            {"pubkey": msg.pubkey, "community": community, "role": role, "name": msg.name, "number": next_number(conn)},
        )
    server.metrics.seen(dev, now)
    return _answer(server, dev, community, role)
