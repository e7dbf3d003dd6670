"""The node's tables: the edge family of ordered, named migrations (see ``edge.store.db``).

Three kinds of table:
- the op log (``ops``, ``streams``, ``evidence``) and local bookkeeping (``meta``, ``flags``): what
  this node holds and what it has seen;
- the materialised views (every table with a ``scope`` column listed in ``VIEW_TABLES``): a pure
  function of the op set, dumped by ``digest``;
- nothing else. A view table is never written but by an op's apply rule.

LWW fields keep their winning stamp ``[wall_ms, counter, dev, op hash]`` in a ``stamps`` JSON map
per row, so a later op with a lower stamp changes nothing, whatever order ops arrive in.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "VIEW_TABLES"]

_V1 = [
    """CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
    """CREATE TABLE ops (
        idx INTEGER PRIMARY KEY,
        hash BLOB NOT NULL UNIQUE,
        dev TEXT NOT NULL, scope TEXT NOT NULL, seq INTEGER NOT NULL,
        type TEXT NOT NULL, obj TEXT NOT NULL,
        wall INTEGER NOT NULL, counter INTEGER NOT NULL,
        raw BLOB NOT NULL, received_ms INTEGER NOT NULL,
        UNIQUE (dev, scope, seq))""",
    "CREATE INDEX ops_scope_idx ON ops (scope, idx)",
    """CREATE TABLE streams (
        dev TEXT NOT NULL, scope TEXT NOT NULL,
        head_seq INTEGER NOT NULL, head_hash BLOB NOT NULL,
        PRIMARY KEY (dev, scope))""",
    """CREATE TABLE evidence (
        hash BLOB PRIMARY KEY, dev TEXT NOT NULL, scope TEXT NOT NULL, seq INTEGER NOT NULL,
        raw BLOB NOT NULL, reason TEXT NOT NULL, received_ms INTEGER NOT NULL)""",
    """CREATE TABLE flags (
        dev TEXT NOT NULL, flag TEXT NOT NULL, detail TEXT NOT NULL, ms INTEGER NOT NULL,
        PRIMARY KEY (dev, flag))""",
    # --- views ---
    """CREATE TABLE devices (
        dev TEXT PRIMARY KEY, scope TEXT NOT NULL, pubkey BLOB NOT NULL, community TEXT NOT NULL,
        role TEXT NOT NULL, name TEXT NOT NULL, revoked_from_seq INTEGER, stamps TEXT NOT NULL)""",
    """CREATE TABLE modes (scope TEXT PRIMARY KEY, mode TEXT NOT NULL, reason TEXT NOT NULL,
        actor TEXT, since INTEGER NOT NULL, stamps TEXT NOT NULL)""",
    """CREATE TABLE tickets (
        id TEXT PRIMARY KEY, scope TEXT NOT NULL, code TEXT NOT NULL DEFAULT '',
        unit TEXT NOT NULL DEFAULT '', category TEXT NOT NULL DEFAULT 'other',
        urgency TEXT NOT NULL DEFAULT 'P4', text TEXT NOT NULL DEFAULT '', contact TEXT NOT NULL DEFAULT '',
        household TEXT, answers TEXT NOT NULL DEFAULT '{}', reported_ms INTEGER NOT NULL DEFAULT 0,
        epoch INTEGER NOT NULL DEFAULT 0, stage TEXT NOT NULL DEFAULT 'reported',
        assignee TEXT, conflict INTEGER NOT NULL DEFAULT 0,
        hold_reason TEXT, hold_since INTEGER, close_reason TEXT, rating INTEGER,
        stamps TEXT NOT NULL DEFAULT '{}')""",
    "CREATE INDEX tickets_code ON tickets (code)",
    "CREATE INDEX tickets_scope ON tickets (scope, stage)",
    """CREATE TABLE ticket_stages (
        ticket TEXT NOT NULL, scope TEXT NOT NULL, epoch INTEGER NOT NULL, stage TEXT NOT NULL,
        wall INTEGER NOT NULL, counter INTEGER NOT NULL, dev TEXT NOT NULL, actor TEXT,
        PRIMARY KEY (ticket, epoch, stage))""",
    """CREATE TABLE ticket_assigns (
        op TEXT PRIMARY KEY, ticket TEXT NOT NULL, scope TEXT NOT NULL, tech TEXT NOT NULL,
        wall INTEGER NOT NULL, counter INTEGER NOT NULL, dev TEXT NOT NULL, actor TEXT)""",
    "CREATE INDEX ticket_assigns_ticket ON ticket_assigns (ticket)",
    """CREATE TABLE ticket_supersedes (ticket TEXT NOT NULL, scope TEXT NOT NULL, op TEXT NOT NULL,
        PRIMARY KEY (ticket, op))""",
    """CREATE TABLE ticket_notes (
        op TEXT PRIMARY KEY, ticket TEXT NOT NULL, scope TEXT NOT NULL, kind TEXT NOT NULL,
        text TEXT NOT NULL, sku TEXT, qty INTEGER, actor TEXT, wall INTEGER NOT NULL)""",
    "CREATE INDEX ticket_notes_ticket ON ticket_notes (ticket)",
    """CREATE TABLE items (
        scope TEXT NOT NULL, sku TEXT NOT NULL, name_zh TEXT NOT NULL DEFAULT '',
        name_en TEXT NOT NULL DEFAULT '', kind TEXT NOT NULL DEFAULT 'part',
        emergency INTEGER NOT NULL DEFAULT 0, ration INTEGER, reorder INTEGER NOT NULL DEFAULT 0,
        stamps TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (scope, sku))""",
    """CREATE TABLE counters (
        kind TEXT NOT NULL, scope TEXT NOT NULL, key TEXT NOT NULL, value INTEGER NOT NULL,
        PRIMARY KEY (kind, scope, key))""",
    """CREATE TABLE counter_rights (
        kind TEXT NOT NULL, scope TEXT NOT NULL, key TEXT NOT NULL, dev TEXT NOT NULL,
        inc INTEGER NOT NULL DEFAULT 0, dec INTEGER NOT NULL DEFAULT 0,
        moved_in INTEGER NOT NULL DEFAULT 0, moved_out INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (kind, scope, key, dev))""",
    """CREATE TABLE ledger (
        op TEXT PRIMARY KEY, kind TEXT NOT NULL, scope TEXT NOT NULL, key TEXT NOT NULL,
        action TEXT NOT NULL, delta INTEGER NOT NULL, dev TEXT NOT NULL, actor TEXT,
        reason TEXT NOT NULL DEFAULT '', household TEXT, ticket TEXT, peer TEXT, wall INTEGER NOT NULL)""",
    "CREATE INDEX ledger_key ON ledger (kind, scope, key)",
    """CREATE TABLE households (
        scope TEXT NOT NULL, id TEXT NOT NULL, unit TEXT NOT NULL DEFAULT '',
        vulnerable TEXT NOT NULL DEFAULT '[]', pin_hash TEXT, name TEXT NOT NULL DEFAULT '',
        phone TEXT NOT NULL DEFAULT '', stamps TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (scope, id))""",
    """CREATE TABLE techs (
        id TEXT PRIMARY KEY, scope TEXT NOT NULL, name TEXT NOT NULL DEFAULT '',
        skills TEXT NOT NULL DEFAULT '[]', certs TEXT NOT NULL DEFAULT '[]', tier TEXT NOT NULL DEFAULT 'volunteer',
        home TEXT NOT NULL DEFAULT '', shared INTEGER NOT NULL DEFAULT 0, pos_x INTEGER, pos_y INTEGER,
        status TEXT NOT NULL DEFAULT 'available', phone TEXT NOT NULL DEFAULT '',
        stamps TEXT NOT NULL DEFAULT '{}')""",
    """CREATE TABLE staff (
        scope TEXT NOT NULL, id TEXT NOT NULL, pin_hash TEXT NOT NULL DEFAULT '', role TEXT NOT NULL DEFAULT 'staff',
        name TEXT NOT NULL DEFAULT '', stamps TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (scope, id))""",
    """CREATE TABLE notices (
        id TEXT PRIMARY KEY, scope TEXT NOT NULL, title_zh TEXT NOT NULL DEFAULT '',
        title_en TEXT NOT NULL DEFAULT '', body_zh TEXT NOT NULL DEFAULT '', body_en TEXT NOT NULL DEFAULT '',
        posted_ms INTEGER NOT NULL DEFAULT 0, until_ms INTEGER, stamps TEXT NOT NULL DEFAULT '{}')""",
]

