"""Reads of the device registry (the ``devices`` view) and what the log says about each device."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

__all__ = ["DeviceRow", "LatestOp", "device", "devices", "flagged", "latest_ops", "rights_held"]

_COLS = "dev, community, role, name, pubkey, revoked_from_seq"


@dataclass(frozen=True, slots=True)
class DeviceRow:
    """An enrolled device: its id, community, role, name, public key, and the seq it is revoked from."""

    dev: str
    community: str
    role: str
    name: str
    pubkey: bytes
    revoked_from_seq: int | None

    @property
    def revoked(self) -> bool:
        return self.revoked_from_seq is not None


@dataclass(frozen=True, slots=True)
class LatestOp:
    """The HLC wall time of a device's latest op, and when this node received it (unix ms)."""

    wall: int
    received_ms: int


def _row(r: tuple[Any, ...]) -> DeviceRow:
    dev, community, role, name, pubkey, revoked = r
    return DeviceRow(
        str(dev), str(community), str(role), str(name), bytes(pubkey or b""), None if revoked is None else int(revoked)
    )


def device(conn: sqlite3.Connection, dev: str) -> DeviceRow | None:
    """The registry row of ``dev``, or ``None`` (the registry only: no trusted key is looked at)."""
    row = conn.execute(f"SELECT {_COLS} FROM devices WHERE dev=?", (dev,)).fetchone()
    return None if row is None else _row(row)


def devices(conn: sqlite3.Connection) -> list[DeviceRow]:
    """Every enrolled device, by community, name and id."""
    return [_row(r) for r in conn.execute(f"SELECT {_COLS} FROM devices ORDER BY community, name, dev")]


def flagged(conn: sqlite3.Connection, flag: str) -> dict[str, str]:
    """``{dev: detail}`` of the devices flagged ``flag`` (``clock_skew``, ``equivocation``, ``quarantine``)."""
    return {str(d): str(t) for d, t in conn.execute("SELECT dev, detail FROM flags WHERE flag=?", (flag,))}


def latest_ops(conn: sqlite3.Connection) -> dict[str, LatestOp]:
    """Per device, its stream head received last: the op's HLC wall time and its receive time."""
    latest: dict[str, LatestOp] = {}
    rows = conn.execute(
        "SELECT o.dev, o.wall, o.received_ms FROM streams s JOIN ops o "
        "ON o.dev = s.dev AND o.scope = s.scope AND o.seq = s.head_seq"
    )
    for dev, wall, received in rows:
        held = latest.get(str(dev))
        if held is None or int(received) > held.received_ms:
            latest[str(dev)] = LatestOp(int(wall), int(received))
    return latest


def rights_held(conn: sqlite3.Connection, dev: str) -> list[tuple[str, str, str, int]]:
    """``(kind, scope, key, rights)`` of every counter on which ``dev`` holds rights above zero."""
    rows = conn.execute(
        "SELECT kind, scope, key, inc + moved_in - moved_out - dec FROM counter_rights "
        "WHERE dev=? AND inc + moved_in - moved_out - dec > 0 ORDER BY kind, scope, key",
        (dev,),
    )
    return [(str(k), str(s), str(key), int(n)) for k, s, key, n in rows]
