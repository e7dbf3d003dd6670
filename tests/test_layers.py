"""The rooms of the code: dependencies point one way, no import cycles, no module too large.

The graph comes from ``scripts/import_graph.py`` (run it to see the figures).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 600


def _graph_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("import_graph", ROOT / "scripts" / "import_graph.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("import_graph", module)
    spec.loader.exec_module(module)
    return module


def test_dependencies_point_one_way() -> None:
    """crdt imports nothing of ours; edge only crdt; sync_server and kiosk_ui only edge and crdt."""
    ig = _graph_module()
    assert ig.wrong_way(ig.graph(ROOT)) == []


def test_no_module_imports_itself_back_through_others() -> None:
    ig = _graph_module()
    assert ig.cycles(ig.graph(ROOT)) == []


def test_no_module_is_over_the_size_limit() -> None:
    big = []
    for pkg in ("crdt", "edge", "sync_server", "kiosk_ui"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            n = len(path.read_text(encoding="utf-8").splitlines())
            if n > MAX_LINES:
                big.append(f"{path.relative_to(ROOT)} ({n} lines)")
    assert big == []


def test_the_graph_sees_a_wrong_way_import_and_a_cycle(tmp_path: Path) -> None:
    """The checks above can fail: a planted arrow back up and a planted cycle are both found."""
    ig = _graph_module()
    for pkg in ("crdt", "edge", "sync_server", "kiosk_ui"):
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "crdt" / "a.py").write_text("from edge import b\n")
    (tmp_path / "edge" / "b.py").write_text("import edge.c\n")
    (tmp_path / "edge" / "c.py").write_text("from edge.b import x\n")
    g = ig.graph(tmp_path)
    assert ig.wrong_way(g) == [("crdt.a", "edge.b")]
    assert ig.cycles(g) == [["edge.b", "edge.c"]]
