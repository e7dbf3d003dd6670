"""District administration on the node's database: the device list and revocation.

Revocation takes effect from a stream sequence number, not from the device's clock: the
``device.revoke`` op names ``from_seq``, one past the highest seq the district has accepted from the
device in any stream, so every op already in the log stays valid on every node, and every later op
of that device is refused everywhere, whatever time it claims. The district refuses the device's
requests (401 ``revoked``) from the moment the op commits.
"""

from __future__ import annotations

from typing import Any

from edge import reads
from edge.errors import InputError, UnknownEntity
from edge.node import Node

__all__ = ["list_devices", "revoke"]


def list_devices(node: Node) -> list[dict[str, Any]]:
    """Every device the district knows, with heads, last request and quarantine."""
    conn = node.conn
    heads = reads.heads_by_device(conn)
    seen = {d: (int(ms), int(n)) for d, ms, n in conn.execute("SELECT dev, last_seen_ms, requests FROM seen")}
    quarantined = {d: f"{r}: {t}" for d, r, t in conn.execute("SELECT dev, reason, detail FROM quarantine")}
    out = []
    for d in reads.devices(conn):
        last, requests = seen.get(d.dev, (None, 0))
        out.append(
            {
                "device": d.dev,
                "community": d.community,
                "role": d.role,
                "name": d.name,
                "revoked_from_seq": d.revoked_from_seq,
                "heads": heads.get(d.dev, {}),
                "last_seen_ms": last,
                "requests": requests,
                "quarantined": quarantined.get(d.dev),
            }
        )
    return out


def revoke(node: Node, dev: str, *, reason: str = "", from_seq: int | None = None) -> dict[str, Any]:
    """Write a ``device.revoke`` op for ``dev``.

    Raises:
        UnknownEntity: no such device. InputError: ``from_seq`` at or below an op already accepted.
    """
    with node.store.tx() as tx:
        row = reads.device(tx.conn, dev)
        if row is None or not row.community:
            raise UnknownEntity(f"no enrolled device {dev!r}; see 'linli-server devices'")
        top = reads.top_seq(tx.conn, dev)
        seq = top + 1 if from_seq is None else from_seq
        if seq <= top:
            raise InputError(
                f"device {dev} has ops up to seq {top} in the district log; a revocation takes effect after them "
                f"(from seq {top + 1} or later)"
            )
        if row.revoked_from_seq is not None and row.revoked_from_seq <= seq:
            return {"device": dev, "revoked_from_seq": row.revoked_from_seq, "already": True}
        tx.emit("district", "device.revoke", dev, {"from_seq": seq, "reason": reason[:200]})
    return {"device": dev, "revoked_from_seq": seq, "already": False}
