"""District administration on the node's database: the device list and revocation.

Revocation takes effect from a stream sequence number, not from the device's clock: the
``device.revoke`` op names ``from_seq``, one past the highest seq the district has accepted from the
device in any stream, so every op already in the log stays valid on every node, and every later op
of that device is refused everywhere, whatever time it claims. The district refuses the device's
requests (401 ``revoked``) from the moment the op commits.
"""

from __future__ import annotations

from typing import Any

from edge.errors import InputError, UnknownEntity
from edge.node import Node

__all__ = ["list_devices", "revoke"]


def list_devices(node: Node) -> list[dict[str, Any]]:
    """Every device the district knows, with heads, last request and quarantine."""
    conn = node.conn
    heads: dict[str, dict[str, int]] = {}
    for dev, scope, seq in conn.execute("SELECT dev, scope, head_seq FROM streams"):
        heads.setdefault(dev, {})[scope] = int(seq)
    seen = {d: (int(ms), int(n)) for d, ms, n in conn.execute("SELECT dev, last_seen_ms, requests FROM seen")}
    quarantined = {d: f"{r}: {t}" for d, r, t in conn.execute("SELECT dev, reason, detail FROM quarantine")}
    out = []
    rows = conn.execute(
        "SELECT dev, community, role, name, revoked_from_seq FROM devices ORDER BY community, name, dev"
    )
    for dev, community, role, name, revoked in rows:
        last, requests = seen.get(dev, (None, 0))
        out.append(
            {
                "device": dev,
                "community": community,
                "role": role,
                "name": name,
                "revoked_from_seq": revoked,
                "heads": heads.get(dev, {}),
                "last_seen_ms": last,
                "requests": requests,
                "quarantined": quarantined.get(dev),
            }
        )
    return out


def revoke(node: Node, dev: str, *, reason: str = "", from_seq: int | None = None) -> dict[str, Any]:
    """Write a ``device.revoke`` op for ``dev``.

    Raises:
        UnknownEntity: no such device. InputError: ``from_seq`` at or below an op already accepted.
    """
    with node.store.tx() as tx:
        row = tx.conn.execute("SELECT community, revoked_from_seq FROM devices WHERE dev=?", (dev,)).fetchone()
        if row is None or not row[0]:
            raise UnknownEntity(f"no enrolled device {dev!r}; see 'linli-server devices'")
        top = int(tx.conn.execute("SELECT COALESCE(MAX(head_seq), 0) FROM streams WHERE dev=?", (dev,)).fetchone()[0])
        seq = top + 1 if from_seq is None else from_seq
        if seq <= top:
            raise InputError(
                f"device {dev} has ops up to seq {top} in the district log; a revocation takes effect after them "
                f"(from seq {top + 1} or later)"
            )
        if row[1] is not None and row[1] <= seq:
            return {"device": dev, "revoked_from_seq": int(row[1]), "already": True}
        tx.emit("district", "device.revoke", dev, {"from_seq": seq, "reason": reason[:200]})
    return {"device": dev, "revoked_from_seq": seq, "already": False}
