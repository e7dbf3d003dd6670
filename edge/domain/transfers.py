"""Cross-community sharing in the district scope: stock transfers and lent technicians.

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

**Conservation (exactly once per lifecycle).** The stock ops of a step carry the lifecycle key
``ship <id>`` or ``arrive <id>`` (``stock.py``: of all the ops of a scope with one key, only the
lowest-stamped counts). So however many devices write ``shipped`` or ``arrived`` of one transfer
(two partitioned kiosks of the receiver both marking it arrived), the holder's stock goes down once
and the receiver's up once, by the approved quantity; in transit between the two is exactly
``approved qty`` while the transfer is shipped and not arrived.

Op types (scope ``district``), with their merge rule and invariant:

- ``transfer.request``: sku, qty, ends and note, **fixed by the first request** (the lowest stamp
  wins, not the latest): a request re-sent with the same id cannot change what is approved or ships.
- ``transfer.approve`` carries the sku and quantity the holder approved (the first approval's are
  kept); shipping and arrival move exactly those. ``.decline``, ``.ship``, ``.arrive``: the step is a
  max-register over :data:`STEPS`; the writer checks :func:`check_step` inside the write transaction
  and the op guard checks the writing community is the side that owns the step. Shipping checks the
  holder's own stock rights inside the write transaction, so a transfer never ships stock the holder
  cannot issue.
- ``tech.lend`` (district only): the loan of a shared technician, an LWW register ``(to, until_ms)``
  per technician; a technician is lent to one community at a time because the district checks the
  current loan inside the write transaction.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Literal, get_args

from pydantic import Field

from crdt.ids import new_ulid
from crdt.op import Op
from edge.domain import inputs, people, stock
from edge.domain.context import Context
from edge.domain.fields import Name, OptShort, Qty, Sku
from edge.errors import InputError, InsufficientRights, InvalidTransition, ScopeForbidden, UnknownEntity
from edge.store.optypes import GuardFn, Payload, register
from edge.store.views import counter_value, dumps, lww_set, rights, stamp_of

__all__ = [
    "STEPS",
    "Step",
    "TechLend",
    "TransferApprove",
    "TransferRequest",
    "TransferStep",
    "check_step",
    "end_tech_loan",
    "find_transfer",
    "get_transfer",
    "lend_tech",
    "lent_techs",
    "list_transfers",
    "parse_transfer_id",
    "request_transfer",
    "step_index",
    "tech_loans",
    "transfer_id",
    "write_step",
]

# --- the step lattice and its write rule ------------------------------------------------------------
Step = Literal["requested", "approved", "declined", "shipped", "arrived"]
STEPS: tuple[str, ...] = get_args(Step)
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


class TransferApprove(Payload):
    """An approval, with the sku and quantity approved (absent in approvals written before they were carried)."""

    note: OptShort = ""
    sku: Sku | None = None
    qty: Qty | None = None


class TechLend(Payload):
    to: Name
    until_ms: int = Field(ge=0)


def _writer(step: str) -> Literal["src", "dst"]:
    return "dst" if step in ("requested", "arrived") else "src"


def _guard_for(step: str) -> GuardFn:
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
    _first_set(conn, op, {"sku": p.sku, "qty": p.qty, "note": p.note})


def _first_set(conn: sqlite3.Connection, op: Op, fields: dict[str, Any]) -> None:
    """Set each field of the transfer where ``op``'s stamp is *lower* than the field's: the first write wins."""
    (raw,) = conn.execute("SELECT stamps FROM transfers WHERE id=?", (op.obj,)).fetchone()
    stamps: dict[str, list[Any]] = json.loads(raw)
    stamp = stamp_of(op)
    won = {f: v for f, v in fields.items() if f not in stamps or stamp < stamps[f]}
    if won:
        stamps.update(dict.fromkeys(won, stamp))
        sets = ", ".join(f"{f} = ?" for f in won)
        conn.execute(f"UPDATE transfers SET {sets}, stamps = ? WHERE id = ?", (*won.values(), dumps(stamps), op.obj))


@register(
    "transfer.approve",
    TransferApprove,
    community_district=True,
    community_scope=False,
    guard=_guard_for("approved"),
)
def _approve(conn: sqlite3.Connection, op: Op, p: TransferApprove) -> None:
    _step(conn, op, "approved")
    if p.sku is not None and p.qty is not None:
        _first_set(conn, op, {"approved_sku": p.sku, "approved_qty": p.qty})


STEP_OF_TYPE = {
    "transfer.approve": "approved",
    "transfer.decline": "declined",
    "transfer.ship": "shipped",
    "transfer.arrive": "arrived",
}
for _type, _s in STEP_OF_TYPE.items():
    if _type == "transfer.approve":
        continue

    def _make(step: str, name: str) -> None:
        @register(name, TransferStep, community_district=True, community_scope=False, guard=_guard_for(step))
        def _apply(conn: sqlite3.Connection, op: Op, p: TransferStep) -> None:
            _step(conn, op, step)

    _make(_s, _type)


@register("tech.lend", TechLend, district_only=True, community_scope=False)
def _lend(conn: sqlite3.Connection, op: Op, p: TechLend) -> None:
    lww_set(conn, "tech_loans", {"tech": op.obj}, {"dst": p.to, "until_ms": p.until_ms}, op, scope=op.scope)


# --- queries ----------------------------------------------------------------------------------
_COLS = ("id", "src", "dst", "sku", "qty", "note", "step", "approved_sku", "approved_qty")


def _row(conn: sqlite3.Connection, r: tuple[Any, ...]) -> dict[str, Any]:
    """A transfer; ``sku`` and ``qty`` are what was approved (what ships), else what was requested."""
    d = dict(zip(_COLS, r, strict=True))
    asku, aqty = d.pop("approved_sku"), d.pop("approved_qty")
    d["requested"] = {"sku": d["sku"], "qty": d["qty"]}
    if asku is not None and aqty is not None:
        d["sku"], d["qty"] = asku, aqty
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


# --- commands ---------------------------------------------------------------------------------
TYPE_OF_STEP = {v: k for k, v in STEP_OF_TYPE.items()}


def get_transfer(ctx: Context, ref: str) -> dict[str, Any]:
    """A transfer by id or ULID suffix.

    Raises:
        UnknownEntity: none.
    """
    t = find_transfer(ctx.conn, ref)
    if t is None:
        raise UnknownEntity(f"no transfer {ref!r}")
    return t


def request_transfer(
    ctx: Context, sku: str, qty: int, src: str, *, note: str = "", dst: str | None = None, actor: str | None = None
) -> dict[str, Any]:
    """Ask community ``src`` (or ``district``) for ``qty`` of ``sku``, for this community (or ``dst``)."""
    dst = dst or ctx.community
    if src == dst:
        raise InputError(f"a transfer needs two different communities, got {src} -> {dst}")
    if stock.find_item(ctx.conn, sku, [dst, "district", src]) is None:
        raise UnknownEntity(f"no item with sku {sku!r} in the catalogue")
    tid = transfer_id(src, dst, new_ulid(ctx.now_ms()))
    with ctx.store.tx() as tx:
        data = {"sku": sku, "qty": qty, "src": src, "dst": dst, "note": note}
        tx.emit("district", "transfer.request", tid, data, actor)
    return get_transfer(ctx, tid)


def write_step(ctx: Context, ref: str, target: str, *, note: str = "", actor: str | None = None) -> dict[str, Any]:
    """Write step ``target`` (approved, declined, shipped, arrived) of a transfer, with its stock movement.

    Approving checks the holder has the stock; shipping issues it within this device's rights in the
    holder's scope, arriving receives it in the needing community's scope, in the same transaction.

    Raises:
        ScopeForbidden: the step belongs to the other community; InvalidTransition: not the next step;
        InsufficientRights: not enough stock (or rights) to approve or ship.
    """
    type_name = TYPE_OF_STEP[target]
    with ctx.store.tx() as tx:
        # The step and the stock are read through the transaction that writes the step: two writers on
        # one device (the kiosk UI and the daemon) cannot both pass the rule.
        t = find_transfer(tx.conn, ref)
        if t is None:
            raise UnknownEntity(f"no transfer {ref!r}")
        side = t["dst"] if _writer(target) == "dst" else t["src"]
        if not ctx.is_district and side != ctx.community:
            raise ScopeForbidden(f"transfer step {target} belongs to community {side!r}, not {ctx.community!r}")
        try:
            check_step(t["step"], target)
        except InvalidTransition as exc:
            raise InvalidTransition(f"transfer {t['id']}: {exc}") from None
        moved = {"sku": t["sku"], "qty": t["qty"], "reason": f"transfer {t['id']}"}
        data: dict[str, Any] = {"note": note}
        if target == "approved":
            avail = counter_value(tx.conn, "stock", t["src"], t["sku"])
            if avail < t["qty"]:
                raise InsufficientRights(f"cannot approve {t['qty']} of {t['sku']}: community {t['src']} has {avail}")
            data.update(sku=t["sku"], qty=t["qty"])
        if target == "shipped":
            held = rights(tx.conn, "stock", t["src"], t["sku"], ctx.dev)
            if held < t["qty"]:
                total = counter_value(tx.conn, "stock", t["src"], t["sku"])
                raise InsufficientRights(
                    f"cannot ship {t['qty']} of {t['sku']}: stock {total}, of which this device may issue "
                    f"{held}; the request can no longer be met"
                )
            tx.emit(t["src"], "stock.issue", t["sku"], {**moved, "once": f"ship {t['id']}"}, actor)
        if target == "arrived":
            # The rights go to the requesting device, whichever kiosk marks the arrival: every writer
            # of this step names the same holder, so a merge never takes spent rights away.
            req = tx.conn.execute(
                "SELECT dev FROM transfer_steps WHERE transfer=? AND step='requested'", (t["id"],)
            ).fetchone()
            got = {**moved, "once": f"arrive {t['id']}", "rights_to": req[0] if req else ctx.dev}
            tx.emit(t["dst"], "stock.receive", t["sku"], got, actor)
        tx.emit("district", type_name, t["id"], data, actor)
    return get_transfer(ctx, t["id"])


def _shared_tech(ctx: Context, tech_id: str) -> dict[str, Any]:
    if not ctx.is_district:
        raise ScopeForbidden(f"shared technicians are lent by the district, not by community {ctx.community!r}")
    found = [t for t in people.list_techs(ctx.conn, ["district"]) if tech_id in (t["id"], t["name"])]
    if len(found) != 1:
        raise UnknownEntity(f"no single shared-pool technician {tech_id!r} (see 'linli-edge tech list')")
    return found[0]


def lend_tech(ctx: Context, tech_id: str, to: str, until_ms: int, *, actor: str | None = None) -> dict[str, Any]:
    """Lend a shared-pool technician to community ``to`` until ``until_ms`` (district only).

    A technician is lent to one community at a time: lending one that is lent elsewhere is refused
    until that loan ends (:func:`end_tech_loan`); lending again to the same community changes the end.

    Raises:
        UnknownEntity: no such shared technician. InputError: an end in the past, or ``to`` is the
        district. InvalidTransition: lent to another community now. ScopeForbidden: not the district.
    """
    tech = _shared_tech(ctx, tech_id)
    now = ctx.now_ms()
    if until_ms <= now:
        raise InputError(f"a loan must end in the future: {until_ms} is not after now ({now})")
    if until_ms > now + 366 * inputs.DAY_MS:
        raise InputError(f"a loan lasts at most a year; {until_ms} is {(until_ms - now) // inputs.DAY_MS} days away")
    if to == "district" or not to:
        raise InputError(f"a technician is lent to a community, not to {to!r}")
    with ctx.store.tx() as tx:
        current = [x for x in tech_loans(tx.conn, now) if x["tech"] == tech["id"] and x["active"]]
        if current and current[0]["to"] != to:
            raise InvalidTransition(
                f"technician {tech['name']} is lent to {current[0]['to']} until {current[0]['until_ms']}; "
                "end that loan first"
            )
        tx.emit("district", "tech.lend", tech["id"], {"to": to, "until_ms": until_ms}, actor)
    return {"tech": tech["id"], "name": tech["name"], "to": to, "until_ms": until_ms, "active": True}


def end_tech_loan(ctx: Context, tech_id: str, *, actor: str | None = None) -> dict[str, Any]:
    """End a shared technician's loan now (district only): the borrower's dispatcher stops using them.

    Raises:
        UnknownEntity: no such shared technician. InvalidTransition: not lent now.
    """
    tech = _shared_tech(ctx, tech_id)
    now = ctx.now_ms()
    with ctx.store.tx() as tx:
        current = [x for x in tech_loans(tx.conn, now) if x["tech"] == tech["id"] and x["active"]]
        if not current:
            raise InvalidTransition(f"technician {tech['name']} is not lent to any community now")
        tx.emit("district", "tech.lend", tech["id"], {"to": current[0]["to"], "until_ms": now}, actor)
    return {"tech": tech["id"], "name": tech["name"], "to": current[0]["to"], "until_ms": now, "active": False}
