"""What a residents' committee reads after ``audit verify``: figures from the state rebuilt from the export.

``summarise`` reads the views of the temporary node ``edge.audit.verify`` filled from the verified ops:

* points issued and redeemed per household group (community, and vulnerable households or others);
* stock per item and community: received, issued, transferred in and out (the stock movements of a
  cross-community transfer carry the reason ``transfer <id>``), and the balance;
* tickets per urgency with SLA attainment, by ``edge.services.kpi`` over all time, judged at the export's time
  (tickets with an op whose device clock claim is impossible are counted as clock-unreliable).

``format_report`` renders a ``Report`` as text with Chinese and English labels.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from edge.services import kpi as _kpi

if TYPE_CHECKING:
    from edge.audit.verify import Report

__all__ = ["format_report", "summarise"]

PER_CODE = 20


def _points(conn: sqlite3.Connection) -> dict[str, dict[str, dict[str, int]]]:
    vulnerable = {
        (str(s), str(h)): bool(json.loads(v or "[]"))
        for s, h, v in conn.execute("SELECT scope, id, vulnerable FROM households")
    }
    out: dict[str, dict[str, dict[str, int]]] = {}
    seen: dict[tuple[str, str], set[str]] = {}
    rows = conn.execute(
        "SELECT scope, key, action, SUM(delta) FROM ledger WHERE kind='points' AND action IN ('award', 'redeem') "
        "GROUP BY scope, key, action ORDER BY scope, key"
    )
    for scope, household, action, total in rows:
        group = "vulnerable" if vulnerable.get((scope, household)) else "other"
        g = out.setdefault(scope, {}).setdefault(group, {"households": 0, "issued": 0, "redeemed": 0})
        if action == "award":
            g["issued"] += int(total)
        else:
            g["redeemed"] += -int(total)
        members = seen.setdefault((scope, group), set())
        if household not in members:
            members.add(household)
            g["households"] += 1
    return out


def _stock(conn: sqlite3.Connection) -> dict[str, dict[str, dict[str, Any]]]:
    names = {
        (str(s), str(k)): (str(zh), str(en))
        for s, k, zh, en in conn.execute("SELECT scope, sku, name_zh, name_en FROM items")
    }
    out: dict[str, dict[str, dict[str, Any]]] = {}

    def row(scope: str, sku: str) -> dict[str, Any]:
        zh, en = names.get((scope, sku)) or names.get(("district", sku)) or (sku, sku)
        return out.setdefault(scope, {}).setdefault(
            sku,
            {
                "name_zh": zh,
                "name_en": en,
                "received": 0,
                "issued": 0,
                "transferred_in": 0,
                "transferred_out": 0,
                "balance": 0,
            },
        )

    rows = conn.execute(
        "SELECT scope, key, action, reason LIKE 'transfer %', SUM(delta) FROM ledger WHERE kind='stock' "
        "AND action IN ('receive', 'issue') GROUP BY 1, 2, 3, 4 ORDER BY 1, 2"
    )
    for scope, sku, action, transfer, total in rows:
        r = row(scope, sku)
        if action == "receive":
            r["transferred_in" if transfer else "received"] += int(total)
        else:
            r["transferred_out" if transfer else "issued"] += -int(total)
    for scope, sku, value in conn.execute("SELECT scope, key, value FROM counters WHERE kind='stock'"):
        row(scope, sku)["balance"] = int(value)
    return out


def _tickets(conn: sqlite3.Connection, now_ms: int, unreliable: set[str]) -> dict[str, Any]:
    from edge.services.operations import ticket_times

    times = [replace(t, clock_unreliable=t.clock_unreliable or t.id in unreliable) for t in ticket_times(conn, None)]
    if not times:
        return {"tickets": 0, "by_urgency": {}, "by_community": {}, "clock_unreliable": 0}
    end = max(max(t.reported_ms for t in times) + 1, now_ms + 1)
    try:
        overall = _kpi.kpis(times, 0, end, now_ms=now_ms)
        by_community = _kpi.kpis_by_community(times, 0, end, now_ms=now_ms)
    except _kpi.PlanningError as exc:
        return {"tickets": len(times), "error": str(exc)}
    return {
        "tickets": overall["tickets"],
        "by_urgency": overall["by_urgency"],
        "by_community": {c: k["by_urgency"] for c, k in by_community.items()},
        "first_time_fix": overall["first_time_fix"],
        "satisfaction": overall["satisfaction"],
        "clock_unreliable": overall["clock_unreliable"],
    }


def summarise(conn: sqlite3.Connection, now_ms: int, unreliable: set[str] | None = None) -> dict[str, Any]:
    """Points per household group, stock movements per item, tickets and SLA per urgency."""
    return {
        "points": _points(conn),
        "stock": _stock(conn),
        "tickets": _tickets(conn, now_ms, unreliable or set()),
        "devices": int(conn.execute("SELECT COUNT(*) FROM devices").fetchone()[0]),
    }


# --- text ---------------------------------------------------------------------------------------------
def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _dur(ms: int | None) -> str:
    if ms is None:
        return "-"
    if ms < 3_600_000:
        return f"{ms / 60_000:.0f} min"
    if ms < 2 * 86_400_000:
        return f"{ms / 3_600_000:.1f} h"
    return f"{ms / 86_400_000:.1f} d"


def _pct(x100: int | None) -> str:
    return "-" if x100 is None else f"{x100 / 100:.1f}%"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    def width(text: str) -> int:
        return sum(2 if ord(c) > 0x2E7F else 1 for c in text)

    widths = [max(width(c) for c in col) for col in zip(header, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        return "  " + "  ".join(c + " " * (w - width(c)) for c, w in zip(cells, widths, strict=True)).rstrip()

    return [line(header), *(line(r) for r in rows)] if rows else ["  (none 无)"]


def _witness_lines(report: Report) -> list[str]:
    if not report.checkpoints:
        return ["Witnesses 见证: no checkpoint"]
    last = report.checkpoints[-1]
    independent = sum(1 for c in report.checkpoints if c.independent)
    return [
        f"Witnesses 见证: latest checkpoint (size {last.size:,}): {len(last.independent)} independent 独立见证 "
        f"({', '.join(last.independent) or '-'}), {len(last.kiosks)} kiosks 终端, "
        f"{len(last.unverified)} unverified 未验证",
        f"  checkpoints cosigned by an independent witness 有独立见证的检查点: "
        f"{independent} of {len(report.checkpoints)}",
        *_per_checkpoint(report),
    ]


PER_CHECKPOINT_LINES = 50


def _per_checkpoint(report: Report) -> list[str]:
    """One line per checkpoint (the latest ``PER_CHECKPOINT_LINES``): its independent and kiosk witnesses."""
    shown = report.checkpoints[-PER_CHECKPOINT_LINES:]
    out = ["  per checkpoint 各检查点 (size 大小: independent 独立见证 / kiosks 终端):"]
    if len(report.checkpoints) > len(shown):
        out.append(f"    ... {len(report.checkpoints) - len(shown)} earlier 更早的 (--json lists every one)")
    out += [f"    {c.size:,}: {len(c.independent)} / {len(c.kiosks)}" for c in shown]
    return out


def format_report(report: Report) -> str:
    """The report as text for a residents' committee (Chinese and English labels)."""
    verdict = (
        "VERIFIED 验证通过"
        if report.ok
        else f"FAILED 验证未通过 ({len(report.failures) + report.omitted} failures 问题)"
    )
    out = [
        f"Linli audit export 审计导出: {report.path}",
        f"  origin 来源: {report.origin or '-'}   district key 区公钥: {report.district_key}",
        f"  exported 导出时间: {_when(report.created_ms) if report.created_ms else '-'} "
        "(the district's clock 区服务器时钟)",
        f"Result 结果: {verdict}",
        "",
        f"Log 日志: {report.ops:,} ops 条操作; each op's signature checked against its device's key from the "
        "district's signed enrolments, and every device's hash chain 签名与哈希链已逐条核对",
    ]
    if report.checkpoints:
        good = all(c.signed and c.root_ok for c in report.checkpoints)
        out.append(
            f"Checkpoints 检查点: {len(report.checkpoints)}, sizes {report.checkpoints[0].size:,} … "
            f"{report.checkpoints[-1].size:,}; every signed root recomputed from the ops, so each extends the one "
            f"before 每个检查点都延续前一个: {'yes 是' if good else 'NO 否'}"
        )
    out += _witness_lines(report)
    out.append(f"State digest 状态摘要: {report.digest or '-'}")
    for scope, d in report.digests.items():
        out.append(f"  {scope}: {d}")
    if report.clock_claims:
        out.append(f"Device clock claims that cannot be true 设备时钟异常的操作: {report.clock_claims}")
    s = report.summary
    rows = [
        [
            scope,
            "vulnerable 弱势户" if group == "vulnerable" else "other 其他",
            str(g["households"]),
            str(g["issued"]),
            str(g["redeemed"]),
        ]
        for scope, groups in s.get("points", {}).items()
        for group, g in sorted(groups.items(), reverse=True)
    ]
    out += ["", "Points 积分"]
    out += _table(["community 社区", "group 户别", "households 户数", "issued 发放", "redeemed 兑换"], rows)
    rows = [
        [
            scope,
            f"{r['name_zh']} {r['name_en']} ({sku})",
            str(r["received"]),
            str(r["issued"]),
            str(r["transferred_in"]),
            str(r["transferred_out"]),
            str(r["balance"]),
        ]
        for scope, items in s.get("stock", {}).items()
        for sku, r in items.items()
    ]
    out += ["", "Stock 库存"]
    out += _table(
        ["community 社区", "item 物品", "received 入库", "issued 出库", "in 调入", "out 调出", "balance 结存"], rows
    )
    t = s.get("tickets", {})
    rows = [
        [
            u,
            str(b["count"]),
            f"{b['sla_attained']}/{b['sla_total']}",
            _pct(b["sla_pct_x100"]),
            str(b["sla_pending"]),
            f"{_dur(b['response']['p50'])} / {_dur(b['response']['p90'])}",
            f"{_dur(b['resolution']['p50'])} / {_dur(b['resolution']['p90'])}",
        ]
        for u, b in t.get("by_urgency", {}).items()
        if b["count"]
    ]
    out += ["", f"Tickets 工单: {t.get('tickets', 0)}; clock unreliable 时钟不可靠: {t.get('clock_unreliable', 0)}"]
    out += _table(
        [
            "urgency 紧急度",
            "tickets 工单",
            "SLA met 达标",
            "rate 达标率",
            "pending 未定",
            "response 响应 p50/p90",
            "fixed 修复 p50/p90",
        ],
        rows,
    )
    if report.failures:
        out += ["", "Failures 问题:"]
        shown: dict[str, int] = {}
        hidden = report.omitted
        for f in report.failures:
            shown[f.code] = shown.get(f.code, 0) + 1
            if shown[f.code] <= PER_CODE:
                out.append("  " + f.line())
            else:
                hidden += 1
        if hidden:
            out.append(f"  … and {hidden} more (see --json)")
    return "\n".join(out)
