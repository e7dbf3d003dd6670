"""Catalogue items and stock: payload models, merge rules, queries and commands.

Items are LWW maps per field, keyed ``(scope, sku)``: the district catalogue lives in scope
``district``, and a community may add local items in its own scope. Every stock movement is a ledger
row (who, when, why).

Op types, with their merge rule and the invariant each keeps:

- ``item.add``, ``item.update``: LWW per field (highest ``(hlc, dev)`` wins); ``kind`` is one of
  :data:`ITEM_KINDS`. A community's own item with a sku shadows the district's.
- ``stock.receive``: a bounded counter's increment; it gives the receiving device the rights to
  what it received.
- ``stock.issue``: a decrement within the writing device's rights.
- either of the two with a lifecycle key ``once`` (``ship <transfer>``, ``arrive <transfer>``,
  ``lend <loan>``, ``return <loan>``): **exactly once per lifecycle**. Of all the ops of one scope that
  carry the same key, only the one with the lowest stamp ``(wall, counter, dev, op hash)`` moves the
  counter; the others are in the ledger with delta 0. So two kiosks that both mark one transfer
  arrived, or both take one lent tool back, move the stock once, whatever order their ops reach a
  replica in (:func:`_counted`). Never negative still holds:

  - a keyed *issue* takes its own writer's rights. A device's own keyed issue is the only one with
    its key it sees when it writes it (the step's write rule), so it counts on its own replica; a
    lower-stamped one from another device arriving later only gives the rights back;
  - a keyed *receive* gives the rights to the device it names in ``rights_to`` (the transfer's
    requester, the loan's lender), the same for every writer of the step, so whichever op counts,
    the same device gets the rights once: a kiosk never spends rights that a merge later takes away.
- ``stock.rights``: moves rights from the writing device to another device.

A counter's value is Σinc − Σdec over every device (ops are applied once each, in any order, so all
replicas agree); a device's rights are its incs plus the rights moved to it, minus its decs and the
rights it moved away. Stock never goes negative, however long devices are partitioned, because the
writer of a ``stock.issue`` or ``stock.rights`` checks its own rights inside the write transaction
(:func:`issue`, :func:`move_rights`), and no other device can spend them.
"""

from __future__ import annotations

import sqlite3
from typing import Annotated, Any, Literal, TypedDict, get_args

from pydantic import Field, StringConstraints

from crdt.op import Op
from edge.domain import inputs, modes, people, tickets
from edge.domain.context import Context
from edge.domain.fields import EntityId, Name, OptShort, Qty, Sku, Unit
from edge.errors import Duplicate, InputError, InsufficientRights, RationExceeded, ScopeForbidden, UnknownEntity
from edge.store.optypes import Payload, register
from edge.store.views import add_counter, counter_value, lww_set, rights

__all__ = [
    "ITEM_KINDS",
    "ItemAdd",
    "ItemKind",
    "ItemUpdate",
    "StockIssue",
    "StockLevel",
    "add_item",
    "find_item",
    "get_item",
    "issue",
    "level",
    "list_items",
    "move_rights",
    "receive",
    "stock_levels",
    "update_item",
]

ItemKind = Literal["part", "supply", "tool"]
ITEM_KINDS: tuple[str, ...] = get_args(ItemKind)
"""Kinds of catalogue item (a ``tool`` can be lent to a household)."""


class ItemAdd(Payload):
    sku: Sku
    name_zh: Name
    name_en: Name
    kind: ItemKind = "part"
    emergency: bool = False
    ration: int | None = Field(default=None, ge=1, le=10_000)
    reorder: int = Field(default=0, ge=0, le=1_000_000)


class ItemUpdate(Payload):
    name_zh: Name | None = None
    name_en: Name | None = None
    kind: ItemKind | None = None
    emergency: bool | None = None
    ration: int | None = Field(default=None, ge=1, le=10_000)
    reorder: int | None = Field(default=None, ge=0, le=1_000_000)


Once = Annotated[str, StringConstraints(min_length=1, max_length=200)]
"""A lifecycle key: the counter ops of one scope that carry the same key take effect once."""


