"""The edge's audit checks on every sync answer: honest rounds pass and cosign; every lie raises a named alarm."""

from __future__ import annotations

import base64

import pytest

from crdt.keys import DeviceKey
from crdt.note import Checkpoint, Verifier, parse_note, parse_verifier_key, sign_checkpoint
from edge.audit.client import (
    ALARM_KEY,
    check_alarm,
    clear_alarm,
    find_fork,
    parse_district_key,
    request_fields,
    trusted_checkpoint,
    verify_answer,
    witness_vkey,
)
from edge.errors import AuditAlarm, InputError
from tests.edge.audit_sim import ORIGIN, SERVER, audited_sync, setup


@pytest.fixture
def net(tmp_path):
    d, kiosks = setup(tmp_path)
    yield d, kiosks
    d.close()
    for k in kiosks.values():
        k.close()


def test_honest_syncs_advance_the_trusted_checkpoint_and_deliver_the_kiosk_cosignature(net):
    d, k = net
    a = k["a"]
    first = trusted_checkpoint(a.store)
    assert first is not None and first.size < d.log.latest().size  # b synced after a
    a.award("1-101", 10, "stairwell cleaning")
    line = audited_sync(a, d)
    second = trusted_checkpoint(a.store)
    assert second.size == d.log.size and second.root == d.log.root()
    assert request_fields(a.store) == {"tree_size": second.size, "cosignatures": [{"size": second.size, "line": line}]}
    audited_sync(a, d)  # carries the cosignature
    assert line in d.log.checkpoint_with_cosignatures(second.size)
    assert a.status()["audit_alarm"] is None


def test_a_checkpoint_signed_by_another_key_raises_a_named_alarm_that_persists_until_staff_clear_it(net):
    d, k = net
    a = k["a"]
    other = DeviceKey.generate()

    def resign(ans):
        return {
            **ans,
            "checkpoint": sign_checkpoint(Checkpoint.parse(parse_note(ans["checkpoint"]).body), other, ORIGIN),
        }

    d.node.post_notice("t", "t", "b", "b")
    with pytest.raises(AuditAlarm, match="checkpoint_signature.*not signed by the pinned district key"):
        audited_sync(a, d, answer_hook=resign)
    alarm = a.status()["audit_alarm"]
    assert (
        alarm["code"] == "checkpoint_signature"
        and alarm["server"] == SERVER
        and "linli.district" in alarm["checkpoint"]
    )
    with pytest.raises(AuditAlarm, match="refused until staff check and clear it"):
        audited_sync(a, d)  # even an honest answer is refused now
    with pytest.raises(InputError, match="staff id"):
        clear_alarm(a.store, " ")
    cleared = clear_alarm(a.store, "staff-7")
    assert (
        cleared["cleared"] and cleared["cleared_by"] == "staff-7" and cleared["alarm"]["code"] == "checkpoint_signature"
    )
    assert a.store.get("audit_alarm_history")[-1]["cleared_by"] == "staff-7"
    check_alarm(a.store)
    audited_sync(a, d)
    assert a.status()["audit_alarm"] is None


def test_a_truncated_log_re_signed_smaller_is_named_a_rollback(net, tmp_path):
    d, k = net
    a = k["a"]
    size = trusted_checkpoint(a.store).size
    conn = d.node.conn
    conn.execute("DELETE FROM ops WHERE idx > ?", (size - 1,))
    conn.execute("DELETE FROM audit_nodes")
    conn.execute("DELETE FROM audit_checkpoints")
    conn.execute("UPDATE audit_tree SET size = 0")
    d = d.reopen()
    d.log.checkpoint()
    with pytest.raises(AuditAlarm, match=f"rollback.*{size - 1} ops, fewer than the {size} this node already verified"):
        audited_sync(a, d)
    assert a.status()["audit_alarm"]["code"] == "rollback"
    d.close()


def test_a_history_rewritten_at_the_same_length_fails_the_consistency_proof(net, tmp_path):
    d, k = net
    a, b = k["a"], k["b"]
    d1, d2 = d.fork(tmp_path / "district-copy")
    d1.node.post_notice("one", "one", "x", "x")
    d2.node.post_notice("two", "two", "y", "y")
    audited_sync(a, d1)
    with pytest.raises(AuditAlarm, match="consistency.*does not extend.*rewritten or forked"):
        audited_sync(a, d2)
    audited_sync(b, d2)
    assert a.status()["audit_alarm"]["code"] == "consistency"
    d1.close()
    d2.close()


