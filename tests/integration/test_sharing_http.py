"""Sharing between communities over real HTTP: ``linli-server serve`` (uvicorn) on
127.0.0.1, the district node, and kiosks of communities a (two kiosks), b and c that sync through it.

Transfers made and answered offline, concurrent requests for the last units under partitions, the
district's own warehouse, a lent technician in the borrower's dispatcher, tool loans and a double
booking, the availability endpoint, and hostile ops signed by a kiosk's own key.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from crdt.ids import new_ulid
from crdt.op import ZERO_HASH, sign_op
from edge import InsufficientRights, InvalidTransition
from edge.cli import main as edge_main
from edge.domain import lending
from edge.node import Node
from edge.sync import HttpTransport, Unreachable, auth_header, enroll, sync_once, unpack
from sync_server.cli import main as server_main
from sync_server.enroll import issue_token
from tests.sync_server.helpers import free_port, signed, sync_body

from .live import LiveServer

pytestmark = pytest.mark.slow

KIOSKS = (("a1", "a"), ("a2", "a"), ("b", "b"), ("c", "c"))


class World:
    """The server, the district node (opened beside the server, as an operator's shell would) and kiosks."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "district"
        assert server_main(["init", "--data", str(self.data), "--district", "West"]) == 0
        self.server = LiveServer(self.data, "--rate", "1000", "--burst", "1000")
        self.url = self.server.url
        self.district = Node.open(self.data)
        self.kiosks: dict[str, Node] = {}
        for name, community in KIOSKS:
            node = Node.init(root / name, community)
            token = issue_token(self.district.conn, community, "kiosk", 3_600_000, self.district.now_ms())
            transport = HttpTransport(self.url)
            enroll(node, transport, self.url, token, name)
            transport.close()
            self.kiosks[name] = node

    def __getitem__(self, name: str) -> Node:
        return self.kiosks[name]

    def sync(self, *names: str) -> None:
        """One full sync of each named kiosk (all of them when none is named), in that order."""
        for name in names or tuple(self.kiosks):
            transport = HttpTransport(self.url)
            try:
                sync_once(self.kiosks[name], transport)
            finally:
                transport.close()

    def reopen(self, name: str) -> Node:
        """Close and open a kiosk again (after the command line wrote to its database)."""
        self.kiosks[name].close()
        self.kiosks[name] = Node.open(self.root / name)
        return self.kiosks[name]

    def close(self) -> None:
        for node in self.kiosks.values():
            node.close()
        self.district.close()
        self.server.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = World(tmp_path_factory.mktemp("share"))
    try:
        yield w
    finally:
        w.close()


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Any]:
    def run(*argv: str, code: int = 0) -> Any:
        capsys.readouterr()
        got = edge_main([*argv, "--json"])
        out = capsys.readouterr()
        assert got == code, out.err
        return json.loads(out.out) if code == 0 else out.err

    return run


def stock(node: Node, sku: str, scope: str | None = None) -> int:
    return {s["sku"]: s["qty"] for s in node.stock(scope)}.get(sku, 0)


def left(world: World, scope: str, sku: str) -> int:
    """Units of ``sku`` issued out of ``scope`` for transfers, in the district's ledger."""
    row = world.district.conn.execute(
        "SELECT COALESCE(-SUM(delta), 0) FROM ledger WHERE kind='stock' AND scope=? AND key=? AND action='issue' "
        "AND reason LIKE 'transfer %'",
        (scope, sku),
    ).fetchone()
    return int(row[0])


def same_everywhere(world: World, *scopes: str) -> None:
    for scope in scopes:
        holders = [n for n in world.kiosks.values() if scope in n.scopes]
        digests = {n.digest(scope) for n in holders} | {world.district.digest(scope)}
        assert len(digests) == 1, f"scope {scope} differs between replicas"


def get_availability(world: World, node: Node, sku: str) -> tuple[int, dict[str, Any]]:
    path = f"/v1/district/availability?sku={sku}"
    header = auth_header(node.store.ident.key, "GET", path, b"", node.store.wall())
    transport = HttpTransport(world.url)
    try:
        status, body = transport.request("GET", path, b"", {"Authorization": header})
    finally:
        transport.close()
    return status, unpack(body, 1 << 20)


