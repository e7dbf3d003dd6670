"""The device registry: enrolments and revocations, written by the district as ops in scope ``district``.

Every node learns every device's public key from these signed ops, so it can verify any op it holds
without trusting the channel it came by. An enrolment also carries the device's short **number**,
unique in the district (the district assigns them in order, inside the transaction that writes the
enrolment): the prefix of the ticket codes the device writes, so two devices' codes never collide.

Revocation takes effect from a stream sequence number, not from the device's clock: ops at or after
``from_seq`` in any of the device's streams are refused.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Literal

from pydantic import Field

from crdt.op import Op
from edge.domain.fields import Name
from edge.store.optypes import Payload, register
from edge.store.views import lww_set

__all__ = ["DeviceEnroll", "DeviceRevoke", "device_number", "list_devices", "next_number"]


class DeviceEnroll(Payload):
    pubkey: bytes = Field(min_length=32, max_length=32)
    community: Name
    role: Literal["kiosk", "staff", "district"]
    name: Name
    number: int | None = Field(default=None, ge=1, le=999_999)


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


def device_number(conn: sqlite3.Connection, dev: str) -> int | None:
    """The short number the district gave ``dev`` at enrolment (``None`` until its enrolment is held)."""
    row = conn.execute("SELECT number FROM devices WHERE dev=?", (dev,)).fetchone()
    return int(row[0]) if row and row[0] is not None else None


def next_number(conn: sqlite3.Connection) -> int:
    """The number the next enrolled device gets: one past the highest given (the district's writer only)."""
    return int(conn.execute("SELECT COALESCE(MAX(number), 0) + 1 FROM devices").fetchone()[0])
