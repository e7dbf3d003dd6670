"""Apply helpers shared by the domain modules: LWW fields with stamps, and bounded counters in SQL.

A stamp is ``[wall_ms, counter, dev, op hash hex]``: the LWW order (``docs/merge.md``) with the op hash
as a last tie-break, so that even two ops of a hostile device with the same HLC resolve the same way
everywhere. An op of a device the district has *fenced* (``device.fence``: the district saw that
device's ops stamped far ahead of its own clock) and stamped beyond the fence is compared at the fence
(``lww_stamp``): no device's clock error lets its writes outrank the writes that correct devices make
after the district has seen them. Counter rows are per ``(kind, scope, key, dev)`` sums; a device's rights are
``inc + moved_in - moved_out - dec`` (``docs/design.md`` §4).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from crdt.op import Op
from edge.errors import ScopeForbidden

__all__ = [
    "add_counter",
    "counter_value",
    "dumps",
    "fence_of",
    "fence_rows",
    "fenced_stamp",
    "lww_set",
    "lww_stamp",
    "rights",
    "same_scope",
    "stamp_of",
]

_CARRY = 32  # capped stamps keep the device's own (wall, counter) order in the counter: wall << 32 | counter


def stamp_of(op: Op) -> list[Any]:
    """The LWW stamp of ``op`` as signed (no fence applied)."""
    return [op.hlc[0], op.hlc[1], op.dev, op.hash.hex()]


def fenced_stamp(wall: int, counter: int, dev: str, op_hex: str, fence: int | None) -> list[Any]:
    """The LWW stamp of an op stamped ``(wall, counter)`` under a clock fence at ``fence`` ms (or none).

    An op stamped beyond the fence is compared at the fence: ``[fence, wall << 32 | counter, dev, hash]``.
    The counter keeps the fenced device's own order among its capped ops (its later write still beats
    its earlier one) and is above every counter an HLC issues (``crdt.hlc.COUNTER_MAX``), so a capped op
    sits at the end of the fence's millisecond and every op stamped after the fence beats it.
    """
    if fence is None or wall <= fence:
        return [wall, counter, dev, op_hex]
    return [fence, (wall << _CARRY) | min(counter, (1 << _CARRY) - 1), dev, op_hex]


def fence_of(conn: sqlite3.Connection, op: Op) -> int | None:
    """The lowest clock fence covering ``op`` (its stream up to a seq) below its wall time, or ``None``."""
    row = conn.execute(
        "SELECT MIN(max_wall) FROM clock_fences WHERE dev=? AND stream=? AND through_seq>=? AND max_wall<?",
        (op.dev, op.scope, op.seq, op.hlc[0]),
    ).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def fence_rows(conn: sqlite3.Connection, op: Op, max_wall: int, through: dict[str, int]) -> int:
    """Write the ``clock_fences`` rows of a ``device.fence`` op (fencing device ``op.obj``); returns how many
    were new."""
    before = conn.total_changes
    conn.executemany(
        "INSERT OR IGNORE INTO clock_fences (op, scope, dev, stream, through_seq, max_wall) VALUES (?,?,?,?,?,?)",
        [(op.id, op.scope, op.obj, stream, seq, max_wall) for stream, seq in sorted(through.items())],
    )
    return conn.total_changes - before


def lww_stamp(conn: sqlite3.Connection, op: Op) -> list[Any]:
    """The stamp ``op`` is compared by in LWW fields: ``stamp_of(op)``, capped at a clock fence."""
    return fenced_stamp(op.hlc[0], op.hlc[1], op.dev, op.hash.hex(), fence_of(conn, op))


def dumps(value: Any) -> str:
    """Compact, key-sorted JSON for text columns (lists, maps)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def lww_set(
    conn: sqlite3.Connection,
    table: str,
    key: dict[str, Any],
    fields: dict[str, Any],
    op: Op,
    scope: str | None = None,
) -> dict[str, Any]:
    """Set each field of the row ``key`` in ``table`` where ``op``'s stamp beats the field's stamp.

    Creates the row when missing (in ``scope``, for tables keyed by id alone). Returns the fields that took.

    Raises:
        ScopeForbidden: the row belongs to another scope than ``scope``: an op of one community never
            changes another's entity, even if it names the same id.
    """
    where = " AND ".join(f"{k} = ?" for k in key)
    wanted = "stamps" if scope is None else "stamps, scope"
    row = conn.execute(f"SELECT {wanted} FROM {table} WHERE {where}", tuple(key.values())).fetchone()
    if row is not None and scope is not None:
        same_scope(table, tuple(key.values())[0], row[1], scope)
    stamp = lww_stamp(conn, op)
    if row is None:
        cols = dict(key)
        if scope is not None:
            cols["scope"] = scope
        cols.update(fields)
        cols["stamps"] = dumps({f: stamp for f in fields})
        names = ", ".join(cols)
        marks = ", ".join("?" for _ in cols)
        conn.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", tuple(cols.values()))
        return dict(fields)
    stamps: dict[str, list[Any]] = json.loads(row[0])
    won = {f: v for f, v in fields.items() if f not in stamps or stamp > stamps[f]}
    if won:
        for f in won:
            stamps[f] = stamp
        sets = ", ".join(f"{f} = ?" for f in won)
        conn.execute(
            f"UPDATE {table} SET {sets}, stamps = ? WHERE {where}",
            (*won.values(), dumps(stamps), *key.values()),
        )
    return won


def same_scope(table: str, ident: Any, held: str, scope: str) -> None:
    """Raise ``ScopeForbidden`` unless an entity held in scope ``held`` is written from that scope."""
    if held != scope:
        raise ScopeForbidden(f"{table} {ident!r} belongs to scope {held!r}; an op in scope {scope!r} may not change it")


def add_counter(
    conn: sqlite3.Connection,
    kind: str,
    scope: str,
    key: str,
    dev: str,
    *,
    inc: int = 0,
    dec: int = 0,
    to: str | None = None,
    move: int = 0,
) -> None:
    """Add an increment, a decrement, or a move of rights from ``dev`` to ``to``, to a counter."""
    conn.execute(
        "INSERT INTO counter_rights (kind, scope, key, dev, inc, dec, moved_out) VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (kind, scope, key, dev) DO UPDATE SET inc = inc + excluded.inc, "
        "dec = dec + excluded.dec, moved_out = moved_out + excluded.moved_out",
        (kind, scope, key, dev, inc, dec, move),
    )
    if to is not None and move:
        conn.execute(
            "INSERT INTO counter_rights (kind, scope, key, dev, moved_in) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (kind, scope, key, dev) DO UPDATE SET moved_in = moved_in + excluded.moved_in",
            (kind, scope, key, to, move),
        )
    if inc or dec:
        conn.execute(
            "INSERT INTO counters (kind, scope, key, value) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (kind, scope, key) DO UPDATE SET value = value + excluded.value",
            (kind, scope, key, inc - dec),
        )


def rights(conn: sqlite3.Connection, kind: str, scope: str, key: str, dev: str) -> int:
    """The rights ``dev`` holds on a counter."""
    row = conn.execute(
        "SELECT inc + moved_in - moved_out - dec FROM counter_rights WHERE kind=? AND scope=? AND key=? AND dev=?",
        (kind, scope, key, dev),
    ).fetchone()
    return int(row[0]) if row else 0


def counter_value(conn: sqlite3.Connection, kind: str, scope: str, key: str) -> int:
    """A counter's value (``Σinc − Σdec``)."""
    row = conn.execute("SELECT value FROM counters WHERE kind=? AND scope=? AND key=?", (kind, scope, key)).fetchone()
    return int(row[0]) if row else 0
