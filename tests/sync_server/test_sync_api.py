"""``/v1/sync`` in-process: paging in log order, idempotent pushes, heads, scopes, quarantine, revocation."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

from crdt.op import ZERO_HASH, decode_op, sign_op
from edge.node import Node
from edge.store.views import counter_value
from edge.sync import SyncAnswer, sync_once
from sync_server.admin import list_devices, revoke
from sync_server.core import HttpRequest, InProcessTransport, SyncServer

from .helpers import answer, signed, sync_body


def scopes_held(node: Node) -> set[str]:
    return {r[0] for r in node.conn.execute("SELECT DISTINCT scope FROM ops")}


def test_a_pull_is_paged_in_log_order_and_resumes_from_the_cursor(
    district: SyncServer, transport: InProcessTransport, make_node: Callable[..., Node]
) -> None:
    writer, reader = make_node("w", "a"), make_node("r", "a")
    for i in range(25):
        writer.add_household(f"1-{i:03d}")
    sync_once(writer, transport)
    pages: list[SyncAnswer] = []
    report = sync_once(reader, transport, limit=10, on_page=pages.append)
    assert [len(p.ops) for p in pages] == [10, 10, 7]  # 25 households + 2 device.enroll ops
    assert [p.more for p in pages] == [True, True, False]
    flat = [i for p in pages for i in p.idx]
    assert flat == sorted(flat) and report.pulled == 27
    assert reader.digest("a") == writer.digest("a") == district.node.digest("a")
    again = sync_once(reader, transport, limit=10)
    assert (again.pulled, again.rounds) == (0, 1)


def test_re_sending_an_ingested_batch_changes_nothing(district: SyncServer, make_node: Callable[..., Node]) -> None:
    node = make_node("k", "a")
    node.add_household("1-101")
    node.award("1-101", 3, "help")
    push = node.store.stream_ops(node.dev, "a")
    first = answer(district.handle(signed(node, sync_body(push))))
    ops_before, digest = district.node.store.op_count(), district.node.digest()
    second = answer(district.handle(signed(node, sync_body(push))))
    assert len(first["accepted"]) == 2 and second["accepted"] == [] and second["rejected"] == []
    assert (district.node.store.op_count(), district.node.digest()) == (ops_before, digest)
    assert second["heads"] == {f"{node.dev}/a": 2}


def test_accepted_are_leaf_indices_and_heads_cover_only_the_callers_streams(
    district: SyncServer, make_node: Callable[..., Node]
) -> None:
    node, other = make_node("k", "a"), make_node("o", "a")
    other.add_household("2-202")
    sync_once(other, InProcessTransport(district))
    node.add_household("1-101")
    got = answer(district.handle(signed(node, sync_body(node.store.stream_ops(node.dev, "a")))))
    idx = district.node.conn.execute("SELECT idx FROM ops WHERE dev=?", (node.dev,)).fetchone()[0]
    assert got["accepted"] == [idx - 1]
    assert got["heads"] == {f"{node.dev}/a": 1}
    # the answer carries the checkpoint signed after this batch, covering the accepted op
    assert got["checkpoint"].split("\n")[:2] == ["linli.district/West", str(idx)]
    assert got["leaves"] == [idx - 1] and len(got["inclusion"]) == 1


def test_a_kiosk_pulls_its_community_and_the_district_but_never_another_community(
    district: SyncServer, transport: InProcessTransport, make_node: Callable[..., Node]
) -> None:
    a, b = make_node("a1", "a"), make_node("b1", "b")
    a.add_household("1-101")
    b.add_household("9-909")
    district.node.post_notice("停水", "Water off", "明天", "Tomorrow", scope="district")
    for node in (a, b, a, b):
        sync_once(node, transport)
    assert scopes_held(a) == {"a", "district"} and scopes_held(b) == {"b", "district"}
    assert a.digest("district") == b.digest("district") == district.node.digest("district")
    raw = answer(district.handle(signed(a, sync_body(cursor=0))))
    assert {decode_op(r).scope for r in raw["ops"]} <= {"a", "district"}
    assert all(decode_op(r).dev != a.dev for r in raw["ops"])


def test_spending_rights_a_device_does_not_have_is_refused_per_op_and_quarantines_it(
    district: SyncServer, transport: InProcessTransport, make_node: Callable[..., Node]
) -> None:
    """Regression (issue 13): the server-side counter check used to keep the overspending op (a negative
    counter at the district, which the simulation's check turned into retried HTTP 500s); now the op is
    refused as ``overspent`` in a 200 answer, the counter stays whole, and the device is quarantined."""
    node = make_node("k", "a")
    node.add_household("1-101")
    node.award("1-101", 5, "help")
    sync_once(node, transport)
    row = node.conn.execute("SELECT seq, hash FROM ops WHERE dev=? ORDER BY seq DESC LIMIT 1", (node.dev,)).fetchone()
    overspend = sign_op(
        node.store.ident.key,
        scope="a",
        seq=row[0] + 1,
        prev=bytes(row[1]),
        hlc=(node.store.wall(), 99),
        actor=None,
        type="points.redeem",
        obj="1-101",
        data={"household": "1-101", "n": 50, "reward": "a fridge"},
    )
    later = sign_op(
        node.store.ident.key,
        scope="a",
        seq=row[0] + 2,
        prev=overspend.hash,
        hlc=(node.store.wall(), 100),
        actor=None,
        type="points.award",
        obj="1-101",
        data={"household": "1-101", "n": 1, "reason": "after"},
    )
    resp = district.handle(signed(node, sync_body([overspend.raw, later.raw])))
    got = answer(resp)
    assert resp.status == 200 and got["accepted"] == [] and "rights -45" in got["quarantined"]
    assert [(r["seq"], r["code"]) for r in got["rejected"]] == [(row[0] + 1, "overspent"), (row[0] + 2, "skipped")]
    assert counter_value(district.node.conn, "points", "a", "1-101") == 5
    assert district.node.conn.execute("SELECT COUNT(*) FROM ops WHERE hash=?", (overspend.hash,)).fetchone() == (0,)
    reason = district.node.conn.execute("SELECT reason, op_hash FROM quarantine WHERE dev=?", (node.dev,)).fetchone()
    assert reason == ("overspent", overspend.hash)
    flags = district.node.conn.execute("SELECT flag FROM flags WHERE dev=?", (node.dev,)).fetchall()
    assert ("quarantine",) in flags
    assert [d["quarantined"] for d in list_devices(district.node) if d["device"] == node.dev][0]
    node.add_household("1-102")
    refused = district.handle(signed(node, sync_body(node.store.stream_ops(node.dev, "a", row[0]))))
    assert (refused.status, answer(refused)["error"]) == (403, "quarantined")
    pull_only = district.handle(signed(node, sync_body(cursor=0)))
    assert pull_only.status == 200


def test_revocation_takes_effect_from_a_sequence_number_not_a_clock(
    district: SyncServer, transport: InProcessTransport, make_node: Callable[..., Node]
) -> None:
    thief, honest = make_node("t", "a"), make_node("h", "a")
    for unit in ("1-101", "1-102", "1-103"):
        thief.add_household(unit)
    sync_once(thief, transport)
    assert revoke(district.node, thief.dev, reason="stolen")["revoked_from_seq"] == 4
    sync_once(honest, transport)
    assert honest.conn.execute("SELECT COUNT(*) FROM ops WHERE dev=?", (thief.dev,)).fetchone()[0] == 3
    assert honest.conn.execute("SELECT revoked_from_seq FROM devices WHERE dev=?", (thief.dev,)).fetchone() == (4,)
    last = thief.conn.execute("SELECT hash FROM ops WHERE dev=? AND seq=3", (thief.dev,)).fetchone()[0]
    backdated = sign_op(
        thief.store.ident.key,
        scope="a",
        seq=4,
        prev=bytes(last),
        hlc=(1, 0),  # claims to be from 1970, long before the revocation
        actor=None,
        type="household.add",
        obj="1-999",
        data={"unit": "1-999"},
    )
    for store in (honest.store, district.node.store):
        result = store.apply_remote([backdated.raw])
        assert [r.code for r in result.rejected] == ["revoked"]
    assert revoke(district.node, thief.dev)["already"] is True


def test_healthz_and_metrics_report_ops_and_devices(
    district: SyncServer, transport: InProcessTransport, make_node: Callable[..., Node]
) -> None:
    node = make_node("k", "a")
    node.add_household("1-101")
    sync_once(node, transport)
    seq_op = sign_op(
        node.store.ident.key,
        scope="a",
        seq=5,
        prev=ZERO_HASH.replace(b"\0", b"\1"),
        hlc=(node.store.wall(), 0),
        actor=None,
        type="household.add",
        obj="x",
        data={"unit": "x"},
    )
    district.handle(signed(node, sync_body([seq_op.raw])))
    assert district.handle(HttpRequest("GET", "/healthz")).status == 200
    resp = district.handle(HttpRequest("GET", "/metrics"))
    assert resp.content_type == "text/plain; version=0.0.4; charset=utf-8"
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(resp.body.decode())
        for s in family.samples
    }
    assert samples[("linli_ops_accepted_total", ())] == 1
    assert samples[("linli_ops_rejected_total", (("reason", "gap"),))] == 1
    assert samples[("linli_device_last_seen_timestamp_seconds", (("device", node.dev),))] == district.wall() / 1000
    assert samples[("linli_requests_total", (("path", "/v1/sync"), ("status", "200")))] == 2
    assert samples[("linli_sync_seconds_count", ())] == 2
    assert samples[("linli_ops_stored", ())] == district.node.store.op_count()
    assert district.metrics.rejected == {"gap": 1} and district.metrics.accepted == 1


def test_ops_pushed_after_a_rejected_one_are_skipped_so_the_log_stays_causal(
    district: SyncServer, make_node: Callable[..., Node]
) -> None:
    node = make_node("k", "a")
    district.node.add_tech("Li", ["water"], "core", shared=True)
    node.add_household("1-101")
    sync_once(node, InProcessTransport(district))
    tech = node.techs()[0]["id"]
    last = node.conn.execute("SELECT hash FROM ops WHERE dev=? AND seq=1", (node.dev,)).fetchone()[0]
    key = node.store.ident.key
    bad = sign_op(
        key,
        scope="a",
        seq=2,
        prev=bytes(last),
        hlc=(node.store.wall(), 1),
        actor=None,
        type="ticket.comment",
        obj="01T",
        data={"text": ""},
    )
    after = sign_op(
        key,
        scope="district",
        seq=1,
        prev=ZERO_HASH,
        hlc=(node.store.wall(), 2),
        actor=None,
        type="tech.status",
        obj=tech,
        data={"status": "busy"},
    )
    before = district.node.digest()
    got = answer(district.handle(signed(node, sync_body([bad.raw, after.raw]))))
    assert [(r["code"], r["scope"], r["seq"]) for r in got["rejected"]] == [
        ("invalid_data", "a", 2),
        ("skipped", "district", 1),
    ]
    assert got["accepted"] == [] and district.node.digest() == before
    alone = answer(district.handle(signed(node, sync_body([after.raw]))))
    assert len(alone["accepted"]) == 1


def test_a_group_of_requests_commits_together_and_each_stays_all_or_nothing(
    district: SyncServer, make_node: Callable[..., Node]
) -> None:
    good, bad = make_node("g", "a"), make_node("b", "a")
    good.add_household("1-101")
    bad.add_household("1-102")
    intruder = sign_op(
        bad.store.ident.key,
        scope="b",
        seq=1,
        prev=ZERO_HASH,
        hlc=(bad.store.wall(), 0),
        actor=None,
        type="household.add",
        obj="9-9",
        data={"unit": "9-9"},
    )
    first = signed(good, sync_body(good.store.stream_ops(good.dev, "a")))
    mixed = signed(bad, sync_body([*bad.store.stream_ops(bad.dev, "a"), intruder.raw]))
    answers = district.handle_many([first, mixed, first, HttpRequest("GET", "/healthz")])
    assert [a.status for a in answers] == [200, 403, 401, 200]
    held = {d for (d,) in district.node.conn.execute("SELECT DISTINCT dev FROM ops WHERE scope='a'")}
    assert good.dev in held and bad.dev not in held
    assert not district.node.conn.in_transaction
