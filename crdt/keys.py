"""Device keys (Ed25519) and device ids (``docs/design.md`` §2.1).

Device id = first 16 bytes of SHA-256(raw public key), base32, lower case, no padding (26 chars).
Saving and loading a key file is the one piece of file I/O in ``crdt``: the key never leaves the
module as anything but bytes, and the file is written with mode 0600 before a byte goes into it.
"""

from __future__ import annotations

import base64
import hashlib
import os
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import CRDTError, SignatureError

__all__ = ["DeviceKey", "device_id", "public_key", "verify_signature"]

_RAW = serialization.Encoding.Raw


@lru_cache(maxsize=4096)
def device_id(pubkey: bytes) -> str:
    """The device id for a raw 32-byte Ed25519 public key."""
    if len(pubkey) != 32:
        raise CRDTError(f"an Ed25519 public key has 32 bytes, got {len(pubkey)}")
    return base64.b32encode(hashlib.sha256(pubkey).digest()[:16]).decode("ascii").rstrip("=").lower()


@lru_cache(maxsize=4096)
def public_key(pubkey: bytes) -> Ed25519PublicKey:
    """A (cached) public-key object for raw key bytes."""
    if len(pubkey) != 32:
        raise SignatureError(f"an Ed25519 public key has 32 bytes, got {len(pubkey)}")
    try:
        return Ed25519PublicKey.from_public_bytes(pubkey)
    except ValueError as exc:
        raise SignatureError(f"not an Ed25519 public key: {exc}") from None


def verify_signature(pubkey: bytes, signature: bytes, message: bytes) -> None:
    """Raise ``SignatureError`` unless ``signature`` is ``pubkey``'s Ed25519 signature of ``message``."""
    if len(signature) != 64:
        raise SignatureError(f"an Ed25519 signature has 64 bytes, got {len(signature)}")
    try:
        public_key(pubkey).verify(signature, message)
    except InvalidSignature:
        raise SignatureError("signature does not verify") from None


class DeviceKey:
    """An Ed25519 signing key with its public half and device id."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public_bytes: bytes = private.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)
        self.device_id: str = device_id(self.public_bytes)

    @classmethod
    def generate(cls) -> DeviceKey:
        """A new random key."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> DeviceKey:
        """The key for a 32-byte private seed."""
        if len(seed) != 32:
            raise CRDTError(f"an Ed25519 seed has 32 bytes, got {len(seed)}")
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    def seed(self) -> bytes:
        """The 32-byte private seed."""
        return self._private.private_bytes(_RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption())

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``."""
        return self._private.sign(message)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the seed to ``path`` (mode 0600, created new; refuses to overwrite a key)."""
        p = Path(path)
        tmp = p.with_name(p.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, self.seed().hex().encode("ascii") + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        if p.exists():
            tmp.unlink()
            raise CRDTError(f"refusing to overwrite the existing key file {p.name}")
        os.replace(tmp, p)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> DeviceKey:
        """Read a key written by ``save``."""
        p = Path(path)
        text = p.read_text("ascii").strip()
        try:
            seed = bytes.fromhex(text)
        except ValueError:
            raise CRDTError(f"key file {p.name} does not hold a hex seed") from None
        return cls.from_seed(seed)
