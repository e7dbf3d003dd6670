"""The district reads edge's tables only through ``edge.reads``: no SQL in ``sync_server`` names one.

The edge tables are those ``edge.store.schema``'s migrations create, less the ``audit_*`` tables, which
hold the district's Merkle log and are the server's business (as are ``sync_server.schema``'s).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from edge.store.schema import MIGRATIONS
from sync_server.schema import SERVER_MIGRATIONS

ROOT = Path(__file__).resolve().parents[2]
_CREATE = re.compile(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+)", re.IGNORECASE)
_SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|REPLACE|WITH|CREATE|DROP|ALTER)\b", re.IGNORECASE)


def _tables(migrations: list[tuple[str, list[str]]]) -> set[str]:
    return {m.group(1) for _, statements in migrations for sql in statements for m in _CREATE.finditer(sql)}


EDGE_TABLES = _tables(MIGRATIONS) - {t for t in _tables(MIGRATIONS) if t.startswith("audit_")}


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    """Every string constant and the literal parts of every f-string, with its line."""
    out = []
    parts = {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in parts:
            out.append((node.lineno, node.value))
        elif isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else " ? " for v in node.values)
            out.append((node.lineno, text))
    return out


def edge_sql(source: str) -> list[tuple[int, str, set[str]]]:
    """``(line, SQL text, edge tables named)`` of each SQL string in ``source`` that names an edge table."""
    found = []
    for line, text in sorted(_strings(ast.parse(source))):
        if not _SQL.search(text):
            continue
        named = {t for t in EDGE_TABLES if re.search(rf"(\b(FROM|JOIN|INTO|UPDATE|TABLE)|,)\s+{t}\b", text, re.I)}
        if named:
            found.append((line, text, named))
    return found


def test_the_edge_tables_are_known_and_none_is_the_servers() -> None:
    assert {"ops", "streams", "devices", "flags", "counters", "ledger", "tickets", "items", "transfers"} <= EDGE_TABLES
    assert not EDGE_TABLES & _tables(SERVER_MIGRATIONS)


def test_no_sql_string_in_sync_server_names_an_edge_table() -> None:
    offenders = []
    for path in sorted((ROOT / "sync_server").rglob("*.py")):
        for line, text, named in edge_sql(path.read_text(encoding="utf-8")):
            offenders.append(f"{path.relative_to(ROOT)}:{line} names {sorted(named)}: {text.strip()[:80]!r}")
    assert not offenders, "sync_server reads edge's tables through edge.reads only:\n" + "\n".join(offenders)


def test_the_scanner_finds_sql_in_plain_strings_f_strings_and_joins_of_either() -> None:
    source = """
a = conn.execute("SELECT idx FROM ops WHERE idx > ?")
b = conn.execute(f"SELECT hash FROM ops WHERE hash IN ({marks})")
c = ("SELECT o.dev FROM streams s JOIN ops o "
     "ON o.dev = s.dev")
d = conn.execute("INSERT INTO seen (dev) VALUES (?)")
e = "the ops of a device, from its streams"
"""
    named = [sorted(t) for _, _, t in edge_sql(source)]
    assert named == [["ops"], ["ops"], ["ops", "streams"]]
