"""``linli-server report``: the district's view of every community, from the district node's views.

Per community (and ``district``, the district's own warehouse, when it holds stock or transfers):

- ``open_tickets``: open tickets by urgency, with how many are on hold or have an assignment conflict;
- ``sla``: SLA attainment per urgency over the period (``edge.services.kpi`` through
  ``edge.services.operations.ticket_times``, the same figures as ``linli-edge kpi``): episodes that met all
  their targets, of those decided, and those still pending;
- ``low_stock``: items whose stock is at or below their reorder level (the community's own catalogue
  entry, else the district's; only items with a reorder level);
- ``transfers_in_flight``: transfers requested, approved or shipped, in or out;
- ``repeated_steps``: transfers this community shipped, or marked arrived, from more than one device
  (two partitioned kiosks of the holder both shipping, two of the receiver both marking arrival).
  Their stock moved once (lifecycle keys, ``docs/sharing.md``): the entry says how many devices wrote
  the step and the quantity that moved, so staff can see the duplicate writes, not lost stock;
- ``conservation_faults``: transfer steps whose stock did not move by exactly the approved quantity,
  once. Exactly-once lifecycle keys make this impossible; the report checks it on every run;
- ``devices``: each enrolled device, when it last made an authenticated request (the server's
  ``seen`` table), whether it is flagged for clock skew, and ``skew_ms``: the HLC wall time of its
  latest op minus the time the district received it (above zero its clock runs ahead; below zero the
  op waited offline, or its clock is behind).

Nothing here names a household: counts, skus, device names and ids only.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

from edge import reads
from edge.domain.stock import list_items
from edge.domain.transfers import list_transfers
from edge.node import Node
from edge.services import kpi
from edge.services.operations import PERIODS, ticket_times
from edge.services.sla import URGENCIES

__all__ = ["IN_FLIGHT", "district_report", "render_report"]

IN_FLIGHT = ("requested", "approved", "shipped")


def _open_tickets(conn: sqlite3.Connection) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for row in reads.open_tickets(conn):
        c = out.setdefault(row.scope, {**{u: 0 for u in URGENCIES}, "total": 0, "on_hold": 0, "conflicts": 0})
        c[row.urgency] = row.count
        c["total"] += row.count
        c["on_hold"] += row.on_hold
        c["conflicts"] += row.conflicts
    return out


def _sla(figures: dict[str, Any] | None, period: str) -> dict[str, Any]:
    by_urgency: dict[str, dict[str, Any]] = {}
    attained = total = pending = 0
    for u in URGENCIES:
        row = (figures or {}).get("by_urgency", {}).get(u, {})
        a, t, p = int(row.get("sla_attained", 0)), int(row.get("sla_total", 0)), int(row.get("sla_pending", 0))
        by_urgency[u] = {"attained": a, "total": t, "pending": p, "pct_x100": row.get("sla_pct_x100")}
        attained, total, pending = attained + a, total + t, pending + p
    pct = None if total == 0 else (attained * 20000 + total) // (2 * total)
    return {
        "period": period,
        "tickets": int((figures or {}).get("tickets", 0)),
        "attained": attained,
        "total": total,
        "pending": pending,
        "pct_x100": pct,
        "by_urgency": by_urgency,
    }


def _low_stock(conn: sqlite3.Connection, scope: str) -> list[dict[str, Any]]:
    qty = reads.stock_counts(conn, scope)
    scopes = [scope] if scope == "district" else [scope, "district"]
    return [
        {"sku": i["sku"], "qty": qty.get(i["sku"], 0), "reorder": int(i["reorder"])}
        for i in list_items(conn, scopes)
        if i["reorder"] and qty.get(i["sku"], 0) <= int(i["reorder"])
    ]


def _repeated_steps(conn: sqlite3.Connection) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for d in reads.repeated_steps(conn):
        entry = {"transfer": d.transfer, "step": d.step, "writes": d.writes, "qty_moved": d.qty_moved}
        out.setdefault(d.scope, []).append(entry)
    return out


def _conservation_faults(conn: sqlite3.Connection) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for f in reads.conservation_faults(conn):
        entry = {"transfer": f.transfer, "step": f.step, "qty_moved": f.qty_moved, "qty": f.qty}
        out.setdefault(f.scope, []).append(entry)
    return out


def _devices(conn: sqlite3.Connection) -> dict[str, list[dict[str, Any]]]:
    seen = {str(d): int(ms) for d, ms in conn.execute("SELECT dev, last_seen_ms FROM seen")}
    skew_flags = reads.flagged(conn, "clock_skew")
    quarantined = {str(d): f"{r}: {t}" for d, r, t in conn.execute("SELECT dev, reason, detail FROM quarantine")}
    latest = reads.latest_ops(conn)
    out: dict[str, list[dict[str, Any]]] = {}
    for d in reads.devices(conn):
        last = latest.get(d.dev)
        out.setdefault(d.community, []).append(
            {
                "device": d.dev,
                "name": d.name,
                "role": d.role,
                "last_seen_ms": seen.get(d.dev),
                "revoked": d.revoked,
                "quarantined": quarantined.get(d.dev),
                "clock_skew": d.dev in skew_flags,
                "clock_skew_detail": skew_flags.get(d.dev),
                "skew_ms": None if last is None else last.wall - last.received_ms,
            }
        )
    return out


def district_report(node: Node, *, period: str = "month", now_ms: int | None = None) -> dict[str, Any]:
    """The report of the district node ``node`` over the last ``period`` (day, week, month, quarter, year).

    Returns:
        ``{district, generated_ms, period: {name, start, end}, communities: {id: {open_tickets, sla,
        low_stock, transfers_in_flight, repeated_steps, conservation_faults, devices}}, totals:
        {open_tickets, sla_attained, sla_total, low_stock, transfers_in_flight, repeated_steps,
        conservation_faults, devices}}``.

    Raises:
        KeyError: an unknown period (the command line offers only the known ones).
    """
    conn = node.conn
    now = node.now_ms() if now_ms is None else now_ms
    start = now - PERIODS[period]
    figures = kpi.kpis_by_community(ticket_times(conn, None), start, now + 1, now_ms=now)
    opened = _open_tickets(conn)
    devices = _devices(conn)
    repeats = _repeated_steps(conn)
    faults = _conservation_faults(conn)
    moving = [t for t in list_transfers(conn) if t["step"] in IN_FLIGHT]
    empty = {**{u: 0 for u in URGENCIES}, "total": 0, "on_hold": 0, "conflicts": 0}
    communities: dict[str, Any] = {}
    for c in reads.communities(conn):
        flights = [
            {k: t[k] for k in ("id", "src", "dst", "sku", "qty", "step")}
            | {"direction": "out" if t["src"] == c else "in"}
            for t in moving
            if c in (t["src"], t["dst"])
        ]
        communities[c] = {
            "open_tickets": opened.get(c, dict(empty)),
            "sla": _sla(figures.get(c), period),
            "low_stock": _low_stock(conn, c),
            "transfers_in_flight": flights,
            "repeated_steps": repeats.get(c, []),
            "conservation_faults": faults.get(c, []),
            "devices": devices.get(c, []),
        }
    totals = {
        "open_tickets": sum(x["open_tickets"]["total"] for x in communities.values()),
        "sla_attained": sum(x["sla"]["attained"] for x in communities.values()),
        "sla_total": sum(x["sla"]["total"] for x in communities.values()),
        "low_stock": sum(len(x["low_stock"]) for x in communities.values()),
        "transfers_in_flight": len(moving),
        "repeated_steps": sum(len(x) for x in repeats.values()),
        "conservation_faults": sum(len(x) for x in faults.values()),
        "devices": sum(len(x) for x in devices.values()),
    }
    return {
        "district": str(node.store.get("district_name") or "district"),
        "generated_ms": now,
        "period": {"name": period, "start": start, "end": now},
        "communities": communities,
        "totals": totals,
    }


def _when(ms: int | None, now: int) -> str:
    if ms is None:
        return "never"
    stamp = datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")
    ago = max(0, now - ms) // 60_000
    return f"{stamp} ({ago // 60} h {ago % 60} min ago)" if ago >= 60 else f"{stamp} ({ago} min ago)"


def _pct(pct_x100: int | None) -> str:
    return "-" if pct_x100 is None else f"{pct_x100 // 100}.{(pct_x100 % 100) // 10}%"


def render_report(report: dict[str, Any]) -> str:
    """The report as text for a terminal."""
    now = int(report["generated_ms"])
    lines = [f"District {report['district']}: report of the last {report['period']['name']} ({_when(now, now)})"]
    for c, r in report["communities"].items():
        o, s = r["open_tickets"], r["sla"]
        lines.append("")
        lines.append(f"== {c}")
        urg = "  ".join(f"{u} {o[u]}" for u in URGENCIES)
        lines.append(
            f"  open tickets   {urg}  (total {o['total']}, on hold {o['on_hold']}, conflicts {o['conflicts']})"
        )
        per = "  ".join(f"{u} {_pct(v['pct_x100'])} ({v['attained']}/{v['total']})" for u, v in s["by_urgency"].items())
        lines.append(f"  SLA attained   {_pct(s['pct_x100'])} ({s['attained']}/{s['total']}, {s['pending']} pending)")
        lines.append(f"                 {per}")
        low = ", ".join(f"{x['sku']} {x['qty']} (reorder at {x['reorder']})" for x in r["low_stock"]) or "none"
        lines.append(f"  low stock      {low}")
        moving = r["transfers_in_flight"]
        lines.append(f"  in flight      {len(moving) or 'none'}")
        for t in moving:
            lines.append(
                f"    {t['direction']:<3} {t['src']} -> {t['dst']}  {t['qty']} x {t['sku']}  {t['step']}  {t['id']}"
            )
        for x in r["repeated_steps"]:
            lines.append(
                f"    {x['step'].upper()} BY {x['writes']} DEVICES, COUNTED ONCE ({x['qty_moved']} moved): "
                f"{x['transfer']}"
            )
        for x in r["conservation_faults"]:
            lines.append(
                f"    CONSERVATION FAULT: {x['step']} moved {x['qty_moved']}, approved {x['qty']}: {x['transfer']}"
            )
        for d in r["devices"]:
            state = "REVOKED" if d["revoked"] else "QUARANTINED" if d["quarantined"] else "ok"
            skew = "CLOCK SKEW" if d["clock_skew"] else "clock ok"
            gap = "" if d["skew_ms"] is None else f", latest op {d['skew_ms'] // 1000:+d} s vs received"
            lines.append(
                f"  device {d['device'][:10]} {d['role']:<7} {d['name'][:24]:<24} {state:<11} "
                f"last seen {_when(d['last_seen_ms'], now)}, {skew}{gap}"
            )
    t = report["totals"]
    lines.append("")
    lines.append(
        f"Totals: {t['open_tickets']} open tickets, SLA {t['sla_attained']}/{t['sla_total']}, "
        f"{t['low_stock']} items low, {t['transfers_in_flight']} transfers in flight, {t['devices']} devices, "
        f"{t['conservation_faults']} conservation faults"
    )
    return "\n".join(lines)
