"""The sync client, sans-IO: build a request, apply an answer; the wire is ``edge.sync.protocol``.

``SyncClient`` pushes this device's ops that the server lacks (from the heads it last reported, in
local log order, so causes go before effects) and applies each pulled page with
``Store.apply_remote_in`` in one transaction, together with the new cursor and heads. Every request
also carries the audit fields ``tree_size`` and ``cosignatures``, and every answer's signed checkpoint
and proofs are verified (``edge.audit.client.verify_sync_answer``: signature by the pinned district
key, consistency with the trusted checkpoint, inclusion of the pushed ops) *before* a pulled op is
applied; a failure raises ``AuditAlarm``, applies nothing, keeps the cursor, and every later sync
refuses to start until staff clear the alarm (``docs/audit.md``). ``sync_once``
drives it over any ``Transport`` until the pull is caught up and nothing is left to push; the
daemon, the CLI, the tests and the simulation all run this same code.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from crdt.errors import CRDTError
from crdt.keys import device_id
from edge.audit.client import check_alarm, request_fields, verify_sync_answer
from edge.errors import (
    AuditAlarm,
    ClockCorrected,
    Duplicate,
    InputError,
    OpRejected,
    OwnOpsRejected,
    ServerRefused,
    SyncFailed,
)
from edge.store.db import write_tx
from edge.store.log import MAX_CLOCK_OFFSET_MS
from edge.sync import recover
from edge.sync.protocol import (
    CONTENT_TYPE,
    ENROLL_PATH,
    MAX_ANSWER,
    SYNC_PATH,
    EnrollAnswer,
    SyncAnswer,
    auth_header,
    pack,
    unpack,
)
from edge.sync.transport import Transport

if TYPE_CHECKING:
    from edge.node import Node

__all__ = ["Outgoing", "SyncClient", "SyncReport", "enroll", "sync_once"]

CLOCK_ALARM_MS = 5 * 60_000
MAX_ROUNDS = 10_000
ENROLLMENT_FILE = "enrollment.json"


def _error_of(status: int, body: bytes) -> ServerRefused:
    try:
        msg = unpack(body, MAX_ANSWER)
        code, detail = str(msg["error"]), str(msg.get("detail", ""))
    except (CRDTError, KeyError, TypeError):
        return ServerRefused(status, "http", f"HTTP {status}: {body[:200]!r}")
    cls = ClockCorrected if code == "stale_timestamp" else ServerRefused
    return cls(status, code, detail, msg)


# --- the client -----------------------------------------------------------------------------------
class _Redo(Exception):
    """A pulled page held a rejected op: roll it back and apply it op by op."""


@dataclass
class Outgoing:
    """A request built by ``SyncClient.request``."""

    body: bytes
    pushed: int
    cursor: int
    push: list[bytes] = field(default_factory=list)
    tree_size: int = 0
    mine: dict[str, int] = field(default_factory=dict)


@dataclass
class SyncReport:
    """What one ``sync_once`` did."""

    rounds: int = 0
    pushed: int = 0
    accepted: int = 0
    pulled: int = 0
    cursor: int = 0
    pending: int = 0
    blocked: list[dict[str, Any]] = field(default_factory=list)
    clock_offset_ms: int = 0
    caught_up: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class SyncClient:
    """The sans-IO sync state machine of one node.

    Args:
        node: the node; its meta holds ``cursor``, ``pushed`` (the server's heads of this device's
            streams), ``clock_offset_ms`` and ``sync_blocked``.
        limit: ops per pulled page; push_batch, max_push_bytes: bound each push.
    """

    def __init__(
        self,
        node: Node,
        *,
        limit: int = 1000,
        push_batch: int = 1000,
        max_push_bytes: int = 4 << 20,
        server: str | None = None,
    ) -> None:
        self.node = node
        self.server = server  # named in an audit alarm (default: the enrolled server_url)
        self.store = node.store
        self.limit = limit
        self.push_batch = push_batch
        self.max_push_bytes = max_push_bytes

    retry_ms: int = 0
    """A correction read from a refusal (not verified, so used only to sign the retried request)."""

    @property
    def offset_ms(self) -> int:
        """The correction of the device clock learnt from verified answers (``Store.clock_offset``)."""
        return self.store.clock_offset()

    def now_ms(self) -> int:
        """This node's wall clock (corrected by the learnt offset), for signing a request."""
        return self.store.wall() + self.retry_ms

    def headers(self, method: str, path: str, body: bytes) -> dict[str, str]:
        return {
            "Authorization": auth_header(self.store.ident.key, method, path, body, self.now_ms()),
            "Content-Type": CONTENT_TYPE,
        }

    def outbox(self) -> list[bytes]:
        """This device's ops the server lacks, in local log order, up to the first blocked one.

        Nothing while it pulls its own ops back after a restore (``edge.sync.recover``). After the district
        was restored from an older copy, the district's own ops it lacks (``relay_heads``) go too: only
        the kiosks hold them now, and the district checks its own signature on each.
        """
        if recover.recovering(self.store):
            return []
        pushed: dict[str, int] = dict(self.store.get("pushed", {}))
        blocked: dict[str, int] = {k: v["seq"] for k, v in self.store.get("sync_blocked", {}).items()}
        me = self.node.dev
        senders = {me}
        district = self.store.get_district_dev()
        if int(self.store.get("district_epoch", 0)) and district and district != me:
            senders.add(district)
            relay: dict[str, int] = self.store.get("relay_heads", {})
            pushed.update({f"{district}/{scope}": int(relay.get(scope, 0)) for scope in self.node.scopes})
        rows: list[tuple[int, str, str, int, bytes]] = []
        for key, head in self.store.heads().items():
            dev, scope = key.split("/")
            if dev not in senders or head <= pushed.get(key, 0):
                continue
            for idx, seq, raw in self.store.conn.execute(
                "SELECT idx, seq, raw FROM ops WHERE dev=? AND scope=? AND seq>? ORDER BY seq LIMIT ?",
                (dev, scope, pushed.get(key, 0), self.push_batch),
            ):
                rows.append((int(idx), dev, scope, int(seq), bytes(raw)))
        rows.sort()
        out: list[bytes] = []
        size = 0
        for _, dev, scope, seq, raw in rows:
            stop = blocked.get(f"{dev}/{scope}")
            if stop is not None and seq >= stop:
                break
            if len(out) >= self.push_batch or (out and size + len(raw) > self.max_push_bytes):
                break
            out.append(raw)
            size += len(raw)
        return out

    def outbox_key(self) -> tuple[tuple[str, int], ...]:
        """What the server last said it holds of this device's streams (to notice a stall)."""
        return tuple(sorted(self.store.get("pushed", {}).items()))

    def pending(self) -> int:
        """How many of this device's ops the server does not hold yet (as last reported)."""
        pushed: dict[str, int] = self.store.get("pushed", {})
        me = self.node.dev
        return sum(
            max(0, head - pushed.get(key, 0)) for key, head in self.store.heads().items() if key.startswith(me + "/")
        )

    def request(self) -> Outgoing:
        """The next ``/v1/sync`` request."""
        push = self.outbox()
        cursor = int(self.store.get("cursor", 0))
        audit = request_fields(self.store)
        me = self.node.dev + "/"
        # What this device believes the server holds of its streams: a server that holds more (this
        # device was restored from an older copy) applies none of the push and returns its own ops.
        mine = {k[len(me) :]: int(v) for k, v in self.store.get("pushed", {}).items() if k.startswith(me)}
        fields = {
            "cursor": cursor,
            "push": push,
            "limit": self.limit,
            "mine": mine,
            "own": recover.recovering(self.store),
            "epoch": int(self.store.get("district_epoch", 0)),
            "clock_offset_ms": self.offset_ms,
            **audit,
        }
        return Outgoing(pack(fields), len(push), cursor, push, int(audit["tree_size"]), mine)

    def observe_time(self, server_ms: int, sent_ms: int, got_ms: int) -> int:
        """How far this node's (corrected) wall clock is behind the server's at the midpoint of a round
        trip whose ends ``sent_ms``, ``got_ms`` were read from ``Store.wall`` (not stored)."""
        return server_ms - (sent_ms + got_ms) // 2

    def _time_meta(self, conn: Any, offset: int) -> None:
        """Record the offset learnt from a verified answer: the node's wall clock applies it from now on.

        A device clock more than ``CLOCK_ALARM_MS`` off the district's raises the alarm and flags this
        device (the one whose clock is wrong) ``clock_skew``; back within it, the flag is lifted.
        """
        self.store.meta_set(conn, "clock_offset_ms", offset)
        alarm = abs(offset) > CLOCK_ALARM_MS
        self.store.meta_set(conn, "clock_offset_alarm", alarm)
        self.retry_ms = 0
        me = self.node.dev
        if alarm:
            way = "behind" if offset > 0 else "ahead of"
            self.store.flag(
                conn, me, "clock_skew", f"this device's clock is {abs(offset) // 60_000} min {way} the district's"
            )
        else:
            self.store.unflag(conn, me, "clock_skew")

    def refused(self, status: int, body: bytes, sent_ms: int, got_ms: int) -> ServerRefused:
        """Read an error answer: correct the clock for the retry from its server time, block rejected own ops.

        An error answer is not verified, so its time signs the retried request only; the node's clock
        takes the offset from the next verified answer.
        """
        err = _error_of(status, body)
        server_ms = err.body.get("server_time_ms")
        if type(server_ms) is int:
            self.retry_ms = max(
                -MAX_CLOCK_OFFSET_MS, min(MAX_CLOCK_OFFSET_MS, self.observe_time(server_ms, sent_ms, got_ms))
            )
        with write_tx(self.store.conn) as conn:
            rejected = err.body.get("rejected")
            if isinstance(rejected, list):
                self._block(conn, [r for r in rejected if isinstance(r, dict)])
        return err

    def _block(self, conn: Any, rejected: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Record rejections of this device's ops (but ``gap`` and ``skipped``: the next heads repair them)."""
        mine = [
            r for r in rejected if r.get("dev") == self.node.dev and r.get("code") not in ("gap", "skipped", "behind")
        ]
        if mine:
            blocked: dict[str, dict[str, Any]] = self.store.meta_get(conn, "sync_blocked", {})
            for r in mine:
                key = f"{r['dev']}/{r['scope']}"
                if key not in blocked or int(r["seq"]) < blocked[key]["seq"]:
                    blocked[key] = {"seq": int(r["seq"]), "code": str(r["code"]), "detail": str(r["detail"])}
            self.store.meta_set(conn, "sync_blocked", blocked)
        return mine

    def receive(self, out: Outgoing, body: bytes, sent_ms: int, got_ms: int) -> tuple[SyncAnswer, int]:
        """Apply a 200 answer in one transaction; returns it and the number of pulled ops applied.

        Raises:
            SyncFailed: the answer is malformed, or a pulled op was rejected (applied up to it).
            AuditAlarm: the answer's checkpoint or proofs do not verify; nothing was applied.
        """
        try:
            raw = unpack(body, MAX_ANSWER)
            answer = SyncAnswer.model_validate(raw)
        except (CRDTError, ValidationError) as exc:
            raise SyncFailed(f"the server's sync answer is malformed: {str(exc)[:300]}") from None
        if len(answer.idx) != len(answer.ops) or any(i > answer.cursor for i in answer.idx):
            raise SyncFailed("the server's sync answer has ops and idx of different lengths or past the cursor")
        try:  # the audit checks come before a byte of the answer is applied
            verify_sync_answer(self.store, raw, out.push, out.tree_size, server=self.server)
        except InputError as exc:  # another sync moved the trusted checkpoint meanwhile
            raise SyncFailed(f"audit: {exc}") from None
        scopes = set(self.node.scopes)
        offset = self.offset_ms + self.observe_time(answer.server_time_ms, sent_ms, got_ms)
        offset = max(-MAX_CLOCK_OFFSET_MS, min(MAX_CLOCK_OFFSET_MS, offset))
        conn = self.store.conn
        try:
            with write_tx(conn):
                # The verified answer's time corrects the clock before its ops are observed by it.
                self._time_meta(conn, offset)
                # Restored from an older copy: set its unacknowledged own ops aside (edge.sync.recover).
                recover.stash(self.store, conn, answer.behind, out.mine, answer.behind_hashes)
                result = self.store.apply_remote_in(conn, answer.ops, accept_scopes=scopes)
                if result.rejected:
                    raise _Redo
                self._commit_meta(conn, answer, answer.cursor, offset)
        except _Redo:
            return self._receive_slowly(answer, offset, out)
        return answer, len(answer.ops)

    def _commit_meta(self, conn: Any, answer: SyncAnswer, cursor: int, offset: int) -> None:
        me = self.node.dev + "/"
        self.store.meta_set(conn, "cursor", cursor)
        self.store.meta_set(conn, "pushed", {k: v for k, v in answer.heads.items() if k.startswith(me)})
        self.store.meta_set(conn, "district_epoch", answer.epoch)
        self.store.meta_set(conn, "relay_heads", answer.relay_heads)
        self._time_meta(conn, offset)
        self._block(conn, [r.model_dump() for r in answer.rejected])
        recover.pulled(self.store, conn)
        if cursor == answer.cursor and not answer.more:  # every own op of the district is held now
            recover.finish(self.store, conn, {k[len(me) :]: v for k, v in answer.heads.items() if k.startswith(me)})

    def _receive_slowly(self, answer: SyncAnswer, offset: int, out: Outgoing) -> tuple[SyncAnswer, int]:
        """A pulled op was rejected: undo the page, then apply it up to that op and stop there.

        The cursor stays before the rejected op, so nothing that may depend on it is applied, and the
        next sync tries it again (after an upgrade, say); the rejection is raised to be surfaced.
        """
        conn = self.store.conn
        scopes = set(self.node.scopes)
        first: OpRejected | None = None
        applied = 0
        with write_tx(conn):
            self._time_meta(conn, offset)
            recover.stash(self.store, conn, answer.behind, out.mine, answer.behind_hashes)
            for raw in answer.ops:
                res = self.store.apply_remote_in(conn, [raw], accept_scopes=scopes)
                if res.rejected:
                    first = res.rejected[0]
                    break
                applied += 1
            cursor = answer.idx[applied - 1] if applied else int(self.store.meta_get(conn, "cursor", 0))
            self._commit_meta(conn, answer, cursor, offset)
        raise SyncFailed(f"an op pulled from the server was rejected here: {first}; sync stops before it")


def _fail(node: Node, message: str) -> None:
    node.store.set("last_sync_error", message[:500])


def sync_once(
    node: Node,
    transport: Transport,
    *,
    limit: int = 1000,
    push_batch: int = 1000,
    max_rounds: int = MAX_ROUNDS,
    on_page: Callable[[SyncAnswer], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> SyncReport:
    """One full sync: push what the server lacks, pull every page, until caught up.

    Sets meta ``last_sync_ms`` (and clears ``last_sync_error``) when it completes; on failure sets
    ``last_sync_error`` and raises. ``should_stop`` is asked between requests (a daemon stopping):
    then it returns early, with ``caught_up`` false and ``last_sync_ms`` unchanged.

    Raises:
        Unreachable: the server could not be reached. ServerRefused: it refused a request.
        SyncFailed: a malformed answer, or no end after ``max_rounds`` requests.
        OwnOpsRejected: it completed, but the server rejected ops of this device (not pushed again).
        AuditAlarm: an answer failed the audit checks, or an audit alarm stands (nothing is synced).
    """
    server = getattr(transport, "base_url", None)
    client = SyncClient(node, limit=limit, push_batch=push_batch, server=server if isinstance(server, str) else None)
    report = SyncReport()
    retried: set[str] = set()
    try:
        check_alarm(node.store)  # answers of the district are not trusted until staff clear it
        stalls = 0
        while report.rounds < max_rounds:
            if should_stop is not None and should_stop():
                report.cursor = int(node.store.get("cursor", 0))
                report.pending = client.pending()
                return report
            before = client.outbox_key()
            out = client.request()
            report.rounds += 1
            sent = node.store.wall()
            status, body = transport.request("POST", SYNC_PATH, out.body, client.headers("POST", SYNC_PATH, out.body))
            got = node.store.wall()
            if status != 200:
                err = client.refused(status, body, sent, got)
                # Retried once each, signed anew: a clock corrected from the server's time, and a
                # nonce refused because a lost answer's request did arrive (sync is idempotent).
                if err.code in ("stale_timestamp", "replay") and err.code not in retried:
                    retried.add(err.code)
                    continue
                raise err
            answer, pulled = client.receive(out, body, sent, got)
            if on_page is not None:
                on_page(answer)
            report.pushed += out.pushed
            report.accepted += len(answer.accepted)
            report.pulled += pulled
            if not answer.more and not client.outbox() and not recover.recovering(node.store):
                report.caught_up = True
                break
            stalls = stalls + 1 if out.pushed and not pulled and client.outbox_key() == before else 0
            if stalls >= 3:
                raise SyncFailed(f"the server took none of {out.pushed} pushed ops three times in a row")
        else:
            raise SyncFailed(f"sync did not catch up after {max_rounds} requests")
    except (SyncFailed, AuditAlarm) as exc:
        _fail(node, str(exc))
        raise
    report.cursor = int(node.store.get("cursor", 0))
    report.pending = client.pending()
    report.clock_offset_ms = client.offset_ms
    blocked = node.store.get("sync_blocked", {})
    report.blocked = [{"stream": k, **v} for k, v in sorted(blocked.items())]
    with write_tx(node.store.conn) as conn:
        node.store.meta_set(conn, "last_sync_ms", node.store.wall())
        message = None
        if blocked:
            message = "the server rejected ops of this device: " + "; ".join(
                f"{b['stream']}#{b['seq']} {b['code']}: {b['detail']}" for b in report.blocked
            )
        node.store.meta_set(conn, "last_sync_error", message[:500] if message else None)
    if blocked:
        raise OwnOpsRejected(str(node.store.get("last_sync_error")))
    return report


# --- enrolment ------------------------------------------------------------------------------------
def enroll(node: Node, transport: Transport, server_url: str, token: str, name: str | None = None) -> dict[str, Any]:
    """Enrol this node with the district server using a one-time token.

    Stores ``server_url``, ``district_pubkey`` (hex) and ``district_dev`` in meta, trusts the district
    key, and writes ``enrollment.json`` in the data directory.

    Raises:
        InputError: an empty token, or a district node. Duplicate: already enrolled.
        ServerRefused: the server refused (bad, used or expired token; another community).
        SyncFailed: the answer does not match this node.
    """
    token = token.strip()
    if not token:
        raise InputError("the enrolment token is empty")
    if node.role == "district":
        raise InputError("a district node is the server; it does not enrol")
    current = node.store.get("server_url")
    if current:
        raise Duplicate(f"this node is already enrolled with {current} (see {ENROLLMENT_FILE})")
    name = name or f"{node.community}-{node.role}-{node.dev[:6]}"
    key = node.store.ident.key
    body = pack({"token": token, "pubkey": key.public_bytes, "name": name, "community": node.community})
    retry = 0  # a correction read from a refusal, for the retried request only
    for attempt in (0, 1):
        sent = node.store.wall()
        header = auth_header(key, "POST", ENROLL_PATH, body, sent + retry)
        status, raw = transport.request(
            "POST", ENROLL_PATH, body, {"Authorization": header, "Content-Type": CONTENT_TYPE}
        )
        got = node.store.wall()
        if status == 200:
            break
        err = _error_of(status, raw)
        server_ms = err.body.get("server_time_ms")
        if isinstance(err, ClockCorrected) and attempt == 0 and type(server_ms) is int:
            retry = server_ms - (sent + got) // 2  # a kiosk without a real-time clock: retry on the server's time
            continue
        if err.code == "community_mismatch":
            raise ServerRefused(
                status, err.code, f"{err.detail}; this node was initialised for community {node.community!r}", err.body
            )
        raise err
    try:
        answer = EnrollAnswer.model_validate(unpack(raw, MAX_ANSWER))
    except (CRDTError, ValidationError) as exc:
        raise SyncFailed(f"the server's enrolment answer is malformed: {str(exc)[:300]}") from None
    if answer.community != node.community or answer.device != node.dev:
        raise SyncFailed(
            f"the server enrolled device {answer.device} in community {answer.community!r}, "
            f"but this is device {node.dev} of community {node.community!r}"
        )
    pub = answer.district_pubkey
    offset = node.store.clock_offset() + answer.server_time_ms - (sent + got) // 2
    offset = max(-MAX_CLOCK_OFFSET_MS, min(MAX_CLOCK_OFFSET_MS, offset))
    with write_tx(node.store.conn) as conn:
        meta = node.store.meta_set
        meta(conn, "server_url", server_url)
        meta(conn, "district_pubkey", pub.hex())
        meta(conn, "district_dev", device_id(pub))
        meta(conn, "district_name", answer.district)
        meta(conn, "role", answer.role)
        meta(conn, "enrolled_ms", got)
        meta(conn, "cursor", 0)
        meta(conn, "pushed", {})
        meta(conn, "clock_offset_ms", offset)
        meta(conn, "clock_offset_alarm", abs(offset) > CLOCK_ALARM_MS)
    node.store.trusted[device_id(pub)] = pub
    info = {
        "server_url": server_url,
        "device": node.dev,
        "community": node.community,
        "role": answer.role,
        "district": answer.district,
        "scopes": answer.scopes,
    }
    path = Path(node.data_dir) / ENROLLMENT_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return {**info, "district_pubkey": base64.b64encode(pub).decode(), "clock_offset_ms": offset}
