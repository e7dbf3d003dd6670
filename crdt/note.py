"""C2SP signed notes, tlog checkpoints and tlog cosignatures with Ed25519 (``docs/audit.md``). No I/O.

* c2sp.org/signed-note: a note is a UTF-8 text ending in a newline, a blank line, then one or more lines
  ``— <key name> <base64(key id ‖ signature)>``. The key id is the first four bytes of
  ``SHA-256(name ‖ 0x0A ‖ type ‖ public key)``; type 0x01 is Ed25519 over the note text. A verifier key
  is written ``<name>+<hex key id>+<base64(type ‖ public key)>`` (as golang.org/x/mod/sumdb/note does).
* c2sp.org/tlog-checkpoint: the note text is the origin line, the decimal tree size, the base64 root
  hash, then optional extension lines.
* c2sp.org/tlog-cosignature, Ed25519 ``cosignature/v1``: type 0x04; the signature is
  ``timestamp (8 bytes, big-endian) ‖ Ed25519 signature`` over
  ``"cosignature/v1\\ntime <timestamp>\\n" ‖ checkpoint text``.

Every failure raises ``ProofError`` saying what was wrong.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import ProofError
from .merkle import HASH_SIZE

__all__ = [
    "MAX_NOTE_BYTES",
    "MAX_SIGNATURES",
    "SIG_COSIGNATURE_V1",
    "SIG_ED25519",
    "Checkpoint",
    "Ed25519Signer",
    "Note",
    "NoteSignature",
    "SigningKey",
    "Verifier",
    "add_signatures",
    "cosign",
    "cosignature_message",
    "key_id",
    "open_checkpoint",
    "parse_cosignature",
    "parse_note",
    "parse_verifier_key",
    "sign_checkpoint",
    "sign_note",
    "verify_cosignature",
    "verify_cosignatures",
    "verify_note",
]

SIG_ED25519 = 0x01
SIG_COSIGNATURE_V1 = 0x04
MAX_SIGNATURES = 100
MAX_NOTE_BYTES = 1 << 20
_MAX_INT63 = (1 << 63) - 1

_DASH = "\u2014 "
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_SIZE = re.compile(r"0|[1-9][0-9]{0,18}")
_HEX8 = re.compile(r"[0-9a-fA-F]{8}")


class Ed25519Signer(Protocol):
    """Anything that signs with an Ed25519 key and shows its raw public key (e.g. ``crdt.keys.DeviceKey``)."""

    @property
    def public_bytes(self) -> bytes:
        """The raw 32-byte public key."""
        ...

    def sign(self, data: bytes, /) -> bytes:
        """The 64-byte Ed25519 signature of ``data``."""
        ...


SigningKey = Ed25519PrivateKey | Ed25519Signer


def _public_bytes(key: SigningKey) -> bytes:
    if isinstance(key, Ed25519PrivateKey):
        return key.public_key().public_bytes_raw()
    return key.public_bytes


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: str, what: str) -> bytes:
    """Strict standard base64: alphabet, padding, and canonical trailing bits."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise ProofError(f"{what} is not valid base64: {text[:60]!r}") from None
    if _b64(raw) != text:
        raise ProofError(f"{what} is not canonical base64: {text[:60]!r}")
    return raw


def _check_name(name: object, what: str = "key name") -> str:
    if not isinstance(name, str) or not name:
        raise ProofError(f"{what} must be a non-empty string, got {name!r}")
    if "+" in name or any(ch.isspace() or ch < " " for ch in name):
        raise ProofError(f"{what} {name!r} contains a space, a control character or '+'")
    return name


def _check_public_key(public_key: object, what: str) -> bytes:
    if not isinstance(public_key, bytes) or len(public_key) != 32:
        size = len(public_key) if isinstance(public_key, bytes) else type(public_key).__name__
        raise ProofError(f"{what}: an Ed25519 public key has 32 bytes, got {size}")
    return public_key


