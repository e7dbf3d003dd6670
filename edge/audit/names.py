"""Names in the audit trail that the district and every kiosk spell the same way: the checkpoint
origin of a district and the cosigning names of its devices."""

from __future__ import annotations

import re

from crdt.errors import ProofError
from crdt.note import Verifier
from edge.errors import InputError

__all__ = ["WITNESS_NAME", "district_origin", "witness_name"]

WITNESS_NAME = re.compile(r"linli\.(kiosk|staff)/([a-z2-7]{26})")


def district_origin(district: str) -> str:
    """The checkpoint origin (and signing key name) of a district: ``linli.district/<name>``.

    Raises:
        InputError: the name is empty or holds a space, a control character or ``+``.
    """
    origin = f"linli.district/{district}"
    try:
        Verifier(origin, bytes(32))
    except ProofError as exc:
        raise InputError(f"district name {district!r} cannot name a checkpoint origin: {exc}") from None
    return origin


def witness_name(role: str, dev: str) -> str:
    """The cosigning name of an enrolled device: ``linli.kiosk/<dev>`` or ``linli.staff/<dev>``."""
    return f"linli.{role}/{dev}"
