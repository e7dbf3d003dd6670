"""Integration tests: each starts a real ``linli-server serve`` (uvicorn) on 127.0.0.1 or runs the demo.

Every test collected here is marked ``slow``, so ``make check-fast`` (``-m "not slow"``) leaves the whole
folder out and ``make test`` runs it. The live server itself is ``tests.integration.live.LiveServer``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.slow)
