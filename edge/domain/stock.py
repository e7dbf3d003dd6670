"""Catalogue items and stock: payload models, merge rules, queries.

Items are LWW maps per field, keyed ``(scope, sku)``: the district catalogue lives in scope
``district``, and a community may add local items in its own scope. Stock per ``(scope, sku)`` is a
bounded counter (DESIGN 4.1): receiving gives rights to the receiving device, issuing and moving
rights are checked against this device's rights inside the writing transaction, so stock never goes
below zero however long devices are partitioned. Every movement is a ledger row (who, when, why).
"""

from __future__ import annotations

import sqlite3
from typing import Any, Literal

from pydantic import Field

from crdt.op import Op
from edge.domain.fields import EntityId, Name, OptShort, Qty, Sku, Unit
from edge.store.optypes import Payload, register
from edge.store.views import add_counter, lww_set

__all__ = ["ItemAdd", "StockIssue", "find_item", "list_items", "stock_levels"]


class ItemAdd(Payload):
    sku: Sku
    name_zh: Name
    name_en: Name
    kind: Literal["part", "supply", "tool"] = "part"
    emergency: bool = False
    ration: int | None = Field(default=None, ge=1, le=10_000)
    reorder: int = Field(default=0, ge=0, le=1_000_000)


class ItemUpdate(Payload):
    name_zh: Name | None = None
    name_en: Name | None = None
    kind: Literal["part", "supply", "tool"] | None = None
    emergency: bool | None = None
    ration: int | None = Field(default=None, ge=1, le=10_000)
    reorder: int | None = Field(default=None, ge=0, le=1_000_000)


class StockReceive(Payload):
    sku: Sku
    qty: Qty
    reason: OptShort = ""


class StockIssue(Payload):
    sku: Sku
    qty: Qty
    household: Unit | None = None
    ticket: EntityId | None = None
    reason: OptShort = ""


class StockRights(Payload):
    sku: Sku
    qty: Qty
    to: EntityId


@register("item.add", ItemAdd)
def _item_add(conn: sqlite3.Connection, op: Op, p: ItemAdd) -> None:
    fields: dict[str, Any] = p.model_dump(exclude={"sku"})
    fields["emergency"] = int(p.emergency)
    lww_set(conn, "items", {"scope": op.scope, "sku": p.sku}, fields, op)


@register("item.update", ItemUpdate)
def _item_update(conn: sqlite3.Connection, op: Op, p: ItemUpdate) -> None:
    fields = {k: v for k, v in p.model_dump().items() if v is not None}
    if "emergency" in fields:
        fields["emergency"] = int(fields["emergency"])
    if fields:
        lww_set(conn, "items", {"scope": op.scope, "sku": op.obj}, fields, op)


def ledger(conn: sqlite3.Connection, op: Op, kind: str, key: str, action: str, delta: int, **extra: Any) -> None:
    """Record a counter movement (who, when, why)."""
    cols = {
        "op": op.id,
        "kind": kind,
        "scope": op.scope,
        "key": key,
        "action": action,
        "delta": delta,
        "dev": op.dev,
        "actor": op.actor,
        "wall": op.hlc[0],
    }
    cols.update({k: v for k, v in extra.items() if v is not None})
    names = ", ".join(cols)
    conn.execute(
        f"INSERT OR IGNORE INTO ledger ({names}) VALUES ({', '.join('?' for _ in cols)})",
        tuple(cols.values()),
    )


@register("stock.receive", StockReceive)
def _receive(conn: sqlite3.Connection, op: Op, p: StockReceive) -> None:
    add_counter(conn, "stock", op.scope, p.sku, op.dev, inc=p.qty)
    ledger(conn, op, "stock", p.sku, "receive", p.qty, reason=p.reason)


@register("stock.issue", StockIssue)
def _issue(conn: sqlite3.Connection, op: Op, p: StockIssue) -> None:
    add_counter(conn, "stock", op.scope, p.sku, op.dev, dec=p.qty)
    ledger(conn, op, "stock", p.sku, "issue", -p.qty, reason=p.reason, household=p.household, ticket=p.ticket)


@register("stock.rights", StockRights)
def _rights(conn: sqlite3.Connection, op: Op, p: StockRights) -> None:
    add_counter(conn, "stock", op.scope, p.sku, op.dev, to=p.to, move=p.qty)
    ledger(conn, op, "stock", p.sku, "rights", 0, peer=p.to, reason=f"{p.qty} rights")


# --- queries ----------------------------------------------------------------------------------
_ITEM_COLS = ("scope", "sku", "name_zh", "name_en", "kind", "emergency", "ration", "reorder")


def find_item(conn: sqlite3.Connection, sku: str, scopes: list[str]) -> dict[str, Any] | None:
    """The item ``sku`` from the first of ``scopes`` that has it."""
    for scope in scopes:
        row = conn.execute(
            f"SELECT {', '.join(_ITEM_COLS)} FROM items WHERE scope=? AND sku=?", (scope, sku)
        ).fetchone()
        if row is not None:
            d = dict(zip(_ITEM_COLS, row, strict=True))
            d["emergency"] = bool(d["emergency"])
            return d
    return None


def list_items(conn: sqlite3.Connection, scopes: list[str]) -> list[dict[str, Any]]:
    """Items visible in ``scopes`` (a community's own entry shadows the district's)."""
    seen: dict[str, dict[str, Any]] = {}
    for scope in reversed(scopes):
        for row in conn.execute(f"SELECT {', '.join(_ITEM_COLS)} FROM items WHERE scope=? ORDER BY sku", (scope,)):
            d = dict(zip(_ITEM_COLS, row, strict=True))
            d["emergency"] = bool(d["emergency"])
            seen[d["sku"]] = d
    return [seen[k] for k in sorted(seen)]


def stock_levels(conn: sqlite3.Connection, scope: str, dev: str) -> list[dict[str, Any]]:
    """``[{sku, qty, rights, name_zh, name_en, ...}]`` for every item with stock or a catalogue entry."""
    items = {i["sku"]: i for i in list_items(conn, [scope, "district"])}
    qty = dict(conn.execute("SELECT key, value FROM counters WHERE kind='stock' AND scope=?", (scope,)).fetchall())
    rights = dict(
        conn.execute(
            "SELECT key, inc + moved_in - moved_out - dec FROM counter_rights WHERE kind='stock' AND scope=? AND dev=?",
            (scope, dev),
        ).fetchall()
    )
    out = []
    for sku in sorted(set(items) | set(qty)):
        item = items.get(sku, {})
        out.append(
            {
                "sku": sku,
                "qty": int(qty.get(sku, 0)),
                "rights": int(rights.get(sku, 0)),
                "name_zh": item.get("name_zh", sku),
                "name_en": item.get("name_en", sku),
                "kind": item.get("kind", "part"),
                "emergency": item.get("emergency", False),
                "ration": item.get("ration"),
                "reorder": item.get("reorder", 0),
            }
        )
    return out


def issued_today(conn: sqlite3.Connection, scope: str, sku: str, household: str, since_ms: int) -> int:
    """Units of ``sku`` issued to ``household`` since ``since_ms`` (for rationing)."""
    row = conn.execute(
        "SELECT COALESCE(-SUM(delta), 0) FROM ledger WHERE kind='stock' AND scope=? AND key=? AND action='issue' "
        "AND household=? AND wall >= ?",
        (scope, sku, household, since_ms),
    ).fetchone()
    return int(row[0])


__all__ += ["StockReceive", "StockRights", "issued_today", "ledger"]
