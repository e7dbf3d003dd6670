"""A community node: SQLite store, op log, materialised views, domain commands, sync client, CLI.

``Node`` is the facade; the domain modules (tickets, stock, points, people, notices, modes,
devices) each hold their op payload models, merge rules and queries, and register their op types
on import.
"""

from __future__ import annotations

from edge import domain  # noqa: F401  (registers every op type)
from edge.errors import (
    AuthFailed,
    Duplicate,
    EdgeError,
    InputError,
    InsufficientRights,
    InvalidTransition,
    NotInitialised,
    OpRejected,
    RationExceeded,
    Refused,
    ScopeForbidden,
    StoreError,
    UnknownEntity,
    UnknownTicket,
)
from edge.node import Node, default_data_dir
from edge.store import BatchResult, Identity, Store
from edge.store.optypes import REGISTRY, may_write

__all__ = [
    "REGISTRY",
    "AuthFailed",
    "BatchResult",
    "Duplicate",
    "EdgeError",
    "Identity",
    "InputError",
    "InsufficientRights",
    "InvalidTransition",
    "Node",
    "NotInitialised",
    "OpRejected",
    "RationExceeded",
    "Refused",
    "ScopeForbidden",
    "Store",
    "StoreError",
    "UnknownEntity",
    "UnknownTicket",
    "default_data_dir",
    "may_write",
]
