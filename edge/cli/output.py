"""The human form of a command's result, for ``linli-edge`` and ``linli-server``.

A list of rows is a ``rich`` table, a map is ``key: value`` lines, anything else its text; all of it
goes through a ``rich`` console. On a terminal the console styles the header and fits the table to
the window, folding a long cell onto more lines rather than cutting it (ids and codes are never
shortened). Anywhere else (a pipe, a file, a test) it writes plain text: no escape codes whatever
``FORCE_COLOR`` or ``TERM`` say, one line per row however wide, no trailing spaces. ``rich``
measures East Asian wide characters as two columns, so Chinese names line up. Cell text is never
read as markup: ``[b]`` in a note prints as ``[b]``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from rich.box import Box
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

__all__ = ["PLAIN_WIDTH", "echo", "make_console", "render", "renderable"]

# Off a terminal nothing wraps: a row stays one line for grep and awk (scripts should read --json).
PLAIN_WIDTH = 100_000

# No frame: a header, a rule of '-' under it, the rows; columns two spaces apart.
_HEADER_RULE = Box("    \n    \n -  \n    \n    \n    \n    \n    \n", ascii=True)


def make_console(file: TextIO | None = None) -> Console:
    """A console on ``file`` (default stdout): styled if it is a terminal, plain text otherwise."""
    out = sys.stdout if file is None else file
    tty = out.isatty()
    return Console(
        file=out,
        force_terminal=tty,  # decided here, not by FORCE_COLOR / TTY_COMPATIBLE: a pipe gets no escapes
        no_color=not tty,
        width=None if tty else PLAIN_WIDTH,
        markup=False,
        emoji=False,
        highlight=False,
        force_jupyter=False,
        force_interactive=False,
    )


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ",".join(value) or "-"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _table(rows: list[dict[str, Any]], columns: Sequence[str] | None) -> RenderableType:
    if not rows:
        return Text("(none)")
    cols = list(columns) if columns else [k for k, v in rows[0].items() if not isinstance(v, dict)]
    table = Table(
        box=_HEADER_RULE, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0), header_style="bold", expand=False
    )
    for col in cols:
        table.add_column(Text(col), overflow="fold")
    for row in rows:
        table.add_row(*(Text(_cell(row.get(c))) for c in cols))
    return table


def _pairs(result: dict[str, Any]) -> RenderableType:
    text = Text()
    for n, (key, value) in enumerate(result.items()):
        if n:
            text.append("\n")
        text.append(f"{key}:", style="bold")
        text.append(f" {_cell(value)}")
    return text


def renderable(result: Any, columns: Sequence[str] | None = None) -> RenderableType:
    """A table for a list of rows, ``key: value`` lines for a map, else the value's text."""
    if isinstance(result, list) and all(isinstance(r, dict) for r in result):
        return _table(result, columns)
    if isinstance(result, dict):
        return _pairs(result)
    return Text(_cell(result))


def render(result: Any, columns: Sequence[str] | None = None, *, file: TextIO | None = None) -> str:
    """The human form of ``result`` as the console on ``file`` (default stdout) writes it, without the last newline."""
    console = make_console(file)
    with console.capture() as captured:
        console.print(renderable(result, columns), overflow="fold")
    text = captured.get()
    if not console.is_terminal:
        text = "\n".join(line.rstrip() for line in text.splitlines())
    return text.rstrip("\n")


def echo(result: Any, columns: Sequence[str] | None = None, *, file: TextIO | None = None) -> None:
    """Write the human form of ``result`` to ``file`` (default stdout), then a newline."""
    out = sys.stdout if file is None else file
    out.write(render(result, columns, file=out) + "\n")
