"""Signed ops of every registered type, written by several devices, for order-independence tests.

``Writer`` signs ops straight into its streams (seq, prev and HLC kept per device), so a test can make
concurrent and conflicting ops that no single node's facade would write: two assigns of one ticket
from two kiosks, a stage and a reopen at once, holds and releases, rights moves, revocations.

``World`` holds the district device and three community devices (two in ``a``, one in ``b``); its
first ops are the district's ``device.enroll`` of each, so a receiver that pins the district key
learns every other key from the log, as a real node does.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from crdt.keys import DeviceKey
from crdt.op import ZERO_HASH, Op, sign_op
from edge.store import Identity, Store

BASE_MS = 1_700_000_000_000
SKUS = ("S1", "S2")
HOUSEHOLDS = ("1-101", "1-102")
TICKETS = ("T0", "T1", "T2")
TECHS = ("tech0", "tech1")
STAGES = ("reported", "triaged", "assigned", "en_route", "on_site", "resolved", "closed", "cancelled")
HASH0 = "0" * 64


class Writer:
    """A device that signs ops into its own streams."""

    def __init__(self, name: str, community: str, role: str, seed: int) -> None:
        self.name = name
        self.key = DeviceKey.from_seed(bytes([seed]) * 32)
        self.dev = self.key.device_id
        self.community = community
        self.role = role
        self.heads: dict[str, tuple[int, bytes]] = {}
        self.wall = BASE_MS
        self.counter = 0

    def emit(self, scope: str, type_name: str, obj: str, data: dict[str, Any], tick: int = 1) -> Op:
        """Sign the next op of stream ``(self, scope)``; ``tick`` ms pass first (0 makes ties likely).

        A negative ``tick`` signs with the very HLC of this device's previous op, as a device with a
        broken (or hostile) clock may: only the op hash then orders the two.
        """
        if tick > 0:
            self.wall += tick
            self.counter = 0
        elif tick == 0:
            self.counter += 1
        seq, prev = self.heads.get(scope, (0, ZERO_HASH))
        op = sign_op(
            self.key,
            scope=scope,
            seq=seq + 1,
            prev=prev,
            hlc=(self.wall, self.counter),
            actor=f"{self.name}-staff",
            type=type_name,
            obj=obj,
            data=data,
        )
        self.heads[scope] = (op.seq, op.hash)
        return op


class World:
    """The district ``D`` and community devices ``A1``, ``A2`` (community ``a``) and ``B1`` (``b``)."""

    def __init__(self) -> None:
        self.district = Writer("D", "district", "district", 1)
        self.a1 = Writer("A1", "a", "kiosk", 2)
        self.a2 = Writer("A2", "a", "kiosk", 3)
        self.b1 = Writer("B1", "b", "kiosk", 4)
        self.community_writers = [self.a1, self.a2, self.b1]
        self.writers = [self.district, *self.community_writers]
        self.ops: list[Op] = []
        self.assigns: dict[str, list[str]] = {}
        self.bookings = 0
        for w in self.community_writers:
            self.ops.append(
                self.district.emit(
                    "district",
                    "device.enroll",
                    w.dev,
                    {"pubkey": w.key.public_bytes, "community": w.community, "role": w.role, "name": w.name},
                )
            )
        self.enrolls = len(self.ops)

    def align_clocks(self) -> None:
        """Set every writer's clock to one value just past the latest, so their next ops collide."""
        wall = max(w.wall for w in self.writers) + 1
        for w in self.writers:
            w.wall, w.counter = wall, 0

    def add(self, op: Op) -> Op:
        self.ops.append(op)
        return op

    def revoke_after_writing(self, w: Writer) -> Op:
        """Revoke ``w`` from the seq after the last it wrote (its ops so far stay valid in any order)."""
        last = max((seq for seq, _ in w.heads.values()), default=0)
        return self.add(
            self.district.emit("district", "device.revoke", w.dev, {"from_seq": last + 1, "reason": "lost"})
        )

    def receiver(self, path: Path, wall: Callable[[], int] | None = None) -> Store:
        """A fresh district-role store that pins the district key (and so learns the others from the log)."""
        store = Store(
            path,
            Identity(DeviceKey.generate(), "district", "district"),
            wall=wall or (lambda: BASE_MS + 3_600_000),
            trusted_keys={self.district.dev: self.district.key.public_bytes},
        )
        store.set("district_dev", self.district.dev)
        return store

    def streams(self) -> dict[tuple[str, str], list[Op]]:
        """The ops after the enrolment prefix, per stream, in seq order."""
        out: dict[tuple[str, str], list[Op]] = {}
        for op in self.ops[self.enrolls :]:
            out.setdefault(op.stream, []).append(op)
        return out


