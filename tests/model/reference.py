"""A reference model of the merge: every op type's apply rule in plain Python, no SQLite, no I/O.

Written from the rules in ``docs/merge.md``, not from the SQL, so that the differential test
(``tests/edge/test_differential.py``) can hold the store's materialised views against it. The model
is a function of the *set* of ops it was given: each rule below is a join (a maximum, a minimum, a
union or a per-device sum), so the order ops are applied in does not matter, and an op given twice
counts once.

State is kept as the view tables the store materialises, ``{table: {primary key: {column: value}}}``,
with every column of the table; ``tables()`` returns them with the derived columns (ticket status,
assignee and conflict flag, transfer step, counter values, LWW ``stamps``) filled in.

The orders used throughout:

- an LWW stamp is ``(wall_ms, counter, dev, op hash hex)``; the higher stamp wins a field; an op of a
  fenced device (``device.fence``) stamped beyond the lowest fence covering its stream and seq is
  compared at ``(fence, wall << 32 | counter, dev, op hash hex)``, whatever order ops and fences came in;
- the first stamp of a ticket stage or transfer step is the lowest ``(wall_ms, counter, dev)``;
- the assignee is the live assign with the highest ``(wall_ms, counter, dev, op hash hex)``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from crdt.op import Op

__all__ = ["APPLY", "STAGES", "STEPS", "MOp", "Model", "Stamp"]

Stamp = tuple[int, int, str, str]
Row = dict[str, Any]
Key = tuple[Any, ...]

STAGES = ("reported", "triaged", "assigned", "en_route", "on_site", "resolved", "closed", "cancelled")
LATTICE = ("reported", "triaged", "assigned", "en_route", "on_site", "cancelled", "resolved", "closed")
"""The merge order of stages in an epoch: a completed repair beats a concurrent cancel."""
STEPS = ("requested", "approved", "declined", "shipped", "arrived")


@dataclass(frozen=True)
class MOp:
    """What the model reads of an op."""

    id: str  # the op hash, hex
    dev: str
    scope: str
    seq: int
    wall: int
    counter: int
    actor: str | None
    type: str
    obj: str
    data: dict[str, Any]

    @classmethod
    def of(cls, op: Op) -> MOp:
        return cls(op.id, op.dev, op.scope, op.seq, op.hlc[0], op.hlc[1], op.actor, op.type, op.obj, dict(op.data))

    @property
    def stamp(self) -> Stamp:
        return (self.wall, self.counter, self.dev, self.id)

    @property
    def first(self) -> tuple[int, int, str]:
        return (self.wall, self.counter, self.dev)


# Every column of every view table, with the value a row has before any op sets it. ``None`` marks
# a column that every rule creating the row fills in (keys, scope, and fields written all at once).
COLUMNS: dict[str, dict[str, Any]] = {
    "devices": {
        "dev": None,
        "scope": None,
        "pubkey": b"",
        "community": "",
        "role": "",
        "name": "",
        "revoked_from_seq": None,
        "stamps": None,
        "number": None,
    },
    "modes": {"scope": None, "mode": None, "reason": None, "actor": None, "since": None, "stamps": None},
    "tickets": {
        "id": None,
        "scope": None,
        "code": "",
        "unit": "",
        "category": "other",
        "urgency": "P4",
        "text": "",
        "contact": "",
        "household": None,
        "answers": "{}",
        "reported_ms": 0,
        "epoch": 0,
        "stage": "reported",
        "assignee": None,
        "conflict": 0,
        "hold_reason": None,
        "hold_since": None,
        "close_reason": None,
        "rating": None,
        "stamps": None,
        "close_epoch": None,
    },
    "ticket_stages": dict.fromkeys(("ticket", "scope", "epoch", "stage", "wall", "counter", "dev", "actor")),
    "ticket_assigns": dict.fromkeys(("op", "ticket", "scope", "tech", "wall", "counter", "dev", "actor")),
    "ticket_supersedes": dict.fromkeys(("ticket", "scope", "op")),
    "ticket_notes": {
        "op": None,
        "ticket": None,
        "scope": None,
        "kind": None,
        "text": None,
        "sku": None,
        "qty": None,
        "actor": None,
        "wall": None,
        "counter": 0,
        "dev": "",
    },
    "items": {
        "scope": None,
        "sku": None,
        "name_zh": "",
        "name_en": "",
        "kind": "part",
        "emergency": 0,
        "ration": None,
        "reorder": 0,
        "stamps": None,
    },
    "counters": dict.fromkeys(("kind", "scope", "key", "value")),
    "counter_rights": {
        "kind": None,
        "scope": None,
        "key": None,
        "dev": None,
        "inc": 0,
        "dec": 0,
        "moved_in": 0,
        "moved_out": 0,
    },
    "counter_once": dict.fromkeys(
        ("kind", "scope", "once", "op", "wall", "counter", "dev", "holder", "key", "inc", "dec")
    ),
    "ledger": {
        "op": None,
        "kind": None,
        "scope": None,
        "key": None,
        "action": None,
        "delta": None,
        "dev": None,
        "actor": None,
        "reason": "",
        "household": None,
        "ticket": None,
        "peer": None,
        "wall": None,
    },
    "households": {
        "scope": None,
        "id": None,
        "unit": "",
        "vulnerable": "[]",
        "pin_hash": None,
        "name": "",
        "phone": "",
        "stamps": None,
    },
    "techs": {
        "id": None,
        "scope": None,
        "name": "",
        "skills": "[]",
        "certs": "[]",
        "tier": "volunteer",
        "home": "",
        "shared": 0,
        "pos_x": None,
        "pos_y": None,
        "status": "available",
        "phone": "",
        "stamps": None,
    },
    "staff": {"scope": None, "id": None, "pin_hash": "", "role": "staff", "name": "", "stamps": None},
    "notices": {
        "id": None,
        "scope": None,
        "title_zh": "",
        "title_en": "",
        "body_zh": "",
        "body_en": "",
        "posted_ms": 0,
        "until_ms": None,
        "stamps": None,
    },
    "transfers": {
        "id": None,
        "scope": None,
        "src": None,
        "dst": None,
        "sku": None,
        "qty": None,
        "note": "",
        "step": None,
        "stamps": None,
        "approved_sku": None,
        "approved_qty": None,
    },
    "transfer_steps": dict.fromkeys(("transfer", "scope", "step", "wall", "counter", "dev", "actor")),
    "tech_loans": {"tech": None, "scope": None, "dst": None, "until_ms": None, "stamps": None},
    "loans": {
        "id": None,
        "scope": None,
        "sku": None,
        "household": None,
        "due_ms": None,
        "lent_ms": None,
        "returned_ms": None,
        "note": "",
        "stamps": None,
    },
    "bookings": dict.fromkeys(("id", "scope", "facility", "slot", "household", "wall", "counter", "dev")),
    "booking_cancels": dict.fromkeys(("id", "scope")),
    "clock_fences": dict.fromkeys(("op", "scope", "dev", "stream", "through_seq", "max_wall")),
}

KEYS: dict[str, tuple[str, ...]] = {
    "devices": ("dev",),
    "modes": ("scope",),
    "tickets": ("id",),
    "ticket_stages": ("ticket", "epoch", "stage"),
    "ticket_assigns": ("op",),
    "ticket_supersedes": ("ticket", "op"),
    "ticket_notes": ("op",),
    "items": ("scope", "sku"),
    "counters": ("kind", "scope", "key"),
    "counter_rights": ("kind", "scope", "key", "dev"),
    "counter_once": ("kind", "scope", "once"),
    "ledger": ("op",),
    "households": ("scope", "id"),
    "techs": ("id",),
    "staff": ("scope", "id"),
    "notices": ("id",),
    "transfers": ("id",),
    "transfer_steps": ("transfer", "step"),
    "tech_loans": ("tech",),
    "loans": ("id",),
    "bookings": ("id",),
    "booking_cancels": ("id", "scope"),
    "clock_fences": ("op", "stream"),
}


def compact(value: Any) -> str:
    """The JSON text of a list column (skills, certs, vulnerable)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


