"""Message catalogues: every word the kiosk shows comes from ``locales/<lang>.json``.

Textual has no i18n of its own. Screens translate at compose time through :func:`tr`; switching the
language recomposes the screen. Simplified Chinese (``zh``) is the default, English (``en``) the
other. A key missing from a catalogue is shown as the key itself, so the catalogue test (every key
in both languages) and the screen test (no raw key on any screen) catch it.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from .errors import KioskError

__all__ = ["DEFAULT_LANG", "LANGS", "catalogue", "other_lang", "tr"]

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"
_DIR = Path(__file__).resolve().parent / "locales"


@cache
def catalogue(lang: str) -> dict[str, str]:
    """The message catalogue of ``lang`` (key -> text with ``{name}`` placeholders).

    Raises:
        KioskError: ``lang`` is not one of :data:`LANGS`, or its catalogue is not a flat string map.
    """
    if lang not in LANGS:
        raise KioskError(f"language {lang!r} is not one of {', '.join(LANGS)}")
    data = json.loads((_DIR / f"{lang}.json").read_text("utf-8"))
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise KioskError(f"catalogue {lang}.json must map keys to strings")
    return data


def tr(lang: str, key: str, **values: Any) -> str:
    """The text of ``key`` in ``lang`` with ``values`` filled in (the key itself when missing)."""
    text = catalogue(lang).get(key)
    if text is None:
        return key
    return text.format(**values) if values else text


def other_lang(lang: str) -> str:
    """The language the language button switches to."""
    return "en" if lang == "zh" else "zh"
