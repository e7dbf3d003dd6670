"""Bad input through the facade and the CLI: a clear error, exit 1 or 2, and nothing written."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge import (
    Duplicate,
    EdgeError,
    InputError,
    InsufficientRights,
    InvalidTransition,
    Node,
    UnknownEntity,
    UnknownTicket,
)
from edge.cli import main

LONG = "漏" * 2001
HALF: Any = 1.5  # what a careless caller might pass for a quantity


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A node with a household, a technician, stock, points, an open and a resolved ticket."""
    data = tmp_path_factory.mktemp("bad") / "node"
    node = Node.init(data, "a")
    node.add_household("3-101", pin="2468")
    node.add_tech("Li", ["water"], "core")
    node.add_item("PIPE-15", "水管", "Pipe")
    node.receive("PIPE-15", 5)
    node.award("3-101", 10, "help")
    node.add_staff("s1", "1357")
    open_code = node.report("3-101", "water", "leak")["code"]
    done = node.report("3-101", "door", "lock")["code"]
    node.advance(done, "resolved")
    node.close()
    return {"data": data, "open": open_code, "done": done}


@pytest.fixture
def node(prepared: dict[str, Any]) -> Iterator[Node]:
    n = Node.open(prepared["data"])
    yield n
    n.close()


def state(node: Node) -> tuple[str, int, dict[str, int]]:
    return (node.digest(), node.status()["ops"], node.store.heads())


CASES: list[tuple[str, Callable[[Node, dict[str, Any]], object], type[EdgeError], str]] = [
    ("empty text", lambda n, p: n.report("3-101", "water", "   "), InputError, "description is empty"),
    ("oversized text", lambda n, p: n.report("3-101", "water", LONG), InputError, "2001 characters; the limit is 2000"),
    ("empty comment", lambda n, p: n.comment(p["open"], ""), InputError, "comment is empty"),
    ("oversized comment", lambda n, p: n.comment(p["open"], LONG), InputError, "the limit is 2000"),
    ("unknown category", lambda n, p: n.report("3-101", "plumbing", "x"), InputError, "unknown category 'plumbing'"),
    ("unit with a slash", lambda n, p: n.report("3/101", "water", "x"), InputError, "unit '3/101' may not contain"),
    ("unknown household", lambda n, p: n.report("9-9", "water", "x", household="9-9"), UnknownEntity, "no household"),
    ("unknown sku to receive", lambda n, p: n.receive("NOPE", 1), UnknownEntity, "no item with sku 'NOPE'"),
    ("unknown sku to issue", lambda n, p: n.issue("NOPE", 1), UnknownEntity, "no item with sku 'NOPE'"),
    ("unknown ticket", lambda n, p: n.advance("ZZZ-0001", "triaged"), UnknownTicket, "no ticket 'ZZZ-0001'"),
    ("part for unknown ticket", lambda n, p: n.issue("PIPE-15", 1, ticket="ZZZ-9"), UnknownTicket, "ZZZ-9"),
    ("zero quantity", lambda n, p: n.receive("PIPE-15", 0), InputError, "quantity must be positive, got 0"),
    ("negative quantity", lambda n, p: n.issue("PIPE-15", -3), InputError, "quantity must be positive, got -3"),
    ("fractional quantity", lambda n, p: n.receive("PIPE-15", HALF), InputError, "1.5 is not a whole number"),
    ("zero points", lambda n, p: n.award("3-101", 0, "help"), InputError, "points must be positive"),
    ("empty award reason", lambda n, p: n.award("3-101", 5, " "), InputError, "reason is empty"),
    ("points to nobody", lambda n, p: n.award("9-9", 5, "help"), UnknownEntity, "no household '9-9'"),
    ("redeem beyond balance", lambda n, p: n.redeem("3-101", 11, "tea"), InsufficientRights, "balance 10"),
    ("issue beyond rights", lambda n, p: n.issue("PIPE-15", 6), InsufficientRights, "may issue 5"),
    ("stage back", lambda n, p: n.advance(p["done"], "en_route"), InvalidTransition, "stages only move forward"),
    ("close unresolved", lambda n, p: n.advance(p["open"], "closed"), InvalidTransition, "closed only from resolved"),
    ("reopen open ticket", lambda n, p: n.advance(p["open"], "reopen"), InvalidTransition, "reopened only from"),
    ("unknown stage", lambda n, p: n.advance(p["open"], "fixed"), InputError, "unknown stage 'fixed'"),
    ("rating out of range", lambda n, p: n.rate(p["done"], 6), InputError, "rating 6 is not a whole number from 1"),
    ("unknown hold reason", lambda n, p: n.hold(p["open"], "lunch"), InputError, "hold reason 'lunch'"),
    ("assign a stranger", lambda n, p: n.assign(p["open"], "Nobody"), UnknownEntity, "no technician 'Nobody'"),
    ("duplicate household", lambda n, p: n.add_household("3-101"), Duplicate, "household '3-101' already exists"),
    ("duplicate sku", lambda n, p: n.add_item("PIPE-15", "管", "P"), Duplicate, "sku 'PIPE-15' is already"),
    ("duplicate staff", lambda n, p: n.add_staff("s1", "1234"), Duplicate, "staff id 's1' already exists"),
    ("duplicate technician", lambda n, p: n.add_tech("Li", ["water"], "core"), Duplicate, "'Li' already exists"),
    ("bad sku", lambda n, p: n.add_item("a b", "管", "P"), InputError, "item.add: sku"),
    ("empty item name", lambda n, p: n.add_item("X1", "", "P"), InputError, "item.add: name_zh"),
    ("zero ration", lambda n, p: n.add_item("X1", "水", "W", ration=0), InputError, "item.add: ration"),
    ("unknown skill", lambda n, p: n.add_tech("Wu", ["plumbing"], "core"), InputError, "unknown skill 'plumbing'"),
    ("unknown tier", lambda n, p: n.add_tech("Wu", ["water"], "boss"), InputError, "tier 'boss'"),
    ("unknown flag", lambda n, p: n.add_household("3-9", vulnerable=["old"]), InputError, "vulnerability flag 'old'"),
    ("short pin", lambda n, p: n.add_household("3-9", pin="12"), InputError, "a PIN is 4 to 8 digits"),
    ("offline is not declared", lambda n, p: n.set_mode("offline"), InputError, "offline follows from sync health"),
]


