"""Checks of a command's arguments before any op is built: bounded text, units and quantities.

The payload models check the same bounds again when an op is written or received; these give the
person at the kiosk or the CLI a message that names the argument.
"""

from __future__ import annotations

from edge.domain.fields import UNIT_RE
from edge.errors import InputError

__all__ = ["DAY_MS", "MAX_TEXT", "check_pin", "qty", "text", "unit"]

MAX_TEXT = 2000
DAY_MS = 24 * 3600 * 1000


def text(value: str, what: str, limit: int = MAX_TEXT) -> str:
    """``value`` stripped; refused when empty or longer than ``limit`` characters."""
    value = (value or "").strip()
    if not value:
        raise InputError(f"{what} is empty")
    if len(value) > limit:
        raise InputError(f"{what} has {len(value)} characters; the limit is {limit}")
    return value


def unit(value: str, what: str = "unit") -> str:
    """A unit (flat) string: at most 32 characters, no slash, backslash or control character."""
    value = text(value, what, 32)
    if not UNIT_RE.fullmatch(value):
        raise InputError(f"{what} {value!r} may not contain '/', '\\' or control characters")
    return value


def qty(n: int, what: str = "quantity") -> int:
    """A positive whole number up to 1,000,000."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise InputError(f"{what} {n!r} is not a whole number")
    if n <= 0:
        raise InputError(f"{what} must be positive, got {n}")
    if n > 1_000_000:
        raise InputError(f"{what} {n} is over the limit of 1,000,000")
    return n


def check_pin(pin: str) -> str:
    """A PIN: 4 to 8 digits."""
    if not (pin.isdigit() and 4 <= len(pin) <= 8):
        raise InputError("a PIN is 4 to 8 digits")
    return pin
