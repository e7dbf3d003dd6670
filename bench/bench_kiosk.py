"""Kiosk benchmark: cold start to the first screen, peak RSS, and confirm key to committed ticket.

The real ``linli-kiosk`` console script runs in a pseudo-terminal (100x30) on a seeded node; the
benchmark reads what it draws and types into it like a resident. Raw limits measured in the same run:
the interpreter's own start, the import of textual + edge (the floor of any cold start), the memory
of a bare interpreter and of one that imported textual + edge, and a raw single-row SQLite
``BEGIN IMMEDIATE`` transaction with the store's pragmas.

Targets on the development machine: start < 1.5 s, RSS < 150 MB, confirm-to-commit < 100 ms.
Run: ``make bench`` or ``.venv/bin/python bench/bench_kiosk.py``.
"""

from __future__ import annotations

import fcntl
import os
import pty
import random
import select
import sqlite3
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import median, pct, raw_insert_latencies  # noqa: E402

from edge import Node  # noqa: E402
from kiosk_ui.seed import seed_community  # noqa: E402

STARTS = 7
REPORTS = 10
TIMEOUT = 30.0
BIN = Path(sys.executable).parent
KIOSK = BIN / "linli-kiosk"


class Terminal:
    """``linli-kiosk`` in a 100x30 pseudo-terminal; a thread drains everything it draws."""

    def __init__(self, data: Path) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        env = {k: v for k, v in os.environ.items() if k not in ("COLORTERM", "NO_COLOR")}
        env["TERM"] = "xterm-256color"
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [str(KIOSK), "--data", str(data)], stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True
        )
        os.close(slave)
        self.out = bytearray()
        self.lock = threading.Lock()
        self.done = False
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def _drain(self) -> None:
        while not self.done:
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            with self.lock:
                self.out += chunk

    def mark(self) -> int:
        with self.lock:
            return len(self.out)

    def wait_for(self, text: str, since: int = 0) -> float:
        """Seconds since start when ``text`` first shows up in the output after byte ``since``."""
        needle = text.encode()
        deadline = time.perf_counter() + TIMEOUT
        while time.perf_counter() < deadline:
            with self.lock:
                if needle in self.out[since:]:
                    return time.perf_counter() - self.t0
            time.sleep(0.002)
        raise SystemExit(f"linli-kiosk did not show {text!r} within {TIMEOUT:.0f} s")

    def type(self, keys: str) -> None:
        for ch in keys:
            os.write(self.master, ch.encode())
            time.sleep(0.01)

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise SystemExit("no VmHWM in /proc (Linux only)")

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.done = True
        self.reader.join(timeout=2)
        os.close(self.master)


def _seconds(cmd: list[str], n: int) -> float:
    runs = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)
        runs.append(time.perf_counter() - t0)
    return median(runs)


def _rss_mb(code: str) -> float:
    """Peak RSS of a fresh interpreter running ``code`` (VmHWM: ru_maxrss would count this process's peak)."""
    probe = (
        "\nimport pathlib\n"
        "status = pathlib.Path('/proc/self/status').read_text().splitlines()\n"
        "print(next(line for line in status if line.startswith('VmHWM')).split()[1])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code + probe],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return int(out.split()[-1]) / 1024


def _tickets(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM ops WHERE type='ticket.create'").fetchone()[0])
    finally:
        conn.close()


def _report(term: Terminal, unit: str, db: Path) -> float:
    """One report from the home screen; seconds from the confirm key to the committed ticket."""
    at = term.mark()
    term.type("1")
    term.wait_for("请选择报修类别", at)
    at = term.mark()
    term.type("8")  # pests: one question (an older person living alone?)
    term.wait_for("请输入房号", at)
    at = term.mark()
    term.type(unit + "\r")
    term.wait_for("是否为独居老人家庭", at)
    at = term.mark()
    term.type("n")
    term.wait_for("请选择最接近的描述", at)
    at = term.mark()
    term.type("1")
    term.wait_for("确认提交", at)
    before = _tickets(db)
    at = term.mark()
    t0 = time.perf_counter()
    os.write(term.master, b"\r")
    deadline = t0 + TIMEOUT
    while _tickets(db) == before:
        if time.perf_counter() > deadline:
            raise SystemExit("the confirmed ticket never reached the database")
        time.sleep(0.0005)
    elapsed = time.perf_counter() - t0
    term.wait_for("您的单号", at)
    at = term.mark()
    term.type("\r")  # "done" is focused: back home
    term.wait_for("1  报修", at)
    return elapsed


def main() -> None:
    if not KIOSK.exists():
        raise SystemExit(f"{KIOSK} is not installed: run 'make bench' (pip install -e .)")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "node"
        node = Node.init(data, "bench")
        seed_community(node, "bench", random.Random(1))
        unit = next(str(h["id"]) for h in node.households() if not h["vulnerable"])
        t0 = time.perf_counter()
        node.report(unit, "pests", "raw facade call", answers={"elderly_alone": False})
        facade_ms = (time.perf_counter() - t0) * 1000
        node.close()

        raw_python = _seconds([sys.executable, "-c", "pass"], STARTS)
        raw_imports = _seconds([sys.executable, "-c", "import textual.app, textual.widgets, edge"], STARTS)
        starts = []
        for _ in range(STARTS):
            term = Terminal(data)
            try:
                starts.append(term.wait_for("待同步"))
            finally:
                term.close()
        term = Terminal(data)
        try:
            term.wait_for("待同步")
            commits = [_report(term, unit, data / "edge.sqlite3") * 1000 for _ in range(REPORTS)]
            rss = term.peak_rss_mb()
        finally:
            term.close()
        rss_python = _rss_mb("pass")
        rss_imports = _rss_mb("import textual.app, textual.widgets, edge")
        raw_tx = [s * 1000 for s in raw_insert_latencies(300)]

    start = median(starts)
    commit = median(commits)
    tx = median(raw_tx)
    print(f"linli-kiosk in a 100x30 pty, {STARTS} cold starts, {REPORTS} reports typed in")
    row = "{:<46}{:>10}{:>11}{:>8}{:>9}"
    print(row.format("figure", "value", "raw limit", "ratio", "target"))
    print(row.format("cold start to first screen (median, s)", f"{start:.3f}", f"{raw_imports:.3f}",
                     f"{start / raw_imports:.2f}", "< 1.5"))  # fmt: skip
    print(row.format("  python -c pass (s)", f"{raw_python:.3f}", "", "", ""))
    print(row.format("  import textual + edge (s)", f"{raw_imports:.3f}", "", "", ""))
    print(row.format("peak RSS after the reports (MB)", f"{rss:.1f}", f"{rss_imports:.1f}",
                     f"{rss / rss_imports:.2f}", "< 150"))  # fmt: skip
    print(row.format("  bare interpreter (MB)", f"{rss_python:.1f}", "", "", ""))
    print(row.format("confirm key to committed ticket (median, ms)", f"{commit:.1f}", f"{tx:.2f}",
                     f"{commit / tx:.1f}", "< 100"))  # fmt: skip
    print(row.format("  p90 / max (ms)", f"{pct(commits, 90):.1f}", f"{max(commits):.1f}", "", ""))
    print(row.format("  Node.report called directly (ms)", f"{facade_ms:.1f}", "", "", ""))
    ok = start < 1.5 and rss < 150 and commit < 100
    print("all targets met" if ok else "TARGET MISSED")


if __name__ == "__main__":
    main()
