"""The op-type registry: for each ``type``, its payload model, where it may be written, and its apply rule.

Domain modules (tickets, stock, points, people, notices, modes, devices) register their types at
import; ``edge/__init__`` imports them all. The store looks a type up here to validate a payload
(pydantic, strict) and to apply it to the views; the sync server looks here to authorise it.

Who may write what (``docs/design.md`` §3): the district device any scope and any type; a community device its
own community scope for community types, and the district scope only for types registered with
``community_district=True`` (``transfer.*``, ``tech.status`` of shared-pool technicians).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from crdt.op import Op
from edge.errors import InputError

__all__ = ["REGISTRY", "OpType", "Payload", "may_write", "register", "validate_payload"]

ApplyFn = Callable[[sqlite3.Connection, Op, Any], None]
# A guard sees only the op itself (scope, obj, payload) and the writer's community and role, never
# the views, so that whether an op is accepted cannot depend on the order ops arrive in.
GuardFn = Callable[[str, str, Any, str, str], "str | None"]


class Payload(BaseModel):
    """Base of every op payload model: strict types, no unknown keys, immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


@dataclass(frozen=True)
class OpType:
    """One registered op type."""

    name: str
    model: type[Payload]
    apply: ApplyFn
    district_only: bool = False  # device.*: only the district writes these
    community_district: bool = False  # a community device may write it in the district scope
    community_scope: bool = True  # may be written in a community scope at all
    guard: GuardFn | None = None  # a further, op-local authorisation rule


REGISTRY: dict[str, OpType] = {}


def register(
    name: str,
    model: type[Payload],
    *,
    district_only: bool = False,
    community_district: bool = False,
    community_scope: bool = True,
    guard: GuardFn | None = None,
) -> Callable[[ApplyFn], ApplyFn]:
    """Register ``name`` with its payload model; decorates the apply rule."""

    def deco(fn: ApplyFn) -> ApplyFn:
        if name in REGISTRY:
            raise RuntimeError(f"op type {name} registered twice")
        REGISTRY[name] = OpType(name, model, fn, district_only, community_district, community_scope, guard)
        return fn

    return deco


def validate_payload(type_name: str, data: dict[str, Any]) -> Payload:
    """The validated payload model for ``data``.

    Raises:
        InputError: unknown type, or ``data`` does not fit the type's model (the message names the field).
    """
    spec = REGISTRY.get(type_name)
    if spec is None:
        raise InputError(f"unknown op type {type_name!r}")
    try:
        return spec.model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "data"
        raise InputError(f"{type_name}: {where}: {first['msg']}") from None


def may_write(
    role: str, community: str, scope: str, type_name: str, obj: str | None = None, payload: Any = None
) -> str | None:
    """``None`` when a device of ``role`` in ``community`` may write ``type_name`` to ``scope``, else why not.

    With ``obj`` and ``payload`` given, the type's guard (if any) is consulted too.
    """
    spec = REGISTRY.get(type_name)
    if spec is None:
        return f"unknown op type {type_name!r}"
    if role == "district":
        return None
    if spec.district_only:
        return f"{type_name} is written by the district only"
    if spec.guard is not None and obj is not None and payload is not None:
        why = spec.guard(scope, obj, payload, community, role)
        if why is not None:
            return why
    if scope == "district":
        if spec.community_district:
            return None
        return f"a community device may not write {type_name} to the district scope"
    if scope != community:
        return f"a device of community {community!r} may not write scope {scope!r}"
    if not spec.community_scope:
        return f"{type_name} belongs to the district scope"
    return None
