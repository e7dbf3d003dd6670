"""A witness of the district's log on a machine of its own (``linli-edge audit witness``, ``docs/audit.md``).

A residents' committee runs it now and then against the public ``/v1/audit/*`` endpoints. Each run fetches
the latest checkpoint, checks the district's signature with the key pinned on the first run, checks that
it extends the last checkpoint this witness verified (a consistency proof from the server), cosigns it
(C2SP ``cosignature/v1``) with the witness's own key and posts the cosignature back, so that ``audit
verify`` of a later export counts it. A failure is kept as an alarm in the witness's directory: later runs
refuse to cosign until the committee clears it (``--clear-alarm``). ``witness-checkpoint.txt`` holds the
last checkpoint witnessed, with the witness's cosignature, to compare with an export (``audit verify
--checkpoint``): a district that shows the committee one history and the kiosks another is caught there.

The logic takes a transport ``(method, path, body) -> (status, body)``: ``http_transport`` over HTTP, or a
function calling ``sync_server.audit.http.handle`` in-process.
"""

from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack

from crdt.errors import CRDTError, ProofError
from crdt.keys import DeviceKey
from crdt.merkle import verify_consistency
from crdt.note import SIG_COSIGNATURE_V1, Checkpoint, Note, Verifier, cosign, open_checkpoint, parse_note, verify_note
from edge.audit.client import MAX_PROOF, district_key_b64, parse_district_key
from edge.errors import AuditAlarm, AuditError, InputError
from edge.sync.protocol import pack

__all__ = ["MAX_BODY", "STATE_FILE", "Transport", "http_transport", "run_witness"]

Transport = Callable[[str, str, bytes], tuple[int, bytes]]
STATE_FILE = "witness.json"
MAX_BODY = 1 << 20


