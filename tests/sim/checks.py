"""End-of-run checks of one replica, each returning what it found wrong (an empty list: it holds).

- ``conservation``: every stock and points counter equals its receipts (awards) minus its issues
  (redemptions) in the replica's own op log, a lifecycle step counted once whoever wrote it; the
  rights of all devices add up to the counter (moves of rights net to zero); nothing is negative.
- ``lifecycles_once``: every lifecycle step with a numeric effect took effect exactly once: a transfer
  issued its quantity once from the holder if it shipped (never if not) and received it once into
  the receiver if it arrived; a tool loan took one tool out and, once returned, put exactly one back.
- ``rebuild_same``: recreating every view from the op log gives the same digest.
- ``stranded``: no revoked device holds rights: every counter can be spent by live devices.
- ``lifecycles_completed``: how many lifecycles reached their last step (the tests assert a floor).
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from typing import Any

from crdt.op import decode_op
from edge.node import Node

__all__ = ["conservation", "lifecycles_completed", "lifecycles_once", "rebuild_same", "stranded"]

_LEDGER = {
    "stock.receive": ("stock", "sku", "qty", 1),
    "stock.issue": ("stock", "sku", "qty", -1),
    "points.award": ("points", "household", "n", 1),
    "points.redeem": ("points", "household", "n", -1),
}


def _ledger_ops(conn: sqlite3.Connection) -> list[tuple[str, str, dict[str, Any]]]:
    """``(type, scope, data)`` of every counter op that takes effect.

    An op carrying a lifecycle key (``once``: the ship or arrival of a transfer, the lending or return
    of a tool) takes effect only if it is the lowest ``(wall, counter, dev, op id)`` of its scope with
    that key, however many devices wrote the step; the others are left out here.
    """
    marks = ",".join("?" for _ in _LEDGER)
    rows = conn.execute(f"SELECT type, scope, raw FROM ops WHERE type IN ({marks}) ORDER BY idx", tuple(_LEDGER))
    counted: list[tuple[str, str, dict[str, Any]]] = []
    first: dict[tuple[str, str, str], tuple[tuple[int, int, str, str], tuple[str, str, dict[str, Any]]]] = {}
    for t, s, r in rows:
        op = decode_op(bytes(r))
        item = (str(t), str(s), dict(op.data))
        once = op.data.get("once")
        if once is None:
            counted.append(item)
            continue
        rank = (op.hlc[0], op.hlc[1], op.dev, op.id)
        slot = (_LEDGER[item[0]][0], item[1], str(once))
        if slot not in first or rank < first[slot][0]:
            first[slot] = (rank, item)
    return counted + [item for _, item in first.values()]


def conservation(node: Node) -> list[str]:
    conn = node.conn
    expected: dict[tuple[str, str, str], int] = defaultdict(int)
    for kind, scope, data in _ledger_ops(conn):
        counter, key, amount, sign = _LEDGER[kind]
        expected[(counter, scope, str(data[key]))] += sign * int(data[amount])
    held = {(k, s, key): int(v) for k, s, key, v in conn.execute("SELECT kind, scope, key, value FROM counters")}
    wrong = []
    for ck in sorted(set(expected) | set(held)):
        if expected.get(ck, 0) != held.get(ck, 0):
            wrong.append(f"{node.dev}: counter {ck} is {held.get(ck, 0)}, its ops add up to {expected.get(ck, 0)}")
        if held.get(ck, 0) < 0:
            wrong.append(f"{node.dev}: counter {ck} is negative: {held[ck]}")
    rows = conn.execute(
        "SELECT kind, scope, key, SUM(inc + moved_in - moved_out - dec), SUM(moved_in), SUM(moved_out), "
        "MIN(inc + moved_in - moved_out - dec) FROM counter_rights GROUP BY kind, scope, key"
    )
    for kind, scope, key, total, moved_in, moved_out, low in rows:
        ck = (kind, scope, key)
        if total != held.get(ck, 0) or moved_in != moved_out:
            wrong.append(
                f"{node.dev}: rights of {ck} add up to {total} (moved {moved_in}/{moved_out}), not {held.get(ck)}"
            )
        if low < 0:
            wrong.append(f"{node.dev}: a device holds negative rights on {ck}: {low}")
    return wrong


def lifecycles_once(node: Node) -> list[str]:
    """Transfers and tool loans moved stock exactly once per step (on the scopes this replica holds)."""
    conn = node.conn
    scopes = None if node.role == "district" else set(node.scopes)
    moved: dict[tuple[str, str], int] = defaultdict(int)  # (reason, type) -> qty
    for kind, _scope, data in _ledger_ops(conn):
        if kind.startswith("stock.") and data.get("reason"):
            moved[(str(data["reason"]), kind)] += int(data["qty"])
    wrong = []
    for tid, src, dst, qty, step in conn.execute("SELECT id, src, dst, qty, step FROM transfers"):
        reason = f"transfer {tid}"
        if scopes is None or src in scopes:
            want = qty if step in ("shipped", "arrived") else 0
            got = moved.get((reason, "stock.issue"), 0)
            if got != want:
                wrong.append(f"{node.dev}: transfer {tid} ({step}) issued {got} from {src}, not {want}")
        if scopes is None or dst in scopes:
            want = qty if step == "arrived" else 0
            got = moved.get((reason, "stock.receive"), 0)
            if got != want:
                wrong.append(f"{node.dev}: transfer {tid} ({step}) received {got} into {dst}, not {want}")
    for loan, scope, returned in conn.execute("SELECT id, scope, returned_ms FROM loans WHERE sku IS NOT NULL"):
        if scopes is not None and scope not in scopes:
            continue
        out = moved.get((f"loan {loan}", "stock.issue"), 0)
        back = moved.get((f"return {loan}", "stock.receive"), 0)
        if out != 1 or back != (0 if returned is None else 1):
            wrong.append(f"{node.dev}: tool loan {loan} took out {out} and put back {back}")
    return wrong


def rebuild_same(node: Node) -> list[str]:
    out = node.rebuild()
    return [] if out["same"] else [f"{node.dev}: rebuild gives digest {out['digest']}, not {out['digest_before']}"]


def stranded(node: Node) -> list[str]:
    """Rights held by revoked devices (on the district's replica, which knows every revocation)."""
    rows = node.conn.execute(
        "SELECT r.kind, r.scope, r.key, r.dev, r.inc + r.moved_in - r.moved_out - r.dec FROM counter_rights r "
        "JOIN devices d ON d.dev = r.dev WHERE d.revoked_from_seq IS NOT NULL "
        "AND r.inc + r.moved_in - r.moved_out - r.dec > 0"
    )
    return [f"revoked device {dev} still holds {n} of {kind} {scope}/{key}" for kind, scope, key, dev, n in rows]


def lifecycles_completed(node: Node) -> dict[str, int]:
    """Lifecycles that reached their last step, on the district's replica."""
    conn = node.conn

    def one(sql: str) -> int:
        return int(conn.execute(sql).fetchone()[0])

    return {
        "transfers_arrived": one("SELECT COUNT(*) FROM transfers WHERE step='arrived'"),
        "loans_returned": one("SELECT COUNT(*) FROM loans WHERE sku IS NOT NULL AND returned_ms IS NOT NULL"),
        "tickets_closed": one("SELECT COUNT(*) FROM tickets WHERE stage='closed'"),
        "bookings_held": sum(1 for s in _booking_states(node) if s == "confirmed"),
    }


def _booking_states(node: Node) -> list[str]:
    from edge.domain.lending import bookings

    out: list[str] = []
    for (scope,) in node.conn.execute("SELECT DISTINCT scope FROM bookings"):
        out += [str(b["status"]) for b in bookings(node.conn, scope)]
    return out
