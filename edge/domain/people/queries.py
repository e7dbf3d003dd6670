"""Households, technicians and staff as the views hold them (never a PIN hash, only ``has_pin``)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

__all__ = [
    "find_household",
    "find_tech",
    "household_pin_hash",
    "list_households",
    "list_staff",
    "list_techs",
    "staff_pin_hash",
]

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
