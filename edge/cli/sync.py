"""``linli-edge enroll``, ``sync`` and ``run``: the sync subcommands, plugged into ``edge.cli``.

``register(subparsers, common)`` adds them; each handler is ``handler(args, node) -> JSON-able``
and raises ``edge.errors`` exceptions for refusals (exit 1) and ``InputError`` for bad input (exit 2).
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING, Any

from edge.cli.args import leaf
from edge.errors import InputError
from edge.sync import HttpTransport, enroll, sync_once
from edge.sync.daemon import run_daemon

if TYPE_CHECKING:
    from edge.node import Node

__all__ = ["cmd_enroll", "cmd_run", "cmd_sync", "register"]


def _server(args: argparse.Namespace, node: Node) -> str:
    url = getattr(args, "server", None) or node.store.get("server_url")
    if not url:
        raise InputError("this node is not enrolled: run 'linli-edge enroll --server URL --token TOKEN' first")
    return str(url)


def cmd_enroll(args: argparse.Namespace, node: Node) -> dict[str, Any]:
    """Enrol with the district server."""
    transport = HttpTransport(args.server, timeout=args.timeout)
    try:
        return enroll(node, transport, args.server, args.token, args.name)
    finally:
        transport.close()


def cmd_sync(args: argparse.Namespace, node: Node) -> dict[str, Any]:
    """One full sync; exit 0 when caught up."""
    transport = HttpTransport(_server(args, node), timeout=args.timeout)
    try:
        report = sync_once(node, transport, limit=args.limit)
    finally:
        transport.close()
    status = node.status()
    return {**report.as_dict(), "mode": status["mode"], "last_sync": status["last_sync"]}


def cmd_run(args: argparse.Namespace, node: Node) -> dict[str, Any]:
    """The sync daemon, until SIGTERM."""
    if args.interval <= 0:
        raise InputError(f"--interval must be positive, got {args.interval}")
    if not logging.getLogger().handlers:
        logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    return run_daemon(node, _server(args, node), interval_s=args.interval, timeout_s=args.timeout)


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add ``enroll``, ``sync`` and ``run`` to the ``linli-edge`` parser."""
    p = leaf(subparsers, "enroll", "enrol this node with the district server", common, cmd_enroll)
    p.add_argument("--server", required=True, help="district server URL, e.g. https://sync.example:8470")
    p.add_argument("--token", required=True, help="one-time token from 'linli-server token'")
    p.add_argument("--name", default=None, help="device name shown to the district (default community-role-id)")
    p.add_argument("--timeout", type=float, default=15.0, help="seconds per request (default 15)")

    p = leaf(subparsers, "sync", "one full sync with the district; exit 0 when caught up", common, cmd_sync)
    p.add_argument("--server", default=None, help="server URL (default: the one enrolled with)")
    p.add_argument("--limit", type=int, default=1000, help="ops per pulled page (default 1000)")
    p.add_argument("--timeout", type=float, default=15.0, help="seconds per request (default 15)")

    p = leaf(subparsers, "run", "sync daemon: sync loop with backoff, until SIGTERM", common, cmd_run)
    p.add_argument("--server", default=None, help="server URL (default: the one enrolled with)")
    p.add_argument("--interval", type=float, default=5.0, help="seconds between syncs (default 5)")
    p.add_argument("--timeout", type=float, default=15.0, help="seconds per request (default 15)")
