"""Integration tests: every test runs on its own event loop and closes the pools it used."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from fullon_cache.connection import close_all


@pytest.fixture(autouse=True)
async def _close_shared_pools() -> AsyncIterator[None]:
    yield
    await close_all()
