"""The daemon's dispatcher rounds: propose while offline, assign on its own in emergency.

``linli-edge run`` calls :func:`dispatch_round` after every sync attempt, with the mode that attempt
left the node in:

- ``normal``: nothing; the district is reachable and staff dispatch from the board, which computes
  the same proposals (``edge.services.dispatch_inputs``). Proposals stored earlier are cleared.
- ``offline``: the dispatcher's proposals for the open, unassigned tickets are stored in the node's
  meta under ``dispatch_proposals`` as ``{at, mode, proposals, applied}`` (``at``: when this set was
  first proposed). The kiosk's dispatch board shows them; staff accept or override them.
- ``emergency``: the same, and when this device's ``auto_dispatch`` setting is on the proposals are
  written at once as assign ops with actor ``dispatcher`` (``applied``); with it off they wait for
  staff like offline ones.

``auto_dispatch`` is a setting of the device, not replicated data: ``linli-edge config auto-dispatch
on|off`` (default off). The meta row is only rewritten when the set of (ticket, technician) pairs
changes, so an idle offline kiosk does not write its SD card every few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from edge.domain import modes
from edge.domain.context import Context
from edge.services import dispatch_inputs
from edge.store.db import write_tx

if TYPE_CHECKING:
    from edge.store import Store

__all__ = [
    "AUTO_KEY",
    "DISPATCHER",
    "PROPOSALS_KEY",
    "DispatchRound",
    "auto_dispatch",
    "dispatch_round",
    "set_auto_dispatch",
    "stored_proposals",
]

PROPOSALS_KEY = "dispatch_proposals"
AUTO_KEY = "auto_dispatch"
DISPATCHER = "dispatcher"
"""The actor of assigns the daemon writes on its own."""


@dataclass(frozen=True)
class DispatchRound:
    """What one round did: the mode it ran in, proposals left for staff, and assigns written."""

    mode: str
    proposals: list[dict[str, Any]] = field(default_factory=list)
    applied: list[dict[str, Any]] = field(default_factory=list)
    stored: bool = False
    """Whether the stored proposals changed (and the meta row was written)."""


def auto_dispatch(store: Store) -> bool:
    """Whether the daemon may assign on its own in emergency mode (default off)."""
    return store.get(AUTO_KEY, False) is True


def set_auto_dispatch(store: Store, on: bool) -> dict[str, Any]:
    """Turn automatic dispatching in emergency mode on or off; returns ``{auto_dispatch}``."""
    store.set(AUTO_KEY, bool(on))
    return {"auto_dispatch": auto_dispatch(store)}


def stored_proposals(store: Store) -> dict[str, Any] | None:
    """``{at, mode, proposals, applied}`` as the daemon last stored them, or ``None``."""
    value = store.get(PROPOSALS_KEY)
    return value if isinstance(value, dict) else None


def _pairs(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(str(p["ticket_id"]), str(p["tech"])) for p in items]


def _store(store: Store, value: dict[str, Any] | None) -> bool:
    """Write ``value`` unless the same proposals and assigns are stored already; whether it wrote."""
    with write_tx(store.conn) as conn:
        old = store.meta_get(conn, PROPOSALS_KEY)
        if value is None:
            same = old is None
        else:
            same = (
                isinstance(old, dict)
                and old.get("mode") == value["mode"]
                and _pairs(old.get("proposals", [])) == _pairs(value["proposals"])
                and _pairs(old.get("applied", [])) == _pairs(value["applied"])
            )
        if not same:
            store.meta_set(conn, PROPOSALS_KEY, value)
        return not same


def dispatch_round(ctx: Context, mode: str | None = None) -> DispatchRound:
    """Run the dispatcher for ``mode`` (default the node's effective mode) as the module docstring says.

    Raises:
        EdgeError: the dispatcher's input is malformed (``PlanningError``) or a write failed.
    """
    mode = modes.current(ctx) if mode is None else mode
    if mode not in ("offline", "emergency"):
        return DispatchRound(mode, stored=_store(ctx.store, None))
    proposals = dispatch_inputs.propose(ctx)
    applied: list[dict[str, Any]] = []
    if mode == "emergency" and proposals and auto_dispatch(ctx.store):
        applied = dispatch_inputs.apply(ctx, proposals, actor=DISPATCHER)
        done = set(_pairs(applied))
        proposals = [p for p in proposals if (str(p["ticket_id"]), str(p["tech"])) not in done]
    value = {"at": ctx.now_ms(), "mode": mode, "proposals": proposals, "applied": applied}
    return DispatchRound(mode, proposals, applied, stored=_store(ctx.store, value))
