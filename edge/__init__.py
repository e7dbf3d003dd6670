"""A community node: SQLite store, op log, materialised views, domain commands, sync client, CLI.

``Node`` is the facade; the domain modules (tickets, stock, points, people, notices, modes,
devices, transfers, lending) each hold their op payload models, merge rules, commands and queries,
and register their op types on import. This namespace is the public API the kiosk UI uses: the
facade, its errors and result types, the vocabularies, the SLA rules and the masking of names.
"""

from __future__ import annotations

from edge import domain  # noqa: F401  (registers every op type)
from edge.domain.fields import CATEGORIES, URGENCIES
from edge.domain.people import TECH_STATUSES, VULNERABLE, mask_name, mask_phone
from edge.domain.people import TIERS as TECH_TIERS
from edge.domain.tickets import CLOSE_REASONS, HOLD_REASONS, STAGES
from edge.domain.transfers import STEPS as TRANSFER_STEPS
from edge.errors import (
    AmbiguousTicket,
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
from edge.services.sla import EMERGENCY_NUMBERS, remaining, target_ms, urgency_from_answers
from edge.services.sla import TARGETS as SLA_TARGETS
from edge.store import BatchResult, Identity, Store
from edge.store.optypes import REGISTRY, may_write
from edge.types import (
    Balance,
    DispatchPlan,
    NodeStatus,
    Note,
    StockLevel,
    Ticket,
    TicketDetail,
    TicketPriority,
)

__all__ = [
    "CATEGORIES",
    "CLOSE_REASONS",
    "EMERGENCY_NUMBERS",
    "HOLD_REASONS",
    "REGISTRY",
    "SLA_TARGETS",
    "STAGES",
    "TECH_STATUSES",
    "TECH_TIERS",
    "TRANSFER_STEPS",
    "URGENCIES",
    "VULNERABLE",
    "AmbiguousTicket",
    "AuthFailed",
    "Balance",
    "BatchResult",
    "DispatchPlan",
    "Duplicate",
    "EdgeError",
    "Identity",
    "InputError",
    "InsufficientRights",
    "InvalidTransition",
    "Node",
    "NodeStatus",
    "NotInitialised",
    "Note",
    "OpRejected",
    "RationExceeded",
    "Refused",
    "ScopeForbidden",
    "StockLevel",
    "Store",
    "StoreError",
    "Ticket",
    "TicketDetail",
    "TicketPriority",
    "UnknownEntity",
    "UnknownTicket",
    "default_data_dir",
    "mask_name",
    "mask_phone",
    "may_write",
    "remaining",
    "target_ms",
    "urgency_from_answers",
]
