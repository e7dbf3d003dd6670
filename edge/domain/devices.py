"""The device registry: enrolments and revocations, written by the district as ops in scope ``district``.

Every node learns every device's public key from these signed ops, so it can verify any op it holds
without trusting the channel it came by. An enrolment also carries the device's short **number**,
unique in the district (the district assigns them in order, inside the transaction that writes the
enrolment): the prefix of the ticket codes the device writes, so two devices' codes never collide.

Revocation takes effect from a stream sequence number, not from the device's clock: ops at or after
``from_seq`` in any of the device's streams are refused.

A **clock fence** (``device.fence``) is how the district stops a device's clock error from capturing
LWW fields. When the district receives ops of a device stamped more than ``crdt.hlc.SKEW_LIMIT_MS``
ahead of its own clock, it writes, before applying them, a fence naming that device, the streams and
seqs it has seen (``through``) and its own clock (``max_wall``). Every replica then compares those ops
at ``max_wall`` in LWW fields (``edge.store.views.lww_stamp``), so a correct device's write made after
the district saw them wins. Fences only ever add: an op is capped by the lowest fence covering it.
Views stay a function of the op set: a fence that arrives after ops it caps (another delivery order)
has the views rebuilt from the log, with every fence known first (``edge.store.digest.rebuild_views``).
"""

from __future__ import annotations

import sqlite3
from typing import Any, Literal

from pydantic import Field, field_validator

from crdt.op import Op
from edge.domain.fields import Name
from edge.store.digest import rebuild_views
from edge.store.optypes import Payload, register
from edge.store.views import fence_rows, lww_set

__all__ = [
    "MAX_FENCED_STREAMS",
    "DeviceEnroll",
    "DeviceFence",
    "DeviceRevoke",
    "device_number",
    "fences_for",
    "list_devices",
    "next_number",
]

MAX_FENCED_STREAMS = 32


class DeviceEnroll(Payload):
    pubkey: bytes = Field(min_length=32, max_length=32)
    community: Name
    role: Literal["kiosk", "staff", "district"]
    name: Name
    number: int | None = Field(default=None, ge=1, le=999_999)


class DeviceRevoke(Payload):
    from_seq: int = Field(ge=1)
    reason: str = Field(default="", max_length=200)


class DeviceFence(Payload):
    max_wall: int = Field(ge=0, lt=2**62)
    through: dict[Name, int] = Field(min_length=1, max_length=MAX_FENCED_STREAMS)
    reason: str = Field(default="", max_length=200)

    @field_validator("through")
    @classmethod
    def _seqs(cls, v: dict[str, int]) -> dict[str, int]:
        if any(type(n) is not int or not 1 <= n < 2**62 for n in v.values()):
            raise ValueError("every fenced stream names a seq from 1")
        return v


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


@register("device.fence", DeviceFence, district_only=True, community_scope=False)
def _fence(conn: sqlite3.Connection, op: Op, p: DeviceFence) -> None:
    if not fence_rows(conn, op, p.max_wall, p.through):
        return  # already known (a rebuild writes every fence first)
    for stream, seq in p.through.items():
        held = conn.execute(
            "SELECT 1 FROM ops WHERE dev=? AND scope=? AND seq<=? AND wall>? LIMIT 1", (op.obj, stream, seq, p.max_wall)
        ).fetchone()
        if held is not None:  # ops it caps were applied before it: their LWW fields must be decided again
            rebuild_views(conn)
            return


def fences_for(ops: list[Op], now_ms: int, skew_limit_ms: int) -> dict[str, dict[str, int]]:
    """``{dev: {stream: highest seq}}`` of the ops stamped more than ``skew_limit_ms`` ahead of ``now_ms``.

    The district writes one ``device.fence`` per device named here (``max_wall = now_ms``) before it
    applies those ops.
    """
    out: dict[str, dict[str, int]] = {}
    for op in ops:
        if op.hlc[0] - now_ms > skew_limit_ms:
            streams = out.setdefault(op.dev, {})
            streams[op.scope] = max(streams.get(op.scope, 0), op.seq)
    return out


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
