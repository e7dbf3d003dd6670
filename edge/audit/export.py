"""The audit export file (``linli-audit-export/1``): what ``linli-server audit export`` writes.

A stream of canonical msgpack maps (``crdt.canonical``: keys sorted, shortest forms), read back with
explicit limits and the canonical check (``records``):

1. header ``{format: "linli-audit-export/1", origin, district_pubkey (32 bytes), created_ms}``;
2. every op of the district log in log order (= Merkle leaf order) ``{op: raw op bytes, received_ms}``;
3. every checkpoint by increasing size ``{checkpoint: signed note text with its cosignature lines,
   created_ms}``;
4. end ``{end: {ops, checkpoints}, sha256: SHA-256 of every byte before this record, signature}``, the
   signature being the district's Ed25519 signature of ``export_end_message``.

The ops and checkpoints are signed on their own; the end signature also covers what nothing else does
(receive times, record order, the file as a whole). ``docs/audit.md`` describes the format for people
writing their own verifier.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import msgpack

from crdt.canonical import MAX_SIZE, decode, encode
from crdt.errors import DecodeError
from crdt.note import MAX_NOTE_BYTES, Ed25519Signer
from crdt.op import op_hash

__all__ = ["EXPORT_FORMAT", "MAX_RECORD", "export_end_message", "op_hash_of", "records", "write_export"]

EXPORT_FORMAT = "linli-audit-export/1"
MAX_RECORD = MAX_NOTE_BYTES + 4096
_CHUNK = 64 * 1024


def op_hash_of(raw: object) -> bytes:
    """The op hash (``crdt.op.op_hash``) of raw op bytes, read without any other check.

    Bytes that are not the array ``[body, sig]`` get a hash no op can have (so they take their place in a
    tree without matching anything), and so does anything that is not bytes.
    """
    if isinstance(raw, bytes):
        try:
            return op_hash(raw)
        except DecodeError:
            return hashlib.sha256(b"not an op\n" + raw).digest()
    return hashlib.sha256(b"not bytes\n" + repr(raw).encode()).digest()


def export_end_message(origin: str, ops: int, checkpoints: int, digest: bytes) -> bytes:
    """What the district signs at the end of an export: counts and the SHA-256 of every byte before the end."""
    return f"{EXPORT_FORMAT} end\n{origin}\n{ops}\n{checkpoints}\n".encode() + digest


def write_export(
    path: str | os.PathLike[str],
    *,
    origin: str,
    signer: Ed25519Signer,
    ops: Iterable[tuple[bytes, int]],
    checkpoints: Iterable[tuple[str, int]],
    created_ms: int,
) -> dict[str, int]:
    """Write an audit export (format in ``docs/audit.md``) atomically: a temporary file, fsync, rename.

    Args:
        path: the file to write.
        origin: the log's origin line.
        signer: the district key (signs the end record).
        ops: ``(raw op bytes, received_ms)`` in log order.
        checkpoints: ``(signed note text with its cosignature lines, created_ms)`` by increasing size.
        created_ms: when the export was made.

    Returns:
        ``{ops, checkpoints, bytes}``.
    """
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    digest = hashlib.sha256()
    written = 0
    with open(tmp, "wb") as fh:

        def put(record: dict[str, Any]) -> None:
            nonlocal written
            data = encode(record)
            digest.update(data)
            fh.write(data)
            written += len(data)

        put(
            {
                "format": EXPORT_FORMAT,
                "origin": origin,
                "district_pubkey": signer.public_bytes,
                "created_ms": created_ms,
            }
        )
        n_ops = n_cps = 0
        for raw, received_ms in ops:
            put({"op": raw, "received_ms": received_ms})
            n_ops += 1
        for note, at in checkpoints:
            put({"checkpoint": note, "created_ms": at})
            n_cps += 1
        sha = digest.digest()
        end = {
            "end": {"ops": n_ops, "checkpoints": n_cps},
            "sha256": sha,
            "signature": signer.sign(export_end_message(origin, n_ops, n_cps, sha)),
        }
        data = encode(end)
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)
    return {"ops": n_ops, "checkpoints": n_cps, "bytes": written + len(data)}


def records(fh: BinaryIO) -> Iterator[tuple[int, int, Any]]:
    """``(start offset, end offset, record)`` for each canonical msgpack record of ``fh``, under explicit limits.

    A record over ``MAX_RECORD`` bytes, a bin over 64 KiB, a text over ``MAX_NOTE_BYTES``, an array or map
    of more than 16 items, an extension type, a non-text map key or a record that is not canonical
    (``crdt.canonical``: sorted keys, shortest forms, no floats) raises ``ValueError`` (a ``crdt``
    ``DecodeError``) or ``msgpack.UnpackException``; a record cut off by the end of the file ends the stream.
    """
    unpacker = msgpack.Unpacker(
        raw=False,
        strict_map_key=True,
        max_buffer_size=MAX_RECORD + _CHUNK,
        max_bin_len=MAX_SIZE,
        max_str_len=MAX_NOTE_BYTES,
        max_array_len=16,
        max_map_len=16,
        max_ext_len=0,
    )
    held = bytearray()  # the bytes fed to the unpacker from offset ``base`` on
    base = start = 0
    while chunk := fh.read(_CHUNK):
        unpacker.feed(chunk)
        held += chunk
        while True:
            try:
                unpacker.unpack()  # the limits above; then the canonical check of the record's own bytes
            except msgpack.OutOfData:
                break
            end = unpacker.tell()
            yield start, end, decode(bytes(held[start - base : end - base]), max_size=MAX_RECORD)
            start = end
        del held[: start - base]
        base = start
