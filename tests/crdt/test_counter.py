"""Bounded counter (stock, points): per-device rights keep honest devices from ever going negative."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from random import Random
from typing import Any

import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st

from crdt.counter import BoundedCounter
from crdt.errors import CounterError, InsufficientRights

DEVICES = ("district", "k1", "k2")
Entry = tuple[str, str, int, str | None]  # (kind, dev, n, to)


# -- unit behaviour -----------------------------------------------------------------------------


def funded() -> BoundedCounter:
    """district +10, district→k1 4, k1→k2 1, k1 −2: rights 6 / 1 / 1, value 8."""
    counter = BoundedCounter()
    counter.increment("op1", "district", 10)
    counter.move_checked("op2", "district", "k1", 4)
    counter.move_checked("op3", "k1", "k2", 1)
    counter.decrement_checked("op4", "k1", 2)
    return counter


def test_rights_follow_increments_moves_and_decrements_and_sum_to_the_value() -> None:
    counter = funded()
    assert [counter.rights(d) for d in DEVICES] == [6, 1, 1]
    assert counter.value == 8 == sum(counter.rights(d) for d in counter.devices())
    assert counter.rights("never-seen") == 0
    assert counter.devices() == ["district", "k1", "k2"]


def test_plain_dump_holds_the_per_writer_totals_in_sorted_order() -> None:
    assert funded().to_plain() == {
        "dec": {"k1": 2},
        "inc": {"district": 10},
        "moved": {"district": {"k1": 4}, "k1": {"k2": 1}},
    }


def test_a_decrement_beyond_the_devices_rights_is_refused_and_changes_nothing() -> None:
    counter = funded()
    before = counter.to_plain()
    with pytest.raises(InsufficientRights, match="device 'k1' asked to decrement 2 but holds 1 rights"):
        counter.decrement_checked("op5", "k1", 2)
    assert counter.to_plain() == before and not counter.has_applied("op5")
    assert counter.can_decrement("district", 6) and not counter.can_decrement("district", 7)


def test_a_move_beyond_the_devices_rights_is_refused_and_changes_nothing() -> None:
    counter = funded()
    before = counter.to_plain()
    with pytest.raises(InsufficientRights, match="device 'k2' asked to move 3 rights to 'k1' but holds 1 rights"):
        counter.move_checked("op5", "k2", "k1", 3)
    assert counter.to_plain() == before
    assert counter.can_move("k2", "k1", 1) and not counter.can_move("k2", "k1", 2)


def test_the_value_is_no_licence_to_spend_another_devices_rights() -> None:
    counter = funded()
    assert counter.value >= 3 and not counter.can_decrement("k2", 3)


@pytest.mark.parametrize("n", [0, -2, True, 1.5, "3"])
def test_a_non_positive_or_non_integer_amount_is_refused(n: Any) -> None:
    counter = funded()
    writes: list[Callable[[], bool]] = [
        lambda: counter.increment("x", "k1", n),
        lambda: counter.decrement("x", "k1", n),
        lambda: counter.move("x", "k1", "k2", n),
        lambda: counter.can_decrement("k1", n),
        lambda: counter.can_move("k1", "k2", n),
    ]
    for write in writes:
        with pytest.raises(CounterError, match="positive integer amount, got"):
            write()
    assert counter == funded()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("x", "burn", "k1", 1), "unknown counter op kind 'burn'"),
        (("x", "move", "k1", 1, "k1"), "move of 1 from device 'k1' to itself"),
        (("x", "move", "k1", 1), "move to needs a non-empty device id, got None"),
        (("x", "increment", "k1", 1, "k2"), "increment takes no receiving device"),
        (("", "increment", "k1", 1), "needs a non-empty op id"),
        (("x", "decrement", "", 1), "decrement needs a non-empty device id"),
    ],
)
def test_malformed_ops_are_refused_naming_the_input(args: Any, message: str) -> None:
    counter = BoundedCounter()
    with pytest.raises(CounterError, match=message):
        counter.apply(*args)
    assert counter.to_plain() == {"dec": {}, "inc": {}, "moved": {}}


def test_an_op_id_already_applied_is_ignored_by_every_writer() -> None:
    counter = funded()
    assert counter.increment("op1", "district", 10) is False
    assert counter.decrement_checked("op4", "k1", 2) is False
    assert counter.move_checked("op2", "district", "k1", 4) is False
    assert counter == funded()


def test_a_device_that_skips_its_check_is_the_one_named_negative() -> None:
    counter = funded()
    counter.decrement("op9", "k2", 3)
    assert counter.negative_devices() == ["k2"] and counter.rights("k2") == -2
    assert funded().negative_devices() == []


def test_merging_non_prefix_subsets_of_one_writers_ops_undercounts() -> None:
    """Documents the precondition of the state merge: replicas hold a prefix of each stream."""
    first, second = BoundedCounter(), BoundedCounter()
    first.increment("k1#1", "k1", 2)
    second.increment("k1#2", "k1", 3)
    first.merge(second)
    assert first.value == 3  # not 5: op-based apply, not merge, is the way to combine such sets


# -- op-based and state-based convergence ----------------------------------------------------


@st.composite
def histories(draw: st.DrawFn) -> dict[str, list[tuple[str, Entry]]]:
    """Each device's own stream of counter ops, in its order (unchecked: merge must not care)."""
    out: dict[str, list[tuple[str, Entry]]] = {}
    for dev in DEVICES:
        others = [d for d in DEVICES if d != dev]
        ops = draw(
            st.lists(
                st.one_of(
                    st.tuples(st.sampled_from(["increment", "decrement"]), st.integers(1, 9), st.none()),
                    st.tuples(st.just("move"), st.integers(1, 9), st.sampled_from(others)),
                ),
                max_size=5,
            )
        )
        out[dev] = [(f"{dev}#{i}", (kind, dev, n, to)) for i, (kind, n, to) in enumerate(ops)]
    return out


