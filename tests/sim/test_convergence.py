"""Convergence under faults: after healing, every replica of a scope has the server's digest and ops,
no op written is lost, and at every step (mid-page included) no replica showed a negative counter or
an effect before its cause.

Seeds: ``LINLI_SIM_SEEDS`` (default 8) runs seeds 0..N-1; ``LINLI_SIM_SEED=S`` runs only seed S.
A failure names its seed; ``pytest tests/sim -k 'seed_S'`` reproduces it. Seeds past the first
``FAST_SEEDS`` are marked ``slow`` (each seed takes 5-10 s on a small machine): ``make check-fast`` runs
the first two as a quick check, ``make test`` and ``make soak`` run every seed.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .world import World


def _seeds() -> list[int]:
    if os.environ.get("LINLI_SIM_SEED"):
        return [int(os.environ["LINLI_SIM_SEED"])]
    return list(range(int(os.environ.get("LINLI_SIM_SEEDS", "8"))))


STEPS = int(os.environ.get("LINLI_SIM_STEPS", "36"))
FAST_SEEDS = 2


def _params() -> list[object]:
    return [pytest.param(s, marks=[pytest.mark.slow] if i >= FAST_SEEDS else []) for i, s in enumerate(_seeds())]


@pytest.mark.parametrize("seed", _params(), ids=lambda s: f"seed_{s}")
def test_replicas_converge_under_drops_duplicates_delays_reorders_and_partitions(tmp_path: Path, seed: int) -> None:
    world = World(tmp_path, seed, steps=STEPS)
    try:
        for _ in range(STEPS):
            world.step()
        world.heal()
        server = world.server.node
        doomed, cut = world.doomed, world.revoked_from
        assert cut is not None
        written = set(world.causes)
        held = {bytes(h) for (h,) in server.conn.execute("SELECT hash FROM ops")}
        # The revoked device's ops that had not reached the district when it was revoked never do.
        refused = {bytes(h) for (h,) in doomed.conn.execute("SELECT hash FROM ops WHERE dev=?", (doomed.dev,))}
        refused -= world.doomed_held
        assert written - held == refused, f"seed {seed}: {len(written - held - refused)} written ops were lost"
        late = server.conn.execute("SELECT COUNT(*) FROM ops WHERE dev=? AND seq>=?", (doomed.dev, cut)).fetchone()
        assert late == (0,), f"seed {seed}: ops of a revoked device after its revocation were accepted"
        for node in world.nodes:
            if node is doomed:
                continue
            assert node.store.get("sync_blocked", {}) == {}, f"seed {seed}: {node.dev} has blocked ops"
            assert node.status()["pending"] == 0
            for scope in node.scopes:
                mine = {bytes(h) for (h,) in node.conn.execute("SELECT hash FROM ops WHERE scope=?", (scope,))}
                theirs = {bytes(h) for (h,) in server.conn.execute("SELECT hash FROM ops WHERE scope=?", (scope,))}
                assert mine == theirs, f"seed {seed}: {node.dev} misses ops of scope {scope}"
                assert node.digest(scope) == server.digest(scope), f"seed {seed}: {node.dev} digest of {scope}"
            other = {r[0] for r in node.conn.execute("SELECT DISTINCT scope FROM ops")} - set(node.scopes)
            assert not other, f"seed {seed}: {node.dev} holds scopes {other}"
        stats = world.net.stats
        assert stats.get("dropped", 0) and stats.get("delayed", 0) and stats.get("duplicated", 0), stats
        assert stats.get("answer lost", 0) and stats.get("partitioned", 0), stats
        types = {r[0] for r in server.conn.execute("SELECT DISTINCT type FROM ops")}
        assert {"device.enroll", "device.revoke"} <= types and len(types) >= 28, f"seed {seed}: {sorted(types)}"
        assert world.applied > 0
    finally:
        world.close()
