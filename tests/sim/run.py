"""One simulation run, start to end, and what it found: ``run(root, seed, steps) -> Outcome``.

The run: bootstrap, ``steps`` random steps with the network faults and the lost, restored, future and
past devices, heal, a fresh replica catching up in one page, then the end checks of every honest
replica (``Outcome.problems``, by check name). Then the scenarios that need a quiet world: two
kiosks both completing one lifecycle step, and the clock faults' LWW writes; healed again and checked
(``Outcome.problems`` under the fault's name). The tests assert on the outcome; several tests read
one run (``conftest.outcome``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from edge.domain import modes
from edge.node import Node
from edge.sync.client import CLOCK_ALARM_MS

from . import checks
from .record import Seen
from .world import World

__all__ = ["Outcome", "run"]


@dataclass
class Outcome:
    seed: int
    problems: dict[str, list[str]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    faulty: dict[str, str] = field(default_factory=dict)  # fault name -> device
    completed: dict[str, int] = field(default_factory=dict)
    paths: dict[str, int] = field(default_factory=dict)
    stats: dict[str, int] = field(default_factory=dict)
    types: set[str] = field(default_factory=set)
    applied: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def add(self, check: str, found: list[str]) -> None:
        self.problems.setdefault(check, []).extend(found)

    def seen_about(self, fault: str) -> list[Seen]:
        return [s for s in self.seen if s.dev == self.faulty[fault]]

    def kinds(self, seen: list[Seen]) -> Counter[str]:
        return Counter(s.kind for s in seen)


def run(root: Path, seed: int, steps: int) -> Outcome:
    world = World(root, seed, steps=steps)
    undo = world.count_paths()
    out = Outcome(seed)
    out.faulty = {
        "lost": world.doomed.dev,
        "restored": world.restored.dev,
        "future": world.future.dev,
        "past": world.past.dev,
    }
    try:
        for _ in range(steps):
            world.step()
        world.heal()
        world.fresh_replica("c0")
        world.heal(rounds=1)
        out.completed = checks.lifecycles_completed(world.server.node)
        out.errors = dict(world.errors)
        _end_checks(world, out)
        _double_step(world, out)
        _clock_faults(world, out)
        _restored(world, out)
        out.seen = list(world.record.seen)
        out.paths = vars(world.paths).copy()
        out.stats = dict(world.net.stats)
        out.applied = world.applied
    finally:
        undo()
        world.close()
    return out


def _end_checks(world: World, out: Outcome) -> None:
    """Convergence, no lost op, conservation, rebuild, flags: every honest replica and the district."""
    server = world.server.node
    doomed, cut = world.doomed, world.revoked_from
    out.types = {r[0] for r in server.conn.execute("SELECT DISTINCT type FROM ops")}
    held = {bytes(h) for (h,) in server.conn.execute("SELECT hash FROM ops")}
    faulty = world.faulty
    # Every op an honest device wrote reached the district.
    # (An op no replica holds still has its author: a restored kiosk's ops written after its backup
    # vanish with the restore and come back re-issued under new hashes; its own check follows them.)
    writer = {**world.authors, **_writers(world)}
    honest_written = {h for h in world.causes if writer.get(h) not in faulty}
    out.add(
        "lost_ops",
        [f"{len(honest_written - held)} ops of honest devices never reached the district"]
        * bool(honest_written - held),
    )
    # The revoked device's ops that had not reached the district when it was revoked never do.
    if cut is None:
        out.add("revocation", ["the lost device was never revoked"])
    else:
        late = server.conn.execute("SELECT COUNT(*) FROM ops WHERE dev=? AND seq>=?", (doomed.dev, cut)).fetchone()[0]
        if late:
            out.add("revocation", [f"{late} ops of the revoked device after its revocation were accepted"])
        mine = {bytes(h) for (h,) in doomed.conn.execute("SELECT hash FROM ops WHERE dev=?", (doomed.dev,))}
        if (mine & held) != world.doomed_held:
            out.add("revocation", ["the district holds ops of the revoked device it did not hold at the cut"])
    replicas = [*world.honest()]
    for node in replicas:
        problems = []
        if node.store.get("sync_blocked", {}):
            problems.append(f"{node.dev} has blocked ops: {node.store.get('sync_blocked')}")
        if node.status()["pending"] != 0:
            problems.append(f"{node.dev} has {node.status()['pending']} ops pending")
        for scope in node.scopes:
            mine = {bytes(h) for (h,) in node.conn.execute("SELECT hash FROM ops WHERE scope=?", (scope,))}
            theirs = {bytes(h) for (h,) in server.conn.execute("SELECT hash FROM ops WHERE scope=?", (scope,))}
            if mine != theirs:
                problems.append(
                    f"{node.dev} holds {len(mine - theirs)} ops more, {len(theirs - mine)} fewer of {scope}"
                )
            if node.digest(scope) == server.digest(scope):
                continue
            problems.append(f"{node.dev}: digest of {scope} differs from the district's")
        other = {r[0] for r in node.conn.execute("SELECT DISTINCT scope FROM ops")} - set(node.scopes)
        if other:
            problems.append(f"{node.dev} holds scopes {other}")
        out.add("convergence", problems)
    replicas.append(server)
    for node in replicas:
        out.add("conservation", checks.conservation(node))
        out.add("rebuild", checks.rebuild_same(node))
        flagged = node.conn.execute("SELECT dev, flag, detail FROM flags").fetchall()
        # A device whose clock is off by more than the alarm threshold is flagged for it, rightly:
        # the flag lands on the device whose clock is wrong. Any other flag on an honest device is wrong.
        wrong_clock = {d for d, skew in world.skews.items() if abs(skew) > CLOCK_ALARM_MS}
        out.add(
            "flags",
            [
                f"{node.dev} flags {d}: {f} ({t})"
                for d, f, t in flagged
                if d not in faulty and not (f == "clock_skew" and d in wrong_clock)
            ],
        )
        if node.store.get("audit_alarm"):
            out.add("alarms", [f"{node.dev}: audit alarm {node.store.get('audit_alarm')}"])
    rows = server.conn.execute("SELECT dev, reason, detail FROM quarantine").fetchall()
    out.add("quarantine", [f"{d} quarantined: {r} ({t})" for d, r, t in rows if d not in faulty])
    # The lost device: its unspent rights were handed over at the revocation, so nothing is stranded.
    out.add("lost", ["revoke() cannot hand rights over (no rights_to)"] * (world.rights_handed is False))
    out.add("lost", checks.stranded(server))
    # The lifecycles of the random run each took effect once.
    for node in replicas:
        out.add("lifecycles_once", checks.lifecycles_once(node))


def _writers(world: World) -> dict[bytes, str]:
    """The writing device of every op any replica holds."""
    out: dict[bytes, str] = {}
    for node in (world.server.node, *world.nodes):
        out.update((bytes(h), str(d)) for h, d in node.conn.execute("SELECT hash, dev FROM ops"))
    return out


def _quiet_sync(world: World, nodes: list[Node], rounds: int = 2) -> None:
    for _ in range(rounds):
        for node in nodes:
            world.direct_sync(node)


def _community(world: World, community: str) -> list[Node]:
    return [n for n in world.nodes if n.community == community and n is not world.doomed]


def _double_step(world: World, out: Outcome) -> None:
    """Two kiosks of c4 each mark one shipped transfer arrived, and each take back one lent tool,
    offline; afterwards the stock moved exactly once per step on every replica."""
    district = world.server.node
    first, second = [n for n in _community(world, "c4") if n.role == "kiosk"][1:3]
    sku = "DP1"
    world.act(district, [], action=lambda r, n, p: n.receive(sku, 5, scope="district"))
    t = world.act(district, [], action=lambda r, n, p: n.request_transfer(sku, 3, "district", dst="c4"))
    for step in ("approve_transfer", "ship_transfer"):
        world.act(district, [], action=lambda r, n, p, s=step: getattr(n, s)(t["id"]))
    world.act(first, [], action=lambda r, n, p: n.receive("DT1", 1))
    loan = world.act(first, [], action=lambda r, n, p: n.lend_tool("DT1", str(n.households()[0]["id"])))
    _quiet_sync(world, [first, second])
    for node in (first, second):
        world.act(node, [], action=lambda r, n, p: n.arrive_transfer(t["id"]))
        if loan is not None:
            world.act(node, [], action=lambda r, n, p: n.return_tool(loan["id"]))
    _quiet_sync(world, _community(world, "c4"))
    for node in [district, *_community(world, "c4")]:
        out.add("double_step", checks.lifecycles_once(node))
        out.add("double_step", checks.conservation(node))


def _clock_faults(world: World, out: Outcome) -> None:
    """``future``: the 2099 kiosk declares an emergency; staff who saw it end it: it ends everywhere.
    ``past``: staff declare an emergency; the kiosk three days behind, having seen it, ends it: it
    ends everywhere. And the clock-skew flag lands only on the device whose clock is wrong."""
    for fault, writer, corrector, community in (
        ("future", world.future, None, "c2"),
        ("past", None, world.past, "c3"),
    ):
        nodes = _community(world, community)
        staff = next(n for n in nodes if n.role == "staff")
        first = writer or staff
        last = corrector or staff
        _quiet_sync(world, nodes, rounds=1)
        world.act(first, [], action=lambda r, n, p: n.set_mode("emergency", reason="burst pipe"))
        _quiet_sync(world, [first, last])
        world.act(last, [], action=lambda r, n, p: n.set_mode("normal", reason="fixed"))
        _quiet_sync(world, nodes)
        replicas = [world.server.node, *nodes]
        out.add(
            fault,
            [
                f"{n.dev}: mode of {community} is {modes.declared_mode(n.conn, community)} after a later 'normal'"
                for n in replicas
                if modes.declared_mode(n.conn, community) != "normal"
            ],
        )
        dev = out.faulty[fault]
        # Other devices whose simulated clocks are off by more than the alarm threshold are rightly flagged.
        wrong_clock = {d for d, skew in world.skews.items() if abs(skew) > CLOCK_ALARM_MS}
        for n in replicas:
            wrong = n.conn.execute("SELECT dev, detail FROM flags WHERE flag='clock_skew' AND dev != ?", (dev,))
            out.add(
                fault,
                [f"{n.dev} flags {d} for clock skew ({t}) instead of {dev}" for d, t in wrong if d not in wrong_clock],
            )
    # The 2099 clock is flagged at the district.
    if (
        world.server.node.conn.execute(
            "SELECT 1 FROM flags WHERE flag='clock_skew' AND dev=?", (world.future.dev,)
        ).fetchone()
        is None
    ):
        out.add("future", ["the district does not flag the 2099 kiosk for clock skew"])


def _restored(world: World, out: Outcome) -> None:
    """The restored kiosk ends with every report it wrote at the district, unquarantined."""
    node = world.restored
    _quiet_sync(world, [node])
    server = world.server.node
    held = {bytes(h) for (h,) in server.conn.execute("SELECT hash FROM ops WHERE dev=?", (node.dev,))}
    found = []
    if not world.acked_before_restore <= held:
        found.append("ops the district acknowledged before the restore are gone")
    tickets = {str(t) for (t,) in server.conn.execute("SELECT id FROM tickets")}
    missing = [t for t in world.restored_reports if t not in tickets]
    if missing:
        found.append(
            f"{len(missing)} of {len(world.restored_reports)} reports written after the restore "
            "never reached the district"
        )
    if not world.restored_reports:
        found.append("the restored kiosk wrote no report after the restore")
    q = server.conn.execute("SELECT reason, detail FROM quarantine WHERE dev=?", (node.dev,)).fetchone()
    if q:
        found.append(f"the restored kiosk is quarantined: {q[0]} ({q[1][:200]})")
    pending = node.status()["pending"]
    if pending != 0:
        found.append(f"the restored kiosk shows {pending} ops pending")
    mine = {bytes(h) for (h,) in node.conn.execute("SELECT hash FROM ops WHERE dev=?", (node.dev,))}
    if mine - held:
        found.append(f"{len(mine - held)} of the restored kiosk's ops are not at the district")
    out.add("restored", found)
