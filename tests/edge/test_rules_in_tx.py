"""Every rule is checked inside the write transaction that writes its op (``docs/design.md`` §5).

Two writers on one kiosk (the kiosk UI and the daemon: two connections to one database) race the
same command. A barrier holds both at the door of their write transaction, so both have done
whatever they do before it: a command that checks its rule before ``store.tx()`` lets both pass, one
that checks inside lets exactly one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from edge import Node, Refused
from edge.store import Store
from tests.helpers import make_community, make_district, sync_all

RACE_TIMEOUT_S = 30  # a bound on waiting for the other thread, not a timing assumption


def race(monkeypatch: pytest.MonkeyPatch, data: Path, command: Callable[[Node], Any]) -> list[str]:
    """Run ``command`` on two nodes over ``data`` at once; ``["ok"|refusal class name]`` per thread."""
    barrier = threading.Barrier(2, timeout=RACE_TIMEOUT_S)
    first = threading.local()
    plain_tx = Store.tx

    @contextmanager
    def held_tx(self: Store) -> Iterator[Any]:
        if not getattr(first, "done", False):
            first.done = True
            barrier.wait()
        with plain_tx(self) as tx:
            yield tx

    monkeypatch.setattr(Store, "tx", held_tx)
    results: list[str] = []
    lock = threading.Lock()

    def run() -> None:
        node = Node.open(data)
        try:
            command(node)
            outcome = "ok"
        except Refused as exc:
            outcome = type(exc).__name__
        finally:
            node.close()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(RACE_TIMEOUT_S * 2)
    monkeypatch.setattr(Store, "tx", plain_tx)
    return sorted(results)


@pytest.fixture
def kiosk(tmp_path: Path) -> Iterator[tuple[Node, Node, Node]]:
    d = make_district(tmp_path)
    d.add_item("WATER", "瓶装水", "Bottled water", kind="supply", scope="district")
    a, b = make_community(tmp_path, d, "a"), make_community(tmp_path, d, "b")
    a.add_item("DRILL", "电钻", "Drill", kind="tool")
    a.add_household("1-101")
    a.receive("DRILL", 1)
    sync_all(d, [a, b])
    a.receive("WATER", 10)
    sync_all(d, [a, b])
    yield d, a, b
    for n in (d, a, b):
        n.close()


def test_two_writers_returning_one_loan_on_one_kiosk_return_it_once(kiosk, monkeypatch) -> None:
    """Regression: ``return_tool`` read the loan before its transaction, so both writers returned it."""
    _, a, _ = kiosk
    loan = a.lend_tool("DRILL", "1-101")["id"]
    a.close()
    assert race(monkeypatch, a.data_dir, lambda n: n.return_tool(loan)) == ["InvalidTransition", "ok"]
    again = Node.open(a.data_dir)
    assert again.conn.execute("SELECT COUNT(*) FROM ops WHERE type='tool.return'").fetchone()[0] == 1
    again.close()


def test_two_writers_shipping_one_transfer_on_one_kiosk_ship_it_once(kiosk, monkeypatch) -> None:
    """Regression: ``ship`` checked the step before its transaction, so both writers shipped."""
    d, a, b = kiosk
    t = b.request_transfer("WATER", 2, "a")
    sync_all(d, [a, b])
    a.approve_transfer(t["id"])
    a.close()
    assert race(monkeypatch, a.data_dir, lambda n: n.ship_transfer(t["id"])) == ["InvalidTransition", "ok"]
    again = Node.open(a.data_dir)
    assert again.conn.execute("SELECT COUNT(*) FROM ops WHERE type='transfer.ship'").fetchone()[0] == 1
    again.close()


def test_two_writers_booking_one_slot_on_one_kiosk_book_it_once(kiosk, monkeypatch) -> None:
    """Regression: ``book`` looked at the slot before its transaction, so both writers booked it."""
    _, a, _ = kiosk
    a.close()
    slot = "2026-12-01T09:00"
    assert race(monkeypatch, a.data_dir, lambda n: n.book("hall", slot, "1-101")) == ["InvalidTransition", "ok"]


def test_two_writers_cancelling_one_booking_on_one_kiosk_cancel_it_once(kiosk, monkeypatch) -> None:
    """Regression: ``cancel_booking`` read the booking before its transaction, so both cancelled it."""
    _, a, _ = kiosk
    booked = a.book("hall", "2026-12-01T09:00", "1-101")["id"]
    a.close()
    assert race(monkeypatch, a.data_dir, lambda n: n.cancel_booking(booked)) == ["InvalidTransition", "ok"]
