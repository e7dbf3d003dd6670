"""The signed audit at the district server (``docs/audit.md``): log, sync fields, public routes.

``ServerAudit`` wires ``sync_server.audit.log.AuditLog`` into ``SyncServer``:

- at start it catches the Merkle tree up with the op log and signs a checkpoint, so that
  ``GET /v1/audit/checkpoint`` always has one;
- inside each ``/v1/sync`` request's savepoint (``receive``) it appends the ops just accepted (log order,
  the district's own ops included) and keeps the cosignatures the request carries, once verified;
- the sync handler answers with a ``PendingSync``; after every request of a group has run, ``finish``
  signs one checkpoint for the group, inside the group's transaction, and completes each sync answer
  with ``checkpoint``, ``consistency``, ``leaves`` and ``inclusion`` (so the signature covers every op
  the answers report as accepted, and it is durable before any answer leaves);
- ``read`` answers the public ``GET /v1/audit/*`` requests (no request signature: hashes and signatures
  only) with ``sync_server.audit.http.handle`` on a reader connection, off the writer thread; ``route``
  keeps a ``POST /v1/audit/cosignature`` on the writer.

A damaged log (a gap in ``ops.idx``, fewer ops than leaves) stops the append with ``StoreError``: the
request that met it fails with 500 and nothing it pushed is kept; the answers of a group whose
checkpoint could not be signed are 500 ``audit_log``.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from edge.audit.names import district_origin
from edge.errors import EdgeError, InputError
from edge.sync import pack
from sync_server.audit.http import handle
from sync_server.audit.log import AuditLog
from sync_server.db import atomic
from sync_server.errors import SetupError, SyncError
from sync_server.http_types import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from edge.node import Node
    from sync_server.core import SyncServer

__all__ = ["AUDIT_ROUTES", "PendingSync", "ServerAudit", "open_log"]

AUDIT_ROUTES: dict[str, str] = {
    "/v1/audit/checkpoint": "GET",
    "/v1/audit/consistency": "GET",
    "/v1/audit/inclusion": "GET",
    "/v1/audit/cosignature": "POST",
}

log = logging.getLogger("linli.server.audit")


def open_log(node: Node, wall: Callable[[], int] | None = None) -> AuditLog:
    """The district's ``AuditLog``: signed with its node key under ``linli.district/<district name>``.

    Raises:
        SetupError: the district's name cannot name a checkpoint origin (a space or ``+`` in it).
    """
    store = node.store
    name = str(store.get("district_name") or "")
    try:
        origin = district_origin(name)
    except InputError as exc:
        raise SetupError("bad_district_name", str(exc)) from None
    return AuditLog(store, store.ident.key, origin, wall=wall)


@dataclass(frozen=True)
class PendingSync:
    """A ``/v1/sync`` answer waiting for the group's checkpoint (``ServerAudit.finish`` completes it)."""

    answer: dict[str, Any]
    tree_size: int = 0
    push: list[bytes] = field(default_factory=list)


class ServerAudit:
    """The district's audit log as the server uses it.

    Args:
        server: the server; its node's key signs checkpoints under ``linli.district/<district name>``.

    Raises:
        SetupError: the district's name cannot name a checkpoint origin (a space or ``+`` in it).
    """

    def __init__(self, server: SyncServer) -> None:
        self.server = server
        self.log = open_log(server.node, server.wall)
        try:
            self.log.checkpoint()
        except EdgeError as exc:  # keep serving: syncs will fail and name it, audit reads still answer
            log.error("the district's audit log is damaged: %s", exc)

    def route(self, req: HttpRequest) -> HttpResponse:
        """Answer a ``POST /v1/audit/cosignature`` on the writer: kept in a savepoint of the group's transaction."""

        with atomic(self.server.node.conn) as conn:
            status, content_type, body = handle(self.log, req.method, req.path_query, req.body, conn)
        return HttpResponse(status, body, content_type)

    def read(self, req: HttpRequest, conn: sqlite3.Connection) -> HttpResponse:
        """Answer a public ``GET /v1/audit/*`` from a reader connection ``conn`` (off the writer thread)."""

        reader = AuditLog(self.log.store, self.log.signer, self.log.origin, wall=self.log.wall, conn=conn)
        status, content_type, body = handle(reader, req.method, req.path_query)
        return HttpResponse(status, body, content_type)

    def receive(self, conn: sqlite3.Connection, cosignatures: list[Any]) -> list[dict[str, Any]]:
        """In a sync request's savepoint: append the accepted ops as leaves, keep the cosignatures.

        Returns:
            What became of each cosignature (``AuditLog.receive_cosignatures``).

        Raises:
            StoreError: the op log is damaged (a gap, or ops deleted): the request must fail.
        """
        self.log.catch_up(conn)
        if not cosignatures:
            return []
        results = self.log.receive_cosignatures(cosignatures, conn)
        for r in results:
            if "error" in r:
                log.info("cosignature of checkpoint %s refused: %s", r.get("size"), r["error"])
        return results

    def finish(self, conn: sqlite3.Connection, out: list[HttpResponse | PendingSync]) -> list[HttpResponse]:
        """Sign one checkpoint for the group and complete its sync answers (inside its transaction)."""

        if not any(isinstance(r, PendingSync) for r in out):
            return [r for r in out if isinstance(r, HttpResponse)]
        try:
            with atomic(conn) as c:
                self.log.checkpoint(c)
            filled = {
                i: HttpResponse(200, pack({**r.answer, **self.log.sync_fields(r.tree_size, r.push)}))
                for i, r in enumerate(out)
                if isinstance(r, PendingSync)
            }
        except EdgeError as exc:
            log.error("no checkpoint could be signed: %s", exc)
            failed = self.server.error(SyncError("audit_log", f"the district's audit log is damaged: {exc}"))
            filled = {i: failed for i, r in enumerate(out) if isinstance(r, PendingSync)}
        return [filled[i] if isinstance(r, PendingSync) else r for i, r in enumerate(out)]
