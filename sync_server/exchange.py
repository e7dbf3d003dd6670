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
from edge.reads import device_heads, ledger_keys, max_index, ops_page, stream_hashes
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

__all__ = ["SyncRequest", "handle_sync", "quarantine", "restore_mark"]

MAX_BEHIND_HASHES = 20_000
AUTHORISATION_CODES = frozenset({"forbidden", "scope", "unknown_device", "revoked"})


class SyncRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)

    cursor: int = Field(ge=0, le=2**62)
    push: list[bytes] = Field(default_factory=list)
    limit: int = Field(default=1000, ge=1, le=2**31)
    tree_size: int | None = Field(default=None, ge=0)
    cosignatures: list[Any] = Field(default_factory=list)
    clock_offset_ms: int | None = Field(default=None, ge=-(2**62), le=2**62)
    mine: dict[str, int] | None = None
    own: bool = False
    epoch: int = Field(default=0, ge=0, le=2**31)


@dataclass
class _Push:
    """The ``on_accept`` hook: own ops only, leaf indices, bounded-counter check."""

    caller: Caller
    relay: frozenset[str] = frozenset()
    leaves: list[int] = field(default_factory=list)
    overspent: list[tuple[Op, str]] = field(default_factory=list)

    def __call__(self, conn: sqlite3.Connection, op: Op, idx: int) -> None:
        if op.dev != self.caller.dev and op.dev not in self.relay:
            raise Forbidden("forbidden", f"device {self.caller.dev} pushed op {op.where()} of another device")
        self.leaves.append(idx - 1)
        for k in ledger_keys(conn, op.id):
            held = rights(conn, k.kind, k.scope, k.key, op.dev)
            total = counter_value(conn, k.kind, k.scope, k.key)
            if held < 0 or total < 0:
                counter = f"{k.kind} {k.scope}/{k.key}"
                why = f"op {op.where()} ({op.type}) would leave {counter} at rights {held}, value {total}"
                self.overspent.append((op, why))
                return


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
    server: SyncServer, conn: sqlite3.Connection, caller: Caller, push: list[bytes], relay: frozenset[str]
) -> tuple[_Push, list[OpRejected]]:
    """Apply a push in the caller's transaction, stopping at the first rejected op.

    A device pushes in causal order, so an op after a rejected one may depend on it: it is not
    applied (a ``skipped`` entry), which keeps the district log causal even for a faulty device.
    The common case (nothing rejected, no counter overspent) applies the whole push in one call.

    The bounded-counter check (``_Push``) runs after each accepted op. An op that would leave the
    writer's rights or a counter below zero is never kept: it is undone and refused as ``overspent``
    (a per-op rejection, never an exception out of the handler), the ops after it are ``skipped``,
    and the caller quarantines the device. So the district's counters never go below zero, whatever
    a faulty or hostile device pushes (``docs/design.md`` §5, never negative).
    """
    store = server.node.store
    hook = _Push(caller, relay)
    conn.execute("SAVEPOINT push")
    try:
        result = store.apply_remote_in(conn, push, on_accept=hook)
        if result.rejected or hook.overspent:
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
    hook = _Push(caller, relay)
    for pos, raw in enumerate(push):
        conn.execute("SAVEPOINT one")
        rejected = store.apply_remote_in(conn, [raw], on_accept=hook).rejected
        if hook.overspent:
            conn.execute("ROLLBACK TO one")
            conn.execute("RELEASE one")
            op, why = hook.overspent[0]
            del hook.leaves[-1:]  # the refused op is not in the log
            refusal = OpRejected("overspent", why, op.dev, op.scope, op.seq)
            return hook, [refusal] + [_skipped(r) for r in push[pos + 1 :]]
        conn.execute("RELEASE one")
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


