"""The writer that ``test_crash`` kills: a loop of facade writes, each acknowledged only after it committed.

After every call returns (its transaction committed), the child appends ``ACK <op hash> ...`` with
the ops it wrote to the acknowledgement file, in one ``write`` (atomic for a short line on an
``O_APPEND`` file), so a line in that file is a promise the node made to its user.
"""

from __future__ import annotations

import os
import random
from typing import Any

from edge import InsufficientRights, Node

TECHS = ("Li", "Wu")


def prepare(data: str) -> None:
    """The node the child writes to: a household, two technicians, a stock item."""
    node = Node.init(data, "a")
    node.add_household("1-101")
    for name in TECHS:
        node.add_tech(name, ["water"], "core")
    node.add_item("P1", "水管", "Pipe")
    node.close()


def child_loop(data: str, acks: str, seed: int, started: Any = None, limit: int = 100_000) -> None:
    """Write ops until killed (or ``limit`` writes), acknowledging each after its commit.

    ``started`` (an event) is set once the node is open, just before the first write.
    """
    node = Node.open(data)
    rng = random.Random(seed)
    fd = os.open(acks, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    (last,) = node.conn.execute("SELECT COALESCE(MAX(idx), 0) FROM ops").fetchone()
    codes = [t["code"] for t in node.tickets()]
    if started is not None:
        started.set()
    for i in range(limit):
        step = rng.randrange(6)
        if step == 0 or not codes:
            codes.append(node.report("1-101", "water", f"leak {seed}/{i}")["code"])
        elif step == 1:
            node.award("1-101", 1 + i % 5, "help")
        elif step == 2:
            node.receive("P1", 1 + i % 3)
        elif step == 3:
            try:
                node.issue("P1", 1)
            except InsufficientRights:
                continue
        elif step == 4:
            code = rng.choice(codes)
            t = node.ticket(code)
            with node.store.tx() as tx:  # two ops, one transaction
                tx.emit("a", "ticket.comment", t["id"], {"text": f"note {i}"})
                tx.emit("a", "ticket.hold", t["id"], {"reason": "no_access" if i % 2 else None})
        else:
            node.assign(rng.choice(codes), rng.choice(TECHS))  # assign and maybe a stage, one transaction
        rows = node.conn.execute("SELECT idx, hash FROM ops WHERE idx > ? ORDER BY idx", (last,)).fetchall()
        if rows:
            last = rows[-1][0]
            os.write(fd, ("ACK " + " ".join(bytes(h).hex() for _, h in rows) + "\n").encode())
