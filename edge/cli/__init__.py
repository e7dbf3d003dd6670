"""``linli-edge``: the staff command line of a node."""

from __future__ import annotations

from edge.cli.main import build_parser, leaf_commands, main

__all__ = ["build_parser", "leaf_commands", "main"]
