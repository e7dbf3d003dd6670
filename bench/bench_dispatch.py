"""Dispatcher speed: seconds per dispatch at 500 / 1,000 / 2,000 open tickets x 300 technicians.

The raw limit, measured in the same run on the very same matrix, is scipy's
``linear_sum_assignment`` alone: the ratio shows what building the problem and the proposals costs
on top of the solver. Target: under 1 s per dispatch at 2,000 x 300.

Run: ``make bench`` or ``.venv/bin/python bench/bench_dispatch.py``.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import median  # noqa: E402
from scipy.optimize import linear_sum_assignment  # noqa: E402

from edge.services.dispatch import DEFAULT_WEIGHTS, DispatchTicket, Technician, _build, dispatch  # noqa: E402
from edge.services.sla import CATEGORIES, URGENCIES  # noqa: E402

TECHS = 300
SIZES = (500, 1000, 2000)
RUNS = 5
NOW = 1_700_000_000_000
COMMUNITIES = [f"c{i:02d}" for i in range(12)]


def instance(n_tickets: int, seed: int = 1) -> tuple[list[DispatchTicket], list[Technician]]:
    """A district: 12 communities on a 3 km grid, tickets of every category and urgency, mixed technicians.

    The technicians are the same at every size; ``n_tickets`` adds tickets.
    """
    rng = random.Random(seed)
    tickets = [
        DispatchTicket(
            id=f"t{i:05d}",
            code=f"K{i:05d}",
            category=rng.choice(CATEGORIES),
            urgency=rng.choices(URGENCIES, weights=(1, 3, 6, 10))[0],
            vulnerable=rng.random() < 0.12,
            reported_ms=NOW - rng.randrange(0, 20 * 86_400_000),
            position=(rng.randrange(3000), rng.randrange(3000)),
            community=rng.choice(COMMUNITIES),
        )
        for i in range(n_tickets)
    ]
    rng = random.Random(seed + 1)  # the same technicians at every size
    techs = []
    for j in range(TECHS):
        skills = frozenset(rng.sample(CATEGORIES, rng.randint(2, 4)))
        certs = frozenset(c for c in ("gas", "electrical") if c in skills and rng.random() < 0.6)
        techs.append(
            Technician(
                id=f"h{j:04d}",
                name=f"tech {j}",
                skills=skills,
                certs=certs,
                tier=rng.choice(("core", "certified", "volunteer")),
                available=rng.random() < 0.9,
                home=rng.choice(COMMUNITIES),
                position=(rng.randrange(3000), rng.randrange(3000)),
                load=rng.randrange(3),
            )
        )
    return tickets, techs


def seconds(fn: Callable[..., object], *args: object) -> float:
    """Wall seconds of one call ``fn(*args)``."""
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def main() -> None:
    print(f"{TECHS} technicians, max_jobs 3, median of {RUNS} runs")
    header = f"{'tickets':>8}{'slots':>7}{'assigned':>10}{'dispatch s':>12}{'raw LSA s':>11}{'ratio':>8}{'vs 500':>8}"
    print(header)
    base = None
    last = 0.0
    for n in SIZES:
        tickets, techs = instance(n)
        problem = _build(tickets, techs, NOW, 3, DEFAULT_WEIGHTS)
        assert problem is not None
        value = problem.value
        assigned = len(dispatch(tickets, techs, NOW))
        whole = median([seconds(dispatch, tickets, techs, NOW) for _ in range(RUNS)])
        raw = median([seconds(linear_sum_assignment, value) for _ in range(RUNS)])
        base = base or whole
        last = whole
        print(
            f"{n:>8}{value.shape[1]:>7}{assigned:>10}{whole:>12.3f}{raw:>11.3f}{whole / raw:>8.2f}{whole / base:>8.2f}"
        )
    verdict = "meets" if last < 1.0 else "MISSES"
    print(f"2,000 x {TECHS}: {last:.3f} s per dispatch, {verdict} the target of < 1 s")


if __name__ == "__main__":
    main()
