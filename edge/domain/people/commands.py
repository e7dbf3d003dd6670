"""People commands: add households, technicians and staff, set a technician's status, check PINs.

"Added once" (a household unit, a technician's name in its scope, a staff id) is checked inside the
write transaction that adds it.
"""

from __future__ import annotations

from typing import Any

from crdt.ids import new_ulid
from edge.domain import inputs
from edge.domain.context import Context
from edge.domain.fields import CATEGORIES
from edge.domain.people.queries import (
    find_household,
    find_tech,
    household_pin_hash,
    list_techs,
    staff_pin_hash,
)
from edge.domain.people.rules import CERTS, STAFF_ROLES, TECH_STATUSES, TIERS, VULNERABLE, check_pin, hash_pin
from edge.errors import AuthFailed, Duplicate, InputError, ScopeForbidden, UnknownEntity

__all__ = [
    "add_household",
    "add_staff",
    "add_tech",
    "get_household",
    "get_tech",
    "household_login",
    "staff_login",
    "tech_status",
]


def _one_of(value: str, vocabulary: tuple[str, ...], what: str) -> None:
    if value not in vocabulary:
        *rest, last = vocabulary
        raise InputError(f"{what} {value!r} is not {', '.join(rest)} or {last}")


def get_household(ctx: Context, ref: str) -> dict[str, Any]:
    """A household of this community by its unit.

    Raises:
        UnknownEntity: none.
    """
    hh = find_household(ctx.conn, ctx.community, ref)
    if hh is None:
        raise UnknownEntity(f"no household {ref!r} in community {ctx.community}")
    return hh


def add_household(
    ctx: Context,
    unit: str,
    *,
    vulnerable: list[str] | None = None,
    pin: str | None = None,
    name: str = "",
    phone: str = "",
    actor: str | None = None,
) -> dict[str, Any]:
    """Register a household (a PIN is kept only as its scrypt hash).

    Raises:
        InputError: a bad unit, flag or PIN; Duplicate: the unit is registered already.
    """
    unit = inputs.unit(unit)
    flags = sorted(set(vulnerable or []))
    for f in flags:
        if f not in VULNERABLE:
            raise InputError(f"unknown vulnerability flag {f!r}; one of {', '.join(VULNERABLE)}")
    if pin is not None:
        inputs.check_pin(pin)
    with ctx.store.tx() as tx:
        if find_household(tx.conn, ctx.community, unit) is not None:
            raise Duplicate(f"household {unit!r} already exists in community {ctx.community}")
        data = {
            "unit": unit,
            "vulnerable": flags,
            "pin_hash": hash_pin(pin) if pin else None,
            "name": name,
            "phone": phone,
        }
        tx.emit(ctx.community, "household.add", unit, data, actor)
    return get_household(ctx, unit)


def get_tech(ctx: Context, ref: str) -> dict[str, Any]:
    """A technician this node reads, by id or (unique) name.

    Raises:
        UnknownEntity: none; InputError: the name is ambiguous.
    """
    found = find_tech(ctx.conn, ref, ctx.scopes)
    if not found:
        raise UnknownEntity(f"no technician {ref!r}")
    if len(found) > 1:
        raise InputError(
            f"{len(found)} technicians are called {ref!r}; use the id: " + ", ".join(t["id"] for t in found)
        )
    return found[0]


def add_tech(
    ctx: Context,
    name: str,
    skills: list[str],
    tier: str,
    *,
    certs: list[str] | None = None,
    shared: bool = False,
    pos: tuple[int, int] | None = None,
    phone: str = "",
    home: str | None = None,
    actor: str | None = None,
) -> dict[str, Any]:
    """Add a technician to this community, or (``shared``, district only) to the district's pool.

    Raises:
        InputError: a bad name, tier, certificate or skill; ScopeForbidden: a shared technician added by a
        community; Duplicate: the name is taken in that scope.
    """
    name = inputs.text(name, "technician name", 64)
    if shared and not ctx.is_district:
        raise ScopeForbidden("shared-pool technicians are added by the district")
    scope = "district" if shared else ctx.community
    _one_of(tier, TIERS, "tier")
    for c in certs or []:
        if c not in CERTS:
            raise InputError(f"unknown certification {c!r}; one of {', '.join(CERTS)}")
    if not skills:
        raise InputError("a technician needs at least one skill")
    for s in skills:
        if s not in CATEGORIES:
            raise InputError(f"unknown skill {s!r}; skills are categories: {', '.join(CATEGORIES)}")
    tech_id = new_ulid(ctx.now_ms())
    with ctx.store.tx() as tx:
        if any(t["name"] == name for t in list_techs(tx.conn, [scope])):
            raise Duplicate(f"technician {name!r} already exists in {scope}")
        data = {
            "name": name,
            "skills": sorted(set(skills)),
            "certs": sorted(set(certs or [])),
            "tier": tier,
            "home": home or ctx.community,
            "shared": shared,
            "pos": list(pos) if pos else None,
            "phone": phone,
        }
        tx.emit(scope, "tech.add", tech_id, data, actor)
    return get_tech(ctx, tech_id)


def tech_status(ctx: Context, ref: str, status: str, *, actor: str | None = None) -> dict[str, Any]:
    """Set a technician's status (available, busy or off)."""
    t = get_tech(ctx, ref)
    _one_of(status, TECH_STATUSES, "status")
    with ctx.store.tx() as tx:
        tx.emit(t["scope"], "tech.status", t["id"], {"status": status}, actor)
    return get_tech(ctx, t["id"])


def add_staff(
    ctx: Context, staff_id: str, pin: str, *, role: str = "staff", name: str = "", actor: str | None = None
) -> dict[str, Any]:
    """Add a staff account: ``{id, role, name}``.

    Raises:
        InputError: a bad id, PIN or role; Duplicate: the id is taken.
    """
    staff_id = inputs.text(staff_id, "staff id", 64)
    inputs.check_pin(pin)
    _one_of(role, STAFF_ROLES, "role")
    with ctx.store.tx() as tx:
        if staff_pin_hash(tx.conn, ctx.community, staff_id) is not None:
            raise Duplicate(f"staff id {staff_id!r} already exists")
        data = {"pin_hash": hash_pin(pin), "role": role, "name": name}
        tx.emit(ctx.community, "staff.add", staff_id, data, actor)
    return {"id": staff_id, "role": role, "name": name}


def staff_login(ctx: Context, staff_id: str, pin: str) -> dict[str, Any]:
    """Check a staff PIN; returns ``{id, role}``.

    Raises:
        AuthFailed: an unknown id or a wrong PIN (the message does not say which).
    """
    found = staff_pin_hash(ctx.conn, ctx.community, staff_id)
    if found is None or not check_pin(pin, found[0]):
        raise AuthFailed("unknown staff id or wrong PIN")
    return {"id": staff_id, "role": found[1]}


def household_login(ctx: Context, unit: str, pin: str) -> dict[str, Any]:
    """Check a household PIN; returns the household."""
    if not check_pin(pin, household_pin_hash(ctx.conn, ctx.community, unit)):
        raise AuthFailed("unknown household or wrong PIN")
    return get_household(ctx, unit)