# Sharing between communities and within one: transfers, lent technicians, tool loans,
# facility bookings.
_SHARING = [
    """CREATE TABLE transfers (
        id TEXT PRIMARY KEY, scope TEXT NOT NULL, src TEXT NOT NULL, dst TEXT NOT NULL,
        sku TEXT, qty INTEGER, note TEXT NOT NULL DEFAULT '', step TEXT NOT NULL,
        stamps TEXT NOT NULL DEFAULT '{}')""",
    """CREATE TABLE transfer_steps (
        transfer TEXT NOT NULL, scope TEXT NOT NULL, step TEXT NOT NULL,
        wall INTEGER NOT NULL, counter INTEGER NOT NULL, dev TEXT NOT NULL, actor TEXT,
        PRIMARY KEY (transfer, step))""",
    """CREATE TABLE tech_loans (tech TEXT PRIMARY KEY, scope TEXT NOT NULL, dst TEXT NOT NULL,
        until_ms INTEGER NOT NULL, stamps TEXT NOT NULL DEFAULT '{}')""",
    """CREATE TABLE loans (
        id TEXT PRIMARY KEY, scope TEXT NOT NULL, sku TEXT, household TEXT, due_ms INTEGER,
        lent_ms INTEGER, returned_ms INTEGER, note TEXT NOT NULL DEFAULT '', stamps TEXT NOT NULL DEFAULT '{}')""",
    """CREATE TABLE bookings (
        id TEXT PRIMARY KEY, scope TEXT NOT NULL, facility TEXT NOT NULL, slot TEXT NOT NULL,
        household TEXT NOT NULL, wall INTEGER NOT NULL, counter INTEGER NOT NULL, dev TEXT NOT NULL)""",
    """CREATE TABLE booking_cancels (id TEXT PRIMARY KEY, scope TEXT NOT NULL)""",
]

