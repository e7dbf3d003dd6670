"""ULIDs (time-ordered 128-bit ids in Crockford base32) for entities."""

from __future__ import annotations

import os

__all__ = ["new_ulid"]

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_ulid(ms: int, randomness: bytes | None = None) -> str:
    """A 26-character ULID for unix time ``ms`` and 10 bytes of randomness."""
    rand = os.urandom(10) if randomness is None else randomness
    if len(rand) != 10 or not 0 <= ms < 2**48:
        raise ValueError("a ULID takes a 48-bit time and 10 random bytes")
    n = (ms << 80) | int.from_bytes(rand, "big")
    out = []
    for _ in range(26):
        out.append(_ALPHABET[n & 31])
        n >>= 5
    return "".join(reversed(out))
