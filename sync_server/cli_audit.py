"""``linli-server audit export FILE`` and ``linli-server witness add|list`` (``docs/audit.md``).

``register(sub, common)`` adds them to ``linli-server``'s parser; each sets ``func`` (``handler(args) ->
JSON-able result``), as the other commands do. They open the district's data directory themselves and may
run while ``linli-server serve`` runs on it (SQLite serialises the writers).
"""

from __future__ import annotations

import argparse
import base64
from pathlib import Path
from typing import Any

from edge.node import Node
from sync_server.audit.routes import open_log
from sync_server.errors import SetupError
from sync_server.schema import migrate_server

__all__ = ["cmd_audit_export", "cmd_witness_add", "cmd_witness_list", "register"]


def _district(data: Path) -> Node:
    node = Node.open(data)
    if node.role != "district":
        node.close()
        raise SetupError("not_district", f"the node in {data} is a {node.role}, not a district")
    migrate_server(node.conn)
    return node


def cmd_audit_export(args: argparse.Namespace) -> Any:
    """Sign a checkpoint of every op, then write the export file (atomically)."""
    with _district(args.data) as node:
        log = open_log(node)
        counts = log.export(args.file)
        latest = log.latest()
        return {
            "file": str(args.file),
            "origin": log.origin,
            "district_key": base64.b64encode(node.store.ident.key.public_bytes).decode(),
            "ops": counts.get("ops"),
            "checkpoints": counts.get("checkpoints"),
            "tree_size": latest.size if latest else 0,
            "root": latest.root.hex() if latest else None,
        }


def cmd_witness_add(args: argparse.Namespace) -> Any:
    """Register a committee witness's key, so that the district keeps (and serves) its cosignatures."""
    with _district(args.data) as node:
        witness = open_log(node).add_witness(args.vkey)
        return {"witness": witness.name, "vkey": witness.vkey()}


def cmd_witness_list(args: argparse.Namespace) -> Any:
    """The registered witnesses and how many checkpoints each has cosigned."""
    with _district(args.data) as node:
        rows = node.conn.execute(
            "SELECT w.name, w.vkey, w.added_ms, (SELECT COUNT(*) FROM audit_cosignatures c WHERE c.witness = w.name) "
            "FROM audit_witnesses w ORDER BY w.name"
        ).fetchall()
    found = [{"witness": r[0], "vkey": r[1], "added_ms": r[2], "cosigned": r[3]} for r in rows]
    if args.json:
        return found
    return "\n".join(f"{w['witness']}  {w['vkey']}  cosigned {w['cosigned']}" for w in found) or "no witnesses"


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``audit export`` and ``witness add|list`` to ``linli-server``."""
    group = sub.add_parser("audit", help="the signed audit trail: export it for offline verification")
    actions = group.add_subparsers(dest="audit_action", metavar="ACTION", required=True)
    p = actions.add_parser(
        "export",
        parents=[common],
        help="sign a checkpoint of every op and write every op and checkpoint to FILE",
        description="write the audit export that linli-edge audit verify checks offline",
    )
    p.add_argument("file", type=Path, metavar="FILE", help="the export file to write")
    p.set_defaults(func=cmd_audit_export)

    group = sub.add_parser("witness", help="committee witnesses whose cosignatures the district keeps")
    actions = group.add_subparsers(dest="witness_action", metavar="ACTION", required=True)
    p = actions.add_parser(
        "add",
        parents=[common],
        help="register a witness key (as linli-edge audit witness prints it)",
        description="register a committee witness's verifier key",
    )
    p.add_argument("vkey", metavar="VKEY", help="the witness's verifier key, name+id+key")
    p.set_defaults(func=cmd_witness_add)
    p = actions.add_parser(
        "list", parents=[common], help="list the registered witnesses", description="list the registered witnesses"
    )
    p.set_defaults(func=cmd_witness_list)
