"""``linli-server``: the district sync server's command line (``docs/server.md``).

``init``, ``serve``, ``token``, ``key``, ``devices``, ``revoke``, ``restored``, ``report``, ``audit export``,
``witness add|list`` (``sync_server.cli_audit``); every command takes ``--data DIR``
(default ``$LINLI_DATA``, then ``./linli-data``). Exit codes: 0 success, 1 refused, 2 usage error.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge.audit.names import district_origin
from edge.cli.output import echo
from edge.errors import EdgeError, InputError
from edge.node import Node, default_data_dir
from sync_server.admin import list_devices, mark_restored, revoke
from sync_server.cli_audit import register as register_audit
from sync_server.core import Limits, SyncServer
from sync_server.enroll import ROLES, issue_token, parse_ttl
from sync_server.errors import SetupError, SyncError
from sync_server.schema import migrate_server

__all__ = ["build_parser", "main"]

DEFAULT_PORT = 8470


def _district(data: Path) -> Node:
    node = Node.open(data)
    if node.role != "district":
        node.close()
        raise SetupError("not_district", f"the node in {data} is a {node.role}, not a district")
    migrate_server(node.conn)
    return node


def cmd_init(args: argparse.Namespace) -> Any:
    name = args.district.strip()
    if not name or len(name) > 64:
        raise InputError(f"district name {args.district!r} must be 1 to 64 characters")
    district_origin(name)  # it names the signed checkpoints: no space or '+' (InputError)
    node = Node.init(args.data, "district", role="district")
    try:
        node.store.set("district_name", name)
        migrate_server(node.conn)
        return {"data": str(args.data), "district": name, "device": node.dev, "key": _key(node)}
    finally:
        node.close()


def _key(node: Node) -> str:
    return base64.b64encode(node.store.ident.key.public_bytes).decode()


def cmd_key(args: argparse.Namespace) -> Any:
    with _district(args.data) as node:
        return _key(node)


def cmd_token(args: argparse.Namespace) -> Any:
    try:
        ttl = parse_ttl(args.ttl)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    with _district(args.data) as node:
        now = node.now_ms()
        try:
            token = issue_token(node.conn, args.community, args.role, ttl, now)
        except ValueError as exc:
            raise InputError(str(exc)) from None
    if not args.json:
        return token
    return {"token": token, "community": args.community, "role": args.role, "expires_ms": now + ttl}


def cmd_devices(args: argparse.Namespace) -> Any:
    with _district(args.data) as node:
        rows = list_devices(node)
    if args.json:
        return rows
    table = []
    for d in rows:
        state = "revoked" if d["revoked_from_seq"] is not None else ("QUARANTINED" if d["quarantined"] else "ok")
        heads = ",".join(f"{s}:{n}" for s, n in sorted(d["heads"].items())) or "-"
        table.append({k: d[k] for k in ("device", "community", "role", "name")} | {"state": state, "heads": heads})
    return table or "no devices"


def cmd_revoke(args: argparse.Namespace) -> Any:
    with _district(args.data) as node:
        return revoke(node, args.device, reason=args.reason, from_seq=args.from_seq, rights_to=args.rights_to)


def cmd_restored(args: argparse.Namespace) -> Any:
    server = SyncServer(args.data)  # catches the Merkle log up with the restored ops, signs a checkpoint
    try:
        record = server.audit.log.checkpoint()
        return mark_restored(server.node, record.note, record.size)
    finally:
        server.close()


def cmd_report(args: argparse.Namespace) -> Any:
    from sync_server.report import district_report, render_report

    with _district(args.data) as node:
        report = district_report(node, period=args.period)
    return report if args.json else render_report(report)


def cmd_serve(args: argparse.Namespace) -> Any:
    import uvicorn

    from sync_server.app import create_app

    if bool(args.tls_cert) != bool(args.tls_key):
        raise InputError("--tls-cert and --tls-key go together")
    limits = Limits(rate_per_s=args.rate, burst=max(args.rate, args.burst), max_body=args.max_body)
    SyncServer(args.data, limits=limits).close()  # fail here, with exit 1/2, on a bad data dir
    try:
        import httptools  # noqa: F401
        import uvloop  # noqa: F401

        extras = {"loop": "uvloop", "http": "httptools"}
    except ImportError:
        extras = {}
    uvicorn.run(
        create_app(args.data, limits=limits),
        host=args.host,
        port=args.port,
        ssl_certfile=args.tls_cert,
        ssl_keyfile=args.tls_key,
        log_level=args.log_level,
        access_log=args.access_log,
        timeout_graceful_shutdown=10,
        **extras,  # type: ignore[arg-type]
    )
    return None


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data", type=Path, default=None, help="data directory (default $LINLI_DATA or ./linli-data)")
    common.add_argument("--json", action="store_true", help="print one JSON document")
    parser = argparse.ArgumentParser(prog="linli-server", description="Linli district sync server")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "init",
        parents=[common],
        help="create the district node and its key",
        description="create the district node, its key and the server's tables in --data",
    )
    p.add_argument("--district", required=True, help="the district's name")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser(
        "serve",
        parents=[common],
        help="serve the sync API over HTTP(S)",
        description="serve enrolment, sync, availability, audit, Open311, /healthz and /metrics over HTTP(S)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--tls-cert", default=None, help="TLS certificate file (PEM)")
    p.add_argument("--tls-key", default=None, help="TLS private key file (PEM)")
    p.add_argument("--rate", type=float, default=Limits.rate_per_s, help="requests per second per device")
    p.add_argument("--burst", type=float, default=Limits.burst, help="request burst per device")
    p.add_argument("--max-body", type=int, default=Limits.max_body, help="largest request body in bytes")
    p.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    p.add_argument("--access-log", action="store_true", help="log every request")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "token",
        parents=[common],
        help="print a one-time enrolment token",
        description="print a one-time enrolment token for a device of --community with --role",
    )
    p.add_argument("--community", required=True, help="community id the device will belong to")
    p.add_argument("--role", required=True, choices=ROLES, help="kiosk or staff")
    p.add_argument("--ttl", default="24h", help="validity, e.g. 30m, 24h, 7d (default 24h)")
    p.set_defaults(func=cmd_token)

    p = sub.add_parser(
        "key",
        parents=[common],
        help="print the district public key (base64)",
        description="print the district public key (base64), which kiosks pin and auditors verify with",
    )
    p.set_defaults(func=cmd_key)

    p = sub.add_parser(
        "devices",
        parents=[common],
        help="list enrolled devices",
        description="list enrolled devices with their heads, last request, revocation and quarantine",
    )
    p.set_defaults(func=cmd_devices)

    p = sub.add_parser(
        "revoke",
        parents=[common],
        help="revoke a device from its next stream seq",
        description="write a device.revoke op: the device's ops from --from-seq on are refused everywhere",
    )
    p.add_argument("device", help="device id (see 'devices')")
    p.add_argument("--reason", default="", help="why (kept in the op)")
    p.add_argument("--from-seq", type=int, default=None, help="first seq refused (default: one past the last held)")
    p.add_argument(
        "--rights-to",
        default=None,
        metavar="DEVICE2",
        help="hand the device's unspent stock and points rights to DEVICE2 of the same community",
    )
    p.set_defaults(func=cmd_revoke)

    p = sub.add_parser(
        "restored",
        parents=[common],
        help="after the data folder was restored from a backup: let the kiosks bring it up to date",
        description=(
            "record that this data folder was restored from an older copy (run it with the server stopped, "
            "before 'serve'): kiosks that synced since pull again from the end of the restored log and push "
            "back what it lacks"
        ),
    )
    p.set_defaults(func=cmd_restored)

    p = sub.add_parser(
        "report",
        parents=[common],
        help="per community: open tickets, SLA, low stock, transfers, devices",
        description="the district report: per community open tickets, SLA, low stock, transfers and devices",
    )
    p.add_argument("--period", default="month", choices=["day", "week", "month", "quarter", "year"])
    p.set_defaults(func=cmd_report)

    register_audit(sub, common)  # audit export FILE, witness add|list (sync_server.cli_audit)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.data is None:
        args.data = default_data_dir()
    try:
        result = args.func(args)
    except (EdgeError, SyncError) as exc:
        print(f"linli-server {args.command}: {exc}", file=sys.stderr)
        if isinstance(exc, EdgeError):
            return exc.exit_code
        return 2 if isinstance(exc, SetupError) and exc.code == "not_initialised" else 1
    if result is None:
        return 0
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2, sort_keys=True))
    else:
        echo(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
