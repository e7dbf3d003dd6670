"""LWW register and map: the highest (wall_ms, counter, dev) stamp wins, in any arrival order."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crdt.errors import ClockError
from crdt.lww import LWWMap, LWWRegister, check_stamp, plain, value_key

STAMPS = st.tuples(st.integers(0, 4), st.integers(0, 2), st.sampled_from(["dev-a", "dev-b", "dev-c"]))
VALUES = st.one_of(
    st.none(),
    st.integers(-3, 3),
    st.text(max_size=3),
    st.lists(st.integers(0, 3), max_size=2),
    st.dictionaries(st.sampled_from(["k", "j"]), st.integers(0, 2), max_size=2),
)
PLAIN = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=4) | st.binary(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=12,
)
WRITES = st.lists(st.tuples(VALUES, STAMPS), max_size=12)
FIELD_WRITES = st.lists(st.tuples(st.sampled_from(["unit", "category", "urgency"]), VALUES, STAMPS), max_size=15)


@st.composite
def reordered_with_duplicates(draw: st.DrawFn, ops: list[Any]) -> list[Any]:
    """The ops in a random order, some of them delivered more than once."""
    dups = draw(st.lists(st.sampled_from(ops), max_size=len(ops))) if ops else []
    return draw(st.permutations(ops + dups))


def register_of(writes: list[tuple[Any, tuple[int, int, str]]]) -> LWWRegister[Any]:
    reg: LWWRegister[Any] = LWWRegister()
    for value, stamp in writes:
        reg.apply(value, stamp)
    return reg


def map_of(writes: list[tuple[str, Any, tuple[int, int, str]]]) -> LWWMap[Any]:
    fields: LWWMap[Any] = LWWMap()
    for name, value, stamp in writes:
        fields.set(name, value, stamp)
    return fields


def test_the_higher_stamp_wins_whichever_write_arrives_first() -> None:
    early, late = ("old", (5, 0, "dev-b")), ("new", (5, 1, "dev-a"))
    assert register_of([early, late]).value == "new"
    assert register_of([late, early]).value == "new"
    assert register_of([late, early]).stamp == (5, 1, "dev-a")


def test_the_device_id_breaks_a_tie_of_equal_clocks() -> None:
    reg = register_of([("from-b", (5, 0, "dev-b")), ("from-a", (5, 0, "dev-a"))])
    assert reg.value == "from-b"


def test_two_values_under_one_stamp_settle_on_the_same_value_in_either_order() -> None:
    stamp = (7, 0, "dev-a")
    one, two = register_of([("x", stamp), (["y"], stamp)]), register_of([(["y"], stamp), ("x", stamp)])
    assert one.to_plain() == two.to_plain() == {"stamp": [7, 0, "dev-a"], "value": ["y"]}


def test_none_is_a_value_and_an_empty_register_is_told_apart_by_its_stamp() -> None:
    empty: LWWRegister[Any] = LWWRegister()
    cleared = register_of([("awaiting_parts", (1, 0, "d")), (None, (2, 0, "d"))])
    assert empty.to_plain() == {"stamp": None, "value": None}
    assert cleared.value is None and cleared.stamp == (2, 0, "d")
    assert empty.merge(cleared) and empty == cleared


def test_a_write_older_than_the_current_one_changes_nothing_and_says_so() -> None:
    reg = register_of([("new", (9, 0, "d"))])
    assert reg.apply("stale", (3, 0, "d")) is False
    assert reg.value == "new"


@pytest.mark.parametrize(
    "stamp",
    [(1, 0), (1, 0, "d", 4), (-1, 0, "d"), (1, -1, "d"), (1, 0, ""), (1.0, 0, "d"), (True, 0, "d"), "1,0,d"],
)
def test_a_malformed_stamp_is_refused_with_a_clock_error_naming_it(stamp: Any) -> None:
    reg: LWWRegister[Any] = LWWRegister()
    with pytest.raises(ClockError, match="is not a stamp") as err:
        reg.apply("v", stamp)
    assert repr(stamp) in str(err.value)
    assert reg.stamp is None


def test_a_stamp_given_as_a_list_is_taken_as_the_tuple() -> None:
    assert check_stamp([3, 1, "d"]) == (3, 1, "d")


def test_map_fields_merge_on_their_own() -> None:
    kiosk = map_of([("unit", "3-201", (1, 0, "k")), ("urgency", "P3", (4, 0, "k"))])
    staff = map_of([("unit", "3-210", (2, 0, "s")), ("urgency", "P2", (3, 0, "s"))])
    kiosk.merge(staff)
    assert kiosk.items() == [("unit", "3-210"), ("urgency", "P3")]
    assert kiosk.stamp("unit") == (2, 0, "s") and kiosk.stamp("category") is None
    assert kiosk.get("category", "other") == "other"
    assert list(kiosk) == ["unit", "urgency"] and len(kiosk) == 2 and "unit" in kiosk


def test_merging_does_not_share_registers_with_the_other_replica() -> None:
    mine: LWWMap[str] = LWWMap()
    theirs = map_of([("unit", "1", (1, 0, "a"))])
    mine.merge(theirs)
    theirs.set("unit", "2", (2, 0, "a"))
    assert mine.get("unit") == "1"


@given(WRITES.flatmap(lambda ws: st.tuples(st.just(ws), reordered_with_duplicates(ws))))
def test_register_state_is_the_same_for_any_order_and_duplication_of_writes(case: Any) -> None:
    writes, delivered = case
    assert register_of(delivered).to_plain() == register_of(writes).to_plain()


@given(st.lists(st.tuples(VALUES, STAMPS), min_size=1, max_size=12))
def test_register_keeps_the_write_with_the_highest_stamp_then_highest_value_key(writes: Any) -> None:
    top = max(stamp for _, stamp in writes)
    expected = max((v for v, s in writes if s == top), key=value_key)
    reg = register_of(writes)
    assert reg.stamp == top and value_key(reg.value) == value_key(expected)


@given(FIELD_WRITES.flatmap(lambda ws: st.tuples(st.just(ws), reordered_with_duplicates(ws))))
def test_map_state_is_the_same_for_any_order_and_duplication_of_writes(case: Any) -> None:
    writes, delivered = case
    assert map_of(delivered).to_plain() == map_of(writes).to_plain()


@given(WRITES, WRITES, WRITES)
def test_register_merge_is_commutative_associative_and_idempotent(wa: Any, wb: Any, wc: Any) -> None:
    a, b, c = register_of(wa), register_of(wb), register_of(wc)
    ab, ba = a.copy(), b.copy()
    ab.merge(b)
    ba.merge(a)
    assert ab.to_plain() == ba.to_plain()
    left, right, bc = ab.copy(), a.copy(), b.copy()
    left.merge(c)
    bc.merge(c)
    right.merge(bc)
    assert left.to_plain() == right.to_plain()
    twice = a.copy()
    assert twice.merge(a) is False and twice.to_plain() == a.to_plain()


@given(FIELD_WRITES, FIELD_WRITES, FIELD_WRITES)
def test_map_merge_is_commutative_associative_and_idempotent(wa: Any, wb: Any, wc: Any) -> None:
    a, b, c = map_of(wa), map_of(wb), map_of(wc)
    ab, ba = a.copy(), b.copy()
    ab.merge(b)
    ba.merge(a)
    assert ab.to_plain() == ba.to_plain()
    left, right, bc = ab.copy(), a.copy(), b.copy()
    left.merge(c)
    bc.merge(c)
    right.merge(bc)
    assert left.to_plain() == right.to_plain()
    twice = a.copy()
    assert twice.merge(a) is False and twice.to_plain() == a.to_plain()


@given(PLAIN, PLAIN)
def test_value_key_orders_plain_values_totally_and_ties_only_equal_values(a: Any, b: Any) -> None:
    ka, kb = value_key(a), value_key(b)
    assert (ka < kb) + (ka == kb) + (ka > kb) == 1
    if ka == kb:
        assert a == b


def test_plain_turns_tuples_into_lists_and_sorts_dict_keys() -> None:
    out = plain({"b": (1, (2, 3)), "a": None})
    assert out == {"a": None, "b": [1, [2, 3]]} and list(out) == ["a", "b"]
