"""RFC 9162 Merkle log: known answers, an independent reference, and every proof of every tree up to 300."""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crdt import merkle
from crdt.errors import ProofError
from crdt.merkle import (
    EMPTY_ROOT,
    MemoryNodeStore,
    MerkleLog,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)

CT = Path(__file__).resolve().parent.parent / "fixtures" / "ct-argon2020"

# --- an independent RFC 9162 §2.1 reference, written here from the definitions --------------------


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def largest_power_of_two_below(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(data: list[bytes]) -> bytes:
    """MTH(D[n]) over leaf *data*, hashing with its own 0x00 / 0x01 prefixes."""
    if not data:
        return sha(b"")
    if len(data) == 1:
        return sha(b"\x00" + data[0])
    k = largest_power_of_two_below(len(data))
    return sha(b"\x01" + mth(data[:k]) + mth(data[k:]))


N = 300
DATA = [b"linli op %d" % i for i in range(N)]
LEAVES = [sha(b"\x00" + d) for d in DATA]


@cache
def ref_hash(lo: int, hi: int) -> bytes:
    """MTH of DATA[lo:hi], memoised so every proof of every size up to 300 stays cheap."""
    if hi - lo == 1:
        return LEAVES[lo]
    k = largest_power_of_two_below(hi - lo)
    return sha(b"\x01" + ref_hash(lo, lo + k) + ref_hash(lo + k, hi))


def ref_root(n: int) -> bytes:
    return sha(b"") if n == 0 else ref_hash(0, n)


def ref_path(m: int, lo: int, hi: int) -> list[bytes]:
    """PATH(m, D[lo:hi]) with m an absolute index."""
    if hi - lo == 1:
        return []
    k = largest_power_of_two_below(hi - lo)
    if m < lo + k:
        return ref_path(m, lo, lo + k) + [ref_hash(lo + k, hi)]
    return ref_path(m, lo + k, hi) + [ref_hash(lo, lo + k)]


def ref_subproof(m: int, lo: int, hi: int, whole: bool) -> list[bytes]:
    """SUBPROOF(m, D[lo:hi], b) with m an absolute size."""
    if m == hi:
        return [] if whole else [ref_hash(lo, hi)]
    k = largest_power_of_two_below(hi - lo)
    if m <= lo + k:
        return ref_subproof(m, lo, lo + k, whole) + [ref_hash(lo + k, hi)]
    return ref_subproof(m, lo + k, hi, False) + [ref_hash(lo, lo + k)]


def ref_consistency(m: int, n: int) -> list[bytes]:
    return [] if m in (0, n) else ref_subproof(m, 0, n, True)


def flip(h: bytes, pos: int) -> bytes:
    return h[:pos] + bytes([h[pos] ^ 0x01]) + h[pos + 1 :]


@pytest.fixture(scope="module")
def log300() -> MerkleLog:
    log = MerkleLog()
    for i, h in enumerate(LEAVES):
        assert log.append(h) == i
    return log


# --- hashing and published vectors --------------------------------------------------------------------


def test_leaf_node_and_empty_hashes_use_the_rfc_9162_prefixes() -> None:
    assert leaf_hash(b"abc") == sha(b"\x00abc")
    assert node_hash(b"L" * 32, b"R" * 32) == sha(b"\x01" + b"L" * 32 + b"R" * 32)
    assert EMPTY_ROOT == sha(b"") == merkle.root([]) == MerkleLog().root()


# Leaves and roots published with the RFC 6962 reference implementations (certificate-transparency,
# Trillian): leaf data, then the root of the first 1..8 of them.
CT_VECTOR_DATA = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    bytes(range(0x50, 0x58)),
    bytes(range(0x60, 0x70)),
]
CT_VECTOR_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_roots_of_the_published_rfc_6962_vectors_match_the_reference_the_log_and_the_test_mth() -> None:
    leaves = [leaf_hash(d) for d in CT_VECTOR_DATA]
    log = MerkleLog()
    log.append_many(leaves)
    for n, want in enumerate(CT_VECTOR_ROOTS, 1):
        assert merkle.root(leaves[:n]).hex() == want
        assert log.root(n).hex() == want
        assert mth(CT_VECTOR_DATA[:n]).hex() == want


