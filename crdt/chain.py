"""Per-stream hash chains: each stream ``(dev, scope)`` is seq 1, 2, 3 … linked by ``prev``.

``check_next`` places one incoming op against what a node holds of its stream; ``verify_stream``
checks a whole stream. Both name the break: a gap, a reorder, a wrong ``prev`` or equivocation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import Enum

from .errors import Equivocation, Gap, Reorder, WrongPrev
from .op import ZERO_HASH, Op

__all__ = ["Placement", "check_next", "verify_stream"]


class Placement(Enum):
    """Where an op that passed ``check_next`` belongs."""

    NEXT = "next"  # the stream's next op: apply it
    DUPLICATE = "duplicate"  # already held, byte for byte: ignore it


def check_next(
    op: Op,
    head_seq: int,
    head_hash: bytes,
    hash_at: Callable[[int], bytes | None],
) -> Placement:
    """Place ``op`` against a stream whose last held op is ``head_seq`` with hash ``head_hash``.

    Args:
        op: the incoming op.
        head_seq: the stream's last seq held (0 for none).
        head_hash: that op's hash (``ZERO_HASH`` for none).
        hash_at: looks up the hash held for an earlier seq of the stream.

    Raises:
        Equivocation: a different op is held at the same seq.
        Gap: the op skips past ``head_seq + 1``.
        Reorder: an earlier seq that is not held (cannot happen on a gapless stream).
        WrongPrev: ``prev`` is not ``head_hash``.
    """
    if op.seq <= head_seq:
        held = head_hash if op.seq == head_seq else hash_at(op.seq)
        if held is None:
            raise Reorder(f"op {op.where()}: seq {op.seq} is behind head {head_seq} but not held")
        if held == op.hash:
            return Placement.DUPLICATE
        raise Equivocation(f"op {op.where()}: a different op is held at seq {op.seq}")
    if op.seq > head_seq + 1:
        raise Gap(f"op {op.where()}: expected seq {head_seq + 1}, got {op.seq} ({op.seq - head_seq - 1} missing)")
    if op.prev != head_hash:
        raise WrongPrev(f"op {op.where()}: prev does not match the hash of seq {head_seq}")
    return Placement.NEXT


def verify_stream(ops: Iterable[Op]) -> int:
    """Check that ``ops`` (in the order given) are one gapless, correctly linked stream from seq 1.

    Returns:
        The number of ops.

    Raises:
        Gap, Reorder, WrongPrev, Equivocation: naming the first break.
    """
    seen: dict[int, bytes] = {}
    head_seq, head_hash = 0, ZERO_HASH
    stream: tuple[str, str] | None = None
    for op in ops:
        if stream is None:
            stream = op.stream
        elif op.stream != stream:
            raise Reorder(f"op {op.where()}: belongs to another stream than {stream[0]}/{stream[1]}")
        if op.seq <= head_seq:
            if seen.get(op.seq) == op.hash:
                raise Reorder(f"op {op.where()}: seq {op.seq} appears again after seq {head_seq}")
            if op.seq in seen:
                raise Equivocation(f"op {op.where()}: two different ops claim seq {op.seq}")
            raise Reorder(f"op {op.where()}: seq {op.seq} arrives after seq {head_seq}")
        check_next(op, head_seq, head_hash, seen.get)
        seen[op.seq] = op.hash
        head_seq, head_hash = op.seq, op.hash
    return head_seq
