"""Operating modes: the declared mode per scope is an LWW register written by op ``mode.set``.

``normal`` and ``emergency`` are declared by a ``mode.set`` op with its actor: by community staff (the
kiosk's emergency switch, ``linli-edge mode``) in the community's scope, or by the district in the
``district`` scope (every community) or in one community's scope. ``offline`` is never declared: it is
derived from sync health (enrolled, and no successful sync for ``OFFLINE_AFTER_MS``).

**How declarations combine** (``docs/modes.md``). Each scope holds one declaration, the latest
``mode.set`` written to it (highest ``(hlc, dev)``, as for every LWW field). A community is in
emergency when *either* its own scope or the ``district`` scope says ``emergency``. So a community's
staff can end their own declaration but not the district's: ending it would need a ``mode.set`` in
the ``district`` scope, which only the district may write (:func:`set_mode` refuses it with a reason),
and a district-declared end does not end an emergency the community declared itself. The district may
also write a community's scope, and then its declaration and the community's are one register: the
later one wins. ``effective_mode`` combines declared and derived: emergency beats offline beats normal.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Literal, get_args

from crdt.op import Op
from edge.domain.context import Context
from edge.domain.fields import OptShort
from edge.errors import InputError, ScopeForbidden
from edge.store.optypes import Payload, register
from edge.store.views import lww_set

__all__ = [
    "DECLARED_MODES",
    "OFFLINE_AFTER_MS",
    "DeclaredMode",
    "ModeSet",
    "current",
    "declarations",
    "declared_by",
    "declared_mode",
    "effective_mode",
    "set_mode",
]

OFFLINE_AFTER_MS = 120_000

DeclaredMode = Literal["normal", "emergency"]
DECLARED_MODES: tuple[str, ...] = get_args(DeclaredMode)
"""The modes a ``mode.set`` declares (``offline`` is never declared)."""


class ModeSet(Payload):
    mode: DeclaredMode
    reason: OptShort = ""


@register("mode.set", ModeSet)
def _set(conn: sqlite3.Connection, op: Op, p: ModeSet) -> None:
    lww_set(
        conn,
        "modes",
        {"scope": op.scope},
        {"mode": p.mode, "reason": p.reason, "actor": op.actor, "since": op.hlc[0]},
        op,
    )


def declarations(conn: sqlite3.Connection, scope: str) -> list[dict[str, Any]]:
    """The latest declaration of ``scope`` and of ``district``: ``[{scope, mode, reason, actor, since}]``.

    Scopes that never saw a ``mode.set`` are left out; ``scope`` comes first.
    """
    rows = conn.execute(
        "SELECT scope, mode, reason, actor, since FROM modes WHERE scope IN (?, 'district') "
        "ORDER BY scope = 'district', scope",
        (scope,),
    ).fetchall()
    return [{"scope": s, "mode": m, "reason": r, "actor": a, "since": t} for s, m, r, a, t in rows]


def declared_by(conn: sqlite3.Connection, scope: str) -> list[str]:
    """The scopes (of ``scope`` and ``district``) whose latest declaration is ``emergency``."""
    return [d["scope"] for d in declarations(conn, scope) if d["mode"] == "emergency"]


def declared_mode(conn: sqlite3.Connection, scope: str) -> str:
    """``emergency`` if the community or the district declared it (latest declaration per scope)."""
    return "emergency" if declared_by(conn, scope) else "normal"


def effective_mode(declared: str, last_sync_ms: int | None, now_ms: int, enrolled: bool) -> str:
    """``emergency``, ``offline`` (enrolled and no successful sync for 2 minutes) or ``normal``."""
    if declared == "emergency":
        return "emergency"
    if enrolled and (last_sync_ms is None or now_ms - last_sync_ms > OFFLINE_AFTER_MS):
        return "offline"
    return "normal"


def current(ctx: Context) -> str:
    """This node's effective mode: ``emergency``, ``offline`` or ``normal``."""
    return effective_mode(
        declared_mode(ctx.conn, ctx.community),
        ctx.store.get("last_sync_ms"),
        ctx.now_ms(),
        bool(ctx.store.get("server_url")),
    )


def set_mode(
    ctx: Context, mode: str, reason: str = "", actor: str | None = None, scope: str | None = None
) -> dict[str, Any]:
    """Declare ``normal`` or ``emergency`` in ``scope`` (default this node's) as an op with ``actor``.

    Returns ``{scope, mode, declared_by}``: the scope written, the effective mode after it, and the
    scopes whose declaration is emergency.

    Raises:
        InputError: an unknown mode; ScopeForbidden: this device may not write ``scope``, or ending
        a district-declared emergency from a community scope.
    """
    if mode not in DECLARED_MODES:
        raise InputError(f"mode {mode!r} is not normal or emergency (offline follows from sync health)")
    target = ctx.home(scope)
    with ctx.store.tx() as tx:
        if mode == "normal" and target != "district" and declared_by(tx.conn, target) == ["district"]:
            d = declarations(tx.conn, target)[-1]
            raise ScopeForbidden(
                f"emergency mode in {target} was declared by the district (actor {d['actor'] or '-'}, "
                f"reason {d['reason']!r}); a 'normal' in {target} cannot end it: the district ends it"
            )
        tx.emit(target, "mode.set", target, {"mode": mode, "reason": reason}, actor)
    return {"scope": target, "mode": current(ctx), "declared_by": declared_by(ctx.conn, ctx.community)}
