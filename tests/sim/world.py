"""The convergence simulation: 20 devices in 5 communities and the district, a lossy network, faults.

Every device and the server run the real code (``edge.sync`` over ``SyncServer.handle``); only the
network and the clocks are simulated. The network drops requests and answers, duplicates and delays
requests (a delayed or duplicated request reaches the server later, after newer ones: reordering) and
partitions devices. On top of that, each run injects the faults a real district sees (``FAULTS``):

- ``lost``: a kiosk of ``c0`` that holds stock and points rights is lost and revoked halfway, its
  rights handed to a kiosk of the same community (``revoke(..., rights_to=...)``, once it exists);
- ``restored``: a kiosk of ``c1`` whose data folder is copied aside early, and put back later (after
  it synced more), after which it writes reports before it next reaches the district;
- ``future``: a kiosk of ``c2`` whose clock says 2099;
- ``past``: a kiosk of ``c3`` whose clock is three days behind (fake-hwclock after days offline);
- ``double_step`` (after the run): two kiosks of one community both mark one shipped transfer
  arrived, and both take back one lent tool, each offline.

Every op any node writes is recorded with the stream heads its writer held (its causal past); every
replica checks, after each op it applies (in the middle of a page too, on the careful apply path) or
after each batch (on the fast path), that it holds that past for the scopes it keeps, and that no
counter or device right is negative. Everything that goes wrong is recorded (``record.Record``) by
kind and device; ``checks`` holds the end-of-run checks.
"""

from __future__ import annotations

import inspect
import random
import shutil
import sqlite3
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import edge.store.log as store_log
from crdt.op import Op
from edge.errors import AuditAlarm, EdgeError, OwnOpsRejected, ServerRefused, SyncFailed, Unreachable
from edge.node import Node
from edge.store.ingest import AHEAD_MIN_BATCH
from edge.sync import enroll, sync_once, unpack
from sync_server.admin import revoke
from sync_server.core import HttpRequest, InProcessTransport, Limits, SyncServer
from sync_server.enroll import issue_token

from ..sync_server.helpers import START_MS, Clock, make_district
from . import actions
from .record import Record

Heads = dict[tuple[str, str], int]

DAY_MS = 86_400_000
YEAR_2099_MS = 4_083_868_800_000  # 2099-06-01 00:00 UTC
FAULTS = ("lost", "restored", "future", "past", "double_step")


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
    """Delivers requests to the server, with faults; records every answer that is an error."""

    server: SyncServer
    rng: random.Random
    faults: Faults
    record: Record
    step: int = 0
    up: dict[str, bool] = field(default_factory=dict)
    later: list[tuple[int, int, str, HttpRequest]] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)

    def count(self, what: str) -> None:
        self.stats[what] = self.stats.get(what, 0) + 1

    def deliver_due(self) -> None:
        due = [m for m in self.later if m[0] <= self.step]
        self.later = [m for m in self.later if m[0] > self.step]
        self.rng.shuffle(due)
        for _, _, dev, req in due:
            resp = self.server.handle(req)
            self.count(f"late:{resp.status}")
            self.look(dev, resp.status, resp.body, late=True)

    def look(self, dev: str, status: int, body: bytes, *, late: bool = False) -> None:
        """Record what an answer refused: a 5xx always; per-op rejections and quarantines of a fresh
        request (a late copy of an old request is refused as a replay or a stale timestamp, rightly)."""
        try:
            answer = unpack(body, 64 * 1024 * 1024)
        except Exception:  # noqa: BLE001 - a body that is not msgpack is itself worth recording
            answer = None
        if not isinstance(answer, dict):
            answer = {}
        where = "late " if late else ""
        if status >= 500:
            self.record.add(f"http_{status}", dev, f"{where}{answer.get('error')}: {answer.get('detail')}")
            return
        if late:
            return
        for r in answer.get("rejected") or []:
            if isinstance(r, dict):
                self.record.add(f"rejected:{r.get('code')}", str(r.get("dev") or dev), str(r.get("detail")))
        if answer.get("quarantined"):
            self.record.add("quarantined", dev, str(answer["quarantined"]))
        if status != 200 and not answer.get("rejected"):
            self.record.add(f"refused:{answer.get('error')}", dev, str(answer.get("detail")))

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
                self.later.append((self.step + self.rng.randint(1, 6), self.rng.random().__hash__(), dev, req))
                self.count("delayed")
                raise Unreachable("timed out (request delayed)")
        resp = self.server.handle(req)
        self.look(dev, resp.status, resp.body)
        if f.enabled:
            if self.rng.random() < f.duplicate_request:
                self.later.append((self.step + self.rng.randint(0, 4), self.rng.random().__hash__(), dev, req))
                self.count("duplicated")
            if self.rng.random() < f.drop_answer:
                self.count("answer lost")
                raise Unreachable("answer lost")
        return resp.status, resp.body


