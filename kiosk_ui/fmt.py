"""Formatting for people: clock times, durations, countdowns and public names.

Every function takes the language and (for wall times) the time zone explicitly, so screens render
the same text for the same clock and snapshots stay stable.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from edge import mask_name, mask_phone

from .i18n import tr

__all__ = ["clock", "countdown", "duration", "public_tech_name", "stamp", "mask_name", "mask_phone"]

_MINUTE = 60_000
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR


def _dt(ms: int, tz: tzinfo | None) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=tz) if tz is not None else datetime.fromtimestamp(ms / 1000)


def clock(ms: int | None, tz: tzinfo | None) -> str:
    """``HH:MM`` of a wall time in milliseconds (``-`` for none)."""
    return "-" if ms is None else _dt(ms, tz).strftime("%H:%M")


def stamp(ms: int | None, tz: tzinfo | None) -> str:
    """``MM-DD HH:MM`` of a wall time in milliseconds (``-`` for none)."""
    return "-" if ms is None else _dt(ms, tz).strftime("%m-%d %H:%M")


def duration(ms: int, lang: str) -> str:
    """A whole number of days, hours or minutes, the largest unit that fits (``3 天``, ``15 min``)."""
    ms = abs(ms)
    if ms >= _DAY and ms % _DAY == 0 or ms >= 2 * _DAY:
        return tr(lang, "unit.days", n=ms // _DAY)
    if ms >= _HOUR:
        return tr(lang, "unit.hours", n=ms // _HOUR)
    return tr(lang, "unit.minutes", n=max(0, ms // _MINUTE))


def countdown(remaining_ms: int, lang: str) -> str:
    """``12 分钟后到期`` while time is left, ``超时 5 分钟`` once overdue."""
    if remaining_ms >= 0:
        return tr(lang, "sla.left", time=duration(remaining_ms, lang))
    return tr(lang, "sla.overdue", time=duration(-remaining_ms, lang))


def public_tech_name(name: str, lang: str) -> str:
    """A technician's first name only, for public screens.

    A Latin-script name keeps its first word (``Wei Chen`` -> ``Wei``); a Chinese name keeps the
    family name with the customary form of address (``陈国强`` -> ``陈师傅``).
    """
    name = name.strip()
    if not name:
        return "-"
    if name.isascii():
        return name.split()[0]
    return tr(lang, "tech.address", surname=name[0])
