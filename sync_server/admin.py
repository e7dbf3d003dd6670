"""District administration on the node's database: the device list and revocation.

Revocation takes effect from a stream sequence number, not from the device's clock: the
``device.revoke`` op names ``from_seq``, one past the highest seq the district has accepted from the
device in any stream, so every op already in the log stays valid on every node, and every later op
of that device is refused everywhere, whatever time it claims. The district refuses the device's
requests (401 ``revoked``) from the moment the op commits.

A revoked device's unspent stock and points rights would be stranded: nobody else may spend them.
``revoke(..., rights_to=DEV2)`` hands them, in the revocation's own transaction and as of its cut, to
another enrolled, unrevoked device of the same community (``stock.reclaim`` and ``points.reclaim`` ops
of the district), which may spend them after its next sync.
"""

from __future__ import annotations

from typing import Any

from edge import reads
from edge.domain.stock import check_rights_target
from edge.errors import InputError, UnknownEntity
from edge.node import Node

__all__ = ["list_devices", "mark_restored", "revoke"]


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


def revoke(
    node: Node, dev: str, *, reason: str = "", from_seq: int | None = None, rights_to: str | None = None
) -> dict[str, Any]:
    """Write a ``device.revoke`` op for ``dev`` (and, with ``rights_to``, hand its rights on).

    Raises:
        UnknownEntity: no such device. InputError: ``from_seq`` at or below an op already accepted.
        UnknownEntity, ScopeForbidden, InputError: ``rights_to`` is not an enrolled, unrevoked device of
        the same community (nothing is written then).
    """
    with node.store.tx() as tx:
        row = reads.device(tx.conn, dev)
        if row is None or not row.community:
            raise UnknownEntity(f"no enrolled device {dev!r}; see 'linli-server devices'")
        if rights_to is not None:
            check_rights_target(tx.conn, row.community, rights_to, dev)
        top = reads.top_seq(tx.conn, dev)
        seq = top + 1 if from_seq is None else from_seq
        if seq <= top:
            raise InputError(
                f"device {dev} has ops up to seq {top} in the district log; a revocation takes effect after them "
                f"(from seq {top + 1} or later)"
            )
        already = row.revoked_from_seq is not None and row.revoked_from_seq <= seq
        if already:
            seq = int(row.revoked_from_seq or seq)
        else:
            tx.emit("district", "device.revoke", dev, {"from_seq": seq, "reason": reason[:200]})
        moved: list[dict[str, Any]] = []
        if rights_to is not None:
            for kind, scope, key, n in reads.rights_held(tx.conn, dev):
                if kind == "stock":
                    tx.emit(scope, "stock.reclaim", key, {"sku": key, "qty": n, "holder": dev, "to": rights_to})
                else:
                    tx.emit(scope, "points.reclaim", key, {"household": key, "n": n, "holder": dev, "to": rights_to})
                moved.append({"kind": kind, "scope": scope, "key": key, "n": n})
    out: dict[str, Any] = {"device": dev, "revoked_from_seq": seq, "already": already}
    if rights_to is not None:
        out["rights_to"] = rights_to
        out["rights_moved"] = moved
    return out


def mark_restored(node: Node, checkpoint: str, size: int) -> dict[str, Any]:
    """Record that this district's data folder was just restored from an older copy (``linli-server restored``).

    The mark ``{epoch, top, size, checkpoint, at}`` names the end of the restored log (``top``) and the
    district's signed checkpoint of it. Every kiosk that last synced before the mark pulls again from
    ``top`` (so no op the kiosks push back is skipped), pushes what the district lacks of its own streams
    and of the district's, and moves its trust to the restored log from that checkpoint on; the
    committee's witnesses, which saw the longer log, raise one alarm (``docs/audit.md``).
    """
    with node.store.tx() as tx:
        old = node.store.meta_get(tx.conn, "district_restore") or {}
        mark = {
            "epoch": int(old.get("epoch", 0)) + 1,
            "top": reads.max_index(tx.conn),
            "size": size,
            "checkpoint": checkpoint,
            "at": node.now_ms(),
        }
        node.store.meta_set(tx.conn, "district_restore", mark)
    return {k: v for k, v in mark.items() if k != "checkpoint"}