def apply_all(ops: list[tuple[str, Entry]]) -> BoundedCounter:
    counter = BoundedCounter()
    for op_id, (kind, dev, n, to) in ops:
        counter.apply(op_id, kind, dev, n, to)
    return counter


def prefix_replica(hist: dict[str, list[tuple[str, Entry]]], cuts: dict[str, int]) -> BoundedCounter:
    return apply_all([op for dev in DEVICES for op in hist[dev][: cuts[dev]]])


@st.composite
def reordered_with_duplicates(draw: st.DrawFn, ops: list[Any]) -> list[Any]:
    """The ops in a random order, some of them delivered more than once."""
    dups = draw(st.lists(st.sampled_from(ops), max_size=len(ops))) if ops else []
    return draw(st.permutations(ops + dups))


@given(histories(), st.data())
def test_op_based_state_is_the_same_for_any_order_and_duplication(hist: Any, data: st.DataObject) -> None:
    ops = [op for dev in DEVICES for op in hist[dev]]
    delivered = data.draw(reordered_with_duplicates(ops))
    assert apply_all(delivered).to_plain() == apply_all(ops).to_plain()


@given(histories(), st.data())
def test_state_merge_of_stream_prefixes_is_commutative_associative_and_idempotent(
    hist: Any, data: st.DataObject
) -> None:
    cuts = [{dev: data.draw(st.integers(0, len(hist[dev]))) for dev in DEVICES} for _ in range(3)]
    a, b, c = (prefix_replica(hist, cut) for cut in cuts)
    ab, ba = a.copy(), b.copy()
    ab.merge(b)
    ba.merge(a)
    assert ab.to_plain() == ba.to_plain()
    left, bc, right = ab.copy(), b.copy(), a.copy()
    left.merge(c)
    bc.merge(c)
    right.merge(bc)
    widest = {dev: max(cut[dev] for cut in cuts) for dev in DEVICES}
    assert left.to_plain() == right.to_plain() == prefix_replica(hist, widest).to_plain()
    twice = a.copy()
    assert twice.merge(a) is False and twice == a


# -- replicas partitioned at random: honest devices never go negative -----------------------------

SYNC = st.tuples(st.just("sync"), st.permutations(DEVICES).map(lambda p: p[:2]))
SPEND = st.one_of(
    st.tuples(st.just("dec"), st.sampled_from(DEVICES), st.integers(1, 4)),
    st.tuples(st.just("move"), st.permutations(DEVICES).map(lambda p: p[:2]), st.integers(1, 4)),
)
SCHEDULES = st.lists(
    st.one_of(st.tuples(st.just("inc"), st.sampled_from(DEVICES), st.integers(1, 6)), SPEND, SPEND, SYNC),
    min_size=8,
    max_size=40,
)


@dataclass
class Replica:
    counter: BoundedCounter = field(default_factory=BoundedCounter)
    log: dict[str, Entry] = field(default_factory=dict)


@dataclass
class Outcome:
    lowest: int  # lowest value or right seen on any replica after any step
    merged: BoundedCounter  # every replica merged at the end


