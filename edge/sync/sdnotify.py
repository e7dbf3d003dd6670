"""systemd's notify protocol (``sd_notify(3)``), written with the standard library's socket module.

``linli-edge.service`` is ``Type=notify`` with ``WatchdogSec=``: systemd passes the address of its
notification socket in ``$NOTIFY_SOCKET`` and, with a watchdog, the timeout in ``$WATCHDOG_USEC`` (and
the process it is meant for in ``$WATCHDOG_PID``). The daemon sends newline-separated ``KEY=VALUE``
lines, one datagram per message, on an ``AF_UNIX`` ``SOCK_DGRAM`` socket:

- ``READY=1`` once the store is open and the loop starts (until then the unit is "activating");
- ``WATCHDOG=1`` at least every ``WATCHDOG_USEC / 2``: between sync requests and while waiting
  between syncs or backing off (:meth:`Notifier.wait`), so a hung loop stops the pings and systemd
  restarts the daemon;
- ``STOPPING=1`` when SIGTERM (or SIGINT) arrives; ``STATUS=...`` lines for ``systemctl status``.

An address starting with ``/`` is a socket file; one starting with ``@`` is in the Linux abstract
namespace (the ``@`` stands for a leading NUL byte). Without ``$NOTIFY_SOCKET`` (not started by
systemd, or ``Type=simple``) every call does nothing. A send that fails is logged, never raised, and a
send never blocks longer than ``send_timeout_s`` (a datagram socket whose reader is stuck has a short
queue): the daemon keeps syncing whatever systemd is doing.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping

__all__ = ["Notifier", "notify_address", "watchdog_period_s"]

log = logging.getLogger("linli.sdnotify")


def notify_address(value: str | None) -> str | None:
    """The socket address of ``$NOTIFY_SOCKET``: a path, ``"\\0name"`` for ``@name``, or ``None``."""
    if not value:
        return None
    if value.startswith("@") and len(value) > 1:
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    log.warning("NOTIFY_SOCKET=%r is neither a path nor an abstract socket name: not notifying systemd", value)
    return None


def watchdog_period_s(environ: Mapping[str, str], pid: int) -> float | None:
    """Seconds between ``WATCHDOG=1`` pings (half of ``$WATCHDOG_USEC``), or ``None`` without a watchdog.

    As ``sd_watchdog_enabled(3)``: no watchdog if ``$WATCHDOG_USEC`` is unset, not a positive integer, or
    ``$WATCHDOG_PID`` names another process.
    """
    usec = environ.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) <= 0:
        return None
    owner = environ.get("WATCHDOG_PID", "")
    if owner and (not owner.isdigit() or int(owner) != pid):
        return None
    return int(usec) / 2_000_000


class Notifier:
    """Sends notify messages to systemd (a no-op without an address).

    Args:
        address: the socket address (see :func:`notify_address`); ``None`` disables every message.
        watchdog_s: seconds between watchdog pings; ``None`` for no watchdog.
        monotonic: the clock pings are timed by.
        send_timeout_s: the longest a send may block when the receiver's queue is full.
    """

    def __init__(
        self,
        address: str | None = None,
        watchdog_s: float | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        send_timeout_s: float = 1.0,
    ) -> None:
        if watchdog_s is not None and watchdog_s <= 0:
            raise ValueError(f"watchdog period must be positive, got {watchdog_s}")
        self.address = address
        self.watchdog_s = watchdog_s if address is not None else None
        self._monotonic = monotonic
        self.send_timeout_s = send_timeout_s
        self._last_ping: float | None = None
        self._sock: socket.socket | None = None
        self.sent = 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        """A notifier for ``$NOTIFY_SOCKET`` and ``$WATCHDOG_USEC`` / ``$WATCHDOG_PID`` (default ``os.environ``)."""
        env = os.environ if environ is None else environ
        return cls(notify_address(env.get("NOTIFY_SOCKET")), watchdog_period_s(env, os.getpid()))

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, *lines: str) -> bool:
        """Send ``lines`` (``KEY=VALUE``) as one datagram; whether it was sent."""
        if self.address is None:
            return False
        message = "\n".join(line.replace("\n", " ") for line in lines).encode("utf-8")
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.settimeout(self.send_timeout_s)
            self._sock.sendto(message, self.address)
        except OSError as exc:
            log.warning("sd_notify %s failed: %s", lines[0] if lines else "", exc)
            return False
        self.sent += 1
        return True

    def ready(self, status: str = "") -> bool:
        """``READY=1`` (and a ``STATUS=`` line)."""
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        """``STATUS=text``, shown by ``systemctl status``."""
        return self.notify(f"STATUS={text}")

    def stopping(self) -> bool:
        """``STOPPING=1``: the daemon is shutting down."""
        return self.notify("STOPPING=1")

    def watchdog(self) -> bool:
        """``WATCHDOG=1`` now."""
        self._last_ping = self._monotonic()
        return self.notify("WATCHDOG=1")

    def keepalive(self) -> bool:
        """``WATCHDOG=1`` if a ping is due (the watchdog is on and ``watchdog_s`` passed); whether it pinged."""
        if self.watchdog_s is None:
            return False
        if self._last_ping is not None and self._monotonic() - self._last_ping < self.watchdog_s:
            return False
        self.watchdog()
        return True

    def _until_due(self) -> float:
        if self.watchdog_s is None or self._last_ping is None:
            return float("inf")
        return max(0.001, self._last_ping + self.watchdog_s - self._monotonic())

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """Wait up to ``seconds`` for ``event``, pinging the watchdog whenever due; whether it was set."""
        deadline = time.monotonic() + max(0.0, seconds)
        while True:
            self.keepalive()
            left = deadline - time.monotonic()
            if left <= 0:
                return event.is_set()
            if event.wait(min(left, self._until_due())):
                return True

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
