"""The server, sans-IO: ``SyncServer.handle(HttpRequest) -> HttpResponse``.

The Starlette app (``app``) and the in-process transport of the tests and the simulation
(``InProcessTransport``) both call it. Every request that may write runs on one thread that owns the
district node's database connection (one writer, ``handle_many``); the public reads (``is_read``:
``/healthz``, ``/metrics``, availability, Open311, the audit ``GET`` s) run on read-only connections
(``handle_read``, ``sync_server.readers``) on any thread, so they never wait behind a push. Errors map
to ``{error, detail, server_time_ms, ...}`` bodies with the status their class carries. The
district's tables are read only through ``edge.reads``; the server's own (``sync_server.schema``) are
its business.
"""

from __future__ import annotations

import logging
import os
import queue
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from crdt.hlc import system_ms
from edge.errors import NotInitialised
from edge.node import Node
from edge.reads import max_index
from edge.sync import AuthClaim, pack
from sync_server.audit.routes import AUDIT_ROUTES, PendingSync, ServerAudit
from sync_server.auth import Gate
from sync_server.availability import handle_availability
from sync_server.enroll import handle_enroll
from sync_server.errors import MethodNotAllowed, NotFound, PayloadTooLarge, SetupError, SyncError
from sync_server.exchange import handle_sync
from sync_server.http_types import HttpRequest, HttpResponse, Limits
from sync_server.metrics import CONTENT_TYPE as METRICS_TYPE
from sync_server.metrics import Metrics
from sync_server.open311 import PREFIX as OPEN311_PREFIX
from sync_server.open311 import handle_open311
from sync_server.readers import Readers
from sync_server.schema import migrate_server

__all__ = ["HttpRequest", "HttpResponse", "InProcessTransport", "Limits", "SyncServer"]


log = logging.getLogger("linli.server")

_ROUTES: dict[str, str] = {"/healthz": "GET", "/metrics": "GET", "/v1/enroll": "POST", "/v1/sync": "POST"}
_ROUTES.update(AUDIT_ROUTES)  # sync_server.audit.routes: public, no request signature
AVAILABILITY_PATH = "/v1/district/availability"
_ROUTES[AVAILABILITY_PATH] = "GET"  # sync_server.availability
_WRITES = frozenset(("/v1/enroll", "/v1/sync", "/v1/audit/cosignature"))
READS = frozenset(path for path, method in _ROUTES.items() if method == "GET")
"""The ``GET`` paths answered on a reader connection, off the writer thread (and ``OPEN311_PREFIX``)."""


