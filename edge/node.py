"""``edge.Node``: the facade the CLI, the kiosk UI and the sync client use; one method per action.

A node lives in a data directory: ``device.key`` (mode 0600) and ``edge.sqlite3``. ``Node`` owns the
lifecycle (init, open, close), status, digest and rebuild; every other method is a thin delegation to
a domain command (``edge.domain.<domain>``) or a service (``edge.services``) over one
:class:`~edge.domain.context.Context`. Each command writes its ops through ``Store.tx`` (one
``BEGIN IMMEDIATE`` transaction, its rules checked inside it) and returns plain dicts; every refusal is
an ``EdgeError`` that says what and why.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from crdt.keys import DeviceKey, device_id
from edge.audit import client as audit
from edge.domain import lending, modes, notices, people, points, stock, tickets, transfers
from edge.domain.context import Context
from edge.errors import Duplicate, InputError, NotInitialised
from edge.services import autodispatch, dispatch_inputs, operations, sla
from edge.store import Identity, Store
from edge.store import digest as _digest
from edge.store.db import write_tx
from edge.types import Balance, DispatchPlan, NodeStatus, StockLevel, Ticket, TicketDetail

__all__ = ["DB_FILE", "KEY_FILE", "Node", "default_data_dir"]

KEY_FILE = "device.key"
DB_FILE = "edge.sqlite3"


def default_data_dir() -> Path:
    """``$LINLI_DATA``, else ``./linli-data``."""
    return Path(os.environ.get("LINLI_DATA") or "linli-data")


class Node:
    """A community (or district) node over its data directory."""

    def __init__(self, data_dir: Path, store: Store) -> None:
        self.data_dir = data_dir
        self.store = store
        self.ctx = Context.of(store)
        self.community, self.role, self.dev = self.ctx.community, self.ctx.role, self.ctx.dev

    # --- lifecycle ----------------------------------------------------------------------------
    @classmethod
    def init(cls, data_dir: str | os.PathLike[str], community: str, role: str = "kiosk", **kw: Any) -> Node:
        """Create keys and an empty store in ``data_dir`` (works offline).

        Raises:
            InputError: a bad community id or role; Duplicate: a node already lives there.
        """
        d = Path(data_dir)
        if not community or not community.replace("-", "").replace("_", "").isalnum() or community != community.lower():
            raise InputError(f"community id {community!r} must be lower-case letters, digits, '-' or '_'")
        if role not in ("kiosk", "staff", "district"):
            raise InputError(f"role {role!r} is not kiosk, staff or district")
        for name in (KEY_FILE, DB_FILE):
            if (d / name).exists():
                raise Duplicate(f"a node already lives in {d} ({name} exists)")
        d.mkdir(parents=True, exist_ok=True)
        os.chmod(d, 0o700)
        key = DeviceKey.generate()
        key.save(d / KEY_FILE)
        store = Store(d / DB_FILE, Identity(key, community, role), **kw)
        with write_tx(store.conn) as conn:
            store.meta_set(conn, "community", community)
            store.meta_set(conn, "role", role)
            store.meta_set(conn, "device", key.device_id)
            if role == "district":
                store.meta_set(conn, "district_pubkey", key.public_bytes.hex())
                store.meta_set(conn, "district_dev", key.device_id)
        return cls(d, store)

    @classmethod
    def open(cls, data_dir: str | os.PathLike[str] | None = None, **kw: Any) -> Node:
        """Open the node in ``data_dir`` (default ``$LINLI_DATA`` or ``./linli-data``).

        Raises:
            NotInitialised: no node there.
        """
        d = Path(data_dir) if data_dir is not None else default_data_dir()
        if not (d / KEY_FILE).exists() or not (d / DB_FILE).exists():
            raise NotInitialised(f"no node in {d}: run 'linli-edge init --data {d} --community ID'")
        key = DeviceKey.load(d / KEY_FILE)
        probe = Store(d / DB_FILE, Identity(key, "?", "kiosk"), **kw)
        community = str(probe.get("community"))
        role = str(probe.get("role", "kiosk"))
        district = probe.get("district_pubkey")
        probe.close()
        trusted = {}
        if district:
            pub = bytes.fromhex(district)
            trusted[device_id(pub)] = pub
        store = Store(d / DB_FILE, Identity(key, community, role), trusted_keys=trusted, **kw)
        return cls(d, store)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Node:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def conn(self) -> sqlite3.Connection:
        return self.store.conn

    @property
    def scopes(self) -> list[str]:
        """The scopes this node reads: its community, then the district."""
        return self.ctx.scopes

    # --- status, digest, rebuild -------------------------------------------------------------------
    def now_ms(self) -> int:
        return self.ctx.now_ms()

    def mode(self) -> str:
        """The effective mode: ``emergency``, ``offline`` or ``normal`` (``edge.domain.modes``)."""
        return modes.current(self.ctx)

    def set_mode(
        self, mode: str, reason: str = "", actor: str | None = None, scope: str | None = None
    ) -> dict[str, Any]:
        """Declare ``normal`` or ``emergency`` in ``scope``: ``{scope, mode, declared_by}``."""
        return modes.set_mode(self.ctx, mode, reason, actor, scope)

    def status(self) -> NodeStatus:
        """``{device, community, mode, last_sync, pending, clock_skew, audit_alarm, ...}``."""
        pushed = self.store.get("pushed", {})
        pending = 0
        for key, seq in self.store.heads().items():
            dev, scope = key.split("/")
            if dev == self.dev:
                pending += max(0, seq - int(pushed.get(key, 0)))
        flags = self.conn.execute("SELECT dev, flag, detail FROM flags").fetchall()
        skew = [{"dev": d, "detail": t} for d, f, t in flags if f == "clock_skew"]
        return NodeStatus(
            device=self.dev,
            community=self.community,
            role=self.role,
            mode=self.mode(),
            declared_mode=modes.declared_mode(self.conn, self.community),
            mode_declarations=modes.declarations(self.conn, self.community),
            last_sync=self.store.get("last_sync_ms"),
            last_sync_error=self.store.get("last_sync_error"),
            pending=pending,
            # This device's own clock: off the district's (learnt offset), or flagged as such.
            clock_skew=any(s["dev"] == self.dev for s in skew) or bool(self.store.get("clock_offset_alarm")),
            clock_skew_devices=skew,
            audit_alarm=self.store.get("audit_alarm"),
            server=self.store.get("server_url"),
            enrolled=bool(self.store.get("server_url")),
            ops=self.store.op_count(),
            flags=[{"dev": d, "flag": f, "detail": t} for d, f, t in flags],
            disk_free_mb=shutil.disk_usage(self.data_dir).free // (1024 * 1024),
        )

    def clear_audit_alarm(self, actor: str, *, forget_checkpoint: bool = False) -> dict[str, Any]:
        """Clear the audit alarm after staff ``actor`` checked it (kept in the alarm history)."""
        return audit.clear_alarm(self.store, actor, forget_checkpoint=forget_checkpoint)

    def digest(self, scope: str | None = None) -> str:
        """Hex SHA-256 of the views (of ``scope``, or all this node holds)."""
        return _digest.digest(self.conn, scope)

    def rebuild(self) -> dict[str, Any]:
        """Recreate every view from the op log; the digest must not change."""
        before = self.digest()
        with write_tx(self.conn) as conn:
            n = _digest.rebuild_views(conn)
        return {"ops": n, "digest": self.digest(), "digest_before": before, "same": before == self.digest()}

    # --- tickets (edge.domain.tickets) ---------------------------------------------------------------
    def report(
        self,
        unit: str,
        category: str,
        text: str,
        *,
        urgency: str | None = None,
        household: str | None = None,
        answers: dict[str, bool] | None = None,
        contact: str = "",
        actor: str | None = None,
    ) -> Ticket:
        """Report a repair; triage answers (``edge.services.sla``) and a vulnerable household set the urgency."""
        return tickets.report(
            self.ctx,
            unit,
            category,
            text,
            triage=sla.urgency_from_answers,
            urgency=urgency,
            household=household,
            answers=answers,
            contact=contact,
            actor=actor,
        )

    def tickets(self, open_only: bool = False, scope: str | None = None) -> list[Ticket]:
        """Tickets of this community (or ``scope``), newest first."""
        return tickets.list_tickets(self.conn, self.ctx.home(scope), open_only)

    def ticket(self, ref: str) -> TicketDetail:
        """One ticket with stage times, notes and live assigns."""
        return tickets.detail(self.ctx, ref)

    def advance(self, ref: str, stage: str, *, reason: str | None = None, actor: str | None = None) -> Ticket:
        """Move a ticket to ``stage`` (or ``reopen``); the write rule of the status lattice applies."""
        return tickets.advance(self.ctx, ref, stage, reason=reason, actor=actor)

    def assign(self, ref: str, tech: str, *, actor: str | None = None, if_unassigned: bool = False) -> Ticket:
        """Assign a technician; supersedes every live assign this node sees (resolving a conflict)."""
        return tickets.assign(self.ctx, ref, tech, actor=actor, if_unassigned=if_unassigned)

    def comment(self, ref: str, text: str, *, actor: str | None = None) -> TicketDetail:
        return tickets.comment(self.ctx, ref, text, actor=actor)

    def hold(self, ref: str, reason: str | None, *, actor: str | None = None) -> Ticket:
        """Put a ticket on hold (``awaiting_parts``, ``no_access``, ``awaiting_resident``) or release it (None)."""
        return tickets.hold(self.ctx, ref, reason, actor=actor)

    def rate(self, ref: str, rating: int, *, comment: str = "", actor: str | None = None) -> Ticket:
        return tickets.rate(self.ctx, ref, rating, comment=comment, actor=actor)

    # --- stock (edge.domain.stock) -------------------------------------------------------------------
    def add_item(
        self,
        sku: str,
        name_zh: str,
        name_en: str,
        *,
        kind: str = "part",
        emergency: bool = False,
        ration: int | None = None,
        reorder: int = 0,
        scope: str | None = None,
        actor: str | None = None,
    ) -> dict[str, Any]:
        return stock.add_item(
            self.ctx,
            sku,
            name_zh,
            name_en,
            kind=kind,
            emergency=emergency,
            ration=ration,
            reorder=reorder,
            scope=scope,
            actor=actor,
        )

    def update_item(
        self,
        sku: str,
        *,
        name_zh: str | None = None,
        name_en: str | None = None,
        kind: str | None = None,
        emergency: bool | None = None,
        ration: int | None = None,
        reorder: int | None = None,
        actor: str | None = None,
    ) -> dict[str, Any]:
        """Change the given fields of a catalogue item (e.g. its emergency ration per household per day)."""
        fields = {"name_zh": name_zh, "name_en": name_en, "kind": kind, "emergency": emergency}
        return stock.update_item(self.ctx, sku, {**fields, "ration": ration, "reorder": reorder}, actor=actor)

    def items(self) -> list[dict[str, Any]]:
        return stock.list_items(self.conn, self.scopes)

    def receive(
        self, sku: str, qty: int, *, reason: str = "", scope: str | None = None, actor: str | None = None
    ) -> StockLevel:
        """Stock in: gives this device the rights to what it received."""
        return stock.receive(self.ctx, sku, qty, reason=reason, scope=scope, actor=actor)

    def issue(
        self,
        sku: str,
        qty: int,
        *,
        household: str | None = None,
        ticket: str | None = None,
        reason: str = "",
        actor: str | None = None,
    ) -> StockLevel:
        """Stock out, within this device's rights; emergency supplies are rationed in emergency mode."""
        return stock.issue(self.ctx, sku, qty, household=household, ticket=ticket, reason=reason, actor=actor)

    def move_stock_rights(
        self, sku: str, qty: int, to_dev: str, *, scope: str | None = None, actor: str | None = None
    ) -> StockLevel:
        """Give ``qty`` of this device's stock rights to another enrolled, unrevoked device of the community."""
        return stock.move_rights(self.ctx, sku, qty, to_dev, scope=scope, actor=actor)

    def stock(self, scope: str | None = None) -> list[StockLevel]:
        """``[{sku, qty, rights, ...}]``."""
        return stock.stock_levels(self.conn, self.ctx.home(scope), self.dev)

    # --- points (edge.domain.points) -----------------------------------------------------------------
    def award(self, household: str, n: int, reason: str, *, actor: str | None = None) -> Balance:
        return points.award(self.ctx, household, n, reason, actor=actor)

    def redeem(
        self, household: str, n: int, reward: str, *, pin: str | None = None, actor: str | None = None
    ) -> Balance:
        """Spend points, within this device's rights (a balance never goes negative)."""
        return points.redeem(self.ctx, household, n, reward, pin=pin, actor=actor)

    def rights_targets(self) -> list[dict[str, Any]]:
        """The devices this one may move rights to: enrolled, unrevoked, of its community, not itself."""
        return stock.rights_targets(self.conn, self.community, self.dev)

    def move_points_rights(self, household: str, n: int, to_dev: str, *, actor: str | None = None) -> Balance:
        """Give ``n`` of this device's points rights of a household to another device of the community."""
        return points.move_rights(self.ctx, household, n, to_dev, actor=actor)

    def balance(self, household: str) -> Balance:
        """``{household, balance, spendable_here, history}``."""
        return points.balance(self.ctx, household)

    # --- people (edge.domain.people) -----------------------------------------------------------------
    def add_household(
        self,
        unit: str,
        *,
        vulnerable: list[str] | None = None,
        pin: str | None = None,
        name: str = "",
        phone: str = "",
        actor: str | None = None,
    ) -> dict[str, Any]:
        return people.add_household(self.ctx, unit, vulnerable=vulnerable, pin=pin, name=name, phone=phone, actor=actor)

    def households(self) -> list[dict[str, Any]]:
        return people.list_households(self.conn, self.community)

    def add_tech(
        self,
        name: str,
        skills: list[str],
        tier: str,
        *,
        certs: list[str] | None = None,
        shared: bool = False,
        pos: tuple[int, int] | None = None,
        phone: str = "",
        home: str | None = None,
        actor: str | None = None,
    ) -> dict[str, Any]:
        return people.add_tech(
            self.ctx, name, skills, tier, certs=certs, shared=shared, pos=pos, phone=phone, home=home, actor=actor
        )

    def techs(self) -> list[dict[str, Any]]:
        return people.list_techs(self.conn, self.scopes)

    def tech_status(self, ref: str, status: str, *, actor: str | None = None) -> dict[str, Any]:
        return people.tech_status(self.ctx, ref, status, actor=actor)

    def add_staff(
        self, staff_id: str, pin: str, *, role: str = "staff", name: str = "", actor: str | None = None
    ) -> dict[str, Any]:
        return people.add_staff(self.ctx, staff_id, pin, role=role, name=name, actor=actor)

    def staff(self) -> list[dict[str, Any]]:
        """Staff accounts of this community: ``[{id, role, name}]`` (never a PIN hash)."""
        return people.list_staff(self.conn, self.community)

    def staff_login(self, staff_id: str, pin: str) -> dict[str, Any]:
        """Check a staff PIN; returns ``{id, role}``."""
        return people.staff_login(self.ctx, staff_id, pin)

    def household_login(self, unit: str, pin: str) -> dict[str, Any]:
        """Check a household PIN; returns the household."""
        return people.household_login(self.ctx, unit, pin)

    # --- notices (edge.domain.notices) ---------------------------------------------------------------
    def post_notice(
        self,
        title_zh: str,
        title_en: str,
        body_zh: str,
        body_en: str,
        *,
        until_ms: int | None = None,
        scope: str | None = None,
        actor: str | None = None,
    ) -> dict[str, Any]:
        return notices.post_notice(
            self.ctx, title_zh, title_en, body_zh, body_en, until_ms=until_ms, scope=scope, actor=actor
        )

    def notices(self) -> list[dict[str, Any]]:
        return notices.list_notices(self.conn, self.scopes, self.now_ms())

    # --- transfers and lent technicians (edge.domain.transfers) --------------------------------------
    def request_transfer(
        self, sku: str, qty: int, src: str, *, note: str = "", dst: str | None = None, actor: str | None = None
    ) -> dict[str, Any]:
        """Ask community ``src`` (or ``district``) for ``qty`` of ``sku``, for this community (or ``dst``)."""
        return transfers.request_transfer(self.ctx, sku, qty, src, note=note, dst=dst, actor=actor)

    def approve_transfer(self, ref: str, *, note: str = "", actor: str | None = None) -> dict[str, Any]:
        return transfers.write_step(self.ctx, ref, "approved", note=note, actor=actor)

    def decline_transfer(self, ref: str, *, note: str = "", actor: str | None = None) -> dict[str, Any]:
        return transfers.write_step(self.ctx, ref, "declined", note=note, actor=actor)

    def ship_transfer(self, ref: str, *, note: str = "", actor: str | None = None) -> dict[str, Any]:
        return transfers.write_step(self.ctx, ref, "shipped", note=note, actor=actor)

    def arrive_transfer(self, ref: str, *, note: str = "", actor: str | None = None) -> dict[str, Any]:
        return transfers.write_step(self.ctx, ref, "arrived", note=note, actor=actor)

    def transfers(self, all_communities: bool = False) -> list[dict[str, Any]]:
        return transfers.list_transfers(self.conn, None if all_communities else self.community)

    def lend_tech(self, tech_id: str, to: str, until_ms: int, *, actor: str | None = None) -> dict[str, Any]:
        """Lend a shared-pool technician to community ``to`` until ``until_ms`` (district only)."""
        return transfers.lend_tech(self.ctx, tech_id, to, until_ms, actor=actor)

    def end_tech_loan(self, tech_id: str, *, actor: str | None = None) -> dict[str, Any]:
        """End a shared technician's loan now (district only): the borrower's dispatcher stops using them."""
        return transfers.end_tech_loan(self.ctx, tech_id, actor=actor)

    def lent_techs(self) -> dict[str, int]:
        """Shared technicians lent to this community now: ``{id: until_ms}``."""
        return transfers.lent_techs(self.conn, self.community, self.now_ms())

    def tech_loans(self) -> list[dict[str, Any]]:
        """Loans of shared technicians: every loan on the district, those to this community elsewhere."""
        loans = transfers.tech_loans(self.conn, self.now_ms())
        return loans if self.role == "district" else [x for x in loans if x["to"] == self.community]

    # --- tools and facilities (edge.domain.lending) --------------------------------------------------
    def lend_tool(self, sku: str, household: str, days: int = 7, *, actor: str | None = None) -> dict[str, Any]:
        """Lend a tool to a household (within this device's stock rights), due in ``days``."""
        return lending.lend_tool(self.ctx, sku, household, days, actor=actor)

    def return_tool(self, loan: str, *, actor: str | None = None) -> dict[str, Any]:
        return lending.return_tool(self.ctx, loan, actor=actor)

    def loans(self, overdue: bool = False) -> list[dict[str, Any]]:
        if overdue:
            return lending.loans(self.conn, self.community, overdue_at=self.now_ms())
        return lending.loans(self.conn, self.community, open_only=True)

    def book(self, facility: str, slot: str, household: str, *, actor: str | None = None) -> dict[str, Any]:
        """Book a facility slot (``YYYY-MM-DDTHH:MM``); refused if this node already sees it taken."""
        return lending.book(self.ctx, facility, slot, household, actor=actor)

    def cancel_booking(self, booking: str, *, reason: str = "", actor: str | None = None) -> dict[str, Any]:
        """Cancel a booking (a bumped one too); the slot goes to the next booking for it, if any."""
        return lending.cancel_booking(self.ctx, booking, reason=reason, actor=actor)

    def bookings(self, facility: str | None = None) -> list[dict[str, Any]]:
        return lending.bookings(self.conn, self.community, facility)

    # --- the dispatcher and KPIs (edge.services) -----------------------------------------------------
    def propose(self, max_jobs: int = 3) -> list[dict[str, Any]]:
        """The dispatcher's proposals for open, unassigned tickets: ``[{ticket, tech, cost, ...}]``."""
        return dispatch_inputs.propose(self.ctx, max_jobs)

    def dispatch_plan(self, max_jobs: int = 3) -> DispatchPlan:
        """The proposals ``propose`` gives and every open ticket's priority (the dispatch board)."""
        return dispatch_inputs.plan(self.ctx, max_jobs)

    def apply_dispatch(
        self, proposals: list[dict[str, Any]] | None = None, *, actor: str = "dispatcher"
    ) -> list[dict[str, Any]]:
        """Write the proposals (fresh ones if none given) as assign ops; skips any taken meanwhile."""
        return dispatch_inputs.apply(self.ctx, proposals, actor=actor)

    def auto_dispatch(self) -> bool:
        """Whether this node's daemon applies the dispatcher's proposals on its own in emergency mode."""
        return autodispatch.auto_dispatch(self.store)

    def set_auto_dispatch(self, on: bool) -> dict[str, Any]:
        """Turn the daemon's own assigning in emergency mode on or off (a setting of this device)."""
        return autodispatch.set_auto_dispatch(self.store, on)

    def stored_proposals(self) -> dict[str, Any] | None:
        """The proposals the daemon stored for the staff board: ``{at, mode, proposals, applied}`` or ``None``."""
        return autodispatch.stored_proposals(self.store)

    def dispatch_round(self, mode: str | None = None) -> autodispatch.DispatchRound:
        """One round of the daemon's dispatcher in ``mode`` (default the current one)."""
        return autodispatch.dispatch_round(self.ctx, mode)

    def kpi(self, period: str = "month", *, end_ms: int | None = None, all_scopes: bool = False) -> dict[str, Any]:
        """KPIs for the last ``period`` (day, week, month, quarter, year) up to ``end_ms`` (now)."""
        return operations.kpi(self.ctx, period, end_ms=end_ms, all_scopes=all_scopes)
