"""``linli-edge transfer …``, ``tool …``, ``booking …`` and ``tech lend|return|loans`` (``docs/sharing.md``).

Each leaf is ``handler(args, node) -> JSON-able`` over the ``edge.Node`` sharing methods
(``edge.domain.sharing``), except ``transfer availability``, which asks the district server
``GET /v1/district/availability?sku=`` with a signed request (the sync client's ``Linli-Sig`` header
and clock offset, over ``HttpTransport``): availability is known only online.
"""

from __future__ import annotations

import argparse
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from edge.cli.args import Handler, count, group, leaf
from edge.errors import InputError
from edge.sync import HttpTransport, ServerRefused, SyncClient, SyncFailed, Transport, unpack

if TYPE_CHECKING:
    from edge.node import Node

__all__ = ["AVAILABILITY_PATH", "district_availability", "parse_instant", "register"]

AVAILABILITY_PATH = "/v1/district/availability"
_SKU = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}$")
_TRANSFER_COLS = ("id", "src", "dst", "sku", "qty", "step", "note")
_LOAN_COLS = ("id", "sku", "household", "due_ms", "lent_ms", "returned_ms")
_BOOKING_COLS = ("id", "facility", "slot", "household", "status")
_TECH_LOAN_COLS = ("tech", "name", "to", "until_ms", "active")
_IN_FLIGHT = ("requested", "approved", "shipped")