class StockReceive(Payload):
    sku: Sku
    qty: Qty
    reason: OptShort = ""
    once: Once | None = None
    rights_to: EntityId | None = None


class StockIssue(Payload):
    sku: Sku
    qty: Qty
    household: Unit | None = None
    ticket: EntityId | None = None
    reason: OptShort = ""
    once: Once | None = None


class StockRights(Payload):
    sku: Sku
    qty: Qty
    to: EntityId


class StockReclaim(Payload):
    sku: Sku
    qty: Qty
    holder: EntityId
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


def _counted(
    conn: sqlite3.Connection,
    op: Op,
    kind: str,
    key: str,
    once: str | None,
    *,
    inc: int = 0,
    dec: int = 0,
    holder: str | None = None,
) -> int:
    """Apply a counter op's increment or decrement, exactly once per lifecycle key; returns its ledger delta.

    Without ``once`` the op counts, as every counter op does. With it, the op counts only while it is
    the lowest-stamped op of its scope with that key: a lower one arriving later takes the effect over
    (the earlier winner's effect is undone and its ledger delta set to 0). The result is a function of
    the set of ops held, so every replica agrees whatever the order of arrival. ``holder`` is the
    device whose rights the effect goes to (default the writer).
    """
    holder = holder or op.dev
    if once is None:
        add_counter(conn, kind, op.scope, key, holder, inc=inc, dec=dec)
        return inc - dec
    # Rows exist for every op with a key, winner or not, so that the views do not depend on arrival order.
    add_counter(conn, kind, op.scope, key, holder)
    conn.execute("INSERT OR IGNORE INTO counters (kind, scope, key, value) VALUES (?, ?, ?, 0)", (kind, op.scope, key))
    held = conn.execute(
        "SELECT op, holder, key, inc, dec, wall, counter, dev FROM counter_once WHERE kind=? AND scope=? AND once=?",
        (kind, op.scope, once),
    ).fetchone()
    mine = (op.hlc[0], op.hlc[1], op.dev, op.id)
    if held is not None and (held[5], held[6], held[7], held[0]) < mine:
        return 0
    if held is not None:
        add_counter(conn, kind, op.scope, held[2], held[1], inc=-held[3], dec=-held[4])
        conn.execute("UPDATE ledger SET delta = 0 WHERE op = ?", (held[0],))
    conn.execute(
        "INSERT OR REPLACE INTO counter_once (kind, scope, once, op, wall, counter, dev, holder, key, inc, dec) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (kind, op.scope, once, op.id, op.hlc[0], op.hlc[1], op.dev, holder, key, inc, dec),
    )
    add_counter(conn, kind, op.scope, key, holder, inc=inc, dec=dec)
    return inc - dec


@register("stock.receive", StockReceive)
def _receive(conn: sqlite3.Connection, op: Op, p: StockReceive) -> None:
    delta = _counted(conn, op, "stock", p.sku, p.once, inc=p.qty, holder=p.rights_to)
    ledger(conn, op, "stock", p.sku, "receive", delta, reason=p.reason)


@register("stock.issue", StockIssue)
def _issue(conn: sqlite3.Connection, op: Op, p: StockIssue) -> None:
    delta = _counted(conn, op, "stock", p.sku, p.once, dec=p.qty)
    ledger(conn, op, "stock", p.sku, "issue", delta, reason=p.reason, household=p.household, ticket=p.ticket)


@register("stock.rights", StockRights)
def _rights(conn: sqlite3.Connection, op: Op, p: StockRights) -> None:
    add_counter(conn, "stock", op.scope, p.sku, op.dev, to=p.to, move=p.qty)
    ledger(conn, op, "stock", p.sku, "rights", 0, peer=p.to, reason=f"{p.qty} rights")


@register("stock.reclaim", StockReclaim, district_only=True)
def _reclaim(conn: sqlite3.Connection, op: Op, p: StockReclaim) -> None:
    """The district moves a revoked device's rights (as of its revocation cut) to another device.

    Only the district writes it (``linli-server revoke --rights-to``), in the same transaction as the
    revocation, for exactly the rights the holder had left: the holder's later ops are refused
    everywhere, so those rights can never be spent twice (``docs/design.md`` §5, no stranded rights).
    """
    add_counter(conn, "stock", op.scope, p.sku, p.holder, to=p.to, move=p.qty)
    ledger(conn, op, "stock", p.sku, "rights", 0, peer=p.to, reason=f"{p.qty} rights of revoked device {p.holder}")


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