def _community(world: World, pick: int) -> Writer:
    return [world.a1, world.a2, world.b1, world.district][pick % 4]


def _scope_of(w: Writer) -> str:
    return "a" if w.role == "district" else w.community


def make_op(world: World, type_name: str, pick: int, obj_pick: int, n: int, tick: int | None = None) -> Op:
    """One op of ``type_name``, its writer, object and payload chosen by the three numbers.

    ``tick`` (default ``n % 3``) is the writer's clock step, as in ``Writer.emit``.
    """
    w = _community(world, pick)
    scope = _scope_of(w)
    tick = n % 3 if tick is None else tick  # 0: same wall time as the writer's previous op
    hh = HOUSEHOLDS[obj_pick % 2]
    sku = SKUS[obj_pick % 2]
    # Entity ids are ULIDs in real use, so one id never lives in two scopes: keep them apart here too.
    ticket = f"{scope}-{TICKETS[obj_pick % 3]}"
    tech = f"{scope}-{TECHS[obj_pick % 2]}"
    peer = world.writers[(pick + 1) % 4].dev
    d = world.district
    makers: dict[str, Callable[[], Op]] = {
        "ticket.create": lambda: w.emit(
            scope,
            type_name,
            ticket,
            {
                "code": f"A{pick % 4}X-{1000 + n % 9000:04d}",
                "unit": hh,
                "category": ("water", "gas", "lift", "door")[n % 4],
                "urgency": ("P1", "P2", "P3", "P4")[n % 4],
                "text": f"report {n} 水管",
                "contact": "",
                "household": hh if n % 2 else None,
                "answers": {"gas_smell": bool(n % 2)},
            },
            tick,
        ),
        "ticket.update": lambda: w.emit(scope, type_name, ticket, {"urgency": ("P1", "P3")[n % 2]}, tick),
        "ticket.stage": lambda: w.emit(
            scope,
            type_name,
            ticket,
            {"epoch": n % 3, "stage": STAGES[n % len(STAGES)], "reason": "fixed" if n % 5 == 0 else None},
            tick,
        ),
        "ticket.assign": lambda: _assign(world, w, scope, ticket, f"{scope}-{TECHS[(obj_pick + n) % 2]}", n, tick),
        "ticket.comment": lambda: w.emit(scope, type_name, ticket, {"text": f"comment {n}"}, tick),
        "ticket.photo": lambda: w.emit(scope, type_name, ticket, {"sha256": f"{n:064x}"}, tick),
        "ticket.part": lambda: w.emit(scope, type_name, ticket, {"sku": sku, "qty": 1 + n % 3}, tick),
        "ticket.hold": lambda: w.emit(
            scope, type_name, ticket, {"reason": (None, "no_access", "awaiting_parts")[n % 3]}, tick
        ),
        "ticket.rate": lambda: w.emit(scope, type_name, ticket, {"rating": 1 + n % 5, "comment": ""}, tick),
        "item.add": lambda: w.emit(
            scope,
            type_name,
            sku,
            {"sku": sku, "name_zh": "水管", "name_en": f"pipe {n}", "kind": "part", "emergency": bool(n % 2)},
            tick,
        ),
        "item.update": lambda: w.emit(scope, type_name, sku, {"reorder": n % 7}, tick),
        "stock.receive": lambda: w.emit(scope, type_name, sku, {"sku": sku, "qty": 1 + n % 9, **_once(n)}, tick),
        "stock.issue": lambda: w.emit(
            scope, type_name, sku, {"sku": sku, "qty": 1 + n % 4, "household": hh, **_once(n)}, tick
        ),
        "stock.rights": lambda: w.emit(scope, type_name, sku, {"sku": sku, "qty": 1 + n % 2, "to": peer}, tick),
        "points.award": lambda: w.emit(
            scope, type_name, hh, {"household": hh, "n": 1 + n % 20, "reason": "help"}, tick
        ),
        "points.redeem": lambda: w.emit(scope, type_name, hh, {"household": hh, "n": 1 + n % 5, "reward": "tea"}, tick),
        "points.rights": lambda: w.emit(scope, type_name, hh, {"household": hh, "n": 1, "to": peer}, tick),
        "household.add": lambda: w.emit(
            scope, type_name, hh, {"unit": hh, "vulnerable": ["disabled"] if n % 2 else [], "name": f"N{n}"}, tick
        ),
        "household.update": lambda: w.emit(scope, type_name, hh, {"phone": f"138{n:08d}"[:11]}, tick),
        "tech.add": lambda: w.emit(
            scope,
            type_name,
            tech,
            {"name": f"{tech}-{n % 2}", "skills": ["water"], "tier": "core", "home": scope, "pos": [n % 5, 1]},
            tick,
        ),
        "tech.status": lambda: w.emit(scope, type_name, tech, {"status": ("available", "busy", "off")[n % 3]}, tick),
        "staff.add": lambda: w.emit(scope, type_name, f"s{obj_pick % 2}", {"pin_hash": f"h{n}", "role": "staff"}, tick),
        "notice.post": lambda: w.emit(
            scope,
            type_name,
            f"{scope}-n{obj_pick % 2}",
            {"title_zh": "停水", "title_en": f"water off {n}", "body_zh": "明天", "body_en": "tomorrow"},
            tick,
        ),
        "mode.set": lambda: w.emit(scope, type_name, scope, {"mode": ("normal", "emergency")[n % 2]}, tick),
        "tool.lend": lambda: w.emit(
            scope, type_name, f"{scope}-L{obj_pick % 2}", {"sku": sku, "household": hh, "due_ms": n}, tick
        ),
        "tool.return": lambda: w.emit(scope, type_name, f"{scope}-L{obj_pick % 2}", {}, tick),
        "booking.make": lambda: _book(world, w, scope, hh, n, tick),
        "booking.cancel": lambda: w.emit(scope, type_name, f"{scope}-B{n % max(1, world.bookings)}", {}, tick),
        "device.enroll": lambda: d.emit(
            "district",
            type_name,
            world.a1.dev,
            {"pubkey": world.a1.key.public_bytes, "community": "a", "role": "kiosk", "name": f"kiosk {n}"},
            tick,
        ),
        "tech.lend": lambda: d.emit(
            "district", type_name, f"district-{TECHS[obj_pick % 2]}", {"to": "a", "until_ms": BASE_MS + n}, tick
        ),
        "stock.reclaim": lambda: d.emit(
            "a", type_name, sku, {"sku": sku, "qty": 1 + n % 3, "holder": world.a1.dev, "to": world.a2.dev}, tick
        ),
        "points.reclaim": lambda: d.emit(
            "a", type_name, hh, {"household": hh, "n": 1 + n % 3, "holder": world.a2.dev, "to": world.a1.dev}, tick
        ),
        "transfer.request": lambda: _transfer(world, "request", pick, obj_pick, n, tick),
        "transfer.approve": lambda: _transfer(world, "approve", pick, obj_pick, n, tick),
        "transfer.decline": lambda: _transfer(world, "decline", pick, obj_pick, n, tick),
        "transfer.ship": lambda: _transfer(world, "ship", pick, obj_pick, n, tick),
        "transfer.arrive": lambda: _transfer(world, "arrive", pick, obj_pick, n, tick),
    }
    if type_name == "device.fence":
        # The district fences a community device's clock at a time among its latest stamps, covering the
        # streams it has written (or its first op to come): some of its ops are then compared at the fence.
        target = world.community_writers[pick % 3]
        through = {scope: seq for scope, (seq, _) in target.heads.items()} or {_scope_of(target): 1}
        data = {"max_wall": max(0, target.wall - n % 5), "through": through, "reason": "clock ahead"}
        return world.add(d.emit("district", type_name, target.dev, data, tick))
    if type_name == "device.revoke":
        # A revocation from a seq the device has already passed would make acceptance depend on
        # arrival order (validation keeps what was accepted); revoke from the next seq instead.
        return world.revoke_after_writing(world.b1)
    return world.add(makers[type_name]())


