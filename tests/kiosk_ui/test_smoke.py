"""The real ``linli-kiosk`` in a real terminal (tmux): type a report, read the screen, find the code."""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from edge import Node
from kiosk_ui.seed import seed_community

CODE = re.compile(r"\b[A-Z0-9]{3,}-\d{4}\b")
SGR = re.compile(r"\x1b\[([0-9;]*)m")


class Tmux:
    """A private tmux server (its own socket, no user config) holding one 100x30 session."""

    def __init__(self, tmux: str, socket: str) -> None:
        self.base = [tmux, "-L", socket, "-f", os.devnull]
        self.env = {k: v for k, v in os.environ.items() if k not in ("COLORTERM", "TMUX", "NO_COLOR")}

    def run(self, *args: str) -> str:
        proc = subprocess.run([*self.base, *args], capture_output=True, text=True, timeout=20, env=self.env)
        return proc.stdout

    def screen(self, escapes: bool = False) -> str:
        return self.run("capture-pane", "-p", *(["-e"] if escapes else []), "-t", "kiosk")

    def wait_for(self, found: Callable[[str], bool], what: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.screen()
            if found(text):
                return text
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; the screen shows:\n{self.screen()}")

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "kiosk", *keys)


@pytest.mark.slow
def test_linli_kiosk_in_tmux_takes_a_report_and_shows_its_code(tmp_path: Path) -> None:
    tmux = shutil.which("tmux")
    if tmux is None:
        pytest.skip("tmux is not on PATH (.ci/run installs it): cannot drive a real terminal")
    exe = Path(sys.executable).parent / "linli-kiosk"
    assert exe.exists(), f"the console script {exe} is not installed (pip install -e .)"
    data = tmp_path / "node"
    node = Node.init(data, "sunny")
    seed_community(node, "sunny", random.Random(11))
    unit = str(node.households()[1]["id"])
    node.close()
    term = Tmux(tmux, f"linli-test-{os.getpid()}")
    # TERM=screen: a 16-colour terminal type, so the kiosk must pick its 16-colour theme by itself.
    term.run("new-session", "-d", "-s", "kiosk", "-x", "100", "-y", "30", f"env TERM=screen {exe} --data {data}")
    try:
        term.wait_for(lambda s: "1  报修" in s and "待同步" in s, "the home screen")
        term.keys("1")
        term.wait_for(lambda s: "请选择报修类别" in s, "the category grid")
        term.keys("1")
        term.wait_for(lambda s: "请输入房号" in s, "the unit step")
        term.keys(unit, "Enter")
        term.wait_for(lambda s: "安全问题" in s, "the first triage question")
        for _ in range(10):
            if "问题描述" in term.screen():
                break
            term.keys("n")
            time.sleep(0.3)
        term.wait_for(lambda s: "请选择最接近的描述" in s, "the description step")
        term.keys("1")
        term.wait_for(lambda s: "确认提交" in s, "the confirm step")
        term.keys("Enter")
        text = term.wait_for(lambda s: "您的单号" in s and CODE.search(s) is not None, "the ticket code")
        coloured = term.screen(escapes=True)
    finally:
        term.run("kill-server")
    code = CODE.search(text.split("您的单号", 1)[1])
    assert code is not None
    with Node.open(data) as check:
        ticket = check.ticket(code.group(0))
    assert ticket["unit"] == unit and ticket["category"] == "water"
    # tmux's TERM has 16 colours: the kiosk must not send 256-colour or true-colour codes.
    params = [p for m in SGR.finditer(coloured) for p in [m.group(1)]]
    assert params and not any(re.search(r"(^|;)(38|48);(2|5);", p) for p in params)
