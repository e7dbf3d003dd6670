"""Offline verification of an audit export (``docs/audit.md``): what ``linli-edge audit verify`` runs.

Given the export file and the district's public key (obtained independently, e.g. from a notice board),
``verify_export`` trusts nothing else. It reads the file as a stream of msgpack records under explicit limits
and checks, naming every failure by the op's log position and ``dev/scope#seq`` or by the checkpoint's size:

* the header names the given district key;
* every op, through ``Store.apply_remote`` into a temporary node that trusts only that key: canonical encoding,
  a device enrolled by a district-signed ``device.enroll`` op before it, not revoked, allowed to write that scope
  and type, its signature, its stream's hash chain, its payload; and no op appears twice;
* every checkpoint: the district's signature, sizes increasing, and its root equal to the RFC 9162 root of the
  first ``size`` op hashes of the export — so each checkpoint also extends the one before (consistency between
  consecutive checkpoints is implied: both roots are recomputed from one sequence);
* every op is covered by a checkpoint; the end record's counts, SHA-256 of the bytes before it, and the
  district's signature of both (so even a changed receive time is caught);
* cosignatures: verified with the witness keys given (independent witnesses), or with the enrolled key
  of a kiosk or staff device (as trustworthy as the enrolments); others are counted as unverified;
* checkpoints collected elsewhere (a kiosk's trusted checkpoint, a witness's) must match the export's
  history: a different root for the same size is a fork, a larger size a truncated export;
* the digest of the rebuilt state, per scope, against any digests given (the committee summary of the
  export is ``edge.audit.summary``).
"""

from __future__ import annotations

import base64
import hashlib
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

import msgpack

from crdt.errors import CRDTError, ProofError
from crdt.keys import DeviceKey, device_id, verify_signature
from crdt.merkle import MerkleLog, leaf_hash
from crdt.note import Checkpoint, Verifier, open_checkpoint, parse_note, parse_verifier_key
from crdt.note import verify_cosignature as _verify_cosignature
from crdt.op import Op
from edge.audit.client import parse_district_key
from edge.audit.export import EXPORT_FORMAT, export_end_message, op_hash_of, records
from edge.audit.names import WITNESS_NAME
from edge.errors import InputError, OpRejected
from edge.store import Identity, Store
from edge.store import digest as _digest

__all__ = ["CheckpointReport", "Failure", "Report", "verify_export"]

MAX_FAILURES = 1000
BATCH = 2000
_CLOCK_FLOOR_MS = 1_577_836_800_000  # 2020-01-01: a device claiming an earlier time has no real clock
_CLOCK_AHEAD_MS = 5 * 60_000  # an op cannot be made more than this after the district received it


@dataclass(frozen=True)
class Failure:
    """One named failure: a machine-readable code, where (op position, checkpoint size), what."""

    code: str
    where: str
    detail: str

    def line(self) -> str:
        """``[code] where: detail``."""
        return f"[{self.code}] {self.where}: {self.detail}"


@dataclass
class CheckpointReport:
    """What ``verify_export`` found of one checkpoint."""

    size: int
    root: str
    created_ms: int
    signed: bool = False
    root_ok: bool = False
    independent: list[str] = field(default_factory=list)
    kiosks: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)


@dataclass
class Report:
    """The result of ``verify_export``; ``ok`` when there is no failure."""

    path: str
    district_key: str
    origin: str = ""
    created_ms: int = 0
    ops: int = 0
    checkpoints: list[CheckpointReport] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    omitted: int = 0
    digest: str = ""
    digests: dict[str, str] = field(default_factory=dict)
    clock_claims: int = 0
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """No failure."""
        return not self.failures and not self.omitted

    def fail(self, code: str, where: str, detail: str) -> None:
        """Record a failure (the first ``MAX_FAILURES`` are kept, the rest counted)."""
        if len(self.failures) < MAX_FAILURES:
            self.failures.append(Failure(code, where, detail))
        else:
            self.omitted += 1

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "ok": self.ok,
            "path": self.path,
            "origin": self.origin,
            "district_key": self.district_key,
            "created_ms": self.created_ms,
            "ops": self.ops,
            "checkpoints": [vars(c) for c in self.checkpoints],
            "consistent": bool(self.checkpoints) and all(c.signed and c.root_ok for c in self.checkpoints),
            "digest": self.digest,
            "digests": self.digests,
            "clock_claims": self.clock_claims,
            "summary": self.summary,
            "failures": [vars(f) for f in self.failures],
            "failures_omitted": self.omitted,
        }


