"""The convergence simulation: 20 devices in 5 communities and the district, a lossy network.

Every device and the server run the real code (``edge.sync`` over ``SyncServer.handle``); only the
network is simulated. It drops requests and answers, duplicates and delays requests (a delayed or
duplicated request reaches the server later, after newer ones: reordering) and partitions devices.
Every op any node writes is recorded with the stream heads its writer held (its causal past);
every replica checks, after each op it applies (in the middle of a page too), that it holds that
past for the scopes it keeps, and that no counter or device right is negative.
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crdt.op import Op
from edge.errors import EdgeError
from edge.node import Node
from edge.sync import SyncFailed, Unreachable, enroll, sync_once
from sync_server.admin import revoke
from sync_server.core import HttpRequest, InProcessTransport, Limits, SyncServer
from sync_server.enroll import issue_token

from ..sync_server.helpers import START_MS, Clock, make_district
from . import actions

Heads = dict[tuple[str, str], int]


@dataclass
class Faults:
    drop_request: float = 0.08
    delay_request: float = 0.08
    duplicate_request: float = 0.08
    drop_answer: float = 0.08
    partition: float = 0.2  # chance per step that some links change state
    enabled: bool = True


@dataclass
class Network:
    """Delivers requests to the server, with faults."""

    server: SyncServer
    rng: random.Random
    faults: Faults
    step: int = 0
    up: dict[str, bool] = field(default_factory=dict)
    later: list[tuple[int, int, HttpRequest]] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)

    def count(self, what: str) -> None:
        self.stats[what] = self.stats.get(what, 0) + 1

    def deliver_due(self) -> None:
        due = [m for m in self.later if m[0] <= self.step]
        self.later = [m for m in self.later if m[0] > self.step]
        self.rng.shuffle(due)
        for _, _, req in due:
            self.count(f"late:{self.server.handle(req).status}")

    def request(self, dev: str, req: HttpRequest) -> tuple[int, bytes]:
        f = self.faults
        if f.enabled:
            if not self.up.get(dev, True):
                self.count("partitioned")
                raise Unreachable("partitioned")
            r = self.rng.random()
            if r < f.drop_request:
                self.count("dropped")
                raise Unreachable("request dropped")
            if r < f.drop_request + f.delay_request:
                self.later.append((self.step + self.rng.randint(1, 6), self.rng.random().__hash__(), req))
                self.count("delayed")
                raise Unreachable("timed out (request delayed)")
        resp = self.server.handle(req)
        if f.enabled:
            if self.rng.random() < f.duplicate_request:
                self.later.append((self.step + self.rng.randint(0, 4), self.rng.random().__hash__(), req))
                self.count("duplicated")
            if self.rng.random() < f.drop_answer:
                self.count("answer lost")
                raise Unreachable("answer lost")
        return resp.status, resp.body


class LinkTransport:
    """One device's ``Transport`` over the simulated network."""

    def __init__(self, net: Network, dev: str) -> None:
        self.net = net
        self.dev = dev

    def request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        req = HttpRequest(method, path, "", {k.lower(): v for k, v in headers.items()}, body)
        return self.net.request(self.dev, req)


class Violation(AssertionError):
    """An invariant broke."""


