"""Operating modes (DESIGN 7): the declared mode per scope is an LWW register written by op.

``normal`` and ``emergency`` are declared (by staff for a community, or by the district for every
community: a ``mode.set`` in the district scope); ``offline`` is not declared but derived from sync
health (no successful sync for ``OFFLINE_AFTER_MS``). ``effective_mode`` combines them: emergency
beats offline beats normal.
"""

from __future__ import annotations

import sqlite3
from typing import Literal

from crdt.op import Op

from .fields import OptShort
from .optypes import Payload, register
from .views import lww_set

__all__ = ["OFFLINE_AFTER_MS", "ModeSet", "declared_mode", "effective_mode"]

OFFLINE_AFTER_MS = 120_000


class ModeSet(Payload):
    mode: Literal["normal", "emergency"]
    reason: OptShort = ""


@register("mode.set", ModeSet)
def _set(conn: sqlite3.Connection, op: Op, p: ModeSet) -> None:
    lww_set(
        conn,
        "modes",
        {"scope": op.scope},
        {"mode": p.mode, "reason": p.reason, "actor": op.actor, "since": op.hlc[0]},
        op,
    )


def declared_mode(conn: sqlite3.Connection, scope: str) -> str:
    """``emergency`` if the community or the district declared it (latest declaration per scope)."""
    rows = conn.execute("SELECT mode FROM modes WHERE scope IN (?, 'district')", (scope,)).fetchall()
    return "emergency" if any(r[0] == "emergency" for r in rows) else "normal"


def effective_mode(declared: str, last_sync_ms: int | None, now_ms: int, enrolled: bool) -> str:
    """``emergency``, ``offline`` (enrolled and no successful sync for 2 minutes) or ``normal``."""
    if declared == "emergency":
        return "emergency"
    if enrolled and (last_sync_ms is None or now_ms - last_sync_ms > OFFLINE_AFTER_MS):
        return "offline"
    return "normal"


_ = Literal