class Model:
    """The merged state of a set of ops."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.rows: dict[str, dict[Key, Row]] = {t: {} for t in COLUMNS}
        self.stamps: dict[tuple[str, Key], dict[str, Stamp]] = {}
        self.firsts: dict[tuple[str, Key], dict[str, Stamp]] = {}
        self.onces: dict[tuple[str, str, str], tuple[str, MOp, str, int, int]] = {}
        # Every LWW write, kept so that the winner is decided under every fence of the set.
        self.writes: dict[tuple[str, Key], dict[str, list[tuple[MOp, Any]]]] = {}

    # --- the building blocks -----------------------------------------------------------------
    def row(self, table: str, key: Row, scope: str | None = None) -> Row:
        """The row ``key`` of ``table``, created with its defaults (and ``scope``) if missing."""
        k = tuple(key[c] for c in KEYS[table])
        found = self.rows[table].get(k)
        if found is None:
            found = dict(COLUMNS[table])
            found.update(key)
            if scope is not None:
                found["scope"] = scope
            self.rows[table][k] = found
        return found

    def lww(self, table: str, key: Row, fields: Row, op: MOp, scope: str | None = None) -> None:
        """Last writer wins per field: the value of the write with the highest stamp."""
        row = self.row(table, key, scope)
        writes = self.writes.setdefault((table, tuple(key[c] for c in KEYS[table])), {})
        for f, v in fields.items():
            writes.setdefault(f, []).append((op, v))
        stamps = self.stamps.setdefault((table, tuple(key[c] for c in KEYS[table])), {})
        for f, v in fields.items():
            if f not in stamps or op.stamp > stamps[f]:
                stamps[f] = op.stamp
                row[f] = v

    def first_wins(self, table: str, key: Row, fields: Row, op: MOp) -> None:
        """First writer wins per field: the value of the write with the lowest stamp."""
        row = self.row(table, key)
        stamps = self.firsts.setdefault((table, tuple(key[c] for c in KEYS[table])), {})
        for f, v in fields.items():
            if f not in stamps or op.stamp < stamps[f]:
                stamps[f] = op.stamp
                row[f] = v

    def first(self, table: str, key: Row, op: MOp, scope: str) -> None:
        """Keep the lowest ``(wall, counter, dev)`` seen for ``key`` (and that op's actor)."""
        row = self.row(table, key, scope)
        if row["wall"] is None or op.first < (row["wall"], row["counter"], row["dev"]):
            row.update(wall=op.wall, counter=op.counter, dev=op.dev, actor=op.actor)

    def counter(
        self,
        kind: str,
        op: MOp,
        key: str,
        *,
        inc: int = 0,
        dec: int = 0,
        to: str = "",
        move: int = 0,
        holder: str | None = None,
    ) -> None:
        """Per-device sums: ``inc``, ``dec``, ``moved_out`` of the writer (or ``holder``), ``moved_in`` of ``to``."""
        mine = self.row("counter_rights", {"kind": kind, "scope": op.scope, "key": key, "dev": holder or op.dev})
        mine["inc"] += inc
        mine["dec"] += dec
        mine["moved_out"] += move
        if to and move:
            self.row("counter_rights", {"kind": kind, "scope": op.scope, "key": key, "dev": to})["moved_in"] += move
        if inc or dec:
            self.row("counters", {"kind": kind, "scope": op.scope, "key": key, "value": 0})

    def once(self, kind: str, op: MOp, key: str, once: str, holder: str, *, inc: int = 0, dec: int = 0) -> None:
        """A counter op with a lifecycle key: of the ops of a scope with one key, the lowest stamp counts,
        for the rights of ``holder``.

        Every such op has its (zero) rows; the winner's effect and its ledger delta are added in
        ``tables``, so the model stays a function of the set of ops.
        """
        self.row("counter_rights", {"kind": kind, "scope": op.scope, "key": key, "dev": holder})
        self.row("counters", {"kind": kind, "scope": op.scope, "key": key, "value": 0})
        best = self.onces.get((kind, op.scope, once))
        if best is None or op.stamp < best[1].stamp:
            self.onces[(kind, op.scope, once)] = (key, op, holder, inc, dec)

    def ledger(self, op: MOp, kind: str, key: str, action: str, delta: int, **extra: Any) -> None:
        row = self.row("ledger", {"op": op.id})
        row.update(kind=kind, scope=op.scope, key=key, action=action, delta=delta, dev=op.dev, actor=op.actor)
        row["wall"] = op.wall
        row.update({k: v for k, v in extra.items() if v is not None})

    def note(self, op: MOp, kind: str, text: str, sku: str | None = None, qty: int | None = None) -> None:
        row = self.row("ticket_notes", {"op": op.id})
        row.update(ticket=op.obj, scope=op.scope, kind=kind, text=text, sku=sku, qty=qty, actor=op.actor, wall=op.wall)
        row.update(counter=op.counter, dev=op.dev)

    def stage(self, op: MOp, epoch: int, stage: str) -> None:
        self.first("ticket_stages", {"ticket": op.obj, "epoch": epoch, "stage": stage}, op, op.scope)
        self.row("tickets", {"id": op.obj}, op.scope)

    def step(self, op: MOp, step: str) -> None:
        self.first("transfer_steps", {"transfer": op.obj, "step": step}, op, op.scope)
        head, _, rest = op.obj.partition(":")
        src, arrow, dst = head.partition(">")
        ok = bool(rest and arrow and src and dst and src != dst)
        self.row("transfers", {"id": op.obj, "src": src if ok else "", "dst": dst if ok else ""}, op.scope)

    # --- applying ops ------------------------------------------------------------------------
    def apply(self, op: Op | MOp) -> None:
        """Add one op to the set (an op already in it changes nothing)."""
        m = op if isinstance(op, MOp) else MOp.of(op)
        if m.id in self.seen:
            return
        self.seen.add(m.id)
        APPLY[m.type](self, m, m.data)

    def apply_all(self, ops: Iterable[Op | MOp]) -> Model:
        for op in ops:
            self.apply(op)
        return self

    def compared(self, op: MOp) -> tuple[Any, ...]:
        """The stamp ``op`` wins LWW fields by: its own, or capped at the lowest fence covering it."""
        fences = [
            f["max_wall"]
            for f in self.rows["clock_fences"].values()
            if f["dev"] == op.dev and f["stream"] == op.scope and f["through_seq"] >= op.seq and f["max_wall"] < op.wall
        ]
        if not fences:
            return op.stamp
        return (min(fences), (op.wall << 32) | min(op.counter, 2**32 - 1), op.dev, op.id)

    # --- the merged state --------------------------------------------------------------------
    def tables(self) -> dict[str, dict[Key, Row]]:
        """Every view table with its derived columns filled in."""
        out = {t: {k: dict(r) for k, r in rows.items()} for t, rows in self.rows.items()}
        for (table, key), writes in self.writes.items():
            stamps = {}
            for f, candidates in writes.items():
                stamp, value = max((self.compared(op), value) for op, value in candidates)
                out[table][key][f] = value
                stamps[f] = list(stamp)
            out[table][key]["stamps"] = stamps
        # Stamps kept outside LWW fields (a ticket's close reason, by epoch then stamp).
        for (table, key), stamps in self.stamps.items():
            written = self.writes.get((table, key), {})
            extra = {f: list(s) for f, s in stamps.items() if f not in written}
            if extra:
                held = out[table][key].get("stamps") or {}
                out[table][key]["stamps"] = {**held, **extra}
        for (table, key), stamps in self.firsts.items():
            held = out[table][key].get("stamps") or {}
            out[table][key]["stamps"] = {**held, **{f: list(s) for f, s in stamps.items()}}
        for (kind, scope, once), (key, op, holder, inc, dec) in self.onces.items():
            out["counter_rights"][(kind, scope, key, holder)]["inc"] += inc
            out["counter_rights"][(kind, scope, key, holder)]["dec"] += dec
            out["ledger"][(op.id,)]["delta"] = inc - dec
            out["counter_once"][(kind, scope, once)] = {
                "kind": kind,
                "scope": scope,
                "once": once,
                "op": op.id,
                "wall": op.wall,
                "counter": op.counter,
                "dev": op.dev,
                "holder": holder,
                "key": key,
                "inc": inc,
                "dec": dec,
            }
        for row in out.values():
            for r in row.values():
                if r.get("stamps", 0) is None:
                    r["stamps"] = {}
        for ticket, epoch, stage in out["ticket_stages"]:
            t = out["tickets"][(ticket,)]
            if (epoch, LATTICE.index(stage)) > (t["epoch"], LATTICE.index(t["stage"])):
                t["epoch"], t["stage"] = epoch, stage
        dead = {(s["ticket"], s["op"]) for s in out["ticket_supersedes"].values()}
        live: dict[str, list[Row]] = {}
        for a in out["ticket_assigns"].values():
            if (a["ticket"], a["op"]) not in dead:
                live.setdefault(a["ticket"], []).append(a)
        for ticket, assigns in live.items():
            best = max(assigns, key=lambda a: (a["wall"], a["counter"], a["dev"], a["op"]))
            t = out["tickets"][(ticket,)]
            t["assignee"] = best["tech"]
            t["conflict"] = int(len({a["tech"] for a in assigns}) > 1)
        for transfer, step in out["transfer_steps"]:
            t = out["transfers"][(transfer,)]
            if t["step"] is None or STEPS.index(step) > STEPS.index(t["step"]):
                t["step"] = step
        for r in out["counter_rights"].values():
            c = out["counters"].get((r["kind"], r["scope"], r["key"]))
            if c is not None:
                c["value"] += r["inc"] - r["dec"]
        return out


# --- one rule per op type ----------------------------------------------------------------------
Rule = Callable[[Model, MOp, dict[str, Any]], None]
APPLY: dict[str, Rule] = {}


def rule(*names: str) -> Callable[[Rule], Rule]:
    def deco(fn: Rule) -> Rule:
        for name in names:
            APPLY[name] = fn
        return fn

    return deco


def _given(d: dict[str, Any], *names: str) -> dict[str, Any]:
    """The fields of an update op that it sets (``None`` or absent leaves a field alone)."""
    return {k: d[k] for k in names if d.get(k) is not None}


@rule("ticket.create")
def ticket_create(m: Model, op: MOp, d: dict[str, Any]) -> None:
    fields = {k: d[k] for k in ("code", "unit", "category", "urgency", "text")}
    fields.update(contact=d.get("contact", ""), household=d.get("household"), reported_ms=op.wall)
    fields["answers"] = json.dumps(d.get("answers", {}), sort_keys=True)
    m.lww("tickets", {"id": op.obj}, fields, op, op.scope)
    m.stage(op, 0, "reported")


@rule("ticket.update")
def ticket_update(m: Model, op: MOp, d: dict[str, Any]) -> None:
    fields = _given(d, "unit", "category", "urgency", "text", "contact")
    if fields:
        m.lww("tickets", {"id": op.obj}, fields, op, op.scope)


@rule("ticket.stage")
def ticket_stage(m: Model, op: MOp, d: dict[str, Any]) -> None:
    """A close reason belongs to its epoch: the highest ``(epoch, stamp)`` keeps it, with its epoch."""
    m.stage(op, d["epoch"], d["stage"])
    if d.get("reason") is not None:
        row = m.row("tickets", {"id": op.obj}, op.scope)
        stamps = m.stamps.setdefault(("tickets", (op.obj,)), {})
        held = stamps.get("close_reason")
        if held is None or (d["epoch"], op.stamp) > (row["close_epoch"], held):
            stamps["close_reason"] = op.stamp
            row.update(close_reason=d["reason"], close_epoch=d["epoch"])


@rule("ticket.assign")
def ticket_assign(m: Model, op: MOp, d: dict[str, Any]) -> None:
    a = m.row("ticket_assigns", {"op": op.id})
    a.update(ticket=op.obj, scope=op.scope, tech=d["tech"], wall=op.wall, counter=op.counter, dev=op.dev)
    a["actor"] = op.actor
    for h in d.get("supersedes", []):
        m.row("ticket_supersedes", {"ticket": op.obj, "op": h}, op.scope)
    m.row("tickets", {"id": op.obj}, op.scope)


@rule("ticket.comment")
def ticket_comment(m: Model, op: MOp, d: dict[str, Any]) -> None:
    m.note(op, "comment", d["text"])


@rule("ticket.photo")
def ticket_photo(m: Model, op: MOp, d: dict[str, Any]) -> None:
    m.note(op, "photo", d["sha256"])


@rule("ticket.part")
def ticket_part(m: Model, op: MOp, d: dict[str, Any]) -> None:
    m.note(op, "part", "", d["sku"], d["qty"])


@rule("ticket.hold")
def ticket_hold(m: Model, op: MOp, d: dict[str, Any]) -> None:
    reason = d["reason"]
    m.lww("tickets", {"id": op.obj}, {"hold_reason": reason, "hold_since": op.wall if reason else None}, op, op.scope)
    m.note(op, "hold", reason or "released")


@rule("ticket.rate")
def ticket_rate(m: Model, op: MOp, d: dict[str, Any]) -> None:
    m.lww("tickets", {"id": op.obj}, {"rating": d["rating"]}, op, op.scope)
    if d.get("comment"):
        m.note(op, "rating", d["comment"])


@rule("item.add")
def item_add(m: Model, op: MOp, d: dict[str, Any]) -> None:
    fields = {"name_zh": d["name_zh"], "name_en": d["name_en"], "kind": d.get("kind", "part")}
    fields.update(emergency=int(d.get("emergency", False)), ration=d.get("ration"), reorder=d.get("reorder", 0))
    m.lww("items", {"scope": op.scope, "sku": d["sku"]}, fields, op)


@rule("item.update")
def item_update(m: Model, op: MOp, d: dict[str, Any]) -> None:
    fields = _given(d, "name_zh", "name_en", "kind", "emergency", "ration", "reorder")
    if "emergency" in fields:
        fields["emergency"] = int(fields["emergency"])
    if fields:
        m.lww("items", {"scope": op.scope, "sku": op.obj}, fields, op)


@rule("stock.receive")
def stock_receive(m: Model, op: MOp, d: dict[str, Any]) -> None:
    if d.get("once") is not None:
        m.once("stock", op, d["sku"], d["once"], d.get("rights_to") or op.dev, inc=d["qty"])
        m.ledger(op, "stock", d["sku"], "receive", 0, reason=d.get("reason", ""))
        return
    m.counter("stock", op, d["sku"], inc=d["qty"], holder=d.get("rights_to"))
    m.ledger(op, "stock", d["sku"], "receive", d["qty"], reason=d.get("reason", ""))


@rule("stock.issue")
def stock_issue(m: Model, op: MOp, d: dict[str, Any]) -> None:
    extra = {"reason": d.get("reason", ""), "household": d.get("household"), "ticket": d.get("ticket")}
    if d.get("once") is not None:
        m.once("stock", op, d["sku"], d["once"], op.dev, dec=d["qty"])
        m.ledger(op, "stock", d["sku"], "issue", 0, **extra)
        return
    m.counter("stock", op, d["sku"], dec=d["qty"])
    m.ledger(op, "stock", d["sku"], "issue", -d["qty"], **extra)


@rule("stock.rights")
def stock_rights(m: Model, op: MOp, d: dict[str, Any]) -> None:
    m.counter("stock", op, d["sku"], to=d["to"], move=d["qty"])
    m.ledger(op, "stock", d["sku"], "rights", 0, peer=d["to"], reason=f"{d['qty']} rights")


@rule("stock.reclaim")
def stock_reclaim(m: Model, op: MOp, d: dict[str, Any]) -> None:
    m.counter("stock", replace(op, dev=d["holder"]), d["sku"], to=d["to"], move=d["qty"])
    reason = f"{d['qty']} rights of revoked device {d['holder']}"
    m.ledger(op, "stock", d["sku"], "rights", 0, peer=d["to"], reason=reason)


@rule("points.award")
def points_award(m: Model, op: MOp, d: dict[str, Any]) -> None:
    m.counter("points", op, d["household"], inc=d["n"])
    m.ledger(op, "points", d["household"], "award", d["n"], reason=d["reason"], household=d["household"])


@rule("points.redeem")
def points_redeem(m: Model, op: MOp, d: dict[str, Any]) -> None:
    m.counter("points", op, d["household"], dec=d["n"])
    m.ledger(op, "points", d["household"], "redeem", -d["n"], reason=d["reward"], household=d["household"])


@rule("points.rights")
def points_rights(m: Model, op: MOp, d: dict[str, Any]) -> None:
    m.counter("points", op, d["household"], to=d["to"], move=d["n"])
    m.ledger(op, "points", d["household"], "rights", 0, peer=d["to"], reason=f"{d['n']} rights")


@rule("points.reclaim")
def points_reclaim(m: Model, op: MOp, d: dict[str, Any]) -> None:
    m.counter("points", replace(op, dev=d["holder"]), d["household"], to=d["to"], move=d["n"])
    reason = f"{d['n']} rights of revoked device {d['holder']}"
    m.ledger(op, "points", d["household"], "rights", 0, peer=d["to"], reason=reason)


@rule("household.add")
def household_add(m: Model, op: MOp, d: dict[str, Any]) -> None:
    fields = {"unit": d["unit"], "vulnerable": compact(sorted(set(d.get("vulnerable", []))))}
    fields.update(pin_hash=d.get("pin_hash"), name=d.get("name", ""), phone=d.get("phone", ""))
    m.lww("households", {"scope": op.scope, "id": op.obj}, fields, op)


@rule("household.update")
def household_update(m: Model, op: MOp, d: dict[str, Any]) -> None:
    fields = _given(d, "vulnerable", "pin_hash", "name", "phone")
    if "vulnerable" in fields:
        fields["vulnerable"] = compact(sorted(set(fields["vulnerable"])))
    if fields:
        m.lww("households", {"scope": op.scope, "id": op.obj}, fields, op)


@rule("tech.add")
def tech_add(m: Model, op: MOp, d: dict[str, Any]) -> None:
    pos = d.get("pos")
    fields = {"name": d["name"], "tier": d["tier"], "home": d["home"], "phone": d.get("phone", "")}
    fields.update(skills=compact(sorted(set(d["skills"]))), certs=compact(sorted(set(d.get("certs", [])))))
    fields.update(shared=int(d.get("shared", False)), pos_x=pos[0] if pos else None, pos_y=pos[1] if pos else None)
    m.lww("techs", {"id": op.obj}, fields, op, op.scope)


@rule("tech.status")
def tech_status(m: Model, op: MOp, d: dict[str, Any]) -> None:
    m.lww("techs", {"id": op.obj}, {"status": d["status"]}, op, op.scope)


@rule("staff.add")
def staff_add(m: Model, op: MOp, d: dict[str, Any]) -> None:
    fields = {"pin_hash": d["pin_hash"], "role": d.get("role", "staff"), "name": d.get("name", "")}
    m.lww("staff", {"scope": op.scope, "id": op.obj}, fields, op)


@rule("notice.post")
def notice_post(m: Model, op: MOp, d: dict[str, Any]) -> None:
    fields = {k: d[k] for k in ("title_zh", "title_en", "body_zh", "body_en")}
    fields.update(until_ms=d.get("until_ms"), posted_ms=op.wall)
    m.lww("notices", {"id": op.obj}, fields, op, op.scope)


@rule("mode.set")
def mode_set(m: Model, op: MOp, d: dict[str, Any]) -> None:
    fields = {"mode": d["mode"], "reason": d.get("reason", ""), "actor": op.actor, "since": op.wall}
    m.lww("modes", {"scope": op.scope}, fields, op)


@rule("tool.lend")
def tool_lend(m: Model, op: MOp, d: dict[str, Any]) -> None:
    fields = {"sku": d["sku"], "household": d["household"], "due_ms": d["due_ms"], "lent_ms": op.wall}
    fields["note"] = d.get("note", "")
    m.lww("loans", {"id": op.obj}, fields, op, op.scope)


@rule("tool.return")
def tool_return(m: Model, op: MOp, d: dict[str, Any]) -> None:
    m.lww("loans", {"id": op.obj}, {"returned_ms": op.wall}, op, op.scope)


@rule("booking.make")
def booking_make(m: Model, op: MOp, d: dict[str, Any]) -> None:
    """A booking id is written once; should two ops name one id, the lowest stamp keeps it."""
    row = m.rows["bookings"].get((op.obj,))
    mine = {"facility": d["facility"], "slot": d["slot"], "household": d["household"]}
    if row is None or (op.first, *mine.values()) < (row_first(row), row["facility"], row["slot"], row["household"]):
        row = m.row("bookings", {"id": op.obj}, op.scope)
        row.update(mine, wall=op.wall, counter=op.counter, dev=op.dev)


def row_first(row: Row) -> tuple[int, int, str]:
    return (row["wall"], row["counter"], row["dev"])


@rule("booking.cancel")
def booking_cancel(m: Model, op: MOp, d: dict[str, Any]) -> None:
    """A cancel frees a booking of its own scope only."""
    m.row("booking_cancels", {"id": op.obj, "scope": op.scope})


@rule("device.enroll")
def device_enroll(m: Model, op: MOp, d: dict[str, Any]) -> None:
    fields = {k: d[k] for k in ("pubkey", "community", "role", "name")}
    fields["number"] = d.get("number")
    m.lww("devices", {"dev": op.obj}, fields, op, op.scope)


@rule("device.revoke")
def device_revoke(m: Model, op: MOp, d: dict[str, Any]) -> None:
    """The earliest revocation wins: revocations only shrink what a device may write."""
    row = m.row("devices", {"dev": op.obj}, op.scope)
    if row["revoked_from_seq"] is None or d["from_seq"] < row["revoked_from_seq"]:
        row["revoked_from_seq"] = d["from_seq"]


@rule("device.fence")
def device_fence(m: Model, op: MOp, d: dict[str, Any]) -> None:
    """A clock fence: one row per fenced stream; LWW winners are decided under all of them (``compared``)."""
    for stream, seq in d["through"].items():
        row = m.row("clock_fences", {"op": op.id, "stream": stream})
        row.update(scope=op.scope, dev=op.obj, through_seq=seq, max_wall=d["max_wall"])


@rule("tech.lend")
def tech_lend(m: Model, op: MOp, d: dict[str, Any]) -> None:
    m.lww("tech_loans", {"tech": op.obj}, {"dst": d["to"], "until_ms": d["until_ms"]}, op, op.scope)


@rule("transfer.request")
def transfer_request(m: Model, op: MOp, d: dict[str, Any]) -> None:
    """The first request fixes sku, quantity and note: a re-sent request changes nothing."""
    m.step(op, "requested")
    m.first_wins("transfers", {"id": op.obj}, {"sku": d["sku"], "qty": d["qty"], "note": d.get("note", "")}, op)


@rule("transfer.approve", "transfer.decline", "transfer.ship", "transfer.arrive")
def transfer_step(m: Model, op: MOp, d: dict[str, Any]) -> None:
    step = {"approve": "approved", "decline": "declined", "ship": "shipped", "arrive": "arrived"}
    m.step(op, step[op.type.split(".")[1]])
    if op.type == "transfer.approve" and d.get("sku") is not None and d.get("qty") is not None:
        m.first_wins("transfers", {"id": op.obj}, {"approved_sku": d["sku"], "approved_qty": d["qty"]}, op)
