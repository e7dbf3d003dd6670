"""Typed reads of a node's tables for other packages (the district server): they never write SQL of their own.

- ``log``: the op log: pages after an index, heads, hashes and indices, the export's ops, ledger keys;
- ``devices``: the device registry, flags, each device's latest op;
- ``availability``: one item's stock in every scope;
- ``report``: communities, open tickets, stock counters, double shipments;
- ``open311``: tickets without anything personal.

Each function reads through the connection it is given (a write transaction or a read-only connection).
"""

from __future__ import annotations

from edge.reads.availability import AVAILABILITY_SQL, ScopeStock, stock_everywhere, stranded_stock
from edge.reads.devices import DeviceRow, LatestOp, device, devices, flagged, latest_ops, rights_held
from edge.reads.log import (
    LedgerKey,
    LoggedOp,
    device_heads,
    exported_ops,
    hashes_after,
    heads_by_device,
    indices_of,
    ledger_keys,
    max_index,
    ops_page,
    stream_hashes,
    top_seq,
)
from edge.reads.open311 import CLOSED_STAGES, PublicTicket, public_ticket, public_tickets
from edge.reads.report import (
    ConservationFault,
    OpenTickets,
    RepeatedStep,
    communities,
    conservation_faults,
    open_tickets,
    repeated_steps,
    stock_counts,
)

__all__ = [
    "AVAILABILITY_SQL",
    "CLOSED_STAGES",
    "ConservationFault",
    "DeviceRow",
    "LatestOp",
    "LedgerKey",
    "LoggedOp",
    "OpenTickets",
    "PublicTicket",
    "RepeatedStep",
    "ScopeStock",
    "communities",
    "conservation_faults",
    "device",
    "device_heads",
    "devices",
    "exported_ops",
    "flagged",
    "hashes_after",
    "heads_by_device",
    "indices_of",
    "latest_ops",
    "ledger_keys",
    "max_index",
    "open_tickets",
    "ops_page",
    "public_ticket",
    "public_tickets",
    "repeated_steps",
    "rights_held",
    "stock_counts",
    "stock_everywhere",
    "stranded_stock",
    "stream_hashes",
    "top_seq",
]