class _Alarm(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def http_transport(base_url: str, *, timeout: float = 15.0) -> Transport:
    """A transport over HTTP(S) to ``base_url`` for the public audit endpoints (no request signature)."""
    base = base_url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise InputError(f"server URL {base_url!r} does not start with http:// or https://")

    def call(method: str, path: str, body: bytes) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/x-msgpack"} if body else {}
        request = urllib.request.Request(base + path, data=body or None, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                return int(resp.status), resp.read(MAX_BODY)
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read(MAX_BODY)
        except (urllib.error.URLError, OSError) as exc:
            raise AuditError(f"cannot reach the district server at {base}: {exc}") from None

    return call


def _save(d: Path, state: dict[str, Any]) -> None:
    tmp = d / (STATE_FILE + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(state, fh, ensure_ascii=False, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, d / STATE_FILE)


def _get(transport: Transport, path: str) -> bytes:
    status, body = transport("GET", path, b"")
    if status != 200:
        raise AuditError(f"the server answered {status} to GET {path}: {body[:200]!r}")
    return body


def _key(d: Path) -> DeviceKey:
    path = d / "witness.key"
    if not path.exists():
        DeviceKey.generate().save(path)
    try:
        return DeviceKey.load(path)
    except (CRDTError, OSError, UnicodeDecodeError) as exc:
        raise InputError(f"witness key {path}: {exc}") from None


def _state(d: Path, key: DeviceKey, district_key: str | None, name: str | None) -> dict[str, Any]:
    path = d / STATE_FILE
    try:
        state: dict[str, Any] = json.loads(path.read_text("utf-8")) if path.exists() else {}
    except (OSError, ValueError) as exc:
        raise InputError(f"witness state {path}: {exc}") from None
    given = parse_district_key(district_key) if district_key else None
    if not state:
        if given is None:
            raise InputError("first witness run: give --district-key KEY (as linli-server key prints it)")
        return {
            "district_key": district_key_b64(given[0]),
            "origin": given[1],
            "name": name or f"linli.witness/{key.device_id}",
            "checkpoint": None,
            "history": [],
            "alarm": None,
        }
    if given is not None and district_key_b64(given[0]) != state["district_key"]:
        raise InputError(f"this witness pinned district key {state['district_key']}, not {district_key_b64(given[0])}")
    if name is not None and name != state["name"]:
        raise InputError(f"this witness is named {state['name']!r}; the name is fixed on the first run")
    return state


def _check(transport: Transport, district: Verifier, trusted: str | None, text: str) -> tuple[Checkpoint, Note]:
    try:
        note = verify_note(text, district)
        new = open_checkpoint(text, district, district.name)
    except ProofError as exc:
        raise _Alarm("checkpoint_signature", f"the checkpoint is not signed by the district key: {exc}") from None
    if not trusted:
        return new, note
    old = Checkpoint.parse(parse_note(trusted).body)
    if new.size < old.size:
        raise _Alarm("rollback", f"the district's checkpoint has {new.size} ops, fewer than the {old.size} witnessed")
    if new.size == old.size:
        if new.root != old.root:
            raise _Alarm("consistency", f"fork: the district signed two different trees of size {new.size}")
        return new, note
    raw = _get(transport, f"/v1/audit/consistency?old={old.size}&new={new.size}")
    try:
        answer = msgpack.unpackb(raw, raw=False, strict_map_key=True, max_array_len=MAX_PROOF, max_bin_len=64)
        proof = answer.get("proof") if isinstance(answer, dict) else None
        if not isinstance(proof, list):
            raise ProofError("the answer carries no proof list")
        verify_consistency(old.size, new.size, proof, old.root, new.root)
    except (ValueError, msgpack.UnpackException, ProofError) as exc:
        raise _Alarm(
            "consistency",
            f"the district's log of size {new.size} does not extend the log of size {old.size} witnessed: {exc}",
        ) from None
    return new, note


def run_witness(
    transport: Transport,
    data_dir: str | os.PathLike[str],
    *,
    district_key: str | None = None,
    name: str | None = None,
    now_ms: int,
    clear: bool = False,
) -> dict[str, Any]:
    """Witness the district's latest checkpoint once: verify it, check it extends the last one, cosign it.

    State lives in ``data_dir``: ``witness.key`` (this witness's own Ed25519 key), ``witness.json`` (pinned
    district key, origin, name, last verified checkpoint, history, alarm) and ``witness-checkpoint.txt``.

    Args:
        transport: ``(method, path, body) -> (status, body)`` to the district server.
        data_dir: the witness's directory.
        district_key: the district key (required the first time; must match afterwards).
        name: the witness name (first run only; default ``linli.witness/<key's device id>``).
        now_ms: the time for the cosignature's timestamp.
        clear: clear a standing alarm first (after the committee looked into it).

    Returns:
        ``{origin, size, root, previous_size, witness, vkey, cosignature, posted, post_status}``; ``posted``
        is false when the district refused the cosignature (e.g. it does not know this witness's key yet).

    Raises:
        AuditAlarm: the checkpoint is not the district's, or does not extend the last one witnessed; also
            when an earlier alarm stands.
        InputError: no district key on the first run, or a different one (or name) later.
        AuditError: the server could not be reached or did not answer.
    """
    d = Path(data_dir)
    d.mkdir(parents=True, exist_ok=True)
    key = _key(d)
    state = _state(d, key, district_key, name)
    if state.get("alarm") and clear:
        state["cleared"] = ([*state.get("cleared", []), {"alarm": state["alarm"], "at": now_ms}])[-50:]
        if state["alarm"].get("code") in ("rollback", "consistency"):
            state["checkpoint"] = None  # the committee accepted the district's new log (a restore): trust it anew
        state["alarm"] = None
        _save(d, state)
    if state.get("alarm"):
        raise AuditAlarm(f"witness alarm: {state['alarm']['reason']} (clear it with --clear-alarm after checking)")
    pub = base64.b64decode(state["district_key"])
    text = _get(transport, "/v1/audit/checkpoint").decode("utf-8", "replace")
    trusted = state.get("checkpoint")
    try:
        try:
            origin = state.get("origin") or Checkpoint.parse(parse_note(text).body).origin
            district = Verifier(origin, pub)
        except ProofError as exc:
            raise _Alarm("checkpoint_malformed", f"the server's checkpoint is malformed: {exc}") from None
        new, note = _check(transport, district, trusted, text)
    except _Alarm as alarm:
        state["alarm"] = {"code": alarm.code, "reason": alarm.reason, "at": now_ms, "checkpoint": text[:4096]}
        _save(d, state)
        raise AuditAlarm(f"witness alarm ({alarm.code}): {alarm.reason}") from None
    wname = state["name"]
    sig = cosign(new, key, wname, max(0, now_ms // 1000))
    status, _ = transport("POST", "/v1/audit/cosignature", pack({"size": new.size, "line": sig.line()}))
    own = Note(note.body, tuple(s for s in note.signatures if s.name == district.name and s.key_id == district.key_id))
    previous = Checkpoint.parse(parse_note(trusted).body).size if trusted else None
    state.update(origin=new.origin, checkpoint=own.text())
    state["history"] = [*state["history"], {"size": new.size, "root": new.root.hex(), "at": now_ms}][-1000:]
    _save(d, state)
    (d / "witness-checkpoint.txt").write_text(Note(own.body, (*own.signatures, sig)).text(), "utf-8")
    return {
        "origin": new.origin,
        "size": new.size,
        "root": new.root.hex(),
        "previous_size": previous,
        "witness": wname,
        "vkey": Verifier(wname, key.public_bytes, SIG_COSIGNATURE_V1).vkey(),
        "cosignature": sig.line(),
        "posted": status == 200,
        "post_status": status,
    }
