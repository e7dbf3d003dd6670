"""The edge side of the signed audit (``docs/audit.md``): check every sync answer's proofs, cosign, raise alarms.

On every sync the request carries ``tree_size`` (the size of the last checkpoint this node verified) and
the cosignature it made of that checkpoint; the answer carries the district's latest checkpoint, a
consistency proof from ``tree_size`` and an inclusion proof for every pushed op (``docs/audit.md``). Before
a byte of the answer's ops is applied, ``verify_sync_answer`` checks the checkpoint's signature against the
district key pinned at enrolment, the consistency proof from the trusted checkpoint, and the inclusion of
every pushed op. On success the checkpoint becomes the trusted one and this node cosigns it (C2SP
``cosignature/v1`` with its device key, name ``linli.<role>/<device id>``) for the next request. A district
restored from an older copy (``linli-server restored``) sends, once to each kiosk that verified a longer
log, its signed checkpoint of the restored log; the kiosk then checks the answer from that checkpoint,
moves its trust there and keeps a record (``audit_district_restores``) instead of stopping: the committee's
witness, which saw the longer log, raises the one alarm staff resolve. On failure
an alarm ``{code, reason, at, server, ...}`` is kept in ``meta`` (shown by ``status`` and the staff
screens), ``AuditAlarm`` is raised, and every later answer is refused until staff clear the alarm.

``edge.audit.witness`` does the same for a residents' committee machine over the public endpoints.
"""

from __future__ import annotations

import base64
import binascii
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from crdt.errors import ProofError
from crdt.merkle import EMPTY_ROOT, leaf_hash, verify_consistency, verify_inclusion
from crdt.note import (
    SIG_COSIGNATURE_V1,
    Checkpoint,
    Note,
    Verifier,
    cosign,
    open_checkpoint,
    parse_note,
    parse_verifier_key,
    verify_note,
)
from crdt.op import decode_op
from edge.audit.names import witness_name
from edge.errors import AuditAlarm, InputError
from edge.store import Store
from edge.store.db import write_tx

__all__ = [
    "ALARM_KEY",
    "MAX_PROOF",
    "TRUSTED_KEY",
    "check_alarm",
    "clear_alarm",
    "district_key_b64",
    "find_fork",
    "parse_district_key",
    "request_fields",
    "trusted_checkpoint",
    "verify_answer",
    "verify_sync_answer",
    "witness_vkey",
]

ALARM_KEY = "audit_alarm"
TRUSTED_KEY = "audit_checkpoint"
ORIGIN_KEY = "audit_origin"
PENDING_KEY = "audit_cosignature"
HISTORY_KEY = "audit_alarm_history"
RESTORE_KEY = "audit_district_restores"
MAX_PROOF = 128
MAX_ANSWER_NOTE = 64 * 1024


class _Failure(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def parse_district_key(text: str) -> tuple[bytes, str | None]:
    """The district's raw Ed25519 key from base64 (as ``linli-server key`` prints it), hex, or a C2SP vkey.

    Returns:
        ``(public key, key name)``; the name is ``None`` unless a vkey gave one.

    Raises:
        InputError: none of those forms (the message quotes the input).
    """
    value = (text or "").strip()
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) == 32 and district_key_b64(raw) == value:
        return raw, None
    if len(value) == 64 and all(c in "0123456789abcdefABCDEF" for c in value):
        return bytes.fromhex(value), None
    if value.count("+") >= 2:
        try:
            v = parse_verifier_key(value)
        except ProofError as exc:
            raise InputError(f"district key {value[:60]!r}: {exc}") from None
        return v.public_key, v.name
    raise InputError(
        f"district key {value[:60]!r} is not a base64 Ed25519 public key (32 bytes), 64 hex digits or a "
        "verifier key name+id+key"
    )


def _pinned_key(store: Store) -> bytes:
    value = store.get("district_pubkey")
    if not value:
        raise InputError("this node has no pinned district key: enrol it first (linli-edge enroll)")
    return bytes.fromhex(str(value))


def witness_vkey(store: Store) -> str:
    """This node's cosignature key as a C2SP verifier key, for a committee's ``audit verify --witness``."""
    ident = store.ident
    return Verifier(witness_name(ident.role, ident.dev), ident.key.public_bytes, SIG_COSIGNATURE_V1).vkey()


def trusted_checkpoint(store: Store) -> Checkpoint | None:
    """The last checkpoint this node verified, or ``None``."""
    text = store.get(TRUSTED_KEY)
    return Checkpoint.parse(parse_note(str(text)).body) if text else None


def request_fields(store: Store) -> dict[str, Any]:
    """The audit fields of a sync request: ``{tree_size, cosignatures: [{size, line}]}``."""
    trusted = trusted_checkpoint(store)
    pending = store.get(PENDING_KEY)
    return {"tree_size": trusted.size if trusted else 0, "cosignatures": [pending] if pending else []}


