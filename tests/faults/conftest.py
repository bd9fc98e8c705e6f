"""Fault tests: each test gets its own private server (they restart, pause and fill it)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from fullon_cache.connection import close_all


@pytest.fixture(autouse=True)
async def _close_shared_pools() -> AsyncIterator[None]:
    yield
    await close_all()
