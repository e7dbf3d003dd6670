"""Households, technicians and staff: payload models, merge rules (LWW per field), queries.

Households are keyed by their unit string within a community scope; their PIN is stored only as a
scrypt hash. Technicians have a ULID id, skills, certifications (gas and electrical work need them),
a tier and a home community; shared-pool technicians live in the district scope. Staff have an id, a
role and a scrypt PIN hash. Names and phone numbers are personal data: they stay in the community
scope, and public screens mask them (``mask_name``, ``mask_phone``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import sqlite3
from typing import Any, Literal

from pydantic import Field

from crdt.op import Op
from edge.domain.fields import Category, Name, OptShort
from edge.store.optypes import Payload, register
from edge.store.views import dumps, lww_set

__all__ = [
    "VULNERABLE",
    "HouseholdAdd",
    "StaffAdd",
    "TechAdd",
    "TechStatus",
    "check_pin",
    "hash_pin",
    "mask_name",
    "mask_phone",
]

VULNERABLE = ("elderly_alone", "disabled", "infant", "chronic_illness")
Flag = Literal["elderly_alone", "disabled", "infant", "chronic_illness"]
Cert = Literal["gas", "electrical", "lift"]
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
    tier: Literal["core", "certified", "volunteer"]
    home: Name
    shared: bool = False
    pos: list[int] | None = Field(default=None, min_length=2, max_length=2)
    phone: str = Field(default="", max_length=32)


class TechStatus(Payload):
    status: Literal["available", "busy", "off"]
    lent_to: Name | None = None
    until_ms: int | None = Field(default=None, ge=0)


class StaffAdd(Payload):
    pin_hash: PinHash = Field(max_length=200)
    role: Literal["staff", "manager"] = "staff"
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


# --- queries ----------------------------------------------------------------------------------
_HH = ("scope", "id", "unit", "vulnerable", "pin_hash", "name", "phone")
_TECH = (
    "id",
    "scope",
    "name",
    "skills",
    "certs",
    "tier",
    "home",
    "shared",
    "pos_x",
    "pos_y",
    "status",
    "phone",
)


def _household_row(row: tuple[Any, ...]) -> dict[str, Any]:
    d = dict(zip(_HH, row, strict=True))
    d["vulnerable"] = json.loads(d["vulnerable"])
    d["has_pin"] = bool(d.pop("pin_hash"))
    return d


def find_household(conn: sqlite3.Connection, scope: str, ref: str) -> dict[str, Any] | None:
    """A household by id (its unit string)."""
    row = conn.execute(f"SELECT {', '.join(_HH)} FROM households WHERE scope=? AND id=?", (scope, ref)).fetchone()
    return _household_row(row) if row else None


def household_pin_hash(conn: sqlite3.Connection, scope: str, ref: str) -> str | None:
    row = conn.execute("SELECT pin_hash FROM households WHERE scope=? AND id=?", (scope, ref)).fetchone()
    return str(row[0]) if row and row[0] else None


def list_households(conn: sqlite3.Connection, scope: str) -> list[dict[str, Any]]:
    rows = conn.execute(f"SELECT {', '.join(_HH)} FROM households WHERE scope=? ORDER BY id", (scope,))
    return [_household_row(r) for r in rows]


def _tech_row(row: tuple[Any, ...]) -> dict[str, Any]:
    d = dict(zip(_TECH, row, strict=True))
    d["skills"] = json.loads(d["skills"])
    d["certs"] = json.loads(d["certs"])
    d["shared"] = bool(d["shared"])
    px, py = d.pop("pos_x"), d.pop("pos_y")
    d["pos"] = [px, py] if px is not None else None
    return d


def list_techs(conn: sqlite3.Connection, scopes: list[str]) -> list[dict[str, Any]]:
    marks = ",".join("?" for _ in scopes)
    rows = conn.execute(
        f"SELECT {', '.join(_TECH)} FROM techs WHERE scope IN ({marks}) AND name != '' ORDER BY name, id",
        scopes,
    )
    return [_tech_row(r) for r in rows]


def find_tech(conn: sqlite3.Connection, ref: str, scopes: list[str]) -> list[dict[str, Any]]:
    """Technicians whose id or name is ``ref`` (more than one means the name is ambiguous)."""
    return [t for t in list_techs(conn, scopes) if ref in (t["id"], t["name"])]


def staff_pin_hash(conn: sqlite3.Connection, scope: str, staff_id: str) -> tuple[str, str] | None:
    """``(pin_hash, role)`` of a staff member."""
    row = conn.execute("SELECT pin_hash, role FROM staff WHERE scope=? AND id=?", (scope, staff_id)).fetchone()
    return (str(row[0]), str(row[1])) if row else None


def list_staff(conn: sqlite3.Connection, scope: str) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT id, role, name FROM staff WHERE scope=? ORDER BY id", (scope,))
    return [dict(zip(("id", "role", "name"), r, strict=True)) for r in rows]


__all__ += [
    "find_household",
    "find_tech",
    "household_pin_hash",
    "list_households",
    "list_staff",
    "list_techs",
    "staff_pin_hash",
]