class StockLevel(TypedDict):
    """The stock of one sku in a scope: ``qty`` in all, ``rights`` this device may issue, its item."""

    sku: str
    qty: int
    rights: int
    name_zh: str
    name_en: str
    kind: str
    emergency: bool
    ration: int | None
    reorder: int


def stock_levels(conn: sqlite3.Connection, scope: str, dev: str) -> list[StockLevel]:
    """``[{sku, qty, rights, name_zh, name_en, ...}]`` for every item with stock or a catalogue entry."""
    items = {i["sku"]: i for i in list_items(conn, [scope, "district"])}
    qty = dict(conn.execute("SELECT key, value FROM counters WHERE kind='stock' AND scope=?", (scope,)).fetchall())
    held = dict(
        conn.execute(
            "SELECT key, inc + moved_in - moved_out - dec FROM counter_rights WHERE kind='stock' AND scope=? AND dev=?",
            (scope, dev),
        ).fetchall()
    )
    out: list[StockLevel] = []
    for sku in sorted(set(items) | set(qty)):
        item = items.get(sku, {})
        out.append(
            StockLevel(
                sku=sku,
                qty=int(qty.get(sku, 0)),
                rights=int(held.get(sku, 0)),
                name_zh=item.get("name_zh", sku),
                name_en=item.get("name_en", sku),
                kind=item.get("kind", "part"),
                emergency=item.get("emergency", False),
                ration=item.get("ration"),
                reorder=item.get("reorder", 0),
            )
        )
    return out


def issued_today(
    conn: sqlite3.Connection, scope: str, sku: str, household: str, since_ms: int, dev: str | None = None
) -> int:
    """Units of ``sku`` issued to ``household`` since ``since_ms`` (by device ``dev`` only, if given)."""
    sql = (
        "SELECT COALESCE(-SUM(delta), 0) FROM ledger WHERE kind='stock' AND scope=? AND key=? AND action='issue' "
        "AND household=? AND wall >= ?"
    )
    args: tuple[Any, ...] = (scope, sku, household, since_ms)
    if dev is not None:
        sql += " AND dev=?"
        args += (dev,)
    return int(conn.execute(sql, args).fetchone()[0])


def ration_share(conn: sqlite3.Connection, community: str, dev: str, ration: int) -> tuple[int, int]:
    """``(share, devices)``: the part of a household's daily ration that device ``dev`` may issue on its own.

    The ration is split among the community's enrolled, unrevoked devices (the registry every node
    holds), the remainder going to the lowest device numbers, so the shares add up to the ration: kiosks
    cut off from each other can never together give a household more than its ration. A node that
    does not find itself in the registry (not enrolled) has the whole ration.
    """
    rows = conn.execute(
        "SELECT dev FROM devices WHERE community=? AND role != 'district' AND revoked_from_seq IS NULL "
        "ORDER BY number IS NULL, number, dev",
        (community,),
    ).fetchall()
    devs = [str(r[0]) for r in rows]
    if dev not in devs:
        return ration, 1
    k = len(devs)
    return ration // k + (1 if devs.index(dev) < ration % k else 0), k


__all__ += [
    "StockReceive",
    "StockReclaim",
    "StockRights",
    "check_rights_target",
    "issued_today",
    "ledger",
    "ration_share",
    "rights_targets",
]


# --- commands ---------------------------------------------------------------------------------
def get_item(ctx: Context, sku: str) -> dict[str, Any]:
    """The catalogue item ``sku`` (this community's, else the district's).

    Raises:
        UnknownEntity: none.
    """
    item = find_item(ctx.conn, sku, ctx.scopes)
    if item is None:
        raise UnknownEntity(f"no item with sku {sku!r} in the catalogue")
    return item