def check_alarm(store: Store) -> None:
    """Raise ``AuditAlarm`` if an audit alarm is set: the server's answers are not to be trusted."""
    alarm = store.get(ALARM_KEY)
    if alarm:
        raise AuditAlarm(
            f"audit alarm since {alarm.get('at')}: {alarm.get('reason')} (server {alarm.get('server')}); "
            "answers from the district are refused until staff check and clear it (linli-edge audit clear-alarm)"
        )


def _raise_alarm(store: Store, failure: _Failure, server: str | None, offered: str, trusted: str | None) -> AuditAlarm:
    alarm = {
        "code": failure.code,
        "reason": failure.reason,
        "at": store.wall(),
        "server": server,
        "checkpoint": offered[:MAX_ANSWER_NOTE],
        "trusted": trusted,
    }
    with write_tx(store.conn) as conn:
        store.meta_set(conn, ALARM_KEY, alarm)
    return AuditAlarm(f"audit alarm ({failure.code}): {failure.reason} (server {server})")


def _proof(value: object, what: str) -> list[bytes]:
    if not isinstance(value, (list, tuple)) or len(value) > MAX_PROOF:
        raise _Failure("malformed", f"{what} is not a list of at most {MAX_PROOF} hashes")
    return list(value)


def _where(conn: sqlite3.Connection, op_hash: bytes) -> str:
    row = conn.execute("SELECT dev, scope, seq FROM ops WHERE hash=?", (op_hash,)).fetchone()
    return f"{row[0]}/{row[1]}#{row[2]}" if row else op_hash.hex()[:16]


def _check(
    store: Store,
    key: bytes,
    trusted_text: str | None,
    checkpoint_text: object,
    consistency_proof: object,
    inclusion_proofs: Sequence[object],
    pushed: Sequence[tuple[int, bytes]],
    pairing: _Failure | None = None,
    restore: object = None,
) -> tuple[Checkpoint, Note]:
    if not isinstance(checkpoint_text, str) or not checkpoint_text:
        raise _Failure("no_checkpoint", "the answer carries no signed checkpoint")
    if len(checkpoint_text) > MAX_ANSWER_NOTE:
        raise _Failure("checkpoint_malformed", f"the checkpoint has {len(checkpoint_text)} characters")
    try:
        body = Checkpoint.parse(parse_note(checkpoint_text).body)
    except ProofError as exc:
        raise _Failure("checkpoint_malformed", f"the checkpoint is malformed: {exc}") from None
    origin = str(store.get(ORIGIN_KEY) or body.origin)
    try:
        district = Verifier(origin, key)
    except ProofError as exc:
        raise _Failure("checkpoint_malformed", f"checkpoint origin {origin[:60]!r}: {exc}") from None
    try:
        note = verify_note(checkpoint_text, district)
        new = open_checkpoint(checkpoint_text, district, origin)
    except ProofError as exc:
        raise _Failure(
            "checkpoint_signature",
            f"checkpoint of size {body.size} is not signed by the pinned district key {district_key_b64(key)}: {exc}",
        ) from None
    old = Checkpoint.parse(parse_note(trusted_text).body) if trusted_text else None
    old_size, old_root = (old.size, old.root) if old else (0, EMPTY_ROOT)
    if restore is not None:  # the district was restored from an older copy: prove from its restored log
        try:
            base = open_checkpoint(str(restore), district, origin)
        except ProofError as exc:
            raise _Failure("restore_signature", f"the restore checkpoint is not the district's: {exc}") from None
        if base.size >= old_size:
            raise _Failure("restore", f"a restore to size {base.size} does not shorten the {old_size} verified here")
        old_size, old_root = base.size, base.root
    if new.size < old_size:
        raise _Failure(
            "rollback",
            f"the district's checkpoint has {new.size} ops, fewer than the {old_size} this node already verified: "
            "the log was truncated or rolled back",
        )
    try:
        verify_consistency(old_size, new.size, _proof(consistency_proof, "the consistency proof"), old_root, new.root)
    except ProofError as exc:
        raise _Failure(
            "consistency",
            f"the district's log of size {new.size} does not extend the log of size {old_size} this node verified: "
            f"history was rewritten or forked ({exc})",
        ) from None
    if pairing is not None:
        raise pairing
    if len(inclusion_proofs) != len(pushed):
        raise _Failure("inclusion", f"{len(pushed)} pushed ops but {len(inclusion_proofs)} inclusion proofs")
    for (index, op_hash), proof in zip(pushed, inclusion_proofs, strict=True):
        try:
            verify_inclusion(leaf_hash(op_hash), index, new.size, _proof(proof, "an inclusion proof"), new.root)
        except ProofError as exc:
            raise _Failure(
                "inclusion",
                f"pushed op {_where(store.conn, op_hash)} is not in the district's log at leaf {index} of "
                f"checkpoint {new.size}: {exc}",
            ) from None
    own = Note(note.body, tuple(s for s in note.signatures if (s.name, s.key_id) == (district.name, district.key_id)))
    return new, own


