"""The district's signed audit log (``docs/audit.md``): a Merkle tree over its op log, checkpoints, export.

The district server is an edge node holding every scope, so its ``ops`` table is the district log: ``idx``
is the order in which ops were accepted. ``AuditLog`` keeps an RFC 9162 tree over that order — leaf ``i``
is the 32-byte hash of the op with ``idx = i + 1`` — in the ``audit_*`` tables of the same SQLite file,
one hash per complete subtree, so an append costs O(log n) and a proof O(log n) reads. After each
accepted sync batch the server signs a checkpoint (C2SP signed note, Ed25519, key name = origin) with the
district key; witnesses (kiosks, a residents' committee) cosign checkpoints they verified, and the log
keeps the cosignatures it can verify. ``export`` writes a file a committee verifies offline
(``edge.audit.verify``); ``docs/audit.md`` gives its format and the sync fields.

``sync_server.audit.http.handle`` answers the public ``/v1/audit/*`` requests from an ``AuditLog``, sans-IO.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from crdt.errors import ProofError
from crdt.keys import device_id
from crdt.merkle import MerkleLog, leaf_hash
from crdt.note import (
    Checkpoint,
    Ed25519Signer,
    NoteSignature,
    Verifier,
    add_signatures,
    parse_note,
    parse_verifier_key,
    sign_checkpoint,
    verify_cosignature,
)
from crdt.op import Op
from edge.audit.export import op_hash_of, write_export
from edge.audit.names import WITNESS_NAME
from edge.errors import EdgeError, InputError, Refused, StoreError, UnknownEntity
from edge.reads import exported_ops, hashes_after, max_index
from edge.store import Store
from edge.store.db import write_tx
from sync_server.audit.proofs import BatchProofs, leaf_indices

__all__ = ["MAX_COSIGN_BODY", "AuditLog", "CheckpointRecord", "SqliteNodeStore"]

MAX_COSIGN_BODY = 4096


class SqliteNodeStore:
    """A ``crdt.merkle.NodeStore`` in the ``audit_nodes`` and ``audit_tree`` tables of one connection.

    It writes through the connection it was given and opens no transaction of its own: an append commits
    or rolls back with the caller's transaction (the op rows and their leaves together).
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def get(self, level: int, index: int) -> bytes | None:
        """The hash of node ``(level, index)``, or ``None``."""
        row = self.conn.execute("SELECT hash FROM audit_nodes WHERE level=? AND idx=?", (level, index)).fetchone()
        return bytes(row[0]) if row else None

    def put_many(self, items: list[tuple[int, int, bytes]]) -> None:
        """Insert or replace ``(level, index, hash)`` triples."""
        self.conn.executemany("INSERT OR REPLACE INTO audit_nodes (level, idx, hash) VALUES (?, ?, ?)", items)

    def size(self) -> int:
        """The number of leaves."""
        return int(self.conn.execute("SELECT size FROM audit_tree WHERE id=1").fetchone()[0])

    def set_size(self, n: int) -> None:
        """Record the number of leaves."""
        self.conn.execute("UPDATE audit_tree SET size=? WHERE id=1", (n,))


@dataclass(frozen=True)
class CheckpointRecord:
    """A stored checkpoint: tree size, root, the signed note (district signature only), when it was signed."""

    size: int
    root: bytes
    note: str
    created_ms: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"size": self.size, "root": self.root.hex(), "note": self.note, "created_ms": self.created_ms}


