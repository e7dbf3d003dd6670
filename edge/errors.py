"""Errors raised by the edge node.

Hierarchy::

    EdgeError
    ├── InputError (ValueError)          malformed or out-of-range input: CLI exit 2
    ├── Refused                          a domain rule says no: CLI exit 1
    │   ├── InsufficientRights           stock or points beyond this device's rights
    │   ├── RationExceeded               an emergency-supply ration per household per day
    │   ├── UnknownEntity                no such ticket, household, sku, technician, staff, transfer
    │   │   └── UnknownTicket
    │   │       └── AmbiguousTicket      a short code that names more than one ticket: refused
    │   ├── Duplicate                    a household, sku, staff id or technician that already exists
    │   ├── InvalidTransition            a status or transfer step the lattice does not allow
    │   ├── ScopeForbidden               this device may not write that scope or type
    │   └── AuthFailed                   wrong PIN
    ├── StoreError                       the database is unusable (wrong version, pragma not applied)
    ├── NotInitialised                   no node in the data directory
    ├── OpRejected                       a remote op failed validation (carries code and op position)
    ├── AuditError                       the signed audit trail does not hold together
    │   ├── AuditAlarm                   a sync answer or checkpoint failed its proofs: the server is not trusted
    │   └── AuditFailed                  an audit export failed offline verification (the report names each failure)
    └── SyncFailed                       a sync or enrolment did not complete
        ├── Unreachable                  the server could not be reached
        ├── ServerRefused                the server answered with an error status (``code`` says why)
        │   └── ClockCorrected           a stale timestamp: the offset was corrected, retry
        └── OwnOpsRejected (Refused)     the server rejected ops of this device
"""

from __future__ import annotations

from typing import Any


class EdgeError(Exception):
    """Base class of every error raised by ``edge``."""

    exit_code = 1


class InputError(ValueError, EdgeError):
    """Input that is malformed, missing, oversized or out of range."""

    exit_code = 2


class Refused(EdgeError):
    """A domain rule refused the action; nothing was written."""


class InsufficientRights(Refused):
    """A decrement or move beyond the rights this device holds (no negative stock or points)."""


class RationExceeded(Refused):
    """An emergency-supply issue beyond the household's ration for the day."""


class UnknownEntity(Refused):
    """No entity with that id in this node's scopes."""


class UnknownTicket(UnknownEntity):
    """No ticket with that code or id."""


class AmbiguousTicket(UnknownTicket):
    """A short code that names two tickets: refused, so nobody is shown another household's ticket."""


class Duplicate(Refused):
    """An entity with that id already exists."""


class InvalidTransition(Refused):
    """A status or transfer step that is not allowed from the current one."""


class ScopeForbidden(Refused):
    """This device may not write that scope or op type."""


class AuthFailed(Refused):
    """A staff or household PIN that does not match."""


class StoreError(EdgeError):
    """The database cannot be used as it is."""


class NotInitialised(EdgeError):
    """The data directory holds no node; run ``linli-edge init``."""

    exit_code = 2


class OpRejected(EdgeError):
    """A remote op refused by validation (``docs/design.md`` §2.5); ``code`` is machine-readable."""

    def __init__(self, code: str, detail: str, dev: str = "", scope: str = "", seq: int = 0) -> None:
        super().__init__(f"{dev}/{scope}#{seq}: {code}: {detail}" if dev else f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.dev = dev
        self.scope = scope
        self.seq = seq

    def as_dict(self) -> dict[str, object]:
        """The ``rejected`` entry of a sync answer."""
        return {
            "dev": self.dev,
            "scope": self.scope,
            "seq": self.seq,
            "code": self.code,
            "detail": self.detail,
        }


class AuditError(EdgeError):
    """The signed audit trail does not hold together (``docs/design.md`` §7)."""


class AuditAlarm(AuditError):
    """A checkpoint, consistency or inclusion proof from the district failed; persists until staff clear it."""


class AuditFailed(AuditError):
    """An audit export failed offline verification; the message names the failures."""


# --- sync ----------------------------------------------------------------------------------------
class SyncFailed(EdgeError):
    """A sync or enrolment did not complete (exit 1); ``last_sync_error`` says why."""


class Unreachable(SyncFailed):
    """The server could not be reached, or the connection broke."""


class ServerRefused(SyncFailed):
    """The server answered with an error status; ``code`` is its machine-readable reason."""

    def __init__(self, status: int, code: str, detail: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(f"server refused ({status} {code}): {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.body = body or {}


class ClockCorrected(ServerRefused):
    """A ``stale_timestamp`` refusal: the clock offset was corrected from the server's time; retry."""


class OwnOpsRejected(SyncFailed, Refused):
    """The server rejected ops of this device; they (and the ops after them) are not pushed again."""