class World:
    """The district, its devices, the network, and the invariant checks."""

    def __init__(self, root: Path, seed: int, *, steps: int, communities: int = 5, per_community: int = 4) -> None:
        self.seed = seed
        self.revoke_at = steps // 2
        self.rng = random.Random(seed)
        self.clock = Clock(START_MS)
        self.server = make_district(root / "district", clock=self.clock, limits=Limits(rate_per_s=1e9, burst=1e9))
        self.net = Network(self.server, random.Random(seed * 7919 + 1), Faults())
        self.causes: dict[bytes, Heads] = {}
        self.nodes: list[Node] = []
        self.links: dict[str, LinkTransport] = {}
        self.errors: dict[str, int] = {}
        self.applied = 0
        self._watch(self.server.node)
        devices: dict[str, list[str]] = {}
        for c in range(communities):
            community = f"c{c}"
            for k in range(per_community):
                role = "staff" if k == per_community - 1 else "kiosk"
                skew = self.rng.choice([0, 0, 0, 20_000, -45_000, 7 * 60_000, -9 * 60_000])
                node = Node.init(root / f"{community}-{k}", community, role=role, wall=self._skewed(skew))
                enroll(node, InProcessTransport(self.server), "http://district.sim", self._token(community, role))
                self._watch(node)
                self.nodes.append(node)
                self.links[node.dev] = LinkTransport(self.net, node.dev)
                devices.setdefault(community, []).append(node.dev)
        # One more device, which the district revokes halfway: its later ops must be refused everywhere.
        doomed = Node.init(root / "c0-doomed", "c0", wall=self._skewed(0))
        enroll(doomed, InProcessTransport(self.server), "http://district.sim", self._token("c0", "kiosk"))
        self._watch(doomed)
        self.nodes.append(doomed)
        self.links[doomed.dev] = LinkTransport(self.net, doomed.dev)
        devices["c0"].append(doomed.dev)
        self.doomed = doomed
        self.revoked_from: int | None = None
        self.doomed_held: set[bytes] = set()
        self.peers = actions.Peers(devices)
        for (h,) in self.server.node.conn.execute("SELECT hash FROM ops"):
            self.causes[bytes(h)] = {}
        self.bootstrap()

    def bootstrap(self) -> None:
        """A district catalogue and pool, and a few households and technicians written offline."""
        for action in (
            actions.district_part,
            actions.district_tool,
            actions.district_tech,
            actions.district_tech,
            actions.district_notice,
        ):
            self.act(self.server.node, [(action, 1)])
        for node in self.nodes:
            for action in (actions.household_add, actions.household_add, actions.tech_add):
                self.act(node, [(action, 1)])

    def _token(self, community: str, role: str) -> str:
        return issue_token(self.server.node.conn, community, role, 3_600_000, self.clock())

    def _skewed(self, skew: int) -> Any:
        return lambda: self.clock() + skew

    # --- invariants ------------------------------------------------------------------------------
    def _watch(self, node: Node) -> None:
        """Check the invariants after every op ``node`` applies from elsewhere."""
        store = node.store
        inner = store.apply_remote_in
        scopes = set(node.scopes) if node.role != "district" else None

        def checked(conn: sqlite3.Connection, raws: list[bytes], **kw: Any) -> Any:
            outer = kw.pop("on_accept", None)

            def hook(c: sqlite3.Connection, op: Op, idx: int) -> None:
                self.applied += 1
                self.check_causes(c, op, scopes, node)
                self.check_counters(c, node)
                if outer is not None:
                    outer(c, op, idx)

            return inner(conn, raws, on_accept=hook, **kw)

        store.apply_remote_in = checked  # type: ignore[method-assign]

    def check_causes(self, conn: sqlite3.Connection, op: Op, scopes: set[str] | None, node: Node) -> None:
        cause = self.causes.get(op.hash)
        if cause is None:
            raise Violation(f"seed {self.seed}: {node.dev} applied op {op.where()} that no node wrote")
        heads = {(d, s): n for d, s, n in conn.execute("SELECT dev, scope, head_seq FROM streams")}
        for (dev, scope), seq in cause.items():
            if (scopes is None or scope in scopes) and heads.get((dev, scope), 0) < seq:
                raise Violation(
                    f"seed {self.seed}: {node.community}/{node.dev} applied {op.where()} ({op.type}) before its "
                    f"cause {dev}/{scope}#{seq} (holds #{heads.get((dev, scope), 0)})"
                )

    def check_counters(self, conn: sqlite3.Connection, node: Node) -> None:
        neg = conn.execute(
            "SELECT kind, scope, key, dev, inc + moved_in - moved_out - dec FROM counter_rights "
            "WHERE inc + moved_in - moved_out - dec < 0 LIMIT 1"
        ).fetchone()
        low = conn.execute("SELECT kind, scope, key, value FROM counters WHERE value < 0 LIMIT 1").fetchone()
        if neg or low:
            raise Violation(f"seed {self.seed}: {node.community}/{node.dev} shows a negative counter: {neg or low}")

    # --- steps -----------------------------------------------------------------------------------
    def act(self, node: Node, table: list[tuple[actions.Action, int]]) -> None:
        """One random action on ``node``; record the causal past of the ops it wrote."""
        before = {(d, s): n for d, s, n in node.conn.execute("SELECT dev, scope, head_seq FROM streams")}
        top = node.conn.execute("SELECT COALESCE(MAX(idx), 0) FROM ops").fetchone()[0]
        action = actions.choose(self.rng, table)
        try:
            action(self.rng, node, self.peers)
        except (EdgeError, LookupError) as exc:
            key = f"{action.__name__}:{type(exc).__name__}"
            self.errors[key] = self.errors.get(key, 0) + 1
        past = dict(before)
        for h, dev, scope, seq in node.conn.execute(
            "SELECT hash, dev, scope, seq FROM ops WHERE idx > ? ORDER BY idx", (top,)
        ):
            self.causes[bytes(h)] = dict(past)
            past[(dev, scope)] = seq
        self.check_counters(node.conn, node)

    def sync(self, node: Node, *, limit: int = 7, push_batch: int = 5) -> bool:
        try:
            sync_once(node, self.links[node.dev], limit=limit, push_batch=push_batch, max_rounds=200)
        except SyncFailed:
            return False
        return True

    def step(self) -> None:
        self.net.step += 1
        self.clock.advance(self.rng.randint(200, 4000))
        if self.net.faults.enabled and self.rng.random() < self.net.faults.partition:
            victims = self.rng.sample(self.nodes, self.rng.randint(1, 6))
            for node in victims:
                self.net.up[node.dev] = not self.net.up.get(node.dev, True)
        self.net.deliver_due()
        if self.revoked_from is None and self.net.step >= self.revoke_at:
            self.act(self.server.node, [(self._revoke, 1)])
        if self.rng.random() < 0.3:
            self.act(self.server.node, actions.DISTRICT_ACTIONS)
        for node in self.rng.sample(self.nodes, len(self.nodes)):
            roll = self.rng.random()
            if roll < 0.5:
                for _ in range(self.rng.randint(1, 3)):
                    self.act(node, actions.COMMUNITY_ACTIONS)
            elif roll < 0.75:
                self.sync(node)

    def _revoke(self, rng: random.Random, node: Node, peers: actions.Peers) -> Any:
        self.revoked_from = int(revoke(node, self.doomed.dev, reason="stolen")["revoked_from_seq"])
        self.doomed_held = {
            bytes(h) for (h,) in node.conn.execute("SELECT hash FROM ops WHERE dev=?", (self.doomed.dev,))
        }

    def heal(self, rounds: int = 4) -> None:
        """Lift every fault, deliver what is still in flight, and sync every device until quiet."""
        self.net.faults.enabled = False
        self.net.step += 100
        self.clock.advance(10 * 60_000)  # late copies still in flight are now stale
        self.net.deliver_due()
        for _ in range(rounds):
            for node in self.nodes:
                if node is self.doomed:
                    continue
                if not self.sync(node, limit=50, push_batch=50):
                    raise Violation(
                        f"seed {self.seed}: {node.dev} cannot sync after healing: {node.status()['last_sync_error']}"
                    )

    def close(self) -> None:
        for node in self.nodes:
            node.close()
        self.server.close()
