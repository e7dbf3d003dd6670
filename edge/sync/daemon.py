"""``linli-edge run``: the sync daemon (``docs/modes.md``).

A loop of ``sync_once``: after a success it waits ``interval`` seconds (±20 % jitter, so a district's
kiosks do not sync in step); after a failure it backs off exponentially with full jitter (a random
wait up to ``base · 2^(failures-1)``, capped). The mode follows from sync health (``Node.mode``:
``offline`` after 2 minutes without a successful sync, ``normal`` again after one); the daemon logs
each change. ``SIGTERM`` or ``SIGINT`` stop it between requests: the sync under way finishes its
current request and the loop ends.

After every sync attempt the local dispatcher runs (``edge.services.autodispatch``): offline it stores its
proposals for the staff board, in emergency mode it may assign on its own. Under systemd the daemon
speaks the notify protocol (``edge.sync.sdnotify``): ``READY=1`` when it starts, ``WATCHDOG=1`` between
requests and during every wait, ``STOPPING=1`` on SIGTERM.
"""

from __future__ import annotations

import logging
import random
import signal
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from edge.errors import EdgeError
from edge.sync import HttpTransport, OwnOpsRejected, SyncReport, Transport, sync_once
from edge.sync.sdnotify import Notifier

if TYPE_CHECKING:
    from edge.node import Node

__all__ = ["Backoff", "Daemon", "run_daemon"]

log = logging.getLogger("linli.daemon")


@dataclass
class Backoff:
    """Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff And Jitter")."""

    base_s: float = 1.0
    cap_s: float = 60.0
    rng: random.Random = field(default_factory=random.Random)
    failures: int = 0

    def failure(self) -> float:
        """Count a failure; the seconds to wait before the next try."""
        self.failures += 1
        ceiling = min(self.cap_s, self.base_s * 2 ** min(self.failures - 1, 30))
        return self.rng.uniform(0, ceiling)

    def success(self) -> None:
        self.failures = 0


class Daemon:
    """The sync loop over a node and a transport (any ``Transport``: HTTP, or in-process in tests).

    Args:
        interval_s: seconds between successful syncs (±20 % jitter).
        sync: the function doing one sync (``sync_once``).
        notifier: systemd notifications (``edge.sync.sdnotify``); none by default.
    """

    def __init__(
        self,
        node: Node,
        transport: Transport,
        *,
        interval_s: float = 5.0,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
        sync: Callable[..., SyncReport] = sync_once,
        notifier: Notifier | None = None,
    ) -> None:
        self.node = node
        self.transport = transport
        self.interval_s = interval_s
        self.rng = rng or random.Random()
        self.backoff = backoff or Backoff(rng=self.rng)
        self.sync = sync
        self.notifier = notifier or Notifier()
        self.stop = threading.Event()
        self.mode = node.mode()
        self.syncs = 0
        self.failures = 0

    def step(self) -> float:
        """One sync; returns the seconds to wait before the next."""
        try:
            report = self.sync(self.node, self.transport, should_stop=self._should_stop)
        except OwnOpsRejected as exc:  # the sync completed; the rejection is in last_sync_error
            log.error("sync completed, but %s", exc)
            report = None
        except EdgeError as exc:
            self.failures += 1
            delay = self.backoff.failure()
            log.warning("sync failed (%d in a row): %s; next try in %.1f s", self.backoff.failures, exc, delay)
            self._note_mode()
            self._dispatch()
            return delay
        self.syncs += 1
        self.backoff.success()
        if report is not None and report.pushed + report.pulled:
            log.info("synced: pushed %d, pulled %d, pending %d", report.pushed, report.pulled, report.pending)
        self._note_mode()
        self._dispatch()
        return self.interval_s * self.rng.uniform(0.8, 1.2)

    def _note_mode(self) -> None:
        mode = self.node.mode()
        if mode != self.mode:
            log.warning("mode %s -> %s", self.mode, mode)
            self.mode = mode
            self.notifier.status(f"mode {mode}")

    def _should_stop(self) -> bool:
        """Asked by the sync between requests: ping the watchdog if due, and whether to stop."""
        self.notifier.keepalive()
        return self.stop.is_set()

    def _dispatch(self) -> None:
        """The local dispatcher's round for the current mode (``edge.services.autodispatch``); errors are logged."""
        try:
            result = self.node.dispatch_round(self.mode)
        except (EdgeError, sqlite3.Error) as exc:
            log.error("dispatcher round in %s mode failed: %s", self.mode, exc)
            return
        if result.applied:
            log.warning("dispatcher assigned %d tickets on its own (emergency mode)", len(result.applied))
        elif result.stored and result.proposals:
            log.info("dispatcher proposes %d assignments for staff (%s mode)", len(result.proposals), result.mode)

    def run(self, max_steps: int | None = None) -> dict[str, Any]:
        """Sync until ``stop`` is set (or ``max_steps`` syncs); returns a summary."""
        steps = 0
        while not self.stop.is_set() and (max_steps is None or steps < max_steps):
            delay = self.step()
            steps += 1
            self.notifier.wait(self.stop, delay)
        return {"syncs": self.syncs, "failures": self.failures, "mode": self.node.mode(), **self.node.status()}


def run_daemon(node: Node, server_url: str, *, interval_s: float = 5.0, timeout_s: float = 15.0) -> dict[str, Any]:
    """Run the daemon over HTTP until SIGTERM or SIGINT (handlers installed from the main thread)."""
    transport = HttpTransport(server_url, timeout=timeout_s)
    notifier = Notifier.from_env()
    daemon = Daemon(node, transport, interval_s=interval_s, notifier=notifier)

    def on_signal(signum: int, frame: object) -> None:
        log.warning("signal %d: stopping after the current request", signum)
        notifier.stopping()
        daemon.stop.set()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, on_signal)
    try:
        log.warning("linli-edge run: device %s syncing with %s every %.0f s", node.dev, server_url, interval_s)
        notifier.ready(f"mode {daemon.mode}, syncing with {server_url}")
        return daemon.run()
    finally:
        transport.close()
        notifier.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
