"""Crash safety (``docs/design.md`` §9): a writer killed with SIGKILL at random moments loses nothing it acknowledged.

A child process writes through the facade in a loop and acknowledges each write after its commit
returned; the test kills it ``LINLI_CRASH_KILLS`` times (default 30) at random moments, and after
every kill checks that the database passes ``PRAGMA integrity_check``, holds every acknowledged op,
that every stream's hash chain verifies, that the two ops of one transaction are both there or both
missing, and that ``rebuild`` gives the same digest. Children are forked from a server that has
already imported ``edge``, so each one starts writing within milliseconds.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import sqlite3
import time
from pathlib import Path

import pytest

from crdt.chain import verify_stream
from crdt.op import decode_op
from edge import Node

from .crash_child import child_loop, prepare

KILLS = int(os.environ.get("LINLI_CRASH_KILLS", "30"))


def acknowledged(path: Path) -> list[str]:
    if not path.exists():
        return []
    lines = path.read_text().split("\n")
    # A line is only a promise once it is complete; the kill may land in the middle of the last one.
    return [h for line in lines[:-1] for h in line.split()[1:]]


def check(data: Path, acks: list[str]) -> tuple[int, str]:
    raw = sqlite3.connect(data / "edge.sqlite3")
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    raw.close()
    node = Node.open(data)
    try:
        held = {bytes(h).hex() for (h,) in node.conn.execute("SELECT hash FROM ops")}
        missing = [a for a in acks if a not in held]
        assert not missing, f"{len(missing)} acknowledged ops lost, e.g. {missing[0]}"
        for key, head in node.store.heads().items():
            dev, scope = key.split("/")
            assert verify_stream(decode_op(r) for r in node.store.stream_ops(dev, scope)) == head
        counts = dict(node.conn.execute("SELECT type, COUNT(*) FROM ops GROUP BY type").fetchall())
        assert counts.get("ticket.comment", 0) == counts.get("ticket.hold", 0)
        before = node.digest()
        rebuilt = node.rebuild()
        assert rebuilt["same"], f"rebuild changed the digest {before} -> {rebuilt['digest']}"
        return len(held), before
    finally:
        node.close()


@pytest.mark.slow
def test_ops_acknowledged_before_a_sigkill_are_all_there_and_consistent(tmp_path: Path) -> None:
    data = tmp_path / "node"
    prepare(str(data))
    ack_file = tmp_path / "acks.txt"
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["edge", "tests.edge.crash_child"])
    rng = random.Random(int(os.environ.get("LINLI_CRASH_SEED", "20260501")))
    held_before = 0
    for kill in range(KILLS):
        started = ctx.Event()
        child = ctx.Process(target=child_loop, args=(str(data), str(ack_file), kill, started), daemon=True)
        child.start()
        # Mostly while it writes; now and then while it is still opening the node.
        if rng.random() < 0.9:
            assert started.wait(timeout=60), f"kill {kill}: the child never started writing"
        time.sleep(rng.uniform(0.0, 0.25))
        child.kill()
        child.join(timeout=30)
        assert child.exitcode == -9, f"kill {kill}: the child ended by itself ({child.exitcode})"
        acks = acknowledged(ack_file)
        held, _ = check(data, acks)
        assert held >= held_before
        held_before = held
    assert len(acknowledged(ack_file)) > KILLS, "the children acknowledged too few writes to prove anything"
