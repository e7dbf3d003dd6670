"""Test helpers: a district and community nodes that exchange ops in-process (no HTTP).

``relay(src, dst)`` copies every op ``src`` holds in ``dst``'s scopes, in ``src``'s log order (which is
causal), through ``Store.apply_remote`` — the same validation path real sync uses.
"""

from __future__ import annotations

from pathlib import Path

from edge import Node
from edge.store import BatchResult


def make_district(root: Path, wall=None) -> Node:
    kw = {"wall": wall} if wall else {}
    return Node.init(root / "district", "district", role="district", **kw)


def make_community(root: Path, district: Node, community: str, name: str | None = None, wall=None) -> Node:
    """A community node enrolled by ``district`` (a ``device.enroll`` op) that pins the district key."""
    kw = {"wall": wall} if wall else {}
    d = root / (name or community)
    node = Node.init(d, community, role="kiosk", **kw)
    with node.store.tx() as tx:
        node.store.meta_set(tx.conn, "district_pubkey", district.store.ident.key.public_bytes.hex())
        node.store.meta_set(tx.conn, "district_dev", district.dev)
    node.close()
    node = Node.open(d, **kw)
    with district.store.tx() as tx:
        tx.emit(
            "district",
            "device.enroll",
            node.dev,
            {"pubkey": node.store.ident.key.public_bytes, "community": community, "role": "kiosk", "name": d.name},
        )
    return node


def relay(src: Node, dst: Node) -> BatchResult:
    scopes = None if dst.role == "district" else set(dst.scopes)
    raws = [raw for _, raw in src.store.ops_after(0, scopes, limit=10**9)]
    return dst.store.apply_remote(raws, accept_scopes=scopes)


def sync_all(district: Node, nodes: list[Node], rounds: int = 2) -> None:
    """Push every node to the district and pull back, ``rounds`` times."""
    for _ in range(rounds):
        for n in nodes:
            res = relay(n, district)
            assert not res.rejected, [r.as_dict() for r in res.rejected]
        for n in nodes:
            res = relay(district, n)
            assert not res.rejected, [r.as_dict() for r in res.rejected]
