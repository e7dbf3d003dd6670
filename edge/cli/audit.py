"""``linli-edge audit …``: verify an export offline, show and clear this node's audit alarm, run a witness.

Plug-in of ``edge.cli`` (``register(subparsers, common)``): every leaf parser sets ``func`` (``handler(args,
node) -> JSON-able result``) and ``needs_node``. ``audit verify`` and ``audit witness`` need no node;
``audit verify`` prints its report itself when it fails (then raises ``AuditFailed``: exit 1), and returns
the text (or, with ``--json``, the report) when it passes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from crdt.hlc import system_ms
from edge.audit import client as audit_client
from edge.audit.summary import format_report
from edge.audit.verify import verify_export
from edge.audit.witness import http_transport, run_witness
from edge.cli.args import leaf
from edge.errors import AuditFailed, InputError
from edge.node import Node, default_data_dir

__all__ = ["register"]


def _digests(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        scope, sep, value = item.partition("=")
        if not sep or not scope.strip() or len(value.strip()) != 64:
            raise InputError(f"--digest {item!r} is not SCOPE=HEX (64 hex digits; SCOPE 'all' for the whole state)")
        out[scope.strip()] = value.strip().lower()
    return out


def _read_checkpoint(path: str) -> str:
    try:
        return Path(path).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read checkpoint file {path}: {exc}") from None


def _verify(args: argparse.Namespace, node: None) -> Any:
    report = verify_export(
        args.file,
        args.district_key,
        witnesses=args.witness,
        checkpoints=[_read_checkpoint(p) for p in args.checkpoint],
        digests=_digests(args.digest),
    )
    as_json = bool(getattr(args, "json", False))
    if report.ok:
        return report.as_dict() if as_json else format_report(report)
    print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2) if as_json else format_report(report))
    first = report.failures[0].line() if report.failures else "too many failures"
    count = len(report.failures) + report.omitted
    raise AuditFailed(f"audit verify of {args.file} failed with {count} failure(s); the first: {first}")


def _show(args: argparse.Namespace, node: Node) -> dict[str, Any]:
    store = node.store
    trusted = audit_client.trusted_checkpoint(store)
    return {
        "witness_vkey": audit_client.witness_vkey(store),
        "trusted_size": trusted.size if trusted else 0,
        "trusted_root": trusted.root.hex() if trusted else None,
        "trusted_checkpoint": store.get(audit_client.TRUSTED_KEY),
        "audit_alarm": store.get(audit_client.ALARM_KEY),
        "pending_cosignature": store.get("audit_cosignature"),
    }


def _clear(args: argparse.Namespace, node: Node) -> dict[str, Any]:
    return audit_client.clear_alarm(node.store, args.actor or "", forget_checkpoint=args.forget_checkpoint)


def _witness(args: argparse.Namespace, node: None) -> dict[str, Any]:
    directory = Path(args.data) if args.data is not None else default_data_dir()
    return run_witness(
        http_transport(args.server, timeout=args.timeout),
        directory,
        district_key=args.district_key,
        name=args.name,
        now_ms=system_ms(),
        clear=args.clear_alarm,
    )


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add ``audit verify``, ``audit show``, ``audit clear-alarm`` and ``audit witness``."""
    group = subparsers.add_parser(
        "audit", help="the signed audit trail: verify an export, alarms, witness", description="the signed audit trail"
    )
    sub = group.add_subparsers(dest="audit_action", metavar="ACTION", required=True)
    p = leaf(
        sub,
        "verify",
        "verify an audit export offline and print a summary for residents",
        common,
        _verify,
        needs_node=False,
    )
    p.add_argument("file", metavar="FILE", help="the export written by linli-server audit export")
    p.add_argument(
        "--district-key", required=True, metavar="KEY", help="the district key as linli-server key prints it"
    )
    p.add_argument("--witness", action="append", default=[], metavar="VKEY", help="an independent witness's key")
    p.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="FILE",
        help="a signed checkpoint collected from a kiosk (audit show) or a witness, to compare with the export",
    )
    p.add_argument("--digest", action="append", default=[], metavar="SCOPE=HEX", help="an expected state digest")
    leaf(sub, "show", "this node's trusted checkpoint, witness key and audit alarm", common, _show)
    p = leaf(sub, "clear-alarm", "clear the audit alarm after checking it (needs --actor)", common, _clear)
    p.add_argument("--forget-checkpoint", action="store_true", help="also forget the trusted checkpoint")
    p = leaf(
        sub,
        "witness",
        "verify and cosign the district's latest checkpoint with this machine's key",
        common,
        _witness,
        needs_node=False,
    )
    p.add_argument("--server", required=True, metavar="URL", help="the district server, e.g. https://district:8443")
    p.add_argument("--district-key", metavar="KEY", help="the district key (required on the first run)")
    p.add_argument("--name", help="the witness name on the first run (default linli.witness/<key id>)")
    p.add_argument("--clear-alarm", action="store_true", help="clear this witness's alarm after checking it")
    p.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for the server")
