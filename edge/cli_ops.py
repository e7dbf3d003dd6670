"""``linli-edge dispatch``, ``kpi`` and ``config auto-dispatch`` (CLI plug-in; see ``edge.cli``)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def _dispatch(args: argparse.Namespace, node: Any) -> Any:
    if args.apply:
        return node.apply_dispatch(actor=args.actor or "dispatcher")
    return node.propose(max_jobs=args.max_jobs)


def _kpi(args: argparse.Namespace, node: Any) -> Any:
    return node.kpi(args.period, all_scopes=args.all)


def _auto_dispatch(args: argparse.Namespace, node: Any) -> Any:
    if args.state is not None:
        node.set_auto_dispatch(args.state == "on")
    return {"auto_dispatch": node.auto_dispatch(), "stored_proposals": node.stored_proposals()}


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add ``dispatch``, ``kpi`` and ``config auto-dispatch``."""
    p = subparsers.add_parser(
        "dispatch", parents=[common], help="propose technicians for open tickets (--apply writes the assigns)"
    )
    p.add_argument("--apply", action="store_true", help="write the proposals as assign ops, actor 'dispatcher'")
    p.add_argument("--max-jobs", type=int, default=3, help="concurrent jobs per technician (default 3)")
    p.set_defaults(func=_dispatch, needs_node=True)
    k = subparsers.add_parser("kpi", parents=[common], help="response, arrival, resolution times, SLA, FTF, rating")
    k.add_argument("--period", default="month", choices=["day", "week", "month", "quarter", "year"])
    k.add_argument("--all", action="store_true", help="every scope this node holds (the district)")
    k.set_defaults(func=_kpi, needs_node=True)
    c = subparsers.add_parser("config", help="settings of this device (not replicated)")
    actions = c.add_subparsers(dest="config_action", metavar="SETTING", required=True)
    a = actions.add_parser(
        "auto-dispatch",
        parents=[common],
        help="whether the daemon assigns on its own in emergency mode (default off)",
        description="Print, or turn on or off, the daemon's own assigning in emergency mode (actor 'dispatcher').",
    )
    a.add_argument("state", nargs="?", choices=("on", "off"), help="on or off; without it, print the setting")
    a.set_defaults(func=_auto_dispatch, needs_node=True)
