"""A device restored from an older copy of its data folder takes its own ops back from the district.

The district answers every sync with the heads it holds of the caller's own streams; the request says
which heads the device believes the district holds (``mine``). When the district holds more, the device
was restored from an older copy (or lost the answer to its last push): the district applies none of its
push (``behind``) and its pull includes the device's own ops. Then, in the transaction that applies that
page, the device:

1. *sets aside* its own ops the district has not acknowledged (seq past ``mine``): those it wrote since
   the restore, and any it pushed whose answer was lost; they leave the log and the views are rebuilt
   without them (``stash``);
2. applies the pulled page, its own ops included, in the district's log order (causes first), and keeps
   pulling with its own ops until it holds every op of its streams the district holds;
3. *puts back* what it set aside, on top (``reissue``): an op the district holds already is dropped (it
   came back with the pull); an op that still follows its stream's head is re-appended as it is; any
   other is **re-issued**: a new op with a new sequence number and clock, and the same scope, type,
   object, payload and actor (so a ticket keeps its id). A re-issued counter op that would leave this
   device's rights below zero (it spent rights the lost ops had spent already) is not re-issued but
   recorded in ``restore_dropped`` for staff.

Invariant (``docs/design.md`` §5, restores): every op the device acknowledged to a user reaches the
district, and the device never pushes a different op at a sequence number the district holds, so its
own restore never makes it an equivocating (quarantined) device. ``meta restore_recovering`` holds the
set-aside ops while it lasts, in the same transactions as the log, so a crash in the middle loses none.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

from crdt.op import decode_op
from edge.errors import EdgeError
from edge.store.digest import rebuild_views
from edge.store.local import Tx

if TYPE_CHECKING:
    from edge.store.log import Store

__all__ = ["RECOVERING_KEY", "RESULT_KEY", "finish", "pulled", "recovering", "stash"]

RECOVERING_KEY = "restore_recovering"
RESULT_KEY = "restore_last"
DROPPED_KEY = "restore_dropped"


def recovering(store: Store, conn: sqlite3.Connection | None = None) -> bool:
    """Whether this device is pulling its own ops back from the district."""
    return bool(store.meta_get(conn or store.conn, RECOVERING_KEY))


def _set_aside(store: Store, conn: sqlite3.Connection, state: dict[str, Any], from_idx: int) -> int:
    """Move this device's own ops at local log index ``from_idx`` and later into ``state["stash"]``."""
    me = store.ident.dev
    rows = conn.execute(
        "SELECT idx, scope, seq, raw FROM ops WHERE dev=? AND idx>=? ORDER BY idx", (me, from_idx)
    ).fetchall()
    if not rows:
        return 0
    state["stash"] += [[int(idx), bytes(raw).hex()] for idx, _, _, raw in rows]
    state["stash"].sort()  # local log order: causes before effects
    first: dict[str, int] = {}
    for _, scope, seq, _ in rows:
        first[str(scope)] = min(int(seq), first.get(str(scope), int(seq)))
    conn.execute("DELETE FROM ops WHERE dev=? AND idx>=?", (me, from_idx))
    for scope, seq in first.items():
        keep = seq - 1
        head = conn.execute("SELECT hash FROM ops WHERE dev=? AND scope=? AND seq=?", (me, scope, keep)).fetchone()
        if head is None:
            conn.execute("DELETE FROM streams WHERE dev=? AND scope=?", (me, scope))
        else:
            conn.execute(
                "UPDATE streams SET head_seq=?, head_hash=? WHERE dev=? AND scope=?", (keep, head[0], me, scope)
            )
    rebuild_views(conn)
    return len(rows)


def stash(
    store: Store,
    conn: sqlite3.Connection,
    behind: dict[str, int],
    mine: dict[str, int],
    hashes: dict[str, list[bytes]],
) -> int:
    """Find where this device's streams part from the district's, and set aside what follows.

    Runs inside the caller's write transaction, before a page is applied. ``behind`` names the streams
    of which the district holds more than this device believed (``mine``), and ``hashes`` the district's
    op hashes of each after ``mine``. Own ops that match are kept (a push whose answer was lost); from the
    first own op that differs (written since a restore), every own op written after it, in any stream,
    is set aside, so that they are put back in the order they were written. While the district holds
    own ops this device lacks, the recovery lasts, and each page first sets aside the ops written here
    since the last page (they would take sequence numbers the district holds). Returns how many ops
    were set aside.
    """
    me = store.ident.dev
    state: dict[str, Any] = store.meta_get(conn, RECOVERING_KEY) or {}
    fresh = not state
    if fresh:
        state = {"stash": [], "from": {}, "idx": 0, "since": store.wall()}
    cut: int | None = None if fresh else int(state["idx"]) + 1
    missing = False
    for scope, head in sorted(behind.items()):
        base = int(mine.get(scope, 0))
        local = {
            int(seq): (int(idx), bytes(h))
            for idx, seq, h in conn.execute(
                "SELECT idx, seq, hash FROM ops WHERE dev=? AND scope=? AND seq>?", (me, scope, base)
            )
        }
        fork = base
        for h in hashes.get(scope, []):
            if local.get(fork + 1, (0, b""))[1] != h:
                break
            fork += 1
        if fork + 1 in local and fork + 1 <= head:  # the district holds another op at that seq
            cut = min(cut, local[fork + 1][0]) if cut is not None else local[fork + 1][0]
        if head > fork:
            missing = True
            state["from"].setdefault(scope, fork)
    if fresh and not missing and cut is None:
        return 0  # only a lost answer: this device holds everything the district holds of it
    moved = _set_aside(store, conn, state, cut) if cut is not None else 0
    store.meta_set(conn, RECOVERING_KEY, state)
    return moved


