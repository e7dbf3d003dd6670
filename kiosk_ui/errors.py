"""Errors raised by the kiosk UI itself (the edge node raises ``edge.EdgeError``).

Hierarchy::

    KioskError
    └── UsageError (ValueError)     a bad command-line argument or data directory: exit 2
"""

from __future__ import annotations

__all__ = ["KioskError", "UsageError"]


class KioskError(Exception):
    """Base class of every error raised by ``kiosk_ui``."""

    exit_code = 1


class UsageError(ValueError, KioskError):
    """A command-line argument or data directory the kiosk cannot use."""

    exit_code = 2
