"""Prometheus text exposition (format 0.0.4) of the server's counters, written by hand.

- ``linli_requests_total{path, status}``;
- ``linli_ops_accepted_total``, ``linli_ops_rejected_total{reason}`` (per-op rejections and the ops
  of requests refused as a whole, by code);
- ``linli_sync_seconds`` histogram of ``/v1/sync`` handling time;
- ``linli_device_last_seen_timestamp_seconds{device}`` and ``linli_ops_stored`` gauges.
"""

from __future__ import annotations

from collections import Counter

__all__ = ["BUCKETS", "Metrics"]

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    """Counters kept by the one thread that handles requests."""

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, int]] = Counter()
        self.accepted = 0
        self.rejected: Counter[str] = Counter()
        self.bucket_counts = [0] * len(BUCKETS)
        self.sync_sum = 0.0
        self.sync_count = 0
        self.last_seen: dict[str, int] = {}

    def request(self, path: str, status: int) -> None:
        self.requests[(path, status)] += 1

    def sync_time(self, seconds: float) -> None:
        self.sync_sum += seconds
        self.sync_count += 1
        for i, le in enumerate(BUCKETS):
            if seconds <= le:
                self.bucket_counts[i] += 1

    def render(self, ops_stored: int) -> str:
        out = [
            "# HELP linli_requests_total HTTP requests by path and status.",
            "# TYPE linli_requests_total counter",
        ]
        for (path, status), n in sorted(self.requests.items()):
            out.append(f'linli_requests_total{{path="{_label(path)}",status="{status}"}} {n}')
        out += [
            "# HELP linli_ops_accepted_total Ops accepted into the district log.",
            "# TYPE linli_ops_accepted_total counter",
            f"linli_ops_accepted_total {self.accepted}",
            "# HELP linli_ops_rejected_total Ops rejected, by reason.",
            "# TYPE linli_ops_rejected_total counter",
        ]
        for reason, n in sorted(self.rejected.items()):
            out.append(f'linli_ops_rejected_total{{reason="{_label(reason)}"}} {n}')
        out += [
            "# HELP linli_sync_seconds Time to handle a /v1/sync request.",
            "# TYPE linli_sync_seconds histogram",
        ]
        for le, n in zip(BUCKETS, self.bucket_counts, strict=True):
            out.append(f'linli_sync_seconds_bucket{{le="{le}"}} {n}')
        out += [
            f'linli_sync_seconds_bucket{{le="+Inf"}} {self.sync_count}',
            f"linli_sync_seconds_sum {self.sync_sum:.6f}",
            f"linli_sync_seconds_count {self.sync_count}",
            "# HELP linli_device_last_seen_timestamp_seconds When a device last made an authenticated request.",
            "# TYPE linli_device_last_seen_timestamp_seconds gauge",
        ]
        for dev, ms in sorted(self.last_seen.items()):
            out.append(f'linli_device_last_seen_timestamp_seconds{{device="{_label(dev)}"}} {ms / 1000:.3f}')
        out += [
            "# HELP linli_ops_stored Ops in the district log.",
            "# TYPE linli_ops_stored gauge",
            f"linli_ops_stored {ops_stored}",
        ]
        return "\n".join(out) + "\n"
