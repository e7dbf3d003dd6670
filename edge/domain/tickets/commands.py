"""Ticket commands: each checks its rule and emits its ops inside one ``ctx.store.tx()``.

The status write rule (:func:`~edge.domain.tickets.rules.check_transition`) and the "already
assigned" and "only resolved tickets are rated" checks read the ticket through the transaction's
connection, so two writers on one device cannot both pass a rule only one may.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from crdt.ids import new_ulid
from edge.domain import devices, inputs, people
from edge.domain.context import Context
from edge.domain.fields import CATEGORIES, URGENCIES
from edge.domain.tickets.queries import Assign, Ticket, TicketDetail, find, notes, stage_times
from edge.domain.tickets.rules import (
    CLOSE_REASONS,
    HOLD_REASONS,
    STAGES,
    check_transition,
    live_assigns,
    reopen_target,
)
from edge.errors import InputError, InvalidTransition, StoreError, UnknownEntity, UnknownTicket
from edge.store import Tx

__all__ = ["Triage", "advance", "assign", "comment", "detail", "get", "hold", "next_code", "rate", "report"]

Triage = Callable[[str, Mapping[str, bool], bool], str]
"""``(category, answers, vulnerable) -> urgency``: the triage table (``edge.services.sla``)."""


def get(ctx: Context, ref: str) -> Ticket:
    """A ticket this node reads, by id or short code.

    Raises:
        UnknownTicket: none here (a community node sees its own and the district's).
    """
    t = find(ctx.conn, ref, None if ctx.is_district else ctx.scopes)
    if t is None:
        raise UnknownTicket(f"no ticket {ref!r} in community {ctx.community}")
    return t


def detail(ctx: Context, ref: str) -> TicketDetail:
    """One ticket with stage times, notes and live assigns."""
    t = get(ctx, ref)
    times = sorted(stage_times(ctx.conn, t["id"]).items())
    return TicketDetail(
        **t,
        stage_times={f"{e}:{s}": w for (e, s), w in times},
        notes=notes(ctx.conn, t["id"]),
        assigns=[Assign(op=a[0], tech=a[1], wall=a[2]) for a in live_assigns(ctx.conn, t["id"])],
    )


def next_code(ctx: Context, tx: Tx, scope: str) -> str:
    """A short code ``<community letters><device number>-<n>``, e.g. ``A7-0042``, that no ticket held has yet.

    Codes are unique in the district: the device number is the one the district assigned at enrolment
    (unique there, ``0`` for the district itself), the prefix is letters then digits so it parses one
    way only, and only this device writes codes with its prefix. A device whose enrolment it does not
    hold yet uses ``<letters>L<two letters of its id>``, which ends in a letter and so never equals an
    enrolled prefix. The number counts the tickets held with that prefix, skipping any taken.
    """
    letters = "".join(c for c in scope.upper() if "A" <= c <= "Z")[:3] or "X"
    number = 0 if ctx.is_district else devices.device_number(tx.conn, ctx.dev)
    if number is None:
        own = "".join(c for c in ctx.dev.upper() if "A" <= c <= "Z")[:2] or "XX"
        prefix = f"{letters}L{own}-"
    else:
        prefix = f"{letters}{number}-"
    n = int(
        tx.conn.execute(
            "SELECT COUNT(*) FROM tickets WHERE code >= ? AND code < ?", (prefix, prefix[:-1] + ".")
        ).fetchone()[0]
    )
    for k in range(n + 1, 2 * n + 2):
        code = f"{prefix}{k:04d}"
        if tx.conn.execute("SELECT 1 FROM tickets WHERE code=?", (code,)).fetchone() is None:
            return code
    raise StoreError(f"no free ticket code with prefix {prefix} among {n} tickets")


def report(
    ctx: Context,
    unit: str,
    category: str,
    text: str,
    *,
    triage: Triage,
    urgency: str | None = None,
    household: str | None = None,
    answers: dict[str, bool] | None = None,
    contact: str = "",
    actor: str | None = None,
) -> Ticket:
    """Report a repair; the triage answers (and a vulnerable household) set the urgency unless given.

    Raises:
        InputError: empty or oversized text, unknown category, urgency or triage question.
        UnknownEntity: no such household.
    """
    unit = inputs.unit(unit)
    text = inputs.text(text, "description")
    if category not in CATEGORIES:
        raise InputError(f"unknown category {category!r}; one of {', '.join(CATEGORIES)}")
    if urgency is not None and urgency not in URGENCIES:
        raise InputError(f"urgency {urgency!r} is not one of {', '.join(URGENCIES)}")
    answers = dict(answers or {})
    for k, v in answers.items():
        if not isinstance(v, bool):
            raise InputError(f"triage answer {k!r} must be yes or no")
    vulnerable = False
    if household is not None:
        hh = people.find_household(ctx.conn, ctx.community, household)
        if hh is None:
            raise UnknownEntity(f"no household {household!r} in community {ctx.community}")
        vulnerable = bool(hh["vulnerable"])
        if "elderly_alone" in hh["vulnerable"]:
            answers.setdefault("elderly_alone", True)
    try:
        level = urgency or triage(category, answers, vulnerable)
    except InputError as exc:
        raise InputError(str(exc)) from None
    ticket_id = new_ulid(ctx.now_ms())
    with ctx.store.tx() as tx:
        fields: dict[str, Any] = {
            "code": next_code(ctx, tx, ctx.community),
            "unit": unit,
            "category": category,
            "urgency": level,
            "text": text,
            "contact": contact,
            "household": household,
            "answers": answers,
        }
        tx.emit(ctx.community, "ticket.create", ticket_id, fields, actor)
    return get(ctx, ticket_id)


def advance(ctx: Context, ref: str, stage: str, *, reason: str | None = None, actor: str | None = None) -> Ticket:
    """Move a ticket to ``stage`` (or ``reopen``); the write rule of the status lattice applies.

    Raises:
        UnknownTicket; InputError: an unknown stage or close reason; InvalidTransition: the lattice's
        write rule refuses the step (e.g. back from resolved to en_route).
    """
    with ctx.store.tx() as tx:
        t = get(ctx, ref)
        if stage == "reopen":
            target = reopen_target((t["epoch"], t["stage"]))
        elif stage in STAGES:
            target = (t["epoch"], stage)
        else:
            raise InputError(f"unknown stage {stage!r}; one of {', '.join(STAGES)} or reopen")
        if reason is not None and reason not in CLOSE_REASONS:
            raise InputError(f"close reason {reason!r} is not one of {', '.join(CLOSE_REASONS)}")
        if target[1] == "closed" and reason is None:
            reason = "fixed"
        try:
            check_transition((t["epoch"], t["stage"]), target)
        except InvalidTransition as exc:
            raise InvalidTransition(f"ticket {t['code']}: {exc}") from None
        data: dict[str, Any] = {"epoch": target[0], "stage": target[1]}
        if reason is not None and target[1] in ("closed", "cancelled", "resolved"):
            data["reason"] = reason
        tx.emit(t["scope"], "ticket.stage", t["id"], data, actor)
    return get(ctx, t["id"])


def assign(ctx: Context, ref: str, tech: str, *, actor: str | None = None, if_unassigned: bool = False) -> Ticket:
    """Assign a technician; supersedes every live assign this node sees (resolving a conflict).

    With ``if_unassigned`` (the dispatcher's own assigns) a ticket that has an assignee by the time the
    transaction starts is refused (``InvalidTransition``) rather than taken from whoever assigned it.
    """
    with ctx.store.tx() as tx:
        t = get(ctx, ref)
        if if_unassigned and t["assignee"]:
            raise InvalidTransition(f"ticket {t['code']} is already assigned to {t['assignee']}; left as it is")
        if t["stage"] in ("resolved", "closed", "cancelled"):
            raise InvalidTransition(f"ticket {t['code']} is {t['stage']}; reopen it before assigning")
        tech_row = people.get_tech(ctx, tech)
        live = [a[0] for a in live_assigns(tx.conn, t["id"])]
        tx.emit(t["scope"], "ticket.assign", t["id"], {"tech": tech_row["id"], "supersedes": live}, actor)
        if STAGES.index(t["stage"]) < STAGES.index("assigned"):
            tx.emit(t["scope"], "ticket.stage", t["id"], {"epoch": t["epoch"], "stage": "assigned"}, actor)
    return get(ctx, t["id"])


def comment(ctx: Context, ref: str, text: str, *, actor: str | None = None) -> TicketDetail:
    """Add a comment; returns the ticket with its notes."""
    t = get(ctx, ref)
    with ctx.store.tx() as tx:
        tx.emit(t["scope"], "ticket.comment", t["id"], {"text": inputs.text(text, "comment")}, actor)
    return detail(ctx, t["id"])


def hold(ctx: Context, ref: str, reason: str | None, *, actor: str | None = None) -> Ticket:
    """Put a ticket on hold (one of :data:`HOLD_REASONS`) or release it (``None``)."""
    t = get(ctx, ref)
    if reason is not None and reason not in HOLD_REASONS:
        raise InputError(f"hold reason {reason!r} is not one of {', '.join(HOLD_REASONS)}")
    with ctx.store.tx() as tx:
        tx.emit(t["scope"], "ticket.hold", t["id"], {"reason": reason}, actor)
    return get(ctx, t["id"])


def rate(ctx: Context, ref: str, rating: int, *, comment: str = "", actor: str | None = None) -> Ticket:
    """Rate a resolved or closed ticket 1 to 5.

    Raises:
        InputError: not a whole number from 1 to 5; InvalidTransition: the ticket is not resolved or closed.
    """
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise InputError(f"rating {rating!r} is not a whole number from 1 to 5")
    with ctx.store.tx() as tx:
        t = get(ctx, ref)
        if t["stage"] not in ("resolved", "closed"):
            raise InvalidTransition(f"ticket {t['code']} is {t['stage']}; only resolved or closed tickets are rated")
        tx.emit(t["scope"], "ticket.rate", t["id"], {"rating": rating, "comment": comment}, actor)
    return get(ctx, t["id"])
