"""``linli-edge``: the staff command line of a node (``docs/cli.md``), a thin layer over ``edge.Node``.

Every subcommand takes ``--data DIR`` (default ``$LINLI_DATA``, then ``./linli-data``), ``--json``
(print one JSON document) and ``--actor ID`` (who is acting; recorded as the op's actor). A leaf parser
carries ``func`` (``handler(args, node) -> JSON-able result``) and ``needs_node`` in its defaults;
``main`` opens the node when needed, calls the handler, prints the result and maps errors to exit
codes: 0 success, 1 refused by a rule, 2 usage or input error, with a one-line reason on stderr.

The other subcommands live beside this module, each with ``register(subparsers, common)``:
``edge.cli.sync`` (enroll, sync, run), ``edge.cli.audit`` (audit …), ``edge.cli.ops`` (dispatch, kpi)
and ``edge.cli.share`` (transfer, tool, booking, tech lend).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edge.cli import audit as cli_audit
from edge.cli import ops as cli_ops
from edge.cli import share as cli_share
from edge.cli import sync as cli_sync
from edge.cli.args import Handler, answer, common_parser, count, csv_list, group, leaf, position, whole
from edge.cli.output import render
from edge.domain.fields import URGENCIES
from edge.domain.people import TECH_STATUSES, TIERS
from edge.domain.stock import ITEM_KINDS
from edge.errors import EdgeError, InputError, StoreError
from edge.node import Node, default_data_dir
from edge.types import Ticket

__all__ = ["build_parser", "leaf_commands", "main"]


# Columns of the human tables (``--json`` prints every key).
TICKET_COLUMNS = ("code", "unit", "category", "urgency", "status", "assignee", "conflict", "hold_reason")
_STOCK_COLS = ("sku", "qty", "rights", "name_en", "name_zh", "kind", "emergency", "ration", "reorder")
_HH_COLS = ("id", "vulnerable", "has_pin", "name", "phone")
_TECH_COLS = ("id", "name", "tier", "skills", "certs", "status", "shared", "home", "phone")
_ITEM_COLS = ("sku", "scope", "name_zh", "name_en", "kind", "emergency", "ration", "reorder")
_NOTICE_COLS = ("id", "scope", "title_zh", "title_en", "posted_ms", "until_ms")


# --- handlers -------------------------------------------------------------------------------------
def _data_dir(args: argparse.Namespace) -> Path:
    return Path(args.data) if args.data is not None else default_data_dir()


def _init(args: argparse.Namespace, node: None) -> dict[str, Any]:
    with Node.init(_data_dir(args), args.community, role=args.role) as new:
        return {"device": new.dev, "community": new.community, "role": new.role, "data": str(new.data_dir)}


def _digest(args: argparse.Namespace, node: Node) -> dict[str, Any]:
    return {"digest": node.digest(args.scope), "scope": args.scope or "all"}


def _rebuild(args: argparse.Namespace, node: Node) -> dict[str, Any]:
    result = node.rebuild()
    if not result["same"]:
        raise StoreError(
            f"rebuild changed the digest from {result['digest_before']} to {result['digest']}: "
            "the views had drifted from the op log (they now match it)"
        )
    return result


def _report(args: argparse.Namespace, node: Node) -> Ticket:
    answers: dict[str, bool] = {}
    for key, value in args.answer or []:
        if key in answers and answers[key] != value:
            raise InputError(f"triage question {key!r} answered both yes and no")
        answers[key] = value
    return node.report(
        args.unit,
        args.category,
        args.text,
        urgency=args.urgency,
        household=args.household,
        answers=answers,
        contact=args.contact,
        actor=args.actor,
    )


def _mode(args: argparse.Namespace, node: Node) -> dict[str, Any]:
    if args.mode is not None:
        node.set_mode(args.mode, args.reason, actor=args.actor, scope=args.scope)
    status = node.status()
    return {
        "community": node.community,
        "mode": status["mode"],
        "declared_mode": status["declared_mode"],
        "declarations": status["mode_declarations"],
    }


def _hold(args: argparse.Namespace, node: Node) -> Ticket:
    reason = None if args.reason.lower() == "none" else args.reason
    return node.hold(args.code, reason, actor=args.actor)


HANDLERS: dict[str, Handler] = {
    "status": lambda a, n: n.status(),
    "ticket list": lambda a, n: n.tickets(open_only=a.open),
    "ticket show": lambda a, n: n.ticket(a.code),
    "ticket advance": lambda a, n: n.advance(a.code, a.stage, reason=a.reason, actor=a.actor),
    "ticket assign": lambda a, n: n.assign(a.code, a.tech, actor=a.actor),
    "ticket comment": lambda a, n: n.comment(a.code, a.text, actor=a.actor),
    "ticket rate": lambda a, n: n.rate(a.code, a.rating, comment=a.comment, actor=a.actor),
    "stock receive": lambda a, n: n.receive(a.sku, a.qty, reason=a.reason, actor=a.actor),
    "stock issue": lambda a, n: n.issue(
        a.sku, a.qty, household=a.household, ticket=a.ticket, reason=a.reason, actor=a.actor
    ),
    "stock list": lambda a, n: n.stock(),
    "points award": lambda a, n: n.award(a.household, a.n, a.reason, actor=a.actor),
    "points redeem": lambda a, n: n.redeem(a.household, a.n, a.reward, pin=a.pin, actor=a.actor),
    "points balance": lambda a, n: n.balance(a.household),
    "points move-rights": lambda a, n: n.move_points_rights(a.household, a.n, a.to, actor=a.actor),
    "stock move-rights": lambda a, n: n.move_stock_rights(a.sku, a.qty, a.to, actor=a.actor),
    "household add": lambda a, n: n.add_household(
        a.unit, vulnerable=a.vulnerable, pin=a.pin, name=a.name, phone=a.phone, actor=a.actor
    ),
    "household list": lambda a, n: n.households(),
    "tech add": lambda a, n: n.add_tech(
        a.name, a.skills, a.tier, certs=a.certs, shared=a.shared, pos=a.pos, phone=a.phone, actor=a.actor
    ),
    "tech list": lambda a, n: n.techs(),
    "tech status": lambda a, n: n.tech_status(a.tech, a.status, actor=a.actor),
    "item add": lambda a, n: n.add_item(
        a.sku,
        a.name_zh,
        a.name_en,
        kind=a.kind,
        emergency=a.emergency,
        ration=a.ration,
        reorder=a.reorder,
        actor=a.actor,
    ),
    "item update": lambda a, n: n.update_item(
        a.sku,
        name_zh=a.name_zh,
        name_en=a.name_en,
        kind=a.kind,
        emergency=a.emergency,
        ration=a.ration,
        reorder=a.reorder,
        actor=a.actor,
    ),
    "item list": lambda a, n: n.items(),
    "staff add": lambda a, n: n.add_staff(a.staff_id, a.pin, role=a.role, name=a.name, actor=a.actor),
    "staff list": lambda a, n: n.staff(),
    "notice post": lambda a, n: n.post_notice(
        a.title_zh, a.title_en, a.body_zh, a.body_en, until_ms=a.until_ms, actor=a.actor
    ),
    "notice list": lambda a, n: n.notices(),
}


# --- the parser -----------------------------------------------------------------------------------
def _ticket_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    t = group(sub, "ticket", "repair tickets: report, list, show, advance, assign, comment, rate, hold")
    p = leaf(t, "report", "report a repair; triage answers set the urgency unless --urgency is given", common, _report)
    p.add_argument("--unit", required=True, help="the unit (flat) with the problem, e.g. 3-1201")
    p.add_argument("--category", required=True, help="water, electrical, gas, lift, door, fire, structure, ...")
    p.add_argument("--text", required=True, help="what is wrong (up to 2,000 characters)")
    p.add_argument("--urgency", choices=URGENCIES, help="set the urgency instead of triage")
    p.add_argument("--household", help="the reporting household (its unit string)")
    p.add_argument("--answer", type=answer, action="append", metavar="KEY=yes|no", help="a triage answer")
    p.add_argument("--contact", default="", metavar="PHONE", help="a contact number")
    p = leaf(t, "list", "list tickets, newest first", common, HANDLERS["ticket list"], columns=TICKET_COLUMNS)
    p.add_argument("--open", action="store_true", help="only tickets not resolved, closed or cancelled")
    p = leaf(t, "show", "one ticket with its stage times, notes and assigns", common, HANDLERS["ticket show"])
    p.add_argument("code", metavar="CODE", help="ticket code (or id)")
    p = leaf(t, "advance", "move a ticket to STAGE (or reopen it)", common, HANDLERS["ticket advance"])
    p.add_argument("code", metavar="CODE")
    p.add_argument("stage", metavar="STAGE", help="triaged, assigned, en_route, on_site, resolved, closed, ...")
    p.add_argument("--reason", help="close reason: fixed, duplicate, referred, no_further_action, unable_to_fix")
    p = leaf(t, "assign", "assign a technician (resolves an assignment conflict)", common, HANDLERS["ticket assign"])
    p.add_argument("code", metavar="CODE")
    p.add_argument("tech", metavar="TECH", help="technician id or name")
    p = leaf(t, "comment", "add a comment to a ticket", common, HANDLERS["ticket comment"])
    p.add_argument("code", metavar="CODE")
    p.add_argument("text", metavar="TEXT")
    p = leaf(t, "rate", "the resident's rating, 1 to 5, of a resolved ticket", common, HANDLERS["ticket rate"])
    p.add_argument("code", metavar="CODE")
    p.add_argument("rating", type=whole, metavar="1-5")
    p.add_argument("--comment", default="", help="the resident's words")
    p = leaf(t, "hold", "put a ticket on hold for REASON, or release it with 'none'", common, _hold)
    p.add_argument("code", metavar="CODE")
    p.add_argument("reason", metavar="REASON|none", help="awaiting_parts, no_access, awaiting_resident or none")


def _stock_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    s = group(sub, "stock", "the parts micro-warehouse and emergency supplies")
    p = leaf(s, "receive", "stock in (gives this device the rights to it)", common, HANDLERS["stock receive"])
    p.add_argument("sku", metavar="SKU")
    p.add_argument("qty", type=count, metavar="QTY")
    p.add_argument("--reason", default="", help="why (delivery note, donation, ...)")
    p = leaf(s, "issue", "stock out, within this device's rights", common, HANDLERS["stock issue"])
    p.add_argument("sku", metavar="SKU")
    p.add_argument("qty", type=count, metavar="QTY")
    p.add_argument("--household", help="the household receiving it (required for rationed supplies)")
    p.add_argument("--ticket", metavar="CODE", help="the ticket the part is used on")
    p.add_argument("--reason", default="", help="why")
    leaf(s, "list", "stock levels and this device's rights", common, HANDLERS["stock list"], columns=_STOCK_COLS)
    p = leaf(
        s,
        "move-rights",
        "give this device's rights to a sku to another device of the community",
        common,
        HANDLERS["stock move-rights"],
    )
    p.add_argument("sku", metavar="SKU")
    p.add_argument("qty", type=count, metavar="QTY")
    p.add_argument("--to", required=True, metavar="DEVICE", help="an enrolled, unrevoked device of this community")


def _people_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    pts = group(sub, "points", "volunteer points per household")
    p = leaf(pts, "award", "award points for volunteering", common, HANDLERS["points award"])
    p.add_argument("household", metavar="HOUSEHOLD")
    p.add_argument("n", type=count, metavar="N")
    p.add_argument("--reason", required=True, help="what the points are for")
    p = leaf(pts, "redeem", "spend points on a reward (never below zero)", common, HANDLERS["points redeem"])
    p.add_argument("household", metavar="HOUSEHOLD")
    p.add_argument("n", type=count, metavar="N")
    p.add_argument("--reward", required=True, help="what the points buy")
    p.add_argument("--pin", help="the household's PIN, checked when given")
    p = leaf(pts, "balance", "a household's balance and history", common, HANDLERS["points balance"])
    p.add_argument("household", metavar="HOUSEHOLD")
    p = leaf(
        pts,
        "move-rights",
        "give this device's rights to a household's points to another device",
        common,
        HANDLERS["points move-rights"],
    )
    p.add_argument("household", metavar="HOUSEHOLD")
    p.add_argument("n", type=count, metavar="N")
    p.add_argument("--to", required=True, metavar="DEVICE", help="an enrolled, unrevoked device of this community")

    hh = group(sub, "household", "households (by unit)")
    p = leaf(hh, "add", "register a household", common, HANDLERS["household add"])
    p.add_argument("unit", metavar="UNIT")
    p.add_argument("--vulnerable", type=csv_list, default=[], metavar="elderly_alone,disabled,...")
    p.add_argument("--pin", help="a 4 to 8 digit PIN for the kiosk (stored only as a hash)")
    p.add_argument("--name", default="", help="contact name")
    p.add_argument("--phone", default="", help="contact phone")
    leaf(hh, "list", "registered households", common, HANDLERS["household list"], columns=_HH_COLS)

    tech = group(sub, "tech", "technicians: core contractors, certified part-timers, volunteers")
    p = leaf(tech, "add", "add a technician", common, HANDLERS["tech add"])
    p.add_argument("name", metavar="NAME")
    p.add_argument("--skills", type=csv_list, required=True, metavar="water,electrical,...")
    p.add_argument("--certs", type=csv_list, default=[], metavar="gas,electrical")
    p.add_argument("--tier", required=True, choices=TIERS)
    p.add_argument("--shared", action="store_true", help="a district shared-pool technician (district only)")
    p.add_argument("--pos", type=position, metavar="X,Y", help="where the technician is based")
    p.add_argument("--phone", default="", help="contact phone")
    leaf(tech, "list", "technicians", common, HANDLERS["tech list"], columns=_TECH_COLS)
    p = leaf(tech, "status", "set a technician's availability", common, HANDLERS["tech status"])
    p.add_argument("tech", metavar="TECH", help="technician id or name")
    p.add_argument("status", choices=TECH_STATUSES)

    staff = group(sub, "staff", "staff accounts (PIN login at the kiosk)")
    p = leaf(staff, "add", "add a staff member", common, HANDLERS["staff add"])
    p.add_argument("staff_id", metavar="STAFF_ID")
    p.add_argument("--pin", required=True, help="4 to 8 digits (stored only as a hash)")
    p.add_argument("--role", default="staff", choices=("staff", "manager"))
    p.add_argument("--name", default="", help="display name")
    leaf(staff, "list", "staff accounts (never their PIN hashes)", common, HANDLERS["staff list"])


def _catalogue_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    item = group(sub, "item", "the catalogue of parts, supplies and tools")
    p = leaf(item, "add", "add a catalogue item", common, HANDLERS["item add"])
    p.add_argument("sku", metavar="SKU")
    p.add_argument("--name-zh", required=True, help="Chinese name")
    p.add_argument("--name-en", required=True, help="English name")
    p.add_argument("--kind", default="part", choices=ITEM_KINDS)
    p.add_argument("--emergency", action="store_true", help="an emergency supply (rationed in emergency mode)")
    p.add_argument("--ration", type=whole, metavar="N", help="units per household per day in emergency mode")
    p.add_argument("--reorder", type=whole, default=0, metavar="N", help="reorder when stock falls to N")
    p = leaf(item, "update", "change a catalogue item, e.g. its emergency ration", common, HANDLERS["item update"])
    p.add_argument("sku", metavar="SKU")
    p.add_argument("--name-zh", help="Chinese name")
    p.add_argument("--name-en", help="English name")
    p.add_argument("--kind", choices=ITEM_KINDS)
    p.add_argument("--emergency", action=argparse.BooleanOptionalAction, help="an emergency supply (or not)")
    p.add_argument("--ration", type=whole, metavar="N", help="units per household per day in emergency mode")
    p.add_argument("--reorder", type=whole, metavar="N", help="reorder when stock falls to N")
    leaf(item, "list", "catalogue items", common, HANDLERS["item list"], columns=_ITEM_COLS)

    notice = group(sub, "notice", "notices shown on the kiosk")
    p = leaf(notice, "post", "post a notice in both languages", common, HANDLERS["notice post"])
    p.add_argument("--title-zh", required=True)
    p.add_argument("--title-en", required=True)
    p.add_argument("--body-zh", required=True)
    p.add_argument("--body-en", required=True)
    p.add_argument("--until-ms", type=whole, metavar="MS", help="hide it after this unix time in ms")
    leaf(notice, "list", "current notices", common, HANDLERS["notice list"], columns=_NOTICE_COLS)


def build_parser() -> argparse.ArgumentParser:
    """The ``linli-edge`` parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="linli-edge",
        description="Linli community node: tickets, stock, points and people, offline first.",
    )
    common = common_parser()
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    p = leaf(sub, "init", "create keys and an empty store (works offline)", common, _init, needs_node=False)
    p.add_argument("--community", required=True, help="community id: lower-case letters, digits, - or _")
    p.add_argument("--role", default="kiosk", choices=("kiosk", "staff", "district"))
    leaf(sub, "status", "device, mode, sync and alarm status", common, HANDLERS["status"])
    p = leaf(sub, "digest", "SHA-256 of the materialised views (all, or one scope)", common, _digest)
    p.add_argument("--scope", help="community id or 'district'")
    leaf(sub, "rebuild", "recreate every view from the op log; the digest must not change", common, _rebuild)
    p = leaf(sub, "mode", "print the mode, or declare normal or emergency", common, _mode)
    p.add_argument("mode", nargs="?", choices=("normal", "emergency"))
    p.add_argument("--reason", default="", help="why (shown to staff)")
    p.add_argument("--scope", help="scope to declare in (default this node's; the district: district or a community)")
    _ticket_commands(sub, common)
    _stock_commands(sub, common)
    _people_commands(sub, common)
    _catalogue_commands(sub, common)
    for module in (cli_sync, cli_audit, cli_ops, cli_share):
        module.register(sub, common)
    return parser


def leaf_commands(parser: argparse.ArgumentParser, prefix: str = "") -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every runnable subcommand as ``("ticket report", its parser)``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                full = f"{prefix} {name}".strip()
                if any(isinstance(a, argparse._SubParsersAction) for a in child._actions):
                    yield from leaf_commands(child, full)
                else:
                    yield full, child


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    """Run ``linli-edge`` with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        node = Node.open(args.data) if getattr(args, "needs_node", True) else None
        try:
            result = args.func(args, node)
        finally:
            if node is not None:
                node.close()
    except EdgeError as exc:
        print(f"linli-edge: {_one_line(exc)}", file=sys.stderr)
        return exc.exit_code
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2, default=str))
    else:
        print(render(result, getattr(args, "columns", None)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