def model_rights(log: dict[str, Entry]) -> dict[str, int]:
    """Each device's rights, recomputed from the ops a replica knows (independent of the module)."""
    rights = dict.fromkeys(DEVICES, 0)
    for kind, dev, n, to in log.values():
        rights[dev] += n if kind == "increment" else -n
        if to is not None:
            rights[to] += n
    return rights


def simulate(schedule: list[Any], exchange: str, policy: dict[str, str] | None = None) -> Outcome:
    """Run devices with one replica each; ``sync (a, b)`` sends all a knows to b.

    ``policy`` per device: ``rights`` (honest, the default) checks its own rights on its own
    replica; ``value`` checks the replica's counter value instead; ``none`` skips the check.
    ``exchange`` is ``ops`` (b applies the ops it lacks) or ``state`` (b merges a's state).
    """
    policy = policy or {}
    replicas = {dev: Replica() for dev in DEVICES}
    lowest = 0
    for i, step in enumerate(schedule):
        if step[0] == "sync":
            sender, receiver = replicas[step[1][0]], replicas[step[1][1]]
            if exchange == "ops":
                for op_id in reversed(list(sender.log)):
                    if op_id not in receiver.log:
                        receiver.counter.apply(op_id, *sender.log[op_id])
            else:
                receiver.counter.merge(sender.counter)
            receiver.log.update(sender.log)
        else:
            kind, who, n = step
            dev, to = (who[0], who[1]) if kind == "move" else (who, None)
            mine, rule, op_id = replicas[dev], policy.get(dev, "rights"), f"{dev}#{i}"
            entry: Entry = ({"inc": "increment", "dec": "decrement", "move": "move"}[kind], dev, n, to)
            if kind != "inc" and rule == "rights":
                before = mine.counter.to_plain()
                try:
                    if to is None:
                        mine.counter.decrement_checked(op_id, dev, n)
                    else:
                        mine.counter.move_checked(op_id, dev, to, n)
                except InsufficientRights:
                    assert mine.counter.to_plain() == before
                    continue
            elif kind != "inc" and rule == "value" and mine.counter.value < n:
                continue
            else:
                mine.counter.apply(op_id, *entry)
            mine.log[op_id] = entry
        for replica in replicas.values():
            rights = model_rights(replica.log)
            assert [replica.counter.rights(d) for d in DEVICES] == [rights[d] for d in DEVICES]
            assert replica.counter.value == sum(rights.values())
            lowest = min(lowest, sum(rights.values()), *rights.values())
    by_state, by_ops = BoundedCounter(), BoundedCounter()
    for replica in replicas.values():
        by_state.merge(replica.counter)
        for op_id, entry in replica.log.items():
            by_ops.apply(op_id, *entry)
    assert by_state == by_ops, "state merge and op union disagree"
    return Outcome(lowest, by_ops)


@pytest.mark.parametrize("exchange", ["ops", "state"])
@given(schedule=SCHEDULES)
def test_honest_partitioned_devices_never_drive_value_or_rights_below_zero(exchange: str, schedule: list[Any]) -> None:
    outcome = simulate(schedule, exchange)
    assert outcome.lowest >= 0
    assert outcome.merged.value >= 0 and outcome.merged.negative_devices() == []


@pytest.mark.parametrize("exchange", ["ops", "state"])
@given(schedule=SCHEDULES)
def test_only_the_device_that_skips_its_check_can_end_up_negative(exchange: str, schedule: list[Any]) -> None:
    outcome = simulate(schedule, exchange, {"k2": "none"})
    assert set(outcome.merged.negative_devices()) <= {"k2"}


FIND = settings(max_examples=2000, database=None, phases=[Phase.generate])  # first hit, unshrunk


def test_the_property_fails_when_one_device_skips_its_rights_check() -> None:
    bad = find(
        SCHEDULES, lambda s: simulate(s, "ops", {"k2": "none"}).merged.value < 0, settings=FIND, random=Random(1)
    )
    outcome = simulate(bad, "ops", {"k2": "none"})
    assert outcome.merged.value < 0 and outcome.merged.negative_devices() == ["k2"]


def test_checking_the_shared_value_instead_of_own_rights_lets_partitioned_devices_overspend() -> None:
    schedule = [("inc", "k1", 5), ("sync", ("k1", "k2")), ("dec", "k1", 5), ("dec", "k2", 5)]
    everyone = {dev: "value" for dev in DEVICES}
    assert simulate(schedule, "state", everyone).merged.value == -5
    honest = simulate(schedule, "state").merged
    assert honest.value == 0 and honest.to_plain()["dec"] == {"k1": 5}
