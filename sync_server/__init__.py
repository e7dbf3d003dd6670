"""The district sync server: enrolment, request auth, scoped sync, metrics; CLI ``linli-server``.

The district is an ``edge.Node`` subscribed to every scope: the server reuses edge's store and
validation, and keeps its own bookkeeping (tokens, nonces, last seen, quarantine) in the same
database. ``SyncServer`` is sans-IO; ``create_app`` wraps it for uvicorn.
"""

from __future__ import annotations

from sync_server.app import create_app
from sync_server.auth import Caller, Gate, NonceCache, RateLimiter
from sync_server.core import HttpRequest, HttpResponse, InProcessTransport, Limits, SyncServer
from sync_server.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    SetupError,
    SyncError,
    Unauthorized,
)

__all__ = [
    "BadRequest",
    "Caller",
    "Conflict",
    "Forbidden",
    "Gate",
    "HttpRequest",
    "HttpResponse",
    "InProcessTransport",
    "Limits",
    "MethodNotAllowed",
    "NonceCache",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "RateLimiter",
    "SetupError",
    "SyncError",
    "SyncServer",
    "Unauthorized",
    "create_app",
]