def test_the_seven_leaf_example_tree_of_rfc_9162_has_the_proofs_the_rfc_lists() -> None:
    """RFC 9162 §2.1.5 (RFC 6962 §2.1.3): the tree of d0..d6 with its nodes named a..l."""
    d = CT_VECTOR_DATA[:7]
    a, b, c, dd, e, f = (mth([x]) for x in d[:6])
    j = mth([d[6]])
    g, h, i = mth(d[0:2]), mth(d[2:4]), mth(d[4:6])
    k, l_ = mth(d[0:4]), mth(d[4:7])
    top = mth(d)
    assert top == sha(b"\x01" + k + l_) and l_ == sha(b"\x01" + i + j) and g == sha(b"\x01" + a + b)
    leaves = [mth([x]) for x in d]
    log = MerkleLog()
    log.append_many(leaves)
    inclusion = {0: [b, h, l_], 3: [c, g, l_], 4: [f, j, k], 6: [i, k]}
    for index, want in inclusion.items():
        assert merkle.inclusion_proof(leaves, index) == want
        assert log.inclusion_proof(index, 7) == want
        assert verify_inclusion(leaves[index], index, 7, want, top)
    consistency = {3: (mth(d[:3]), [c, dd, g, l_]), 4: (k, [l_]), 6: (mth(d[:6]), [i, j, k])}
    for old, (old_root, want) in consistency.items():
        assert merkle.consistency_proof(leaves, old) == want
        assert log.consistency_proof(old, 7) == want
        assert verify_consistency(old, 7, want, old_root, top)


# --- real Certificate Transparency data (Argon 2020) ------------------------------------------------


def load_ct() -> dict[str, object]:
    sth = json.loads((CT / "sth.json").read_text())
    proof = json.loads((CT / "proof.json").read_text())
    cons = json.loads((CT / "consistency.json").read_text())
    entry = json.loads((CT / "entries.json").read_text())["entries"][0]
    return {
        "size": sth["tree_size"],
        "root": base64.b64decode(sth["sha256_root_hash"]),
        "index": proof["leaf_index"],
        "leaf": leaf_hash(base64.b64decode(entry["leaf_input"])),
        "path": [base64.b64decode(x) for x in proof["audit_path"]],
        "old_size": 3654490,
        "old_root": base64.b64decode("AuIZ5V6sDUj1vn3Y1K85oOaQ7y+FJJKtyRTl1edIKBQ="),
        "consistency": [base64.b64decode(x) for x in cons["consistency"]],
    }


CTD = load_ct()
CT_SIZE: int = CTD["size"]  # type: ignore[assignment]
CT_ROOT: bytes = CTD["root"]  # type: ignore[assignment]
CT_INDEX: int = CTD["index"]  # type: ignore[assignment]
CT_LEAF: bytes = CTD["leaf"]  # type: ignore[assignment]
CT_PATH: list[bytes] = CTD["path"]  # type: ignore[assignment]
CT_OLD: int = CTD["old_size"]  # type: ignore[assignment]
CT_OLD_ROOT: bytes = CTD["old_root"]  # type: ignore[assignment]
CT_CONS: list[bytes] = CTD["consistency"]  # type: ignore[assignment]


def test_ct_inclusion_of_leaf_10000_in_961984013_leaves_verifies() -> None:
    assert (CT_INDEX, CT_SIZE, len(CT_PATH)) == (10000, 961984013, 30)
    assert verify_inclusion(CT_LEAF, CT_INDEX, CT_SIZE, CT_PATH, CT_ROOT) is True


