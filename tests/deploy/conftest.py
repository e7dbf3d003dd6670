"""Fixtures of the deployment tests: the Ansible tools, a built wheel, and a Debian root the roles were applied to.

The slow fixture ``deployed`` builds (or takes from the cache) a debootstrap root, applies ``site.yml`` to it
twice through Ansible's chroot connection, and hands the results to the tests. Its timings are printed in
pytest's terminal summary.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.deploy import _root

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_DIR = REPO / "deploy" / "ansible"
PLAYBOOKS = ("site.yml", "kiosk.yml", "server.yml")
APPLY_TIMEOUT_S = 1200
_TIMINGS: dict[str, str] = {}
_RECAP = re.compile(
    r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
    r"\s+failed=(?P<failed>\d+)",
    re.MULTILINE,
)


def need(condition: bool, reason: str) -> None:
    """Skip the test when ``condition`` is false, but fail it in CI, where the tools are installed on purpose."""
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: deploy/tests/install-test-deps.sh and the 'deploy' extra provide it)")
    pytest.skip(reason)


def venv_tool(name: str) -> Path:
    """A console script installed next to the running Python (the project venv)."""
    tool = Path(sys.executable).parent / name
    need(tool.is_file(), f"{name} is not installed in the venv: pip install -e '.[deploy]'")
    return tool


@dataclass
class PlaybookRun:
    """One ``ansible-playbook`` run: its exit code, output, duration and recap."""

    returncode: int
    output: str
    seconds: float
    recap: dict[str, int] = field(default_factory=dict)

    def changed_tasks(self) -> list[str]:
        """The tasks that reported a change, as ``TASK name: changed line``."""
        task = "?"
        changed: list[str] = []
        for line in self.output.splitlines():
            if line.startswith("TASK ["):
                task = line.split("[", 1)[1].rsplit("]", 1)[0]
            elif line.startswith("changed:"):
                changed.append(f"{task}: {line}")
        return changed


@pytest.fixture(scope="session")
def ansible_env() -> dict[str, str]:
    """The environment the Ansible tools run in: UTF-8 locale, the project's ansible.cfg, no colours."""
    env = dict(os.environ)
    env.update(
        LANG="C.UTF-8",
        LC_ALL="C.UTF-8",
        ANSIBLE_CONFIG=str(ANSIBLE_DIR / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    return env


def run_playbook(
    env: dict[str, str], playbook: str, inventory: Path, extra_vars: Path, log: Path, *options: str
) -> PlaybookRun:
    """Apply ``playbook`` (with more ``ansible-playbook`` options) and keep its output in ``log``."""
    argv = [str(venv_tool("ansible-playbook")), "-i", str(inventory), "-e", f"@{extra_vars}", *options, playbook]
    start = time.monotonic()
    proc = subprocess.run(argv, cwd=ANSIBLE_DIR, env=env, capture_output=True, text=True, timeout=APPLY_TIMEOUT_S)
    seconds = time.monotonic() - start
    output = proc.stdout + proc.stderr
    log.write_text(output, encoding="utf-8")
    run = PlaybookRun(proc.returncode, output, seconds)
    match = _RECAP.search(output)
    if match:
        run.recap = {k: int(v) for k, v in match.groupdict().items() if k != "host"}
    return run


def build_wheel(out: Path, **env: str) -> Path:
    """Build the project's wheel into ``out`` the way an operator does; ``env`` adds environment variables."""
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **env},
    )
    assert proc.returncode == 0, f"building the wheel failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
    wheels = sorted(out.glob("linli-*-py3-none-any.whl"))
    assert len(wheels) == 1, f"expected one linli wheel in {out}, found {wheels}"
    return wheels[0]


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project built as a wheel."""
    return build_wheel(tmp_path_factory.mktemp("wheel"))


def _init_is_real(tool: str, args: list[str], made: str, scratch: Path) -> bool:
    """Whether ``tool init`` really initialises a data directory yet (it made ``made``), or is a placeholder."""
    data = scratch / tool
    proc = subprocess.run(
        [str(venv_tool(tool)), "init", "--data", str(data), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.returncode == 0 and (data / made).is_file()


@dataclass
class Deployment:
    """A Debian root that ``site.yml`` was applied to twice."""

    root: Path
    first: PlaybookRun
    second: PlaybookRun
    edge_init_is_real: bool
    server_init_is_real: bool
    extra_vars: dict[str, object]
    inventory: Path
    work: Path

    def chroot(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run a command inside the root."""
        return subprocess.run(["chroot", str(self.root), *argv], capture_output=True, text=True, timeout=timeout)

    def ids(self, name: str) -> tuple[int, int]:
        """The uid and gid of user ``name`` according to the root's /etc/passwd."""
        for line in (self.root / "etc/passwd").read_text().splitlines():
            fields = line.split(":")
            if fields[0] == name:
                return int(fields[2]), int(fields[3])
        raise AssertionError(f"no user {name!r} in {self.root}/etc/passwd")