def _behind(raw: bytes, caller: str, behind: dict[str, int], mine: dict[str, int]) -> OpRejected:
    """The refusal of a pushed op while the district holds more of the caller's streams than it knows."""
    streams = ", ".join(f"{caller}/{s}: district #{h}, device #{mine.get(s, 0)}" for s, h in sorted(behind.items()))
    detail = f"not applied: the district holds more of this device's streams than it knows ({streams})"
    try:
        op = decode_op(raw)
    except (CRDTError, TypeError):
        return OpRejected("behind", detail)
    return OpRejected("behind", detail, op.dev, op.scope, op.seq)


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
    relay = frozenset({server.node.dev})  # the district's own ops, sent back after a district restore
    hook = _Push(caller, relay)
    rejected: list[OpRejected] = []
    equivocations: list[OpRejected] = []
    behind = _behind_streams(conn, caller.dev, msg.mine)
    try:
        with atomic(conn):
            server.gate.mark_seen(conn, caller.claim)
            note_clock(server, conn, caller, msg.clock_offset_ms)
            if msg.push and behind:
                rejected = [_behind(raw, caller.dev, behind, msg.mine or {}) for raw in msg.push]
            elif msg.push:
                fence_ahead(server, conn, caller, msg.push)
                hook, rejected = _apply_push(server, conn, caller, msg.push, relay)
                foreign = [
                    r
                    for r in rejected
                    if r.code in AUTHORISATION_CODES or (r.dev and r.dev not in relay | {caller.dev})
                ]
                if foreign:
                    raise Forbidden(
                        "forbidden", f"{len(foreign)} pushed ops refused: {foreign[0]}", rejected=_rejections(foreign)
                    )
                equivocations = [r for r in rejected if r.code == "equivocation" and r.dev == caller.dev]
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
    limit = min(msg.limit, server.limits.max_limit)
    answer = pull(server, caller, _restored_cursor(server, msg.cursor, msg.epoch), limit, own=msg.own or bool(behind))
    answer["accepted"] = hook.leaves
    answer["rejected"] = _rejections(rejected)
    answer["behind"] = behind
    answer["behind_hashes"] = {  # so the device finds where its copy and the district's part
        scope: stream_hashes(conn, caller.dev, scope, int((msg.mine or {}).get(scope, 0)), MAX_BEHIND_HASHES)
        for scope in behind
    }
    if hook.overspent:
        answer["quarantined"] = hook.overspent[0][1]
    tree_size = msg.tree_size or 0
    mark = server.node.store.get("district_restore")
    if isinstance(mark, dict) and msg.epoch < int(mark["epoch"]) and tree_size > int(mark["size"]):
        # This kiosk verified a longer log than the restored one: prove the answer's checkpoint from the
        # restored log's signed checkpoint instead (edge.audit.client accepts it once, and records it).
        answer["restore_checkpoint"] = mark["checkpoint"]
        tree_size = int(mark["size"])
    return PendingSync(answer, tree_size, msg.push)


def _behind_streams(conn: sqlite3.Connection, dev: str, mine: dict[str, int] | None) -> dict[str, int]:
    """The caller's streams of which the district holds more than the caller says it knows (``mine``).

    A device that was restored from an older copy of its data folder knows less of its own streams than
    the district; it must pull its own ops back before it pushes, or the ops it wrote since the restore
    would take sequence numbers the district already holds (an equivocation). ``None`` (an older client)
    checks nothing.
    """
    if mine is None:
        return {}
    return {scope: seq for scope, seq in device_heads(conn, dev).items() if seq > int(mine.get(scope, 0))}


def restore_mark(server: SyncServer) -> dict[str, int]:
    """``{epoch, top, size, at}`` of the last ``linli-server restored`` (epoch 0: never restored)."""
    mark = server.node.store.get("district_restore")
    if not isinstance(mark, dict):
        return {"epoch": 0, "top": 0, "size": 0, "at": 0}
    return {k: int(v) for k, v in mark.items() if k != "checkpoint"}


def _restored_cursor(server: SyncServer, cursor: int, epoch: int) -> int:
    """The cursor to pull from: a kiosk that last synced before the district was restored from an older
    copy pulls again from the restore point, so no op appended since (re-pushed by the kiosks) is skipped.

    Every answer names the district's restore ``epoch``; the client sends back the one it last synced in.
    A cursor past the end of the log (a restore nobody declared) is taken back to the end of the log.
    """
    mark = restore_mark(server)
    if epoch < mark["epoch"]:
        cursor = min(cursor, mark["top"])
    return min(cursor, max_index(server.node.conn))


def pull(server: SyncServer, caller: Caller, cursor: int, limit: int, *, own: bool = False) -> dict[str, Any]:
    """The page after ``cursor`` of the caller's scopes, its own heads and the new cursor.

    The caller's own ops are left out, unless ``own`` (a device that is pulling its own ops back after
    a restore from an older copy of its data folder).
    """
    conn = server.node.conn
    top = max_index(conn)
    ops: list[bytes] = []
    idxs: list[int] = []
    size = 0
    more = False
    exclude = None if own else caller.dev
    for entry in ops_page(conn, cursor, upto=top, limit=limit + 1, scopes=caller.scopes, exclude_dev=exclude):
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
        "epoch": restore_mark(server)["epoch"],
        "relay_heads": device_heads(conn, server.node.dev) if restore_mark(server)["epoch"] else {},
        "checkpoint": None,
        "server_time_ms": server.wall(),
    }
