"""Volunteer points per household: a bounded counter with a ledger (DESIGN 1, 4.1).

Awarding gives rights to the awarding device, so points earned at a kiosk can be redeemed there
offline; a redemption is checked against this device's rights in the writing transaction, so a
balance never goes negative and points are never spent twice across a partition.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from crdt.op import Op
from edge.domain.fields import EntityId, Qty, Short, Unit
from edge.domain.stock import ledger
from edge.store.optypes import Payload, register
from edge.store.views import add_counter

__all__ = ["PointsAward", "PointsRedeem", "PointsRights", "history"]


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


def history(conn: sqlite3.Connection, scope: str, household: str, limit: int = 50) -> list[dict[str, Any]]:
    """A household's points ledger, newest first."""
    rows = conn.execute(
        "SELECT action, delta, reason, actor, wall FROM ledger WHERE kind='points' AND scope=? AND key=? "
        "AND action != 'rights' ORDER BY wall DESC, op DESC LIMIT ?",
        (scope, household, limit),
    )
    return [dict(zip(("action", "delta", "reason", "actor", "wall"), r, strict=True)) for r in rows]
