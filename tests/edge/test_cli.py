"""``linli-edge``: subcommands, ``--json`` shapes, exit codes and docs."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from edge import Node
from edge.cli import build_parser, leaf_commands, main

ROOT = Path(__file__).resolve().parents[2]


class Cli:
    """Runs ``main`` in-process against one data directory and returns ``(code, stdout, stderr)``."""

    def __init__(self, data: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.data = data
        self.capsys = capsys

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main([*argv, "--data", str(self.data)])
        out, err = self.capsys.readouterr()
        return code, out, err

    def json(self, *argv: str) -> Any:
        code, out, err = self(*argv, "--json")
        assert code == 0, err
        return json.loads(out)


SETUP = [
    ("init", "--community", "east-1"),
    ("household", "add", "3-101", "--vulnerable", "elderly_alone", "--pin", "2468", "--name", "王秀英"),
    ("tech", "add", "Li Wei", "--skills", "water,door", "--tier", "core", "--pos", "3,4"),
    ("item", "add", "PIPE-15", "--name-zh", "水管", "--name-en", "Pipe 15 mm"),
]


def set_up(data: Path) -> Path:
    with contextlib.redirect_stdout(io.StringIO()):
        for argv in SETUP:
            assert main([*argv, "--data", str(data)]) == 0
    return data


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(set_up(tmp_path / "node"), capsys)


@pytest.fixture(scope="module")
def shared_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One node for the tests that must leave it unchanged."""
    return set_up(tmp_path_factory.mktemp("cli") / "node")


def test_a_ticket_goes_from_report_to_rating_with_the_design_json_shape(cli: Cli) -> None:
    t = cli.json(
        "ticket", "report", "--unit", "3-101", "--category", "water", "--text", "pipe burst",
        "--household", "3-101", "--answer", "water_spreading=yes", "--actor", "3-101",
    )  # fmt: skip
    for key in ("id", "code", "unit", "category", "urgency", "status", "assignee", "conflict"):
        assert key in t
    assert (t["urgency"], t["status"], t["assignee"], t["conflict"]) == ("P1", "reported", None, False)
    code = t["code"]
    assert cli.json("ticket", "assign", code, "Li Wei")["status"] == "assigned"
    for stage in ("en_route", "on_site", "resolved"):
        assert cli.json("ticket", "advance", code, stage)["status"] == stage
    assert cli.json("ticket", "rate", code, "5")["rating"] == 5
    assert cli.json("ticket", "advance", code, "closed", "--reason", "fixed")["close_reason"] == "fixed"
    shown = cli.json("ticket", "show", code)
    assert "0:closed" in shown["stage_times"]
    listed = cli.json("ticket", "list")
    assert [x["code"] for x in listed] == [code]
    assert cli.json("ticket", "list", "--open") == []


def test_stock_points_and_digest_have_the_design_json_shapes(cli: Cli) -> None:
    assert cli.json("stock", "receive", "PIPE-15", "10", "--reason", "delivery")["qty"] == 10
    assert cli.json("stock", "issue", "PIPE-15", "3", "--household", "3-101")["rights"] == 7
    rows = cli.json("stock", "list")
    assert [{k: r[k] for k in ("sku", "qty", "rights")} for r in rows] == [{"sku": "PIPE-15", "qty": 7, "rights": 7}]
    cli.json("points", "award", "3-101", "20", "--reason", "cleaning")
    bal = cli.json("points", "redeem", "3-101", "5", "--reward", "tea", "--pin", "2468")
    assert (bal["household"], bal["balance"]) == ("3-101", 15)
    assert cli.json("points", "balance", "3-101")["balance"] == 15
    whole = cli.json("digest")
    one = cli.json("digest", "--scope", "east-1")
    none = cli.json("digest", "--scope", "district")  # nothing held there yet
    assert len(whole["digest"]) == 64 and one == {"digest": whole["digest"], "scope": "east-1"}
    assert none["digest"] != whole["digest"]
    rebuilt = cli.json("rebuild")
    assert rebuilt["same"] is True and rebuilt["digest"] == whole["digest"]


def test_status_and_mode(cli: Cli) -> None:
    status = cli.json("status")
    for key in ("device", "community", "mode", "last_sync", "pending", "clock_skew", "audit_alarm"):
        assert key in status
    assert cli.json("mode")["mode"] == "normal"
    assert cli.json("mode", "emergency", "--reason", "typhoon")["mode"] == "emergency"
    code, out, _ = cli("mode")
    assert code == 0 and "mode: emergency" in out


