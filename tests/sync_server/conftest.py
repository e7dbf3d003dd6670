"""Fixtures of the sync server tests: a district on a fake clock, and enrolled nodes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edge.node import Node
from sync_server.core import InProcessTransport, SyncServer

from .helpers import Clock, enrolled_node, make_district


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def district(tmp_path: Path, clock: Clock) -> Iterator[SyncServer]:
    server = make_district(tmp_path / "district", clock=clock)
    yield server
    server.close()


@pytest.fixture
def transport(district: SyncServer) -> InProcessTransport:
    return InProcessTransport(district)


@pytest.fixture
def make_node(tmp_path: Path, district: SyncServer, clock: Clock) -> Iterator[Callable[[str, str], Node]]:
    nodes: list[Node] = []

    def make(name: str, community: str = "a") -> Node:
        node = enrolled_node(district, tmp_path / name, community, clock=clock)
        nodes.append(node)
        return node

    yield make
    for node in nodes:
        node.close()
