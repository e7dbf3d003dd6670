"""Notices posted by the district or a community.

Op type ``notice.post`` (scope: the community, or ``district`` for every community): LWW per field,
so re-posting an id edits it and every replica shows the fields of the latest post. A notice is
shown until ``until_ms`` (for ever without one).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from pydantic import Field

from crdt.ids import new_ulid
from crdt.op import Op
from edge.domain.context import Context
from edge.domain.fields import Long, OptShort, Short
from edge.store.optypes import Payload, register
from edge.store.views import lww_set

__all__ = ["NoticePost", "list_notices", "post_notice"]


class NoticePost(Payload):
    title_zh: Short
    title_en: Short
    body_zh: Long
    body_en: Long
    until_ms: int | None = Field(default=None, ge=0)
    author: OptShort = ""


@register("notice.post", NoticePost)
def _post(conn: sqlite3.Connection, op: Op, p: NoticePost) -> None:
    fields: dict[str, Any] = p.model_dump(exclude={"author"})
    fields["posted_ms"] = op.hlc[0]
    lww_set(conn, "notices", {"id": op.obj}, fields, op, scope=op.scope)


def list_notices(conn: sqlite3.Connection, scopes: list[str], now_ms: int) -> list[dict[str, Any]]:
    """Notices of ``scopes`` still current at ``now_ms``, newest first."""
    marks = ",".join("?" for _ in scopes)
    cols = ("id", "scope", "title_zh", "title_en", "body_zh", "body_en", "posted_ms", "until_ms")
    rows = conn.execute(
        f"SELECT {', '.join(cols)} FROM notices WHERE scope IN ({marks}) AND (until_ms IS NULL OR until_ms > ?) "
        "ORDER BY posted_ms DESC, id",
        (*scopes, now_ms),
    )
    return [dict(zip(cols, r, strict=True)) for r in rows]


def post_notice(
    ctx: Context,
    title_zh: str,
    title_en: str,
    body_zh: str,
    body_en: str,
    *,
    until_ms: int | None = None,
    scope: str | None = None,
    actor: str | None = None,
) -> dict[str, Any]:
    """Post a notice in ``scope`` (default this community's): ``{id}``."""
    nid = new_ulid(ctx.now_ms())
    data = {"title_zh": title_zh, "title_en": title_en, "body_zh": body_zh, "body_en": body_en, "until_ms": until_ms}
    with ctx.store.tx() as tx:
        tx.emit(ctx.home(scope), "notice.post", nid, data, actor)
    return {"id": nid}
