"""Cross-community sharing in the district scope: stock transfers and lent technicians (DESIGN 4, 5).

A transfer's id names its two communities, ``"<from>><to>:<ulid>"``, so that who may write each
step is decided from the op alone (see ``optypes`` guards): the needing community requests, the
holding community approves, declines and ships, the needing community marks arrival; the district
may write any step (allocation from its own warehouse is a transfer from ``district``).

The steps form the lattice ``requested < approved < declined < shipped < arrived`` (max wins: a
decline beats a concurrent approve; goods shipped stay shipped), with the first stamp of each step
kept. Stock itself moves by ordinary counter ops in the communities' own scopes, written in the
same transaction as the step: shipping is a ``stock.issue`` in the holder's scope within its rights,
arriving a ``stock.receive`` in the receiver's scope. So a district-scope op never touches a
community's counters, and no community ever holds another's scope.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Literal

from pydantic import Field

from crdt.op import Op
from edge.domain.fields import Name, OptShort, Qty, Sku
from edge.errors import InvalidTransition
from edge.store.optypes import Payload, register
from edge.store.views import lww_set

__all__ = [
    "STEPS",
    "check_step",
    "step_index",
    "TransferRequest",
    "TransferStep",
    "TechLend",
    "find_transfer",
    "list_transfers",
    "lent_techs",
    "parse_transfer_id",
    "tech_loans",
    "transfer_id",
]

# --- the step lattice and its write rule ------------------------------------------------------------
STEPS: tuple[str, ...] = ("requested", "approved", "declined", "shipped", "arrived")
"""The transfer steps, in lattice order."""

_INDEX = {step: i for i, step in enumerate(STEPS)}
_FROM: dict[str, str | None] = {
    "requested": None,
    "approved": "requested",
    "declined": "requested",
    "shipped": "approved",
    "arrived": "shipped",
}


def step_index(step: str) -> int:
    """The position of ``step`` in :data:`STEPS`.

    Raises:
        InvalidTransition: ``step`` is not a transfer step.
    """
    try:
        return _INDEX[step]
    except (KeyError, TypeError):
        raise InvalidTransition(f"unknown transfer step {step!r}; steps are {', '.join(STEPS)}") from None


def check_step(current: str | None, target: str) -> None:
    """The write rule: raise unless a device whose replica is at ``current`` may write ``target``.

    Args:
        current: the transfer's current step, or None if nothing was written yet.
        target: the step the new op would write.

    Raises:
        InvalidTransition: the step is not allowed; the message names both steps and the rule.
    """
    step_index(target)
    if current is not None:
        step_index(current)
    need = _FROM[target]
    if current == need:
        return
    shown = "nothing" if current is None else current
    if need is None:
        why = "requested is only the first step"
    else:
        why = f"{target} is written only from {need}"
    raise InvalidTransition(f"transfer step {shown} -> {target} refused: {why}")


_RANK = {s: i for i, s in enumerate(STEPS)}


def transfer_id(src: str, dst: str, ulid: str) -> str:
    """The id of a transfer from ``src`` to ``dst``."""
    return f"{src}>{dst}:{ulid}"


def parse_transfer_id(obj: str) -> tuple[str, str] | None:
    """``(from, to)`` named by a transfer id, or ``None`` if it is not one."""
    head, sep, rest = obj.partition(":")
    src, arrow, dst = head.partition(">")
    if not sep or not arrow or not src or not dst or not rest or src == dst:
        return None
    return src, dst


class TransferRequest(Payload):
    sku: Sku
    qty: Qty
    src: Name
    dst: Name
    note: OptShort = ""


class TransferStep(Payload):
    note: OptShort = ""


class TechLend(Payload):
    to: Name
    until_ms: int = Field(ge=0)


def _writer(step: str) -> Literal["src", "dst"]:
    return "dst" if step in ("requested", "arrived") else "src"


def _guard_for(step: str):  # type: ignore[no-untyped-def]
    def guard(scope: str, obj: str, payload: Any, community: str, role: str) -> str | None:
        ends = parse_transfer_id(obj)
        if ends is None:
            return f"{obj!r} is not a transfer id '<from>><to>:<id>'"
        if scope != "district":
            return "transfers live in the district scope"
        if isinstance(payload, TransferRequest) and (payload.src, payload.dst) != ends:
            return f"request names {payload.src}->{payload.dst} but its id names {ends[0]}->{ends[1]}"
        who = ends[1] if _writer(step) == "dst" else ends[0]
        if community != who:
            side = "needing" if _writer(step) == "dst" else "holding"
            return f"transfer step {step} is written by the {side} community {who!r}, not {community!r}"
        return None

    return guard


def _step(conn: sqlite3.Connection, op: Op, step: str) -> None:
    conn.execute(
        "INSERT INTO transfer_steps (transfer, scope, step, wall, counter, dev, actor) VALUES (?,?,?,?,?,?,?) "
        "ON CONFLICT (transfer, step) DO UPDATE SET wall=excluded.wall, counter=excluded.counter, "
        "dev=excluded.dev, actor=excluded.actor "
        "WHERE (excluded.wall, excluded.counter, excluded.dev) < (wall, counter, dev)",
        (op.obj, op.scope, step, op.hlc[0], op.hlc[1], op.dev, op.actor),
    )
    ends = parse_transfer_id(op.obj) or ("", "")
    row = conn.execute("SELECT step FROM transfers WHERE id=?", (op.obj,)).fetchone()
    if row is None:
        conn.execute(
            "INSERT INTO transfers (id, scope, src, dst, step) VALUES (?, ?, ?, ?, ?)",
            (op.obj, op.scope, ends[0], ends[1], step),
        )
    elif _RANK[step] > _RANK[row[0]]:
        conn.execute("UPDATE transfers SET step=? WHERE id=?", (step, op.obj))


@register(
    "transfer.request",
    TransferRequest,
    community_district=True,
    community_scope=False,
    guard=_guard_for("requested"),
)
def _request(conn: sqlite3.Connection, op: Op, p: TransferRequest) -> None:
    _step(conn, op, "requested")
    lww_set(conn, "transfers", {"id": op.obj}, {"sku": p.sku, "qty": p.qty, "note": p.note}, op)


STEP_OF_TYPE = {
    "transfer.approve": "approved",
    "transfer.decline": "declined",
    "transfer.ship": "shipped",
    "transfer.arrive": "arrived",
}
for _type, _s in STEP_OF_TYPE.items():

    def _make(step: str, name: str) -> None:
        @register(name, TransferStep, community_district=True, community_scope=False, guard=_guard_for(step))
        def _apply(conn: sqlite3.Connection, op: Op, p: TransferStep) -> None:
            _step(conn, op, step)

    _make(_s, _type)


@register("tech.lend", TechLend, district_only=True, community_scope=False)
def _lend(conn: sqlite3.Connection, op: Op, p: TechLend) -> None:
    lww_set(conn, "tech_loans", {"tech": op.obj}, {"dst": p.to, "until_ms": p.until_ms}, op, scope=op.scope)


# --- queries ----------------------------------------------------------------------------------
_COLS = ("id", "src", "dst", "sku", "qty", "note", "step")


def _row(conn: sqlite3.Connection, r: tuple[Any, ...]) -> dict[str, Any]:
    d = dict(zip(_COLS, r, strict=True))
    d["steps"] = {
        s: w
        for s, w in conn.execute("SELECT step, wall FROM transfer_steps WHERE transfer=? ORDER BY wall", (d["id"],))
    }
    return d


def find_transfer(conn: sqlite3.Connection, ref: str) -> dict[str, Any] | None:
    """A transfer by id, or by the unique suffix of its id (the ULID part)."""
    row = conn.execute(f"SELECT {', '.join(_COLS)} FROM transfers WHERE id=?", (ref,)).fetchone()
    if row is None:
        rows = conn.execute(f"SELECT {', '.join(_COLS)} FROM transfers WHERE id LIKE ?", (f"%:{ref}",)).fetchall()
        row = rows[0] if len(rows) == 1 else None
    return _row(conn, row) if row else None


def list_transfers(conn: sqlite3.Connection, community: str | None = None) -> list[dict[str, Any]]:
    """Transfers touching ``community`` (all for ``None``), newest first."""
    sql = f"SELECT {', '.join(_COLS)} FROM transfers"
    args: tuple[Any, ...] = ()
    if community is not None:
        sql += " WHERE src=? OR dst=?"
        args = (community, community)
    return [_row(conn, r) for r in conn.execute(sql + " ORDER BY id DESC", args).fetchall()]


def lent_techs(conn: sqlite3.Connection, community: str, now_ms: int) -> dict[str, int]:
    """``{tech id: until_ms}`` of shared technicians lent to ``community`` at ``now_ms``."""
    rows = conn.execute("SELECT tech, until_ms FROM tech_loans WHERE dst=? AND until_ms > ?", (community, now_ms))
    return {str(t): int(u) for t, u in rows}


def tech_loans(conn: sqlite3.Connection, now_ms: int) -> list[dict[str, Any]]:
    """Every loan of a shared technician: ``[{tech, name, to, until_ms, active}]`` (active at ``now_ms``)."""
    rows = conn.execute(
        "SELECT l.tech, COALESCE(t.name, ''), l.dst, l.until_ms FROM tech_loans l LEFT JOIN techs t ON t.id = l.tech "
        "ORDER BY l.until_ms DESC, l.tech"
    )
    return [
        {"tech": str(t), "name": str(n), "to": str(d), "until_ms": int(u), "active": int(u) > now_ms}
        for t, n, d, u in rows
    ]
