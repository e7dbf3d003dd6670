"""The server's metrics, in a ``prometheus_client`` registry of its own, for ``GET /metrics``.

- ``linli_requests_total{path, status}``;
- ``linli_ops_accepted_total``, ``linli_ops_rejected_total{reason}`` (per-op rejections and the ops
  of requests refused as a whole, by code);
- ``linli_sync_seconds`` histogram of ``/v1/sync`` handling time;
- ``linli_device_last_seen_timestamp_seconds{device}`` and ``linli_ops_stored`` gauges.

Each ``Metrics`` has its own ``CollectorRegistry`` (never the process-wide default), so two servers in
one process (the tests, the simulation) count apart. The writer thread counts; ``/metrics`` renders on
a reader thread: ``prometheus_client``'s metrics are safe to read while they are written.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.samples import Sample

__all__ = ["BUCKETS", "CONTENT_TYPE", "Metrics"]

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The text exposition format ``generate_latest`` writes."""


class Metrics:
    """The counters of one server and the registry that exposes them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self._requests = Counter("linli_requests", "HTTP requests by path and status.", ["path", "status"], registry=r)
        self._accepted = Counter("linli_ops_accepted", "Ops accepted into the district log.", registry=r)
        self._rejected = Counter("linli_ops_rejected", "Ops rejected, by reason.", ["reason"], registry=r)
        self._sync = Histogram("linli_sync_seconds", "Time to handle a /v1/sync request.", buckets=BUCKETS, registry=r)
        self._seen = Gauge(
            "linli_device_last_seen_timestamp_seconds",
            "When a device last made an authenticated request.",
            ["device"],
            registry=r,
        )
        self._stored = Gauge("linli_ops_stored", "Ops in the district log.", registry=r)

    def request(self, path: str, status: int) -> None:
        """Count a request answered with ``status``."""
        self._requests.labels(path, str(status)).inc()

    def accept(self, n: int) -> None:
        """Count ``n`` ops accepted."""
        self._accepted.inc(n)

    def reject(self, reason: str, n: int = 1) -> None:
        """Count ``n`` ops rejected for ``reason`` (a rejection code)."""
        self._rejected.labels(reason).inc(n)

    def sync_time(self, seconds: float) -> None:
        """Record the handling time of one ``/v1/sync`` request."""
        self._sync.observe(seconds)

    def seen(self, dev: str, ms: int) -> None:
        """Device ``dev`` made an authenticated request at ``ms`` (unix ms)."""
        self._seen.labels(dev).set(ms / 1000)

    def value(self, name: str, **labels: str) -> float:
        """The current value of sample ``name`` (e.g. ``linli_ops_rejected_total``), 0 when there is none."""
        return self.registry.get_sample_value(name, labels) or 0.0

    @property
    def accepted(self) -> int:
        """Ops accepted so far."""
        return int(self.value("linli_ops_accepted_total"))

    @property
    def rejected(self) -> dict[str, int]:
        """Ops rejected so far, by reason."""
        return {s.labels["reason"]: int(s.value) for s in self._samples("linli_ops_rejected_total")}

    @property
    def last_seen(self) -> dict[str, int]:
        """When each device last made an authenticated request (unix ms)."""
        samples = self._samples("linli_device_last_seen_timestamp_seconds")
        return {s.labels["device"]: round(s.value * 1000) for s in samples}

    def _samples(self, name: str) -> list[Sample]:
        return [s for family in self.registry.collect() for s in family.samples if s.name == name]

    def render(self, ops_stored: int) -> bytes:
        """The text exposition of every metric, with ``linli_ops_stored`` set to ``ops_stored``."""
        self._stored.set(ops_stored)
        return generate_latest(self.registry)
