#!/usr/bin/env python3
"""Print the import graph of Linli's packages: modules, import edges, cycles, and arrows between
packages that point the wrong way.

    python scripts/import_graph.py            # summary
    python scripts/import_graph.py --edges    # every edge too
    python scripts/import_graph.py --json     # machine-readable

Only imports between the project's own modules count (``crdt``, ``edge``, ``sync_server``,
``kiosk_ui``); imports under ``if TYPE_CHECKING:`` are left out, since they run no code. A cycle is a
strongly connected set of two or more modules.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

PACKAGES = ("crdt", "edge", "sync_server", "kiosk_ui")
# Which package may import which: arrows point down this list only.
ALLOWED = {
    "crdt": {"crdt"},
    "edge": {"edge", "crdt"},
    "sync_server": {"sync_server", "edge", "crdt"},
    "kiosk_ui": {"kiosk_ui", "edge", "crdt"},
}


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else test.attr if isinstance(test, ast.Attribute) else ""
            if name == "TYPE_CHECKING":
                for child in node.body:
                    for sub in ast.walk(child):
                        if hasattr(sub, "lineno"):
                            lines.add(sub.lineno)
    return lines


def imports_of(root: Path, path: Path, modules: set[str]) -> set[str]:
    """The project modules ``path`` imports at run time."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_lines(tree)
    here = module_name(root, path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")
                up = up[: len(up) - (node.level - 1)]
                base = ".".join([*up, base] if base else up)
            # ``from pkg import sub`` imports the submodule; ``from pkg import name`` the package.
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        for name in names:
            # the longest project module the name starts with
            parts = name.split(".")
            for i in range(len(parts), 0, -1):
                cand = ".".join(parts[:i])
                if cand in modules:
                    if cand != here:
                        found.add(cand)
                    break
    return found


def graph(root: Path) -> dict[str, set[str]]:
    files = [p for pkg in PACKAGES for p in sorted((root / pkg).rglob("*.py"))]
    modules = {module_name(root, p) for p in files}
    return {module_name(root, p): imports_of(root, p, modules) for p in files}


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of two or more modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(g.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in sorted(g):
        if v not in index:
            visit(v)
    return sorted(out)


def wrong_way(g: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Edges from a package to one it may not import."""
    bad = []
    for src, dsts in g.items():
        top = src.split(".")[0]
        for dst in dsts:
            if dst.split(".")[0] not in ALLOWED[top]:
                bad.append((src, dst))
    return sorted(bad)


def summary(root: Path) -> dict[str, object]:
    g = graph(root)
    return {
        "modules": len(g),
        "edges": sum(len(v) for v in g.values()),
        "cycles": cycles(g),
        "wrong_way": [list(e) for e in wrong_way(g)],
        "largest": sorted(
            (
                (module_name(root, p), len(p.read_text(encoding="utf-8").splitlines()))
                for pkg in PACKAGES
                for p in (root / pkg).rglob("*.py")
            ),
            key=lambda x: -x[1],
        )[:5],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=str(Path(__file__).resolve().parent.parent), help="the checkout")
    parser.add_argument("--edges", action="store_true", help="print every edge")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    root = Path(args.root)
    s = summary(root)
    if args.json:
        print(json.dumps(s, indent=2))
        return 0
    print(f"modules: {s['modules']}  edges: {s['edges']}  cycles: {len(s['cycles'])}  wrong-way: {len(s['wrong_way'])}")
    for comp in s["cycles"]:  # type: ignore[attr-defined]
        print("cycle:", " <-> ".join(comp))
    for src, dst in s["wrong_way"]:  # type: ignore[attr-defined]
        print(f"wrong way: {src} -> {dst}")
    print("largest:", ", ".join(f"{m} ({n})" for m, n in s["largest"]))  # type: ignore[attr-defined]
    if args.edges:
        for src, dsts in sorted(graph(root).items()):
            for dst in sorted(dsts):
                print(f"{src} -> {dst}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