class AuditLog:
    """The district's Merkle log over ``store``'s op log, with checkpoints signed by ``signer`` under ``origin``.

    Reads and writes go through ``conn`` (default ``store.conn``) unless a method is given the connection of
    a transaction already open on it (``catch_up``, ``on_accept``, ``checkpoint``). An ``AuditLog`` over a
    read-only connection answers the public reads (checkpoints, proofs) off the writer thread.
    """

    def __init__(
        self,
        store: Store,
        signer: Ed25519Signer,
        origin: str,
        *,
        wall: Callable[[], int] | None = None,
        conn: sqlite3.Connection | None = None,
    ) -> None:
        self.store = store
        self.conn = conn if conn is not None else store.conn  # a reader's connection serves the public reads
        self.signer = signer
        self.origin = origin
        self.verifier = Verifier(origin, signer.public_bytes)
        self.wall = wall or store.wall
        self._log = MerkleLog(SqliteNodeStore(self.conn))

    @contextmanager
    def _write(self, conn: sqlite3.Connection | None) -> Iterator[sqlite3.Connection]:
        if conn is not None:
            yield conn
        else:
            with write_tx(self.conn) as c:
                yield c

    def _tree(self, conn: sqlite3.Connection | None) -> MerkleLog:
        return self._log if conn is None or conn is self.conn else MerkleLog(SqliteNodeStore(conn))

    @property
    def size(self) -> int:
        """The number of leaves in the tree (ops appended so far)."""
        return self._log.size

    # --- appending -------------------------------------------------------------------------------
    def catch_up(self, conn: sqlite3.Connection | None = None) -> int:
        """Append, as leaves, the hash of every op whose log index is beyond the tree, in log order.

        Runs inside the caller's transaction when given its connection (else in the current state of
        ``store.conn``, which must then be inside a transaction for the append to be atomic).

        Returns:
            The number of leaves appended.

        Raises:
            StoreError: the op log has a gap or holds fewer ops than the tree has leaves (ops were deleted).
        """
        c = conn if conn is not None else self.conn
        log = self._tree(conn)
        n = log.size
        rows = hashes_after(c, n)
        if not rows:
            top = max_index(c)
            if top < n:
                raise StoreError(
                    f"the op log ends at log index {top} but the audit tree has {n} leaves: ops were deleted "
                    "(the log was truncated)"
                )
            return 0
        leaves = []
        expect = n + 1
        for idx, op_hash in rows:
            if idx != expect:
                raise StoreError(f"the op log has a gap: expected log index {expect}, found {idx}")
            leaves.append(leaf_hash(bytes(op_hash)))
            expect += 1
        log.append_many(leaves)
        return len(leaves)

    def on_accept(self, conn: sqlite3.Connection, op: Op, idx: int) -> None:
        """An ``on_accept`` hook for ``Store.apply_remote``: append the op (and any before it) in its transaction."""
        self.catch_up(conn)

    def checkpoint(self, conn: sqlite3.Connection | None = None) -> CheckpointRecord:
        """Catch up, then sign and store a checkpoint of the current tree if its size changed; return the latest.

        Opens its own ``BEGIN IMMEDIATE`` transaction unless given the connection of an open one.
        """
        if conn is not None:
            return self._checkpoint(conn)
        with write_tx(self.conn) as c:
            return self._checkpoint(c)

    def _checkpoint(self, conn: sqlite3.Connection) -> CheckpointRecord:
        self.catch_up(conn)
        log = self._tree(conn)
        size = log.size
        latest = self._latest(conn)
        if latest is not None and latest.size == size:
            return latest
        if latest is not None and latest.size > size:
            raise StoreError(f"the audit tree has {size} leaves but checkpoint {latest.size} was already signed")
        root = log.root(size)
        note = sign_checkpoint(Checkpoint(self.origin, size, root), self.signer, self.origin)
        now = self.wall()
        conn.execute(
            "INSERT INTO audit_checkpoints (size, root, note, created_ms) VALUES (?, ?, ?, ?)", (size, root, note, now)
        )
        return CheckpointRecord(size, root, note, now)

    # --- reading ---------------------------------------------------------------------------------
    @staticmethod
    def _record(row: tuple[Any, ...]) -> CheckpointRecord:
        return CheckpointRecord(int(row[0]), bytes(row[1]), str(row[2]), int(row[3]))

    def _latest(self, conn: sqlite3.Connection) -> CheckpointRecord | None:
        row = conn.execute(
            "SELECT size, root, note, created_ms FROM audit_checkpoints ORDER BY size DESC LIMIT 1"
        ).fetchone()
        return self._record(row) if row else None

    def latest(self) -> CheckpointRecord | None:
        """The latest signed checkpoint, or ``None`` before the first."""
        return self._latest(self.conn)

    def get_checkpoint(self, size: int) -> CheckpointRecord:
        """The checkpoint signed at tree ``size``.

        Raises:
            UnknownEntity: no checkpoint was signed at that size.
        """
        row = self.conn.execute(
            "SELECT size, root, note, created_ms FROM audit_checkpoints WHERE size=?", (size,)
        ).fetchone()
        if row is None:
            raise UnknownEntity(f"no checkpoint was signed at tree size {size}")
        return self._record(row)

    def checkpoints(self) -> list[CheckpointRecord]:
        """Every checkpoint, by increasing size."""
        rows = self.conn.execute("SELECT size, root, note, created_ms FROM audit_checkpoints ORDER BY size")
        return [self._record(r) for r in rows]

    def consistency(self, old: int, new: int | None = None) -> list[bytes]:
        """The RFC 9162 consistency proof from tree size ``old`` to ``new`` (default: the current size).

        Raises:
            InputError: a size out of range (the message names it).
        """
        try:
            return self._log.consistency_proof(old, new)
        except ProofError as exc:
            raise InputError(str(exc)) from None

    def inclusion(self, index: int, size: int | None = None) -> list[bytes]:
        """The RFC 9162 inclusion proof of leaf ``index`` in the tree of ``size`` leaves (default: current).

        Raises:
            InputError: an index or size out of range.
        """
        try:
            return self._log.inclusion_proof(index, size)
        except ProofError as exc:
            raise InputError(str(exc)) from None

    def root(self, size: int | None = None) -> bytes:
        """The root of the tree of the first ``size`` leaves (default: all).

        Raises:
            InputError: ``size`` is beyond the tree.
        """
        try:
            return self._log.root(size)
        except ProofError as exc:
            raise InputError(str(exc)) from None

    def leaf(self, index: int) -> bytes:
        """The RFC 9162 leaf hash at ``index``.

        Raises:
            InputError: the index is out of range.
        """
        try:
            return self._log.leaf(index)
        except ProofError as exc:
            raise InputError(str(exc)) from None

    def leaf_indices(self, op_hashes: Sequence[bytes]) -> list[int | None]:
        """The leaf index of each op hash (``None`` for an op not in the tree)."""
        return leaf_indices(self.conn, op_hashes, self.size)

    # --- witnesses and cosignatures ----------------------------------------------------------------
    def add_witness(self, vkey: str) -> Verifier:
        """Register a witness key (a residents' committee's), given as a C2SP verifier key string.

        Raises:
            InputError: a malformed verifier key.
        """
        try:
            witness = parse_verifier_key(vkey).as_witness()
        except ProofError as exc:
            raise InputError(f"witness key: {exc}") from None
        with write_tx(self.conn) as c:
            c.execute(
                "INSERT INTO audit_witnesses (name, vkey, added_ms) VALUES (?, ?, ?) ON CONFLICT (name) "
                "DO UPDATE SET vkey=excluded.vkey, added_ms=excluded.added_ms",
                (witness.name, witness.vkey(), self.wall()),
            )
        return witness

    def witness_key(self, name: str) -> Verifier | None:
        """The key of witness ``name``: a registered witness, else an enrolled, unrevoked kiosk or staff device."""
        row = self.conn.execute("SELECT vkey FROM audit_witnesses WHERE name=?", (name,)).fetchone()
        if row is not None:
            return parse_verifier_key(str(row[0]))
        m = WITNESS_NAME.fullmatch(name)
        if m is None:
            return None
        dev = self.store.pubkey(self.conn, m.group(2))
        if dev is None or dev[2] != m.group(1) or dev[3] is not None or len(dev[0]) != 32:
            return None
        if device_id(dev[0]) != m.group(2):
            return None
        return Verifier(name, dev[0]).as_witness()

    def add_cosignature(
        self, size: int, line: str, witness_key: Verifier | None = None, conn: sqlite3.Connection | None = None
    ) -> dict[str, Any]:
        """Verify a witness's cosignature of the checkpoint at ``size``, then keep it.

        Args:
            size: the tree size of the cosigned checkpoint.
            line: the cosignature line (``— <name> <base64>``).
            witness_key: the witness's key; looked up with ``witness_key`` when omitted.
            conn: the connection of a write transaction already open on ``store.conn`` (else its own).

        Returns:
            ``{size, witness, timestamp, stored}`` (``stored`` is false when it was held already).

        Raises:
            UnknownEntity: no checkpoint at ``size``.
            Refused: the witness is unknown to this district.
            InputError: the line is malformed or does not verify for that checkpoint (the message says why).
        """
        if not isinstance(line, str) or len(line) > MAX_COSIGN_BODY:
            raise InputError("a cosignature is one text line of at most 4096 characters")
        record = self.get_checkpoint(size)
        try:
            sig = NoteSignature.parse(line)
        except ProofError as exc:
            raise InputError(f"cosignature of checkpoint {size}: {exc}") from None
        key = witness_key if witness_key is not None else self.witness_key(sig.name)
        if key is None:
            raise Refused(f"witness {sig.name!r} is not known to this district (register its key first)")
        checkpoint = Checkpoint.parse(parse_note(record.note).body)
        try:
            timestamp = verify_cosignature(checkpoint, sig, key)
        except ProofError as exc:
            raise InputError(f"cosignature of checkpoint {size}: {exc}") from None
        with self._write(conn) as c:
            cur = c.execute(
                "INSERT OR IGNORE INTO audit_cosignatures (size, witness, key_id, line, timestamp, received_ms) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (size, sig.name, sig.key_id, sig.line(), timestamp, self.wall()),
            )
        return {"size": size, "witness": sig.name, "timestamp": timestamp, "stored": cur.rowcount == 1}

    def receive_cosignatures(self, items: object, conn: sqlite3.Connection | None = None) -> list[dict[str, Any]]:
        """Take the ``cosignatures`` field of a sync request (``[{size, line}]``); never raises for a bad one.

        ``conn``: the connection of a write transaction already open on ``store.conn`` (else one each).

        Returns:
            One entry per item: the ``add_cosignature`` result, or ``{size, error}`` naming why it was refused.
        """
        if not isinstance(items, list):
            return [{"size": None, "error": "cosignatures must be a list of {size, line}"}] if items else []
        out: list[dict[str, Any]] = []
        for item in items[:16]:
            size = item.get("size") if isinstance(item, dict) else None
            line = item.get("line") if isinstance(item, dict) else None
            if not isinstance(size, int) or isinstance(size, bool) or not isinstance(line, str):
                out.append({"size": size, "error": "a cosignature is {size: int, line: text}"})
                continue
            try:
                out.append(self.add_cosignature(size, line, conn=conn))
            except EdgeError as exc:
                out.append({"size": size, "error": str(exc)})
        return out

    def cosignature_lines(self, size: int) -> list[str]:
        """The stored cosignature lines of the checkpoint at ``size``."""
        rows = self.conn.execute("SELECT line FROM audit_cosignatures WHERE size=? ORDER BY witness, key_id", (size,))
        return [str(r[0]) for r in rows]

    def checkpoint_with_cosignatures(self, size: int | None = None) -> str:
        """The signed checkpoint at ``size`` (default: the latest) with every stored cosignature line added.

        Raises:
            UnknownEntity: no such checkpoint (or none yet).
        """
        record = self.latest() if size is None else self.get_checkpoint(size)
        if record is None:
            raise UnknownEntity("no checkpoint has been signed yet")
        lines = [NoteSignature.parse(line) for line in self.cosignature_lines(record.size)]
        return add_signatures(record.note, lines) if lines else record.note

    # --- the sync answer -----------------------------------------------------------------------------
    def sync_fields(self, tree_size: object, pushed: Sequence[bytes]) -> dict[str, Any]:
        """The audit fields of a sync answer (``docs/audit.md``), for the latest checkpoint.

        Call it after the batch was applied (``on_accept``) and ``checkpoint`` signed.

        Args:
            tree_size: the request's ``tree_size`` (the size of the checkpoint the edge trusts).
            pushed: the request's ``push`` list, raw op bytes in push order.

        Returns:
            ``{checkpoint, consistency, leaves, inclusion}``: ``leaves[i]`` is the leaf index of pushed op
            ``i`` (``None`` if the log does not hold it) and ``inclusion[i]`` its proof.
        """
        record = self.latest() or self.checkpoint()
        proofs = BatchProofs(self.conn)  # the proofs of one push share most of their hashes
        old = tree_size if isinstance(tree_size, int) and not isinstance(tree_size, bool) else 0
        consistency = proofs.consistency(old, record.size) if 0 <= old <= record.size else []
        leaves: list[int | None] = [
            None if index is None or index >= record.size else index
            for index in leaf_indices(self.conn, [op_hash_of(raw) for raw in pushed], proofs.size)
        ]
        held = proofs.inclusion([i for i in leaves if i is not None], record.size)
        it = iter(held)
        inclusion: list[list[bytes] | None] = [None if i is None else next(it) for i in leaves]
        return {"checkpoint": record.note, "consistency": consistency, "leaves": leaves, "inclusion": inclusion}

    # --- export ------------------------------------------------------------------------------------
    def export(self, path: str | os.PathLike[str], *, checkpoint: bool = True) -> dict[str, int]:
        """Write every op of the tree (log order) and every checkpoint with its cosignatures to ``path``.

        Args:
            path: the export file.
            checkpoint: catch up and sign a checkpoint of the current tree first (a normal export covers
                every op by a signed root; ``False`` exports the tables exactly as they are).
        """
        if checkpoint:
            self.checkpoint()
        self.conn.execute("BEGIN")
        try:
            size = self.size
            ops = exported_ops(self.conn, size)
            notes = ((self.checkpoint_with_cosignatures(r.size), r.created_ms) for r in self.checkpoints())
            return write_export(
                path, origin=self.origin, signer=self.signer, ops=ops, checkpoints=notes, created_ms=self.wall()
            )
        finally:
            self.conn.execute("COMMIT")
