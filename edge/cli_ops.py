"""``linli-edge dispatch`` and ``linli-edge kpi`` (CLI plug-in; see ``edge.cli``)."""

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


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add ``dispatch`` and ``kpi``."""
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
