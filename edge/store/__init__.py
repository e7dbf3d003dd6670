"""The node's SQLite store: connection and migrations, the op log and stream heads, the local write
path, remote ingest, the op-type registry and the view helpers the domain rules apply through."""

from __future__ import annotations

from edge.store.db import connect, migrate, schema_version, write_tx
from edge.store.log import BatchResult, Identity, Store, Tx, shutdown_verify_pool
from edge.store.optypes import REGISTRY, OpType, Payload, may_write, register, validate_payload

__all__ = [
    "REGISTRY",
    "BatchResult",
    "Identity",
    "OpType",
    "Payload",
    "Store",
    "Tx",
    "connect",
    "may_write",
    "migrate",
    "register",
    "schema_version",
    "shutdown_verify_pool",
    "validate_payload",
    "write_tx",
]
