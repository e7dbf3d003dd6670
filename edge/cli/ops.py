"""``linli-edge dispatch``, ``kpi`` and ``config auto-dispatch``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from edge.cli.args import group, leaf

if TYPE_CHECKING:
    from edge.node import Node

__all__ = ["register"]


def _dispatch(args: argparse.Namespace, node: Node) -> Any:
    if args.apply:
        return node.apply_dispatch(actor=args.actor or "dispatcher")
    return node.propose(max_jobs=args.max_jobs)


def _kpi(args: argparse.Namespace, node: Node) -> Any:
    return node.kpi(args.period, all_scopes=args.all)


def _auto_dispatch(args: argparse.Namespace, node: Node) -> Any:
    if args.state is not None:
        node.set_auto_dispatch(args.state == "on")
    return {"auto_dispatch": node.auto_dispatch(), "stored_proposals": node.stored_proposals()}


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add ``dispatch``, ``kpi`` and ``config auto-dispatch``."""
    p = leaf(
        subparsers, "dispatch", "propose technicians for open tickets (--apply writes the assigns)", common, _dispatch
    )
    p.add_argument("--apply", action="store_true", help="write the proposals as assign ops, actor 'dispatcher'")
    p.add_argument("--max-jobs", type=int, default=3, help="concurrent jobs per technician (default 3)")
    k = leaf(subparsers, "kpi", "response, arrival, resolution times, SLA, FTF, rating", common, _kpi)
    k.add_argument("--period", default="month", choices=["day", "week", "month", "quarter", "year"])
    k.add_argument("--all", action="store_true", help="every scope this node holds (the district)")
    settings = group(subparsers, "config", "settings of this device (not replicated)")
    a = leaf(
        settings,
        "auto-dispatch",
        "print, or turn on or off, the daemon's own assigning in emergency mode (actor 'dispatcher'; default off)",
        common,
        _auto_dispatch,
    )
    a.add_argument("state", nargs="?", choices=("on", "off"), help="on or off; without it, print the setting")