def test_ct_consistency_from_3654490_to_961984013_verifies() -> None:
    assert verify_consistency(CT_OLD, CT_SIZE, CT_CONS, CT_OLD_ROOT, CT_ROOT) is True


def test_ct_inclusion_fails_after_flipping_any_byte_of_any_proof_hash() -> None:
    for e in range(len(CT_PATH)):
        for pos in range(32):
            path = list(CT_PATH)
            path[e] = flip(path[e], pos)
            with pytest.raises(ProofError, match="wrong root"):
                verify_inclusion(CT_LEAF, CT_INDEX, CT_SIZE, path, CT_ROOT)


def test_ct_consistency_fails_after_flipping_any_byte_of_any_proof_hash() -> None:
    for e in range(len(CT_CONS)):
        for pos in range(32):
            path = list(CT_CONS)
            path[e] = flip(path[e], pos)
            with pytest.raises(ProofError, match="wrong (old|new) root"):
                verify_consistency(CT_OLD, CT_SIZE, path, CT_OLD_ROOT, CT_ROOT)


def test_ct_inclusion_fails_for_a_changed_index_leaf_or_root() -> None:
    for index in (CT_INDEX - 1, CT_INDEX + 1):
        with pytest.raises(ProofError, match="wrong root"):
            verify_inclusion(CT_LEAF, index, CT_SIZE, CT_PATH, CT_ROOT)
    for pos in range(32):
        with pytest.raises(ProofError, match="wrong root"):
            verify_inclusion(CT_LEAF, CT_INDEX, CT_SIZE, CT_PATH, flip(CT_ROOT, pos))
        with pytest.raises(ProofError, match="wrong root"):
            verify_inclusion(flip(CT_LEAF, pos), CT_INDEX, CT_SIZE, CT_PATH, CT_ROOT)


def test_ct_consistency_fails_for_a_changed_old_size_or_either_root() -> None:
    for old in (CT_OLD - 1, CT_OLD + 1):
        with pytest.raises(ProofError, match="wrong proof length"):
            verify_consistency(old, CT_SIZE, CT_CONS, CT_OLD_ROOT, CT_ROOT)
    for pos in range(32):
        with pytest.raises(ProofError, match="wrong old root"):
            verify_consistency(CT_OLD, CT_SIZE, CT_CONS, flip(CT_OLD_ROOT, pos), CT_ROOT)
        with pytest.raises(ProofError, match="wrong new root"):
            verify_consistency(CT_OLD, CT_SIZE, CT_CONS, CT_OLD_ROOT, flip(CT_ROOT, pos))


def test_ct_proofs_fail_for_a_tree_size_that_changes_their_shape() -> None:
    for size in (CT_INDEX + 1, 1 << 14, 1 << 29, (1 << 30) + 1):
        with pytest.raises(ProofError, match="wrong (proof length|root)"):
            verify_inclusion(CT_LEAF, CT_INDEX, size, CT_PATH, CT_ROOT)
    for size in (CT_OLD + 1, 1 << 29, (1 << 30) + 1):
        with pytest.raises(ProofError, match="wrong (proof length|new root|old root)"):
            verify_consistency(CT_OLD, size, CT_CONS, CT_OLD_ROOT, CT_ROOT)


def test_ct_proofs_do_not_bind_the_new_tree_size_by_themselves_the_signed_checkpoint_does() -> None:
    """Documents an RFC 9162 property the audit code must respect.

    For leaf 10000, every size in (2^29, 2^30] gives the same path shape (30 steps whose last sibling
    is the opaque hash of leaves 2^29..size), so the same hashes lead to the same root and every RFC
    9162 verifier accepts the pairing of a neighbouring size with this root. Likewise for the new
    size of the consistency proof. Only a signature over (size, root), the checkpoint, ties a root to
    its size, so callers must take size and root from one verified checkpoint.
    """
    for size in (CT_SIZE - 1, CT_SIZE + 1, (1 << 29) + 1, 1 << 30):
        assert verify_inclusion(CT_LEAF, CT_INDEX, size, CT_PATH, CT_ROOT)
        assert verify_consistency(CT_OLD, size, CT_CONS, CT_OLD_ROOT, CT_ROOT)


