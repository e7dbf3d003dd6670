"""Grow-only set (comments, photo hashes, parts used): union, in any order."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from crdt.gset import GSet

MEMBERS = st.one_of(
    st.text(max_size=3),
    st.integers(-5, 5),
    st.tuples(st.sampled_from(["pipe-15mm", "fuse-10a"]), st.integers(1, 3)),
)
ADDS = st.lists(MEMBERS, max_size=12)


@st.composite
def reordered_with_duplicates(draw: st.DrawFn, ops: list[Any]) -> list[Any]:
    """The ops in a random order, some of them delivered more than once."""
    dups = draw(st.lists(st.sampled_from(ops), max_size=len(ops))) if ops else []
    return draw(st.permutations(ops + dups))


def set_of(items: list[Any]) -> GSet[Any]:
    out: GSet[Any] = GSet()
    for item in items:
        out.add(item)
    return out


def test_adding_a_member_twice_reports_it_new_only_once() -> None:
    comments: GSet[str] = GSet()
    assert comments.add("c1") is True
    assert comments.add("c1") is False
    assert len(comments) == 1 and "c1" in comments


def test_merge_is_union_and_leaves_the_other_replica_alone() -> None:
    kiosk, server = GSet(["c1", "c2"]), GSet(["c2", "c3"])
    assert kiosk.merge(server) is True
    assert kiosk.items() == ["c1", "c2", "c3"]
    assert server.items() == ["c2", "c3"]
    assert kiosk.merge(server) is False


def test_plain_dump_sorts_members_by_kind_then_value_and_turns_tuples_into_lists() -> None:
    parts = GSet([("pipe-15mm", 2), "note", 3, ("fuse-10a", 1)])
    assert parts.to_plain() == [3, "note", ["fuse-10a", 1], ["pipe-15mm", 2]]
    assert list(parts) == [3, "note", ("fuse-10a", 1), ("pipe-15mm", 2)]


@given(ADDS.flatmap(lambda adds: st.tuples(st.just(adds), reordered_with_duplicates(adds))))
def test_state_is_the_same_for_any_order_and_duplication_of_adds(case: Any) -> None:
    adds, delivered = case
    assert set_of(delivered).to_plain() == set_of(adds).to_plain()
    assert set(set_of(delivered)) == set(adds)


@given(ADDS, ADDS, ADDS)
def test_merge_is_commutative_associative_and_idempotent(xa: Any, xb: Any, xc: Any) -> None:
    a, b, c = set_of(xa), set_of(xb), set_of(xc)
    ab, ba = a.copy(), b.copy()
    ab.merge(b)
    ba.merge(a)
    assert ab.to_plain() == ba.to_plain() == set_of(xa + xb).to_plain()
    left, bc, right = ab.copy(), b.copy(), a.copy()
    left.merge(c)
    bc.merge(c)
    right.merge(bc)
    assert left.to_plain() == right.to_plain()
    twice = a.copy()
    assert twice.merge(a) is False and twice == a