def _ed25519_ok(public_key: bytes, signature: bytes, message: bytes) -> bool:
    if len(signature) != 64:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def key_id(name: str, sig_type: int, public_key: bytes) -> bytes:
    """The 4-byte key id: ``SHA-256(name ‖ 0x0A ‖ sig_type ‖ public_key)[:4]``."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([sig_type]) + public_key).digest()[:4]


# --- keys -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verifier:
    """A known public key: its name, raw Ed25519 key and signature type (0x01 notes, 0x04 cosignatures)."""

    name: str
    public_key: bytes
    sig_type: int = SIG_ED25519

    def __post_init__(self) -> None:
        _check_name(self.name)
        _check_public_key(self.public_key, f"key {self.name!r}")
        if self.sig_type not in (SIG_ED25519, SIG_COSIGNATURE_V1):
            raise ProofError(f"key {self.name!r}: signature type {self.sig_type:#04x} is not 0x01 or 0x04")

    @property
    def key_id(self) -> bytes:
        """The 4-byte key id signature lines carry."""
        return key_id(self.name, self.sig_type, self.public_key)

    def vkey(self) -> str:
        """The verifier-key string ``<name>+<hex key id>+<base64(type ‖ public key)>``."""
        return f"{self.name}+{self.key_id.hex()}+{_b64(bytes([self.sig_type]) + self.public_key)}"

    def as_witness(self) -> Verifier:
        """The same name and public key as a cosignature (type 0x04) key."""
        return Verifier(self.name, self.public_key, SIG_COSIGNATURE_V1)


def parse_verifier_key(vkey: str) -> Verifier:
    """Parse ``<name>+<hex key id>+<base64(type ‖ public key)>`` and check the key id against the key."""
    if not isinstance(vkey, str):
        raise ProofError(f"a verifier key is a string, got {type(vkey).__name__}")
    parts = vkey.split("+", 2)
    if len(parts) != 3:
        raise ProofError(f"verifier key {vkey[:80]!r} is not <name>+<key id>+<key>")
    name, hex_id, b64 = parts
    _check_name(name, "verifier key name")
    if not _HEX8.fullmatch(hex_id):
        raise ProofError(f"verifier key {name!r}: key id {hex_id!r} is not 8 hex digits")
    raw = _b64decode(b64, f"verifier key {name!r}")
    if len(raw) != 33:
        raise ProofError(f"verifier key {name!r}: expected a type byte and 32 key bytes, got {len(raw)} bytes")
    if raw[0] not in (SIG_ED25519, SIG_COSIGNATURE_V1):
        raise ProofError(f"verifier key {name!r}: unknown signature type {raw[0]:#04x}")
    verifier = Verifier(name, raw[1:], raw[0])
    if verifier.key_id != bytes.fromhex(hex_id):
        raise ProofError(f"verifier key {name!r}: key id {hex_id} does not match the key ({verifier.key_id.hex()})")
    return verifier


# --- signed notes -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: the key name, the 4-byte key id and the signature bytes after it."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        """The signature line, newline included."""
        return f"{_DASH}{self.name} {_b64(self.key_id + self.signature)}\n"

    @classmethod
    def parse(cls, line: str) -> NoteSignature:
        """Parse one signature line (a trailing newline is allowed)."""
        text = line[:-1] if line.endswith("\n") else line
        return _parse_signature_line(text, 0)


@dataclass(frozen=True)
class Note:
    """A note text (ending in a newline) and its signature lines."""

    body: str
    signatures: tuple[NoteSignature, ...]

    def text(self) -> str:
        """The signed note: body, blank line, signature lines."""
        return self.body + "\n" + "".join(s.line() for s in self.signatures)


def _check_body(body: object) -> str:
    if not isinstance(body, str) or not body:
        raise ProofError("a note text must be a non-empty string")
    if not body.endswith("\n"):
        raise ProofError(f"a note text must end in a newline: {body[-40:]!r}")
    bad = _CONTROL.search(body)
    if bad:
        raise ProofError(f"the note text contains control character U+{ord(bad.group()):04X} at {bad.start()}")
    return body


def _parse_signature_line(line: str, number: int) -> NoteSignature:
    if not line.startswith(_DASH):
        raise ProofError(f"signature line {number} does not start with an em dash and a space: {line[:60]!r}")
    name, space, b64 = line[len(_DASH) :].partition(" ")
    if not space:
        raise ProofError(f"signature line {number} has no space between key name and signature: {line[:60]!r}")
    _check_name(name, f"key name of signature line {number}")
    raw = _b64decode(b64, f"signature of {name!r} (line {number})")
    if len(raw) < 5:
        raise ProofError(f"signature of {name!r} (line {number}) has {len(raw)} bytes, fewer than a key id and one")
    return NoteSignature(name, raw[:4], raw[4:])


def parse_note(text: str | bytes) -> Note:
    """Split a signed note into its text and signature lines, checking the format but no signature."""
    if isinstance(text, bytes):
        if len(text) > MAX_NOTE_BYTES:
            raise ProofError(f"the note has {len(text)} bytes, more than {MAX_NOTE_BYTES}")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProofError(f"the note is not valid UTF-8 (byte {exc.start})") from None
    if not isinstance(text, str):
        raise ProofError(f"a note is text, got {type(text).__name__}")
    if len(text) > MAX_NOTE_BYTES:
        raise ProofError(f"the note has {len(text)} characters, more than {MAX_NOTE_BYTES}")
    bad = _CONTROL.search(text)
    if bad:
        raise ProofError(f"the note contains control character U+{ord(bad.group()):04X} at {bad.start()}")
    split = text.rfind("\n\n")
    if split < 0:
        raise ProofError("the note has no blank line between its text and its signatures")
    body, block = text[: split + 1], text[split + 2 :]
    if not block:
        raise ProofError("the note has no signature lines after its blank line")
    if not block.endswith("\n"):
        raise ProofError(f"the last signature line does not end in a newline: {block[-60:]!r}")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise ProofError(f"the note has {len(lines)} signature lines, more than {MAX_SIGNATURES}")
    return Note(body, tuple(_parse_signature_line(line, i) for i, line in enumerate(lines, 1)))


def _sign(message: bytes, key: SigningKey, name: str, sig_type: int, prefix: bytes = b"") -> NoteSignature:
    public = _check_public_key(_public_bytes(key), f"signing key {name!r}")
    return NoteSignature(name, key_id(name, sig_type, public), prefix + key.sign(message))


def sign_note(body: str, key: SigningKey, name: str) -> str:
    """Sign ``body`` (ending in a newline) with an Ed25519 key under ``name``; return the signed note."""
    _check_body(body)
    _check_name(name)
    return Note(body, (_sign(body.encode("utf-8"), key, name, SIG_ED25519),)).text()


def add_signatures(note_text: str, signatures: Iterable[NoteSignature]) -> str:
    """Add signature lines to a signed note; a new line replaces an old one with the same name and key id."""
    note = parse_note(note_text)
    new = list(signatures)
    replaced = {(s.name, s.key_id) for s in new}
    kept = [s for s in note.signatures if (s.name, s.key_id) not in replaced]
    out = Note(note.body, tuple(kept + new))
    if len(out.signatures) > MAX_SIGNATURES:
        raise ProofError(f"the note would have {len(out.signatures)} signatures, more than {MAX_SIGNATURES}")
    return out.text()


def verify_note(text: str | bytes, known: Verifier | Iterable[Verifier]) -> Note:
    """Parse a signed note and check its Ed25519 signatures by ``known`` keys.

    Signature lines whose (name, key id) match no known key are ignored. Every line that matches a known
    key must verify, and at least one must.

    Returns:
        The parsed note.

    Raises:
        ProofError: a malformed note, a bad signature by a known key, or no known signer.
    """
    keys = [known] if isinstance(known, Verifier) else list(known)
    by_id: dict[tuple[str, bytes], Verifier] = {}
    for v in keys:
        if v.sig_type != SIG_ED25519:
            raise ProofError(f"key {v.name!r} is a cosignature key (type 0x04); use verify_cosignature for it")
        by_id[(v.name, v.key_id)] = v
    note = parse_note(text)
    message = note.body.encode("utf-8")
    verified = 0
    for sig in note.signatures:
        signer = by_id.get((sig.name, sig.key_id))
        if signer is None:
            continue
        if not _ed25519_ok(signer.public_key, sig.signature, message):
            raise ProofError(f"the signature by {signer.name!r} (key id {signer.key_id.hex()}) does not verify")
        verified += 1
    if not verified:
        names = ", ".join(sorted(f"{v.name}+{v.key_id.hex()}" for v in keys)) or "none"
        raise ProofError(f"the note carries no signature by a known key (known: {names})")
    return note


# --- checkpoints --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A tlog checkpoint: origin, tree size, root hash, and optional extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for what, line in [("origin", self.origin), *(("extension line", e) for e in self.extensions)]:
            if not isinstance(line, str) or not line:
                raise ProofError(f"checkpoint {what} must be a non-empty string, got {line!r}")
            if "\n" in line or _CONTROL.search(line):
                raise ProofError(f"checkpoint {what} {line[:60]!r} contains a newline or control character")
        if not isinstance(self.size, int) or isinstance(self.size, bool) or not 0 <= self.size <= _MAX_INT63:
            raise ProofError(f"checkpoint size {self.size!r} is not an integer in 0..2^63-1")
        if not isinstance(self.root, bytes) or len(self.root) != HASH_SIZE:
            raise ProofError(f"checkpoint root must be {HASH_SIZE} bytes, got {self.root!r:.60}")

    def to_body(self) -> str:
        """The note text of this checkpoint."""
        lines = [self.origin, str(self.size), _b64(self.root), *self.extensions]
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, body: str) -> Checkpoint:
        """Parse a checkpoint note text, rejecting non-canonical sizes and root hashes."""
        if not isinstance(body, str) or not body.endswith("\n"):
            raise ProofError("a checkpoint text must be a string ending in a newline")
        lines = body[:-1].split("\n")
        if len(lines) < 3:
            raise ProofError(f"a checkpoint has at least 3 lines (origin, size, root hash), got {len(lines)}")
        origin, size_text, root_text, *extensions = lines
        if not _SIZE.fullmatch(size_text):
            raise ProofError(f"checkpoint size {size_text[:40]!r} is not a canonical decimal number")
        root = _b64decode(root_text, "checkpoint root hash")
        if len(root) != HASH_SIZE:
            raise ProofError(f"checkpoint root hash has {len(root)} bytes, expected {HASH_SIZE}")
        return cls(origin, int(size_text), root, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, key: SigningKey, name: str) -> str:
    """The signed note of ``checkpoint`` (the key name SHOULD be the origin)."""
    return sign_note(checkpoint.to_body(), key, name)


def open_checkpoint(text: str | bytes, known: Verifier | Iterable[Verifier], origin: str | None = None) -> Checkpoint:
    """Verify a signed checkpoint note against ``known`` keys and parse it; check ``origin`` if given."""
    checkpoint = Checkpoint.parse(verify_note(text, known).body)
    if origin is not None and checkpoint.origin != origin:
        raise ProofError(f"checkpoint origin {checkpoint.origin!r} is not the expected {origin!r}")
    return checkpoint


# --- cosignatures (cosignature/v1, Ed25519) ------------------------------------------------------------


def _check_timestamp(timestamp: object) -> int:
    if not isinstance(timestamp, int) or isinstance(timestamp, bool) or not 0 <= timestamp <= _MAX_INT63:
        raise ProofError(f"cosignature timestamp {timestamp!r} is not an integer in 0..2^63-1")
    return timestamp


def cosignature_message(checkpoint: Checkpoint, timestamp: int) -> bytes:
    """The message a cosignature/v1 signs: header, time line, then the checkpoint text."""
    _check_timestamp(timestamp)
    return f"cosignature/v1\ntime {timestamp}\n{checkpoint.to_body()}".encode()


def cosign(checkpoint: Checkpoint, key: SigningKey, name: str, timestamp: int) -> NoteSignature:
    """A witness's cosignature/v1 of ``checkpoint`` at ``timestamp`` (POSIX seconds)."""
    _check_name(name, "witness name")
    message = cosignature_message(checkpoint, timestamp)
    return _sign(message, key, name, SIG_COSIGNATURE_V1, timestamp.to_bytes(8, "big"))