def test_ct_proofs_fail_when_truncated_or_extended() -> None:
    with pytest.raises(ProofError, match="wrong proof length: expected 30 hashes, got 29"):
        verify_inclusion(CT_LEAF, CT_INDEX, CT_SIZE, CT_PATH[:-1], CT_ROOT)
    with pytest.raises(ProofError, match="wrong proof length: expected 30 hashes, got 31"):
        verify_inclusion(CT_LEAF, CT_INDEX, CT_SIZE, CT_PATH + [CT_ROOT], CT_ROOT)
    with pytest.raises(ProofError, match="wrong proof length"):
        verify_consistency(CT_OLD, CT_SIZE, CT_CONS[1:], CT_OLD_ROOT, CT_ROOT)


# --- named failures ------------------------------------------------------------------------------------


def test_inclusion_failures_name_their_cause() -> None:
    root = ref_root(5)
    with pytest.raises(ProofError, match="index 5 is out of range for tree size 5"):
        verify_inclusion(LEAVES[0], 5, 5, ref_path(0, 0, 5), root)
    with pytest.raises(ProofError, match="index -1 is negative"):
        verify_inclusion(LEAVES[0], -1, 5, ref_path(0, 0, 5), root)
    with pytest.raises(ProofError, match="leaf hash has 31 bytes"):
        verify_inclusion(LEAVES[0][:31], 0, 5, ref_path(0, 0, 5), root)
    with pytest.raises(ProofError, match="root has 33 bytes"):
        verify_inclusion(LEAVES[0], 0, 5, ref_path(0, 0, 5), root + b"\x00")
    with pytest.raises(ProofError, match="proof hash 1 has 0 bytes"):
        verify_inclusion(LEAVES[0], 0, 5, [ref_path(0, 0, 5)[0], b"", b""], root)
    with pytest.raises(ProofError, match="must be a list of hashes, got bytes"):
        verify_inclusion(LEAVES[0], 0, 5, b"".join(ref_path(0, 0, 5)), root)  # type: ignore[arg-type]
    with pytest.raises(ProofError, match="index must be an integer, got bool"):
        verify_inclusion(LEAVES[0], True, 5, ref_path(0, 0, 5), root)
    with pytest.raises(ProofError, match="proof hash 0 must be bytes, got str"):
        verify_inclusion(LEAVES[0], 0, 5, ["x" * 32, *ref_path(0, 0, 5)[1:]], root)  # type: ignore[list-item]


def test_consistency_failures_name_their_cause() -> None:
    r3, r5 = ref_root(3), ref_root(5)
    with pytest.raises(ProofError, match="old size is larger than the new size"):
        verify_consistency(5, 3, [], r5, r3)
    with pytest.raises(ProofError, match="expected 0 hashes, got 1"):
        verify_consistency(5, 5, [r5], r5, r5)
    with pytest.raises(ProofError, match="two roots for one size"):
        verify_consistency(5, 5, [], r5, r3)
    with pytest.raises(ProofError, match="not the empty-tree hash"):
        verify_consistency(0, 5, [], r3, r5)
    with pytest.raises(ProofError, match="expected 0 hashes"):
        verify_consistency(0, 5, [r3], EMPTY_ROOT, r5)
    with pytest.raises(ProofError, match="new root has 0 bytes"):
        verify_consistency(3, 5, ref_consistency(3, 5), r3, b"")
    assert verify_consistency(0, 5, [], EMPTY_ROOT, r5)
    assert verify_consistency(5, 5, [], r5, r5)
    assert verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)


# --- every proof of every tree up to 300 leaves -----------------------------------------------------


