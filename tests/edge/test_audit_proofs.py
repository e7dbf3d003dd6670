"""Batched proofs for sync answers (``sync_server.audit.proofs``): the same proofs as one at a time, fewer reads."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crdt.merkle import MerkleLog, leaf_hash, verify_inclusion
from edge.errors import InputError
from sync_server.audit.log import SqliteNodeStore
from sync_server.audit.proofs import BatchProofs, leaf_indices

N = 300


def op_hash(i: int) -> bytes:
    return hashlib.sha256(b"op %d" % i).digest()


@pytest.fixture(scope="module")
def tree() -> tuple[sqlite3.Connection, MerkleLog]:
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    conn.execute("CREATE TABLE audit_nodes (level INTEGER, idx INTEGER, hash BLOB, PRIMARY KEY (level, idx))")
    conn.execute("CREATE TABLE audit_tree (id INTEGER PRIMARY KEY, size INTEGER NOT NULL)")
    conn.execute("INSERT INTO audit_tree VALUES (1, 0)")
    conn.execute("CREATE TABLE ops (idx INTEGER PRIMARY KEY, hash BLOB UNIQUE)")
    conn.executemany("INSERT INTO ops VALUES (?, ?)", [(i + 1, op_hash(i)) for i in range(N)])
    log = MerkleLog(SqliteNodeStore(conn))
    log.append_many([leaf_hash(op_hash(i)) for i in range(N)])
    return conn, log


@given(
    size=st.integers(1, N),
    picks=st.lists(st.integers(0, N - 1), max_size=40),
    start=st.integers(0, N - 1),
    run=st.integers(0, 60),
)
def test_a_batch_of_inclusion_proofs_equals_the_proofs_made_one_by_one_and_verifies(
    tree: tuple[sqlite3.Connection, MerkleLog], size: int, picks: list[int], start: int, run: int
) -> None:
    conn, log = tree
    indices = [i for i in picks + list(range(start, start + run)) if i < size]  # scattered and neighbours
    got = BatchProofs(conn).inclusion(indices, size)
    assert got == [log.inclusion_proof(i, size) for i in indices]
    root = log.root(size)
    for i, proof in zip(indices, got, strict=True):
        verify_inclusion(leaf_hash(op_hash(i)), i, size, proof, root)


@given(old=st.integers(0, N), new=st.integers(0, N))
def test_consistency_proofs_equal_the_logs_own(tree: tuple[sqlite3.Connection, MerkleLog], old: int, new: int) -> None:
    conn, log = tree
    if old > new:
        with pytest.raises(InputError):
            BatchProofs(conn).consistency(old, new)
    else:
        assert BatchProofs(conn).consistency(old, new) == log.consistency_proof(old, new)


def test_leaf_indices_are_found_in_chunks_and_unknown_or_later_ops_are_none(
    tree: tuple[sqlite3.Connection, MerkleLog],
) -> None:
    conn, _ = tree
    hashes = [op_hash(i) for i in range(N)] + [b"\x00" * 32, op_hash(7)]
    assert leaf_indices(conn, hashes, N) == [*range(N), None, 7]
    assert leaf_indices(conn, [op_hash(5), op_hash(250)], 200) == [5, None]


def test_an_index_beyond_the_size_is_refused_by_name(tree: tuple[sqlite3.Connection, MerkleLog]) -> None:
    conn, _ = tree
    with pytest.raises(InputError, match="10"):
        BatchProofs(conn).inclusion([10], 10)
