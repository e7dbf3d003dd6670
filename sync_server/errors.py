"""Errors of the district sync server; each carries its HTTP status, mapped in one place (``core``).

Hierarchy::

    SyncError                      status 500, code ``internal``
    ├── BadRequest                 400  malformed body, header or parameter
    ├── Unauthorized               401  request signature, timestamp window, nonce replay,
    │                                   unknown or revoked device, enrolment token
    ├── Forbidden                  403  a scope or op type the device may not write; quarantine;
    │                                   a token for another community
    ├── NotFound                   404  no such path
    ├── MethodNotAllowed           405
    ├── Conflict                   409  equivocation; a device enrolled twice
    ├── PayloadTooLarge            413  body over the limit
    ├── RateLimited                429  too many requests from one device
    └── SetupError                 the data directory is not a district (CLI, exit 1/2)
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BadRequest",
    "Conflict",
    "Forbidden",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "SetupError",
    "SyncError",
    "Unauthorized",
]


class SyncError(Exception):
    """Base class of every error raised by ``sync_server``.

    Args:
        code: machine-readable reason (the ``error`` field of the answer).
        detail: what was wrong, and with which input.
        extra: more fields for the answer (``rejected``, ``retry_after_ms`` ...).
    """

    status = 500

    def __init__(self, code: str, detail: str, **extra: Any) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.extra = extra


class BadRequest(SyncError):
    status = 400


class Unauthorized(SyncError):
    status = 401


class Forbidden(SyncError):
    status = 403


class NotFound(SyncError):
    status = 404


class MethodNotAllowed(SyncError):
    status = 405


class Conflict(SyncError):
    status = 409


class PayloadTooLarge(SyncError):
    status = 413


class RateLimited(SyncError):
    status = 429


class SetupError(SyncError):
    """The data directory does not hold a district node, or holds one already."""
