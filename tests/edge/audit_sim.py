"""In-process audit harness: a district with its ``AuditLog``, kiosks that sync with audit fields, no HTTP.

``audited_sync`` plays one ``/v1/sync`` round the way ``docs/audit.md`` specifies it: the kiosk's request
fields, the push through ``Store.apply_remote`` with ``AuditLog.on_accept``, the cosignatures taken, a
checkpoint signed, the answer's audit fields, the kiosk's ``verify_sync_answer`` before anything is pulled,
then the pull (``relay``).
"""

from __future__ import annotations

import base64
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crdt.keys import DeviceKey
from edge import Node
from edge.audit.client import request_fields, verify_sync_answer
from edge.audit.names import district_origin
from sync_server.audit.http import handle
from sync_server.audit.log import AuditLog
from tests.helpers import make_community, make_district, relay

ORIGIN = district_origin("test")
SERVER = "http://district.test"


class Clock:
    """A wall clock the test moves by hand (ms)."""

    def __init__(self, start: int = 1_750_000_000_000) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += int(minutes * 60_000)


class District:
    """A district node and its audit log (what ``linli-server`` holds)."""

    def __init__(self, node: Node, signer: DeviceKey | None = None) -> None:
        self.node = node
        self.signer = signer or node.store.ident.key
        self.log = AuditLog(node.store, self.signer, ORIGIN)

    @classmethod
    def create(cls, root: Path, wall: Clock | None = None) -> District:
        return cls(make_district(root, wall=wall))

    @property
    def key(self) -> str:
        """The district key as ``linli-server key`` prints it."""
        return base64.b64encode(self.node.store.ident.key.public_bytes).decode("ascii")

    def reopen(self, wall: Clock | None = None) -> District:
        data = self.node.data_dir
        self.node.close()
        kw = {"wall": wall} if wall else {}
        return District(Node.open(data, **kw))

    def fork(self, to: Path, wall: Clock | None = None) -> tuple[District, District]:
        """Close, copy the data directory, and reopen both: one key, two databases from here on."""
        data = self.node.data_dir
        self.node.close()
        shutil.copytree(data, to)
        kw = {"wall": wall} if wall else {}
        return District(Node.open(data, **kw)), District(Node.open(to, **kw))

    def transport(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        status, _, out = handle(self.log, method, path, body)
        return status, out

    def close(self) -> None:
        self.node.close()


def own_ops(node: Node) -> list[bytes]:
    rows = node.conn.execute("SELECT raw FROM ops WHERE dev=? ORDER BY idx", (node.dev,))
    return [bytes(r[0]) for r in rows]


def audited_sync(
    kiosk: Node, district: District, answer_hook: Callable[[dict[str, Any]], dict[str, Any]] | None = None
) -> str:
    """One sync round with audit; returns the kiosk's cosignature line. ``answer_hook`` may tamper."""
    req = request_fields(kiosk.store)
    pushed = own_ops(kiosk)
    res = district.node.store.apply_remote(pushed, on_accept=district.log.on_accept)
    district.log.receive_cosignatures(req["cosignatures"])
    district.log.checkpoint()
    answer = district.log.sync_fields(req["tree_size"], pushed)
    answer["rejected"] = [r.as_dict() for r in res.rejected]
    if answer_hook is not None:
        answer = answer_hook(answer)
    line = verify_sync_answer(kiosk.store, answer, pushed, req["tree_size"], server=SERVER)
    relay(district.node, kiosk)
    return line


def setup(root: Path, communities: str = "ab", wall: Clock | None = None) -> tuple[District, dict[str, Node]]:
    """A district with an item in its catalogue and kiosks (two households each), all synced with audit."""
    d = District.create(root, wall)
    d.node.add_item("WATER", "瓶装水", "Bottled water", kind="supply", emergency=True, ration=4, scope="district")
    kiosks = {c: make_community(root, d.node, c, wall=wall) for c in communities}
    for k in kiosks.values():
        relay(d.node, k)
        k.add_household("1-101", vulnerable=["elderly_alone"])
        k.add_household("1-102")
    for k in kiosks.values():
        audited_sync(k, d)
    return d, kiosks