class LinkTransport:
    """One device's ``Transport`` over the simulated network (``direct``: no faults on this link)."""

    def __init__(self, net: Network, dev: str) -> None:
        self.net = net
        self.dev = dev

    def request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        req = HttpRequest(method, path, "", {k.lower(): v for k, v in headers.items()}, body)
        return self.net.request(self.dev, req)


@dataclass
class Paths:
    """How often each apply path of ``edge.store.ingest`` ran (``fast``: no savepoint per op)."""

    careful: int = 0
    fast: int = 0
    fast_large: int = 0  # fast batches of at least AHEAD_MIN_BATCH ops (signatures checked ahead)
    redone: int = 0  # fast batches redone op by op after an apply error


class World:
    """The district, its devices, the network, the faults, and the invariant checks."""

    def __init__(self, root: Path, seed: int, *, steps: int, communities: int = 5, per_community: int = 4) -> None:
        self.root = root
        self.seed = seed
        self.steps = steps
        self.revoke_at = steps // 2
        self.rng = random.Random(seed)
        self.clock = Clock(START_MS)
        self.record = Record()
        self.server = make_district(root / "district", clock=self.clock, limits=Limits(rate_per_s=1e9, burst=1e9))
        self.net = Network(self.server, random.Random(seed * 7919 + 1), Faults(), self.record)
        self.causes: dict[bytes, Heads] = {}
        self.authors: dict[bytes, str] = {}  # op hash -> the device that wrote it
        self.nodes: list[Node] = []
        self.links: dict[str, LinkTransport] = {}
        self.errors: Counter[str] = Counter()
        self.applied = 0
        self.paths = Paths()
        self.fast_nodes: set[str] = set()
        self.skews: dict[str, int] = {}
        self._watch(self.server.node)
        devices: dict[str, list[str]] = {}
        for c in range(communities):
            community = f"c{c}"
            for k in range(per_community):
                role = "staff" if k == per_community - 1 else "kiosk"
                skew = self.rng.choice([0, 0, 0, 20_000, -45_000, 7 * 60_000, -9 * 60_000])
                if (c, k) == (2, 0):
                    skew = YEAR_2099_MS - START_MS  # "future": the clock says 2099
                elif (c, k) == (3, 0):
                    skew = -3 * DAY_MS  # "past": booted three days behind
                node = self._new_node(root / f"{community}-{k}", community, role, skew, fast=k % 2 == 0)
                devices.setdefault(community, []).append(node.dev)
        # One more device, which is lost and revoked halfway: its later ops must be refused everywhere.
        self.doomed = self._new_node(root / "c0-doomed", "c0", "kiosk", 0, fast=False)
        devices["c0"].append(self.doomed.dev)
        self.restored = self.nodes[per_community]  # c1-0
        self.future = self.nodes[2 * per_community]  # c2-0
        self.past = self.nodes[3 * per_community]  # c3-0
        self.heir = self.nodes[1]  # c0-1: receives the lost device's rights
        self.revoked_from: int | None = None
        self.doomed_held: set[bytes] = set()
        self.rights_handed: bool | None = None
        self.backup_at = max(2, steps // 4)
        self.restore_at = max(self.backup_at + 2, (steps * 3) // 5)
        self.backup: Path | None = None
        self.restored_at_seq: dict[str, int] = {}
        self.restored_reports: list[str] = []
        self.after_restore: set[bytes] = set()
        self.acked_before_restore: set[bytes] = set()
        self.peers = actions.Peers(devices)
        self.bootstrap()

    @property
    def faulty(self) -> set[str]:
        """The devices an injected fault concerns (checked by the fault tests, not as honest devices)."""
        return {self.doomed.dev, self.restored.dev, self.future.dev, self.past.dev}

    def honest(self) -> list[Node]:
        return [n for n in self.nodes if n.dev not in self.faulty]

    def _new_node(self, path: Path, community: str, role: str, skew: int, *, fast: bool) -> Node:
        node = Node.init(path, community, role=role, wall=self._skewed(skew))
        enroll(node, InProcessTransport(self.server), "http://district.sim", self._token(community, role))
        for (h,) in self.server.node.conn.execute("SELECT hash FROM ops"):
            self.causes.setdefault(bytes(h), {})  # the district's enrolment op
        self.skews[node.dev] = skew
        if fast:
            self.fast_nodes.add(node.dev)
        self._watch(node)
        self.nodes.append(node)
        self.links[node.dev] = LinkTransport(self.net, node.dev)
        return node

    def bootstrap(self) -> None:
        """A district catalogue and pool, a few households and technicians written offline, and the
        rights the lost device will hold when it is lost."""
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
        self.direct_sync(self.doomed)
        self.act(self.doomed, [(actions.hold_rights, 1)])
        self.direct_sync(self.doomed)

    def _token(self, community: str, role: str) -> str:
        return issue_token(self.server.node.conn, community, role, 3_600_000, self.clock())

    def _skewed(self, skew: int) -> Any:
        return lambda: self.clock() + skew

    # --- invariants ------------------------------------------------------------------------------
    def _watch(self, node: Node) -> None:
        """Check the invariants after every op ``node`` applies from elsewhere (careful path), or
        after every batch (fast path: a kiosk in ``fast_nodes`` applies pages as in production)."""
        store = node.store
        inner = store.apply_remote_in
        scopes = set(node.scopes) if node.role != "district" else None
        fast = node.dev in self.fast_nodes

        def checked(conn: sqlite3.Connection, raws: list[bytes], **kw: Any) -> Any:
            outer = kw.pop("on_accept", None)
            if fast and outer is None:
                result = inner(conn, raws, **kw)
                for op in result.accepted:
                    self.applied += 1
                    self.check_causes(conn, op, scopes, node)
                self.check_counters(conn, node)
                return result

            def hook(c: sqlite3.Connection, op: Op, idx: int) -> None:
                self.applied += 1
                self.check_causes(c, op, scopes, node)
                self.check_counters(c, node)
                if outer is not None:
                    outer(c, op, idx)

            return inner(conn, raws, on_accept=hook, **kw)

        store.apply_remote_in = checked  # type: ignore[method-assign]

    def count_paths(self) -> Any:
        """Wrap the batch apply to count which path ran (undone by calling the returned function)."""
        real = store_log.apply_batch
        paths = self.paths

        def counted(store: Any, conn: Any, raws: list[bytes], scopes: Any, on_accept: Any, careful: bool) -> Any:
            if careful:
                paths.careful += 1
            else:
                paths.fast += 1
                paths.fast_large += len(raws) >= AHEAD_MIN_BATCH
            try:
                return real(store, conn, raws, scopes, on_accept, careful)
            except store_log.Retry:
                paths.redone += 1
                raise

        store_log.apply_batch = counted  # type: ignore[assignment]

        def undo() -> None:
            store_log.apply_batch = real  # type: ignore[assignment]

        return undo

    def check_causes(self, conn: sqlite3.Connection, op: Op, scopes: set[str] | None, node: Node) -> None:
        """Record (as ``causal``) an op applied before its causal past, about the device whose op is
        missing (the replica is named in the detail)."""
        cause = self.causes.get(op.hash)
        if cause is None:
            cause = self._written_outside_an_action(op)
        if cause is None:
            self.record.add("unwritten_op", op.dev, f"{node.dev} applied op {op.where()} that no node wrote")
            return
        heads = {(d, s): n for d, s, n in conn.execute("SELECT dev, scope, head_seq FROM streams")}
        for (dev, scope), seq in cause.items():
            if (scopes is None or scope in scopes) and heads.get((dev, scope), 0) < seq:
                self.record.add(
                    "causal",
                    dev,
                    f"{node.community}/{node.dev} applied {op.where()} ({op.type}) before its cause "
                    f"{dev}/{scope}#{seq} (holds #{heads.get((dev, scope), 0)})",
                )
                return

    def _written_outside_an_action(self, op: Op) -> Heads | None:
        """The causal past of an op its device wrote outside an action (a kiosk restored from a copy
        re-issues, during a sync, what it wrote since: ``edge.sync.recover``): everything the writer's
        log held before it. ``None``: no simulated device holds it as its own."""
        for writer in self.nodes:
            if writer.dev != op.dev:
                continue
            row = writer.conn.execute("SELECT idx FROM ops WHERE hash=? AND dev=?", (op.hash, op.dev)).fetchone()
            if row is None:
                return None
            past: Heads = {}
            for dev, scope, seq in writer.conn.execute(
                "SELECT dev, scope, MAX(seq) FROM ops WHERE idx < ? GROUP BY dev, scope", (row[0],)
            ):
                past[(str(dev), str(scope))] = int(seq)
            self.causes[op.hash] = past
            self.authors[op.hash] = op.dev
            return past
        return None

    def check_counters(self, conn: sqlite3.Connection, node: Node) -> None:
        """Record (as ``negative``, about the replica) a negative counter or device right."""
        neg = conn.execute(
            "SELECT kind, scope, key, dev, inc + moved_in - moved_out - dec FROM counter_rights "
            "WHERE inc + moved_in - moved_out - dec < 0 LIMIT 1"
        ).fetchone()
        low = conn.execute("SELECT kind, scope, key, value FROM counters WHERE value < 0 LIMIT 1").fetchone()
        if neg or low:
            self.record.add("negative", node.dev, f"{node.community} shows a negative counter: {neg or low}")

    # --- steps -----------------------------------------------------------------------------------
    def act(self, node: Node, table: list[tuple[actions.Action, int]], action: actions.Action | None = None) -> Any:
        """One random action on ``node`` (or ``action``); record the causal past of the ops it wrote.

        A refusal by a rule (``EdgeError``) or nothing to act on (``LookupError``) is counted; any
        other exception is recorded as a violation of the device's step.
        """
        before = {(d, s): n for d, s, n in node.conn.execute("SELECT dev, scope, head_seq FROM streams")}
        top = node.conn.execute("SELECT COALESCE(MAX(idx), 0) FROM ops").fetchone()[0]
        action = action or actions.choose(self.rng, table)
        out = None
        try:
            out = action(self.rng, node, self.peers)
        except (EdgeError, LookupError) as exc:
            self.errors[f"{action.__name__}:{type(exc).__name__}"] += 1
        except Exception as exc:  # noqa: BLE001 - recorded, and asserted absent at the end
            self.record.add(f"exception:{type(exc).__name__}", node.dev, traceback.format_exc(limit=6))
        past = dict(before)
        for h, dev, scope, seq in node.conn.execute(
            "SELECT hash, dev, scope, seq FROM ops WHERE idx > ? ORDER BY idx", (top,)
        ):
            self.causes[bytes(h)] = dict(past)
            self.authors[bytes(h)] = str(dev)
            past[(dev, scope)] = seq
        self.check_counters(node.conn, node)
        return out

    def sync(self, node: Node, *, limit: int = 7, push_batch: int = 5, link: Any = None) -> bool:
        """One sync; a refusal, a rejection of own ops, an audit alarm or an exception is recorded."""
        try:
            sync_once(node, link or self.links[node.dev], limit=limit, push_batch=push_batch, max_rounds=200)
        except Unreachable:
            return False
        except OwnOpsRejected as exc:
            self.record.add("own_ops_rejected", node.dev, str(exc))
            return False
        except ServerRefused as exc:
            if exc.status < 500:  # 5xx answers are recorded by the network already
                self.record.add(f"sync_refused:{exc.code}", node.dev, str(exc))
            return False
        except AuditAlarm as exc:
            self.record.add("audit_alarm", node.dev, str(exc))
            return False
        except SyncFailed as exc:
            self.record.add("sync_failed", node.dev, str(exc))
            return False
        except Exception as exc:  # noqa: BLE001 - recorded, and asserted absent at the end
            self.record.add(f"exception:{type(exc).__name__}", node.dev, traceback.format_exc(limit=6))
            return False
        return True

    def direct_sync(self, node: Node, *, limit: int = 50) -> bool:
        """A sync over a link without faults (the device stood next to the server)."""
        return self.sync(node, limit=limit, push_batch=50, link=_Direct(self.net, node.dev))

    def step(self) -> None:
        self.net.step += 1
        self.clock.advance(self.rng.randint(200, 4000))
        if self.net.faults.enabled and self.rng.random() < self.net.faults.partition:
            victims = self.rng.sample(self.nodes, self.rng.randint(1, 6))
            for node in victims:
                self.net.up[node.dev] = not self.net.up.get(node.dev, True)
        self.net.deliver_due()
        if self.revoked_from is None and self.net.step >= self.revoke_at:
            self.act(self.server.node, [], action=self._revoke)
        if self.net.step == self.backup_at:
            self._backup()
        if self.net.step == self.restore_at:
            self._restore()
        if self.rng.random() < 0.3:
            self.act(self.server.node, actions.DISTRICT_ACTIONS)
        if self.rng.random() < 0.7:  # the district warehouse answers requests promptly
            self.act(self.server.node, [], action=actions.district_transfer_step)
        for node in self.rng.sample(self.nodes, len(self.nodes)):
            if node is self.restored and self.net.step == self.restore_at:
                continue
            roll = self.rng.random()
            if roll < 0.5:
                for _ in range(self.rng.randint(1, 3)):
                    self.act(node, actions.COMMUNITY_ACTIONS)
            elif roll < 0.75:
                self.sync(node)

    # --- faults ----------------------------------------------------------------------------------
    def _revoke(self, rng: random.Random, node: Node, peers: actions.Peers) -> Any:
        """The lost device is revoked; its unspent rights go to ``heir`` where the command can do it."""
        kw: dict[str, Any] = {}
        if "rights_to" in inspect.signature(revoke).parameters:
            kw["rights_to"] = self.heir.dev
        self.rights_handed = bool(kw)
        self.revoked_from = int(revoke(node, self.doomed.dev, reason="stolen", **kw)["revoked_from_seq"])
        self.doomed_held = {
            bytes(h) for (h,) in node.conn.execute("SELECT hash FROM ops WHERE dev=?", (self.doomed.dev,))
        }

    def _backup(self) -> None:
        """Copy the restored kiosk's data folder aside (closed, as a backup job would)."""
        node = self.restored
        self.direct_sync(node)
        self.backup = self.root / "c1-0.backup"
        self._reopen(node, lambda: shutil.copytree(node.data_dir, self.backup))  # type: ignore[arg-type]

    def _restore(self) -> None:
        """After it synced more, put the copy back; the kiosk writes reports before its next sync."""
        node = self.restored
        self.act(node, actions.COMMUNITY_ACTIONS, action=actions.report)
        self.direct_sync(node)
        self.acked_before_restore = {
            bytes(h) for (h,) in self.server.node.conn.execute("SELECT hash FROM ops WHERE dev=?", (node.dev,))
        }
        backup = self.backup
        assert backup is not None

        def put_back() -> None:
            shutil.rmtree(node.data_dir)
            shutil.copytree(backup, node.data_dir)

        self._reopen(node, put_back)
        node = self.restored
        top = node.conn.execute("SELECT COALESCE(MAX(idx), 0) FROM ops").fetchone()[0]
        for _ in range(2):
            self.act(node, actions.COMMUNITY_ACTIONS, action=actions.report)
        rows = node.conn.execute("SELECT hash, type, obj FROM ops WHERE idx > ? AND dev=?", (top, node.dev))
        for h, kind, obj in rows:
            self.after_restore.add(bytes(h))
            if kind == "ticket.create":
                self.restored_reports.append(str(obj))

    def _reopen(self, node: Node, change: Any) -> None:
        """Close ``node``, run ``change`` on its folder, open it again in its place."""
        skew = self.skews[node.dev]
        node.close()
        change()
        fresh = Node.open(node.data_dir, wall=self._skewed(skew))
        self._watch(fresh)
        self.nodes[self.nodes.index(node)] = fresh
        if node is self.restored:
            self.restored = fresh

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
                self.sync(node, limit=50, push_batch=50)

    def fresh_replica(self, community: str) -> Node:
        """A new staff device of ``community`` enrolled now, which catches up in one large page
        (the fast apply path with signatures checked ahead), after the community's staff imported
        its household register."""
        staff = next(n for n in self.nodes if n.community == community and n.role == "staff")
        self.act(staff, [], action=actions.household_register)  # enough ops for a large page
        self.direct_sync(staff)
        node = self._new_node(self.root / f"{community}-fresh", community, "staff", 0, fast=True)
        self.sync(node, limit=10_000, push_batch=50)
        return node

    def close(self) -> None:
        for node in self.nodes:
            node.close()
        self.server.close()


class _Direct(LinkTransport):
    """A link on which nothing is lost (but what is refused is still recorded)."""

    def request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        req = HttpRequest(method, path, "", {k.lower(): v for k, v in headers.items()}, body)
        resp = self.net.server.handle(req)
        self.net.look(self.dev, resp.status, resp.body)
        return resp.status, resp.body