def test_log_roots_equal_the_reference_after_every_single_append() -> None:
    log = MerkleLog()
    assert log.root() == ref_root(0)
    for n, h in enumerate(LEAVES, 1):
        log.append(h)
        assert log.root() == ref_root(n)


def test_every_inclusion_proof_up_to_300_leaves_equals_the_reference_and_verifies(log300: MerkleLog) -> None:
    for n in range(1, N + 1):
        root = ref_root(n)
        assert log300.root(n) == root
        for i in range(n):
            proof = log300.inclusion_proof(i, n)
            assert proof == ref_path(i, 0, n), (i, n)
            assert verify_inclusion(LEAVES[i], i, n, proof, root)


def test_every_consistency_proof_up_to_300_leaves_equals_the_reference_and_verifies(log300: MerkleLog) -> None:
    for n in range(0, N + 1):
        new_root = ref_root(n)
        for m in range(0, n + 1):
            proof = log300.consistency_proof(m, n)
            assert proof == ref_consistency(m, n), (m, n)
            assert verify_consistency(m, n, proof, ref_root(m), new_root)


def test_the_module_reference_functions_equal_the_test_reference_for_every_proof_up_to_64_leaves() -> None:
    for n in range(0, 65):
        leaves = LEAVES[:n]
        assert merkle.root(leaves) == ref_root(n)
        for i in range(n):
            assert merkle.inclusion_proof(leaves, i) == ref_path(i, 0, n)
        for m in range(0, n + 1):
            assert merkle.consistency_proof(leaves, m) == ref_consistency(m, n)


@given(st.integers(1, N).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1), st.integers(0, n))))
def test_the_module_reference_functions_equal_the_test_reference_up_to_300_leaves(
    case: tuple[int, int, int],
) -> None:
    n, i, m = case
    assert merkle.inclusion_proof(LEAVES[:n], i) == ref_path(i, 0, n)
    assert merkle.consistency_proof(LEAVES[:n], m) == ref_consistency(m, n)


def inclusion_tamperings(i: int, n: int, proof: list[bytes]) -> list[tuple[bytes, int, int, list[bytes], bytes]]:
    """Single changes to a valid (leaf, index, size, proof, root) that must each be rejected."""
    root = ref_root(n)
    out = []
    for e in range(len(proof)):
        bad = list(proof)
        bad[e] = flip(bad[e], (e * 11 + i) % 32)
        out.append((LEAVES[i], i, n, bad, root))
    for j in (i - 1, i + 1):
        if 0 <= j < n:
            out.append((LEAVES[i], j, n, proof, root))
    for size in (n - 1, n + 1):
        if i < size <= N:
            out.append((LEAVES[i], i, size, proof, ref_root(size)))
    out.append((LEAVES[i], i, n, proof, flip(root, i % 32)))
    out.append((flip(LEAVES[i], n % 32), i, n, proof, root))
    out.append((LEAVES[i], i, n, proof + [root], root))
    if proof:
        out.append((LEAVES[i], i, n, proof[:-1], root))
    return out


def consistency_tamperings(m: int, n: int, proof: list[bytes]) -> list[tuple[int, int, list[bytes], bytes, bytes]]:
    """Single changes to a valid (old, new, proof, old root, new root) that must each be rejected."""
    out = []
    for e in range(len(proof)):
        bad = list(proof)
        bad[e] = flip(bad[e], (e * 7 + m) % 32)
        out.append((m, n, bad, ref_root(m), ref_root(n)))
    for old in (m - 1, m + 1):
        if 0 <= old <= n:
            out.append((old, n, proof, ref_root(old), ref_root(n)))
    for new in (n - 1, n + 1):
        if m <= new <= N:
            out.append((m, new, proof, ref_root(m), ref_root(new)))
    out.append((m, n, proof, flip(ref_root(m), n % 32), ref_root(n)))
    out.append((m, n, proof, ref_root(m), flip(ref_root(n), m % 32)))
    out.append((m, n, proof + [ref_root(n)], ref_root(m), ref_root(n)))
    return out