def test_the_actor_is_recorded_in_the_op(cli: Cli) -> None:
    cli("points", "award", "3-101", "3", "--reason", "help", "--actor", "staff-9")
    node = Node.open(cli.data)
    actors = [r[0] for r in node.conn.execute("SELECT actor FROM ledger WHERE kind='points'")]
    node.close()
    assert actors == ["staff-9"]


def test_human_output_is_a_table_for_lists_and_never_shows_a_pin_hash(cli: Cli) -> None:
    cli("staff", "add", "mgr-1", "--pin", "135790", "--role", "manager")
    code, out, _ = cli("household", "list")
    assert code == 0
    header, rule, row = out.splitlines()
    assert header.split()[:3] == ["id", "vulnerable", "has_pin"] and set(rule) <= {"-", " "}
    assert "王秀英" in row and "elderly_alone" in row
    for argv in (("household", "list"), ("staff", "list"), ("status",)):
        for extra in ((), ("--json",)):
            assert "scrypt" not in cli(*argv, *extra)[1]
    code, out, _ = cli("points", "balance", "3-101")
    assert "household: 3-101" in out.splitlines()


@pytest.mark.parametrize(
    ("argv", "code", "says"),
    [
        (("stock", "receive", "PIPE-15", "1.5"), 2, "'1.5' is not a whole number"),
        (("stock", "receive", "PIPE-15", "abc"), 2, "'abc' is not a whole number"),
        (("stock", "receive", "PIPE-15", "-3"), 2, "'-3' is not a positive whole number"),
        (("stock", "issue", "PIPE-15", "1"), 1, "cannot issue 1 of PIPE-15: stock is 0"),
        (("stock", "issue", "NOPE", "1"), 1, "no item with sku 'NOPE'"),
        (("points", "redeem", "3-101", "1", "--reward", "tea"), 1, "cannot redeem 1 points: balance 0"),
        (("points", "award", "3-101", "1"), 2, "the following arguments are required: --reason"),
        (("ticket", "show", "ZZZ-0001"), 1, "no ticket 'ZZZ-0001'"),
        (("ticket", "rate", "ZZZ-0001", "five"), 2, "'five' is not a whole number"),
        (("household", "add", "3-101"), 1, "household '3-101' already exists"),
        (("mode", "offline"), 2, "invalid choice: 'offline'"),
        (("frobnicate",), 2, "invalid choice: 'frobnicate'"),
    ],
)
def test_errors_exit_1_for_refusals_and_2_for_usage_with_a_reason_on_stderr(shared_data, capsys, argv, code, says):
    cli = Cli(shared_data, capsys)
    before = cli.json("digest")["digest"]
    got, out, err = cli(*argv)
    assert got == code
    assert says in err and out == ""
    assert cli.json("digest")["digest"] == before


def test_a_directory_without_a_node_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--data", str(tmp_path / "nothing")]) == 2
    assert "run 'linli-edge init" in capsys.readouterr().err


def test_the_data_directory_defaults_to_linli_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LINLI_DATA", str(tmp_path / "env-node"))
    assert main(["init", "--community", "a", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["data"] == str(tmp_path / "env-node")
    monkeypatch.delenv("LINLI_DATA")
    monkeypatch.chdir(tmp_path)
    assert main(["init", "--community", "b"]) == 0
    assert (tmp_path / "linli-data" / "device.key").exists()


def test_every_subcommand_has_help_and_is_in_the_docs() -> None:
    docs = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    leaves = dict(leaf_commands(build_parser()))
    assert len(leaves) >= 30
    for name, parser in leaves.items():
        assert parser.description, f"{name} has no help text"
        assert f"linli-edge {name}" in docs, f"docs/cli.md does not document 'linli-edge {name}'"


def run(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", *argv], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def test_the_real_program_exits_0_1_and_2(tmp_path: Path) -> None:
    data = str(tmp_path / "n")
    ok = run("init", "--data", data, "--community", "a", "--json", cwd=ROOT)
    assert ok.returncode == 0 and json.loads(ok.stdout)["community"] == "a"
    refused = run("points", "balance", "9-999", "--data", data, cwd=ROOT)
    assert refused.returncode == 1
    assert refused.stderr.strip().count("\n") == 0 and "no household '9-999'" in refused.stderr
    usage = run("stock", "receive", "X", "1.5", "--data", data, cwd=ROOT)
    assert usage.returncode == 2 and "not a whole number" in usage.stderr
    listed = run("ticket", "list", "--data", data, cwd=ROOT)
    assert listed.returncode == 0 and listed.stdout.strip() == "(none)"
