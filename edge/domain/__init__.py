"""The domains of a community: one module (or package, for the large ones) each, holding its op types
(payload model, write guard, merge rule and the invariants it keeps, listed in its docstring), the
commands that check a rule and write them, and the queries that read them.

Commands are functions over a :class:`~edge.domain.context.Context` (store, community, role, clock);
``edge.Node`` delegates to them. Importing this package registers every op type with
``edge.store.optypes``.
"""

from __future__ import annotations

from edge.domain import devices, lending, modes, notices, people, points, stock, tickets, transfers

__all__ = ["devices", "lending", "modes", "notices", "people", "points", "stock", "tickets", "transfers"]