def test_any_single_change_to_an_inclusion_proof_up_to_64_leaves_is_rejected(log300: MerkleLog) -> None:
    for n in range(1, 65):
        for i in range(n):
            for case in inclusion_tamperings(i, n, log300.inclusion_proof(i, n)):
                with pytest.raises(ProofError):
                    verify_inclusion(*case)


def test_any_single_change_to_a_consistency_proof_up_to_64_leaves_is_rejected(log300: MerkleLog) -> None:
    for n in range(1, 65):
        for m in range(1, n):
            for case in consistency_tamperings(m, n, log300.consistency_proof(m, n)):
                with pytest.raises(ProofError):
                    verify_consistency(*case)


@given(
    st.integers(1, N).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))),
    st.integers(0, 31),
    st.integers(0, 7),
)
def test_flipping_any_bit_of_an_inclusion_proof_up_to_300_leaves_is_rejected(
    log300: MerkleLog, case: tuple[int, int], pos: int, bit: int
) -> None:
    n, i = case
    proof = log300.inclusion_proof(i, n)
    for e in range(len(proof)):
        bad = list(proof)
        bad[e] = bad[e][:pos] + bytes([bad[e][pos] ^ (1 << bit)]) + bad[e][pos + 1 :]
        with pytest.raises(ProofError, match="wrong root"):
            verify_inclusion(LEAVES[i], i, n, bad, ref_root(n))
    for tampered in inclusion_tamperings(i, n, proof):
        with pytest.raises(ProofError):
            verify_inclusion(*tampered)


@given(
    st.integers(2, N).flatmap(lambda n: st.tuples(st.just(n), st.integers(1, n - 1))),
    st.integers(0, 31),
    st.integers(0, 7),
)
def test_flipping_any_bit_of_a_consistency_proof_up_to_300_leaves_is_rejected(
    log300: MerkleLog, case: tuple[int, int], pos: int, bit: int
) -> None:
    n, m = case
    proof = log300.consistency_proof(m, n)
    for e in range(len(proof)):
        bad = list(proof)
        bad[e] = bad[e][:pos] + bytes([bad[e][pos] ^ (1 << bit)]) + bad[e][pos + 1 :]
        with pytest.raises(ProofError, match="wrong (old|new) root"):
            verify_consistency(m, n, bad, ref_root(m), ref_root(n))
    for tampered in consistency_tamperings(m, n, proof):
        with pytest.raises(ProofError):
            verify_consistency(*tampered)


# --- the log over its store -----------------------------------------------------------------------------


class CountingStore(MemoryNodeStore):
    def __init__(self) -> None:
        super().__init__()
        self.gets = 0
        self.put_calls = 0

    def get(self, level: int, index: int) -> bytes | None:
        self.gets += 1
        return super().get(level, index)

    def put_many(self, items: list[tuple[int, int, bytes]]) -> None:
        self.put_calls += 1
        super().put_many(items)


def test_append_many_writes_with_one_put_many_and_reads_nothing_once_the_frontier_is_known() -> None:
    store = CountingStore()
    log = MerkleLog(store)
    assert log.append_many(LEAVES[:137]) == 0
    assert log.append_many(LEAVES[137:]) == 137
    assert log.append_many([]) == N
    assert (store.put_calls, store.gets, log.size) == (2, 0, N)
    assert len(store) == 2 * N - N.bit_count()  # every complete subtree: 300 + 150 + 75 + ... + 1
    assert log.root() == ref_root(N)


def test_batched_and_single_appends_build_identical_stores() -> None:
    one, many = MemoryNodeStore(), MemoryNodeStore()
    log_one, log_many = MerkleLog(one), MerkleLog(many)
    for h in LEAVES:
        log_one.append(h)
    for start in range(0, N, 37):
        log_many.append_many(LEAVES[start : start + 37])
    for level in range(10):
        for index in range(N + 1):
            assert one.get(level, index) == many.get(level, index)


