"""Public reads are answered on a read-only connection off the writer thread, so they never wait behind a push.

The writer is held busy by a test double (its ``handle_many`` waits on an event the test holds); the reads
must complete while it is held, and the push only after it is let go: ordering, not speed.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from starlette.applications import Starlette

from edge.node import Node
from edge.store import connect
from edge.sync import auth_header, enroll, pack, unpack
from sync_server.app import create_app
from sync_server.core import HttpRequest, InProcessTransport, SyncServer

from .helpers import make_district, token

WAIT_S = 60  # only so that a broken build fails instead of hanging; no assertion is about time


async def call(app: Starlette, method: str, target: str, headers: dict[str, str] | None = None, body: bytes = b""):
    """One HTTP request straight into the ASGI app: ``(status, body)``."""
    path, _, query = target.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        + [(b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8470),
    }
    sent = False
    status, chunks = 0, []

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # no disconnect while the answer is awaited

    async def send(message):
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


def test_public_gets_answer_while_the_writer_is_held_busy(tmp_path: Path) -> None:
    data = tmp_path / "district"
    setup = make_district(data)
    setup.node.add_item("SOAP", "肥皂", "Soap", kind="supply", scope="district")
    kiosk = Node.init(tmp_path / "k", "a")
    enroll(kiosk, InProcessTransport(setup), "http://d", token(setup, "a"))
    setup.close()
    app = create_app(data)
    entered, release = threading.Event(), threading.Event()

    async def scenario() -> dict[str, tuple[int, bytes]]:
        async with app.router.lifespan_context(app):
            server: SyncServer = app.state.writer.server
            real = server.handle_many

            def held(reqs):  # the writer's group: wait until the test lets it go
                entered.set()
                assert release.wait(WAIT_S)
                return real(reqs)

            server.handle_many = held  # type: ignore[method-assign]
            push = asyncio.create_task(call(app, "POST", "/v1/sync", body=pack({"cursor": 0})))
            assert await asyncio.to_thread(entered.wait, WAIT_S)  # the writer is inside a group, held
            sku = "/v1/district/availability?sku=SOAP"
            signed = {"Authorization": auth_header(kiosk.store.ident.key, "GET", sku, b"", kiosk.store.wall())}
            answers = {}
            for target, headers in [
                ("/healthz", None),
                ("/metrics", None),
                ("/v1/audit/checkpoint", None),
                ("/open311/v2/requests.json", None),
                (sku, signed),
            ]:
                answers[target] = await asyncio.wait_for(call(app, "GET", target, headers), WAIT_S)
            assert not push.done() and not release.is_set()  # every read answered while the writer was held
            look = connect(data / "edge.sqlite3", readonly=True)
            try:  # the read's last-seen time waits for the writer: only the enrolment's is there
                assert look.execute("SELECT requests FROM seen WHERE dev=?", (kiosk.dev,)).fetchone()[0] == 1
            finally:
                look.close()
            release.set()
            answers["push"] = await asyncio.wait_for(push, WAIT_S)
            return answers

    answers = asyncio.run(scenario())
    assert {t: s for t, (s, _) in answers.items()} == {
        "/healthz": 200,
        "/metrics": 200,
        "/v1/audit/checkpoint": 200,
        "/open311/v2/requests.json": 200,
        "/v1/district/availability?sku=SOAP": 200,
        "push": 401,
    }
    assert answers["/healthz"][1] == b"ok\n" and b"linli_ops_stored" in answers["/metrics"][1]
    stock = unpack(answers["/v1/district/availability?sku=SOAP"][1], 1 << 20)
    assert [c["community"] for c in stock["communities"]] == ["a", "district"]
    # The writer recorded the read's nonce and last-seen time once it was let go (before it stopped).
    check = SyncServer(data)
    try:
        assert check.node.conn.execute("SELECT requests FROM seen WHERE dev=?", (kiosk.dev,)).fetchone()[0] == 2
        assert check.node.conn.execute("SELECT COUNT(*) FROM nonces WHERE dev=?", (kiosk.dev,)).fetchone()[0] == 2
    finally:
        check.close()
        kiosk.close()


def test_a_read_through_the_sans_io_handle_records_its_last_seen_at_once(district: SyncServer, make_node) -> None:
    node = make_node("k", "a")
    district.node.add_item("SOAP", "肥皂", "Soap", kind="supply", scope="district")
    path = "/v1/district/availability?sku=SOAP"
    header = auth_header(node.store.ident.key, "GET", path, b"", node.store.wall())
    resp = district.handle(HttpRequest("GET", path.split("?")[0], "sku=SOAP", {"authorization": header}))
    assert resp.status == 200 and not district.seen_pending
    requests = district.node.conn.execute("SELECT requests FROM seen WHERE dev=?", (node.dev,)).fetchone()[0]
    assert requests == 2  # the enrolment and this read
    assert district.is_read(HttpRequest("GET", "/healthz")) and not district.is_read(HttpRequest("POST", "/v1/sync"))
    assert not district.is_read(HttpRequest("POST", "/v1/audit/cosignature"))