def district_key_b64(key: bytes) -> str:
    """A raw key in base64, as ``linli-server key`` prints it."""
    return base64.b64encode(key).decode("ascii")


def verify_answer(
    store: Store,
    checkpoint_text: object,
    consistency_proof: object,
    inclusion_proofs: Sequence[object],
    pushed: Sequence[tuple[int, bytes]],
    *,
    sent_tree_size: int | None = None,
    server: str | None = None,
    _pairing: _Failure | None = None,
    restore: str | None = None,
) -> str:
    """Check a sync answer's checkpoint and proofs; on success trust the checkpoint and cosign it.

    Args:
        store: this node's store (pinned district key and trusted checkpoint in ``meta``).
        checkpoint_text: the answer's ``checkpoint`` (signed note).
        consistency_proof: the answer's ``consistency`` (from the trusted size to the checkpoint's).
        inclusion_proofs: one proof per entry of ``pushed``.
        pushed: ``(leaf index, op hash)`` of each pushed op the district says it holds.
        sent_tree_size: the ``tree_size`` the request carried (checked to still be the trusted one).
        server: the server's URL, for the alarm (default: ``meta`` ``server_url``).

    Returns:
        This node's cosignature line of the new checkpoint (sent with the next request).

    Raises:
        AuditAlarm: an alarm was already set, or a check failed (the alarm is now set and names it).
        InputError: no pinned district key, or another sync moved the trusted checkpoint meanwhile (retry).
    """
    check_alarm(store)
    server = server if server is not None else store.get("server_url")
    key = _pinned_key(store)
    trusted_text = store.get(TRUSTED_KEY)
    trusted = Checkpoint.parse(parse_note(trusted_text).body) if trusted_text else None
    if sent_tree_size is not None and sent_tree_size != (trusted.size if trusted else 0):
        raise InputError(
            f"the trusted checkpoint moved during this sync (request said tree size {sent_tree_size}, now "
            f"{trusted.size if trusted else 0}): retry the sync"
        )
    try:
        new, own = _check(
            store, key, trusted_text, checkpoint_text, consistency_proof, inclusion_proofs, pushed, _pairing, restore
        )
    except _Failure as failure:
        raise _raise_alarm(store, failure, server, str(checkpoint_text), trusted_text) from None
    ident = store.ident
    now = store.wall()
    line = cosign(new, ident.key, witness_name(ident.role, ident.dev), max(0, now // 1000)).line()
    with write_tx(store.conn) as conn:
        if store.meta_get(conn, TRUSTED_KEY) != trusted_text:
            raise InputError("another sync changed the trusted checkpoint meanwhile: retry the sync")
        store.meta_set(conn, TRUSTED_KEY, own.text())
        store.meta_set(conn, ORIGIN_KEY, new.origin)
        store.meta_set(conn, "audit_checkpoint_ms", now)
        store.meta_set(conn, PENDING_KEY, {"size": new.size, "line": line})
        if restore is not None:
            base = Checkpoint.parse(parse_note(restore).body)
            notice = {
                "code": "district_restored",
                "reason": (
                    "the district's log was restored from an older copy: this node had verified "
                    f"{trusted.size if trusted else 0} ops, the restored log signed {base.size}; "
                    "the ops after it are pushed back by the kiosks"
                ),
                "at": now,
                "server": server,
                "trusted": trusted_text,
                "restore": restore,
            }
            store.meta_set(conn, RESTORE_KEY, (list(store.meta_get(conn, RESTORE_KEY, [])) + [notice])[-20:])
    return line


def verify_sync_answer(
    store: Store,
    answer: Mapping[str, Any],
    pushed: Sequence[bytes],
    sent_tree_size: int,
    *,
    server: str | None = None,
) -> str:
    """``verify_answer`` on a decoded ``/v1/sync`` answer, pairing ``leaves``/``inclusion`` with the push.

    Args:
        store: this node's store.
        answer: the decoded answer (untrusted: every field is checked).
        pushed: the raw ops the request pushed, in push order.
        sent_tree_size: the request's ``tree_size``.
        server: the server's URL, for the alarm.

    Returns:
        The cosignature line for the next request.

    Raises:
        AuditAlarm: as ``verify_answer``; also when ``leaves`` does not match the push, or a pushed op
            is neither held nor rejected.
    """
    check_alarm(store)
    leaves = answer.get("leaves")
    inclusion = answer.get("inclusion")
    rejected = answer.get("rejected", [])
    wheres = [decode_op(raw) for raw in pushed]
    refused = {
        (r.get("dev"), r.get("scope"), r.get("seq"))
        for r in (rejected if isinstance(rejected, list) else [])
        if isinstance(r, dict)
    }
    pairs: list[tuple[int, bytes]] = []
    proofs: list[object] = []
    failure: _Failure | None = None
    if not isinstance(leaves, list) or not isinstance(inclusion, list) or len(leaves) != len(pushed):
        failure = _Failure(
            "inclusion", f"the answer's leaves list does not have one entry per pushed op ({len(pushed)})"
        )
    elif len(inclusion) != len(leaves):
        failure = _Failure("inclusion", f"{len(leaves)} leaf indices but {len(inclusion)} inclusion proofs")
    else:
        for op, index, proof in zip(wheres, leaves, inclusion, strict=True):
            if index is None:
                if (op.dev, op.scope, op.seq) not in refused:
                    failure = _Failure("inclusion", f"pushed op {op.where()} was neither logged nor rejected")
                    break
                continue
            if not isinstance(index, int) or isinstance(index, bool) or index < 0:
                failure = _Failure("inclusion", f"pushed op {op.where()} has leaf index {index!r}")
                break
            pairs.append((index, op.hash))
            proofs.append(proof)
    restore = answer.get("restore_checkpoint")
    epoch = answer.get("epoch", 0)
    fresh = isinstance(epoch, int) and epoch > int(store.get("district_epoch", 0) or 0)
    return verify_answer(
        store,
        answer.get("checkpoint"),
        answer.get("consistency"),
        proofs,
        pairs,
        sent_tree_size=sent_tree_size,
        server=server,
        _pairing=failure,
        restore=restore if fresh and isinstance(restore, str) and restore else None,
    )


def clear_alarm(store: Store, actor: str, *, forget_checkpoint: bool = False) -> dict[str, Any]:
    """Clear the audit alarm after staff checked it; the clearing is kept in ``meta`` (last 50).

    Args:
        store: this node's store.
        actor: the staff member who checked it.
        forget_checkpoint: also drop the trusted checkpoint (after the district was deliberately restored
            from a backup): the next answer is then trusted from scratch.

    Raises:
        InputError: no actor given.
    """
    if not actor or not actor.strip():
        raise InputError("clearing an audit alarm needs the staff id of who checked it (--actor)")
    with write_tx(store.conn) as conn:
        alarm = store.meta_get(conn, ALARM_KEY)
        history = list(store.meta_get(conn, HISTORY_KEY, []))
        entry = {
            "alarm": alarm,
            "cleared_by": actor.strip(),
            "at": store.wall(),
            "forgot_checkpoint": forget_checkpoint,
        }
        history = (history + [entry])[-50:]
        store.meta_set(conn, HISTORY_KEY, history)
        conn.execute("DELETE FROM meta WHERE key=?", (ALARM_KEY,))
        if forget_checkpoint:
            conn.executemany("DELETE FROM meta WHERE key=?", [(TRUSTED_KEY,), (PENDING_KEY,)])
    return {"cleared": alarm is not None, **entry}


def find_fork(a: str, b: str, district: Verifier, consistency: Sequence[bytes] | None = None) -> str | None:
    """Whether two checkpoints signed by the district contradict each other (a split view).

    Args:
        a: a signed checkpoint (e.g. one kiosk's trusted checkpoint).
        b: another (e.g. a second kiosk's, or a witness's).
        district: the district's key (name = origin).
        consistency: a consistency proof from the smaller to the larger size (needed when sizes differ).

    Returns:
        ``None`` when they are consistent, else the reason, naming both sizes.

    Raises:
        InputError: a checkpoint not signed by the district key, or sizes differ and no proof was given.
    """
    try:
        first, second = open_checkpoint(a, district, district.name), open_checkpoint(b, district, district.name)
    except ProofError as exc:
        raise InputError(f"not a checkpoint of {district.name}: {exc}") from None
    small, large = sorted((first, second), key=lambda c: c.size)
    if small.size == large.size:
        if small.root == large.root:
            return None
        return (
            f"fork: the district signed two different trees of size {small.size} (roots {small.root.hex()[:16]}… "
            f"and {large.root.hex()[:16]}…)"
        )
    if consistency is None:
        raise InputError(f"checkpoints of sizes {small.size} and {large.size}: a consistency proof is needed")
    try:
        verify_consistency(small.size, large.size, list(consistency), small.root, large.root)
    except ProofError as exc:
        return f"fork: the district's tree of size {large.size} does not extend its tree of size {small.size} ({exc})"
    return None
