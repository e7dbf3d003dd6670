"""The kiosk's screens, one per module: resident screens (no sign-in) and staff screens (staff PIN)."""

from __future__ import annotations