def test_two_kiosks_shown_different_histories_are_caught_by_comparing_their_checkpoints(net, tmp_path):
    d, k = net
    a, b = k["a"], k["b"]
    d1, d2 = d.fork(tmp_path / "district-copy")
    a.award("1-101", 3, "help")
    b.award("1-101", 4, "help")
    audited_sync(a, d1)  # each kiosk alone sees a consistent, growing log
    audited_sync(b, d2)
    ta, tb = a.store.get("audit_checkpoint"), b.store.get("audit_checkpoint")
    district = Verifier(ORIGIN, d1.node.store.ident.key.public_bytes)
    assert trusted_checkpoint(a.store).size == trusted_checkpoint(b.store).size
    reason = find_fork(ta, tb, district)
    assert reason is not None and reason.startswith("fork: the district signed two different trees of size")
    assert find_fork(ta, ta, district) is None
    d1.node.post_notice("t", "t", "b", "b")
    later = d1.log.checkpoint()
    proof = d1.log.consistency(trusted_checkpoint(b.store).size, later.size)
    assert "does not extend" in find_fork(tb, later.note, district, proof)
    assert find_fork(ta, later.note, district, d1.log.consistency(trusted_checkpoint(a.store).size)) is None
    with pytest.raises(InputError, match="consistency proof is needed"):
        find_fork(ta, later.note, district)
    d1.close()
    d2.close()


def test_a_pushed_op_missing_from_the_log_or_with_a_wrong_proof_is_named(net):
    d, k = net
    a = k["a"]
    a.award("1-101", 10, "help")
    row = a.conn.execute("SELECT dev, scope, seq FROM ops WHERE dev=? ORDER BY idx DESC LIMIT 1", (a.dev,)).fetchone()
    where = f"{row[0]}/{row[1]}#{row[2]}"

    def swap_last_proof(ans):
        return {**ans, "inclusion": [*ans["inclusion"][:-1], ans["inclusion"][0]]}

    with pytest.raises(AuditAlarm, match=f"inclusion.*pushed op {where} is not in the district's log"):
        audited_sync(a, d, answer_hook=swap_last_proof)
    clear_alarm(a.store, "staff-1")

    def drop_last(ans):
        return {**ans, "leaves": [*ans["leaves"][:-1], None], "inclusion": [*ans["inclusion"][:-1], None]}

    with pytest.raises(AuditAlarm, match=f"pushed op {where} was neither logged nor rejected"):
        audited_sync(a, d, answer_hook=drop_last)
    clear_alarm(a.store, "staff-1")
    with pytest.raises(AuditAlarm, match="one entry per pushed op"):
        audited_sync(a, d, answer_hook=lambda ans: {**ans, "leaves": ans["leaves"][:-1]})
    clear_alarm(a.store, "staff-1")
    with pytest.raises(AuditAlarm, match="no_checkpoint"):
        audited_sync(a, d, answer_hook=lambda ans: {k: v for k, v in ans.items() if k != "checkpoint"})
    clear_alarm(a.store, "staff-1")
    with pytest.raises(AuditAlarm, match="consistency"):
        audited_sync(a, d, answer_hook=lambda ans: {**ans, "consistency": [b"\x00" * 32]})
    clear_alarm(a.store, "staff-1")
    audited_sync(a, d)
    assert a.status()["audit_alarm"] is None


def test_an_answer_checked_against_a_trusted_checkpoint_moved_by_another_sync_is_retried_not_alarmed(net):
    d, k = net
    a = k["a"]
    rec = d.log.checkpoint()
    with pytest.raises(InputError, match="moved during this sync"):
        verify_answer(a.store, rec.note, [], [], [], sent_tree_size=rec.size - 1)
    assert a.store.get(ALARM_KEY) is None


def test_forgetting_the_trusted_checkpoint_trusts_the_next_answer_from_scratch(net):
    d, k = net
    a = k["a"]
    a.store.set(ALARM_KEY, {"code": "rollback", "reason": "restored from backup"})
    out = clear_alarm(a.store, "manager-1", forget_checkpoint=True)
    assert out["forgot_checkpoint"] and trusted_checkpoint(a.store) is None
    assert request_fields(a.store) == {"tree_size": 0, "cosignatures": []}
    audited_sync(a, d)
    assert trusted_checkpoint(a.store).size == d.log.latest().size


def test_the_district_key_is_read_as_base64_hex_or_a_verifier_key_and_anything_else_is_named():
    key = DeviceKey.generate().public_bytes
    vkey = Verifier(ORIGIN, key).vkey()
    assert parse_district_key(base64.b64encode(key).decode()) == (key, None)
    assert parse_district_key(key.hex()) == (key, None)
    assert parse_district_key(vkey) == (key, ORIGIN)
    for bad in ["", "abc", base64.b64encode(key[:31]).decode(), vkey[:-4] + "AAAA"]:
        with pytest.raises(InputError, match="district key"):
            parse_district_key(bad)


def test_the_witness_key_of_a_kiosk_is_its_device_key_as_a_cosignature_key(net):
    _, k = net
    v = parse_verifier_key(witness_vkey(k["a"].store))
    assert v.name == f"linli.kiosk/{k['a'].dev}" and v.public_key == k["a"].store.ident.key.public_bytes
    assert v.sig_type == 0x04
