"""The command's tests log into their own directory and undo the handlers it adds."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _quiet_logging(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Log into this test's directory, not the console, and undo the command's handlers."""
    monkeypatch.setenv("FULLON_CACHE_LOG_DIR", str(tmp_path))
    monkeypatch.setenv("LOG_CONSOLE", "false")
    logger = logging.getLogger("fullon")
    handlers, level = list(logger.handlers), logger.level
    yield
    for handler in [h for h in logger.handlers if h not in handlers]:
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(level)
