"""The district's side of the signed audit trail: the Merkle log over the op log, its checkpoints and
cosignatures, batch proofs, and the public audit endpoints."""

from __future__ import annotations

from sync_server.audit.http import handle
from sync_server.audit.log import MAX_COSIGN_BODY, AuditLog, CheckpointRecord, SqliteNodeStore
from sync_server.audit.proofs import BatchProofs, leaf_indices
from sync_server.audit.routes import AUDIT_ROUTES, PendingSync, ServerAudit, open_log

__all__ = [
    "AUDIT_ROUTES",
    "MAX_COSIGN_BODY",
    "AuditLog",
    "BatchProofs",
    "CheckpointRecord",
    "PendingSync",
    "ServerAudit",
    "SqliteNodeStore",
    "handle",
    "leaf_indices",
    "open_log",
]
