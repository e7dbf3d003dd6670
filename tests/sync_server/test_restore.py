"""Restores from backup, in-process: a kiosk restored from an older copy of its data folder, and a
district restored from an older copy, converge with the rest without losing an acknowledged op.

The backups are taken as the deploy timer takes them (SQLite's online backup of the live store) and put
back as an operator does: the node closed, the copy renamed over ``edge.sqlite3``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.node import Node
from edge.sync import sync_once
from sync_server.core import InProcessTransport, SyncServer

from .helpers import Clock, answer, signed, sync_body


def backup(node_or_path: Node | Path, dest: Path) -> Path:
    """SQLite's online backup of a live store, as the nightly timer takes it."""
    path = node_or_path.store.path if isinstance(node_or_path, Node) else node_or_path / "edge.sqlite3"
    src = sqlite3.connect(path)
    out = sqlite3.connect(dest)
    try:
        src.backup(out)
    finally:
        src.close()
        out.close()
    return dest


def put_back(copy: Path, data_dir: Path) -> None:
    """Copy a backup over a stopped node's store (and drop its write-ahead log)."""
    for suffix in ("-wal", "-shm"):
        (data_dir / f"edge.sqlite3{suffix}").unlink(missing_ok=True)
    (data_dir / "edge.sqlite3").write_bytes(copy.read_bytes())


def own_reports(node: Node) -> set[str]:
    return {t["id"] for t in node.tickets()}


def held_ids(server: SyncServer, community: str = "a") -> set[str]:
    return {t["id"] for t in server.node.tickets(scope=community)}


def restored(path: Path, clock: Clock) -> Node:
    return Node.open(path, wall=clock)


@pytest.mark.parametrize("writes_after_restore", [0, 1, 3])
def test_a_kiosk_restored_from_an_older_copy_ends_with_every_report_at_the_district(
    tmp_path: Path,
    district: SyncServer,
    transport: InProcessTransport,
    make_node: Callable[..., Node],
    clock: Clock,
    writes_after_restore: int,
) -> None:
    """Regression (issue 13, restore from backup): the restored kiosk's new reports never reached the
    district while ``sync`` said "caught up"; with as many new ops as lost ones it was quarantined for
    equivocation by its own restore."""
    kiosk = make_node("k", "a")
    path = kiosk.data_dir
    kiosk.report("1-101", "water", "tap drips")
    sync_once(kiosk, transport)
    copy = backup(kiosk, tmp_path / "nightly.sqlite3")
    lost = [kiosk.report("1-102", "electrical", f"light {i} out")["id"] for i in range(2)]
    sync_once(kiosk, transport)
    assert set(lost) <= held_ids(district)
    kiosk.close()
    put_back(copy, path)
    kiosk = restored(path, clock)
    assert not set(lost) & own_reports(kiosk)
    new = [kiosk.report("1-103", "other", f"door {i} sticks")["id"] for i in range(writes_after_restore)]
    report = sync_once(kiosk, transport)
    try:
        assert report.caught_up and report.pending == 0
        assert kiosk.status()["pending"] == 0
        everything = {*lost, *new}
        assert everything <= held_ids(district), "an acknowledged report is missing at the district"
        assert everything <= own_reports(kiosk)
        assert district.node.conn.execute("SELECT COUNT(*) FROM quarantine").fetchone()[0] == 0
        assert district.node.conn.execute("SELECT COUNT(*) FROM evidence").fetchone()[0] == 0
        assert kiosk.digest("a") == district.node.digest("a")
        assert kiosk.rebuild()["same"]
        # The re-issued reports keep their ids, content and actor; their seqs follow the district's.
        for tid in new:
            assert kiosk.ticket(tid)["text"].startswith("door")
        last = kiosk.store.get("restore_last")
        assert last is not None and last["reissued"] == writes_after_restore and last["dropped"] == 0
        # A second sync has nothing left to do.
        again = sync_once(kiosk, transport)
        assert again.caught_up and again.pushed == 0
    finally:
        kiosk.close()


