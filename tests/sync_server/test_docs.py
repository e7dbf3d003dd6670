"""``docs/server.md`` documents every ``linli-server`` subcommand, with help text for each, and every endpoint."""

from __future__ import annotations

from pathlib import Path

from edge.cli import leaf_commands
from sync_server.cli import build_parser
from sync_server.core import _ROUTES

ROOT = Path(__file__).resolve().parents[2]


def test_every_subcommand_has_help_and_is_in_the_docs() -> None:
    docs = (ROOT / "docs" / "server.md").read_text(encoding="utf-8")
    leaves = dict(leaf_commands(build_parser()))
    assert set(leaves) >= {"init", "serve", "token", "key", "devices", "revoke", "report", "audit export"}
    for name, parser in leaves.items():
        assert parser.description, f"linli-server {name} has no help text"
        assert f"### `linli-server {name}" in docs, f"docs/server.md does not document 'linli-server {name}'"
        for action in parser._actions:
            for flag in action.option_strings:
                if flag.startswith("--") and flag not in ("--help", "--data", "--json"):
                    assert flag in docs, f"docs/server.md does not give option {flag} of {name}"


def test_every_endpoint_is_in_the_docs() -> None:
    docs = (ROOT / "docs" / "server.md").read_text(encoding="utf-8")
    for path in [*_ROUTES, "/open311/v2/services.json", "/open311/v2/requests.json"]:
        assert f"`{path}" in docs, f"docs/server.md does not describe {path}"