@pytest.fixture(scope="session")
def deployed(
    tmp_path_factory: pytest.TempPathFactory, ansible_env: dict[str, str], wheel: Path
) -> Iterator[Deployment]:
    """Build or reuse the Debian root, apply ``site.yml`` to it twice, and remove it afterwards."""
    need(os.geteuid() == 0, "building and entering a chroot needs root")
    need(shutil.which("debootstrap") is not None, "debootstrap is not installed (apt-get install debootstrap)")
    need(shutil.which("chroot") is not None and shutil.which("tar") is not None, "chroot or tar is missing")
    venv_tool("ansible-playbook")
    mirror = _root.debian_mirror()
    need(mirror is not None, f"the host's apt sources name no http(s) mirror for {_root.SUITE}")
    assert mirror is not None

    work = tmp_path_factory.mktemp("deploy")
    root = work / "root"
    made = _root.make_root(root, mirror)
    _TIMINGS["build root"] = f"{made.build_seconds:.1f} s" if made.built else f"cached ({made.tarball})"
    _TIMINGS["extract and prepare root"] = f"{made.extract_seconds:.1f} s"
    try:
        probes = work / "probes"
        probes.mkdir()
        edge_real = _init_is_real("linli-edge", ["--community", "a"], "device.key", probes)
        server_real = _init_is_real("linli-server", ["--district", "test"], "edge.sqlite3", probes)

        inventory = work / "inventory.ini"
        host = f"{root} ansible_connection=community.general.chroot ansible_python_interpreter=/usr/bin/python3"
        inventory.write_text(f"[district]\n{host} ansible_become=false\n\n[kiosks]\n{root}\n", encoding="utf-8")
        extra: dict[str, object] = {
            "linli_common_wheel": str(wheel),
            "linli_common_manage_services": False,
            "linli_edge_kiosk_gui_packages": False,
            "linli_edge_community": "a",
            "linli_edge_initialise": edge_real,
            "linli_server_district": "test-district",
            "linli_server_initialise": server_real,
            "linli_server_tls_self_signed": True,
            "linli_server_tls_name": "district.test",
        }
        extra_vars = work / "extra-vars.json"
        extra_vars.write_text(json.dumps(extra), encoding="utf-8")

        first = run_playbook(ansible_env, "site.yml", inventory, extra_vars, work / "apply-1.log")
        _TIMINGS["first apply"] = f"{first.seconds:.1f} s"
        assert first.returncode == 0 and first.recap.get("failed") == 0, (
            f"the first apply failed (exit code {first.returncode}):\n{first.output[-6000:]}"
        )
        second = run_playbook(ansible_env, "site.yml", inventory, extra_vars, work / "apply-2.log")
        _TIMINGS["second apply"] = f"{second.seconds:.1f} s"
        yield Deployment(root, first, second, edge_real, server_real, extra, inventory, work)
    finally:
        # Nothing is mounted in the root, so removing it cannot reach outside it.
        shutil.rmtree(root, ignore_errors=True)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print how long building the root and applying the roles took, when the slow tests ran."""
    if not _TIMINGS:
        return
    terminalreporter.section("deploy timings")
    for name, value in _TIMINGS.items():
        terminalreporter.write_line(f"{name}: {value}")