# The signed audit log: the district's Merkle tree over its op log (one hash per
# complete subtree), its signed checkpoints, the witnesses' cosignatures, and the witness keys it knows.
# Local bookkeeping, not views: a kiosk holds these tables empty.
_AUDIT = [
    """CREATE TABLE audit_nodes (level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,
        PRIMARY KEY (level, idx)) WITHOUT ROWID""",
    "CREATE TABLE audit_tree (id INTEGER PRIMARY KEY CHECK (id = 1), size INTEGER NOT NULL)",
    "INSERT INTO audit_tree (id, size) VALUES (1, 0)",
    """CREATE TABLE audit_checkpoints (size INTEGER PRIMARY KEY, root BLOB NOT NULL, note TEXT NOT NULL,
        created_ms INTEGER NOT NULL)""",
    """CREATE TABLE audit_cosignatures (
        size INTEGER NOT NULL REFERENCES audit_checkpoints (size), witness TEXT NOT NULL, key_id BLOB NOT NULL,
        line TEXT NOT NULL, timestamp INTEGER NOT NULL, received_ms INTEGER NOT NULL,
        PRIMARY KEY (size, witness, key_id))""",
    "CREATE TABLE audit_witnesses (name TEXT PRIMARY KEY, vkey TEXT NOT NULL, added_ms INTEGER NOT NULL)",
]

