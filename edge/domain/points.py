"""Volunteer points per household: a bounded counter with a ledger.

Op types (scope: the community; key: the household), with their merge rule and invariant:

- ``points.award``: a counter increment that gives the awarding device the rights to spend it, so
  points earned at a kiosk can be redeemed there offline.
- ``points.redeem``: a decrement within the writing device's rights.
- ``points.rights``: moves rights from the writing device to another device of the community
  (:func:`move_rights`).
- ``points.reclaim`` (district only): at a revocation, moves a revoked device's rights to its
  replacement (``linli-server revoke --rights-to``).

A balance is Σaward − Σredeem over every device, the same on every replica whatever order the ops
arrive in. A balance never goes negative and points are never spent twice across a partition,
because :func:`redeem` checks the writing device's own rights inside the write transaction.
"""

from __future__ import annotations

import sqlite3
from typing import Any, TypedDict

from crdt.op import Op
from edge.domain import inputs, people
from edge.domain.context import Context
from edge.domain.fields import EntityId, Qty, Short, Unit
from edge.domain.stock import check_rights_target, ledger
from edge.errors import AuthFailed, InsufficientRights
from edge.store.optypes import Payload, register
from edge.store.views import add_counter, counter_value, rights

__all__ = [
    "Balance",
    "PointsAward",
    "PointsRedeem",
    "PointsReclaim",
    "PointsRights",
    "award",
    "balance",
    "history",
    "move_rights",
    "redeem",
]


class Balance(TypedDict):
    """A household's points: ``balance`` in all, ``spendable_here`` by this device, its ledger."""

    household: str
    balance: int
    spendable_here: int
    history: list[dict[str, Any]]


class PointsAward(Payload):
    household: Unit
    n: Qty
    reason: Short


class PointsRedeem(Payload):
    household: Unit
    n: Qty
    reward: Short


class PointsRights(Payload):
    household: Unit
    n: Qty
    to: EntityId


class PointsReclaim(Payload):
    household: Unit
    n: Qty
    holder: EntityId
    to: EntityId


@register("points.award", PointsAward)
def _award(conn: sqlite3.Connection, op: Op, p: PointsAward) -> None:
    add_counter(conn, "points", op.scope, p.household, op.dev, inc=p.n)
    ledger(conn, op, "points", p.household, "award", p.n, reason=p.reason, household=p.household)


@register("points.redeem", PointsRedeem)
def _redeem(conn: sqlite3.Connection, op: Op, p: PointsRedeem) -> None:
    add_counter(conn, "points", op.scope, p.household, op.dev, dec=p.n)
    ledger(conn, op, "points", p.household, "redeem", -p.n, reason=p.reward, household=p.household)


@register("points.rights", PointsRights)
def _rights(conn: sqlite3.Connection, op: Op, p: PointsRights) -> None:
    add_counter(conn, "points", op.scope, p.household, op.dev, to=p.to, move=p.n)
    ledger(conn, op, "points", p.household, "rights", 0, peer=p.to, reason=f"{p.n} rights")


@register("points.reclaim", PointsReclaim, district_only=True)
def _reclaim(conn: sqlite3.Connection, op: Op, p: PointsReclaim) -> None:
    """The district moves a revoked device's points rights (as of its cut) to another device (``stock.reclaim``)."""
    add_counter(conn, "points", op.scope, p.household, p.holder, to=p.to, move=p.n)
    reason = f"{p.n} rights of revoked device {p.holder}"
    ledger(conn, op, "points", p.household, "rights", 0, peer=p.to, reason=reason)


def history(conn: sqlite3.Connection, scope: str, household: str, limit: int = 50) -> list[dict[str, Any]]:
    """A household's points ledger, newest first."""
    rows = conn.execute(
        "SELECT action, delta, reason, actor, wall FROM ledger WHERE kind='points' AND scope=? AND key=? "
        "AND action != 'rights' ORDER BY wall DESC, op DESC LIMIT ?",
        (scope, household, limit),
    )
    return [dict(zip(("action", "delta", "reason", "actor", "wall"), r, strict=True)) for r in rows]


def balance(ctx: Context, household: str) -> Balance:
    """``{household, balance, spendable_here, history}``.

    Raises:
        UnknownEntity: no such household.
    """
    people.get_household(ctx, household)
    return Balance(
        household=household,
        balance=counter_value(ctx.conn, "points", ctx.community, household),
        spendable_here=rights(ctx.conn, "points", ctx.community, household, ctx.dev),
        history=history(ctx.conn, ctx.community, household),
    )


def award(ctx: Context, household: str, n: int, reason: str, *, actor: str | None = None) -> Balance:
    """Award ``n`` points; this device may spend them."""
    n = inputs.qty(n, "points")
    people.get_household(ctx, household)
    with ctx.store.tx() as tx:
        data = {"household": household, "n": n, "reason": inputs.text(reason, "reason", 200)}
        tx.emit(ctx.community, "points.award", household, data, actor)
    return balance(ctx, household)


def redeem(
    ctx: Context, household: str, n: int, reward: str, *, pin: str | None = None, actor: str | None = None
) -> Balance:
    """Spend points, within this device's rights (a balance never goes negative).

    Raises:
        AuthFailed: a wrong household PIN; InsufficientRights: more than this device may spend.
    """
    n = inputs.qty(n, "points")
    reward = inputs.text(reward, "reward", 200)
    people.get_household(ctx, household)
    if pin is not None and not people.check_pin(pin, people.household_pin_hash(ctx.conn, ctx.community, household)):
        raise AuthFailed(f"wrong PIN for household {household}")
    with ctx.store.tx() as tx:
        held = rights(tx.conn, "points", ctx.community, household, ctx.dev)
        if n > held:
            bal = counter_value(tx.conn, "points", ctx.community, household)
            raise InsufficientRights(
                f"household {household} cannot redeem {n} points: balance {bal}, of which this kiosk may spend {held}"
            )
        tx.emit(ctx.community, "points.redeem", household, {"household": household, "n": n, "reward": reward}, actor)
    return balance(ctx, household)


def move_rights(ctx: Context, household: str, n: int, to_dev: str, *, actor: str | None = None) -> Balance:
    """Give ``n`` of this device's rights to a household's points to another device of the community
    (e.g. before a kiosk is retired, so its points can be redeemed at the new one).

    Raises:
        UnknownEntity: no such household, or no enrolled device ``to_dev``. ScopeForbidden: a device of
        another community, or a revoked one. InsufficientRights: this device holds fewer rights than ``n``.
    """
    n = inputs.qty(n, "points")
    people.get_household(ctx, household)
    with ctx.store.tx() as tx:
        check_rights_target(tx.conn, ctx.community, to_dev, ctx.dev)
        held = rights(tx.conn, "points", ctx.community, household, ctx.dev)
        if n > held:
            raise InsufficientRights(
                f"cannot move {n} points rights of household {household}: this device holds {held}"
            )
        tx.emit(ctx.community, "points.rights", household, {"household": household, "n": n, "to": to_dev}, actor)
    return balance(ctx, household)
