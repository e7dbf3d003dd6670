"""``make demo``: a district server and three seeded communities on 127.0.0.1, then the kiosk UI.

Everything is made with the public commands (``linli-server``, ``linli-edge``, ``linli-kiosk``) in
``./demo-data`` (recreated on every run), on a free loopback port. When the kiosk UI exits (or with
``--no-ui`` after ``--seconds``), every process the demo started is stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
COMMUNITIES = (("a", "幸福里"), ("b", "和平苑"), ("c", "春晖园"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(*args: str) -> str:
    """Run a command, return its stdout; stop the demo with its stderr if it fails."""
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"demo: {' '.join(args[:3])} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


def wait_healthy(url: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"demo: the district server at {url} did not come up in {seconds:.0f} s")


def seed(data: Path, community: str | None) -> None:
    """Seed a node through the Node API (the same calls the kiosk and CLI make)."""
    sys.path.insert(0, str(ROOT))
    from edge import Node
    from kiosk_ui.seed import seed_community, seed_district

    with Node.open(data) as node:
        if community is None:
            seed_district(node)
        else:
            seed_community(node, community, random.Random(f"linli-demo-{community}"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="demo", description=__doc__)
    ap.add_argument("--data", default=str(ROOT / "demo-data"))
    ap.add_argument("--no-ui", action="store_true", help="set up, sync, report, stop (no kiosk UI)")
    ap.add_argument("--seconds", type=float, default=3.0, help="with --no-ui: how long to let the daemons run")
    ap.add_argument("--lang", default="zh", choices=["zh", "en"])
    args = ap.parse_args(argv)
    data = Path(args.data)
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    edge, server, kiosk = str(BIN / "linli-edge"), str(BIN / "linli-server"), str(BIN / "linli-kiosk")
    procs: list[subprocess.Popen[bytes]] = []
    logs = data / "logs"
    logs.mkdir()

    def start(name: str, *cmd: str) -> None:
        log = open(logs / f"{name}.log", "wb")  # noqa: SIM115 - kept open for the child's lifetime
        procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))

    try:
        district = data / "district"
        run(server, "init", "--data", str(district), "--district", "示范街道")
        seed(district, None)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        start("server", server, "serve", "--data", str(district), "--host", "127.0.0.1", "--port", str(port))
        wait_healthy(url)
        for community, name in COMMUNITIES:
            d = data / community
            run(edge, "init", "--data", str(d), "--community", community)
            token = run(server, "token", "--data", str(district), "--community", community, "--role", "kiosk").strip()
            run(edge, "enroll", "--data", str(d), "--server", url, "--token", token.split()[-1])
            seed(d, community)
            run(edge, "sync", "--data", str(d))
            start(f"edge-{community}", edge, "run", "--data", str(d))
            print(f"demo: community {community} ({name}) seeded, enrolled and syncing with {url}")
        from kiosk_ui.seed import HOUSEHOLD_PIN, STAFF

        staff = ", ".join(f"{sid}/{pin} ({role})" for sid, pin, role, _ in STAFF)
        print(f"demo: staff id/PIN {staff}; household PIN {HOUSEHOLD_PIN}; logs in {logs}")
        if args.no_ui:
            time.sleep(args.seconds)
            for community, _ in COMMUNITIES:
                run(edge, "sync", "--data", str(data / community))
                status = json.loads(run(edge, "status", "--json", "--data", str(data / community)))
                print(
                    f"demo: {community}: mode {status['mode']}, pending {status['pending']}, "
                    f"last sync {status['last_sync']}"
                )
            return 0
        env = dict(os.environ)
        return subprocess.call([kiosk, "--data", str(data / "a"), "--lang", args.lang, "--dev"], env=env)
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


if __name__ == "__main__":
    raise SystemExit(main())