# Exactly-once lifecycle effects and per-epoch, fully ordered ticket facts (docs/design.md §5):
# - ``counter_once``: for each lifecycle key of a counter (``ship <transfer>``, ``arrive <transfer>``,
#   ``lend <loan>``, ``return <loan>``), the one counter op of the scope that takes effect (the lowest
#   stamp); every other op with that key is in the ledger with delta 0;
# - the quantity a transfer's approval carries, so what ships is what was approved;
# - booking cancels keyed by their scope too, so a cancel in one scope never frees another's slot;
# - hold and other ticket notes with their full stamp, the epoch of a close reason;
# - the short device number the district assigns at enrolment (ticket codes).
_ONCE = [
    """CREATE TABLE counter_once (
        kind TEXT NOT NULL, scope TEXT NOT NULL, once TEXT NOT NULL, op TEXT NOT NULL,
        wall INTEGER NOT NULL, counter INTEGER NOT NULL, dev TEXT NOT NULL, holder TEXT NOT NULL,
        key TEXT NOT NULL, inc INTEGER NOT NULL, dec INTEGER NOT NULL,
        PRIMARY KEY (kind, scope, once))""",
    "ALTER TABLE transfers ADD COLUMN approved_sku TEXT",
    "ALTER TABLE transfers ADD COLUMN approved_qty INTEGER",
    "CREATE TABLE booking_cancels_0004 (id TEXT NOT NULL, scope TEXT NOT NULL, PRIMARY KEY (id, scope))",
    "INSERT INTO booking_cancels_0004 (id, scope) SELECT id, scope FROM booking_cancels",
    "DROP TABLE booking_cancels",
    "ALTER TABLE booking_cancels_0004 RENAME TO booking_cancels",
    "ALTER TABLE ticket_notes ADD COLUMN counter INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE ticket_notes ADD COLUMN dev TEXT NOT NULL DEFAULT ''",
    "CREATE INDEX ops_hash_hex_0004 ON ops (lower(hex(hash)))",
    """UPDATE ticket_notes SET
        counter = COALESCE((SELECT o.counter FROM ops o WHERE lower(hex(o.hash)) = ticket_notes.op), 0),
        dev = COALESCE((SELECT o.dev FROM ops o WHERE lower(hex(o.hash)) = ticket_notes.op), '')""",
    "DROP INDEX ops_hash_hex_0004",
    "ALTER TABLE tickets ADD COLUMN close_epoch INTEGER",
    "UPDATE tickets SET close_epoch = epoch WHERE close_reason IS NOT NULL",
    # A completed repair now beats a concurrent cancel (cancelled sorts below resolved).
    """UPDATE tickets SET stage = 'closed' WHERE stage = 'cancelled' AND EXISTS (SELECT 1 FROM ticket_stages s
        WHERE s.ticket = tickets.id AND s.epoch = tickets.epoch AND s.stage = 'closed')""",
    """UPDATE tickets SET stage = 'resolved' WHERE stage = 'cancelled' AND EXISTS (SELECT 1 FROM ticket_stages s
        WHERE s.ticket = tickets.id AND s.epoch = tickets.epoch AND s.stage = 'resolved')""",
    "ALTER TABLE devices ADD COLUMN number INTEGER",
]

# Clock fences (``device.fence``, ``edge/domain/devices.py``): per fenced stream, up to which seq that
# device's ops are compared at ``max_wall`` in LWW fields (``edge/store/views.py``). A view.
_CLOCK_FENCES = [
    """CREATE TABLE clock_fences (
        op TEXT NOT NULL, scope TEXT NOT NULL, dev TEXT NOT NULL, stream TEXT NOT NULL,
        through_seq INTEGER NOT NULL, max_wall INTEGER NOT NULL, PRIMARY KEY (op, stream))""",
    "CREATE INDEX clock_fences_dev ON clock_fences (dev, stream, through_seq)",
]

# Released migrations are never renamed, reordered or removed: databases record them by name.
MIGRATIONS: list[tuple[str, list[str]]] = [
    ("0001_initial", _V1),
    ("0002_sharing", _SHARING),
    ("0003_audit", _AUDIT),
    ("0004_exactly_once", _ONCE),
    ("0005_clock_fences", _CLOCK_FENCES),
]

# Views, with the columns that order their canonical dump (see ``digest``).
VIEW_TABLES: dict[str, tuple[str, ...]] = {
    "devices": ("dev",),
    "modes": ("scope",),
    "tickets": ("id",),
    "ticket_stages": ("ticket", "epoch", "stage"),
    "ticket_assigns": ("op",),
    "ticket_supersedes": ("ticket", "op"),
    "ticket_notes": ("op",),
    "items": ("scope", "sku"),
    "counters": ("kind", "scope", "key"),
    "counter_rights": ("kind", "scope", "key", "dev"),
    "counter_once": ("kind", "scope", "once"),
    "ledger": ("op",),
    "households": ("scope", "id"),
    "techs": ("id",),
    "staff": ("scope", "id"),
    "notices": ("id",),
    "transfers": ("id",),
    "transfer_steps": ("transfer", "step"),
    "tech_loans": ("tech",),
    "loans": ("id",),
    "bookings": ("id",),
    "booking_cancels": ("id", "scope"),
    "clock_fences": ("op", "stream"),
}
