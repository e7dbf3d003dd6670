"""The write rules of the ticket status lattice and the transfer step lattice: which step a device
may write from the state its own replica holds (the merge of what arrives is tested through the store)."""

from __future__ import annotations

from typing import Any

import pytest

from edge.domain.tickets import STAGES, check_transition, reopen_target, stage_index, status_key
from edge.domain.transfers import STEPS, check_step, step_index
from edge.errors import InvalidTransition

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


@pytest.mark.parametrize("current", STAGES)
@pytest.mark.parametrize("target", STAGES)
def test_the_write_rule_allows_exactly_the_table_within_an_epoch(current: str, target: str) -> None:
    if (current, target) in ALLOWED:
        check_transition((3, current), (3, target))
        return
    with pytest.raises(InvalidTransition) as err:
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
    with pytest.raises(InvalidTransition, match="reopened only from resolved or closed"):
        check_transition((0, current), (1, "reported"))


def test_a_cancelled_ticket_cannot_be_reopened() -> None:
    with pytest.raises(InvalidTransition, match="nothing moves out of cancelled"):
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
    with pytest.raises(InvalidTransition, match=reason):
        check_transition(current, target)


def test_a_new_ticket_is_written_at_reported_in_epoch_zero() -> None:
    check_transition(None, (0, "reported"))


@pytest.mark.parametrize("bad", [(0, "done"), (-1, "reported"), (0,), ("0", "reported"), None])
def test_a_malformed_target_status_is_refused_naming_it(bad: Any) -> None:
    with pytest.raises(InvalidTransition, match="stage 'done'|is not a ticket status"):
        check_transition((0, "reported"), bad)


def test_the_stages_are_in_the_designed_order() -> None:
    assert STAGES == ("reported", "triaged", "assigned", "en_route", "on_site", "resolved", "closed", "cancelled")


def test_stage_index_names_an_unknown_stage() -> None:
    assert stage_index("on_site") == 4
    with pytest.raises(InvalidTransition, match="unknown ticket stage 'fixed'"):
        stage_index("fixed")


def test_a_reopened_status_orders_above_everything_in_the_epoch_before() -> None:
    assert status_key((1, "reported")) > status_key((0, "closed")) > status_key((0, "resolved"))
    assert status_key((1, "reported")) > status_key((0, "cancelled"))
    assert status_key((0, "en_route")) == (0, 3)


def test_in_the_merge_a_completed_repair_orders_above_a_cancel() -> None:
    """A cancel concurrent with a resolve or close must not erase the repair: cancelled merges below."""
    assert status_key((0, "on_site")) < status_key((0, "cancelled")) < status_key((0, "resolved"))


# --- transfers ---------------------------------------------------------------------------------------
ORDER = ["requested", "approved", "declined", "shipped", "arrived"]
STEP_ALLOWED = {
    (None, "requested"),
    ("requested", "approved"),
    ("requested", "declined"),
    ("approved", "shipped"),
    ("shipped", "arrived"),
}
STEP_NEEDS = {"approved": "requested", "declined": "requested", "shipped": "approved", "arrived": "shipped"}


@pytest.mark.parametrize("current", [None, *STEPS])
@pytest.mark.parametrize("target", STEPS)
def test_the_write_rule_allows_exactly_the_table(current: str | None, target: str) -> None:
    if (current, target) in STEP_ALLOWED:
        check_step(current, target)
        return
    with pytest.raises(InvalidTransition) as err:
        check_step(current, target)
    message = str(err.value)
    assert f"transfer step {current or 'nothing'} -> {target} refused" in message
    if target == "requested":
        assert "requested is only the first step" in message
    else:
        assert f"{target} is written only from {STEP_NEEDS[target]}" in message


def test_the_steps_are_in_the_designed_order() -> None:
    assert list(STEPS) == ORDER


def test_an_unknown_step_is_named() -> None:
    assert step_index("shipped") == 3
    with pytest.raises(InvalidTransition, match="unknown transfer step 'lost'"):
        check_step("shipped", "lost")