def test_a_log_reopened_over_an_existing_store_continues_where_it_stopped() -> None:
    store = MemoryNodeStore()
    MerkleLog(store).append_many(LEAVES[:201])
    reopened = MerkleLog(store)
    reopened.append_many(LEAVES[201:])
    assert reopened.root() == ref_root(N)
    assert reopened.inclusion_proof(250) == ref_path(250, 0, N)


def test_a_rolled_back_store_is_noticed_and_the_log_continues_from_the_stored_size() -> None:
    store = MemoryNodeStore()
    log = MerkleLog(store)
    log.append_many(LEAVES[:100])
    log.append_many([sha(b"rolled back %d" % i) for i in range(13)])
    store.set_size(100)  # the transaction that wrote those 13 leaves was rolled back
    log.append_many(LEAVES[100:])
    assert log.root() == ref_root(N)
    assert log.consistency_proof(100) == ref_consistency(100, N)


def test_proofs_read_a_logarithmic_number_of_stored_nodes() -> None:
    store = CountingStore()
    log = MerkleLog(store)
    n = 5000
    log.append_many([sha(b"%d" % i) for i in range(n)])
    worst = 0
    for i in range(0, n, 97):
        store.gets = 0
        log.inclusion_proof(i)
        log.consistency_proof(i + 1)
        worst = max(worst, store.gets)
    assert worst <= 4 * n.bit_length()


def test_log_requests_beyond_its_size_or_over_a_broken_store_raise_named_errors() -> None:
    store = MemoryNodeStore()
    log = MerkleLog(store)
    log.append_many(LEAVES[:10])
    with pytest.raises(ProofError, match="tree size 11 is beyond the log's size 10"):
        log.root(11)
    with pytest.raises(ProofError, match="index out of range"):
        log.inclusion_proof(10, 10)
    with pytest.raises(ProofError, match="old size 7 is larger than new size 5"):
        log.consistency_proof(7, 5)
    with pytest.raises(ProofError, match="leaf 10 is out of range"):
        log.leaf(10)
    with pytest.raises(ProofError, match="leaf hash 1 has 31 bytes"):
        log.append_many([LEAVES[0], LEAVES[1][:31]])
    assert log.size == 10 and log.leaf(9) == LEAVES[9]
    store.set_size(16)  # claims leaves that were never written
    with pytest.raises(ProofError, match="the store is incomplete"):
        log.root()


# --- edges the mutation run found untested --------------------------------------------------------------


def test_leaf_0_is_readable_and_leaves_outside_the_log_are_refused() -> None:
    log = MerkleLog()
    log.append_many(LEAVES[:3])
    assert [log.leaf(i) for i in range(3)] == LEAVES[:3]
    for bad in (-1, 3):
        with pytest.raises(ProofError, match=f"leaf {bad} is out of range for log size 3"):
            log.leaf(bad)


@pytest.mark.parametrize("stored", [0, 1, 2, 3])
def test_a_log_reopened_over_a_store_of_a_few_leaves_continues_from_them(stored: int) -> None:
    """The smallest stores: an empty one, and one leaf (whose frontier is that leaf alone)."""
    store = MemoryNodeStore()
    MerkleLog(store).append_many(LEAVES[:stored])
    reopened = MerkleLog(store)
    reopened.append(LEAVES[stored])
    assert reopened.root() == ref_root(stored + 1)
    reopened.append_many(LEAVES[stored + 1 : 9])
    assert reopened.root() == ref_root(9) and reopened.consistency_proof(stored + 1) == ref_consistency(stored + 1, 9)


