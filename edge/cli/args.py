"""Argument types and parser builders shared by every ``linli-edge`` subcommand module."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "Handler",
    "answer",
    "common_parser",
    "count",
    "csv_list",
    "group",
    "leaf",
    "position",
    "whole",
]

Handler = Callable[[argparse.Namespace, Any], Any]


def whole(text: str) -> int:
    """An integer written in decimal (``1.5``, ``abc`` or ``1e3`` are refused: exit 2)."""
    if not re.fullmatch(r"[+-]?[0-9]{1,12}", text.strip()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    return int(text)


def count(text: str) -> int:
    """A positive whole number (a quantity or a number of points)."""
    n = whole(text)
    if n <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return n


def csv_list(text: str) -> list[str]:
    """``a,b,c`` as a list (empty items dropped)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def position(text: str) -> tuple[int, int]:
    """``X,Y`` as two integers."""
    parts = text.split(",")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"position {text!r} is not X,Y")
    return (whole(parts[0]), whole(parts[1]))


def answer(text: str) -> tuple[str, bool]:
    """A triage answer ``KEY=yes`` or ``KEY=no``."""
    key, sep, value = text.partition("=")
    value = value.strip().lower()
    if not sep or not key.strip() or value not in ("yes", "no", "y", "n", "true", "false"):
        raise argparse.ArgumentTypeError(f"triage answer {text!r} is not KEY=yes or KEY=no")
    return (key.strip(), value in ("yes", "y", "true"))


def common_parser() -> argparse.ArgumentParser:
    """The parent parser of every subcommand: ``--data``, ``--json``, ``--actor``."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("common options")
    group.add_argument("--data", metavar="DIR", help="data directory (default: $LINLI_DATA, then ./linli-data)")
    group.add_argument("--json", action="store_true", help="print one JSON document")
    group.add_argument("--actor", metavar="ID", help="who is acting (staff id or household), recorded in the op")
    return common


def leaf(
    sub: Any,
    name: str,
    help_text: str,
    common: argparse.ArgumentParser,
    func: Handler,
    *,
    needs_node: bool = True,
    columns: Sequence[str] | None = None,
) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
    p.set_defaults(func=func, needs_node=needs_node, columns=tuple(columns) if columns else None)
    return p


def group(sub: Any, name: str, help_text: str) -> Any:
    """The sub-command set of group ``name``: the existing one (two modules add to ``tech``) or a new one."""
    existing = sub.choices.get(name)
    if existing is not None:
        for action in existing._actions:
            if isinstance(action, argparse._SubParsersAction):
                return action
    p = sub.add_parser(name, help=help_text, description=help_text)
    return p.add_subparsers(dest=f"{name}_action", metavar="ACTION", required=True)
