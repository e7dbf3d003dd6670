"""The device registry: enrolments and revocations, written by the district as ops in scope ``district``.

Every node learns every device's public key from these signed ops, so it can verify any op it holds
without trusting the channel it came by. Revocation takes effect from a stream sequence number,
not from the device's clock: ops at or after ``from_seq`` in any of the device's streams are refused.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Literal

from pydantic import Field

from crdt.op import Op
from edge.domain.fields import Name
from edge.store.optypes import Payload, register
from edge.store.views import lww_set

__all__ = ["DeviceEnroll", "DeviceRevoke", "list_devices"]


class DeviceEnroll(Payload):
    pubkey: bytes = Field(min_length=32, max_length=32)
    community: Name
    role: Literal["kiosk", "staff", "district"]
    name: Name


class DeviceRevoke(Payload):
    from_seq: int = Field(ge=1)
    reason: str = Field(default="", max_length=200)


@register("device.enroll", DeviceEnroll, district_only=True, community_scope=False)
def _enroll(conn: sqlite3.Connection, op: Op, p: DeviceEnroll) -> None:
    lww_set(conn, "devices", {"dev": op.obj}, p.model_dump(), op, scope=op.scope)


@register("device.revoke", DeviceRevoke, district_only=True, community_scope=False)
def _revoke(conn: sqlite3.Connection, op: Op, p: DeviceRevoke) -> None:
    row = conn.execute("SELECT revoked_from_seq FROM devices WHERE dev=?", (op.obj,)).fetchone()
    # The earliest revocation wins: revocations only ever shrink what a device may write.
    if row is None:
        conn.execute(
            "INSERT INTO devices (dev, scope, pubkey, community, role, name, revoked_from_seq, stamps) "
            "VALUES (?, ?, x'', '', '', '', ?, '{}')",
            (op.obj, op.scope, p.from_seq),
        )
    elif row[0] is None or p.from_seq < row[0]:
        conn.execute("UPDATE devices SET revoked_from_seq=? WHERE dev=?", (p.from_seq, op.obj))


def list_devices(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    cols = ("dev", "community", "role", "name", "revoked_from_seq")
    return [
        dict(zip(cols, r, strict=True)) for r in conn.execute(f"SELECT {', '.join(cols)} FROM devices ORDER BY dev")
    ]