def test_a_push_the_district_cannot_place_is_answered_behind_and_not_as_equivocation(
    tmp_path: Path, district: SyncServer, transport: InProcessTransport, make_node: Callable[..., Node], clock: Clock
) -> None:
    """The district applies none of a push from a device that knows less of its own streams than the
    district holds; it returns the device's own ops instead, and records no evidence."""
    kiosk = make_node("k", "a")
    kiosk.report("1-101", "water", "tap drips")
    sync_once(kiosk, transport)
    copy = backup(kiosk, tmp_path / "copy.sqlite3")
    kiosk.report("1-102", "water", "pipe")
    sync_once(kiosk, transport)
    kiosk.close()
    put_back(copy, tmp_path / "k")
    kiosk = restored(tmp_path / "k", clock)
    try:
        kiosk.report("1-103", "other", "other")
        stale = kiosk.store.stream_ops(kiosk.dev, "a", 0)
        mine = {"a": int(kiosk.store.get("pushed")[f"{kiosk.dev}/a"])}
        body = sync_body(stale[-1:])
        from edge.sync import pack, unpack

        msg = unpack(body, 1 << 20)
        got = answer(district.handle(signed(kiosk, pack({**msg, "mine": mine}))))
        assert got["behind"] == {"a": mine["a"] + 1}
        assert [r["code"] for r in got["rejected"]] == ["behind"]
        assert any(op for op in got["ops"]), "the device's own ops come back with the pull"
        assert district.node.conn.execute("SELECT COUNT(*) FROM evidence").fetchone()[0] == 0
    finally:
        kiosk.close()


def test_a_district_restored_from_an_older_copy_converges_with_its_kiosks_without_an_equivocation(
    tmp_path: Path, clock: Clock
) -> None:
    """Regression (issue 13, restore from backup): a restored district left kiosks with cursors past its
    log (ops re-appended there were skipped), every kiosk raised an audit alarm, and the district's next
    op was an equivocation of its own stream, which the kiosks held."""
    from sync_server.cli import main as server_main

    from .helpers import enrolled_node, make_district

    path = tmp_path / "district"
    server = make_district(path, clock=clock)
    a = enrolled_node(server, tmp_path / "a", "a", clock=clock)
    b = enrolled_node(server, tmp_path / "b", "a", clock=clock)
    a.report("1-101", "water", "tap drips")
    for node in (a, b):
        sync_once(node, InProcessTransport(server))
    copy = backup(path, tmp_path / "district-nightly.sqlite3")
    lost_a = a.report("1-102", "water", "pipe burst")["id"]
    server.node.post_notice("停水", "Water off", "明天", "Tomorrow", scope="district")
    lost_b = b.report("1-103", "door", "lock broken")["id"]
    for node in (a, b, a):
        sync_once(node, InProcessTransport(server))
    assert {lost_a, lost_b} <= held_ids(server)
    server.close()
    put_back(copy, path)
    assert server_main(["restored", "--data", str(path)]) == 0
    server = make_district(path, clock=clock)
    try:
        assert not {lost_a, lost_b} & held_ids(server)
        fresh_b = [b.report("1-104", "lift", f"lift {i} stuck")["id"] for i in range(2)]
        for node in (b, a, b, a):
            report = sync_once(node, InProcessTransport(server))
            assert report.caught_up
        assert {lost_a, lost_b, *fresh_b} <= held_ids(server)
        assert set(fresh_b) <= own_reports(a), "a kiosk skipped ops appended after the restore"
        assert [n["title_en"] for n in server.node.notices()] == ["Water off"]  # sent back by the kiosks
        # The district writes again on top of its own stream as the kiosks held it: no equivocation.
        server.node.post_notice("通知", "Lift repaired", "好了", "Done", scope="district")
        for node in (a, b):
            sync_once(node, InProcessTransport(server))
            assert node.status()["audit_alarm"] is None
            assert len(node.store.get("audit_district_restores", [])) == 1
            assert node.digest("a") == server.node.digest("a")
            assert node.digest("district") == server.node.digest("district")
            assert node.conn.execute("SELECT COUNT(*) FROM evidence").fetchone() == (0,)
        assert server.node.conn.execute("SELECT COUNT(*) FROM evidence").fetchone() == (0,)
        assert server.node.conn.execute("SELECT COUNT(*) FROM quarantine").fetchone() == (0,)
        held = {bytes(h) for (h,) in server.node.conn.execute("SELECT hash FROM ops")}
        for node in (a, b):
            mine = {bytes(h) for (h,) in node.conn.execute("SELECT hash FROM ops")}
            assert mine <= held, "an op a kiosk holds never reached the restored district"
    finally:
        a.close()
        b.close()
        server.close()