def test_the_module_reference_functions_refuse_out_of_range_arguments_by_name() -> None:
    with pytest.raises(ProofError, match=r"^cannot prove inclusion of leaf 5 in a tree of size 5: index out of range$"):
        merkle.inclusion_proof(LEAVES[:5], 5)
    with pytest.raises(ProofError, match="leaf -1 in a tree of size 5"):
        merkle.inclusion_proof(LEAVES[:5], -1)
    with pytest.raises(ProofError, match=r"^cannot prove consistency from size 6 to size 5: old size out of range$"):
        merkle.consistency_proof(LEAVES[:5], 6)
    assert merkle.consistency_proof(LEAVES[:5], 5) == [] == merkle.consistency_proof(LEAVES[:5], 0)


def test_sizes_and_roots_are_named_in_verifier_refusals_with_16_hex_digits_of_each_root() -> None:
    r3, r5 = ref_root(3), ref_root(5)
    with pytest.raises(ProofError, match=r"^inclusion proof of leaf 0 in tree size -1: tree size -1 is negative$"):
        verify_inclusion(LEAVES[0], 0, -1, [], r5)
    with pytest.raises(ProofError, match="from tree size -3 to 5: old size -3 is negative$"):
        verify_consistency(-3, 5, [], r3, r5)
    with pytest.raises(ProofError, match="from tree size 3 to -5: new size -5 is negative$"):
        verify_consistency(3, -5, [], r3, r5)
    with pytest.raises(ProofError, match="from tree size 3 to 5: old root has 31 bytes"):
        verify_consistency(3, 5, ref_consistency(3, 5), r3[:31], r5)
    with pytest.raises(
        ProofError, match=r"^consistency proof from tree size 5 to 3: the old size is larger than the new"
    ):
        verify_consistency(5, 3, [], r5, r3)
    wrong = r5[:-1] + bytes([r5[-1] ^ 1])
    with pytest.raises(
        ProofError, match=f"wrong root: the proof leads to {r5.hex()[:16]}…, expected {wrong.hex()[:16]}…$"
    ):
        verify_inclusion(LEAVES[0], 0, 5, ref_path(0, 0, 5), wrong)


def test_the_log_refuses_bad_sizes_by_name() -> None:
    log = MerkleLog()
    log.append_many(LEAVES[:10])
    with pytest.raises(ProofError, match=r"^Merkle log: tree size 11 is beyond the log's size 10$"):
        log.inclusion_proof(0, 11)
    with pytest.raises(ProofError, match=r"^Merkle log: new size 11 is beyond the log's size 10$"):
        log.consistency_proof(0, 11)
    for bad in (-1, True, 2.0):
        with pytest.raises(ProofError, match=f"^Merkle log: tree size {bad!r} is not a non-negative integer$"):
            log.root(bad)  # type: ignore[arg-type]
    for bad in (-1, True, 1.5):
        with pytest.raises(ProofError, match=f"^Merkle log: old size {bad!r} is not a non-negative integer$"):
            log.consistency_proof(bad)  # type: ignore[arg-type]
    with pytest.raises(ProofError, match="leaf hash 0 must be bytes, got str"):
        log.append("x" * 32)  # type: ignore[arg-type]
    assert log.size == 10


def test_the_memory_store_replaces_leaves_gaps_and_counts_only_what_it_holds() -> None:
    store = MemoryNodeStore()
    store.put_many([(0, 0, LEAVES[0]), (0, 1, LEAVES[1])])
    store.put_many([(0, 0, LEAVES[5])])  # replace the first node of a level
    store.put_many([(0, 4, LEAVES[4]), (1, 2, LEAVES[2])])  # past the end: a gap of nodes never stored
    assert [store.get(0, i) for i in range(6)] == [LEAVES[5], LEAVES[1], None, None, LEAVES[4], None]
    assert [store.get(1, i) for i in range(3)] == [None, None, LEAVES[2]] and store.get(7, 0) is None
    assert len(store) == 4
    with pytest.raises(ValueError, match=r"^node \(0, -1\) has a negative index$"):
        store.put_many([(0, -1, LEAVES[0])])
