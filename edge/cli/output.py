"""The human form of a ``linli-edge`` result: tables for lists of rows, ``key: value`` lines for a map."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

__all__ = ["render"]


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


def _width(text: str) -> int:
    # CJK characters take two terminal columns.
    return sum(2 if ord(c) > 0x2E7F else 1 for c in text)


def _table(rows: list[dict[str, Any]], columns: Sequence[str] | None) -> str:
    if not rows:
        return "(none)"
    cols = list(columns) if columns else [k for k, v in rows[0].items() if not isinstance(v, dict)]
    cells = [[_cell(r.get(c)) for c in cols] for r in rows]
    widths = [max(_width(c), *(_width(row[i]) for row in cells)) for i, c in enumerate(cols)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v + " " * (w - _width(v)) for v, w in zip(values, widths, strict=True)).rstrip()

    return "\n".join([line(cols), line(["-" * w for w in widths]), *(line(r) for r in cells)])


def render(result: Any, columns: Sequence[str] | None = None) -> str:
    """The human form of a result: a table for a list of rows, ``key: value`` lines for a map."""
    if isinstance(result, list) and all(isinstance(r, dict) for r in result):
        return _table(result, columns)
    if isinstance(result, dict):
        return "\n".join(f"{k}: {_cell(v)}" for k, v in result.items())
    return _cell(result)
