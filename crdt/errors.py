"""Errors raised by the replication core.

Hierarchy::

    CRDTError
    ├── DecodeError (ValueError)          bytes that are not a canonical Linli value
    │   ├── FloatRejected                 a float anywhere in the value
    │   ├── DuplicateKey                  a map key given twice
    │   ├── ExtensionRejected             a msgpack extension type
    │   ├── TooDeep                       nesting deeper than 16
    │   ├── TooLarge                      more than 64 KiB
    │   └── NonCanonical                  decodes, but re-encodes to other bytes
    ├── EncodeError (TypeError)           a value that has no canonical encoding
    ├── EnvelopeError (ValueError)        a decoded op whose fields are wrong
    ├── SignatureError                    the signature does not verify
    ├── ChainError                        a stream's hash chain is broken
    │   ├── Gap                           a seq is missing
    │   ├── Reorder                       a seq arrived before or after its place
    │   ├── WrongPrev                     prev is not the previous op's hash
    │   └── Equivocation                  same (dev, scope, seq), different hash
    ├── ClockError (ValueError)           a malformed clock state
    └── ProofError                        a Merkle proof or signed note that does not verify
"""

from __future__ import annotations


class CRDTError(Exception):
    """Base class of every error raised by ``crdt``."""


class DecodeError(ValueError, CRDTError):
    """Bytes that do not decode to a canonical Linli value."""


class FloatRejected(DecodeError):
    """A float was found; Linli values carry integers only."""


class DuplicateKey(DecodeError):
    """A map carried the same key twice."""


class ExtensionRejected(DecodeError):
    """A msgpack extension type was found."""


class TooDeep(DecodeError):
    """Nesting deeper than the limit."""


class TooLarge(DecodeError):
    """The encoded value is over the size limit."""


class NonCanonical(DecodeError):
    """The bytes decode, but are not the canonical encoding of what they hold."""


class EncodeError(TypeError, CRDTError):
    """A value that cannot be canonically encoded (float, unsupported type, bad key)."""


class EnvelopeError(ValueError, CRDTError):
    """A decoded op whose envelope fields are missing or of the wrong type."""


class SignatureError(CRDTError):
    """A signature that does not verify against the claimed key."""


class ChainError(CRDTError):
    """A break in a per-stream hash chain."""


class Gap(ChainError):
    """An op's seq skips past the stream's next seq."""


class Reorder(ChainError):
    """An op's seq is at or before the stream's head with no stored op to compare."""


class WrongPrev(ChainError):
    """An op's prev is not the hash of the stream's previous op."""


class Equivocation(ChainError):
    """Two different ops claim the same (dev, scope, seq)."""


class ClockError(ValueError, CRDTError):
    """A malformed hybrid-logical-clock value or state."""


class ProofError(CRDTError):
    """A Merkle proof, checkpoint or cosignature that does not verify."""
