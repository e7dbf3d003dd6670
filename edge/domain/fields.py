"""Field types shared by the op payload models (pydantic, strict): bounded text, ids, quantities, and
the two vocabularies every domain shares, ticket categories and urgencies.

Each vocabulary is written once, as the ``Literal`` the payload models check; the tuple callers
iterate (:data:`CATEGORIES`, :data:`URGENCIES`) is read from it with ``typing.get_args``.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, get_args

from pydantic import Field, StringConstraints

__all__ = [
    "CATEGORIES",
    "UNIT_RE",
    "URGENCIES",
    "Category",
    "Code",
    "EntityId",
    "Hash",
    "Long",
    "Name",
    "OptShort",
    "Qty",
    "Short",
    "Sku",
    "Unit",
    "Urgency",
]

Category = Literal["water", "electrical", "gas", "lift", "door", "fire", "structure", "pests", "common", "other"]
Urgency = Literal["P1", "P2", "P3", "P4"]

CATEGORIES: tuple[str, ...] = get_args(Category)
"""Ticket category ids; a technician's skills are categories too."""
URGENCIES: tuple[str, ...] = get_args(Urgency)
"""Urgency levels, most urgent first."""
# Free text a person wrote: a ticket description, a comment, a reason.
Long = Annotated[str, StringConstraints(strip_whitespace=False, min_length=1, max_length=2000)]
Short = Annotated[str, StringConstraints(min_length=1, max_length=200)]
OptShort = Annotated[str, StringConstraints(max_length=200)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=64)]
_UNIT = r"^[^\s/\\\x00-\x1f][^/\\\x00-\x1f]*$"
UNIT_RE = re.compile(_UNIT)
Unit = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=_UNIT)]
Sku = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
EntityId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Code = Annotated[str, StringConstraints(min_length=3, max_length=16, pattern=r"^[A-Z0-9]+-[0-9]{4,}$")]
Hash = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Qty = Annotated[int, Field(gt=0, le=1_000_000)]
