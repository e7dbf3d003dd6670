"""The lobby kiosk terminal UI (Textual); talks only to ``edge.Node``.

``KioskApp`` is the app; ``seed_community`` and ``seed_district`` fill nodes with demo data.
"""

from __future__ import annotations

from .app import KioskApp
from .errors import KioskError, UsageError
from .seed import seed_community, seed_district

__all__ = ["KioskApp", "KioskError", "UsageError", "seed_community", "seed_district"]
