"""Tickets under concurrency: unique short codes, ambiguous lookups refused, per-epoch close reasons,
hold events in the full stamp order (``docs/design.md`` §5)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crdt.keys import DeviceKey
from edge import AmbiguousTicket, Node
from edge.domain import devices
from edge.services.operations import ticket_times
from edge.sync import enroll, sync_once
from sync_server.core import InProcessTransport, SyncServer
from tests.helpers import make_community, make_district, sync_all
from tests.sync_server.helpers import make_district as make_server
from tests.sync_server.helpers import token

FROZEN_MS = 1_800_000_000_000


def _keys_sharing_two_characters() -> tuple[DeviceKey, DeviceKey]:
    """Two device keys whose ids start with the same two characters (a birthday search, deterministic)."""
    seen: dict[str, DeviceKey] = {}
    for seed in range(5000):
        key = DeviceKey.from_seed(seed.to_bytes(32, "big"))
        if key.device_id[:2] in seen:
            return seen[key.device_id[:2]], key
        seen[key.device_id[:2]] = key
    raise AssertionError("no two keys share a prefix")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SyncServer]:
    s = make_server(tmp_path / "district")
    yield s
    s.close()


def test_two_kiosks_whose_ids_share_two_characters_get_codes_that_never_collide(
    server: SyncServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: codes used two characters of the device id, so two kiosks of a community whose ids
    share them (about 1 pair in 1,024) wrote the same codes, and a resident saw another's ticket."""
    keys = list(_keys_sharing_two_characters())
    monkeypatch.setattr(DeviceKey, "generate", staticmethod(lambda: keys.pop(0)))
    kiosks = []
    for name in ("k1", "k2"):
        node = Node.init(tmp_path / name, "a")
        enroll(node, InProcessTransport(server), "http://district.test", token(server, "a"))
        sync_once(node, InProcessTransport(server))
        kiosks.append(node)
    numbers = [devices.device_number(k.conn, k.dev) for k in kiosks]
    assert numbers == [1, 2]
    kiosks[0].add_household("1-101")
    sync_once(kiosks[0], InProcessTransport(server))
    sync_once(kiosks[1], InProcessTransport(server))
    codes = [k.report("1-101", "water", f"leak at {k.data_dir.name}")["code"] for k in kiosks]
    assert codes == ["A1-0001", "A2-0001"]
    for k in [*kiosks, *kiosks]:
        sync_once(k, InProcessTransport(server))
    for k in kiosks:
        assert [k.ticket(c)["text"] for c in codes] == ["leak at k1", "leak at k2"]
    for k in kiosks:
        k.close()


def test_a_kiosk_not_yet_enrolled_uses_a_prefix_no_enrolled_device_can_have(tmp_path: Path) -> None:
    node = Node.init(tmp_path / "new", "a")
    node.add_household("1-101")
    code = node.report("1-101", "water", "leak")["code"]
    prefix = code.split("-")[0]
    assert prefix.startswith("AL") and prefix[-1].isalpha()  # enrolled prefixes end in their number
    node.close()


def test_a_code_that_names_two_tickets_is_refused_and_shows_neither(tmp_path: Path) -> None:
    """Regression: a lookup by code returned the first of two tickets with that code: a resident typing
    their code could see (and rate) another household's ticket."""
    d = make_district(tmp_path)
    k1, k2 = make_community(tmp_path, d, "a", "k1"), make_community(tmp_path, d, "a", "k2")
    for k, ident in ((k1, "01J000000000000000000000K1"), (k2, "01J000000000000000000000K2")):
        with k.store.tx() as tx:
            data = {"code": "AQX-0001", "unit": "1-101", "category": "water", "urgency": "P3", "text": k.data_dir.name}
            tx.emit("a", "ticket.create", ident, data)
    sync_all(d, [k1, k2])
    for node in (d, k1, k2):
        with pytest.raises(AmbiguousTicket, match="names 2 tickets"):
            node.ticket("AQX-0001")
        assert node.ticket("01J000000000000000000000K1")["text"] == "k1"  # by id it is found
    for n in (d, k1, k2):
        n.close()


def test_a_reopened_ticket_does_not_show_the_close_reason_of_the_epoch_before(tmp_path: Path) -> None:
    """Regression: the close reason was one LWW field across epochs, so a reopened ticket still showed
    why its previous epoch was closed."""
    node = Node.init(tmp_path / "k", "a")
    node.add_household("1-101")
    code = node.report("1-101", "water", "leak")["code"]
    node.advance(code, "resolved", reason="duplicate")
    assert node.ticket(code)["close_reason"] == "duplicate"
    node.advance(code, "reopen")
    assert node.ticket(code)["close_reason"] is None
    node.advance(code, "resolved", reason="fixed")
    assert node.ticket(code)["close_reason"] == "fixed"
    node.close()


def test_a_close_reason_of_an_older_epoch_arriving_late_does_not_replace_the_current_one(tmp_path: Path) -> None:
    d = make_district(tmp_path)
    k1, k2 = make_community(tmp_path, d, "a", "k1"), make_community(tmp_path, d, "a", "k2")
    k1.add_household("1-101")
    code = k1.report("1-101", "water", "leak")["code"]
    k1.advance(code, "resolved", reason="duplicate")
    sync_all(d, [k1, k2])
    k2.advance(code, "reopen")
    k2.advance(code, "resolved", reason="fixed")
    k1.advance(code, "closed", reason="referred")  # epoch 0, written later, unaware of the reopen
    sync_all(d, [k1, k2])
    for node in (d, k1, k2):
        shown = node.ticket(code)
        assert (shown["epoch"], shown["stage"], shown["close_reason"]) == (1, "resolved", "fixed")
    for n in (d, k1, k2):
        n.close()


def test_twelve_tickets_held_and_released_in_the_same_millisecond_are_none_on_hold(tmp_path: Path) -> None:
    """Regression: hold events were ordered by ``(wall ms, op hash)``, so of 12 tickets held and released
    within one millisecond about 8 stayed "on hold" for the KPIs."""
    node = Node.init(tmp_path / "k", "a", wall=lambda: FROZEN_MS)
    node.add_household("1-101")
    codes = [node.report("1-101", "water", f"leak {i}")["code"] for i in range(12)]
    for code in codes:
        node.hold(code, "no_access")
        node.hold(code, None)
    times = ticket_times(node.conn, "a")
    assert len(times) == 12
    still = [t.id for t in times if any(h.end_ms is None for h in t.holds)]
    assert still == []
    assert all(node.ticket(c)["hold_reason"] is None for c in codes)
    node.close()
