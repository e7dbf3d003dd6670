"""``edge.Node``: the facade the CLI, the kiosk UI and the sync client use; one method per action.

A node lives in a data directory: ``device.key`` (mode 0600) and ``edge.sqlite3``. Every method that
changes something writes ops through ``Store.tx`` (one ``BEGIN IMMEDIATE`` transaction, rules checked
inside it) and returns plain dicts; every refusal is an ``EdgeError`` that says what and why.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from crdt.ids import new_ulid
from crdt.keys import DeviceKey, device_id
from edge.domain import modes, notices, people, points, stock, tickets
from edge.domain.fields import CATEGORIES, UNIT_RE, URGENCIES
from edge.domain.sharing import Sharing
from edge.domain.tickets import STAGES, check_transition, reopen_target
from edge.errors import (
    AuthFailed,
    Duplicate,
    InputError,
    InsufficientRights,
    InvalidTransition,
    NotInitialised,
    RationExceeded,
    ScopeForbidden,
    StoreError,
    UnknownEntity,
    UnknownTicket,
)
from edge.services.operations import Operations
from edge.store import Identity, Store, Tx
from edge.store import digest as _digest
from edge.store.db import write_tx
from edge.store.views import counter_value, rights

__all__ = ["KEY_FILE", "DB_FILE", "Node", "default_data_dir"]

KEY_FILE = "device.key"
DB_FILE = "edge.sqlite3"
MAX_TEXT = 2000
DAY_MS = 24 * 3600 * 1000


def default_data_dir() -> Path:
    """``$LINLI_DATA``, else ``./linli-data``."""
    return Path(os.environ.get("LINLI_DATA") or "linli-data")


def _text(value: str, what: str, limit: int = MAX_TEXT) -> str:
    value = (value or "").strip()
    if not value:
        raise InputError(f"{what} is empty")
    if len(value) > limit:
        raise InputError(f"{what} has {len(value)} characters; the limit is {limit}")
    return value


def _unit(value: str, what: str = "unit") -> str:
    value = _text(value, what, 32)
    if not UNIT_RE.fullmatch(value):
        raise InputError(f"{what} {value!r} may not contain '/', '\\' or control characters")
    return value


def _qty(n: int, what: str = "quantity") -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise InputError(f"{what} {n!r} is not a whole number")
    if n <= 0:
        raise InputError(f"{what} must be positive, got {n}")
    if n > 1_000_000:
        raise InputError(f"{what} {n} is over the limit of 1,000,000")
    return n


class Node(Sharing, Operations):
    """A community (or district) node over its data directory."""

    def __init__(self, data_dir: Path, store: Store) -> None:
        self.data_dir = data_dir
        self.store = store
        self.community: str = store.ident.community
        self.role: str = store.ident.role

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
    def conn(self):  # type: ignore[no-untyped-def]
        return self.store.conn

    @property
    def dev(self) -> str:
        return self.store.ident.dev

    @property
    def scopes(self) -> list[str]:
        """The scopes this node reads: its community, then the district."""
        return [self.community] if self.community == "district" else [self.community, "district"]

    def _home(self, scope: str | None) -> str:
        return scope or self.community

    # --- status, digest, rebuild -------------------------------------------------------------------
    def now_ms(self) -> int:
        return self.store.wall()

    def mode(self) -> str:
        """The effective mode: ``emergency``, ``offline`` or ``normal``."""
        return modes.effective_mode(
            modes.declared_mode(self.conn, self.community),
            self.store.get("last_sync_ms"),
            self.now_ms(),
            bool(self.store.get("server_url")),
        )

    def set_mode(
        self, mode: str, reason: str = "", actor: str | None = None, scope: str | None = None
    ) -> dict[str, Any]:
        """Declare ``normal`` or ``emergency`` in ``scope`` (default this node's) as an op with ``actor``.

        Emergency holds while the community's or the district's latest declaration says so
        (``edge.domain.modes``); a ``normal`` that could end nothing, because only the district declared the
        emergency, is refused.

        Raises:
            InputError: an unknown mode; ScopeForbidden: this device may not write ``scope``, or ending
            a district-declared emergency from a community scope.
        """
        if mode not in ("normal", "emergency"):
            raise InputError(f"mode {mode!r} is not normal or emergency (offline follows from sync health)")
        target = self._home(scope)
        with self.store.tx() as tx:
            if mode == "normal" and target != "district" and modes.declared_by(tx.conn, target) == ["district"]:
                d = modes.declarations(tx.conn, target)[-1]
                raise ScopeForbidden(
                    f"emergency mode in {target} was declared by the district (actor {d['actor'] or '-'}, "
                    f"reason {d['reason']!r}); a 'normal' in {target} cannot end it: the district ends it"
                )
            tx.emit(target, "mode.set", target, {"mode": mode, "reason": reason}, actor)
        return {"scope": target, "mode": self.mode(), "declared_by": modes.declared_by(self.conn, self.community)}

    def status(self) -> dict[str, Any]:
        """``{device, community, mode, last_sync, pending, clock_skew, audit_alarm, ...}``."""
        pushed = self.store.get("pushed", {})
        pending = 0
        for key, seq in self.store.heads().items():
            dev, scope = key.split("/")
            if dev == self.dev:
                pending += seq - int(pushed.get(key, 0))
        flags = self.conn.execute("SELECT dev, flag, detail FROM flags").fetchall()
        skew = [{"dev": d, "detail": t} for d, f, t in flags if f == "clock_skew"]
        return {
            "device": self.dev,
            "community": self.community,
            "role": self.role,
            "mode": self.mode(),
            "declared_mode": modes.declared_mode(self.conn, self.community),
            "mode_declarations": modes.declarations(self.conn, self.community),
            "last_sync": self.store.get("last_sync_ms"),
            "last_sync_error": self.store.get("last_sync_error"),
            "pending": pending,
            "clock_skew": bool(skew) or bool(self.store.get("clock_offset_alarm")),
            "clock_skew_devices": skew,
            "audit_alarm": self.store.get("audit_alarm"),
            "server": self.store.get("server_url"),
            "enrolled": bool(self.store.get("server_url")),
            "ops": self.store.op_count(),
            "flags": [{"dev": d, "flag": f, "detail": t} for d, f, t in flags],
            "disk_free_mb": shutil.disk_usage(self.data_dir).free // (1024 * 1024),
        }

    def digest(self, scope: str | None = None) -> str:
        """Hex SHA-256 of the views (of ``scope``, or all this node holds)."""
        return _digest.digest(self.conn, scope)

    def rebuild(self) -> dict[str, Any]:
        """Recreate every view from the op log; the digest must not change."""
        before = self.digest()
        with write_tx(self.conn) as conn:
            n = _digest.rebuild_views(conn)
        return {"ops": n, "digest": self.digest(), "digest_before": before, "same": before == self.digest()}

    # --- tickets -------------------------------------------------------------------------------
    def _ticket(self, ref: str) -> dict[str, Any]:
        t = tickets.find(self.conn, ref, None if self.role == "district" else self.scopes)
        if t is None:
            raise UnknownTicket(f"no ticket {ref!r} in community {self.community}")
        return t

    def _next_code(self, tx: Tx, scope: str) -> str:
        """A short code ``<community><device>-<n>``, e.g. ``AQX-0042``, that no ticket held has yet.

        The prefix is up to three letters of the community and two of the device id; the number counts
        the tickets held with that prefix (an index range, not a scan of the log), skipping any taken.
        """
        prefix = ("".join(c for c in scope.upper() if c.isalnum())[:3] or "X") + self.dev[:2].upper() + "-"
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
    ) -> dict[str, Any]:
        """Report a repair; triage answers (and a vulnerable household) set the urgency unless given.

        The urgency follows the triage table of ``edge.services.sla`` (``docs/dispatch.md``): the most urgent of the
        category's base level and of every question answered yes, raised one level for a vulnerable
        household.

        Raises:
            InputError: empty or oversized text, unknown category, urgency or triage question.
            UnknownEntity: no such household.
        """
        unit = _unit(unit)
        text = _text(text, "description")
        if category not in CATEGORIES:
            raise InputError(f"unknown category {category!r}; one of {', '.join(CATEGORIES)}")
        if urgency is not None and urgency not in URGENCIES:
            raise InputError(f"urgency {urgency!r} is not one of P1, P2, P3, P4")
        answers = dict(answers or {})
        for k, v in answers.items():
            if not isinstance(v, bool):
                raise InputError(f"triage answer {k!r} must be yes or no")
        vulnerable = False
        if household is not None:
            hh = people.find_household(self.conn, self.community, household)
            if hh is None:
                raise UnknownEntity(f"no household {household!r} in community {self.community}")
            vulnerable = bool(hh["vulnerable"])
            if "elderly_alone" in hh["vulnerable"]:
                answers.setdefault("elderly_alone", True)
        from edge.services.sla import PlanningError, urgency_from_answers

        try:
            level = urgency or urgency_from_answers(category, answers, vulnerable)
        except PlanningError as exc:
            raise InputError(str(exc)) from None
        ticket_id = new_ulid(self.now_ms())
        with self.store.tx() as tx:
            code = self._next_code(tx, self.community)
            tx.emit(
                self.community,
                "ticket.create",
                ticket_id,
                {
                    "code": code,
                    "unit": unit,
                    "category": category,
                    "urgency": level,
                    "text": text,
                    "contact": contact,
                    "household": household,
                    "answers": answers,
                },
                actor,
            )
        return self._ticket(ticket_id)

    def tickets(self, open_only: bool = False, scope: str | None = None) -> list[dict[str, Any]]:
        """Tickets of this community (or ``scope``), newest first."""
        return tickets.list_tickets(self.conn, self._home(scope), open_only)

    def ticket(self, ref: str) -> dict[str, Any]:
        """One ticket with stage times, notes and live assigns."""
        t = self._ticket(ref)
        t["stage_times"] = {f"{e}:{s}": w for (e, s), w in sorted(tickets.stage_times(self.conn, t["id"]).items())}
        t["notes"] = tickets.notes(self.conn, t["id"])
        t["assigns"] = [{"op": a[0], "tech": a[1], "wall": a[2]} for a in tickets.live_assigns(self.conn, t["id"])]
        return t

    def advance(self, ref: str, stage: str, *, reason: str | None = None, actor: str | None = None) -> dict[str, Any]:
        """Move a ticket to ``stage`` (or ``reopen``); the write rule of the status lattice applies.

        Raises:
            UnknownTicket; InputError: an unknown stage or close reason; InvalidTransition: the lattice's
            write rule refuses the step (e.g. back from resolved to en_route).
        """
        with self.store.tx() as tx:
            t = self._ticket(ref)
            self._advance(tx, t, stage, reason, actor)
        return self._ticket(t["id"])

    def _advance(self, tx: Tx, t: dict[str, Any], stage: str, reason: str | None, actor: str | None) -> None:
        if stage == "reopen":
            target = reopen_target((t["epoch"], t["stage"]))
        elif stage in STAGES:
            target = (t["epoch"], stage)
        else:
            raise InputError(f"unknown stage {stage!r}; one of {', '.join(STAGES)} or reopen")
        if reason is not None and reason not in tickets.CLOSE_REASONS:
            raise InputError(f"close reason {reason!r} is not one of {', '.join(tickets.CLOSE_REASONS)}")
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

    def assign(self, ref: str, tech: str, *, actor: str | None = None, if_unassigned: bool = False) -> dict[str, Any]:
        """Assign a technician; supersedes every live assign this node sees (resolving a conflict).

        With ``if_unassigned`` (the dispatcher's own assigns) a ticket that has an assignee by the time the
        transaction starts is refused (``InvalidTransition``) rather than taken from whoever assigned it.
        """
        with self.store.tx() as tx:
            t = self._ticket(ref)
            if if_unassigned and t["assignee"]:
                raise InvalidTransition(f"ticket {t['code']} is already assigned to {t['assignee']}; left as it is")
            if t["stage"] in ("resolved", "closed", "cancelled"):
                raise InvalidTransition(f"ticket {t['code']} is {t['stage']}; reopen it before assigning")
            tech_row = self._tech(tech)
            live = [a[0] for a in tickets.live_assigns(tx.conn, t["id"])]
            tx.emit(t["scope"], "ticket.assign", t["id"], {"tech": tech_row["id"], "supersedes": live}, actor)
            if STAGES.index(t["stage"]) < STAGES.index("assigned"):
                tx.emit(t["scope"], "ticket.stage", t["id"], {"epoch": t["epoch"], "stage": "assigned"}, actor)
        return self._ticket(t["id"])

    def comment(self, ref: str, text: str, *, actor: str | None = None) -> dict[str, Any]:
        t = self._ticket(ref)
        with self.store.tx() as tx:
            tx.emit(t["scope"], "ticket.comment", t["id"], {"text": _text(text, "comment")}, actor)
        return self.ticket(t["id"])

    def hold(self, ref: str, reason: str | None, *, actor: str | None = None) -> dict[str, Any]:
        """Put a ticket on hold (``awaiting_parts``, ``no_access``, ``awaiting_resident``) or release it (None)."""
        t = self._ticket(ref)
        if reason is not None and reason not in tickets.HOLD_REASONS:
            raise InputError(f"hold reason {reason!r} is not one of {', '.join(tickets.HOLD_REASONS)}")
        with self.store.tx() as tx:
            tx.emit(t["scope"], "ticket.hold", t["id"], {"reason": reason}, actor)
        return self._ticket(t["id"])

    def rate(self, ref: str, rating: int, *, comment: str = "", actor: str | None = None) -> dict[str, Any]:
        if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
            raise InputError(f"rating {rating!r} is not a whole number from 1 to 5")
        with self.store.tx() as tx:
            t = self._ticket(ref)
            if t["stage"] not in ("resolved", "closed"):
                raise InvalidTransition(
                    f"ticket {t['code']} is {t['stage']}; only resolved or closed tickets are rated"
                )
            tx.emit(t["scope"], "ticket.rate", t["id"], {"rating": rating, "comment": comment}, actor)
        return self._ticket(t["id"])

    # --- stock ----------------------------------------------------------------------------------
    def _item(self, sku: str) -> dict[str, Any]:
        item = stock.find_item(self.conn, sku, self.scopes)
        if item is None:
            raise UnknownEntity(f"no item with sku {sku!r} in the catalogue")
        return item

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
        target = self._home(scope)
        with self.store.tx() as tx:
            if stock.find_item(tx.conn, sku, [target]) is not None:
                raise Duplicate(f"sku {sku!r} is already in the catalogue of {target}")
            tx.emit(
                target,
                "item.add",
                sku,
                {
                    "sku": sku,
                    "name_zh": name_zh,
                    "name_en": name_en,
                    "kind": kind,
                    "emergency": emergency,
                    "ration": ration,
                    "reorder": reorder,
                },
                actor,
            )
        return self._item(sku)

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
        """Change the given fields of a catalogue item (e.g. its emergency ration per household per day).

        Raises:
            UnknownEntity: no such sku; InputError: nothing to change, or a value out of range;
            ScopeForbidden: a district catalogue item changed from a community node.
        """
        item = self._item(sku)
        wanted = {"name_zh": name_zh, "name_en": name_en, "kind": kind, "emergency": emergency}
        fields = {k: v for k, v in {**wanted, "ration": ration, "reorder": reorder}.items() if v is not None}
        if not fields:
            raise InputError(f"nothing to change for item {sku!r}")
        if item["scope"] == "district" and self.role != "district":
            raise ScopeForbidden(
                f"item {sku!r} is in the district catalogue: the district changes it "
                "(or add a local item with the same sku, which takes its place here)"
            )
        with self.store.tx() as tx:
            tx.emit(item["scope"], "item.update", sku, fields, actor)
        return self._item(sku)

    def items(self) -> list[dict[str, Any]]:
        return stock.list_items(self.conn, self.scopes)

    def receive(
        self, sku: str, qty: int, *, reason: str = "", scope: str | None = None, actor: str | None = None
    ) -> dict[str, Any]:
        """Stock in: gives this device the rights to what it received."""
        qty = _qty(qty)
        self._item(sku)
        target = self._home(scope)
        with self.store.tx() as tx:
            tx.emit(target, "stock.receive", sku, {"sku": sku, "qty": qty, "reason": reason}, actor)
        return self._stock_row(sku, target)

    def issue(
        self,
        sku: str,
        qty: int,
        *,
        household: str | None = None,
        ticket: str | None = None,
        reason: str = "",
        actor: str | None = None,
    ) -> dict[str, Any]:
        """Stock out, within this device's rights; emergency supplies are rationed in emergency mode."""
        qty = _qty(qty)
        item = self._item(sku)
        ticket_id = self._ticket(ticket)["id"] if ticket else None
        if household is not None and people.find_household(self.conn, self.community, household) is None:
            raise UnknownEntity(f"no household {household!r} in community {self.community}")
        with self.store.tx() as tx:
            held = rights(tx.conn, "stock", self.community, sku, self.dev)
            if qty > held:
                total = counter_value(tx.conn, "stock", self.community, sku)
                raise InsufficientRights(
                    f"cannot issue {qty} of {sku}: stock is {total}, of which this device may issue {held}"
                )
            if item["emergency"] and item["ration"] and modes.declared_mode(tx.conn, self.community) == "emergency":
                if household is None:
                    raise InputError(f"{sku} is rationed in emergency mode: name the household")
                since = self.now_ms() - DAY_MS
                had = stock.issued_today(tx.conn, self.community, sku, household, since)
                if had + qty > item["ration"]:
                    raise RationExceeded(
                        f"household {household} has had {had} of {sku} in the last 24 h; "
                        f"the emergency ration is {item['ration']} per day"
                    )
            tx.emit(
                self.community,
                "stock.issue",
                sku,
                {"sku": sku, "qty": qty, "household": household, "ticket": ticket_id, "reason": reason},
                actor,
            )
            if ticket_id is not None:
                tx.emit(self.community, "ticket.part", ticket_id, {"sku": sku, "qty": qty}, actor)
        return self._stock_row(sku, self.community)

    def move_stock_rights(
        self, sku: str, qty: int, to_dev: str, *, scope: str | None = None, actor: str | None = None
    ) -> dict[str, Any]:
        """Give ``qty`` of this device's stock rights to another device."""
        target = self._home(scope)
        qty = _qty(qty)
        with self.store.tx() as tx:
            held = rights(tx.conn, "stock", target, sku, self.dev)
            if qty > held:
                raise InsufficientRights(f"cannot move {qty} rights of {sku}: this device holds {held}")
            tx.emit(target, "stock.rights", sku, {"sku": sku, "qty": qty, "to": to_dev}, actor)
        return self._stock_row(sku, target)

    def _stock_row(self, sku: str, scope: str) -> dict[str, Any]:
        for row in stock.stock_levels(self.conn, scope, self.dev):
            if row["sku"] == sku:
                return row
        return {"sku": sku, "qty": 0, "rights": 0}

    def stock(self, scope: str | None = None) -> list[dict[str, Any]]:
        """``[{sku, qty, rights, ...}]``."""
        return stock.stock_levels(self.conn, self._home(scope), self.dev)

    # --- points ---------------------------------------------------------------------------------
    def _household(self, ref: str) -> dict[str, Any]:
        hh = people.find_household(self.conn, self.community, ref)
        if hh is None:
            raise UnknownEntity(f"no household {ref!r} in community {self.community}")
        return hh

    def award(self, household: str, n: int, reason: str, *, actor: str | None = None) -> dict[str, Any]:
        n = _qty(n, "points")
        self._household(household)
        with self.store.tx() as tx:
            tx.emit(
                self.community,
                "points.award",
                household,
                {"household": household, "n": n, "reason": _text(reason, "reason", 200)},
                actor,
            )
        return self.balance(household)

    def redeem(
        self, household: str, n: int, reward: str, *, pin: str | None = None, actor: str | None = None
    ) -> dict[str, Any]:
        """Spend points, within this device's rights (a balance never goes negative)."""
        n = _qty(n, "points")
        reward = _text(reward, "reward", 200)
        self._household(household)
        if pin is not None and not people.check_pin(
            pin, people.household_pin_hash(self.conn, self.community, household)
        ):
            raise AuthFailed(f"wrong PIN for household {household}")
        with self.store.tx() as tx:
            held = rights(tx.conn, "points", self.community, household, self.dev)
            if n > held:
                bal = counter_value(tx.conn, "points", self.community, household)
                raise InsufficientRights(
                    f"household {household} cannot redeem {n} points: "
                    f"balance {bal}, of which this kiosk may spend {held}"
                )
            tx.emit(
                self.community,
                "points.redeem",
                household,
                {"household": household, "n": n, "reward": reward},
                actor,
            )
        return self.balance(household)

    def balance(self, household: str) -> dict[str, Any]:
        """``{household, balance, spendable_here, history}``."""
        self._household(household)
        return {
            "household": household,
            "balance": counter_value(self.conn, "points", self.community, household),
            "spendable_here": rights(self.conn, "points", self.community, household, self.dev),
            "history": points.history(self.conn, self.community, household),
        }

    # --- people ---------------------------------------------------------------------------------
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
        unit = _unit(unit)
        flags = sorted(set(vulnerable or []))
        for f in flags:
            if f not in people.VULNERABLE:
                raise InputError(f"unknown vulnerability flag {f!r}; one of {', '.join(people.VULNERABLE)}")
        if pin is not None and not (pin.isdigit() and 4 <= len(pin) <= 8):
            raise InputError("a PIN is 4 to 8 digits")
        with self.store.tx() as tx:
            if people.find_household(tx.conn, self.community, unit) is not None:
                raise Duplicate(f"household {unit!r} already exists in community {self.community}")
            tx.emit(
                self.community,
                "household.add",
                unit,
                {
                    "unit": unit,
                    "vulnerable": flags,
                    "pin_hash": people.hash_pin(pin) if pin else None,
                    "name": name,
                    "phone": phone,
                },
                actor,
            )
        return self._household(unit)

    def households(self) -> list[dict[str, Any]]:
        return people.list_households(self.conn, self.community)

    def _tech(self, ref: str) -> dict[str, Any]:
        found = people.find_tech(self.conn, ref, self.scopes)
        if not found:
            raise UnknownEntity(f"no technician {ref!r}")
        if len(found) > 1:
            raise InputError(
                f"{len(found)} technicians are called {ref!r}; use the id: " + ", ".join(t["id"] for t in found)
            )
        return found[0]

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
        name = _text(name, "technician name", 64)
        if shared and self.role != "district":
            raise ScopeForbidden("shared-pool technicians are added by the district")
        scope = "district" if shared else self.community
        if tier not in ("core", "certified", "volunteer"):
            raise InputError(f"tier {tier!r} is not core, certified or volunteer")
        for c in certs or []:
            if c not in ("gas", "electrical", "lift"):
                raise InputError(f"unknown certification {c!r}; one of gas, electrical, lift")
        if not skills:
            raise InputError("a technician needs at least one skill")
        for s in skills:
            if s not in CATEGORIES:
                raise InputError(f"unknown skill {s!r}; skills are categories: {', '.join(CATEGORIES)}")
        tech_id = new_ulid(self.now_ms())
        with self.store.tx() as tx:
            if any(t["name"] == name for t in people.list_techs(tx.conn, [scope])):
                raise Duplicate(f"technician {name!r} already exists in {scope}")
            tx.emit(
                scope,
                "tech.add",
                tech_id,
                {
                    "name": name,
                    "skills": sorted(set(skills)),
                    "certs": sorted(set(certs or [])),
                    "tier": tier,
                    "home": home or self.community,
                    "shared": shared,
                    "pos": list(pos) if pos else None,
                    "phone": phone,
                },
                actor,
            )
        return self._tech(tech_id)

    def techs(self) -> list[dict[str, Any]]:
        return people.list_techs(self.conn, self.scopes)

    def tech_status(self, ref: str, status: str, *, actor: str | None = None) -> dict[str, Any]:
        t = self._tech(ref)
        if status not in ("available", "busy", "off"):
            raise InputError(f"status {status!r} is not available, busy or off")
        with self.store.tx() as tx:
            tx.emit(t["scope"], "tech.status", t["id"], {"status": status}, actor)
        return self._tech(t["id"])

    def add_staff(
        self, staff_id: str, pin: str, *, role: str = "staff", name: str = "", actor: str | None = None
    ) -> dict[str, Any]:
        staff_id = _text(staff_id, "staff id", 64)
        if not (pin.isdigit() and 4 <= len(pin) <= 8):
            raise InputError("a PIN is 4 to 8 digits")
        if role not in ("staff", "manager"):
            raise InputError(f"role {role!r} is not staff or manager")
        with self.store.tx() as tx:
            if people.staff_pin_hash(tx.conn, self.community, staff_id) is not None:
                raise Duplicate(f"staff id {staff_id!r} already exists")
            tx.emit(
                self.community,
                "staff.add",
                staff_id,
                {"pin_hash": people.hash_pin(pin), "role": role, "name": name},
                actor,
            )
        return {"id": staff_id, "role": role, "name": name}

    def staff(self) -> list[dict[str, Any]]:
        """Staff accounts of this community: ``[{id, role, name}]`` (never a PIN hash)."""
        return people.list_staff(self.conn, self.community)

    def staff_login(self, staff_id: str, pin: str) -> dict[str, Any]:
        """Check a staff PIN; returns ``{id, role}``."""
        found = people.staff_pin_hash(self.conn, self.community, staff_id)
        if found is None or not people.check_pin(pin, found[0]):
            raise AuthFailed("unknown staff id or wrong PIN")
        return {"id": staff_id, "role": found[1]}

    def household_login(self, unit: str, pin: str) -> dict[str, Any]:
        """Check a household PIN; returns the household."""
        if not people.check_pin(pin, people.household_pin_hash(self.conn, self.community, unit)):
            raise AuthFailed("unknown household or wrong PIN")
        return self._household(unit)

    # --- notices --------------------------------------------------------------------------------
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
        nid = new_ulid(self.now_ms())
        with self.store.tx() as tx:
            tx.emit(
                self._home(scope),
                "notice.post",
                nid,
                {
                    "title_zh": title_zh,
                    "title_en": title_en,
                    "body_zh": body_zh,
                    "body_en": body_en,
                    "until_ms": until_ms,
                },
                actor,
            )
        return {"id": nid}

    def notices(self) -> list[dict[str, Any]]:
        return notices.list_notices(self.conn, self.scopes, self.now_ms())