MAKERS_FOR = frozenset(
    {
        "ticket.create",
        "ticket.update",
        "ticket.stage",
        "ticket.assign",
        "ticket.comment",
        "ticket.photo",
        "ticket.part",
        "ticket.hold",
        "ticket.rate",
        "item.add",
        "item.update",
        "stock.receive",
        "stock.issue",
        "stock.rights",
        "points.award",
        "points.redeem",
        "points.rights",
        "household.add",
        "household.update",
        "tech.add",
        "tech.status",
        "staff.add",
        "notice.post",
        "mode.set",
        "tool.lend",
        "tool.return",
        "booking.make",
        "booking.cancel",
        "device.enroll",
        "device.revoke",
        "device.fence",
        "tech.lend",
        "stock.reclaim",
        "points.reclaim",
        "transfer.request",
        "transfer.approve",
        "transfer.decline",
        "transfer.ship",
        "transfer.arrive",
    }
)


def _assign(world: World, w: Writer, scope: str, ticket: str, tech: str, n: int, tick: int) -> Op:
    seen = world.assigns.setdefault(f"{scope}/{ticket}", [])
    supersedes = [h for i, h in enumerate(seen) if (n >> i) & 1]  # some earlier assigns, maybe none
    if n % 11 == 10:
        supersedes.append(f"{n:064x}")  # an assign this replica never sees
    op = w.emit(scope, "ticket.assign", ticket, {"tech": tech, "supersedes": supersedes}, tick)
    seen.append(op.id)
    return op