def parse_instant(text: str) -> int:
    """An ISO 8601 date-time (``2026-05-01T18:00``, ``…+08:00`` or ``…Z``) as unix ms; no zone = local time."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date-time such as 2026-05-01T18:00+08:00") from None
    return int(when.astimezone().timestamp() * 1000)


def district_availability(node: Node, transport: Transport, sku: str) -> dict[str, Any]:
    """``{sku, communities: [{community, qty, reorder}]}`` from the district server (online only).

    Signed as every sync request is; a refusal for the clock (``stale_timestamp``) or a reused nonce
    is retried once, signed anew after the clock offset was corrected from the server's time.

    Raises:
        InputError: a malformed sku. Unreachable: no server. ServerRefused: the server said no (an
        unknown sku is 404 ``unknown_sku``). SyncFailed: a malformed answer.
    """
    if not _SKU.fullmatch(sku):
        raise InputError(f"sku {sku!r} is not letters, digits, '.', '_' or '-' (up to 40)")
    client = SyncClient(node)
    path = f"{AVAILABILITY_PATH}?{urlencode({'sku': sku})}"
    retried: set[str] = set()
    for _ in range(3):
        sent = node.store.wall()
        status, body = transport.request("GET", path, b"", client.headers("GET", path, b""))
        if status == 200:
            break
        err: ServerRefused = client.refused(status, body, sent, node.store.wall())
        if err.code in ("stale_timestamp", "replay") and err.code not in retried:
            retried.add(err.code)
            continue
        raise err
    else:
        raise SyncFailed(f"the server did not answer the availability of {sku} after retries")
    try:
        answer = unpack(body, 8 << 20)
        rows = [
            {"community": str(r["community"]), "qty": int(r["qty"]), "reorder": int(r["reorder"])}
            for r in answer["communities"]
        ]
    except Exception as exc:  # any shape error of the answer is the server's fault, said as such
        raise SyncFailed(f"the server's availability answer is malformed: {str(exc)[:200]}") from None
    return {"sku": str(answer.get("sku", sku)), "communities": rows}


# --- handlers -------------------------------------------------------------------------------------
def _availability(args: argparse.Namespace, node: Node) -> Any:
    url = node.store.get("server_url")
    if not url:
        raise InputError("this node is not enrolled: availability is asked of the district server, online")
    transport = HttpTransport(str(url), timeout=args.timeout)
    try:
        result = district_availability(node, transport, args.sku)
    finally:
        transport.close()
    return result if args.json else result["communities"]


def _request(args: argparse.Namespace, node: Node) -> Any:
    return node.request_transfer(args.sku, args.qty, args.src, note=args.note, dst=args.to, actor=args.actor)


def _step(name: str) -> Handler:
    def handler(args: argparse.Namespace, node: Node) -> Any:
        method = getattr(node, f"{name}_transfer")
        return method(args.id, note=args.note, actor=args.actor)

    return handler


def _list(args: argparse.Namespace, node: Node) -> Any:
    rows = node.transfers(all_communities=args.all)
    return [r for r in rows if r["step"] in _IN_FLIGHT] if args.open else rows


def _lend_tech(args: argparse.Namespace, node: Node) -> Any:
    return node.lend_tech(args.tech, args.to, args.until, actor=args.actor)


# --- the parser -----------------------------------------------------------------------------------
def _transfer_commands(subparsers: Any, common: argparse.ArgumentParser) -> None:
    t = group(subparsers, "transfer", "stock transfers between communities and from the district's warehouse")
    p = leaf(t, "request", "ask COMMUNITY (or 'district') for QTY of SKU", common, _request)
    p.add_argument("sku", metavar="SKU")
    p.add_argument("qty", type=count, metavar="QTY")
    p.add_argument("--from", dest="src", required=True, metavar="COMMUNITY", help="the holder, or 'district'")
    p.add_argument("--to", default=None, metavar="COMMUNITY", help="the receiver (district only; default this one)")
    p.add_argument("--note", default="", help="why (shown to the holder)")
    for name, what in (
        ("approve", "approve a request for your community's stock (refused if the stock is not there)"),
        ("decline", "decline a request for your community's stock"),
        ("ship", "ship an approved transfer: its stock leaves, within this device's rights"),
        ("arrive", "mark a shipped transfer arrived: its stock is received here"),
    ):
        p = leaf(t, name, what, common, _step(name))
        p.add_argument("id", metavar="ID", help="transfer id, or its last part after ':'")
        p.add_argument("--note", default="", help="a note kept with the step")
    p = leaf(t, "list", "transfers to or from this community, newest first", common, _list, columns=_TRANSFER_COLS)
    p.add_argument("--all", action="store_true", help="every transfer this node holds")
    p.add_argument("--open", action="store_true", help="only those in flight (requested, approved, shipped)")
    what = "stock of SKU in every community, asked of the district server (online only)"
    p = leaf(t, "availability", what, common, _availability, columns=("community", "qty", "reorder"))
    p.add_argument("sku", metavar="SKU")
    p.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for the server (default 15)")


def _lending_commands(subparsers: Any, common: argparse.ArgumentParser) -> None:
    tool = group(subparsers, "tool", "lending shared tools to households")
    p = leaf(tool, "lend", "lend a tool to a household (one unit leaves stock)", common, _tool_lend)
    p.add_argument("sku", metavar="SKU")
    p.add_argument("household", metavar="HOUSEHOLD")
    p.add_argument("--days", type=count, default=7, metavar="N", help="due back in N days (1 to 60, default 7)")
    p = leaf(tool, "return", "a lent tool came back (one unit returns to stock)", common, _tool_return)
    p.add_argument("loan", metavar="LOAN", help="the loan id")
    p = leaf(tool, "loans", "open loans (or only overdue ones)", common, _tool_loans, columns=_LOAN_COLS)
    p.add_argument("--overdue", action="store_true", help="only loans past their due date")

    booking = group(subparsers, "booking", "bookings of shared facilities (activity room, ...)")
    p = leaf(booking, "make", "book FACILITY at SLOT (YYYY-MM-DDTHH:MM) for HOUSEHOLD", common, _book)
    p.add_argument("facility", metavar="FACILITY")
    p.add_argument("slot", metavar="SLOT")
    p.add_argument("household", metavar="HOUSEHOLD")
    what = "bookings: confirmed, bumped by a concurrent one, or cancelled"
    p = leaf(booking, "list", what, common, _bookings, columns=_BOOKING_COLS)
    p.add_argument("--facility", default=None, help="only this facility")
    p = leaf(booking, "cancel", "cancel a booking (the next one for the slot takes it)", common, _cancel)
    p.add_argument("booking", metavar="ID")
    p.add_argument("--reason", default="", help="why")

    tech = group(subparsers, "tech", "technicians")
    p = leaf(tech, "lend", "lend a shared-pool technician to a community until a time (district)", common, _lend_tech)
    p.add_argument("tech", metavar="TECH", help="technician id or name")
    p.add_argument("--to", required=True, metavar="COMMUNITY", help="the borrowing community")
    p.add_argument("--until", required=True, type=parse_instant, metavar="ISO", help="e.g. 2026-05-01T18:00+08:00")
    p = leaf(tech, "return", "end a shared technician's loan now (district)", common, _tech_return)
    p.add_argument("tech", metavar="TECH", help="technician id or name")
    what = "loans of shared technicians (to this community, or every loan on the district)"
    leaf(tech, "loans", what, common, _loans, columns=_TECH_LOAN_COLS)


def _tool_lend(a: argparse.Namespace, n: Node) -> Any:
    return n.lend_tool(a.sku, a.household, a.days, actor=a.actor)


def _tool_return(a: argparse.Namespace, n: Node) -> Any:
    return n.return_tool(a.loan, actor=a.actor)


def _tool_loans(a: argparse.Namespace, n: Node) -> Any:
    return n.loans(overdue=a.overdue)


def _book(a: argparse.Namespace, n: Node) -> Any:
    return n.book(a.facility, a.slot, a.household, actor=a.actor)


def _bookings(a: argparse.Namespace, n: Node) -> Any:
    return n.bookings(a.facility)


def _cancel(a: argparse.Namespace, n: Node) -> Any:
    return n.cancel_booking(a.booking, reason=a.reason, actor=a.actor)


def _tech_return(a: argparse.Namespace, n: Node) -> Any:
    return n.end_tech_loan(a.tech, actor=a.actor)


def _loans(a: argparse.Namespace, n: Node) -> Any:
    return n.tech_loans()


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add ``transfer …``, ``tool …``, ``booking …`` and ``tech lend|return|loans``."""
    _transfer_commands(subparsers, common)
    _lending_commands(subparsers, common)
