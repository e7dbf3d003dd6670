"""The docs stand on their own: nothing cites a document outside the repository, and links resolve.

The design lives in ``docs/design.md``. A citation such as ``DESIGN 4.1``, ``issue [03]`` or a path
into ``../shared`` points a reader at a text a clone does not have, so no tracked Markdown or Python
file outside ``tests/`` may carry one. Every relative link in ``README.md`` and ``docs/*.md`` must name
a file of the repository (and, for a Markdown target, a heading that exists there).
"""

from __future__ import annotations

import re
import subprocess
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

CITATIONS = [
    # "DESIGN 4.1", "DESIGN section 7", "DESIGN.md", "what DESIGN leaves open": the old text, by any form
    ("DESIGN", re.compile(r"\bDESIGN\b")),
    ("issue [0<digit>]", re.compile(r"\bissue\s*\[0\d\]", re.IGNORECASE)),
    ("a path into ../shared", re.compile(r"\.\./shared\b")),
]

# Reference pages being written on other branches at the same time; a link to one of them is
# accepted while the file is absent, and checked like any other once it exists.
PENDING = frozenset({"docs/merge.md", "docs/server.md", "docs/testing.md"})

_SKIP_DIRS = {".git", ".venv", "node_modules", "build", "dist", "__pycache__", "demo-data", "linli-data"}


def tracked_files(suffix: str) -> list[Path]:
    """Files ending in ``suffix`` that git tracks, outside ``tests/`` (a walk of the tree without git)."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--", f"*{suffix}"], cwd=ROOT, capture_output=True, check=True, timeout=60
        ).stdout.decode()
        paths = [ROOT / p for p in out.split("\0") if p]
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
        paths = [
            p
            for p in ROOT.rglob(f"*{suffix}")
            if not any(part in _SKIP_DIRS or part.endswith(".egg-info") for part in p.relative_to(ROOT).parts)
        ]
    return sorted(p for p in paths if p.is_file() and p.relative_to(ROOT).parts[0] != "tests")


def citations(paths: list[Path]) -> list[str]:
    """``path:line: what`` for every citation of a document outside the repository."""
    found = []
    for path in paths:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            for what, pattern in CITATIONS:
                if pattern.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{number}: cites {what}: {line.strip()[:120]}")
    return found


def test_no_markdown_file_cites_a_document_outside_the_repository() -> None:
    paths = tracked_files(".md")
    assert any(p.name == "design.md" for p in paths), "docs/design.md is missing or untracked"
    found = citations(paths)
    assert not found, "point into docs/design.md or say it in place:\n" + "\n".join(found)


def test_no_python_file_cites_a_document_outside_the_repository() -> None:
    found = citations(tracked_files(".py"))
    assert not found, "point into docs/design.md or say it in place:\n" + "\n".join(found)


def test_the_citation_patterns_catch_the_forms_seen_and_spare_the_project_s_own_pointers() -> None:
    caught = ["(DESIGN 4.1)", "DESIGN section 7", "DESIGN §3", "the value DESIGN leaves open", "issue [06]"]
    caught += ["Issue [07]:", "see ../shared/notes.md", "`DESIGN.md` of the shared folder"]
    spared = ["docs/design.md", "[design](design.md#6-sync)", "the design in brief", "issue 13", "a shared pool"]
    spared += ["DESIGN_VERSION = 1", "sharedfolder/x"]
    for text in caught:
        assert any(p.search(text) for _, p in CITATIONS), text
    for text in spared:
        assert not any(p.search(text) for _, p in CITATIONS), text


# --- links --------------------------------------------------------------------------------------
_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1", re.DOTALL)
_LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)


def _prose(text: str) -> str:
    """``text`` without fenced code blocks and inline code spans."""
    return _CODE.sub("", _FENCE.sub("", text))


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its text, lower case, without punctuation, spaces as ``-``."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text stays, its target goes
    text = text.replace("`", "").strip().lower()
    kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown file (repeated headings get ``-1``, ``-2`` …)."""
    seen: dict[str, int] = {}
    out = set()
    for match in _HEADING.finditer(_FENCE.sub("", path.read_text(encoding="utf-8"))):
        base = slug(match.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def linked_docs() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """``path: target: why`` for every relative link in ``path`` (a file under ``root``) that does not resolve."""
    broken = []
    for target in _LINK.findall(_prose(path.read_text(encoding="utf-8"))):
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
            continue  # http:, https:, mailto: …: not ours to check
        file_part, _, fragment = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        where = f"{path.relative_to(root)}: {target}"
        try:
            name = dest.relative_to(root.resolve()).as_posix()
        except ValueError:
            broken.append(f"{where}: points outside the repository")
            continue
        if not dest.exists():
            if name not in PENDING:
                broken.append(f"{where}: no file {name}")
            continue
        if fragment and dest.suffix == ".md" and fragment not in anchors(dest):
            broken.append(f"{where}: {name} has no heading with anchor #{fragment}")
    return broken


@pytest.mark.parametrize("path", linked_docs(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_points_to_a_file_that_exists(path: Path) -> None:
    broken = broken_links(path)
    assert not broken, "\n".join(broken)


def test_the_readme_links_the_design_and_every_reference_page() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = set(_LINK.findall(_prose(text)))
    pages = ["design", "merge", "cli", "server", "sync", "audit", "sharing", "dispatch", "modes", "kiosk"]
    pages += ["testing", "benchmarks"]
    missing = [p for p in pages if f"docs/{p}.md" not in targets]
    assert not missing, f"README.md does not link docs/{{{','.join(missing)}}}.md"


def test_the_readme_still_opens_with_the_two_commands() -> None:
    head = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:8]
    assert any(line.startswith("make demo") for line in head)
    assert any(line.startswith("make test") for line in head)


def test_the_link_check_catches_a_missing_file_a_missing_heading_and_a_way_out(tmp_path: Path) -> None:
    """The checker itself can fail: a link to a file or a heading that does not exist, or out of the tree."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "design.md").write_text("# Design\n\n## 6. Sync\n\n```\n# not a heading\n```\n", encoding="utf-8")
    page = docs / "page.md"
    page.write_text(
        "[gone](no-such-file.md) [bad anchor](design.md#no-such-heading) [ok](design.md#6-sync)\n"
        "`[in code](nowhere.md)` [web](https://example.org/x.md) [out](../../elsewhere.md)\n"
        "[pending](server.md) [code anchor](design.md#not-a-heading)\n",
        encoding="utf-8",
    )
    broken = broken_links(page, tmp_path)
    assert len(broken) == 4, broken
    assert "no file docs/no-such-file.md" in broken[0]
    assert "#no-such-heading" in broken[1]
    assert "outside the repository" in broken[2]
    assert "#not-a-heading" in broken[3]
