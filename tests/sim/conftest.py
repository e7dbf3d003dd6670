"""One simulation run per seed, shared by the tests that assert on it (``outcome(seed)``).

Seeds: ``LINLI_SIM_SEEDS`` (default 8) runs seeds 0..N-1; ``LINLI_SIM_SEED=S`` runs only seed S;
``LINLI_SIM_STEPS`` the number of steps (default 40).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .run import Outcome, run

STEPS = int(os.environ.get("LINLI_SIM_STEPS", "40"))


def sim_seeds() -> list[int]:
    if os.environ.get("LINLI_SIM_SEED"):
        return [int(os.environ["LINLI_SIM_SEED"])]
    return list(range(int(os.environ.get("LINLI_SIM_SEEDS", "8"))))


_RUNS: dict[int, Outcome] = {}


def _memory_dir() -> str | None:
    """Where the runs keep their data folders: ``LINLI_SIM_TMP``, else a RAM disk if there is one.

    The simulation checks replication logic, not durability (the crash tests do that, on disk): on
    a RAM disk the same pragmas cost no disk flushes, which keeps ``make test`` short.
    """
    chosen = os.environ.get("LINLI_SIM_TMP")
    if chosen:
        return chosen
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


@pytest.fixture(scope="session")
def outcome() -> Iterator[Callable[[int], Outcome]]:
    """``outcome(seed)``: the run of ``seed`` (run on first use, then kept for the session)."""
    with tempfile.TemporaryDirectory(prefix="linli-sim-", dir=_memory_dir()) as tmp:

        def get(seed: int) -> Outcome:
            if seed not in _RUNS:
                root = Path(tmp) / f"seed-{seed}"
                root.mkdir()
                _RUNS[seed] = run(root, seed, STEPS)
                shutil.rmtree(root)  # the outcome holds what the tests need; 500 seeds fit in memory
            return _RUNS[seed]

        yield get
