"""The dispatch board proposes what ``Node.propose`` and ``linli-edge dispatch`` propose: one builder of
the dispatcher's inputs (``edge.services.dispatch_inputs``)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from edge import Node
from edge.cli import main
from kiosk_ui.board import board_rows
from tests.helpers import make_community, make_district, sync_all

from .conftest import FakeClock

HOUR = 3_600_000


def _proposed(node: Node) -> dict[str, str]:
    """``{ticket id: technician id}`` the board proposes."""
    return {str(r.ticket["id"]): r.proposal for r in board_rows(node) if r.proposal is not None}


def test_the_board_never_proposes_a_district_technician_who_is_not_lent_to_the_community(tmp_path: Path) -> None:
    """Regression: the board built its own dispatcher inputs from ``Node.techs()``, which lists the whole
    district shared pool, and so proposed a shared technician the district had not lent to this
    community (``linli-edge dispatch`` did not)."""
    district = make_district(tmp_path)
    kiosk = make_community(tmp_path, district, "a")
    try:
        shared = district.add_tech("Zhang", ["water"], "core", shared=True)
        sync_all(district, [kiosk])
        assert shared["id"] in {t["id"] for t in kiosk.techs()}  # the kiosk sees the pool
        ticket = kiosk.report("1-101", "water", "Burst pipe in the kitchen", urgency="P2")

        assert _proposed(kiosk) == {} and kiosk.propose() == []

        district.lend_tech(shared["id"], "a", district.now_ms() + HOUR)
        sync_all(district, [kiosk])
        assert _proposed(kiosk) == {ticket["id"]: shared["id"]}
        assert [(p["ticket_id"], p["tech"]) for p in kiosk.propose()] == [(ticket["id"], shared["id"])]
    finally:
        kiosk.close()
        district.close()


def test_the_board_and_linli_edge_dispatch_give_the_same_proposals(
    node: Node, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same node, the same clock: the same (ticket, technician) pairs, a ticket on hold in neither."""
    held = node.propose()[0]["ticket_id"]
    node.hold(held, "no_access", actor="staff:1")
    opened = Node.open.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(Node, "open", classmethod(lambda cls, data=None, **kw: opened(cls, data, wall=clock, **kw)))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["dispatch", "--data", str(node.data_dir), "--json"]) == 0
    from_cli = {p["ticket_id"]: p["tech"] for p in json.loads(out.getvalue())}

    assert from_cli, "the seeded community has unassigned tickets a technician can take"
    assert held not in from_cli
    assert _proposed(node) == from_cli
