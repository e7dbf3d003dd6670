"""Sign and verify rates: raw Ed25519 against crdt's sign-op and verify-op paths, same run, same size.

Run: ``make bench`` or ``.venv/bin/python bench/bench_crdt.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import rate, raw_sign_rate, raw_verify_rate  # noqa: E402

from crdt.keys import DeviceKey  # noqa: E402
from crdt.op import ZERO_HASH, decode_op, sign_op, verify_op  # noqa: E402

N = 4000


def _op_of_300_bytes(key: DeviceKey):  # type: ignore[no-untyped-def]
    text = "x" * 80
    while True:
        op = sign_op(
            key,
            scope="a",
            seq=1,
            prev=ZERO_HASH,
            hlc=(1_700_000_000_000, 0),
            actor="staff-1",
            type="ticket.comment",
            obj="01HZX3ABCDEFGHJKMNPQRSTVWX",
            data={"text": text},
        )
        if len(op.body) >= 300:
            return op
        text += "x"


def main() -> None:
    key = DeviceKey.generate()
    op = _op_of_300_bytes(key)
    size = len(op.body)
    raw_sign = raw_sign_rate(N, size)
    raw_verify = raw_verify_rate(N, size)

    def do_sign() -> None:
        sign_op(
            key,
            scope=op.scope,
            seq=op.seq,
            prev=op.prev,
            hlc=op.hlc,
            actor=op.actor,
            type=op.type,
            obj=op.obj,
            data=op.data,
        )

    def do_verify() -> None:
        verify_op(decode_op(op.raw), key.public_bytes)

    op_sign = rate(do_sign, N)
    op_verify = rate(do_verify, N)
    print(f"op body {size} bytes, whole op {len(op.raw)} bytes, {N} calls each")
    print(f"{'path':<34}{'per second':>12}{'ratio to raw':>14}")
    print(f"{'raw Ed25519 sign':<34}{raw_sign:>12,.0f}{1:>14.2f}")
    print(f"{'crdt sign_op (encode+sign)':<34}{op_sign:>12,.0f}{op_sign / raw_sign:>14.2f}")
    print(f"{'raw Ed25519 verify':<34}{raw_verify:>12,.0f}{1:>14.2f}")
    print(f"{'crdt decode_op + verify_op':<34}{op_verify:>12,.0f}{op_verify / raw_verify:>14.2f}")
    print(f"verify-op path at {100 * op_verify / raw_verify:.0f}% of raw verify (target >= 80%)")


if __name__ == "__main__":
    main()
