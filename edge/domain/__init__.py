"""The domains of a community: one module each, holding its op types (payload model, write guard,
merge rule and the invariants it keeps), the commands that write them and the queries that read them.

Importing this package registers every op type with ``edge.store.optypes``.
"""

from __future__ import annotations

from edge.domain import devices, lending, modes, notices, people, points, stock, tickets, transfers

__all__ = ["devices", "lending", "modes", "notices", "people", "points", "stock", "tickets", "transfers"]
