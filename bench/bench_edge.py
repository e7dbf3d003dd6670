"""Edge node: local write latency against a raw SQLite insert, remote apply rate against raw verify.

(a) ``Node.report`` (validate, sign, append, materialise, commit with ``synchronous=FULL``) against a
    raw single-row ``BEGIN IMMEDIATE`` insert with the same pragmas; the two are measured in
    alternating rounds so that disk and CPU noise falls on both. Target: p50 ≤ 3× raw.
(b) 100,000 remote signed ops of a realistic mix, applied in batches of 1,000 by ``Store.apply_remote``
    (decode, canonical check, device and chain checks, verify, insert, materialise), against the raw
    Ed25519 verify rate on one core measured in the same run. Target: ≥ 60 % of raw verify. Run once
    verifying inline and once with signatures checked ahead in worker processes (the default).

Run: ``make bench`` or ``.venv/bin/python bench/bench_edge.py [N_OPS]``.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import pct, raw_insert_latencies, raw_verify_rate  # noqa: E402

from crdt.keys import DeviceKey  # noqa: E402
from crdt.op import ZERO_HASH, Op, sign_op  # noqa: E402
from edge import Node  # noqa: E402
from edge.store import Identity, Store  # noqa: E402
from edge.store import ingest as store_module  # noqa: E402

ROUNDS = 10
PER_ROUND = 100
N_OPS = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
BATCH = 1000
BASE_MS = 1_760_000_000_000


def report_latency(root: Path) -> None:
    node = Node.init(root / "kiosk", "east-1")
    node.add_household("3-1201")
    for i in range(50):  # warm up the caches and the WAL
        node.report("3-1201", "water", f"warm-up {i}")
    ours: list[float] = []
    raw: list[float] = []
    for r in range(ROUNDS):
        raw += raw_insert_latencies(PER_ROUND)
        for i in range(PER_ROUND):
            t0 = time.perf_counter()
            node.report("3-1201", "water", f"kitchen pipe leaking, round {r} #{i}", answers={"water_spreading": True})
            ours.append(time.perf_counter() - t0)
    node.close()
    print(f"(a) local ticket report, {len(ours)} reports in {ROUNDS} rounds alternating with raw inserts")
    print(f"    raw insert  p50 {pct(raw, 50) * 1e3:7.3f} ms   p99 {pct(raw, 99) * 1e3:7.3f} ms")
    print(f"    report      p50 {pct(ours, 50) * 1e3:7.3f} ms   p99 {pct(ours, 99) * 1e3:7.3f} ms")
    print(f"    ratio p50 {pct(ours, 50) / pct(raw, 50):.2f}x (target <= 3x)   p99 {pct(ours, 99) / pct(raw, 99):.2f}x")


class _Device:
    def __init__(self, seed: int) -> None:
        self.key = DeviceKey.from_seed(bytes([seed]) * 32)
        self.heads: dict[str, tuple[int, bytes]] = {}
        self.wall = BASE_MS

    def emit(self, scope: str, type_name: str, obj: str, data: dict[str, Any]) -> Op:
        seq, prev = self.heads.get(scope, (0, ZERO_HASH))
        self.wall += 1
        op = sign_op(
            self.key, scope=scope, seq=seq + 1, prev=prev, hlc=(self.wall, 0), actor="staff-1",
            type=type_name, obj=obj, data=data,
        )  # fmt: skip
        self.heads[scope] = (op.seq, op.hash)
        return op


def remote_ops(n: int) -> tuple[_Device, list[bytes], list[bytes]]:
    """The district's enrolments of two kiosks, then ``n`` ops of theirs: tickets, stages, comments, points, stock."""
    district = _Device(1)
    kiosks = [_Device(2), _Device(3)]
    enroll = [
        district.emit(
            "district", "device.enroll", k.key.device_id,
            {"pubkey": k.key.public_bytes, "community": "east-1", "role": "kiosk", "name": f"kiosk {i}"},
        ).raw
        for i, k in enumerate(kiosks)
    ]  # fmt: skip
    ops: list[bytes] = []
    households = [f"{b}-{f:02d}{u:02d}" for b in range(1, 4) for f in range(1, 11) for u in range(1, 5)]
    for k in kiosks:
        for h in households[:60]:
            ops.append(k.emit("east-1", "household.add", f"{h}-{k.key.device_id[:2]}", {"unit": h}).raw)
    i = 0
    while len(ops) < n:
        k = kiosks[i % 2]
        hh = households[i % len(households)]
        t = f"T{i // 8:07d}{k.key.device_id[:4]}"
        kind = i % 8
        if kind == 0:
            data = {"code": f"EAS-{i:06d}", "unit": hh, "category": "water", "urgency": "P3", "text": "leak " * 20}
            ops.append(k.emit("east-1", "ticket.create", t, data).raw)
        elif kind in (1, 4):
            ops.append(
                k.emit("east-1", "ticket.stage", t, {"epoch": 0, "stage": ("triaged", "on_site")[kind // 4]}).raw
            )
        elif kind == 2:
            ops.append(k.emit("east-1", "ticket.comment", t, {"text": "called the resident, access at 3 pm"}).raw)
        elif kind in (3, 6):
            ops.append(k.emit("east-1", "points.award", hh, {"household": hh, "n": 5, "reason": "stairwell"}).raw)
        elif kind == 5:
            ops.append(k.emit("east-1", "stock.receive", "PIPE-15", {"sku": "PIPE-15", "qty": 3}).raw)
        else:
            ops.append(k.emit("east-1", "stock.issue", "PIPE-15", {"sku": "PIPE-15", "qty": 1, "ticket": t}).raw)
        i += 1
    return district, enroll, ops[:n]


def apply_rate(root: Path, name: str, district: _Device, enroll: list[bytes], ops: list[bytes]) -> float:
    store = Store(
        root / f"{name}.sqlite3",
        Identity(DeviceKey.generate(), "east-1", "kiosk"),
        trusted_keys={district.key.device_id: district.key.public_bytes},
    )
    store.set("district_dev", district.key.device_id)
    assert len(store.apply_remote(enroll).accepted) == len(enroll)
    t0 = time.perf_counter()
    accepted = 0
    for i in range(0, len(ops), BATCH):
        result = store.apply_remote(ops[i : i + BATCH])
        assert not result.rejected, result.rejected[0]
        accepted += len(result.accepted)
    elapsed = time.perf_counter() - t0
    assert accepted == len(ops)
    store.close()
    return len(ops) / elapsed


def main() -> None:
    cores = os.cpu_count() or 1
    print(f"{cores} cores, load average {os.getloadavg()[0]:.1f} (other work lowers both sides of each ratio)\n")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        report_latency(root)
        t0 = time.perf_counter()
        district, enroll, ops = remote_ops(N_OPS)
        size = int(statistics.median(len(r) for r in ops[:2000]))
        print(f"\n(b) {len(ops):,} remote ops (median {size} bytes) signed in {time.perf_counter() - t0:.1f} s")
        verify_before = raw_verify_rate(4000, size)
        os.environ["LINLI_VERIFY_WORKERS"] = "0"
        inline = apply_rate(root, "inline", district, enroll, ops)
        del os.environ["LINLI_VERIFY_WORKERS"]
        pool = store_module._verify_pool()
        if pool is not None:
            pool.submit(store_module._verify_chunk, []).result()  # start the workers before timing
        ahead = apply_rate(root, "ahead", district, enroll, ops)
        verify_after = raw_verify_rate(4000, size)
        verify = (verify_before + verify_after) / 2
        workers = getattr(pool, "_max_workers", 0)
        print(f"    raw Ed25519 verify, one core   {verify:9,.0f} /s", end="")
        print(f"  (before {verify_before:,.0f}, after {verify_after:,.0f})")
        print(f"    apply, verifying inline        {inline:9,.0f} /s  = {inline / verify:.2f} of raw verify")
        print(
            f"    apply, {workers} worker(s) ahead       {ahead:9,.0f} /s  = {ahead / verify:.2f} of raw verify", end=""
        )
        print(" (target >= 0.60)")
        print(f"    load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