class SyncServer:
    """The district server over a data directory made by ``linli-server init``.

    Raises:
        SetupError: no node there, or not a district node.
    """

    def __init__(
        self, data_dir: str | os.PathLike[str], *, limits: Limits | None = None, wall: Callable[[], int] = system_ms
    ) -> None:
        try:
            self.node = Node.open(data_dir, wall=wall)
        except NotInitialised as exc:
            raise SetupError("not_initialised", f"{exc}; run 'linli-server init --data DIR --district NAME'") from None
        if self.node.role != "district":
            self.node.close()
            raise SetupError("not_district", f"the node in {data_dir} is a {self.node.role}, not a district")
        self.limits = limits or Limits()
        self.wall = wall
        migrate_server(self.node.conn)
        self.gate = Gate(
            self.node.conn, wall, window_ms=self.limits.window_ms, rate=self.limits.rate_per_s, burst=self.limits.burst
        )
        self.metrics = Metrics()
        for dev, ms in self.node.conn.execute("SELECT dev, last_seen_ms FROM seen"):
            self.metrics.seen(dev, int(ms))
        self.readers = Readers(self.node.store.path)
        self._seen: queue.SimpleQueue[AuthClaim] = queue.SimpleQueue()
        try:
            self.audit = ServerAudit(self)  # catches the Merkle log up and signs a checkpoint
        except SyncError:
            self.node.close()
            raise

    def close(self) -> None:
        self.readers.close()
        self.node.close()

    @staticmethod
    def is_read(req: HttpRequest) -> bool:
        """Whether ``req`` is a public read, answered by ``handle_read`` on a reader connection."""
        return req.path.startswith(OPEN311_PREFIX) or (req.method == "GET" and req.path in READS)

    def seen_later(self, claim: AuthClaim) -> None:
        """Record ``claim``'s nonce and last-seen time at the writer's next group (from a reader thread)."""
        self.metrics.seen(claim.dev, self.wall())
        self._seen.put(claim)

    @property
    def seen_pending(self) -> bool:
        """Whether a reader handed the writer last-seen records it has not written yet."""
        return not self._seen.empty()

    def error(self, exc: SyncError) -> HttpResponse:
        body: dict[str, Any] = {"error": exc.code, "detail": exc.detail, "server_time_ms": self.wall()}
        body.update(exc.extra)
        return HttpResponse(exc.status, pack(body))

    def handle(self, req: HttpRequest) -> HttpResponse:
        """Answer one request on this thread (never raises for a bad request): a public read on a reader
        connection, anything else as a group of one on the writer connection."""
        if not self.is_read(req):
            return self.handle_many([req])[0]
        resp = self.handle_read(req)
        if self.seen_pending:
            self.handle_many([])
        return resp

    def handle_read(self, req: HttpRequest) -> HttpResponse:
        """Answer a public read (``is_read``) on a reader connection; safe on any thread, never raises.

        It writes nothing: an authenticated read hands its nonce and last-seen time to the writer
        (``seen_later``), which records them in its next group.
        """
        try:
            with self.readers.snapshot() as conn:
                resp = self._one(req, conn)
        except sqlite3.Error as exc:
            log.exception("read %s failed", req.path[:100])
            resp = self.error(SyncError("internal", f"database: {type(exc).__name__}: {str(exc)[:200]}"))
        assert isinstance(resp, HttpResponse)  # a read is never a pending sync
        self.metrics.request(req.path if req.path in _ROUTES else "other", resp.status)
        return resp

    def handle_many(self, reqs: list[HttpRequest]) -> list[HttpResponse]:
        """Answer a group of requests in one write transaction (group commit, see ``db``).

        Each request is all-or-nothing on its own (its handler's savepoint); the group is durable
        before any answer leaves. If the database fails, every request of the group gets 500.
        """
        conn = self.node.conn
        seen: list[AuthClaim] = []
        while not self._seen.empty():
            seen.append(self._seen.get())
        writes = bool(seen) or any(r.path in _WRITES and r.oversize is None for r in reqs)
        out: list[HttpResponse] = []
        try:
            if writes:
                conn.execute("BEGIN IMMEDIATE")
            for claim in seen:  # the nonces and last-seen times of the reads answered since the last group
                self.gate.mark_seen(conn, claim)
            # One checkpoint signed for the group completes every sync answer (see audit_routes).
            out = self.audit.finish(conn, [self._one(req) for req in reqs])
            if writes:
                conn.execute("COMMIT")
        except sqlite3.Error as exc:  # nothing of the group is kept
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            log.exception("group of %d requests failed", len(reqs))
            failed = self.error(SyncError("internal", f"database: {type(exc).__name__}: {str(exc)[:200]}"))
            out = [failed for _ in reqs]
        for req, resp in zip(reqs, out, strict=True):
            self.metrics.request(req.path if req.path in _ROUTES else "other", resp.status)
        return out

    def _one(self, req: HttpRequest, reader: sqlite3.Connection | None = None) -> HttpResponse | PendingSync:
        t0 = time.perf_counter()
        resp: HttpResponse | PendingSync
        try:
            resp = self._route(req) if reader is None else self._read(req, reader)
        except SyncError as exc:
            resp = self.error(exc)
        except sqlite3.OperationalError:
            raise  # the database itself (locked, full, gone): fail the whole group
        except Exception as exc:  # a bug: answer 500 for this request, keep serving, log it
            log.exception("error handling %s %s", req.method, req.path[:100])
            resp = self.error(SyncError("internal", f"{type(exc).__name__}: {str(exc)[:200]}"))
        if req.path == "/v1/sync":
            self.metrics.sync_time(time.perf_counter() - t0)
        return resp

    def _check(self, req: HttpRequest) -> None:
        method = _ROUTES.get(req.path)
        if method is None:
            raise NotFound("not_found", f"no such path {req.path[:100]!r}")
        if req.method != method:
            raise MethodNotAllowed("method", f"{req.path} takes {method}, not {req.method[:10]}")
        size = req.oversize if req.oversize is not None else len(req.body)
        if req.oversize is not None or size > self.limits.max_body:
            got = f"{size} bytes" if size >= 0 else "more bytes"
            raise PayloadTooLarge("too_large", f"body of {got} is over the {self.limits.max_body}-byte limit")

    def _read(self, req: HttpRequest, conn: sqlite3.Connection) -> HttpResponse:
        """A public read, from the reader connection ``conn``."""
        if req.path.startswith(OPEN311_PREFIX):  # public, read-only, JSON/XML (sync_server.open311)
            return HttpResponse(*handle_open311(self, req, conn))
        self._check(req)
        if req.path == "/healthz":
            conn.execute("SELECT 1").fetchone()
            return HttpResponse(200, b"ok\n", "text/plain; charset=utf-8")
        if req.path == "/metrics":
            return HttpResponse(200, self.metrics.render(max_index(conn)), METRICS_TYPE)
        if req.path == AVAILABILITY_PATH:
            return HttpResponse(200, pack(handle_availability(self, req, conn)))
        return self.audit.read(req, conn)

    def _route(self, req: HttpRequest) -> HttpResponse | PendingSync:
        """A request on the writer connection (a public read given here is read there, as part of the group)."""
        if self.is_read(req):
            return self._read(req, self.node.conn)
        self._check(req)
        if req.path == "/v1/enroll":
            return HttpResponse(200, pack(handle_enroll(self, req)))
        if req.path in AUDIT_ROUTES:
            return self.audit.route(req)
        return handle_sync(self, req)  # completed by self.audit.finish with the group's checkpoint


class InProcessTransport:
    """An ``edge.sync.Transport`` that calls a ``SyncServer`` directly (tests, simulation)."""

    def __init__(self, server: SyncServer) -> None:
        self.server = server

    def request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        path_only, _, query = path.partition("?")
        req = HttpRequest(method, path_only, query, {k.lower(): v for k, v in headers.items()}, body)
        resp = self.server.handle(req)
        return resp.status, resp.body