def _book(world: World, w: Writer, scope: str, hh: str, n: int, tick: int) -> Op:
    """A new booking; now and then one that reuses an id (as a faulty device might)."""
    if n % 4 == 3 and world.bookings:
        bid = f"{scope}-B{n % world.bookings}"
    else:
        bid = f"{scope}-B{world.bookings}"
        world.bookings += 1
    data = {"facility": ("hall", "gym")[n % 2], "slot": "2026-05-01T10:00", "household": hh}
    return w.emit(scope, "booking.make", bid, data, tick)


def _once(n: int) -> dict[str, Any]:
    """Now and then a lifecycle key (two of them, so concurrent writers of one step meet)."""
    return {"once": f"arrive b>a:t{n % 2}"} if n % 3 == 0 else {}


def _transfer(world: World, step: str, pick: int, obj_pick: int, n: int, tick: int) -> Op:
    """Transfers from ``b`` to ``a``: ``a`` requests and takes delivery, ``b`` answers, or the district."""
    tid = f"b>a:t{obj_pick % 2}"
    writer = world.district if pick % 3 == 0 else (world.a1 if step in ("request", "arrive") else world.b1)
    data: dict[str, Any] = {"note": f"{step} {n}"}
    if step == "request":
        data = {"sku": SKUS[obj_pick % 2], "qty": 1 + n % 5, "src": "b", "dst": "a", "note": ""}
    if step == "approve" and n % 2:
        data.update(sku=SKUS[n % 2], qty=1 + n % 3)
    return writer.emit("district", f"transfer.{step}", tid, data, tick)


def interleave(streams: Iterable[list[Op]], rng: random.Random) -> list[Op]:
    """A random interleaving of the streams that keeps each stream's own (seq) order."""
    queues = [list(s) for s in streams if s]
    out: list[Op] = []
    while queues:
        q = queues[rng.randrange(len(queues))]
        out.append(q.pop(0))
        queues = [x for x in queues if x]
    return out


def with_duplicates(ops: list[Op], rng: random.Random, k: int) -> list[Op]:
    """``ops`` with ``k`` re-sent copies, each placed somewhere after its original."""
    out = list(ops)
    for _ in range(k):
        if not out:
            break
        i = rng.randrange(len(out))
        out.insert(rng.randrange(i + 1, len(out) + 1), out[i])
    return out


def batches(raws: list[bytes], rng: random.Random) -> list[list[bytes]]:
    """``raws`` cut into batches of random sizes (1 to 40)."""
    out = []
    i = 0
    while i < len(raws):
        n = rng.randint(1, 40)
        out.append(raws[i : i + n])
        i += n
    return out
