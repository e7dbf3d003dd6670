"""The public audit endpoints of the district server (``docs/server.md``), sans-IO: request in, response out.

``handle(log, method, target, body)`` answers

* ``GET /v1/audit/checkpoint[?size=N]``: the latest (or size ``N``) signed checkpoint with its cosignature
  lines, ``text/plain``;
* ``GET /v1/audit/consistency?old=N&new=M``: msgpack ``{old, new, proof: [hash…]}``;
* ``GET /v1/audit/inclusion?index=I&size=N``: msgpack ``{index, size, leaf, proof: [hash…]}`` (``leaf`` is the
  RFC 9162 leaf hash);
* ``POST /v1/audit/cosignature`` with msgpack ``{size, line}``: a witness's cosignature, verified against a
  registered witness key or an enrolled kiosk's key before it is kept; answers ``{size, witness,
  timestamp, stored}``.

Bodies are canonical msgpack (``edge.sync.pack``/``unpack``, a cosignature body of at most ``MAX_COSIGN_BODY``
bytes). Errors are msgpack ``{error, detail}`` with 400 (malformed), 403 (unknown witness) or 404 (no such
checkpoint or endpoint). The server's route is one line: ``status, ctype, out = handle(log, request.method,
path_with_query, await request.body())``. These endpoints carry hashes and signatures only, no personal
data, and need no request signature.
"""

from __future__ import annotations

import sqlite3
from typing import Any
from urllib.parse import parse_qs

from crdt.errors import CRDTError
from edge.errors import InputError, Refused, UnknownEntity
from edge.sync import pack, unpack
from sync_server.audit.log import MAX_COSIGN_BODY, AuditLog

__all__ = ["MSGPACK", "TEXT", "handle"]

TEXT = "text/plain; charset=utf-8"
MSGPACK = "application/x-msgpack"


def handle(
    log: AuditLog, method: str, target: str, body: bytes = b"", conn: sqlite3.Connection | None = None
) -> tuple[int, str, bytes]:
    """Answer a public audit request: ``GET /v1/audit/checkpoint[?size=N]``, ``GET /v1/audit/consistency?
    old=N&new=M``, ``GET /v1/audit/inclusion?index=I&size=N``, ``POST /v1/audit/cosignature``.

    ``conn``: the connection of a write transaction already open on the log's database (a server's group
    commit), in which a cosignature is kept; else the cosignature gets a transaction of its own.

    Returns:
        ``(status, content type, body)``; errors are msgpack ``{error, detail}`` (400, 403, 404).
    """
    path, _, query = target.partition("?")
    try:
        params = parse_qs(query, strict_parsing=bool(query), max_num_fields=4)
    except ValueError:
        return _error(400, "malformed", f"query string {query[:80]!r} is malformed")
    try:
        if method == "GET" and path == "/v1/audit/checkpoint":
            size = _param(params, "size", required=False)
            return 200, TEXT, log.checkpoint_with_cosignatures(size).encode("utf-8")
        if method == "GET" and path == "/v1/audit/consistency":
            old, new = _param(params, "old"), _param(params, "new")
            return _ok({"old": old, "new": new, "proof": log.consistency(old, new)})
        if method == "GET" and path == "/v1/audit/inclusion":
            index, size = _param(params, "index"), _param(params, "size")
            proof = log.inclusion(index, size)
            return _ok({"index": index, "size": size, "leaf": log.leaf(index), "proof": proof})
        if method == "POST" and path == "/v1/audit/cosignature":
            return _ok(log.add_cosignature(*_cosign_body(body), conn=conn))
    except UnknownEntity as exc:
        return _error(404, "not_found", str(exc))
    except Refused as exc:
        return _error(403, "unknown_witness", str(exc))
    except InputError as exc:
        return _error(400, "malformed", str(exc))
    return _error(404, "not_found", f"no audit endpoint {method} {path}")


def _ok(value: dict[str, Any]) -> tuple[int, str, bytes]:
    return 200, MSGPACK, pack(value)


def _error(status: int, code: str, detail: str) -> tuple[int, str, bytes]:
    return status, MSGPACK, pack({"error": code, "detail": detail})


def _param(params: dict[str, list[str]], name: str, required: bool = True) -> Any:
    values = params.get(name)
    if not values:
        if required:
            raise InputError(f"query parameter {name!r} is missing")
        return None
    text = values[0]
    if not text.isdigit() or len(text) > 18:
        raise InputError(f"query parameter {name}={text[:40]!r} is not a non-negative integer")
    return int(text)


def _cosign_body(body: bytes) -> tuple[int, str]:
    if len(body) > MAX_COSIGN_BODY:
        raise InputError(f"a cosignature body has at most {MAX_COSIGN_BODY} bytes, got {len(body)}")
    try:
        value = unpack(body, MAX_COSIGN_BODY)
    except CRDTError as exc:
        raise InputError(f"the cosignature body is not canonical msgpack: {exc}") from None
    if not isinstance(value, dict):
        raise InputError("the cosignature body is not a map {size, line}")
    size, line = value.get("size"), value.get("line")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0 or not isinstance(line, str):
        raise InputError("the cosignature body needs size (int) and line (text)")
    return size, line