def add_item(
    ctx: Context,
    sku: str,
    name_zh: str,
    name_en: str,
    *,
    kind: str = "part",
    emergency: bool = False,
    ration: int | None = None,
    reorder: int = 0,
    scope: str | None = None,
    actor: str | None = None,
) -> dict[str, Any]:
    """Add an item to the catalogue of ``scope`` (default this community's).

    Raises:
        Duplicate: the sku is in that catalogue already; InputError: a field out of range.
    """
    target = ctx.home(scope)
    with ctx.store.tx() as tx:
        if find_item(tx.conn, sku, [target]) is not None:
            raise Duplicate(f"sku {sku!r} is already in the catalogue of {target}")
        data = {
            "sku": sku,
            "name_zh": name_zh,
            "name_en": name_en,
            "kind": kind,
            "emergency": emergency,
            "ration": ration,
            "reorder": reorder,
        }
        tx.emit(target, "item.add", sku, data, actor)
    return get_item(ctx, sku)


def update_item(ctx: Context, sku: str, fields: dict[str, Any], *, actor: str | None = None) -> dict[str, Any]:
    """Change the given ``fields`` (those not None) of a catalogue item, e.g. its emergency ration.

    Raises:
        UnknownEntity: no such sku; InputError: nothing to change, or a value out of range;
        ScopeForbidden: a district catalogue item changed from a community node.
    """
    item = get_item(ctx, sku)
    fields = {k: v for k, v in fields.items() if v is not None}
    if not fields:
        raise InputError(f"nothing to change for item {sku!r}")
    if item["scope"] == "district" and not ctx.is_district:
        raise ScopeForbidden(
            f"item {sku!r} is in the district catalogue: the district changes it "
            "(or add a local item with the same sku, which takes its place here)"
        )
    with ctx.store.tx() as tx:
        tx.emit(item["scope"], "item.update", sku, fields, actor)
    return get_item(ctx, sku)


def level(ctx: Context, sku: str, scope: str) -> StockLevel:
    """The stock of ``sku`` in ``scope`` (zero when none was ever received)."""
    for row in stock_levels(ctx.conn, scope, ctx.dev):
        if row["sku"] == sku:
            return row
    return StockLevel(
        sku=sku, qty=0, rights=0, name_zh=sku, name_en=sku, kind="part", emergency=False, ration=None, reorder=0
    )


def receive(
    ctx: Context, sku: str, qty: int, *, reason: str = "", scope: str | None = None, actor: str | None = None
) -> StockLevel:
    """Stock in: gives this device the rights to what it received."""
    qty = inputs.qty(qty)
    get_item(ctx, sku)
    target = ctx.home(scope)
    with ctx.store.tx() as tx:
        tx.emit(target, "stock.receive", sku, {"sku": sku, "qty": qty, "reason": reason}, actor)
    return level(ctx, sku, target)


