"""Ticket status lattice: merge is max with first-reached stamps; the write rule is a fixed table."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crdt.errors import ClockError, LatticeError
from crdt.status import STAGES, TicketStatus, check_transition, reopen_target, stage_index, status_key

STAMPS = st.tuples(st.integers(0, 6), st.integers(0, 2), st.sampled_from(["k1", "k2", "staff"]))
STATUS_OPS = st.lists(st.tuples(st.integers(0, 2), st.sampled_from(STAGES), STAMPS), max_size=14)

# Every same-epoch step the write rule allows; every other pair of stages is refused.
ALLOWED = {
    ("reported", "triaged"),
    ("reported", "assigned"),
    ("reported", "en_route"),
    ("reported", "on_site"),
    ("reported", "resolved"),
    ("reported", "cancelled"),
    ("triaged", "assigned"),
    ("triaged", "en_route"),
    ("triaged", "on_site"),
    ("triaged", "resolved"),
    ("triaged", "cancelled"),
    ("assigned", "en_route"),
    ("assigned", "on_site"),
    ("assigned", "resolved"),
    ("assigned", "cancelled"),
    ("en_route", "on_site"),
    ("en_route", "resolved"),
    ("en_route", "cancelled"),
    ("on_site", "resolved"),
    ("on_site", "cancelled"),
    ("resolved", "closed"),
}


def refusal_reason(current: str, target: str) -> str:
    if current == "cancelled":
        return "nothing moves out of cancelled"
    if current == target:
        return "already at that stage"
    if STAGES.index(target) < STAGES.index(current):
        return "stages only move forward"
    if target == "closed":
        return "closed only from resolved"
    return "cancelled only before it is resolved"


@st.composite
def reordered_with_duplicates(draw: st.DrawFn, ops: list[Any]) -> list[Any]:
    """The ops in a random order, some of them delivered more than once."""
    dups = draw(st.lists(st.sampled_from(ops), max_size=len(ops))) if ops else []
    return draw(st.permutations(ops + dups))


def status_of(ops: list[tuple[int, str, tuple[int, int, str]]]) -> TicketStatus:
    status = TicketStatus()
    for epoch, stage, stamp in ops:
        status.apply(epoch, stage, stamp)
    return status


@pytest.mark.parametrize("current", STAGES)
@pytest.mark.parametrize("target", STAGES)
def test_the_write_rule_allows_exactly_the_table_within_an_epoch(current: str, target: str) -> None:
    if (current, target) in ALLOWED:
        check_transition((3, current), (3, target))
        return
    with pytest.raises(LatticeError) as err:
        check_transition((3, current), (3, target))
    message = str(err.value)
    assert f"{current} (epoch 3) -> {target} (epoch 3) refused" in message
    assert refusal_reason(current, target) in message


@pytest.mark.parametrize("current", ["resolved", "closed"])
def test_a_reopen_from_resolved_or_closed_starts_the_next_epoch_at_reported(current: str) -> None:
    check_transition((0, current), (1, "reported"))
    assert reopen_target((0, current)) == (1, "reported")


@pytest.mark.parametrize("current", ["reported", "triaged", "assigned", "en_route", "on_site"])
def test_a_reopen_before_resolution_is_refused(current: str) -> None:
    with pytest.raises(LatticeError, match="reopened only from resolved or closed"):
        check_transition((0, current), (1, "reported"))


def test_a_cancelled_ticket_cannot_be_reopened() -> None:
    with pytest.raises(LatticeError, match="nothing moves out of cancelled"):
        check_transition((0, "cancelled"), (1, "reported"))


@pytest.mark.parametrize(
    ("current", "target", "reason"),
    [
        ((0, "resolved"), (1, "triaged"), "a reopen starts the next epoch at reported"),
        ((0, "closed"), (2, "reported"), "the epoch must stay 0, or be 1 for a reopen"),
        ((1, "closed"), (0, "closed"), "the epoch must stay 1, or be 2 for a reopen"),
        (None, (0, "triaged"), "a new ticket starts at reported in epoch 0"),
        (None, (1, "reported"), "a new ticket starts at reported in epoch 0"),
    ],
)
def test_epoch_jumps_and_first_writes_outside_the_rule_are_refused(current: Any, target: Any, reason: str) -> None:
    with pytest.raises(LatticeError, match=reason):
        check_transition(current, target)


def test_a_new_ticket_is_written_at_reported_in_epoch_zero() -> None:
    check_transition(None, (0, "reported"))


@pytest.mark.parametrize("bad", [(0, "done"), (-1, "reported"), (0,), ("0", "reported"), None])
def test_a_malformed_target_status_is_refused_naming_it(bad: Any) -> None:
    with pytest.raises(LatticeError, match="stage 'done'|is not a ticket status"):
        check_transition((0, "reported"), bad)


def test_the_stages_are_in_the_designed_order() -> None:
    assert STAGES == ("reported", "triaged", "assigned", "en_route", "on_site", "resolved", "closed", "cancelled")


def test_stage_index_names_an_unknown_stage() -> None:
    assert stage_index("on_site") == 4
    with pytest.raises(LatticeError, match="unknown ticket stage 'fixed'"):
        stage_index("fixed")


def test_a_refused_write_changes_nothing() -> None:
    status = TicketStatus()
    status.write("reported", (1, 0, "k1"))
    status.write("resolved", (2, 0, "k1"))
    before = status.to_plain()
    with pytest.raises(LatticeError, match="cancelled only before it is resolved"):
        status.write("cancelled", (3, 0, "k1"))
    assert status.to_plain() == before


def test_reopen_increments_the_epoch_and_keeps_the_earlier_epochs_times() -> None:
    status = TicketStatus()
    status.write("reported", (1, 0, "k1"))
    status.write("resolved", (5, 0, "k1"))
    status.write("closed", (6, 0, "k1"))
    assert status.reopen((8, 0, "k1")) == (1, "reported")
    assert status.current == (1, "reported") and status.reopen_count == 1
    assert status.reached("reported") == (8, 0, "k1")
    assert status.reached("resolved", epoch=0) == (5, 0, "k1")
    assert status.reached("resolved") is None
    with pytest.raises(LatticeError, match="reopened only from resolved or closed"):
        status.reopen((9, 0, "k1"))


def test_a_reopened_status_orders_above_everything_in_the_epoch_before() -> None:
    assert status_key((1, "reported")) > status_key((0, "cancelled")) > status_key((0, "closed"))
    assert status_key((0, "en_route")) == (0, 3)


def test_a_never_reported_ticket_cannot_be_reopened() -> None:
    with pytest.raises(LatticeError, match="never reported"):
        TicketStatus().reopen((1, 0, "k1"))


def test_skipped_stages_are_not_reached_but_count_for_first_at_least() -> None:
    status = TicketStatus()
    status.write("reported", (1, 0, "k1"))
    status.write("assigned", (4, 0, "k1"))
    status.apply(0, "triaged", (6, 0, "k2"))
    assert status.reached("triaged") == (6, 0, "k2")
    assert status.first_at_least("triaged") == (4, 0, "k1")
    assert status.first_at_least("on_site") is None


def test_a_late_cancel_and_a_concurrent_resolve_merge_to_the_maximum() -> None:
    staff, kiosk = TicketStatus(), TicketStatus()
    for replica in (staff, kiosk):
        replica.write("reported", (1, 0, "k1"))
    staff.write("cancelled", (3, 0, "staff"))
    kiosk.write("resolved", (4, 0, "k1"))
    staff.merge(kiosk)
    assert staff.current == (0, "cancelled") and staff.reached("resolved") == (4, 0, "k1")


def test_apply_refuses_a_malformed_stamp() -> None:
    with pytest.raises(ClockError):
        TicketStatus().apply(0, "reported", (1, 0))  # type: ignore[arg-type]


@given(STATUS_OPS.flatmap(lambda ops: st.tuples(st.just(ops), reordered_with_duplicates(ops))))
def test_state_is_the_same_for_any_order_and_duplication_of_ops(case: Any) -> None:
    ops, delivered = case
    assert status_of(delivered).to_plain() == status_of(ops).to_plain()


@given(st.lists(st.tuples(st.integers(0, 2), st.sampled_from(STAGES), STAMPS), min_size=1, max_size=14))
def test_current_is_the_max_and_each_first_reached_stamp_is_the_min(ops: Any) -> None:
    status = status_of(ops)
    assert status.current == max(((e, s) for e, s, _ in ops), key=lambda es: (es[0], STAGES.index(es[1])))
    assert status.reopen_count == max(e for e, _, _ in ops)
    for epoch, stage, _ in ops:
        assert status.reached(stage, epoch) == min(t for e, s, t in ops if (e, s) == (epoch, stage))


@given(STATUS_OPS, STATUS_OPS, STATUS_OPS)
def test_merge_is_commutative_associative_and_idempotent(xa: Any, xb: Any, xc: Any) -> None:
    a, b, c = status_of(xa), status_of(xb), status_of(xc)
    ab, ba = a.copy(), b.copy()
    ab.merge(b)
    ba.merge(a)
    assert ab.to_plain() == ba.to_plain() == status_of(xa + xb).to_plain()
    left, bc, right = ab.copy(), b.copy(), a.copy()
    left.merge(c)
    bc.merge(c)
    right.merge(bc)
    assert left.to_plain() == right.to_plain()
    twice = a.copy()
    assert twice.merge(a) is False and twice == a