def parse_cosignature(signature: NoteSignature) -> tuple[int, bytes]:
    """Split a cosignature/v1 signature into its timestamp and its 64-byte Ed25519 signature."""
    raw = signature.signature
    if len(raw) != 72:
        raise ProofError(
            f"cosignature by {signature.name!r} has {len(raw)} bytes after the key id, expected 72 "
            "(8-byte timestamp and 64-byte Ed25519 signature)"
        )
    timestamp = int.from_bytes(raw[:8], "big")
    if timestamp > _MAX_INT63:
        raise ProofError(f"cosignature by {signature.name!r} has timestamp {timestamp}, beyond 2^63-1")
    return timestamp, raw[8:]


def verify_cosignature(checkpoint: Checkpoint, signature: NoteSignature | str, witness: Verifier) -> int:
    """Check a witness's cosignature/v1 of ``checkpoint``; return its timestamp (POSIX seconds).

    ``witness`` is the witness's name and Ed25519 key; a type 0x01 ``Verifier`` is taken as the same key
    used for cosigning (the key id is then computed with type 0x04, as the spec says).
    """
    sig = NoteSignature.parse(signature) if isinstance(signature, str) else signature
    w = witness if witness.sig_type == SIG_COSIGNATURE_V1 else witness.as_witness()
    if sig.name != w.name:
        raise ProofError(f"the cosignature is by {sig.name!r}, not by witness {w.name!r}")
    if sig.key_id != w.key_id:
        raise ProofError(
            f"the cosignature by {w.name!r} has key id {sig.key_id.hex()}, the witness key's is {w.key_id.hex()}"
        )
    timestamp, ed_sig = parse_cosignature(sig)
    if not _ed25519_ok(w.public_key, ed_sig, cosignature_message(checkpoint, timestamp)):
        raise ProofError(
            f"the cosignature by {w.name!r} at time {timestamp} does not verify for checkpoint "
            f"{checkpoint.origin!r} size {checkpoint.size}"
        )
    return timestamp


def verify_cosignatures(text: str | bytes, witnesses: Iterable[Verifier]) -> dict[str, int]:
    """Check the cosignatures in a signed checkpoint note by known ``witnesses``.

    Lines by other keys (the log's own signature among them) are ignored; a line that matches a known
    witness must verify. The log's signature is not checked here: use ``open_checkpoint`` for that.

    Returns:
        The witness names whose cosignatures verified, each with its timestamp.
    """
    note = parse_note(text)
    checkpoint = Checkpoint.parse(note.body)
    known: dict[tuple[str, bytes], Verifier] = {}
    for w in witnesses:
        ww = w if w.sig_type == SIG_COSIGNATURE_V1 else w.as_witness()
        known[(ww.name, ww.key_id)] = ww
    out: dict[str, int] = {}
    for sig in note.signatures:
        witness = known.get((sig.name, sig.key_id))
        if witness is not None:
            out[witness.name] = verify_cosignature(checkpoint, sig, witness)
    return out
