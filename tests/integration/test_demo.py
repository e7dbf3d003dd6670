"""``make demo`` without the UI: a district server and three seeded communities converge over HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _edge(*args: str) -> dict:
    out = subprocess.run([str(BIN / "linli-edge"), *args, "--json"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@pytest.mark.slow
def test_the_demo_sets_up_three_communities_that_converge_with_the_district(tmp_path):
    data = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), "--no-ui", "--data", str(data), "--seconds", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    for community in "abc":
        assert f"{community}: mode normal, pending 0" in proc.stdout
        mine = _edge("digest", "--scope", community, "--data", str(data / community))["digest"]
        district = _edge("digest", "--scope", community, "--data", str(data / "district"))["digest"]
        assert mine == district
        assert _edge("digest", "--scope", "district", "--data", str(data / community)) == _edge(
            "digest", "--scope", "district", "--data", str(data / "district")
        )
        tickets = _edge("ticket", "list", "--data", str(data / community))
        assert tickets and all(t["code"] for t in tickets)
    # No community holds another's scope.
    a_tickets = _edge("ticket", "list", "--data", str(data / "a"))
    assert {t["unit"] for t in a_tickets} and all(t["code"].startswith("A") for t in a_tickets)