def test_b_asks_a_for_20_bottles_while_a_is_offline_and_stock_ends_consistent(world: World, cli: Any) -> None:
    world.district.add_item("WATER", "瓶装水", "Bottled water", kind="supply", reorder=10, scope="district")
    world.sync()
    a1, b = world["a1"], world["b"]
    a1.receive("WATER", 50)
    world.sync("a1")
    request = b.request_transfer("WATER", 20, "a", note="flooded basement")
    world.sync("b")
    # a is offline: its sync fails and it knows nothing of the request; it keeps working.
    dead = HttpTransport(f"http://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(Unreachable):
        sync_once(a1, dead)
    assert a1.transfers() == [] and a1.status()["last_sync_error"]
    # The link returns: a sees the request, approves and ships it offline, then syncs.
    world.sync("a1")
    assert [t["step"] for t in a1.transfers()] == ["requested"]
    a1.approve_transfer(request["id"])
    a1.ship_transfer(request["id"])
    assert stock(a1, "WATER") == 30
    world.sync("a1", "b")
    b.arrive_transfer(request["id"])
    world.sync("b", "a1", "a2", "c")
    for node in (world.district, a1, world["a2"], b):
        assert node.transfers(all_communities=True)[0]["step"] == "arrived"
    assert stock(a1, "WATER") == stock(world["a2"], "WATER") == stock(world.district, "WATER", "a") == 30
    assert stock(b, "WATER") == stock(world.district, "WATER", "b") == 20
    same_everywhere(world, "a", "b", "district")
    # Anyone may now ask the district who has water: quantities only, online.
    c_dir = str(world.root / "c")
    got = cli("transfer", "availability", "WATER", "--data", c_dir)
    assert {r["community"]: r["qty"] for r in got["communities"]} == {"a": 30, "b": 20, "c": 0, "district": 0}
    status, raw = get_availability(world, world["c"], "WATER")
    assert status == 200 and set(raw) == {"sku", "communities", "server_time_ms"}
    assert all(set(r) == {"community", "qty", "stranded", "reorder"} for r in raw["communities"])
    assert {r["stranded"] for r in raw["communities"]} == {0}  # no revoked device holds rights
    assert {r["reorder"] for r in raw["communities"]} == {10}


def test_availability_needs_a_signed_request_and_a_known_well_formed_sku(world: World) -> None:
    transport = HttpTransport(world.url)
    status, body = transport.request("GET", "/v1/district/availability?sku=WATER", b"", {})
    transport.close()
    assert (status, unpack(body, 1 << 20)["error"]) == (401, "auth_header")
    assert get_availability(world, world["b"], "NO-SUCH-SKU")[0] == 404
    assert get_availability(world, world["b"], "bad%20sku")[1]["error"] == "malformed"


def _ship_schedule(world: World, sku: str, schedule: str) -> None:
    """b and c ask concurrently for a's last 10 units; a's two kiosks answer under ``schedule``."""
    a1, a2, b, c = world["a1"], world["a2"], world["b"], world["c"]
    a1.receive(sku, 10)
    if schedule == "split-rights":
        a1.move_stock_rights(sku, 5, a2.dev)
    world.sync("a1", "a2")
    tb = b.request_transfer(sku, 10, "a")
    tc = c.request_transfer(sku, 10, "a")
    world.sync("b", "c", "a1", "a2")
    # Partition: a1 and a2 do not hear of each other from here until the final sync.
    if schedule == "both-kiosks":
        a1.approve_transfer(tb["id"])
        a1.ship_transfer(tb["id"])
        a2.approve_transfer(tc["id"])  # a2 still sees 10 in stock ...
        with pytest.raises(InsufficientRights, match="can no longer be met"):
            a2.ship_transfer(tc["id"])  # ... but holds none of the rights to ship it
        with pytest.raises(InsufficientRights, match="cannot approve"):
            a1.approve_transfer(tc["id"])
    elif schedule == "one-kiosk-both":
        a1.approve_transfer(tc["id"])
        a1.approve_transfer(tb["id"])
        a1.ship_transfer(tc["id"])
        with pytest.raises(InsufficientRights, match="can no longer be met"):
            a1.ship_transfer(tb["id"])
    else:  # split-rights: neither kiosk alone can ship 10
        a1.approve_transfer(tb["id"])
        a2.approve_transfer(tc["id"])
        for kiosk, t in ((a1, tb), (a2, tc)):
            with pytest.raises(InsufficientRights, match="can no longer be met"):
                kiosk.ship_transfer(t["id"])
    world.sync("a1", "a2", "b", "c", "a1", "a2")
    for kiosk, t in ((b, tb), (c, tc)):
        if next(x["step"] for x in kiosk.transfers() if x["id"] == t["id"]) == "shipped":
            kiosk.arrive_transfer(t["id"])
    world.sync("b", "c", "a1", "a2", "b")


@pytest.mark.parametrize("schedule", ["both-kiosks", "one-kiosk-both", "split-rights"])
def test_b_and_c_asking_concurrently_for_as_last_10_units_never_take_more_than_10(world: World, schedule: str) -> None:
    sku = f"MASK-{schedule.upper()}"
    world.district.add_item(sku, "口罩", "Masks", kind="supply", scope="district")
    world.sync()
    _ship_schedule(world, sku, schedule)
    out = left(world, "a", sku)
    received = stock(world.district, sku, "b") + stock(world.district, sku, "c")
    assert out <= 10 and received == out
    assert stock(world.district, sku, "a") == 10 - out >= 0
    assert out == (0 if schedule == "split-rights" else 10)
    rights = world.district.conn.execute(
        "SELECT MIN(inc + moved_in - moved_out - dec) FROM counter_rights WHERE kind='stock' AND key=?", (sku,)
    ).fetchone()[0]
    assert rights >= 0
    same_everywhere(world, "a", "b", "c", "district")


def test_the_district_allocates_from_its_own_warehouse_the_same_way(world: World, cli: Any) -> None:
    d = str(world.data)
    world.district.add_item("BLANKET", "棉被", "Blanket", kind="supply", scope="district")
    world.district.receive("BLANKET", 100, scope="district")
    c_dir = str(world.root / "c")
    world.sync("c")
    sent = cli("transfer", "request", "BLANKET", "30", "--from", "district", "--to", "c", "--data", d)
    assert (sent["src"], sent["dst"], sent["step"]) == ("district", "c", "requested")
    cli("transfer", "approve", sent["id"], "--data", d)
    cli("transfer", "ship", sent["id"], "--data", d)
    world.sync("c")
    world.kiosks["c"].close()
    assert cli("transfer", "arrive", sent["id"], "--data", c_dir)["step"] == "arrived"
    asked = cli("transfer", "request", "BLANKET", "5", "--from", "district", "--note", "cold night", "--data", c_dir)
    refused = cli("transfer", "approve", asked["id"], "--data", c_dir, code=1)
    assert "holding community 'district'" in refused or "belongs to community 'district'" in refused
    c = world.reopen("c")
    world.sync("c")
    for step in ("approve", "ship"):
        cli("transfer", step, asked["id"], "--data", d)
    world.sync("c")
    c.arrive_transfer(asked["id"])
    world.sync("c")
    assert stock(world.district, "BLANKET", "district") == 65
    assert stock(c, "BLANKET") == stock(world.district, "BLANKET", "c") == 35
    listed = cli("transfer", "list", "--data", c_dir)
    assert {t["id"]: t["step"] for t in listed if t["sku"] == "BLANKET"} == {
        sent["id"]: "arrived",
        asked["id"]: "arrived",
    }
    got = cli("transfer", "availability", "BLANKET", "--data", c_dir)
    assert {r["community"]: r["qty"] for r in got["communities"] if r["qty"]} == {"c": 35, "district": 65}


def test_a_borrowed_technician_is_in_the_borrowers_dispatch_until_the_loan_ends(world: World, cli: Any) -> None:
    d, b_dir, c_dir = str(world.data), str(world.root / "b"), str(world.root / "c")
    tech = world.district.add_tech("共享王师傅", ["water"], "core", shared=True, pos=(1, 1))
    until = world.district.now_ms() + 3_600_000
    iso = datetime.fromtimestamp(until / 1000, UTC).isoformat()
    lent = cli("tech", "lend", "共享王师傅", "--to", "b", "--until", iso, "--data", d)
    assert (lent["tech"], lent["to"], lent["until_ms"]) == (tech["id"], "b", until)
    assert "lent to b" in cli("tech", "lend", tech["id"], "--to", "c", "--until", iso, "--data", d, code=1)
    for name in ("b", "c"):
        world[name].report("9-901", "water", "pipe leaking under the sink", urgency="P2")
    world.sync("b", "c")
    proposals = cli("dispatch", "--data", b_dir)
    assert [p["tech"] for p in proposals] == [tech["id"]]
    assert cli("dispatch", "--data", c_dir) == []
    assert [x["tech"] for x in cli("tech", "loans", "--data", b_dir)] == [tech["id"]]
    # The loan runs out by the clock ...
    later = Node.open(world.root / "b", wall=lambda: until + 1)
    assert later.lent_techs() == {} and later.propose() == []
    later.close()
    # ... or the district ends it early; the borrower's dispatcher drops the technician either way.
    assert cli("tech", "return", "共享王师傅", "--data", d)["active"] is False
    world.sync("b")
    assert cli("dispatch", "--data", b_dir) == []
    assert world.reopen("b").lent_techs() == {}


def test_tool_loans_and_a_double_booking_under_partition_resolve_over_http(world: World, cli: Any) -> None:
    a1_dir, a2_dir = str(world.root / "a1"), str(world.root / "a2")
    world.district.add_item("DRILL", "电钻", "Drill", kind="tool", scope="district")
    world.sync("a1")
    world["a1"].add_household("3-301")
    world["a1"].receive("DRILL", 1)
    world.sync("a1", "a2")
    world["a1"].close()
    world["a2"].close()
    loan = cli("tool", "lend", "DRILL", "3-301", "--days", "3", "--data", a1_dir)
    # Partitioned from each other, both lobby kiosks book the same slot.
    first = cli("booking", "make", "activity-room", "2026-12-01T09:00", "3-301", "--data", a1_dir)
    second = cli("booking", "make", "activity-room", "2026-12-01T09:00", "3-301", "--data", a2_dir)
    assert first["status"] == second["status"] == "confirmed"
    world.reopen("a1")
    world.reopen("a2")
    world.sync("a1", "a2", "a1")
    views = [
        sorted((x["id"], x["status"]) for x in cli("booking", "list", "--data", path)) for path in (a1_dir, a2_dir)
    ]
    views.append(sorted((x["id"], x["status"]) for x in lending.bookings(world.district.conn, "a")))
    assert views[0] == views[1] == views[2]
    assert sorted(s for _, s in views[0]) == ["bumped", "confirmed"]
    assert {i for i, _ in views[0]} == {first["id"], second["id"]}
    world["a2"].close()
    assert "already booked" in cli(
        "booking", "make", "activity-room", "2026-12-01T09:00", "3-301", "--data", a2_dir, code=1
    )
    # The loan made at a1 is returned at a2; the drill is back in a's stock everywhere.
    assert [x["id"] for x in cli("tool", "loans", "--data", a2_dir)] == [loan["id"]]
    assert cli("tool", "return", loan["id"], "--data", a2_dir)["returned_ms"] is not None
    world.reopen("a2")
    world.sync("a2", "a1")
    assert world["a1"].loans() == [] and stock(world["a1"], "DRILL") == stock(world.district, "DRILL", "a") == 1
    with pytest.raises(InvalidTransition):
        world["a1"].return_tool(loan["id"])
    same_everywhere(world, "a")


def _push(world: World, node: Node, *ops: Any) -> tuple[int, dict[str, Any]]:
    req = signed(node, sync_body([op.raw for op in ops], cursor=int(node.store.get("cursor", 0))))
    transport = HttpTransport(world.url)
    try:
        status, body = transport.request("POST", "/v1/sync", req.body, {"Authorization": req.headers["authorization"]})
    finally:
        transport.close()
    return status, unpack(body, 1 << 26)


def _craft(node: Node, scope: str, type_: str, obj: str, data: dict[str, Any]) -> Any:
    """An op signed by ``node``'s own key at the next seq of its stream, outside its store."""
    row = node.conn.execute(
        "SELECT head_seq, head_hash FROM streams WHERE dev=? AND scope=?", (node.dev, scope)
    ).fetchone()
    seq, prev = (int(row[0]) + 1, bytes(row[1])) if row else (1, ZERO_HASH)
    return sign_op(
        node.store.ident.key,
        scope=scope,
        seq=seq,
        prev=prev,
        hlc=(node.store.wall(), 0),
        actor=None,
        type=type_,
        obj=obj,
        data=data,
    )


def test_hostile_transfer_ops_signed_by_a_kiosk_are_refused_with_the_right_code(world: World) -> None:
    world.district.add_item("SOAP", "肥皂", "Soap", kind="supply", scope="district")
    world.sync()
    a1, b, c = world["a1"], world["b"], world["c"]
    a1.receive("SOAP", 8)
    request = b.request_transfer("SOAP", 5, "a")
    world.sync("a1", "b", "c", "a1")
    before = world.district.digest()
    cases = [
        (b, "district", "transfer.approve", request["id"], {"note": ""}, 403, "forbidden", "holding community"),
        (b, "district", "transfer.ship", request["id"], {"note": ""}, 403, "forbidden", "holding community"),
        (b, "a", "stock.issue", "SOAP", {"sku": "SOAP", "qty": 5, "reason": "take it"}, 403, "forbidden", "scope"),
        (
            c,
            "district",
            "transfer.request",
            f"a>b:{new_ulid(c.store.wall())}",
            {"sku": "SOAP", "qty": 5, "src": "a", "dst": "b", "note": ""},
            403,
            "forbidden",
            "needing community 'b'",
        ),
        (
            b,
            "district",
            "transfer.request",
            f"a>b:{new_ulid(b.store.wall())}",
            {"sku": "SOAP", "qty": -5, "src": "a", "dst": "b", "note": ""},
            200,
            "invalid_data",
            "qty",
        ),
    ]
    for node, scope, type_, obj, data, status, code, words in cases:
        op = _craft(node, scope, type_, obj, data)
        got_status, body = _push(world, node, op)
        assert got_status == status, body
        rejected = body["rejected"]
        assert [(r["code"], r["seq"]) for r in rejected] == [(code, op.seq)], rejected
        assert words in rejected[0]["detail"]
        assert world.district.digest() == before, type_
    # The kiosks are not quarantined by a refusal: they go on syncing, and a's stock is untouched.
    world.sync("b", "c", "a1")
    assert world.district.conn.execute("SELECT COUNT(*) FROM quarantine").fetchone()[0] == 0
    assert stock(world.district, "SOAP", "a") == 8
    assert [t["step"] for t in world.district.transfers(all_communities=True) if t["sku"] == "SOAP"] == ["requested"]


def test_the_open311_view_answers_over_http_without_a_signature(world: World) -> None:
    world["c"].report("3-303", "lift", "王先生 13900000000 stuck between floors", urgency="P1")
    world.sync("c")
    transport = HttpTransport(world.url)
    try:
        status, body = transport.request("GET", "/open311/v2/requests.json?service_code=lift", b"", {})
        bad, errors = transport.request("GET", "/open311/v2/requests.json?status=maybe", b"", {})
    finally:
        transport.close()
    found = json.loads(body)
    assert status == 200 and [(r["service_code"], r["address_id"], r["status"]) for r in found] == [
        ("lift", "c", "open")
    ]
    assert "王先生" not in body.decode() and "13900000000" not in body.decode() and "3-303" not in body.decode()
    assert bad == 400 and json.loads(errors)[0]["code"] == 400
