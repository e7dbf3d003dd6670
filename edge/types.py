"""Result types of ``edge.Node`` that callers rely on field by field (they stay plain dicts).

The domain result types live beside their queries and are re-exported here: a ticket
(``edge.domain.tickets.Ticket``, ``TicketDetail``), a stock level (``edge.domain.stock.StockLevel``) and
a points balance (``edge.domain.points.Balance``).
"""

from __future__ import annotations

from typing import Any, TypedDict

from edge.domain.points import Balance
from edge.domain.stock import StockLevel
from edge.domain.tickets import Note, Ticket, TicketDetail
from edge.services.dispatch_inputs import DispatchPlan, TicketPriority

__all__ = ["Balance", "DispatchPlan", "NodeStatus", "Note", "StockLevel", "Ticket", "TicketDetail", "TicketPriority"]


class NodeStatus(TypedDict):
    """What ``Node.status()`` reports: identity, mode, sync health, alarms and disk."""

    device: str
    community: str
    role: str
    mode: str
    declared_mode: str
    mode_declarations: list[dict[str, Any]]
    last_sync: int | None
    last_sync_error: str | None
    pending: int
    clock_skew: bool
    clock_skew_devices: list[dict[str, Any]]
    audit_alarm: Any
    server: str | None
    enrolled: bool
    ops: int
    flags: list[dict[str, Any]]
    disk_free_mb: int
