"""KPIs per community and period, computed from ticket stage times (``docs/dispatch.md``).

One module for ``linli-edge kpi``, the staff UI and the district report. Pure: the caller turns the
store's views into :class:`TicketTimes`. Every figure is an integer (milliseconds, counts, or a
percentage / mean times 100, rounded half up); a figure with nothing to measure is ``None``.

**Clocks.** A ticket whose stage times came from a clock known to be wrong (``TicketTimes.clock_unreliable``:
a device flagged for clock skew or fenced by the district, or stage times out of order) is still
counted, and marked: ``clock_unreliable`` counts such tickets of the period, and, per urgency, the
episodes whose durations and SLA outcomes rest on such times.

**Episodes.** A ticket's epoch 0 starts at ``reported_ms``; every reopen starts a new epoch at its
``reported`` stamp. Each epoch is a repair *episode* timed on its own clocks: a reopen is a failure
the resident is waiting on again (and is what the first-time-fix rate counts). An episode belongs to
the period its start falls in (``start <= t < end``). A cancelled episode is counted but not timed.

**Durations.** A stage is *reached* at the first stamp of that stage or any later one in the same
epoch (skipped stages count as passed; ``cancelled`` does not count): response = acknowledged
(``triaged``), arrival = ``on_site``, resolution = ``resolved``. Time on hold for a resident-caused
reason (``no_access``, ``awaiting_resident``) is subtracted; overlapping holds count once.

**SLA.** Each episode has three targets from :mod:`edge.services.sla` (acknowledge, on site, fixed; "made
safe" has no stage of its own and is not measured). A reached target is met if its duration is at most
the target; an unreached one is missed once its paused-adjusted elapsed time at ``now_ms`` exceeds the
target, and pending until then. An episode attains the SLA when all three are met, misses it when any
is missed, and is left out of ``sla_total`` while pending.

**Percentiles** use the nearest-rank method: of ``N`` sorted values, the p-th percentile is the value
at rank ``ceil(p * N / 100)`` (1-based), always one of the measured values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from edge.domain.tickets.rules import HOLD_REASONS, STAGES
from edge.services.sla import URGENCIES, PlanningError, target_ms

__all__ = [
    "RESIDENT_HOLDS",
    "STAGES",
    "Hold",
    "PlanningError",
    "TicketTimes",
    "kpis",
    "kpis_by_community",
    "nearest_rank",
]

RESIDENT_HOLDS: Final = frozenset({"no_access", "awaiting_resident"})
"""Hold reasons (of ``HOLD_REASONS``) the resident causes: the SLA clock pauses only for these."""

_HOLD_REASONS: Final = frozenset(HOLD_REASONS)
_OPEN: Final = 2**62
_RANK: Final = {s: i for i, s in enumerate(STAGES)}
_MEASURED: Final = (
    ("response", "triaged", "acknowledge"),
    ("arrival", "on_site", "on_site"),
    ("resolution", "resolved", "fixed"),
)
"""KPI name, the stage that ends it, the SLA target it is held to."""


@dataclass(frozen=True, slots=True)
class Hold:
    """A hold from ``start_ms`` to ``end_ms`` (``None``: still on hold)."""

    reason: str
    start_ms: int
    end_ms: int | None = None


@dataclass(frozen=True, slots=True)
class TicketTimes:
    """What the KPIs need of one ticket.

    ``stage_times`` maps ``(epoch, stage)`` to the first HLC wall time (ms) that stage was reached;
    ``reopens`` is the number of reopens (epochs found in ``stage_times`` count too).
    """

    id: str
    urgency: str
    category: str
    community: str
    reported_ms: int
    stage_times: Mapping[tuple[int, str], int] = field(default_factory=dict)
    reopens: int = 0
    holds: tuple[Hold, ...] = ()
    rating: int | None = None
    clock_unreliable: bool = False


def nearest_rank(values: list[int], p: int) -> int | None:
    """The ``p``-th percentile (``0 < p <= 100``) of ``values`` by nearest rank; ``None`` if empty."""
    if not 0 < p <= 100:
        raise PlanningError(f"percentile must be in 1..100, got {p}")
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, -(-p * len(ordered) // 100)) - 1]


def _pct_x100(part: int, whole: int) -> int | None:
    return None if whole == 0 else (part * 20_000 + whole) // (2 * whole)


def _check(t: TicketTimes) -> None:
    if t.urgency not in URGENCIES:
        raise PlanningError(f"ticket {t.id!r}: unknown urgency {t.urgency!r}")
    for epoch, stage in t.stage_times:
        if stage not in _RANK or epoch < 0:
            raise PlanningError(f"ticket {t.id!r}: bad stage time key {(epoch, stage)!r}")
    for h in t.holds:
        if h.reason not in _HOLD_REASONS or (h.end_ms is not None and h.end_ms < h.start_ms):
            raise PlanningError(f"ticket {t.id!r}: bad hold {h!r}")
    if t.rating is not None and not 1 <= t.rating <= 5:
        raise PlanningError(f"ticket {t.id!r}: rating must be 1..5, got {t.rating}")
    if t.reopens < 0:
        raise PlanningError(f"ticket {t.id!r}: reopens must not be negative, got {t.reopens}")


def _paused(holds: list[tuple[int, int]], start: int, end: int) -> int:
    """Milliseconds of ``[start, end)`` covered by the (sorted) resident-caused holds, overlaps once."""
    total, cursor = 0, start
    for h_start, h_end in holds:
        lo, hi = max(h_start, cursor), min(h_end, end)
        if hi > lo:
            total += hi - lo
            cursor = hi
    return total


def _episodes(t: TicketTimes) -> list[tuple[int, int]]:
    """``(epoch, start_ms)`` of every epoch whose start is known."""
    last = max([t.reopens, *(e for e, _ in t.stage_times)])
    out = [(0, t.reported_ms)]
    for epoch in range(1, last + 1):
        start = t.stage_times.get((epoch, "reported"))
        if start is not None:
            out.append((epoch, start))
    return out


def _reached(t: TicketTimes, epoch: int, stage: str) -> int | None:
    stamps = [
        ms for (e, s), ms in t.stage_times.items() if e == epoch and s != "cancelled" and _RANK[s] >= _RANK[stage]
    ]
    return min(stamps) if stamps else None


def _empty_bucket() -> dict[str, Any]:
    return {
        "count": 0,
        "cancelled": 0,
        "clock_unreliable": 0,
        "durations": {name: [] for name, _, _ in _MEASURED},
        "sla": {},
    }


def _measure(t: TicketTimes, epoch: int, start: int, now_ms: int, bucket: dict[str, Any]) -> None:
    """Add one episode's durations and SLA outcome to its urgency's ``bucket``."""
    bucket["count"] += 1
    bucket["clock_unreliable"] += t.clock_unreliable
    if (epoch, "cancelled") in t.stage_times:
        bucket["cancelled"] += 1
        return
    holds = sorted((h.start_ms, _OPEN if h.end_ms is None else h.end_ms) for h in t.holds if h.reason in RESIDENT_HOLDS)
    outcomes = []
    for name, stage, target in _MEASURED:
        at = _reached(t, epoch, stage)
        if at is not None:
            took = max(0, at - start - _paused(holds, start, at))
            bucket["durations"][name].append(took)
            outcome = "met" if took <= target_ms(t.urgency, target) else "missed"
        else:
            elapsed = now_ms - start - _paused(holds, start, now_ms)
            outcome = "missed" if elapsed > target_ms(t.urgency, target) else "pending"
        bucket["sla"].setdefault(target, []).append(outcome)
        outcomes.append(outcome)
    overall = "missed" if "missed" in outcomes else "pending" if "pending" in outcomes else "met"
    bucket["sla"].setdefault("episode", []).append(overall)


def _summary(bucket: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"count": bucket["count"], "cancelled": bucket["cancelled"]}
    out["clock_unreliable"] = bucket["clock_unreliable"]
    for name, values in bucket["durations"].items():
        out[name] = {"n": len(values), "p50": nearest_rank(values, 50), "p90": nearest_rank(values, 90)}
    episode = bucket["sla"].get("episode", [])
    attained, total = episode.count("met"), len(episode) - episode.count("pending")
    out.update(sla_attained=attained, sla_total=total, sla_pct_x100=_pct_x100(attained, total))
    out["sla_pending"] = episode.count("pending")
    by_target = {}
    for _, _, target in _MEASURED:
        got = bucket["sla"].get(target, [])
        met, decided = got.count("met"), len(got) - got.count("pending")
        by_target[target] = {"met": met, "total": decided, "pct_x100": _pct_x100(met, decided)}
    out["sla_by_target"] = by_target
    return out


def kpis(
    tickets: Iterable[TicketTimes],
    period_start_ms: int,
    period_end_ms: int,
    *,
    now_ms: int | None = None,
    community: str | None = None,
) -> dict[str, Any]:
    """The KPIs of the episodes and tickets reported in ``[period_start_ms, period_end_ms)``.

    Args:
        tickets: the tickets to consider (any period; those outside it are ignored).
        period_start_ms: start of the period, inclusive.
        period_end_ms: end of the period, exclusive.
        now_ms: when an unreached target counts as missed; ``period_end_ms`` when omitted (pass the
            clock for a live report).
        community: only tickets of this community; every ticket when omitted.

    Returns:
        ``{period: {start, end}, community, tickets, by_urgency: {P1..P4: {count, cancelled,
        clock_unreliable, response|arrival|resolution: {n, p50, p90}, sla_attained, sla_total, sla_pct_x100,
        sla_pending, sla_by_target}}, first_time_fix: {fixed_first_time, resolved, pct_x100}, satisfaction: {count,
        mean_x100, by_score: {"1".."5"}}, clock_unreliable}``: counts of tickets reported in the period
        except in ``by_urgency``, which counts episodes started in it.

    Raises:
        PlanningError: an empty period or a malformed ticket (unknown urgency or stage, a bad hold or
            rating).
    """
    if period_end_ms <= period_start_ms:
        raise PlanningError(f"period must end after it starts, got [{period_start_ms}, {period_end_ms})")
    now = period_end_ms if now_ms is None else now_ms
    buckets = {u: _empty_bucket() for u in URGENCIES}
    count = fixed_first = resolved = unreliable = 0
    ratings: list[int] = []
    for t in sorted(tickets, key=lambda x: x.id):
        _check(t)
        if community is not None and t.community != community:
            continue
        for epoch, start in _episodes(t):
            if period_start_ms <= start < period_end_ms:
                _measure(t, epoch, start, now, buckets[t.urgency])
        if not period_start_ms <= t.reported_ms < period_end_ms:
            continue
        count += 1
        unreliable += t.clock_unreliable
        if _reached(t, 0, "resolved") is not None:
            resolved += 1
            reopened = t.reopens > 0 or any(e > 0 for e, _ in t.stage_times)
            fixed_first += not reopened
        if t.rating is not None:
            ratings.append(t.rating)
    mean = None if not ratings else (sum(ratings) * 200 + len(ratings)) // (2 * len(ratings))
    return {
        "period": {"start": period_start_ms, "end": period_end_ms},
        "community": community,
        "tickets": count,
        "by_urgency": {u: _summary(b) for u, b in buckets.items()},
        "first_time_fix": {
            "fixed_first_time": fixed_first,
            "resolved": resolved,
            "pct_x100": _pct_x100(fixed_first, resolved),
        },
        "satisfaction": {
            "count": len(ratings),
            "mean_x100": mean,
            "by_score": {str(s): ratings.count(s) for s in range(1, 6)},
        },
        "clock_unreliable": unreliable,
    }


def kpis_by_community(
    tickets: Iterable[TicketTimes], period_start_ms: int, period_end_ms: int, *, now_ms: int | None = None
) -> dict[str, dict[str, Any]]:
    """:func:`kpis` for each community found in ``tickets``, keyed and ordered by community id."""
    items = list(tickets)
    return {
        c: kpis(items, period_start_ms, period_end_ms, now_ms=now_ms, community=c)
        for c in sorted({t.community for t in items})
    }
