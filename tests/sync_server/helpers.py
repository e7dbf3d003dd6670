"""Shared helpers of the sync tests: a fake clock, a district, enrolled nodes, signed requests.

The live ``linli-server serve`` of the tests that need a real server is ``tests.integration.live``.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from edge.node import Node
from edge.sync import auth_header, enroll, pack, unpack
from sync_server.cli import main as server_main
from sync_server.core import HttpRequest, HttpResponse, InProcessTransport, Limits, SyncServer
from sync_server.enroll import issue_token

ROOT = Path(__file__).resolve().parents[2]
START_MS = 1_750_000_000_000


class Clock:
    """A wall clock the test moves by hand (unix ms)."""

    def __init__(self, start_ms: int = START_MS) -> None:
        self.ms = start_ms

    def __call__(self) -> int:
        return self.ms

    def advance(self, ms: int) -> None:
        self.ms += ms


def make_district(path: Path, *, clock: Clock | None = None, limits: Limits | None = None) -> SyncServer:
    """``linli-server init`` then a ``SyncServer`` on it."""
    if not (path / "device.key").exists():
        assert server_main(["init", "--data", str(path), "--district", "West"]) == 0
    kw: dict[str, Any] = {"limits": limits}
    if clock is not None:
        kw["wall"] = clock
    return SyncServer(path, **kw)


def token(server: SyncServer, community: str, role: str = "kiosk", ttl_ms: int = 3_600_000) -> str:
    return issue_token(server.node.conn, community, role, ttl_ms, server.wall())


def enrolled_node(server: SyncServer, path: Path, community: str, *, clock: Clock | None = None) -> Node:
    """A node initialised for ``community`` and enrolled in-process."""
    kw: dict[str, Any] = {} if clock is None else {"wall": clock}
    node = Node.init(path, community, **kw)
    enroll(node, InProcessTransport(server), "http://district.test", token(server, community))
    return node


def signed(
    node: Node,
    body: bytes,
    *,
    path: str = "/v1/sync",
    ts: int | None = None,
    nonce: str | None = None,
    key: Any = None,
) -> HttpRequest:
    """A request signed by ``node``'s key (or ``key``)."""
    key = key or node.store.ident.key
    ts = node.store.wall() if ts is None else ts
    header = auth_header(key, "POST", path, body, ts, nonce)
    return HttpRequest("POST", path, "", {"authorization": header, "content-type": "application/x-msgpack"}, body)


def sync_body(push: list[bytes] | None = None, cursor: int = 0, limit: int = 1000) -> bytes:
    return pack({"cursor": cursor, "push": push or [], "limit": limit})


def answer(resp: HttpResponse) -> dict[str, Any]:
    value = unpack(resp.body, 64 << 20)
    assert isinstance(value, dict)
    return value


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