def test_a_restored_kiosk_does_not_reissue_a_stock_issue_its_lost_ops_had_spent_already(
    tmp_path: Path, district: SyncServer, transport: InProcessTransport, make_node: Callable[..., Node], clock: Clock
) -> None:
    """The backup still shows rights that the lost ops had spent: re-issuing the post-restore issue would
    overspend (and get the kiosk quarantined); it is listed for staff instead, and stock never goes
    below zero anywhere."""
    kiosk = make_node("k", "a")
    kiosk.add_item("FUSE", "保险丝", "Fuse")
    kiosk.receive("FUSE", 5)
    sync_once(kiosk, transport)
    copy = backup(kiosk, tmp_path / "copy.sqlite3")
    kiosk.issue("FUSE", 4)
    sync_once(kiosk, transport)
    kiosk.close()
    put_back(copy, tmp_path / "k")
    kiosk = restored(tmp_path / "k", clock)
    try:
        kiosk.issue("FUSE", 3)  # the restored copy believes it still holds 5
        ticket = kiosk.report("1-101", "water", "tap drips")["id"]
        report = sync_once(kiosk, transport)
        assert report.caught_up
        dropped = kiosk.store.get("restore_dropped")
        assert [d["type"] for d in dropped] == ["stock.issue"] and "rights" in dropped[0]["why"]
        assert kiosk.stock()[0]["qty"] == 1 and district.node.stock("a")[0]["qty"] == 1
        assert ticket in held_ids(district)
        assert district.node.conn.execute("SELECT COUNT(*) FROM quarantine").fetchone() == (0,)
    finally:
        kiosk.close()


def test_reports_written_while_a_restored_kiosk_is_still_pulling_its_own_ops_back_are_kept(
    tmp_path: Path, district: SyncServer, transport: InProcessTransport, make_node: Callable[..., Node], clock: Clock
) -> None:
    """The recovery spans several pages (a daemon interrupted, a slow link); a report written between two
    pages would take a seq the district holds: it is set aside with the others and re-issued on top."""
    from edge.sync.client import SyncClient

    kiosk = make_node("k", "a")
    kiosk.report("1-101", "water", "tap drips")
    sync_once(kiosk, transport)
    copy = backup(kiosk, tmp_path / "copy.sqlite3")
    lost = {kiosk.report("1-102", "water", f"pipe {i}")["id"] for i in range(4)}
    sync_once(kiosk, transport)
    kiosk.close()
    put_back(copy, tmp_path / "k")
    kiosk = restored(tmp_path / "k", clock)
    try:
        client = SyncClient(kiosk, limit=1)
        for _ in range(2):  # two pages of one op each, then the sync stops
            out = client.request()
            resp = district.handle(signed(kiosk, out.body))
            client.receive(out, resp.body, kiosk.store.wall(), kiosk.store.wall())
        assert kiosk.store.get("restore_recovering"), "the recovery is still under way"
        between = kiosk.report("1-103", "door", "written between two pages")["id"]
        assert sync_once(kiosk, transport).caught_up
        assert lost | {between} <= held_ids(district)
        assert lost | {between} <= own_reports(kiosk)
        assert district.node.conn.execute("SELECT COUNT(*) FROM evidence").fetchone() == (0,)
        assert kiosk.conn.execute("SELECT COUNT(*) FROM evidence").fetchone() == (0,)
    finally:
        kiosk.close()
