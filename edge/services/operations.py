"""KPIs over the store: the views turned into the pure inputs of :mod:`edge.services.kpi`.

One module for the CLI, the kiosk's staff screens, the audit summary and the district report; the
dispatcher's inputs are built in :mod:`edge.services.dispatch_inputs`.
"""

from __future__ import annotations

from typing import Any

from edge.domain import tickets
from edge.domain.context import Context
from edge.domain.tickets import STAGES
from edge.errors import InputError
from edge.services import kpi as _kpi

__all__ = ["PERIODS", "kpi", "ticket_times"]

DAY_MS = 24 * 3600 * 1000
PERIODS = {"day": DAY_MS, "week": 7 * DAY_MS, "month": 30 * DAY_MS, "quarter": 91 * DAY_MS, "year": 365 * DAY_MS}


def _holds(conn: Any, ticket: str) -> tuple[_kpi.Hold, ...]:
    """Hold intervals of a ticket from its hold events (a new hold ends the one before)."""
    out: list[_kpi.Hold] = []
    current: tuple[str, int] | None = None
    for reason, wall in tickets.holds(conn, ticket):
        if current is not None:
            out.append(_kpi.Hold(current[0], current[1], wall))
            current = None
        if reason != "released":
            current = (reason, wall)
    if current is not None:
        out.append(_kpi.Hold(current[0], current[1], None))
    return tuple(out)


def ticket_times(conn: Any, scope: str | None) -> list[_kpi.TicketTimes]:
    """Every ticket of ``scope`` (all for ``None``) as KPI input."""
    # Stage times written by a device whose clock is known to be wrong: flagged, or fenced by the district.
    wrong = {
        t
        for (t,) in conn.execute(
            "SELECT DISTINCT ticket FROM ticket_stages WHERE dev IN "
            "(SELECT dev FROM flags WHERE flag='clock_skew' UNION SELECT dev FROM clock_fences)"
        )
    }
    out = []
    for t in tickets.list_tickets(conn, scope):
        stages = tickets.stage_times(conn, t["id"])
        walls = [stages[k] for k in sorted(stages, key=lambda k: (k[0], STAGES.index(k[1])))]
        unreliable = t["id"] in wrong or walls != sorted(walls)
        out.append(
            _kpi.TicketTimes(
                id=t["id"],
                urgency=t["urgency"],
                category=t["category"],
                community=t["scope"],
                reported_ms=t["reported_ms"],
                stage_times=stages,
                reopens=t["epoch"],
                holds=_holds(conn, t["id"]),
                rating=t["rating"],
                clock_unreliable=unreliable,
            )
        )
    return out


def kpi(ctx: Context, period: str = "month", *, end_ms: int | None = None, all_scopes: bool = False) -> dict[str, Any]:
    """KPIs for the last ``period`` (day, week, month, quarter, year) up to ``end_ms`` (now).

    Raises:
        InputError: an unknown period.
    """
    if period not in PERIODS:
        raise InputError(f"period {period!r} is not one of {', '.join(PERIODS)}")
    end = ctx.now_ms() if end_ms is None else end_ms
    start = end - PERIODS[period]
    community = None if all_scopes else ctx.community
    result = _kpi.kpis(ticket_times(ctx.conn, community), start, end + 1, now_ms=ctx.now_ms(), community=community)
    result["period_name"] = period
    return result
