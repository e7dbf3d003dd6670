"""Quick checks of deploy/: ansible-lint, syntax checks, the example inventory and the backup script."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.deploy.conftest import ANSIBLE_DIR, PLAYBOOKS, REPO, Deployment, build_wheel, run_playbook, venv_tool

pytestmark = pytest.mark.deploy

BACKUP_SCRIPT = ANSIBLE_DIR / "roles" / "linli_common" / "files" / "linli-sqlite-backup"


def test_ansible_lint_passes_at_the_production_profile(ansible_env: dict[str, str]) -> None:
    lint = venv_tool("ansible-lint")
    proc = subprocess.run(
        [str(lint), "--profile", "production", "--nocolor"],
        cwd=ANSIBLE_DIR,
        env=ansible_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"ansible-lint found problems:\n{proc.stdout}\n{proc.stderr}"
    assert "Profile 'production' was required, and it passed" in proc.stdout + proc.stderr


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_every_playbook_passes_the_syntax_check(ansible_env: dict[str, str], playbook: str) -> None:
    proc = subprocess.run(
        [str(venv_tool("ansible-playbook")), "--syntax-check", "-i", "inventory.example.ini", playbook],
        cwd=ANSIBLE_DIR,
        env=ansible_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"{playbook} failed the syntax check:\n{proc.stdout}\n{proc.stderr}"


def test_example_inventory_has_a_district_server_and_two_communities(ansible_env: dict[str, str]) -> None:
    proc = subprocess.run(
        [str(venv_tool("ansible-inventory")), "-i", "inventory.example.ini", "--list"],
        cwd=ANSIBLE_DIR,
        env=ansible_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    inventory = json.loads(proc.stdout)
    assert len(inventory["district"]["hosts"]) == 1
    kiosks = inventory["kiosks"]["hosts"]
    hostvars = inventory["_meta"]["hostvars"]
    communities = {hostvars[k]["linli_edge_community"] for k in kiosks}
    assert len(kiosks) == 2 and len(communities) == 2
    assert hostvars[kiosks[0]]["linli_edge_server_url"].startswith("https://")


def test_every_playbook_and_role_is_documented_in_the_readme() -> None:
    readme = (REPO / "deploy" / "README.md").read_text(encoding="utf-8")
    names = [*PLAYBOOKS, *(p.name for p in (ANSIBLE_DIR / "roles").iterdir())]
    assert [n for n in names if n not in readme] == []


def _make_store(path: Path, rows: int) -> None:
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE ops (id INTEGER PRIMARY KEY, body BLOB)")
        db.executemany("INSERT INTO ops (body) VALUES (?)", [(bytes(64),) for _ in range(rows)])
        db.commit()
    finally:
        db.close()


def _backup(src: Path, dest: Path, keep: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(BACKUP_SCRIPT), str(src), str(dest), keep], capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def sqlite3_cli() -> None:
    if shutil.which("sqlite3") is None:
        pytest.skip("the sqlite3 command-line shell is not installed (apt-get install sqlite3)")


@pytest.mark.usefixtures("sqlite3_cli")
def test_backup_script_keeps_only_the_newest_copies_and_each_is_a_complete_database(tmp_path: Path) -> None:
    src = tmp_path / "edge.sqlite3"
    _make_store(src, 500)
    backups = tmp_path / "backups"
    backups.mkdir()
    written = []
    for _ in range(4):
        proc = _backup(src, backups, "2")
        assert proc.returncode == 0, proc.stderr
        written.append(proc.stdout.split("wrote ", 1)[1].split()[0])
    kept = sorted(p.name for p in backups.iterdir())
    assert kept == sorted(Path(w).name for w in written[-2:])
    for name in kept:
        copy = sqlite3.connect(backups / name)
        try:
            assert copy.execute("SELECT count(*) FROM ops").fetchone() == (500,)
        finally:
            copy.close()


@pytest.mark.usefixtures("sqlite3_cli")
def test_backup_script_refuses_a_bad_keep_count_and_names_it(tmp_path: Path) -> None:
    src = tmp_path / "edge.sqlite3"
    _make_store(src, 1)
    proc = _backup(src, tmp_path, "0")
    assert proc.returncode == 2
    assert "'0'" in proc.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["edge.sqlite3"]


@pytest.mark.usefixtures("sqlite3_cli")
def test_backup_script_reports_a_missing_database_by_its_path(tmp_path: Path) -> None:
    proc = _backup(tmp_path / "missing.sqlite3", tmp_path, "3")
    assert proc.returncode == 1
    assert "missing.sqlite3" in proc.stderr


# --- A real apply to a debootstrap root (slow: builds or extracts the root and applies site.yml twice) ---

EDGE_UNITS = (
    "linli-edge.service",
    "linli-edge-backup.service",
    "linli-edge-backup.timer",
    "linli-hwclock-save.service",
    "linli-hwclock-save.timer",
    "linli-kiosk.service",
)
SERVER_UNITS = ("linli-server.service", "linli-server-backup.service", "linli-server-backup.timer")


def _mode_and_owner(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return oct(st.st_mode & 0o7777), st.st_uid, st.st_gid


@pytest.mark.slow
def test_first_apply_succeeds_and_says_that_enrolment_waits_for_a_token(deployed: Deployment) -> None:
    assert deployed.first.recap["failed"] == 0 and deployed.first.recap["changed"] > 0
    assert "Enrolment skipped: linli_edge_enroll_token is empty" in deployed.first.output


@pytest.mark.slow
def test_second_apply_changes_nothing(deployed: Deployment) -> None:
    assert deployed.second.returncode == 0, deployed.second.output[-4000:]
    assert deployed.second.recap["failed"] == 0
    assert deployed.second.changed_tasks() == []
    assert deployed.second.recap["changed"] == 0


@pytest.mark.slow
def test_data_and_backup_directories_belong_to_the_service_user_alone(deployed: Deployment) -> None:
    uid, gid = deployed.ids("linli")
    assert 0 < uid < 1000, "the service user is a system user"
    passwd = {line.split(":")[0]: line.split(":") for line in (deployed.root / "etc/passwd").read_text().splitlines()}
    assert passwd["linli"][6] == "/usr/sbin/nologin"
    home = deployed.root / "var/lib/linli"
    assert _mode_and_owner(home) == ("0o750", uid, gid)
    for name in ("edge", "backups", "server", "server-backups"):
        assert _mode_and_owner(home / name) == ("0o700", uid, gid), name


@pytest.mark.slow
def test_code_belongs_to_root_and_the_backup_script_is_executable(deployed: Deployment) -> None:
    venv = deployed.root / "opt/linli/venv"
    assert _mode_and_owner(venv) == ("0o755", 0, 0)
    assert _mode_and_owner(venv / "bin/linli-edge")[1:] == (0, 0)
    assert _mode_and_owner(deployed.root / "usr/local/sbin/linli-sqlite-backup") == ("0o755", 0, 0)


@pytest.mark.slow
def test_device_key_is_private_once_init_is_real(deployed: Deployment) -> None:
    if not deployed.edge_init_is_real:
        pytest.skip("`linli-edge init` does not make a device key yet, so the role was run without init")
    uid, gid = deployed.ids("linli")
    data = deployed.root / "var/lib/linli/edge"
    assert _mode_and_owner(data / "device.key") == ("0o600", uid, gid)
    assert (data / "edge.sqlite3").is_file()


@pytest.mark.slow
def test_tls_key_is_readable_by_the_service_group_only(deployed: Deployment) -> None:
    _, gid = deployed.ids("linli")
    tls = deployed.root / "etc/linli/tls"
    assert _mode_and_owner(tls / "server.key") == ("0o640", 0, gid)
    assert _mode_and_owner(tls / "server.crt") == ("0o644", 0, gid)
    assert _mode_and_owner(tls) == ("0o750", 0, gid)


@pytest.mark.slow
def test_venv_commands_run_inside_the_root(deployed: Deployment) -> None:
    for tool in ("linli-edge", "linli-server", "linli-kiosk"):
        proc = deployed.chroot(f"/opt/linli/venv/bin/{tool}", "--help")
        assert proc.returncode == 0, f"{tool} --help: {proc.stdout}{proc.stderr}"
        assert "usage" in proc.stdout.lower()


@pytest.mark.slow
def test_unit_files_pass_systemd_analyze_verify(deployed: Deployment) -> None:
    units = [f"/etc/systemd/system/{u}" for u in (*EDGE_UNITS, *SERVER_UNITS)]
    for unit in units:
        assert _mode_and_owner(deployed.root / unit.lstrip("/")) == ("0o644", 0, 0), unit
    proc = deployed.chroot("systemd-analyze", "verify", *units)
    problems = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    if not deployed.extra_vars["linli_edge_kiosk_gui_packages"]:
        # cage is not installed in the test root (linli_edge_kiosk_gui_packages is off to save time).
        problems = [
            p
            for p in problems
            if p != "linli-kiosk.service: Command /usr/bin/cage is not executable: No such file or directory"
        ]
    assert problems == []


@pytest.mark.slow
def test_services_and_timers_are_enabled_at_boot(deployed: Deployment) -> None:
    system = deployed.root / "etc/systemd/system"
    for wants, unit in [
        ("multi-user.target.wants", "linli-edge.service"),
        ("multi-user.target.wants", "linli-kiosk.service"),
        ("multi-user.target.wants", "linli-server.service"),
        ("timers.target.wants", "linli-edge-backup.timer"),
        ("timers.target.wants", "linli-hwclock-save.timer"),
        ("timers.target.wants", "linli-server-backup.timer"),
        ("sysinit.target.wants", "fake-hwclock.service"),
        ("sysinit.target.wants", "systemd-timesyncd.service"),
        ("sysinit.target.wants", "nftables.service"),
    ]:
        assert (system / wants / unit).is_symlink(), f"{unit} is not in {wants}"
    assert not (system / "getty.target.wants" / "getty@tty1.service").exists()


@pytest.mark.slow
def test_edge_backup_unit_backs_up_the_live_store_as_the_service_user(deployed: Deployment) -> None:
    unit = (deployed.root / "etc/systemd/system/linli-edge-backup.service").read_text()
    command = next(line for line in unit.splitlines() if line.startswith("ExecStart=")).split("=", 1)[1].split()
    store = deployed.root / command[1].lstrip("/")
    if not store.exists():
        _make_store(store, 200)
        uid, gid = deployed.ids("linli")
        for path in store.parent.iterdir():
            os.chown(path, uid, gid)
    for _ in range(2):
        proc = deployed.chroot("runuser", "-u", "linli", "--", *command)
        assert proc.returncode == 0, proc.stderr
    backups = sorted((deployed.root / command[2].lstrip("/")).glob("edge-*.sqlite3"))
    assert len(backups) >= 2
    check = deployed.chroot("sqlite3", "/" + str(backups[-1].relative_to(deployed.root)), "PRAGMA integrity_check;")
    assert check.stdout.strip() == "ok"


@pytest.mark.slow
def test_firewall_opens_only_the_sync_port_and_ssh(deployed: Deployment) -> None:
    rules = (deployed.root / "etc/nftables.conf").read_text()
    assert "policy drop;" in rules
    assert sorted(set(re.findall(r"tcp dport (\d+) accept", rules))) == ["22", "8443"]
    proc = deployed.chroot("nft", "-c", "-f", "/etc/nftables.conf")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
def test_journal_is_limited_and_time_is_synchronised(deployed: Deployment) -> None:
    journald = (deployed.root / "etc/systemd/journald.conf.d/50-linli.conf").read_text()
    assert re.search(r"^SystemMaxUse=\d+[KMG]$", journald, re.MULTILINE)
    assert re.search(r"^MaxRetentionSec=\S+$", journald, re.MULTILINE)
    assert (deployed.root / "etc/systemd/timesyncd.conf.d/50-linli.conf").is_file()


@pytest.mark.slow
def test_failed_enrolment_stops_the_run_and_never_shows_the_token(
    deployed: Deployment, ansible_env: dict[str, str]
) -> None:
    """Enrolment against a closed port on this machine fails; the token must not appear anywhere in the output."""
    token = "tok-3f9c2a7e-never-print-me"
    extra = dict(deployed.extra_vars, linli_edge_enroll_token=token, linli_edge_server_url="https://127.0.0.1:9")
    extra_vars = deployed.work / "enrol-vars.json"
    extra_vars.write_text(json.dumps(extra), encoding="utf-8")
    run = run_playbook(
        ansible_env,
        "kiosk.yml",
        deployed.inventory,
        extra_vars,
        deployed.work / "apply-enrol.log",
        "--start-at-task",
        "linli_edge : Enrol with the district server",
    )
    assert run.returncode != 0 and run.recap["failed"] == 1
    assert "`linli-edge enroll --server https://127.0.0.1:9` failed with exit code" in run.output
    assert token not in run.output
    assert not (deployed.root / "var/lib/linli/edge/enrollment.json").exists()


@pytest.mark.slow
def test_a_rebuilt_wheel_of_the_same_version_is_installed_again_and_recorded(
    deployed: Deployment, ansible_env: dict[str, str], tmp_path: Path
) -> None:
    """pip alone would skip a wheel whose version is installed; the role reinstalls it when its checksum is new."""
    rebuilt = build_wheel(tmp_path, SOURCE_DATE_EPOCH="315532800")  # other zip timestamps, other bytes
    digest = hashlib.sha256(rebuilt.read_bytes()).hexdigest()
    extra_vars = tmp_path / "upgrade-vars.json"
    extra_vars.write_text(json.dumps(dict(deployed.extra_vars, linli_common_wheel=str(rebuilt))), encoding="utf-8")
    run = run_playbook(
        ansible_env,
        "server.yml",
        deployed.inventory,
        extra_vars,
        deployed.work / "apply-upgrade.log",
        "--start-at-task",
        "linli_common : Check that the Linli wheel exists on the controller",
    )
    assert run.returncode == 0, run.output[-4000:]
    assert any(
        task.startswith("linli_common : Reinstall the wheel when its content is new:") for task in run.changed_tasks()
    )
    venv = deployed.root / "opt/linli/venv"
    assert sorted(p.name for p in venv.glob("linli-wheel-*.installed")) == [f"linli-wheel-{digest}.installed"]
    assert (deployed.root / "opt/linli/wheels" / rebuilt.name).read_bytes() == rebuilt.read_bytes()
    assert deployed.chroot("/opt/linli/venv/bin/linli-edge", "--help").returncode == 0