def pulled(store: Store, conn: sqlite3.Connection) -> None:
    """After a page was applied: the own ops held now are the district's; later ones are set aside."""
    state = store.meta_get(conn, RECOVERING_KEY)
    if not state:
        return
    state["idx"] = int(conn.execute("SELECT COALESCE(MAX(idx), 0) FROM ops").fetchone()[0])
    store.meta_set(conn, RECOVERING_KEY, state)


def _negative_rights(conn: sqlite3.Connection, dev: str) -> tuple[str, str, str, int] | None:
    row = conn.execute(
        "SELECT kind, scope, key, inc + moved_in - moved_out - dec FROM counter_rights "
        "WHERE dev=? AND inc + moved_in - moved_out - dec < 0 LIMIT 1",
        (dev,),
    ).fetchone()
    return None if row is None else (str(row[0]), str(row[1]), str(row[2]), int(row[3]))


def finish(store: Store, conn: sqlite3.Connection, server_heads: dict[str, int]) -> dict[str, Any] | None:
    """Put the set-aside ops back on top of the streams, once every own op of the district is held.

    Returns what was done (``{adopted, kept, reissued, dropped}``), or ``None`` while the device still
    lacks some of its own ops the district holds (``server_heads``: ``{scope: seq}``).
    """
    state = store.meta_get(conn, RECOVERING_KEY)
    if not state:
        return None
    me = store.ident.dev
    local = {
        str(s): int(n) for s, n in conn.execute("SELECT scope, head_seq FROM streams WHERE dev=?", (me,)).fetchall()
    }
    if any(local.get(scope, 0) < seq for scope, seq in server_heads.items()):
        return None
    kept = reissued = same = 0
    dropped: list[dict[str, Any]] = []
    for _, hexraw in state["stash"]:
        op = decode_op(bytes.fromhex(hexraw))
        if conn.execute("SELECT 1 FROM ops WHERE hash=?", (op.hash,)).fetchone():
            same += 1  # the district had it: it came back with the pull
            continue
        head = conn.execute(
            "SELECT head_seq, head_hash FROM streams WHERE dev=? AND scope=?", (me, op.scope)
        ).fetchone()
        head_seq, head_hash = (int(head[0]), bytes(head[1])) if head else (0, b"\0" * 32)
        conn.execute("SAVEPOINT reissue")
        try:
            if op.seq == head_seq + 1 and op.prev == head_hash:
                refused = store.apply_remote_in(conn, [op.raw]).rejected
                if refused:
                    raise EdgeError(str(refused[0]))
                kept += 1
            else:
                Tx(store, conn).emit(op.scope, op.type, op.obj, dict(op.data), op.actor)
                reissued += 1
            negative = _negative_rights(conn, me)
            if negative is not None:
                kind, scope, key, value = negative
                raise EdgeError(f"it would leave this device's {kind} rights on {scope}/{key} at {value}")
        except EdgeError as exc:
            conn.execute("ROLLBACK TO reissue")
            dropped.append({"op": op.where(), "type": op.type, "obj": op.obj, "actor": op.actor, "why": str(exc)[:300]})
        conn.execute("RELEASE reissue")
    result: dict[str, Any] = {
        "at": store.wall(),
        "since": state.get("since"),
        "adopted": sum(server_heads.get(s, 0) - int(n) for s, n in state["from"].items()),
        "same": same,
        "kept": kept,
        "reissued": reissued,
        "dropped": len(dropped),
    }
    conn.execute("DELETE FROM meta WHERE key=?", (RECOVERING_KEY,))
    store.meta_set(conn, RESULT_KEY, result)
    if dropped:
        store.meta_set(conn, DROPPED_KEY, (list(store.meta_get(conn, DROPPED_KEY, [])) + dropped)[-200:])
    return result
