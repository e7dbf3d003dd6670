"""RFC 9162 Merkle trees: hashing, proofs, verifiers, and an append-only log over a node store (``docs/audit.md``).

Hashing (RFC 9162 §2.1.1): a leaf is ``SHA-256(0x00 ‖ data)``, an interior node ``SHA-256(0x01 ‖ left ‖
right)``, the empty tree ``SHA-256("")``. A tree of ``n > 1`` leaves splits at ``k``, the largest power of
two below ``n``.

Three layers:

* ``root``, ``inclusion_proof`` and ``consistency_proof`` compute MTH, PATH and PROOF literally as RFC 9162
  §2.1 defines them, from a list of leaf hashes. They cost O(n) per call and serve as the reference.
* ``verify_inclusion`` and ``verify_consistency`` follow the verification algorithms of RFC 9162 §2.1.3.2
  and §2.1.4.2. They return ``True`` or raise ``ProofError`` saying what failed.
* ``MerkleLog`` keeps the hash of every complete (perfect) subtree in a ``NodeStore``. Appending a leaf
  writes the leaf and the subtrees it completes (O(log n) hashes, none read back). Roots and proofs for
  any size up to the current one take O(log n) store reads and at most O(log n) hashes.

Node ``(level, index)`` is the perfect subtree of ``2**level`` leaves starting at leaf
``index * 2**level``; level 0 holds the leaf hashes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol

from .errors import ProofError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MemoryNodeStore",
    "MerkleLog",
    "NodeStore",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """The RFC 9162 hash of a leaf: ``SHA-256(0x00 ‖ data)``."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The RFC 9162 hash of an interior node: ``SHA-256(0x01 ‖ left ‖ right)``."""
    return _sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (for ``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


# --- reference implementation: RFC 9162 §2.1 definitions over a list of leaf hashes -------------------


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of RFC 9162 §2.1.1 for a list of leaf hashes (the empty list gives ``EMPTY_ROOT``)."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = _split(n)
    return node_hash(root(leaf_hashes[:k]), root(leaf_hashes[k:]))


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(index, D[n]) of RFC 9162 §2.1.3.1: the inclusion proof of leaf ``index`` in the whole list."""
    n = len(leaf_hashes)
    if not 0 <= index < n:
        raise ProofError(f"cannot prove inclusion of leaf {index} in a tree of size {n}: index out of range")
    return _path(index, leaf_hashes)


def _path(m: int, d: Sequence[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return _path(m, d[:k]) + [root(d[k:])]
    return _path(m - k, d[k:]) + [root(d[:k])]


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """PROOF(old_size, D[n]) of RFC 9162 §2.1.4.1; empty when ``old_size`` is 0 or the whole list."""
    n = len(leaf_hashes)
    if not 0 <= old_size <= n:
        raise ProofError(f"cannot prove consistency from size {old_size} to size {n}: old size out of range")
    if old_size in (0, n):
        return []
    return _subproof(old_size, leaf_hashes, True)


def _subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [root(d)]
    k = _split(n)
    if m <= k:
        return _subproof(m, d[:k], b) + [root(d[k:])]
    return _subproof(m - k, d[k:], False) + [root(d[:k])]


# --- verifiers: RFC 9162 §2.1.3.2 and §2.1.4.2 ----------------------------------------------------------


def _check_size(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProofError(f"{what} must be an integer, got {type(value).__name__}")
    if value < 0:
        raise ProofError(f"{what} {value} is negative")
    return value


def _check_hash(value: object, what: str) -> bytes:
    if not isinstance(value, bytes):
        raise ProofError(f"{what} must be bytes, got {type(value).__name__}")
    if len(value) != HASH_SIZE:
        raise ProofError(f"{what} has {len(value)} bytes, a SHA-256 hash has {HASH_SIZE}")
    return value


def _check_proof(proof: object) -> list[bytes]:
    if isinstance(proof, (bytes, str)) or not isinstance(proof, Sequence):
        raise ProofError(f"the proof must be a list of hashes, got {type(proof).__name__}")
    for i, p in enumerate(proof):
        if type(p) is not bytes or len(p) != HASH_SIZE:
            _check_hash(p, f"proof hash {i}")
    return list(proof)


def _short(h: bytes) -> str:
    return h.hex()[:16] + "…"


def _inclusion_length(index: int, size: int) -> int:
    """The number of hashes in PATH(index, D[size])."""
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def _consistency_length(old_size: int, new_size: int) -> int:
    """The number of hashes in PROOF(old_size, D[new_size]) for ``0 < old_size < new_size``."""
    shift = (old_size & -old_size).bit_length() - 1
    inner = ((old_size - 1) ^ (new_size - 1)).bit_length()
    border = ((old_size - 1) >> inner).bit_count()
    start = 0 if old_size == 1 << shift else 1
    return start + inner - shift + border


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> bool:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` leaves whose root is ``root``.

    Follows RFC 9162 §2.1.3.2. An inclusion proof binds the leaf to ``root``; that ``root`` is the tree
    of ``size`` leaves is what the signed checkpoint vouches for (for a leaf in the left part of a tree
    the proof has the same shape for many sizes), so take ``size`` and ``root`` from one checkpoint.

    Returns:
        ``True``.

    Raises:
        ProofError: naming what failed (index out of range, bad hash length, wrong proof length, wrong
            root).
    """
    try:
        _verify_inclusion(leaf_hash, index, size, proof, root)
    except ProofError as exc:
        raise ProofError(f"inclusion proof of leaf {index} in tree size {size}: {exc}") from None
    return True


def _verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> None:
    index = _check_size(index, "index")
    size = _check_size(size, "tree size")
    if index >= size:
        raise ProofError(f"index {index} is out of range for tree size {size}")
    r = _check_hash(leaf_hash, "leaf hash")
    expected = _check_hash(root, "root")
    path = _check_proof(proof)
    want = _inclusion_length(index, size)
    if len(path) != want:
        raise ProofError(f"wrong proof length: expected {want} hashes, got {len(path)}")

    # RFC 9162 §2.1.3.2, steps 2 to 5.
    fn, sn = index, size - 1
    for p in path:
        if sn == 0:
            raise ProofError("the proof has more hashes than the path to the root")
        if fn & 1 or fn == sn:
            r = _sha256(b"\x01" + p + r).digest()
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = _sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the proof has fewer hashes than the path to the root")
    if r != expected:
        raise ProofError(f"wrong root: the proof leads to {_short(r)}, expected {_short(expected)}")


def verify_consistency(old_size: int, new_size: int, proof: list[bytes], old_root: bytes, new_root: bytes) -> bool:
    """Check that the tree of ``old_size`` leaves (``old_root``) is a prefix of the one of ``new_size``.

    Follows RFC 9162 §2.1.4.2 for ``0 < old_size < new_size``. The cases the RFC leaves out are settled
    as follows: equal sizes need an empty proof and equal roots; the empty tree (``old_size`` 0) needs an
    empty proof and ``old_root == EMPTY_ROOT`` and is a prefix of every tree. As for inclusion, the
    proof does not pin ``new_size`` by itself: take it and ``new_root`` from one signed checkpoint.

    Returns:
        ``True``.

    Raises:
        ProofError: naming what failed (sizes out of order, bad hash length, wrong proof length, wrong
            old or new root).
    """
    try:
        _verify_consistency(old_size, new_size, proof, old_root, new_root)
    except ProofError as exc:
        raise ProofError(f"consistency proof from tree size {old_size} to {new_size}: {exc}") from None
    return True


def _verify_consistency(old_size: int, new_size: int, proof: list[bytes], old_root: bytes, new_root: bytes) -> None:
    old_size = _check_size(old_size, "old size")
    new_size = _check_size(new_size, "new size")
    if old_size > new_size:
        raise ProofError("the old size is larger than the new size")
    first = _check_hash(old_root, "old root")
    second = _check_hash(new_root, "new root")
    path = _check_proof(proof)
    if old_size == new_size or old_size == 0:
        if path:
            raise ProofError(f"wrong proof length: expected 0 hashes, got {len(path)}")
        if old_size == new_size and first != second:
            raise ProofError(f"wrong root: two roots for one size, {_short(first)} and {_short(second)}")
        if old_size == 0 and first != EMPTY_ROOT:
            raise ProofError(f"wrong old root: {_short(first)} is not the empty-tree hash")
        return
    want = _consistency_length(old_size, new_size)
    if len(path) != want:
        raise ProofError(f"wrong proof length: expected {want} hashes, got {len(path)}")

    # RFC 9162 §2.1.4.2, steps 2 to 7 (step 1, an empty path, is caught by the length check).
    if old_size & (old_size - 1) == 0:
        path.insert(0, first)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the proof has more hashes than the path to the root")
        if fn & 1 or fn == sn:
            fr = _sha256(b"\x01" + c + fr).digest()
            sr = _sha256(b"\x01" + c + sr).digest()
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = _sha256(b"\x01" + sr + c).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the proof has fewer hashes than the path to the root")
    if fr != first:
        raise ProofError(f"wrong old root: the proof leads to {_short(fr)}, expected {_short(first)}")
    if sr != second:
        raise ProofError(f"wrong new root: the proof leads to {_short(sr)}, expected {_short(second)}")


# --- the log over a node store ------------------------------------------------------------------------


class NodeStore(Protocol):
    """Where a ``MerkleLog`` keeps its hashes: one hash per complete subtree, plus the tree size.

    ``put_many`` must insert or replace (a rolled-back append may have left nodes past ``size()`` that
    a later append overwrites). A durable store should commit ``put_many`` and the ``set_size`` that
    follows it in one transaction.
    """

    def get(self, level: int, index: int) -> bytes | None:
        """The hash of node ``(level, index)``, or ``None`` if it was never stored."""
        ...

    def put_many(self, items: list[tuple[int, int, bytes]]) -> None:
        """Store ``(level, index, hash)`` triples, replacing what was there."""
        ...

    def size(self) -> int:
        """The number of leaves in the log."""
        ...

    def set_size(self, n: int) -> None:
        """Record that the log now has ``n`` leaves."""
        ...


class MemoryNodeStore:
    """A ``NodeStore`` in memory: a dict from level to the list of that level's node hashes."""

    def __init__(self) -> None:
        self._levels: dict[int, list[bytes | None]] = {}
        self._size = 0

    def get(self, level: int, index: int) -> bytes | None:
        """The hash of node ``(level, index)``, or ``None``."""
        nodes = self._levels.get(level)
        if nodes is None or not 0 <= index < len(nodes):
            return None
        return nodes[index]

    def put_many(self, items: list[tuple[int, int, bytes]]) -> None:
        """Store ``(level, index, hash)`` triples, replacing what was there."""
        levels = self._levels
        for level, index, value in items:
            nodes = levels.get(level)
            if nodes is None:
                nodes = levels[level] = []
            have = len(nodes)
            if index == have:
                nodes.append(value)
            elif 0 <= index < have:
                nodes[index] = value
            elif index > have:
                nodes.extend([None] * (index - have))
                nodes.append(value)
            else:
                raise ValueError(f"node ({level}, {index}) has a negative index")

    def size(self) -> int:
        """The number of leaves in the log."""
        return self._size

    def set_size(self, n: int) -> None:
        """Record the number of leaves."""
        self._size = n

    def __len__(self) -> int:
        """The number of stored node hashes."""
        return sum(len(nodes) - nodes.count(None) for nodes in self._levels.values())


class MerkleLog:
    """An append-only RFC 9162 log whose complete-subtree hashes live in a ``NodeStore``.

    One ``MerkleLog`` should be the only writer of its store. It caches the hashes of the perfect
    subtrees that make up the current tree (at most log2 n of them), so appending reads nothing; the
    cache is reloaded from the store whenever the store's size is not the one it was built for.
    """

    def __init__(self, store: NodeStore | None = None) -> None:
        self._store: NodeStore = store if store is not None else MemoryNodeStore()
        self._frontier: list[bytes] = []
        self._frontier_size = -1

    @property
    def store(self) -> NodeStore:
        """The node store behind this log."""
        return self._store

    @property
    def size(self) -> int:
        """The number of leaves in the log."""
        return self._store.size()

    # writing

    def append(self, leaf_hash: bytes) -> int:
        """Append one leaf hash (``leaf_hash(op_hash)``, not the op hash itself); return its index."""
        return self.append_many([leaf_hash])

    def append_many(self, leaf_hashes: Sequence[bytes]) -> int:
        """Append leaf hashes with one ``put_many`` and one ``set_size``; return the first one's index."""
        for i, h in enumerate(leaf_hashes):
            if type(h) is not bytes or len(h) != HASH_SIZE:
                try:
                    _check_hash(h, f"leaf hash {i}")
                except ProofError as exc:
                    raise ProofError(f"cannot append to the Merkle log: {exc}") from None
        n = self._store.size()
        first = n
        if not leaf_hashes:
            return first
        frontier = list(self._frontier_at(n))
        items: list[tuple[int, int, bytes]] = []
        put = items.append
        push = frontier.append
        pop = frontier.pop
        sha = _sha256
        for h in leaf_hashes:
            put((0, n, h))
            push(h)
            n += 1
            m = n
            level = 0
            while not m & 1:
                right = pop()
                parent = sha(b"\x01" + pop() + right).digest()
                push(parent)
                level += 1
                m >>= 1
                put((level, m - 1, parent))
        self._store.put_many(items)
        self._store.set_size(n)
        self._frontier = frontier
        self._frontier_size = n
        return first

    def _frontier_at(self, n: int) -> list[bytes]:
        if self._frontier_size != n:
            self._frontier = self._pieces(0, n)
            self._frontier_size = n
        return self._frontier

    # reading

    def _node(self, level: int, index: int) -> bytes:
        h = self._store.get(level, index)
        if h is None:
            raise ProofError(
                f"the node store has no hash for subtree ({level}, {index}) of a log of size "
                f"{self._store.size()}: the store is incomplete"
            )
        return h

    def _pieces(self, lo: int, hi: int) -> list[bytes]:
        """Hashes of the perfect subtrees that tile ``[lo, hi)``, largest first (``lo`` suitably aligned)."""
        out = []
        width = hi - lo
        for level in range(width.bit_length() - 1, -1, -1):
            if width >> level & 1:
                out.append(self._node(level, lo >> level))
                lo += 1 << level
        return out

    def _subtree(self, lo: int, hi: int) -> bytes:
        """MTH of leaves ``[lo, hi)``, a subtree as RFC 9162's recursion produces it (``hi > lo``)."""
        pieces = self._pieces(lo, hi)
        h = pieces[-1]
        for left in reversed(pieces[:-1]):
            h = node_hash(left, h)
        return h

    def _right_sibling(self, level: int, mid: int, hi: int) -> bytes:
        """MTH of ``[mid, hi)``, the right half of a split at ``mid``: one read unless it is the right edge."""
        if hi - mid == 1 << level:
            return self._node(level, mid >> level)
        return self._subtree(mid, hi)

    def _size_arg(self, size: int | None, what: str) -> int:
        current = self._store.size()
        if size is None:
            return current
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ProofError(f"Merkle log: {what} {size!r} is not a non-negative integer")
        if size > current:
            raise ProofError(f"Merkle log: {what} {size} is beyond the log's size {current}")
        return size

    def leaf(self, index: int) -> bytes:
        """The leaf hash at ``index``."""
        size = self._store.size()
        if not 0 <= index < size:
            raise ProofError(f"Merkle log: leaf {index} is out of range for log size {size}")
        return self._node(0, index)

    def root(self, size: int | None = None) -> bytes:
        """The root of the tree of the first ``size`` leaves (default: all of them)."""
        n = self._size_arg(size, "tree size")
        return EMPTY_ROOT if n == 0 else self._subtree(0, n)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[size]) of RFC 9162 §2.1.3.1, from stored subtree hashes."""
        n = self._size_arg(size, "tree size")
        if not isinstance(index, int) or not 0 <= index < n:
            raise ProofError(f"Merkle log: cannot prove leaf {index} in tree size {n}: index out of range")
        top_down: list[bytes] = []
        lo, hi = 0, n
        while hi - lo > 1:
            level = (hi - lo - 1).bit_length() - 1
            mid = lo + (1 << level)
            if index < mid:
                top_down.append(self._right_sibling(level, mid, hi))
                hi = mid
            else:
                top_down.append(self._node(level, lo >> level))
                lo = mid
        top_down.reverse()
        return top_down

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """PROOF(old_size, D[new_size]) of RFC 9162 §2.1.4.1, from stored subtree hashes.

        Empty when ``old_size`` is 0 or equals ``new_size`` (see ``verify_consistency``).
        """
        n = self._size_arg(new_size, "new size")
        if not isinstance(old_size, int) or isinstance(old_size, bool) or old_size < 0:
            raise ProofError(f"Merkle log: old size {old_size!r} is not a non-negative integer")
        if old_size > n:
            raise ProofError(f"Merkle log: old size {old_size} is larger than new size {n}")
        if old_size in (0, n):
            return []
        top_down: list[bytes] = []
        lo, hi, whole = 0, n, True
        while True:
            if old_size == hi:
                if not whole:
                    top_down.append(self._subtree(lo, hi))
                break
            level = (hi - lo - 1).bit_length() - 1
            mid = lo + (1 << level)
            if old_size <= mid:
                top_down.append(self._right_sibling(level, mid, hi))
                hi = mid
            else:
                top_down.append(self._node(level, lo >> level))
                lo = mid
                whole = False
        top_down.reverse()
        return top_down
