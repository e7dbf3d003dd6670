"""The Starlette app: reads each body within the size limit, then answers a public read on a reader
thread or queues the request for the writer.

One thread owns the district database (its one writer). It takes every request waiting in its queue
(up to ``MAX_GROUP``) and answers them with ``SyncServer.handle_many``: one transaction, one fsync,
for the whole group (group commit), so a burst of kiosks costs one commit rather than one each. The
public reads (``SyncServer.is_read``) never enter that queue: ``SyncServer.handle_read`` answers them
in a worker thread (``asyncio.to_thread``) on a read-only connection, so a health check, a scrape or
an Open311 query never waits behind a push; what an authenticated read must record (last seen) is
handed to the writer with a ``poke``. The event loop only moves bytes. A body over the limit is
refused with 413 as soon as its ``Content-Length`` (or the bytes read so far) says so, without
reading the rest.
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crdt.hlc import system_ms
from edge.store import shutdown_verify_pool
from sync_server.core import HttpRequest, HttpResponse, Limits, SyncServer

__all__ = ["MAX_GROUP", "Writer", "create_app"]

MAX_GROUP = 64

_Item = tuple[HttpRequest, "asyncio.Future[HttpResponse]", asyncio.AbstractEventLoop]
_POKE = "poke"  # a queue item: run a group with no request


class Writer(threading.Thread):
    """The thread that owns the ``SyncServer`` and answers queued requests in groups."""

    def __init__(self, make: Callable[[], SyncServer], max_group: int = MAX_GROUP) -> None:
        super().__init__(name="linli-writer", daemon=True)
        self.make = make
        self.max_group = max_group
        self.queue: queue.Queue[_Item | str | None] = queue.Queue()
        self.ready: Future[SyncServer] = Future()
        self.server: SyncServer | None = None

    def run(self) -> None:
        try:
            server = self.make()
        except BaseException as exc:
            self.ready.set_exception(exc)
            return
        self.server = server
        self.ready.set_result(server)
        try:
            stopping = False
            while not stopping:
                first = self.queue.get()
                if first is None:
                    break
                group = [] if isinstance(first, str) else [first]
                while len(group) < self.max_group:
                    try:
                        item = self.queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is None:
                        stopping = True
                        break
                    if not isinstance(item, str):
                        group.append(item)
                answers = server.handle_many([req for req, _, _ in group])
                for (_, fut, loop), answer in zip(group, answers, strict=True):
                    loop.call_soon_threadsafe(_settle, fut, answer)
        finally:
            server.close()
            shutdown_verify_pool()

    async def submit(self, req: HttpRequest) -> HttpResponse:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[HttpResponse] = loop.create_future()
        self.queue.put((req, fut, loop))
        return await fut

    def poke(self) -> None:
        """Have the writer run a group with no request: it records what the readers handed it (last seen)."""
        self.queue.put(_POKE)


def _settle(fut: asyncio.Future[HttpResponse], answer: HttpResponse) -> None:
    if not fut.done():
        fut.set_result(answer)


async def _read_body(request: Request, limit: int) -> bytes | int:
    """The body, or its size (-1 if unknown) when it is over ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return int(declared)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return -1
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(
    data_dir: str | os.PathLike[str], *, limits: Limits | None = None, wall: Callable[[], int] = system_ms
) -> Starlette:
    """The ASGI app serving the district in ``data_dir``."""
    limits = limits or Limits()
    holder: list[Writer] = []

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        writer = Writer(lambda: SyncServer(data_dir, limits=limits, wall=wall))
        writer.start()
        await asyncio.wrap_future(writer.ready)
        holder.append(writer)
        app.state.writer = writer
        try:
            yield
        finally:
            writer.queue.put(None)
            await asyncio.to_thread(writer.join)

    async def endpoint(request: Request) -> Response:
        body = await _read_body(request, limits.max_body)
        headers = {k.lower(): v for k, v in request.headers.items()}
        if isinstance(body, int):
            req = HttpRequest(request.method, request.url.path, request.url.query, headers, b"", oversize=body)
        else:
            req = HttpRequest(request.method, request.url.path, request.url.query, headers, body)
        writer = holder[0]
        server = writer.server
        if server is not None and server.is_read(req):  # off the writer thread, on a reader connection
            resp = await asyncio.to_thread(server.handle_read, req)
            if server.seen_pending:
                writer.poke()
        else:
            resp = await writer.submit(req)
        extra = {"Connection": "close"} if req.oversize is not None else None
        return Response(resp.body, status_code=resp.status, media_type=resp.content_type, headers=extra)

    methods = ["GET", "POST", "PUT", "DELETE", "PATCH"]
    return Starlette(routes=[Route("/{path:path}", endpoint, methods=methods)], lifespan=lifespan)
