"""The kiosk uses only ``edge``'s public API: ``from edge import ...``, never ``edge.<submodule>``, and
never the node's store or connection (everything goes through ``Node`` methods)."""

from __future__ import annotations

import ast
from pathlib import Path

import edge

KIOSK = Path(__file__).resolve().parents[2] / "kiosk_ui"
PRIVATE = {"store", "conn"}


def _is_node(expr: ast.expr) -> bool:
    """``node`` or ``<anything>.node`` (``self.node``, ``screen.node``, ``app.node``)."""
    return (isinstance(expr, ast.Name) and expr.id == "node") or (
        isinstance(expr, ast.Attribute) and expr.attr == "node"
    )


def offences(source: str, name: str) -> list[str]:
    """Every import of an ``edge`` submodule and every ``node.store`` / ``node.conn`` in ``source``."""
    found = []
    for n in ast.walk(ast.parse(source, name)):
        if isinstance(n, ast.ImportFrom) and n.level == 0 and (n.module or "").startswith("edge."):
            found.append(f"{name}:{n.lineno}: from {n.module} import ...")
        elif isinstance(n, ast.ImportFrom) and n.module == "edge":
            modules = [
                a.name for a in n.names if not hasattr(edge, a.name) or isinstance(getattr(edge, a.name), type(edge))
            ]
            found += [f"{name}:{n.lineno}: from edge import {m} (not a public name)" for m in modules]
        elif isinstance(n, ast.Import):
            found += [f"{name}:{n.lineno}: import {a.name}" for a in n.names if a.name.startswith("edge.")]
        elif isinstance(n, ast.Attribute) and n.attr in PRIVATE and _is_node(n.value):
            found.append(f"{name}:{n.lineno}: .{n.attr} of a node")
    return found


def test_kiosk_ui_imports_only_the_public_api_of_edge_and_never_touches_the_store() -> None:
    files = sorted(KIOSK.rglob("*.py"))
    assert len(files) > 20
    found = [o for p in files for o in offences(p.read_text("utf-8"), str(p.relative_to(KIOSK.parent)))]
    assert not found, "\n".join(found)


def test_the_scan_catches_submodule_imports_and_store_access() -> None:
    bad = (
        "from edge.services.dispatch import dispatch\n"
        "import edge.domain.people\n"
        "from edge import domain\n"
        "x = self.node.store.get('a')\n"
        "y = node.conn.execute('')\n"
    )
    assert len(offences(bad, "bad.py")) == 5
    assert offences("from edge import EdgeError, Node\nnode.tickets()\nself.store = 1\n", "good.py") == []


def test_every_name_the_kiosk_imports_from_edge_is_in_its_all() -> None:
    used = {
        a.name
        for p in KIOSK.rglob("*.py")
        for n in ast.walk(ast.parse(p.read_text("utf-8")))
        if isinstance(n, ast.ImportFrom) and n.module == "edge"
        for a in n.names
    }
    assert used <= set(edge.__all__), sorted(used - set(edge.__all__))