def _is_int(value: object) -> TypeGuard[int]:
    """A non-negative integer SQLite can hold (a changed byte can make a time 2**63 or more)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


class _Rebuild:
    """A temporary district-role node that trusts only the district key; ops go in through ``apply_remote``."""

    def __init__(self, directory: str, district: bytes, created_ms: int) -> None:
        self.dev = device_id(district)
        ident = Identity(DeviceKey.generate(), "district", "district")
        self.store = Store(
            Path(directory) / "rebuild.sqlite3", ident, wall=lambda: created_ms, trusted_keys={self.dev: district}
        )
        self.store.set("district_dev", self.dev)
        self.store.set("district_pubkey", district.hex())
        self.unreliable: set[str] = set()
        self.claims = 0

    def apply(self, batch: list[tuple[int, bytes, bytes, int]], report: Report) -> None:
        """Apply ``(position, raw, op hash, received_ms)`` records; name every op that is not taken."""
        received = {h: ms for _, _, h, ms in batch}
        taken: list[bytes] = []

        def on_accept(conn: Any, op: Op, idx: int) -> None:
            taken.append(op.hash)
            ms = received.get(op.hash, 0)
            if op.hlc[0] > ms + _CLOCK_AHEAD_MS or op.hlc[0] < _CLOCK_FLOOR_MS:
                self.claims += 1
                if op.type.startswith("ticket."):
                    self.unreliable.add(op.obj)

        result = self.store.apply_remote([raw for _, raw, _, _ in batch], on_accept=on_accept)
        accepted, dups, rejected = iter(taken), iter(result.duplicates), iter(result.rejected)
        next_acc, next_dup = next(accepted, None), next(dups, None)
        for pos, _, h, _ in batch:
            if h == next_acc:
                next_acc = next(accepted, None)
            elif h == next_dup:
                next_dup = next(dups, None)
                report.fail("duplicate", f"op at log position {pos}", "the same op appears earlier in the log")
            else:
                rej = next(rejected, None)
                _name_rejection(report, pos, rej)


def _name_rejection(report: Report, pos: int, rej: OpRejected | None) -> None:
    if rej is None:
        report.fail("op", f"op at log position {pos}", "was not applied (no reason given)")
        return
    where = f"op at log position {pos}" + (f" ({rej.dev}/{rej.scope}#{rej.seq})" if rej.dev else "")
    detail = {
        "malformed": "not a canonical op envelope",
        "signature": "the signature does not verify with the device's enrolled key",
        "unknown_device": "signed by a device no district-signed device.enroll op enrolled before it",
        "gap": "breaks its stream's hash chain (a seq is missing before it)",
        "wrong_prev": "breaks its stream's hash chain (prev is not the hash of the op before)",
        "equivocation": "a second, different op at a seq already taken (equivocation)",
    }.get(rej.code, rej.code)
    report.fail(rej.code, where, f"{detail}: {rej.detail}")


class _Verifier:
    def __init__(self, path: Path, key: bytes, key_name: str | None, witnesses: Sequence[Verifier], tmp: str) -> None:
        self.path = path
        self.key = key
        self.key_name = key_name
        self.witnesses = {(w.name, w.key_id): w for w in witnesses}
        self.tmp = tmp
        self.report = Report(str(path), base64.b64encode(key).decode("ascii"))
        self.tree = MerkleLog()
        self.seen: dict[bytes, int] = {}
        self.batch: list[tuple[int, bytes, bytes, int]] = []
        self.rebuild: _Rebuild | None = None
        self.district: Verifier | None = None
        self.last_size = -1
        self.last_good = 0
        self.phase = "header"
        self.end_seen = False

    # header, ops, checkpoints, end, in that order
    def header(self, record: Any) -> bool:
        r = self.report
        if not isinstance(record, dict) or record.get("format") != EXPORT_FORMAT:
            r.fail("format", "header", f"the file does not start with a {EXPORT_FORMAT} header")
            return False
        origin, pub, created = record.get("origin"), record.get("district_pubkey"), record.get("created_ms")
        if not isinstance(origin, str) or not isinstance(pub, bytes) or not _is_int(created):
            r.fail("format", "header", "the header lacks origin, district_pubkey or created_ms")
            return False
        if pub != self.key:
            given = base64.b64encode(pub).decode("ascii") if len(pub) == 32 else pub.hex()[:64]
            r.fail(
                "district_key", "header", f"the export is for district key {given}, not the key given {r.district_key}"
            )
            return False
        if self.key_name is not None and self.key_name != origin:
            r.fail(
                "district_key", "header", f"the key given is named {self.key_name!r}, the export's origin is {origin!r}"
            )
            return False
        try:
            self.district = Verifier(origin, self.key)
        except ProofError as exc:
            r.fail("format", "header", f"origin {origin[:60]!r}: {exc}")
            return False
        r.origin, r.created_ms = origin, int(created)
        self.rebuild = _Rebuild(self.tmp, self.key, int(created))
        self.phase = "ops"
        return True

    def op(self, record: dict[str, Any]) -> None:
        r = self.report
        pos = r.ops
        raw, received = record.get("op"), record.get("received_ms")
        if self.phase != "ops":
            r.fail("order", f"op record at log position {pos}", "an op record after the checkpoints")
        if not isinstance(raw, bytes) or not _is_int(received):
            r.fail("format", f"op at log position {pos}", "an op record is {op: bytes, received_ms: int}")
            raw, received = raw if isinstance(raw, bytes) else b"", 0
        h = op_hash_of(raw)
        self.tree.append(leaf_hash(h))
        r.ops += 1
        first = self.seen.setdefault(h, pos)
        if first != pos:
            r.fail("duplicate", f"op at log position {pos}", f"the same op is at log position {first}")
            return
        self.batch.append((pos, raw, h, int(received)))
        if len(self.batch) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if self.batch and self.rebuild is not None:
            self.rebuild.apply(self.batch, self.report)
        self.batch = []

    def checkpoint(self, number: int, record: dict[str, Any]) -> None:
        r = self.report
        self.flush()
        self.phase = "checkpoints"
        text, created = record.get("checkpoint"), record.get("created_ms")
        where = f"checkpoint record {number}"
        if not isinstance(text, str) or not _is_int(created):
            r.fail("format", where, "a checkpoint record is {checkpoint: text, created_ms: int}")
            return
        try:
            body = Checkpoint.parse(parse_note(text).body)
        except ProofError as exc:
            r.fail("checkpoint", where, f"not a checkpoint: {exc}")
            return
        where = f"checkpoint of size {body.size}"
        cp = CheckpointReport(body.size, body.root.hex(), int(created))
        r.checkpoints.append(cp)
        assert self.district is not None
        try:
            open_checkpoint(text, self.district, self.district.name)
            cp.signed = True
        except ProofError as exc:
            r.fail("checkpoint_signature", where, f"not signed by the district key: {exc}")
        if body.size <= self.last_size:
            r.fail("checkpoint_order", where, f"comes after checkpoint {self.last_size}: sizes must increase")
        self.last_size = max(self.last_size, body.size)
        if body.size > r.ops:
            r.fail(
                "truncated",
                where,
                f"the district signed a log of {body.size} ops but the export holds only {r.ops}: the log was "
                "truncated (or ops were left out)",
            )
        else:
            root = self.tree.root(body.size)
            cp.root_ok = root == body.root
            if cp.root_ok:
                self.last_good = body.size
            else:
                r.fail(
                    "root",
                    where,
                    f"the signed root {body.root.hex()[:16]}… is not the root {root.hex()[:16]}… of the first "
                    f"{body.size} ops in the export: an op at log positions {self.last_good}..{body.size - 1} was "
                    "altered, removed, added or reordered",
                )
        self._cosignatures(text, body, cp, where)

    def _cosignatures(self, text: str, body: Checkpoint, cp: CheckpointReport, where: str) -> None:
        assert self.district is not None
        for sig in parse_note(text).signatures:
            if sig.name == self.district.name and sig.key_id == self.district.key_id:
                continue
            witness = self.witnesses.get((sig.name, sig.key_id))
            bucket = cp.independent
            if witness is None:
                witness, bucket = self._enrolled(sig.name), cp.kiosks
            if witness is None or witness.key_id != sig.key_id:
                cp.unverified.append(sig.name)
                continue
            try:
                _verify_cosignature(body, sig, witness)
            except ProofError as exc:
                self.report.fail(
                    "cosignature",
                    where,
                    f"the cosignature by {sig.name} does not verify ({exc}): the district showed that witness a "
                    "different checkpoint, or the line was altered",
                )
                continue
            if sig.name not in bucket:
                bucket.append(sig.name)

    def _enrolled(self, name: str) -> Verifier | None:
        m = WITNESS_NAME.fullmatch(name)
        if m is None or self.rebuild is None:
            return None
        row = self.rebuild.store.conn.execute("SELECT pubkey, role FROM devices WHERE dev=?", (m.group(2),)).fetchone()
        if row is None or row[1] != m.group(1) or len(row[0]) != 32:
            return None
        return Verifier(name, bytes(row[0])).as_witness()

    def end(self, record: dict[str, Any], digest: bytes, number: int) -> None:
        r = self.report
        self.flush()
        self.end_seen = True
        counts, sha, sig = record.get("end"), record.get("sha256"), record.get("signature")
        if not isinstance(counts, dict) or not isinstance(sha, bytes) or not isinstance(sig, bytes):
            r.fail("end", "end record", "the end record lacks its counts, sha256 or signature")
            return
        ops, cps = counts.get("ops"), counts.get("checkpoints")
        if ops != r.ops or cps != number:
            r.fail("end", "end record", f"says {ops} ops and {cps} checkpoints, the file holds {r.ops} and {number}")
        if sha != digest:
            r.fail("export_digest", "end record", "the SHA-256 of the export does not match: the file was changed")
        try:
            verify_signature(
                self.key,
                sig,
                export_end_message(r.origin, ops if _is_int(ops) else -1, cps if _is_int(cps) else -1, sha),
            )
        except CRDTError:
            r.fail("export_signature", "end record", "the district's signature of the export does not verify")

    def finish(self, checkpoints: Sequence[str], digests: Mapping[str, str]) -> None:
        r = self.report
        if self.phase == "header":
            if not r.failures:
                r.fail("format", "header", f"the file holds no complete {EXPORT_FORMAT} header")
            return
        if not self.end_seen:
            r.fail("end", "end of file", "the export has no end record: the file is truncated")
        if not r.checkpoints:
            r.fail("no_checkpoint", "export", "the export holds no signed checkpoint")
        elif r.ops > self.last_size:
            r.fail("uncovered", f"ops at log positions {self.last_size}..{r.ops - 1}", "not covered by any checkpoint")
        for i, text in enumerate(checkpoints):
            self._extra(i, text)
        if self.rebuild is not None:
            conn = self.rebuild.store.conn
            r.digest = _digest.digest(conn)
            scopes = sorted({s for (s,) in conn.execute("SELECT DISTINCT scope FROM ops")})
            r.digests = {s: _digest.digest(conn, s) for s in scopes}
            r.clock_claims = self.rebuild.claims
            for scope, want in digests.items():
                got = r.digest if scope in ("all", "") else r.digests.get(scope, _digest.digest(conn, scope))
                if got != want.strip().lower():
                    r.fail(
                        "digest", f"scope {scope}", f"the state rebuilt from the export has digest {got}, not {want}"
                    )

    def _extra(self, i: int, text: str) -> None:
        r = self.report
        assert self.district is not None
        where = f"checkpoint given {i + 1}"
        try:
            cp = open_checkpoint(text, self.district, self.district.name)
        except ProofError as exc:
            r.fail("extra_checkpoint", where, f"not a checkpoint signed by the district key: {exc}")
            return
        signers = ", ".join(s.name for s in parse_note(text).signatures if s.name != self.district.name) or "nobody"
        if cp.size > r.ops:
            r.fail(
                "fork",
                f"{where} (size {cp.size}, cosigned by {signers})",
                f"the district signed a log of {cp.size} ops but the export holds only {r.ops}: it left out ops it "
                "showed others",
            )
        elif self.tree.root(cp.size) != cp.root:
            r.fail(
                "fork",
                f"{where} (size {cp.size}, cosigned by {signers})",
                f"the district signed root {cp.root.hex()[:16]}… for size {cp.size}, but the export's first "
                f"{cp.size} ops give {self.tree.root(cp.size).hex()[:16]}…: it showed someone a different history",
            )


def verify_export(
    path: str | Path,
    district_key: str,
    *,
    witnesses: Sequence[str] = (),
    checkpoints: Sequence[str] = (),
    digests: Mapping[str, str] | None = None,
) -> Report:
    """Verify an audit export offline; see the module docstring for every check.

    Args:
        path: the export file.
        district_key: the district's public key: base64 (as ``linli-server key`` prints it), hex, or a
            C2SP verifier key.
        witnesses: verifier keys of independent witnesses (``name+id+key``).
        checkpoints: signed checkpoints collected elsewhere (kiosks' trusted checkpoints, witnesses').
        digests: expected state digests per scope (``"all"`` for the whole state).

    Returns:
        The report: ``ok``, the named failures, per-checkpoint witness counts, digests, and the summary.

    Raises:
        InputError: a malformed district or witness key, or an unreadable file.
    """
    from edge.audit.summary import summarise

    key, key_name = parse_district_key(district_key)
    try:
        known = [parse_verifier_key(w).as_witness() for w in witnesses]
    except ProofError as exc:
        raise InputError(f"witness key: {exc}") from None
    p = Path(path)
    if not p.is_file():
        raise InputError(f"no export file at {p}")
    with tempfile.TemporaryDirectory(prefix="linli-audit-") as tmp:
        v = _Verifier(p, key, key_name, known, tmp)
        try:
            _read(v, p)
            v.finish(checkpoints, digests or {})
            if v.rebuild is not None:
                v.report.summary = summarise(v.rebuild.store.conn, v.report.created_ms, v.rebuild.unreliable)
        finally:
            if v.rebuild is not None:
                v.rebuild.store.close()
    return v.report


def _read(v: _Verifier, p: Path) -> None:
    r = v.report
    digest = hashlib.sha256()
    number = 0
    offset = 0
    with open(p, "rb") as fh, open(p, "rb") as copy:
        try:
            for start, end, record in records(fh):
                offset = end
                if v.end_seen:
                    r.fail("end", f"byte {start}", "data after the end record")
                    return
                if v.phase == "header":
                    if not v.header(record):
                        return
                elif isinstance(record, dict) and "op" in record:
                    v.op(record)
                elif isinstance(record, dict) and "checkpoint" in record:
                    number += 1
                    v.checkpoint(number, record)
                elif isinstance(record, dict) and "end" in record:
                    v.end(record, digest.digest(), number)
                else:
                    r.fail("format", f"byte {start}", "a record that is not an op, a checkpoint or the end")
                if not v.end_seen:
                    digest.update(copy.read(end - start))
        except (ValueError, msgpack.UnpackException) as exc:
            v.flush()
            r.fail("unreadable", f"byte {offset}", f"the export is not valid msgpack from here: {exc}")
