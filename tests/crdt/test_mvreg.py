"""Multi-value register (ticket assignee): concurrent assigns survive, supersedes kill, any order."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from crdt.mvreg import MVRegister

AssignOp = tuple[str, Any, tuple[int, int, str], frozenset[str]]
STAMPS = st.tuples(st.integers(0, 4), st.integers(0, 2), st.sampled_from(["k1", "k2", "staff"]))
TECHS = st.sampled_from(["tech-wang", "tech-li", "tech-zhao", None])


@st.composite
def assign_ops(draw: st.DrawFn, forged: bool = False) -> list[AssignOp]:
    """Up to 8 assigns with distinct ids, each superseding some assigns (sometimes unknown ones).

    With ``forged``, some ids are also sent again with other contents (a faulty device).
    """
    count = draw(st.integers(0, 8))
    ids = [f"op{i}" for i in range(count)]
    pool = [*ids, "op-never-seen"]
    sent = ids + (draw(st.lists(st.sampled_from(ids), max_size=3)) if forged and ids else [])
    return [
        (op_id, draw(TECHS), draw(STAMPS), frozenset(draw(st.lists(st.sampled_from(pool), max_size=3))))
        for op_id in sent
    ]


@st.composite
def reordered_with_duplicates(draw: st.DrawFn, ops: list[Any]) -> list[Any]:
    """The ops in a random order, some of them delivered more than once."""
    dups = draw(st.lists(st.sampled_from(ops), max_size=len(ops))) if ops else []
    return draw(st.permutations(ops + dups))


def register_of(ops: list[AssignOp]) -> MVRegister[Any]:
    reg: MVRegister[Any] = MVRegister()
    for op_id, value, stamp, supersedes in ops:
        reg.apply(op_id, value, stamp, supersedes)
    return reg


A: AssignOp = ("aa", "tech-wang", (10, 0, "k1"), frozenset())
B: AssignOp = ("bb", "tech-li", (10, 0, "k2"), frozenset())
RESOLVE: AssignOp = ("cc", "tech-zhao", (9, 0, "staff"), frozenset({"aa", "bb"}))


def test_two_concurrent_assigns_both_survive_with_a_conflict_flag_and_the_same_winner() -> None:
    for order in itertools.permutations([A, B]):
        reg = register_of(list(order))
        assert reg.conflict is True
        assert [a.id for a in reg.live()] == ["bb", "aa"]
        assert reg.winner() is not None and reg.value == "tech-li"


def test_an_assign_superseding_both_clears_the_conflict_in_every_arrival_order() -> None:
    results = set()
    for order in itertools.permutations([A, B, RESOLVE]):
        reg = register_of(list(order))
        assert reg.conflict is False and reg.value == "tech-zhao"
        assert reg.live_ids() == ["cc"]
        results.add(repr(reg.to_plain()))
    assert len(results) == 1


def test_a_superseded_assign_arriving_late_stays_dead() -> None:
    reg = register_of([RESOLVE])
    assert reg.apply(*A) is True
    assert reg.seen("aa") and reg.live_ids() == ["cc"] and not reg.conflict


def test_a_resolving_assign_wins_even_with_an_older_stamp_than_what_it_supersedes() -> None:
    reg = register_of([A, B, RESOLVE])
    assert RESOLVE[2] < A[2] and reg.value == "tech-zhao"


def test_equal_stamps_pick_the_higher_op_id_as_winner() -> None:
    reg = register_of([("zz", "tech-li", (1, 0, "k1"), frozenset()), ("yy", "tech-wang", (1, 0, "k1"), frozenset())])
    assert reg.value == "tech-li" and reg.conflict


def test_an_empty_register_has_no_winner_and_no_conflict() -> None:
    reg: MVRegister[str] = MVRegister()
    assert reg.winner() is None and reg.value is None and reg.conflict is False and reg.live() == []


def test_a_replayed_assign_changes_nothing_and_says_so() -> None:
    reg = register_of([A, RESOLVE])
    before = reg.to_plain()
    assert reg.apply(*A) is False and reg.apply(*RESOLVE) is False
    assert reg.to_plain() == before


def test_two_different_assigns_under_one_id_settle_the_same_way_in_either_order() -> None:
    forged = ("aa", "tech-zhao", (10, 0, "k1"), frozenset({"bb"}))
    one, two = register_of([A, forged, B]), register_of([B, forged, A])
    assert one.to_plain() == two.to_plain()


@given(assign_ops(forged=True).flatmap(lambda ops: st.tuples(st.just(ops), reordered_with_duplicates(ops))))
def test_state_winner_and_conflict_are_the_same_for_any_order_and_duplication(case: Any) -> None:
    ops, delivered = case
    reference, reg = register_of(ops), register_of(delivered)
    assert reg.to_plain() == reference.to_plain()
    assert (reg.winner(), reg.conflict) == (reference.winner(), reference.conflict)


@given(assign_ops())
def test_live_assigns_are_exactly_those_no_seen_assign_supersedes(ops: list[AssignOp]) -> None:
    dead = set().union(*(sup for *_, sup in ops))
    alive = sorted((op for op in ops if op[0] not in dead), key=lambda op: (op[2], op[0]), reverse=True)
    reg = register_of(ops)
    assert [a.id for a in reg.live()] == [op[0] for op in alive]
    assert reg.conflict == (len(alive) > 1)
    assert reg.value == (alive[0][1] if alive else None)


@given(assign_ops(forged=True), st.data())
def test_merge_is_commutative_associative_and_idempotent(ops: list[AssignOp], data: st.DataObject) -> None:
    homes = [data.draw(st.sets(st.integers(0, 2), min_size=1)) for _ in ops]
    a, b, c = (register_of([op for op, home in zip(ops, homes, strict=True) if i in home]) for i in range(3))
    ab, ba = a.copy(), b.copy()
    ab.merge(b)
    ba.merge(a)
    assert ab.to_plain() == ba.to_plain()
    left, bc, right = ab.copy(), b.copy(), a.copy()
    left.merge(c)
    bc.merge(c)
    right.merge(bc)
    assert left.to_plain() == right.to_plain() == register_of(ops).to_plain()
    twice = a.copy()
    assert twice.merge(a) is False and twice.to_plain() == a.to_plain()
