"""Sync with the district: the wire (``protocol``), the sans-IO client, the HTTP transport, the daemon."""

from __future__ import annotations

from edge.errors import ClockCorrected, OwnOpsRejected, ServerRefused, SyncFailed, Unreachable
from edge.sync.client import Outgoing, SyncClient, SyncReport, enroll, sync_once
from edge.sync.protocol import (
    CONTENT_TYPE,
    ENROLL_PATH,
    MAX_ANSWER,
    SYNC_PATH,
    TS_WINDOW_MS,
    AuthClaim,
    EnrollAnswer,
    Rejection,
    SyncAnswer,
    auth_header,
    pack,
    parse_auth,
    signing_bytes,
    unpack,
)
from edge.sync.transport import HttpTransport, Transport

__all__ = [
    "CONTENT_TYPE",
    "ENROLL_PATH",
    "MAX_ANSWER",
    "SYNC_PATH",
    "TS_WINDOW_MS",
    "AuthClaim",
    "ClockCorrected",
    "EnrollAnswer",
    "HttpTransport",
    "Outgoing",
    "OwnOpsRejected",
    "Rejection",
    "ServerRefused",
    "SyncAnswer",
    "SyncClient",
    "SyncFailed",
    "SyncReport",
    "Transport",
    "Unreachable",
    "auth_header",
    "enroll",
    "pack",
    "parse_auth",
    "signing_bytes",
    "sync_once",
    "unpack",
]
