"""systemd's notify protocol by hand (``edge.sync.sdnotify``), received on real AF_UNIX datagram sockets:
addresses, the watchdog period, pings while waiting, and ``linli-edge run`` under a fake systemd."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.node import Node
from edge.sync import Unreachable
from edge.sync.daemon import Backoff, Daemon
from edge.sync.sdnotify import Notifier, notify_address, watchdog_period_s

ROOT = Path(__file__).resolve().parents[2]


class FakeSystemd:
    """The receiving end of ``$NOTIFY_SOCKET``: an AF_UNIX datagram socket (abstract, or a file) that a
    thread reads as systemd would, so the sender's queue never fills."""

    def __init__(self, path: Path | None = None, *, read: bool = True) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if path is None:
            name = f"linli-test-{os.getpid()}-{random.getrandbits(48):012x}"
            self.sock.bind("\0" + name)
            self.env = "@" + name
        else:
            self.sock.bind(str(path))
            self.env = str(path)
        self.got: list[str] = []
        self.lock = threading.Lock()
        self.closing = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        if read:
            self.sock.settimeout(0.05)
            self.reader.start()

    def _read(self) -> None:
        while not self.closing.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            with self.lock:
                self.got.append(data.decode())

    def messages(self) -> list[str]:
        """Every datagram received so far."""
        with self.lock:
            return list(self.got)

    def until(self, line: str, timeout_s: float, count: int = 1) -> list[str]:
        """The datagrams received once ``count`` of them are exactly ``line`` (or ``timeout_s`` passed)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            got = self.messages()
            if sum(1 for m in got if line in m.split("\n")) >= count:
                return got
            time.sleep(0.02)
        return self.messages()

    def close(self) -> None:
        self.closing.set()
        if self.reader.is_alive():
            self.reader.join(timeout=5)
        self.sock.close()


@pytest.fixture
def systemd() -> Iterator[FakeSystemd]:
    fake = FakeSystemd()
    yield fake
    fake.close()


def test_addresses_are_paths_or_abstract_names_and_anything_else_disables_notifying() -> None:
    assert notify_address("/run/systemd/notify") == "/run/systemd/notify"
    assert notify_address("@linli/notify") == "\0linli/notify"
    for bad in (None, "", "@", "vsock:2:1234", "relative/path"):
        assert notify_address(bad) is None
    assert not Notifier.from_env({}).enabled and Notifier.from_env({}).ready() is False


def test_the_watchdog_period_is_half_of_watchdog_usec_and_only_for_this_process() -> None:
    me = os.getpid()
    assert watchdog_period_s({"WATCHDOG_USEC": "60000000"}, me) == 30.0
    assert watchdog_period_s({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": str(me)}, me) == 30.0
    assert watchdog_period_s({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": str(me + 1)}, me) is None
    for bad in ("", "0", "-5", "1.5", "lots"):
        assert watchdog_period_s({"WATCHDOG_USEC": bad}, me) is None
    assert Notifier.from_env({"WATCHDOG_USEC": "1000000"}).watchdog_s is None  # no socket, no watchdog


def test_ready_status_watchdog_and_stopping_arrive_as_datagrams_on_a_socket_file(tmp_path: Path) -> None:
    fake = FakeSystemd(tmp_path / "notify")
    notifier = Notifier.from_env({"NOTIFY_SOCKET": fake.env, "WATCHDOG_USEC": "4000000"})
    try:
        assert notifier.watchdog_s == 2.0
        assert notifier.ready("mode normal") and notifier.watchdog() and notifier.stopping()
        assert notifier.status("line one\nline two")
        assert fake.until("STATUS=line one line two", 5) == [
            "READY=1\nSTATUS=mode normal",
            "WATCHDOG=1",
            "STOPPING=1",
            "STATUS=line one line two",
        ]
    finally:
        notifier.close()
        fake.close()


def test_a_missing_socket_is_logged_and_never_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier(str(tmp_path / "gone"), 1.0)
    assert notifier.ready() is False and notifier.sent == 0
    assert "sd_notify READY=1 failed" in caplog.text
    notifier.close()


def test_a_receiver_that_never_reads_costs_a_send_timeout_not_a_hang(tmp_path: Path) -> None:
    stuck = FakeSystemd(read=False)
    notifier = Notifier(notify_address(stuck.env), 1.0, send_timeout_s=0.01)
    qlen = int(Path("/proc/sys/net/unix/max_dgram_qlen").read_text())  # the queue of a datagram socket
    sent = [notifier.watchdog() for _ in range(qlen + 20)]
    notifier.close()
    stuck.close()
    assert sent[0] is True and sent[-1] is False and notifier.sent == sent.count(True) < qlen + 20


def test_keepalive_pings_only_when_a_ping_is_due(systemd: FakeSystemd) -> None:
    now = [100.0]
    notifier = Notifier(notify_address(systemd.env), 30.0, monotonic=lambda: now[0])
    assert notifier.keepalive() is True  # the first ping at once
    now[0] += 29
    assert notifier.keepalive() is False
    now[0] += 1
    assert notifier.keepalive() is True
    assert Notifier(notify_address(systemd.env), None).keepalive() is False  # no watchdog: never
    notifier.close()
    assert systemd.until("WATCHDOG=1", 5, count=2) == ["WATCHDOG=1", "WATCHDOG=1"]


def test_waiting_pings_the_watchdog_throughout_and_ends_when_the_event_is_set(systemd: FakeSystemd) -> None:
    notifier = Notifier(notify_address(systemd.env), 0.02)
    stop = threading.Event()
    assert notifier.wait(stop, 0.3) is False
    pings = systemd.until("WATCHDOG=1", 5, count=4)
    assert set(pings) == {"WATCHDOG=1"} and len(pings) >= 4  # one per 20 ms would be 15
    threading.Timer(0.1, stop.set).start()
    t0 = time.monotonic()
    assert notifier.wait(stop, 30.0) is True
    assert time.monotonic() - t0 < 10
    notifier.close()


class Down:
    """A transport whose server is unreachable."""

    def request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        raise Unreachable("http://district.test: connection refused")


def test_the_daemon_keeps_pinging_the_watchdog_while_it_backs_off(tmp_path: Path, systemd: FakeSystemd) -> None:
    node = Node.init(tmp_path / "k", "a")
    notifier = Notifier(notify_address(systemd.env), 0.02)
    daemon = Daemon(node, Down(), backoff=Backoff(base_s=0.25, cap_s=0.25, rng=random.Random(1)), notifier=notifier)
    daemon.backoff.rng = random.Random(5)
    summary = daemon.run(max_steps=3)
    notifier.close()
    node.close()
    pings = systemd.until("WATCHDOG=1", 5, count=3)
    assert summary["failures"] == 3 and set(pings) == {"WATCHDOG=1"} and len(pings) >= 3


@pytest.mark.slow
def test_linli_edge_run_says_ready_pings_the_watchdog_and_says_stopping_on_sigterm(
    tmp_path: Path, systemd: FakeSystemd
) -> None:
    data = tmp_path / "k"
    Node.init(data, "a").close()
    with socket.socket() as s:  # a port nobody listens on: every sync fails and the daemon backs off
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NOTIFY_SOCKET": systemd.env, "WATCHDOG_USEC": "200000"}
    cmd = [sys.executable, "-m", "edge.cli", "run", "--data", str(data), "--server", f"http://127.0.0.1:{port}"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        got = systemd.until("READY=1", 30)
        assert got and got[0].startswith("READY=1\nSTATUS=mode normal"), got
        got = systemd.until("WATCHDOG=1", 20, count=3)
        assert got.count("WATCHDOG=1") >= 3, got
        proc.send_signal(signal.SIGTERM)
        assert "STOPPING=1" in systemd.until("STOPPING=1", 20)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err.decode()