def issue(
    ctx: Context,
    sku: str,
    qty: int,
    *,
    household: str | None = None,
    ticket: str | None = None,
    reason: str = "",
    actor: str | None = None,
) -> StockLevel:
    """Stock out, within this device's rights; emergency supplies are rationed in emergency mode.

    Raises:
        InsufficientRights: more than this device may issue; RationExceeded: over the household's
        emergency ration for the last 24 h, or over this device's share of it (:func:`ration_share`);
        InputError: a rationed item without a household.
    """
    qty = inputs.qty(qty)
    item = get_item(ctx, sku)
    ticket_id = tickets.get(ctx, ticket)["id"] if ticket else None
    if household is not None and people.find_household(ctx.conn, ctx.community, household) is None:
        raise UnknownEntity(f"no household {household!r} in community {ctx.community}")
    with ctx.store.tx() as tx:
        held = rights(tx.conn, "stock", ctx.community, sku, ctx.dev)
        if qty > held:
            total = counter_value(tx.conn, "stock", ctx.community, sku)
            raise InsufficientRights(
                f"cannot issue {qty} of {sku}: stock is {total}, of which this device may issue {held}"
            )
        if item["emergency"] and item["ration"] and modes.declared_mode(tx.conn, ctx.community) == "emergency":
            if household is None:
                raise InputError(f"{sku} is rationed in emergency mode: name the household")
            since = ctx.now_ms() - inputs.DAY_MS
            had = issued_today(tx.conn, ctx.community, sku, household, since)
            if had + qty > item["ration"]:
                raise RationExceeded(
                    f"household {household} has had {had} of {sku} in the last 24 h; "
                    f"the emergency ration is {item['ration']} per day"
                )
            # What this node sees of other kiosks' issues can be out of date (a partition): each device
            # keeps within its own share of the ration, so together they never give more than the ration.
            share, devices = ration_share(tx.conn, ctx.community, ctx.dev, item["ration"])
            mine = issued_today(tx.conn, ctx.community, sku, household, since, dev=ctx.dev)
            if mine + qty > share:
                raise RationExceeded(
                    f"household {household} has had {mine} of {sku} from this device in the last 24 h; this "
                    f"device may give {share} of the emergency ration of {item['ration']} per day, which is "
                    f"split among the community's {devices} devices so that kiosks cut off from each other "
                    "cannot together give more than the ration"
                )
        data = {"sku": sku, "qty": qty, "household": household, "ticket": ticket_id, "reason": reason}
        tx.emit(ctx.community, "stock.issue", sku, data, actor)
        if ticket_id is not None:
            tx.emit(ctx.community, "ticket.part", ticket_id, {"sku": sku, "qty": qty}, actor)
    return level(ctx, sku, ctx.community)


def check_rights_target(conn: sqlite3.Connection, community: str, to_dev: str, holder: str) -> None:
    """Rights go only to an enrolled, unrevoked device of ``community`` other than ``holder``.

    A move to a typo, another community's device or a revoked device would strand the rights: nobody
    could ever spend them (``docs/design.md`` §5, no stranded rights).

    Raises:
        UnknownEntity: no enrolled device ``to_dev``. ScopeForbidden: another community's device, or a
        revoked one. InputError: the holder itself.
    """
    if to_dev == holder:
        raise InputError(f"device {to_dev} already holds these rights")
    row = conn.execute("SELECT community, revoked_from_seq FROM devices WHERE dev=?", (to_dev,)).fetchone()
    if row is None or not row[0]:
        raise UnknownEntity(f"no enrolled device {to_dev!r}: rights can only go to a device of community {community}")
    if row[0] != community:
        raise ScopeForbidden(f"device {to_dev} belongs to community {row[0]!r}, not {community!r}: rights stay in it")
    if row[1] is not None:
        raise ScopeForbidden(f"device {to_dev} is revoked (from seq {row[1]}): rights moved to it could never be spent")


def rights_targets(conn: sqlite3.Connection, community: str, holder: str) -> list[dict[str, Any]]:
    """``[{dev, role, name}]`` of the devices ``holder`` may move rights to (``check_rights_target``)."""
    rows = conn.execute(
        "SELECT dev, role, name FROM devices WHERE community=? AND revoked_from_seq IS NULL AND dev != ? "
        "ORDER BY name, dev",
        (community, holder),
    )
    return [{"dev": str(d), "role": str(r), "name": str(n)} for d, r, n in rows]


def move_rights(
    ctx: Context, sku: str, qty: int, to_dev: str, *, scope: str | None = None, actor: str | None = None
) -> StockLevel:
    """Give ``qty`` of this device's stock rights to another device of the community.

    Raises:
        InsufficientRights: this device holds fewer rights than ``qty``. UnknownEntity, ScopeForbidden,
        InputError: the target is not an enrolled, unrevoked device of the community (``check_rights_target``).
    """
    target = ctx.home(scope)
    qty = inputs.qty(qty)
    with ctx.store.tx() as tx:
        check_rights_target(tx.conn, target, to_dev, ctx.dev)
        held = rights(tx.conn, "stock", target, sku, ctx.dev)
        if qty > held:
            raise InsufficientRights(f"cannot move {qty} rights of {sku}: this device holds {held}")
        tx.emit(target, "stock.rights", sku, {"sku": sku, "qty": qty, "to": to_dev}, actor)
    return level(ctx, sku, target)
