"""Tickets: vocabulary, payload models, the status write rule and the apply rules (the merge).

Op types (scope: the ticket's community), each with its merge rule and the invariant it keeps:

- ``ticket.create``: the fields (unit, category, urgency, text, contact, household, answers) as LWW
  registers, and the stage ``(0, reported)``. A ticket's fields are those of the op with the highest
  ``(hlc, dev)`` per field, whatever order the ops arrived in.
- ``ticket.update``: LWW per field, as above.
- ``ticket.stage``: the status ``(epoch, stage)`` is a max-register over the lattice
  :data:`LATTICE` within an epoch (a reopen starts the next epoch); the first stamp of each
  ``(epoch, stage)`` is kept for SLA times. The status never moves backwards on any replica; the
  writer checks :func:`check_transition` against its own view inside the write transaction, so no
  device writes a step the lattice forbids (e.g. back from resolved to en_route). In the lattice
  ``cancelled`` sits *below* ``resolved``: a cancel written while another kiosk resolved or closed
  the ticket never erases the completed repair (the cancel stays in the ticket's stage history).
  The close reason belongs to its epoch: the reason with the highest ``(epoch, stamp)`` is kept with
  its epoch, and a reopened ticket shows none until it is closed again.
- ``ticket.assign``: a multi-value register: an assign names the assigns it supersedes, concurrent
  ones all survive; the view shows the ``(hlc, dev)`` winner and a ``conflict`` flag while more than one
  technician is live.
- ``ticket.hold`` (:data:`HOLD_REASONS` or a release), ``ticket.rate``: LWW registers.
- ``ticket.comment``, ``ticket.photo``, ``ticket.part``: grow-only sets (an op is a note once);
  every note keeps its op's full stamp ``(wall, counter, dev, op hash)``, the order hold events are
  read in (a hold and its release in one millisecond are ordered by the HLC counter).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Literal, get_args

from pydantic import Field

from crdt.op import Op
from edge.domain.fields import Category, Code, EntityId, Hash, Long, Name, OptShort, Qty, Short, Sku, Unit, Urgency
from edge.errors import InvalidTransition
from edge.store.optypes import Payload, register
from edge.store.views import dumps, lww_set, same_scope, stamp_of

__all__ = [
    "CLOSE_REASONS",
    "HOLD_REASONS",
    "LATTICE",
    "STAGES",
    "CloseReason",
    "HoldReason",
    "Stage",
    "Status",
    "TicketAssign",
    "TicketCreate",
    "TicketHold",
    "TicketNote",
    "TicketPart",
    "TicketPhoto",
    "TicketRate",
    "TicketStage",
    "TicketUpdate",
    "check_transition",
    "live_assigns",
    "refresh_assignee",
    "reopen_target",
    "stage_index",
    "status_key",
]

# --- vocabulary ----------------------------------------------------------------------------------
Stage = Literal["reported", "triaged", "assigned", "en_route", "on_site", "resolved", "closed", "cancelled"]
STAGES: tuple[str, ...] = get_args(Stage)
"""The ticket stages, in lattice order."""

HoldReason = Literal["awaiting_parts", "no_access", "awaiting_resident"]
HOLD_REASONS: tuple[str, ...] = get_args(HoldReason)
"""Why a ticket waits; the SLA clock pauses only for the ones the resident causes."""

CloseReason = Literal["fixed", "duplicate", "referred", "no_further_action", "unable_to_fix"]
CLOSE_REASONS: tuple[str, ...] = get_args(CloseReason)
"""Why a ticket was resolved, closed or cancelled (``fixed`` when none is given at closing)."""

# --- the status lattice and its write rule ---------------------------------------------------------

Status = tuple[int, str]
"""``(epoch, stage)``; epoch 0 until the first reopen."""

_INDEX = {stage: i for i, stage in enumerate(STAGES)}
_RESOLVED = _INDEX["resolved"]


def stage_index(stage: str) -> int:
    """The position of ``stage`` in :data:`STAGES`.

    Raises:
        InvalidTransition: ``stage`` is not a ticket stage.
    """
    try:
        return _INDEX[stage]
    except (KeyError, TypeError):
        raise InvalidTransition(f"unknown ticket stage {stage!r}; stages are {', '.join(STAGES)}") from None


def _check_status(status: object) -> Status:
    if not isinstance(status, tuple | list) or len(status) != 2 or type(status[0]) is not int or status[0] < 0:
        raise InvalidTransition(f"{status!r} is not a ticket status (epoch >= 0, stage)")
    stage_index(status[1])
    return (status[0], status[1])


LATTICE: tuple[str, ...] = (*STAGES[: STAGES.index("resolved")], "cancelled", "resolved", "closed")
"""The merge order of the stages within an epoch: :data:`STAGES` with ``cancelled`` below ``resolved``,
so a completed repair beats a concurrent cancel."""

_LATTICE_RANK = {stage: i for i, stage in enumerate(LATTICE)}


def status_key(status: Status) -> tuple[int, int]:
    """The lattice order of a status: ``(epoch, rank in LATTICE)``.

    Raises:
        InvalidTransition: ``status`` is malformed.
    """
    epoch, stage = _check_status(status)
    return (epoch, _LATTICE_RANK[stage])


def _show(status: Status | None) -> str:
    return "nothing" if status is None else f"{status[1]} (epoch {status[0]})"


def _refuse(current: Status | None, target: Status, why: str) -> InvalidTransition:
    return InvalidTransition(f"ticket status {_show(current)} -> {_show(target)} refused: {why}")


def reopen_target(current: Status) -> Status:
    """The status a reopen of ``current`` writes: ``(epoch + 1, "reported")``."""
    return (_check_status(current)[0] + 1, "reported")


def check_transition(current: Status | None, target: Status) -> None:
    """The write rule: raise unless a device at ``current`` may write ``target``.

    Args:
        current: the writer's current status, or None for a ticket not yet reported.
        target: the status the new op would write.

    Raises:
        InvalidTransition: the step is not allowed; the message names both statuses and the rule.
    """
    target = _check_status(target)
    t_epoch, t_stage = target
    if current is None:
        if target != (0, "reported"):
            raise _refuse(current, target, "a new ticket starts at reported in epoch 0")
        return
    current = _check_status(current)
    c_epoch, c_stage = current
    if c_stage == "cancelled":
        raise _refuse(current, target, "nothing moves out of cancelled")
    if t_epoch == c_epoch + 1:
        if t_stage != "reported":
            raise _refuse(current, target, "a reopen starts the next epoch at reported")
        if c_stage not in ("resolved", "closed"):
            raise _refuse(current, target, "a ticket is reopened only from resolved or closed")
        return
    if t_epoch != c_epoch:
        raise _refuse(current, target, f"the epoch must stay {c_epoch}, or be {c_epoch + 1} for a reopen")
    c_index, t_index = _INDEX[c_stage], _INDEX[t_stage]
    if t_stage == "cancelled" and c_index >= _RESOLVED:
        raise _refuse(current, target, "a ticket is cancelled only before it is resolved")
    if t_index == c_index:
        raise _refuse(current, target, "the ticket is already at that stage")
    if t_index < c_index:
        raise _refuse(current, target, "stages only move forward")
    if t_stage == "closed" and c_stage != "resolved":
        raise _refuse(current, target, "a ticket is closed only from resolved")


# --- payload models and apply rules -----------------------------------------------------------------
_STAGE_RANK = _LATTICE_RANK


class TicketCreate(Payload):
    code: Code
    unit: Unit
    category: Category
    urgency: Urgency
    text: Long
    contact: OptShort = ""
    household: Unit | None = None
    answers: dict[Name, bool] = Field(default_factory=dict, max_length=16)


class TicketUpdate(Payload):
    unit: Unit | None = None
    category: Category | None = None
    urgency: Urgency | None = None
    text: Long | None = None
    contact: OptShort | None = None


class TicketStage(Payload):
    epoch: int = Field(ge=0, le=10_000)
    stage: Stage
    reason: CloseReason | None = None


class TicketAssign(Payload):
    tech: EntityId
    supersedes: list[Hash] = Field(default_factory=list, max_length=64)


class TicketNote(Payload):
    text: Long


class TicketPhoto(Payload):
    sha256: Hash


class TicketPart(Payload):
    sku: Sku
    qty: Qty


class TicketHold(Payload):
    reason: HoldReason | None


class TicketRate(Payload):
    rating: int = Field(ge=1, le=5)
    comment: OptShort = ""


class TicketRefuse(Payload):
    reason: Short


@register("ticket.create", TicketCreate)
def _create(conn: sqlite3.Connection, op: Op, p: TicketCreate) -> None:
    fields: dict[str, Any] = p.model_dump(exclude={"answers"})
    fields["answers"] = json.dumps(p.answers, sort_keys=True)
    fields["reported_ms"] = op.hlc[0]
    lww_set(conn, "tickets", {"id": op.obj}, fields, op, scope=op.scope)
    _stage(conn, op, 0, "reported")


@register("ticket.update", TicketUpdate)
def _update(conn: sqlite3.Connection, op: Op, p: TicketUpdate) -> None:
    fields = {k: v for k, v in p.model_dump().items() if v is not None}
    if fields:
        lww_set(conn, "tickets", {"id": op.obj}, fields, op, scope=op.scope)


def _own(conn: sqlite3.Connection, op: Op) -> tuple[int, str] | None:
    """The ticket's ``(epoch, stage)`` if held; raise if it is held in another scope than ``op``'s."""
    row = conn.execute("SELECT epoch, stage, scope FROM tickets WHERE id=?", (op.obj,)).fetchone()
    if row is None:
        return None
    same_scope("ticket", op.obj, row[2], op.scope)
    return (int(row[0]), str(row[1]))


def _stage(conn: sqlite3.Connection, op: Op, epoch: int, stage: str) -> None:
    row = _own(conn, op)
    conn.execute(
        "INSERT INTO ticket_stages (ticket, scope, epoch, stage, wall, counter, dev, actor) VALUES (?,?,?,?,?,?,?,?) "
        "ON CONFLICT (ticket, epoch, stage) DO UPDATE SET wall=excluded.wall, counter=excluded.counter, "
        "dev=excluded.dev, actor=excluded.actor "
        "WHERE (excluded.wall, excluded.counter, excluded.dev) < (wall, counter, dev)",
        (op.obj, op.scope, epoch, stage, op.hlc[0], op.hlc[1], op.dev, op.actor),
    )
    if row is None:
        conn.execute(
            "INSERT INTO tickets (id, scope, epoch, stage) VALUES (?, ?, ?, ?)",
            (op.obj, op.scope, epoch, stage),
        )
    elif (epoch, _STAGE_RANK[stage]) > (row[0], _STAGE_RANK[row[1]]):
        conn.execute("UPDATE tickets SET epoch=?, stage=? WHERE id=?", (epoch, stage, op.obj))


@register("ticket.stage", TicketStage)
def _stage_op(conn: sqlite3.Connection, op: Op, p: TicketStage) -> None:
    _stage(conn, op, p.epoch, p.stage)
    if p.reason is not None:
        _close_reason(conn, op, p.epoch, p.reason)


def _close_reason(conn: sqlite3.Connection, op: Op, epoch: int, reason: str) -> None:
    """Keep the reason with the highest ``(epoch, stamp)``, and its epoch: a reason belongs to its epoch."""
    raw, held = conn.execute("SELECT stamps, close_epoch FROM tickets WHERE id=?", (op.obj,)).fetchone()
    stamps: dict[str, list[Any]] = json.loads(raw)
    stamp = stamp_of(op)
    if "close_reason" in stamps and (epoch, stamp) < (held if held is not None else -1, stamps["close_reason"]):
        return
    stamps["close_reason"] = stamp
    conn.execute(
        "UPDATE tickets SET close_reason=?, close_epoch=?, stamps=? WHERE id=?", (reason, epoch, dumps(stamps), op.obj)
    )


@register("ticket.assign", TicketAssign)
def _assign(conn: sqlite3.Connection, op: Op, p: TicketAssign) -> None:
    _own(conn, op)
    conn.execute(
        "INSERT OR IGNORE INTO ticket_assigns (op, ticket, scope, tech, wall, counter, dev, actor) "
        "VALUES (?,?,?,?,?,?,?,?)",
        (op.id, op.obj, op.scope, p.tech, op.hlc[0], op.hlc[1], op.dev, op.actor),
    )
    conn.executemany(
        "INSERT OR IGNORE INTO ticket_supersedes (ticket, scope, op) VALUES (?, ?, ?)",
        [(op.obj, op.scope, h) for h in p.supersedes],
    )
    refresh_assignee(conn, op.obj, op.scope)


def live_assigns(conn: sqlite3.Connection, ticket: str) -> list[tuple[str, str, int, int, str]]:
    """Assigns of ``ticket`` not superseded: ``(op, tech, wall, counter, dev)``, best first."""
    rows = conn.execute(
        "SELECT op, tech, wall, counter, dev FROM ticket_assigns a WHERE ticket=? AND NOT EXISTS "
        "(SELECT 1 FROM ticket_supersedes s WHERE s.ticket=a.ticket AND s.op=a.op) "
        "ORDER BY wall DESC, counter DESC, dev DESC, op DESC",
        (ticket,),
    ).fetchall()
    return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]


def refresh_assignee(conn: sqlite3.Connection, ticket: str, scope: str) -> None:
    live = live_assigns(conn, ticket)
    winner = live[0][1] if live else None
    conflict = 1 if len({a[1] for a in live}) > 1 else 0
    if conn.execute("SELECT 1 FROM tickets WHERE id=?", (ticket,)).fetchone() is None:
        conn.execute("INSERT INTO tickets (id, scope) VALUES (?, ?)", (ticket, scope))
    conn.execute("UPDATE tickets SET assignee=?, conflict=? WHERE id=?", (winner, conflict, ticket))


def _note(conn: sqlite3.Connection, op: Op, kind: str, text: str, sku: str | None, qty: int | None) -> None:
    _own(conn, op)
    conn.execute(
        "INSERT OR IGNORE INTO ticket_notes (op, ticket, scope, kind, text, sku, qty, actor, wall, counter, dev) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (op.id, op.obj, op.scope, kind, text, sku, qty, op.actor, op.hlc[0], op.hlc[1], op.dev),
    )


@register("ticket.comment", TicketNote)
def _comment(conn: sqlite3.Connection, op: Op, p: TicketNote) -> None:
    _note(conn, op, "comment", p.text, None, None)


@register("ticket.photo", TicketPhoto)
def _photo(conn: sqlite3.Connection, op: Op, p: TicketPhoto) -> None:
    _note(conn, op, "photo", p.sha256, None, None)


@register("ticket.part", TicketPart)
def _part(conn: sqlite3.Connection, op: Op, p: TicketPart) -> None:
    _note(conn, op, "part", "", p.sku, p.qty)


@register("ticket.hold", TicketHold)
def _hold(conn: sqlite3.Connection, op: Op, p: TicketHold) -> None:
    lww_set(
        conn,
        "tickets",
        {"id": op.obj},
        {"hold_reason": p.reason, "hold_since": op.hlc[0] if p.reason else None},
        op,
        scope=op.scope,
    )
    _note(conn, op, "hold", p.reason or "released", None, None)


@register("ticket.rate", TicketRate)
def _rate(conn: sqlite3.Connection, op: Op, p: TicketRate) -> None:
    lww_set(conn, "tickets", {"id": op.obj}, {"rating": p.rating}, op, scope=op.scope)
    if p.comment:
        _note(conn, op, "rating", p.comment, None, None)
