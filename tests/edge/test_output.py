"""The human output of ``linli-edge`` and ``linli-server``: rich tables, plain text off a terminal."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from edge.cli import main
from edge.cli.output import render

ROOT = Path(__file__).resolve().parents[2]
ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as a shell's stdout would."""

    def isatty(self) -> bool:
        return True


def columns(text: str) -> int:
    """Terminal columns ``text`` takes, by Unicode's East Asian width (wide and fullwidth take two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def starts(line: str, word: str) -> int:
    """The terminal column where ``word`` begins in ``line``."""
    return columns(line[: line.index(word)])


def run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_a_table_with_chinese_names_lines_up(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(tmp_path / "n")
    people = [("3-101", "王秀英", "555-0101"), ("3-102", "Li", "555-0102"), ("12-1203", "欧阳娜娜", "555-1203")]
    assert main(["init", "--community", "east-1", "--data", data]) == 0
    for unit, name, phone in people:
        assert main(["household", "add", unit, "--name", name, "--phone", phone, "--data", data]) == 0
    capsys.readouterr()
    assert main(["household", "list", "--data", data]) == 0
    header, rule, *rows = capsys.readouterr().out.splitlines()
    assert len(rows) == len(people)
    # Every row's phone, and the rule's last run of dashes, start in the column the header's "phone" does.
    at = starts(header, "phone")
    assert rule.rindex(" ") + 1 == at
    for line, (unit, name, phone) in zip(rows, sorted(people), strict=True):
        assert line.startswith(unit) and name in line
        assert starts(line, phone) == at, line
    assert starts(rows[0], "no") == starts(rows[1], "no") == starts(header, "has_pin")


def test_a_table_lines_up_wide_and_narrow_cells_in_every_column() -> None:
    rows = [{"code": "A-0001", "name": "铝合金梯子", "qty": 3}, {"code": "B-0002", "name": "Ladder", "qty": 12}]
    header, rule, *lines = render(rows, file=io.StringIO()).splitlines()
    assert [run.strip("-") for run in rule.split()] == ["", "", ""]
    assert [line.split()[0] for line in lines] == ["A-0001", "B-0002"]
    assert starts(lines[0], "铝") == starts(lines[1], "Ladder") == starts(header, "name")
    assert starts(lines[0], "3") == starts(lines[1], "12") == starts(header, "qty")


def test_piped_output_has_no_escape_sequences_even_when_the_environment_asks_for_colour(tmp_path: Path) -> None:
    data = str(tmp_path / "n")
    long_name = "王秀英" * 20  # far wider than COLUMNS: a pipe still gets one line per row
    colour = {"FORCE_COLOR": "1", "TTY_COMPATIBLE": "1", "TERM": "xterm-256color", "COLUMNS": "20"}
    assert run("edge.cli", "init", "--community", "east-1", "--data", data).returncode == 0
    assert run("edge.cli", "household", "add", "3-101", "--name", long_name, "--data", data).returncode == 0
    listed = run("edge.cli", "household", "list", "--data", data, env=colour)
    status = run("edge.cli", "status", "--data", data, env=colour)
    as_json = run("edge.cli", "household", "list", "--data", data, "--json", env=colour)
    for out in (listed, status, as_json):
        assert out.returncode == 0, out.stderr
        assert "\x1b" not in out.stdout
        assert all(line == line.rstrip() for line in out.stdout.splitlines())
    header, rule, row = listed.stdout.splitlines()
    assert header.split() == ["id", "vulnerable", "has_pin", "name", "phone"]
    assert long_name in row and "…" not in row
    assert "community: east-1" in status.stdout.splitlines()
    assert json.loads(as_json.stdout)[0]["name"] == long_name  # --json is the same document as before


def test_on_a_narrow_terminal_a_long_code_folds_onto_more_lines_and_is_never_cut(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "30")
    monkeypatch.delenv("NO_COLOR", raising=False)
    code = "EAST-1-0001-" + "0123456789abcdef" * 3
    rows = [
        {"code": code, "unit": "3-101", "text": "水管漏水了，请尽快来修理"},
        {"code": "E-2", "unit": "3-102", "text": "ok"},
    ]
    raw = render(rows, file=Terminal())
    assert "\x1b[" in raw  # a terminal gets styling
    plain = ESCAPE.sub("", raw)
    assert "…" not in plain
    lines = plain.splitlines()
    assert max(columns(line.rstrip()) for line in lines) <= 30
    rule = next(i for i, line in enumerate(lines) if line.strip() and set(line) <= {"-", " "})
    width = len(lines[rule].split()[0])
    body = lines[rule + 1 :]
    first = "".join(line[:width].strip() for line in body)
    assert first == code + "E-2"  # the code, whole and in order, then the next row's
    rest = iter("".join(line[width:] for line in body))
    assert all(c in rest for c in "水管漏水了，请尽快来修理"), "the wide text, folded, keeps every character in order"


def test_maps_are_key_value_lines_and_cell_text_is_never_read_as_markup() -> None:
    result = {"text": "[bold]leak[/bold] :smile: [/]", "none": None, "ok": True, "tags": ["a", "b"], "n": {"k": 1}}
    assert render(result, file=io.StringIO()).splitlines() == [
        "text: [bold]leak[/bold] :smile: [/]",
        "none: -",
        "ok: yes",
        "tags: a,b",
        'n: {"k":1}',
    ]
    assert render([{"note": "[/]"}], file=io.StringIO()).splitlines()[2] == "[/]"
    assert render([], file=io.StringIO()) == "(none)"
    assert render("tok-[x]", file=io.StringIO()) == "tok-[x]"


def test_the_server_prints_its_devices_as_a_table_with_whole_device_ids(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from edge.node import Node
    from edge.sync import enroll
    from sync_server.cli import main as server_main
    from sync_server.core import InProcessTransport, SyncServer

    data = str(tmp_path / "district")
    assert server_main(["init", "--data", data, "--district", "West"]) == 0
    assert server_main(["devices", "--data", data]) == 0
    capsys.readouterr()
    assert server_main(["token", "--data", data, "--community", "a", "--role", "kiosk"]) == 0
    token = capsys.readouterr().out.strip()
    assert "\x1b" not in token and " " not in token
    server = SyncServer(data)
    kiosk = Node.init(tmp_path / "kiosk", "a")
    enroll(kiosk, InProcessTransport(server), "http://district.test", token)
    server.close()
    assert server_main(["devices", "--data", data]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out
    header, rule, *rows = out.splitlines()
    assert header.split() == ["device", "community", "role", "name", "state", "heads"]
    mine = next(row for row in rows if row.startswith(kiosk.dev))
    assert mine.split()[1:3] == ["a", "kiosk"] and " ok " in mine
    assert server_main(["revoke", kiosk.dev, "--data", data]) == 0
    assert f"device: {kiosk.dev}" in capsys.readouterr().out.splitlines()
    kiosk.close()
