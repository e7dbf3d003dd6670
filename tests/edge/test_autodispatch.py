"""The daemon's dispatcher (``edge.services.autodispatch``): proposals stored for staff while offline, assigns
of its own in emergency mode when the device allows it, and the board showing what was stored."""

from __future__ import annotations

import contextlib
import io
import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.cli import main
from edge.node import Node
from edge.services.autodispatch import DISPATCHER, PROPOSALS_KEY
from edge.sync import Unreachable, enroll
from edge.sync.daemon import Daemon
from kiosk_ui.board import board_rows, offline_proposals
from sync_server.core import InProcessTransport, SyncServer
from tests.sync_server.helpers import Clock, make_district, token

MINUTE = 60_000


class Down:
    """A transport whose server is unreachable."""

    def request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        raise Unreachable("http://district.test: network down")


@pytest.fixture
def kiosk(tmp_path: Path) -> Iterator[tuple[SyncServer, Node, Clock]]:
    """An enrolled kiosk with a plumber, an electrician and three open tickets; synced once."""
    clock = Clock()
    server = make_district(tmp_path / "district", clock=clock)
    node = Node.init(tmp_path / "k", "a", wall=clock)
    enroll(node, InProcessTransport(server), "http://district.test", token(server, "a"))
    node.add_household("1-101", vulnerable=["elderly_alone"])
    node.add_tech("赵师傅", ["water"], "core")
    node.add_tech("孙师傅", ["electrical"], "core", certs=["electrical"])
    node.report("1-101", "water", "No water at all", household="1-101", answers={"no_water": True})
    node.report("1-102", "electrical", "Socket sparking", answers={"fire_or_sparking": True})
    node.report("1-103", "gas", "Smell of gas", answers={"gas_smell": True})  # nobody certified for gas
    node.store.set("last_sync_ms", clock())
    yield server, node, clock
    node.close()
    server.close()


def _go_offline(node: Node, clock: Clock) -> None:
    clock.advance(3 * MINUTE)
    assert node.mode() == "offline"


def test_offline_the_daemon_stores_proposals_with_their_time_and_assigns_nothing(kiosk) -> None:
    _, node, clock = kiosk
    _go_offline(node, clock)
    daemon = Daemon(node, Down(), rng=random.Random(1))
    daemon.step()
    stored = node.stored_proposals()
    assert stored is not None and stored["mode"] == "offline" and stored["at"] == clock()
    assert sorted(p["tech_name"] for p in stored["proposals"]) == ["孙师傅", "赵师傅"]
    assert stored["applied"] == [] and all(t["assignee"] is None for t in node.tickets())
    assert stored["proposals"] == node.propose()


def test_unchanged_proposals_are_not_rewritten_and_keep_the_time_they_were_first_made(kiosk) -> None:
    _, node, clock = kiosk
    _go_offline(node, clock)
    first = node.dispatch_round()
    clock.advance(MINUTE)
    again = node.dispatch_round()
    assert first.stored and not again.stored
    assert node.stored_proposals()["at"] == clock() - MINUTE  # type: ignore[index]
    node.report("1-104", "water", "Pipe burst", answers={"water_spreading": True})
    assert node.dispatch_round().stored and len(node.stored_proposals()["proposals"]) == 3  # type: ignore[index]


def test_back_to_normal_the_stored_proposals_are_cleared(kiosk) -> None:
    server, node, clock = kiosk
    _go_offline(node, clock)
    node.dispatch_round()
    daemon = Daemon(node, InProcessTransport(server), rng=random.Random(2))
    daemon.step()
    assert node.mode() == "normal" and node.stored_proposals() is None


def test_in_emergency_without_auto_dispatch_the_proposals_wait_for_staff(kiosk) -> None:
    _, node, _ = kiosk
    node.set_mode("emergency", reason="typhoon", actor="staff:1")
    result = node.dispatch_round()
    assert result.mode == "emergency" and result.applied == [] and len(result.proposals) == 2
    assert node.auto_dispatch() is False and all(t["assignee"] is None for t in node.tickets())


def test_in_emergency_with_auto_dispatch_the_daemon_assigns_as_the_dispatcher(kiosk) -> None:
    _, node, clock = kiosk
    node.set_auto_dispatch(True)
    node.set_mode("emergency", reason="typhoon", actor="staff:1")
    clock.advance(3 * MINUTE)  # the network is down too: emergency beats offline
    daemon = Daemon(node, Down(), rng=random.Random(3))
    daemon.step()
    assigned = {t["category"]: t for t in node.tickets() if t["assignee"]}
    assert set(assigned) == {"water", "electrical"}
    actors = {r[0] for r in node.conn.execute("SELECT actor FROM ticket_assigns")}
    assert actors == {DISPATCHER}
    stored = node.stored_proposals()
    assert stored is not None and stored["proposals"] == [] and len(stored["applied"]) == 2
    daemon.step()  # nothing left to assign: the gas ticket needs a certified technician
    assert node.conn.execute("SELECT COUNT(*) FROM ticket_assigns").fetchone()[0] == 2


def test_auto_dispatch_does_nothing_outside_emergency_mode(kiosk) -> None:
    _, node, clock = kiosk
    node.set_auto_dispatch(True)
    _go_offline(node, clock)
    result = node.dispatch_round()
    assert result.mode == "offline" and result.applied == [] and len(result.proposals) == 2
    assert all(t["assignee"] is None for t in node.tickets())


def test_the_dispatcher_never_takes_a_ticket_staff_assigned_after_it_proposed(kiosk) -> None:
    _, node, _ = kiosk
    proposals = node.propose()
    water = next(p for p in proposals if p["tech_name"] == "赵师傅")
    other = node.add_tech("钱师傅", ["water"], "volunteer")
    node.assign(water["ticket_id"], other["id"], actor="staff:1")
    done = node.apply_dispatch(proposals)
    assert water not in done and len(done) == len(proposals) - 1
    assert node.ticket(water["ticket_id"])["assignee"] == other["id"]


def test_auto_dispatch_is_set_and_shown_by_the_cli(kiosk) -> None:
    _, node, _ = kiosk
    data = str(node.data_dir)

    def cli(*argv: str) -> dict[str, object]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(["config", "auto-dispatch", *argv, "--data", data, "--json"]) == 0
        result = json.loads(out.getvalue())
        assert isinstance(result, dict)
        return result

    assert cli()["auto_dispatch"] is False
    assert cli("on")["auto_dispatch"] is True and node.auto_dispatch() is True
    assert cli("off")["auto_dispatch"] is False
    with contextlib.redirect_stderr(io.StringIO()):
        assert main(["config", "auto-dispatch", "maybe", "--data", data]) == 2


def test_the_board_shows_the_stored_proposals_while_offline_and_its_own_otherwise(kiosk) -> None:
    _, node, clock = kiosk
    _go_offline(node, clock)
    node.dispatch_round()
    stored = node.store.get(PROPOSALS_KEY)
    # Staff see exactly what the daemon proposed, even where the board would now suggest otherwise.
    water = next(p for p in stored["proposals"] if p["tech_name"] == "赵师傅")
    other = node.add_tech("钱师傅", ["water"], "core")
    node.tech_status("赵师傅", "off")
    water_row = next(r for r in board_rows(node) if r.ticket["id"] == water["ticket_id"])
    assert offline_proposals(node) == stored and water_row.proposal == water["tech"]
    node.store.set("last_sync_ms", clock())  # back online: the board computes its own suggestions
    assert offline_proposals(node) is None
    water_row = next(r for r in board_rows(node) if r.ticket["id"] == water["ticket_id"])
    assert water_row.proposal == other["id"]
