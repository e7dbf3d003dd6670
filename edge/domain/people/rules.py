"""Households, technicians and staff: vocabulary, PIN hashing, masking, payload models, apply rules.

Households are keyed by their unit string within a community scope; their PIN is stored only as a
scrypt hash. Technicians have a ULID id, skills, certifications (gas and electrical work need them),
a tier and a home community; shared-pool technicians live in the district scope. Staff have an id, a
role and a scrypt PIN hash. Names and phone numbers are personal data: they stay in the community
scope, and public screens mask them (``mask_name``, ``mask_phone``).

Op types, each merged as LWW registers per field (the op with the highest ``(hlc, dev)`` per field
wins, whatever order ops arrive in):

- ``household.add``, ``household.update`` (scope: the community; key ``(scope, unit)``): the
  vulnerability flags are a sorted set from :data:`VULNERABLE`; a PIN never leaves its hash.
- ``tech.add`` (the community, or ``district`` for the shared pool), ``tech.status`` (also written by
  a community for a district technician lent to it): skills are categories, certificates from
  :data:`CERTS`, the tier from :data:`TIERS`, the status from :data:`TECH_STATUSES`.
- ``staff.add`` (the community): a role from :data:`STAFF_ROLES` and a PIN hash. A staff id or a
  household unit is added once per node: the writer checks it is not there yet inside the write
  transaction.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import sqlite3
from typing import Any, Literal, get_args

from pydantic import Field

from crdt.op import Op
from edge.domain.fields import Category, Name, OptShort
from edge.store.optypes import Payload, register
from edge.store.views import dumps, lww_set

__all__ = [
    "CERTS",
    "STAFF_ROLES",
    "TECH_STATUSES",
    "TIERS",
    "VULNERABLE",
    "Cert",
    "Flag",
    "HouseholdAdd",
    "HouseholdUpdate",
    "StaffAdd",
    "StaffRole",
    "TechAdd",
    "TechState",
    "TechStatus",
    "Tier",
    "check_pin",
    "hash_pin",
    "mask_name",
    "mask_phone",
]

Flag = Literal["elderly_alone", "disabled", "infant", "chronic_illness"]
VULNERABLE: tuple[str, ...] = get_args(Flag)
"""Vulnerability flags of a household (a vulnerable household's report is raised one level)."""
Cert = Literal["gas", "electrical", "lift"]
CERTS: tuple[str, ...] = get_args(Cert)
"""Technician certificates."""
Tier = Literal["core", "certified", "volunteer"]
TIERS: tuple[str, ...] = get_args(Tier)
"""Technician tiers."""
TechState = Literal["available", "busy", "off"]
TECH_STATUSES: tuple[str, ...] = get_args(TechState)
"""A technician's status."""
StaffRole = Literal["staff", "manager"]
STAFF_ROLES: tuple[str, ...] = get_args(StaffRole)
"""Roles of staff accounts."""
PinHash = str
_N, _R, _P = 2**14, 8, 1


def hash_pin(pin: str, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt$hash`` of a PIN."""
    salt = os.urandom(16) if salt is None else salt
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def check_pin(pin: str, stored: str | None) -> bool:
    """Whether ``pin`` matches a ``hash_pin`` string (constant time)."""
    if not stored:
        return False
    try:
        _, n, r, p, salt, digest = stored.split("$")
        got = hashlib.scrypt(pin.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.b64decode(digest))


def mask_name(name: str) -> str:
    """``王*明`` style: first character, then stars (public screens)."""
    name = name.strip()
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1] if not name.isascii() else name.split()[0][:1] + "."


def mask_phone(phone: str) -> str:
    """``138****5678``: keep the first three and last four digits."""
    digits = "".join(c for c in phone if c.isdigit())
    if len(digits) < 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


class HouseholdAdd(Payload):
    unit: Name
    vulnerable: list[Flag] = Field(default_factory=list, max_length=4)
    pin_hash: PinHash | None = Field(default=None, max_length=200)
    name: OptShort = ""
    phone: str = Field(default="", max_length=32)


class HouseholdUpdate(Payload):
    vulnerable: list[Flag] | None = Field(default=None, max_length=4)
    pin_hash: PinHash | None = Field(default=None, max_length=200)
    name: OptShort | None = None
    phone: str | None = Field(default=None, max_length=32)


class TechAdd(Payload):
    name: Name
    skills: list[Category] = Field(min_length=1, max_length=10)
    certs: list[Cert] = Field(default_factory=list, max_length=3)
    tier: Tier
    home: Name
    shared: bool = False
    pos: list[int] | None = Field(default=None, min_length=2, max_length=2)
    phone: str = Field(default="", max_length=32)


class TechStatus(Payload):
    status: TechState
    lent_to: Name | None = None
    until_ms: int | None = Field(default=None, ge=0)


class StaffAdd(Payload):
    pin_hash: PinHash = Field(max_length=200)
    role: StaffRole = "staff"
    name: OptShort = ""


@register("household.add", HouseholdAdd)
def _household(conn: sqlite3.Connection, op: Op, p: HouseholdAdd) -> None:
    fields: dict[str, Any] = p.model_dump()
    fields["vulnerable"] = dumps(sorted(set(p.vulnerable)))
    lww_set(conn, "households", {"scope": op.scope, "id": op.obj}, fields, op)


@register("household.update", HouseholdUpdate)
def _household_update(conn: sqlite3.Connection, op: Op, p: HouseholdUpdate) -> None:
    fields = {k: v for k, v in p.model_dump().items() if v is not None}
    if "vulnerable" in fields:
        fields["vulnerable"] = dumps(sorted(set(fields["vulnerable"])))
    if fields:
        lww_set(conn, "households", {"scope": op.scope, "id": op.obj}, fields, op)


@register("tech.add", TechAdd)
def _tech(conn: sqlite3.Connection, op: Op, p: TechAdd) -> None:
    fields: dict[str, Any] = p.model_dump(exclude={"pos"})
    fields["skills"] = dumps(sorted(set(p.skills)))
    fields["certs"] = dumps(sorted(set(p.certs)))
    fields["shared"] = int(p.shared)
    fields["pos_x"], fields["pos_y"] = (p.pos[0], p.pos[1]) if p.pos else (None, None)
    lww_set(conn, "techs", {"id": op.obj}, fields, op, scope=op.scope)


@register("tech.status", TechStatus, community_district=True)
def _tech_status(conn: sqlite3.Connection, op: Op, p: TechStatus) -> None:
    lww_set(conn, "techs", {"id": op.obj}, {"status": p.status}, op, scope=op.scope)


@register("staff.add", StaffAdd)
def _staff(conn: sqlite3.Connection, op: Op, p: StaffAdd) -> None:
    lww_set(conn, "staff", {"scope": op.scope, "id": op.obj}, p.model_dump(), op)