@pytest.mark.parametrize(("what", "call", "error", "says"), CASES, ids=[c[0] for c in CASES])
def test_the_facade_refuses_bad_input_clearly_and_writes_nothing(node, prepared, what, call, error, says):
    before = state(node)
    with pytest.raises(error) as info:
        call(node, prepared)
    assert says in str(info.value)
    assert info.value.exit_code == (2 if issubclass(error, InputError) else 1)
    assert state(node) == before


CLI_CASES: list[tuple[str, tuple[str, ...], int, str]] = [
    ("empty text", ("ticket", "report", "--unit", "3-101", "--category", "water", "--text", " "), 2, "is empty"),
    ("oversized text", ("ticket", "report", "--unit", "3-101", "--category", "water", "--text", LONG), 2, "limit"),
    ("unknown category", ("ticket", "report", "--unit", "1", "--category", "x", "--text", "t"), 2, "unknown category"),
    (
        "bad answer",
        ("ticket", "report", "--unit", "1", "--category", "gas", "--text", "t", "--answer", "gas"),
        2,
        "is not KEY=yes or KEY=no",
    ),
    (
        "unknown question",
        ("ticket", "report", "--unit", "1", "--category", "gas", "--text", "t", "--answer", "x=yes"),
        2,
        "unknown triage question 'x'",
    ),
    ("unknown sku", ("stock", "issue", "NOPE", "1"), 1, "no item with sku 'NOPE'"),
    ("unknown household", ("points", "balance", "9-9"), 1, "no household '9-9'"),
    ("unknown ticket", ("ticket", "show", "ZZZ-0001"), 1, "no ticket 'ZZZ-0001'"),
    ("zero quantity", ("stock", "receive", "PIPE-15", "0"), 2, "'0' is not a positive whole number"),
    ("negative quantity", ("stock", "issue", "PIPE-15", "-3"), 2, "'-3' is not a positive whole number"),
    ("fractional quantity", ("stock", "receive", "PIPE-15", "1.5"), 2, "'1.5' is not a whole number"),
    ("not a number", ("points", "award", "3-101", "abc", "--reason", "r"), 2, "'abc' is not a whole number"),
    ("redeem beyond balance", ("points", "redeem", "3-101", "11", "--reward", "tea"), 1, "balance 10"),
    ("issue beyond rights", ("stock", "issue", "PIPE-15", "6"), 1, "may issue 5"),
    ("illegal stage change", ("ticket", "advance", "{done}", "en_route"), 1, "stages only move forward"),
    ("unknown stage", ("ticket", "advance", "{open}", "fixed"), 2, "unknown stage"),
    ("duplicate household", ("household", "add", "3-101"), 1, "already exists"),
    ("duplicate sku", ("item", "add", "PIPE-15", "--name-zh", "管", "--name-en", "P"), 1, "already in the catalogue"),
    ("missing --text", ("ticket", "report", "--unit", "3-101", "--category", "water"), 2, "required: --text"),
    ("missing --reason", ("points", "award", "3-101", "5"), 2, "required: --reason"),
    ("missing --reward", ("points", "redeem", "3-101", "5"), 2, "required: --reward"),
    ("missing --tier", ("tech", "add", "Wu", "--skills", "water"), 2, "required: --tier"),
    ("missing --pin", ("staff", "add", "s2"), 2, "required: --pin"),
    ("missing --name-en", ("item", "add", "X1", "--name-zh", "水"), 2, "required: --name-en"),
    ("missing quantity", ("stock", "receive", "PIPE-15"), 2, "required: QTY"),
    ("unknown tier", ("tech", "add", "Wu", "--skills", "water", "--tier", "boss"), 2, "invalid choice: 'boss'"),
    ("bad position", ("tech", "add", "Wu", "--skills", "water", "--tier", "core", "--pos", "1"), 2, "not X,Y"),
]


@pytest.mark.parametrize(("what", "argv", "code", "says"), CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_the_cli_exits_1_or_2_with_a_one_line_reason_and_writes_nothing(prepared, capsys, what, argv, code, says):
    data = prepared["data"]
    argv = tuple(a.format(**prepared) for a in argv)
    with Node.open(data) as n:
        before = state(n)
    capsys.readouterr()
    assert main([*argv, "--data", str(data)]) == code
    out, err = capsys.readouterr()
    assert out == ""
    assert says in err
    if code == 1:
        assert err.startswith("linli-edge: ") and err.count("\n") == 1
    with Node.open(data) as n:
        assert state(n) == before


def test_a_refused_write_leaves_the_next_write_working(tmp_path: Path) -> None:
    """Regression guard: a refusal inside the write transaction must roll it back, not leave it open."""
    node = Node.init(tmp_path / "n", "a")
    node.add_household("1-1")
    with pytest.raises(InsufficientRights):
        node.redeem("1-1", 1, "tea")
    with contextlib.redirect_stdout(io.StringIO()):
        assert node.award("1-1", 2, "help")["balance"] == 2
    assert not node.conn.in_transaction
    node.close()
