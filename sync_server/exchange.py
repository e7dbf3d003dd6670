"""``POST /v1/sync``: push against stream heads, pull in log order from a cursor (``docs/sync.md``).

One request, one write transaction: the nonce and last-seen time, every pushed op (validated by
``Store.apply_remote_in``, ``docs/design.md`` §2.5), the bounded-counter check after each accepted op and any
quarantine. Then the pull is read: ops of the caller's scopes after its cursor, in the order the
district accepted them (``ops.idx``; leaf index = idx - 1), leaving out the caller's own ops, at most
``limit`` ops and ``max_answer_bytes``; ``more`` says whether a page was cut short. The accepted ops are
appended to the district's Merkle log and the request's ``cosignatures`` kept in the same savepoint
(``ServerAudit.receive``); the answer is completed with the group's signed checkpoint and the proofs
(``checkpoint``, ``consistency``, ``leaves``, ``inclusion``; ``docs/audit.md``) by ``ServerAudit.finish``.

Request-level refusals (the whole push is rolled back unless said otherwise):

- 403 ``forbidden``: an op of another device, or of a scope or type the caller may not write;
- 403 ``quarantined``: a push from a quarantined device;
- 409 ``equivocation``: a pushed op conflicts with a held one at the same seq. This one *commits*:
  the evidence is kept, the device flagged and quarantined, the ops before it accepted.

Other per-op failures (``malformed``, ``too_large``, ``signature``, ``gap``, ``wrong_prev``,
``invalid_data``, ``apply`` ...) are ``rejected`` entries of a 200 answer, with the same code names;
the ops pushed after a rejected one are not applied (``skipped``), so the log stays causal.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crdt.errors import CRDTError
from crdt.hlc import SKEW_LIMIT_MS
from crdt.op import Op, decode_op
from edge.domain.devices import fences_for
from edge.errors import OpRejected
from edge.reads import device_heads, ledger_keys, max_index, ops_page
from edge.store.views import counter_value, rights
from edge.sync import unpack
from edge.sync.client import CLOCK_ALARM_MS
from sync_server.audit.routes import PendingSync
from sync_server.auth import Caller
from sync_server.db import atomic
from sync_server.errors import BadRequest, Conflict, Forbidden
from sync_server.http_types import HttpRequest

if TYPE_CHECKING:
    from sync_server.core import SyncServer

__all__ = ["SyncRequest", "handle_sync", "quarantine"]

AUTHORISATION_CODES = frozenset({"forbidden", "scope", "unknown_device", "revoked"})


class SyncRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)

    cursor: int = Field(ge=0, le=2**62)
    push: list[bytes] = Field(default_factory=list)
    limit: int = Field(default=1000, ge=1, le=2**31)
    tree_size: int | None = Field(default=None, ge=0)
    cosignatures: list[Any] = Field(default_factory=list)
    clock_offset_ms: int | None = Field(default=None, ge=-(2**62), le=2**62)


@dataclass
class _Push:
    """The ``on_accept`` hook: own ops only, leaf indices, bounded-counter check."""

    caller: Caller
    leaves: list[int] = field(default_factory=list)
    overspent: list[tuple[Op, str]] = field(default_factory=list)

    def __call__(self, conn: sqlite3.Connection, op: Op, idx: int) -> None:
        if op.dev != self.caller.dev:
            raise Forbidden("forbidden", f"device {self.caller.dev} pushed op {op.where()} of another device")
        self.leaves.append(idx - 1)
        for k in ledger_keys(conn, op.id):
            held = rights(conn, k.kind, k.scope, k.key, op.dev)
            total = counter_value(conn, k.kind, k.scope, k.key)
            if held < 0 or total < 0:
                counter = f"{k.kind} {k.scope}/{k.key}"
                why = f"op {op.where()} ({op.type}) leaves {counter} at rights {held}, value {total}"
                self.overspent.append((op, why))


def quarantine(
    server: SyncServer, conn: sqlite3.Connection, dev: str, reason: str, op: bytes | None, detail: str
) -> None:
    """Refuse ``dev``'s further pushes; its ops stay as evidence (inside the caller's transaction)."""
    conn.execute(
        "INSERT INTO quarantine (dev, reason, op_hash, detail, ms) VALUES (?, ?, ?, ?, ?) ON CONFLICT (dev) DO NOTHING",
        (dev, reason, op, detail, server.wall()),
    )
    server.node.store.flag(conn, dev, "quarantine", f"{reason}: {detail}"[:500])


class _Redo(Exception):
    """A push held a rejected op: undo it and apply it again op by op, up to that op."""


def _apply_push(
    server: SyncServer, conn: sqlite3.Connection, caller: Caller, push: list[bytes]
) -> tuple[_Push, list[OpRejected]]:
    """Apply a push in the caller's transaction, stopping at the first rejected op.

    A device pushes in causal order, so an op after a rejected one may depend on it: it is not
    applied (a ``skipped`` entry), which keeps the district log causal even for a faulty device.
    The common case (nothing rejected) applies the whole push in one call.
    """
    store = server.node.store
    hook = _Push(caller)
    conn.execute("SAVEPOINT push")
    try:
        result = store.apply_remote_in(conn, push, on_accept=hook)
        if result.rejected:
            raise _Redo
    except _Redo:
        conn.execute("ROLLBACK TO push")
    except BaseException:
        conn.execute("ROLLBACK TO push")
        conn.execute("RELEASE push")
        raise
    else:
        conn.execute("RELEASE push")
        return hook, []
    conn.execute("RELEASE push")
    hook = _Push(caller)
    for pos, raw in enumerate(push):
        rejected = store.apply_remote_in(conn, [raw], on_accept=hook).rejected
        if rejected:
            return hook, rejected + [_skipped(r) for r in push[pos + 1 :]]
    return hook, []


def note_clock(server: SyncServer, conn: sqlite3.Connection, caller: Caller, offset: int | None) -> None:
    """Flag the caller ``clock_skew`` while the clock offset it learnt from us says its clock is wrong.

    A kiosk whose clock restarted in the past stamps its ops on the district's time once corrected,
    so only its own report shows the district that its clock is wrong; the flag is lifted when the
    offset it reports is small again. Older clients send no offset: nothing changes.
    """
    if offset is None:
        return
    store = server.node.store
    if abs(offset) > CLOCK_ALARM_MS:
        way = "behind" if offset > 0 else "ahead of"
        store.flag(conn, caller.dev, "clock_skew", f"device clock {abs(offset) // 60_000} min {way} the district's")
    else:
        store.unflag(conn, caller.dev, "clock_skew")


def fence_ahead(server: SyncServer, conn: sqlite3.Connection, caller: Caller, push: list[bytes]) -> None:
    """Before applying a push, fence the clock of a caller whose ops are stamped far ahead of ours.

    The ``device.fence`` op (``edge/domain/devices.py``) goes into the log before those ops, so every
    replica pulling in log order compares them at the district's clock of now (``docs/design.md`` §2.4).
    """
    ops = []
    for raw in push:
        try:
            op = decode_op(raw)
        except (CRDTError, TypeError):
            continue
        if op.dev == caller.dev:
            ops.append(op)
    now = server.node.store.wall()
    for dev, through in fences_for(ops, now, SKEW_LIMIT_MS).items():
        with server.node.store.tx_in(conn) as tx:
            tx.emit("district", "device.fence", dev, {"max_wall": now, "through": through, "reason": "clock ahead"})


def _skipped(raw: bytes) -> OpRejected:
    try:
        op = decode_op(raw)
    except (CRDTError, TypeError):
        return OpRejected("skipped", "not applied: an earlier op of this push was rejected")
    return OpRejected("skipped", "not applied: an earlier op of this push was rejected", op.dev, op.scope, op.seq)


def _rejections(rejected: list[OpRejected]) -> list[dict[str, object]]:
    return [r.as_dict() for r in rejected]


def handle_sync(server: SyncServer, req: HttpRequest) -> PendingSync:
    """``POST /v1/sync``; the answer's audit fields are added by ``ServerAudit.finish`` for the whole group."""
    caller = server.gate.authenticate(req.headers.get("authorization"), req.method, req.path_query, req.body)
    try:
        msg = SyncRequest.model_validate(unpack(req.body, server.limits.max_body))
    except (CRDTError, ValidationError) as exc:
        raise BadRequest("malformed", f"sync body: {str(exc)[:300]}") from None
    if len(msg.push) > server.limits.max_push:
        raise BadRequest("malformed", f"push of {len(msg.push)} ops is over the limit of {server.limits.max_push}")
    conn = server.node.conn
    metrics = server.metrics
    if msg.push:
        row = conn.execute("SELECT reason, detail FROM quarantine WHERE dev=?", (caller.dev,)).fetchone()
        if row is not None:
            metrics.reject("quarantined", len(msg.push))
            raise Forbidden("quarantined", f"device {caller.dev} is quarantined ({row[0]}: {row[1]})")
    hook = _Push(caller)
    rejected: list[OpRejected] = []
    equivocations: list[OpRejected] = []
    try:
        with atomic(conn):
            server.gate.mark_seen(conn, caller.claim)
            note_clock(server, conn, caller, msg.clock_offset_ms)
            if msg.push:
                fence_ahead(server, conn, caller, msg.push)
                hook, rejected = _apply_push(server, conn, caller, msg.push)
                foreign = [r for r in rejected if r.code in AUTHORISATION_CODES or (r.dev and r.dev != caller.dev)]
                if foreign:
                    raise Forbidden(
                        "forbidden", f"{len(foreign)} pushed ops refused: {foreign[0]}", rejected=_rejections(foreign)
                    )
                equivocations = [r for r in rejected if r.code == "equivocation"]
                if equivocations:
                    quarantine(server, conn, caller.dev, "equivocation", None, str(equivocations[0]))
                for op, why in hook.overspent[:1]:
                    quarantine(server, conn, caller.dev, "overspent", op.hash, why)
            server.audit.receive(conn, msg.cosignatures)
    except Forbidden:
        metrics.reject("forbidden", len(msg.push))
        raise
    now = server.wall()
    metrics.seen(caller.dev, now)
    metrics.accept(len(hook.leaves))
    for r in rejected:
        metrics.reject(r.code)
    if equivocations:
        raise Conflict(
            "equivocation",
            f"device {caller.dev} equivocated: {equivocations[0]}; it is quarantined",
            rejected=_rejections(rejected),
            accepted=hook.leaves,
        )
    answer = pull(server, caller, msg.cursor, min(msg.limit, server.limits.max_limit))
    answer["accepted"] = hook.leaves
    answer["rejected"] = _rejections(rejected)
    if hook.overspent:
        answer["quarantined"] = hook.overspent[0][1]
    return PendingSync(answer, msg.tree_size or 0, msg.push)


def pull(server: SyncServer, caller: Caller, cursor: int, limit: int) -> dict[str, Any]:
    """The page after ``cursor`` of the caller's scopes, its own heads and the new cursor."""
    conn = server.node.conn
    top = max_index(conn)
    ops: list[bytes] = []
    idxs: list[int] = []
    size = 0
    more = False
    for entry in ops_page(conn, cursor, upto=top, limit=limit + 1, scopes=caller.scopes, exclude_dev=caller.dev):
        if len(ops) >= limit or (ops and size + len(entry.raw) > server.limits.max_answer_bytes):
            more = True
            break
        ops.append(entry.raw)
        idxs.append(entry.idx)
        size += len(entry.raw)
    heads = {f"{caller.dev}/{scope}": seq for scope, seq in device_heads(conn, caller.dev).items()}
    return {
        "ops": ops,
        "idx": idxs,
        "cursor": idxs[-1] if more else max(cursor, top),
        "heads": heads,
        "more": more,
        "checkpoint": None,
        "server_time_ms": server.wall(),
    }
