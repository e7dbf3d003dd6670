"""Notices posted by the district or a community (LWW per field; re-posting an id edits it)."""

from __future__ import annotations

import sqlite3
from typing import Any

from pydantic import Field

from crdt.op import Op
from edge.domain.fields import Long, OptShort, Short
from edge.store.optypes import Payload, register
from edge.store.views import lww_set

__all__ = ["NoticePost", "list_notices"]


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
