"""Transfer lattice: requested < approved < declined < shipped < arrived; max wins; strict write steps."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crdt.errors import LatticeError
from crdt.transfer import STEPS, Transfer, check_step, step_index

STAMPS = st.tuples(st.integers(0, 6), st.integers(0, 2), st.sampled_from(["a-kiosk", "b-kiosk", "district"]))
STEP_OPS = st.lists(st.tuples(st.sampled_from(STEPS), STAMPS), max_size=12)

ORDER = ["requested", "approved", "declined", "shipped", "arrived"]
ALLOWED = {
    (None, "requested"),
    ("requested", "approved"),
    ("requested", "declined"),
    ("approved", "shipped"),
    ("shipped", "arrived"),
}
NEEDS = {"approved": "requested", "declined": "requested", "shipped": "approved", "arrived": "shipped"}


@st.composite
def reordered_with_duplicates(draw: st.DrawFn, ops: list[Any]) -> list[Any]:
    """The ops in a random order, some of them delivered more than once."""
    dups = draw(st.lists(st.sampled_from(ops), max_size=len(ops))) if ops else []
    return draw(st.permutations(ops + dups))


def transfer_of(ops: list[tuple[str, tuple[int, int, str]]]) -> Transfer:
    transfer = Transfer()
    for step, stamp in ops:
        transfer.apply(step, stamp)
    return transfer


@pytest.mark.parametrize("current", [None, *STEPS])
@pytest.mark.parametrize("target", STEPS)
def test_the_write_rule_allows_exactly_the_table(current: str | None, target: str) -> None:
    if (current, target) in ALLOWED:
        check_step(current, target)
        return
    with pytest.raises(LatticeError) as err:
        check_step(current, target)
    message = str(err.value)
    assert f"transfer step {current or 'nothing'} -> {target} refused" in message
    if target == "requested":
        assert "requested is only the first step" in message
    else:
        assert f"{target} is written only from {NEEDS[target]}" in message


def test_the_steps_are_in_the_designed_order() -> None:
    assert list(STEPS) == ORDER


def test_an_unknown_step_is_named() -> None:
    assert step_index("shipped") == 3
    with pytest.raises(LatticeError, match="unknown transfer step 'lost'"):
        check_step("shipped", "lost")
    with pytest.raises(LatticeError, match="unknown transfer step 'lost'"):
        Transfer().apply("lost", (1, 0, "a-kiosk"))


def test_a_decline_beats_a_concurrent_approve_in_either_merge_order() -> None:
    base = Transfer()
    base.write("requested", (1, 0, "b-kiosk"))
    approver, decliner = base.copy(), base.copy()
    approver.write("approved", (5, 0, "a-kiosk"))
    decliner.write("declined", (3, 0, "district"))
    one, two = approver.copy(), decliner.copy()
    one.merge(decliner)
    two.merge(approver)
    assert one.current == two.current == "declined"
    assert one.to_plain() == two.to_plain()
    assert one.reached("approved") == (5, 0, "a-kiosk")


def test_goods_that_were_shipped_stay_shipped_when_a_concurrent_decline_arrives() -> None:
    sender = Transfer()
    sender.write("requested", (1, 0, "b-kiosk"))
    decliner = sender.copy()
    sender.write("approved", (2, 0, "a-kiosk"))
    sender.write("shipped", (3, 0, "a-kiosk"))
    decliner.write("declined", (4, 0, "district"))
    sender.merge(decliner)
    assert sender.current == "shipped"
    assert sender.write("arrived", (6, 0, "b-kiosk")) == "arrived"


def test_a_refused_write_changes_nothing() -> None:
    transfer = Transfer()
    transfer.write("requested", (1, 0, "b-kiosk"))
    before = transfer.to_plain()
    with pytest.raises(LatticeError, match="shipped is written only from approved"):
        transfer.write("shipped", (2, 0, "a-kiosk"))
    assert transfer.to_plain() == before == {"current": "requested", "reached": [["requested", [1, 0, "b-kiosk"]]]}


@given(STEP_OPS.flatmap(lambda ops: st.tuples(st.just(ops), reordered_with_duplicates(ops))))
def test_state_is_the_same_for_any_order_and_duplication_of_ops(case: Any) -> None:
    ops, delivered = case
    assert transfer_of(delivered).to_plain() == transfer_of(ops).to_plain()


@given(st.lists(st.tuples(st.sampled_from(STEPS), STAMPS), min_size=1, max_size=12))
def test_current_is_the_max_step_and_each_first_stamp_is_the_min(ops: Any) -> None:
    transfer = transfer_of(ops)
    assert transfer.current == max((s for s, _ in ops), key=ORDER.index)
    for step, _ in ops:
        assert transfer.reached(step) == min(t for s, t in ops if s == step)


@given(STEP_OPS, STEP_OPS, STEP_OPS)
def test_merge_is_commutative_associative_and_idempotent(xa: Any, xb: Any, xc: Any) -> None:
    a, b, c = transfer_of(xa), transfer_of(xb), transfer_of(xc)
    ab, ba = a.copy(), b.copy()
    ab.merge(b)
    ba.merge(a)
    assert ab.to_plain() == ba.to_plain() == transfer_of(xa + xb).to_plain()
    left, bc, right = ab.copy(), b.copy(), a.copy()
    left.merge(c)
    bc.merge(c)
    right.merge(bc)
    assert left.to_plain() == right.to_plain()
    twice = a.copy()
    assert twice.merge(a) is False and twice == a
