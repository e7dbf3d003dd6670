"""``linli-edge audit …`` handlers and the committee witness, run in-process against the audit endpoints."""

from __future__ import annotations

import argparse
import json

import pytest

from crdt.note import parse_note
from edge.audit.client import trusted_checkpoint
from edge.audit.witness import http_transport, run_witness
from edge.cli.args import common_parser
from edge.cli.audit import register
from edge.errors import AuditAlarm, AuditError, AuditFailed, InputError
from tests.edge.audit_sim import audited_sync, setup

NOW = 1_750_000_000_000


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="linli-edge")
    register(parser.add_subparsers(dest="command", required=True), common_parser())
    return parser


@pytest.fixture
def net(tmp_path):
    d, kiosks = setup(tmp_path)
    yield d, kiosks
    d.close()
    for k in kiosks.values():
        k.close()


def test_every_audit_subcommand_has_help_and_says_whether_it_needs_a_node():
    parser = _parser()
    needs = {
        ("verify", "F", "--district-key", "K"): False,
        ("show",): True,
        ("clear-alarm",): True,
        ("witness", "--server", "http://127.0.0.1:1"): False,
    }
    for argv, node in needs.items():
        args = parser.parse_args(["audit", *argv])
        assert args.needs_node is node and callable(args.func)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["audit"]
    actions = next(a for a in sub._actions if isinstance(a, argparse._SubParsersAction))
    assert {c.dest: c.help for c in actions._choices_actions}.keys() == {"verify", "show", "clear-alarm", "witness"}
    assert all(c.help for c in actions._choices_actions)


def test_audit_verify_returns_the_summary_text_and_on_failure_prints_it_and_exits_1(net, tmp_path, capsys):
    d, k = net
    audited_sync(k["a"], d)
    export = tmp_path / "x.export"
    d.log.export(export)
    args = _parser().parse_args(["audit", "verify", str(export), "--district-key", d.key])
    text = args.func(args, None)
    assert isinstance(text, str) and "VERIFIED 验证通过" in text
    args = _parser().parse_args(["audit", "verify", str(export), "--district-key", d.key, "--json"])
    assert args.func(args, None)["ok"] is True
    data = bytearray(export.read_bytes())
    data[-3] ^= 1
    export.write_bytes(bytes(data))
    args = _parser().parse_args(["audit", "verify", str(export), "--district-key", d.key])
    with pytest.raises(AuditFailed, match=r"failed with 1 failure\(s\); the first: \[export_signature\]") as exc:
        args.func(args, None)
    assert exc.value.exit_code == 1
    assert "FAILED 验证未通过" in capsys.readouterr().out
    args = _parser().parse_args(["audit", "verify", str(export), "--district-key", d.key, "--digest", "a=xyz"])
    with pytest.raises(InputError, match="SCOPE=HEX"):
        args.func(args, None)


def test_audit_show_and_clear_alarm_work_on_the_node(net):
    d, k = net
    a = k["a"]
    args = _parser().parse_args(["audit", "show"])
    shown = args.func(args, a)
    assert shown["trusted_size"] == trusted_checkpoint(a.store).size and shown["audit_alarm"] is None
    assert shown["witness_vkey"].startswith(f"linli.kiosk/{a.dev}+")
    a.store.set("audit_alarm", {"code": "consistency", "reason": "test"})
    args = _parser().parse_args(["audit", "clear-alarm"])
    with pytest.raises(InputError, match="--actor"):
        args.func(args, a)
    args = _parser().parse_args(["audit", "clear-alarm", "--actor", "staff-3"])
    assert args.func(args, a)["cleared_by"] == "staff-3"
    assert a.status()["audit_alarm"] is None


def test_a_committee_witness_pins_the_key_cosigns_and_is_counted_by_audit_verify(net, tmp_path):
    d, k = net
    wdir = tmp_path / "committee"
    with pytest.raises(InputError, match="first witness run"):
        run_witness(d.transport, wdir, now_ms=NOW)
    first = run_witness(d.transport, wdir, district_key=d.key, name="linli.witness/committee-1", now_ms=NOW)
    assert first["posted"] is False and first["post_status"] == 403  # the district does not know the key yet
    d.log.add_witness(first["vkey"])
    k["a"].award("1-101", 2, "help")
    audited_sync(k["a"], d)
    second = run_witness(d.transport, wdir, now_ms=NOW + 60_000)
    assert second["posted"] is True and second["previous_size"] == first["size"] < second["size"]
    assert second["cosignature"] in d.log.checkpoint_with_cosignatures(second["size"])
    state = json.loads((wdir / "witness.json").read_text())
    assert [h["size"] for h in state["history"]] == [first["size"], second["size"]]
    saved = (wdir / "witness-checkpoint.txt").read_text()
    assert [s.name for s in parse_note(saved).signatures][-1] == "linli.witness/committee-1"
    export = tmp_path / "x.export"
    d.log.export(export)
    args = _parser().parse_args(
        [
            "audit",
            "verify",
            str(export),
            "--district-key",
            d.key,
            "--witness",
            second["vkey"],
            "--checkpoint",
            str(wdir / "witness-checkpoint.txt"),
            "--json",
        ]
    )
    report = args.func(args, None)
    witnessed = next(c for c in report["checkpoints"] if c["size"] == second["size"])
    assert witnessed["independent"] == ["linli.witness/committee-1"]
    with pytest.raises(InputError, match="pinned district key"):
        run_witness(d.transport, wdir, district_key=k["a"].store.ident.key.public_bytes.hex(), now_ms=NOW)


def test_a_witness_shown_a_forked_history_raises_an_alarm_that_stays_until_cleared(net, tmp_path):
    d, k = net
    wdir = tmp_path / "committee"
    d1, d2 = d.fork(tmp_path / "district-copy")
    d1.node.post_notice("one", "one", "x", "x")
    d1.log.checkpoint()
    d2.node.post_notice("two", "two", "y", "y")
    d2.node.post_notice("three", "three", "z", "z")
    d2.log.checkpoint()
    run_witness(d1.transport, wdir, district_key=d1.key, now_ms=NOW)
    with pytest.raises(AuditAlarm, match="consistency.*does not extend the log of size"):
        run_witness(d2.transport, wdir, now_ms=NOW + 1)
    with pytest.raises(AuditAlarm, match="clear it with --clear-alarm"):
        run_witness(d1.transport, wdir, now_ms=NOW + 2)
    out = run_witness(d1.transport, wdir, now_ms=NOW + 3, clear=True)
    assert out["size"] == d1.log.size
    assert json.loads((wdir / "witness.json").read_text())["cleared"][0]["alarm"]["code"] == "consistency"
    d1.close()
    d2.close()


def test_a_witness_refuses_a_checkpoint_the_district_did_not_sign_and_names_an_unreachable_server(net, tmp_path):
    d, _ = net
    wdir = tmp_path / "committee"

    def lying(method: str, path: str, body: bytes) -> tuple[int, bytes]:
        status, out = d.transport(method, path, body)
        return (status, out.replace(b"\n\xe2\x80\x94 linli.district/test ", b"\n\xe2\x80\x94 linli.district/test A"))

    with pytest.raises(AuditAlarm, match="checkpoint"):
        run_witness(lying, wdir, district_key=d.key, now_ms=NOW)
    with pytest.raises(AuditError, match="cannot reach the district server"):
        run_witness(http_transport("http://127.0.0.1:9", timeout=2), tmp_path / "w2", district_key=d.key, now_ms=NOW)
    with pytest.raises(InputError, match="does not start with http"):
        http_transport("ftp://district")
