"""Many Merkle proofs at once from the SQLite node store: what a sync answer needs for a pushed batch.

A sync answer carries an inclusion proof for every pushed op (up to thousands), and the ops of one push sit
next to each other in the log, so their proofs share most of their hashes. ``BatchProofs`` reads the hashes
around a range of leaves with one query per tree level and remembers every hash it read, so a batch of
``k`` neighbouring proofs costs about ``log2 n`` queries instead of ``k·log2 n``. ``leaf_indices`` looks a
batch of op hashes up (``edge.reads.indices_of``). Reads only: it never writes the store.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from crdt.errors import ProofError
from crdt.merkle import MerkleLog
from edge.errors import InputError
from edge.reads import indices_of

__all__ = ["BatchProofs", "leaf_indices"]

PREFETCH_SPREAD = 8
"""Prefetch a range of leaves only when it is at most this many times the number of leaves asked for."""


def leaf_indices(conn: sqlite3.Connection, op_hashes: Sequence[bytes], size: int) -> list[int | None]:
    """The leaf index (``ops.idx - 1``) of each op hash, ``None`` for an op not among the first ``size`` leaves."""
    found = indices_of(conn, op_hashes)
    out: list[int | None] = []
    for h in op_hashes:
        idx = found.get(h)
        out.append(idx - 1 if idx is not None and idx <= size else None)
    return out


class _ReadThrough:
    """A read-only ``NodeStore`` over the ``audit_nodes`` table that remembers every hash it read."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.memo: dict[tuple[int, int], bytes | None] = {}
        self._size = int(conn.execute("SELECT size FROM audit_tree WHERE id=1").fetchone()[0])

    def get(self, level: int, index: int) -> bytes | None:
        key = (level, index)
        if key not in self.memo:
            row = self.conn.execute("SELECT hash FROM audit_nodes WHERE level=? AND idx=?", key).fetchone()
            self.memo[key] = bytes(row[0]) if row else None
        return self.memo[key]

    def prefetch(self, lo: int, hi: int) -> None:
        """Read, per level, every node over leaves ``[lo, hi)`` and their neighbours (siblings in proofs)."""
        for level in range(max(1, self._size.bit_length())):
            first, last = max(0, (lo >> level) - 1), (max(lo, hi - 1) >> level) + 1
            rows = self.conn.execute(
                "SELECT idx, hash FROM audit_nodes WHERE level=? AND idx BETWEEN ? AND ?", (level, first, last)
            )
            for idx, h in rows:
                self.memo[(level, int(idx))] = bytes(h)

    def put_many(self, items: list[tuple[int, int, bytes]]) -> None:
        raise InputError("BatchProofs reads the audit tree; it does not write it")

    def size(self) -> int:
        return self._size

    def set_size(self, n: int) -> None:
        raise InputError("BatchProofs reads the audit tree; it does not write it")


class BatchProofs:
    """Inclusion and consistency proofs of the audit tree in ``conn``, sharing the hashes they read.

    Use one instance for one answer (it reads the tree as it is when created, and keeps what it read).
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._nodes = _ReadThrough(conn)
        self._log = MerkleLog(self._nodes)

    @property
    def size(self) -> int:
        """The tree's size when this batch began."""
        return self._nodes.size()

    def inclusion(self, indices: Sequence[int], size: int) -> list[list[bytes]]:
        """The inclusion proof of each leaf index in the tree of ``size`` leaves.

        Raises:
            InputError: an index or size out of range.
        """
        if indices:
            lo, hi = min(indices), max(indices) + 1
            if hi - lo <= PREFETCH_SPREAD * len(indices) + 64:
                self._nodes.prefetch(lo, hi)
        try:
            return [self._log.inclusion_proof(i, size) for i in indices]
        except ProofError as exc:
            raise InputError(str(exc)) from None

    def consistency(self, old: int, new: int) -> list[bytes]:
        """The consistency proof from ``old`` to ``new`` leaves.

        Raises:
            InputError: a size out of range.
        """
        try:
            return self._log.consistency_proof(old, new)
        except ProofError as exc:
            raise InputError(str(exc)) from None
