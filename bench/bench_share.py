"""Availability query latency: ``GET /v1/district/availability?sku=`` over real HTTP on loopback.

A district of 200 communities x 500 skus (``BENCH_SHARE_COMMUNITIES`` / ``BENCH_SHARE_SKUS`` scale
it) is built directly in the district's store with signed ops: the district's catalogue and one
``device.enroll`` per community, then one kiosk per community signs a ``stock.receive`` of every sku
in its own stream, applied by the district's ordinary remote path (signatures, chains, payloads
checked). Then ``linli-server serve`` (uvicorn) answers a bounded loop of signed availability queries
for random skus from one kiosk over one kept-alive connection.

Printed, as p50/p99 in milliseconds: the HTTP query; and, as raw limits measured in the same run, the
same SQL statement (``sync_server.availability.AVAILABILITY_SQL``) run directly on the database, and
an HTTP round trip that touches nothing (``/healthz``). The query records the request's nonce and
the device's last-seen time (one small commit, group-committed by the writer thread), so the gap
between the two limits and the figure is that commit plus the signature check.

Run: ``make bench`` or ``.venv/bin/python bench/bench_share.py``.
"""

from __future__ import annotations

import os
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _common import Server, pct  # noqa: E402

from crdt.keys import DeviceKey  # noqa: E402
from crdt.op import ZERO_HASH, sign_op  # noqa: E402
from edge.node import Node  # noqa: E402
from edge.sync import HttpTransport, auth_header, unpack  # noqa: E402
from sync_server.availability import AVAILABILITY_SQL  # noqa: E402
from sync_server.cli import main as server_main  # noqa: E402

COMMUNITIES = int(os.environ.get("BENCH_SHARE_COMMUNITIES", "200"))
SKUS = int(os.environ.get("BENCH_SHARE_SKUS", "500"))
QUERIES = int(os.environ.get("BENCH_SHARE_QUERIES", "2000"))
APPLY_BATCH = 5000


def community_stream(key: DeviceKey, community: str, skus: list[str], start_ms: int, rng: random.Random) -> list[bytes]:
    """One kiosk's stream in its community: a ``stock.receive`` of every sku."""
    out, prev = [], ZERO_HASH
    for seq, sku in enumerate(skus, start=1):
        op = sign_op(
            key,
            scope=community,
            seq=seq,
            prev=prev,
            hlc=(start_ms + seq, 0),
            actor="staff-1",
            type="stock.receive",
            obj=sku,
            data={"sku": sku, "qty": rng.randrange(1, 200), "reason": "initial stock"},
        )
        prev = op.hash
        out.append(op.raw)
    return out


def build(data: Path) -> tuple[DeviceKey, int]:
    """The district store; returns a kiosk key to query with and the ops it holds."""
    assert server_main(["init", "--data", str(data), "--district", "Bench"]) == 0
    rng = random.Random(7)
    skus = [f"SKU-{i:04d}" for i in range(SKUS)]
    communities = [f"c{i:03d}" for i in range(COMMUNITIES)]
    keys = [DeviceKey.from_seed(i.to_bytes(4, "big") * 8) for i in range(COMMUNITIES)]
    district = Node.open(data)
    t0 = time.perf_counter()
    with district.store.tx() as tx:
        for i, sku in enumerate(skus):
            reorder = rng.randrange(0, 20)
            data_ = {"sku": sku, "name_zh": f"物品{i}", "name_en": f"Item {i}", "kind": "supply", "reorder": reorder}
            tx.emit("district", "item.add", sku, data_)
        for key, community in zip(keys, communities, strict=True):
            enrol = {"pubkey": key.public_bytes, "community": community, "role": "kiosk", "name": f"{community}-kiosk"}
            tx.emit("district", "device.enroll", key.device_id, enrol)
    start_ms = district.now_ms() - 3_600_000
    pending: list[bytes] = []
    for key, community in zip(keys, communities, strict=True):
        pending += community_stream(key, community, skus, start_ms, rng)
        while len(pending) >= APPLY_BATCH:
            result = district.store.apply_remote(pending[:APPLY_BATCH])
            if result.rejected:
                raise RuntimeError(f"ops rejected while building: {result.rejected[0]}")
            pending = pending[APPLY_BATCH:]
    if pending:
        district.store.apply_remote(pending)
    ops = district.store.op_count()
    print(f"built {COMMUNITIES} communities x {SKUS} skus: {ops:,} ops in {time.perf_counter() - t0:.1f} s")
    district.close()
    return keys[0], ops


def http_latencies(url: str, key: DeviceKey, skus: list[str]) -> list[float]:
    transport = HttpTransport(url, timeout=30)
    out = []
    try:
        for sku in skus:
            path = f"/v1/district/availability?sku={sku}"
            headers = {"Authorization": auth_header(key, "GET", path, b"", int(time.time() * 1000))}
            t0 = time.perf_counter()
            status, body = transport.request("GET", path, b"", headers)
            out.append(time.perf_counter() - t0)
            if status != 200:
                raise RuntimeError(f"availability refused: {status} {body[:200]!r}")
            if len(unpack(body, 1 << 24)["communities"]) != COMMUNITIES + 1:
                raise RuntimeError("availability answer does not list every community and the district")
    finally:
        transport.close()
    return out


def healthz_latencies(url: str, n: int) -> list[float]:
    transport = HttpTransport(url, timeout=30)
    out = []
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            transport.request("GET", "/healthz", b"", {})
            out.append(time.perf_counter() - t0)
    finally:
        transport.close()
    return out


def sql_latencies(db: Path, skus: list[str]) -> list[float]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    out = []
    for sku in skus:
        t0 = time.perf_counter()
        rows = conn.execute(AVAILABILITY_SQL, {"sku": sku}).fetchall()
        out.append(time.perf_counter() - t0)
        if len(rows) != COMMUNITIES + 1:
            raise RuntimeError("the raw query does not list every community and the district")
    conn.close()
    return out


def row(name: str, values: list[float], base: list[float] | None) -> str:
    p50, p99 = pct(values, 50) * 1000, pct(values, 99) * 1000
    ratio = "" if base is None else f"{p50 / (pct(base, 50) * 1000):8.1f}x {p99 / (pct(base, 99) * 1000):8.1f}x"
    return f"{name:<42} {p50:9.3f} {p99:9.3f}   {ratio}"


def main() -> None:
    rng = random.Random(11)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "district"
        key, _ = build(data)
        skus = [f"SKU-{rng.randrange(SKUS):04d}" for _ in range(QUERIES)]
        raw_sql = sql_latencies(data / "edge.sqlite3", skus)
        server = Server(data)
        try:
            http_latencies(server.url, key, skus[:50])  # warm up: connection, page cache, imports
            healthz = healthz_latencies(server.url, QUERIES)
            http = http_latencies(server.url, key, skus)
        finally:
            server.stop()
        raw_sql_after = sql_latencies(data / "edge.sqlite3", skus)
    print(f"\navailability of one sku across {COMMUNITIES} communities (+ district), {QUERIES} queries, ms")
    print(f"{'path':<42} {'p50':>9} {'p99':>9}   ratio p50, p99 to raw SQL")
    print(row("raw SQL (AVAILABILITY_SQL), before serving", raw_sql, None))
    print(row("raw SQL, again after serving", raw_sql_after, raw_sql))
    print(row("raw HTTP round trip (GET /healthz)", healthz, raw_sql))
    print(row("GET /v1/district/availability (signed)", http, raw_sql))
    print(f"\nHTTP query over the bare HTTP round trip: p50 {pct(http, 50) / pct(healthz, 50):.1f}x")


if __name__ == "__main__":
    main()
