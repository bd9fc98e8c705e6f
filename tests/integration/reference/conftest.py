"""Fixtures of the reference-data caches: a counting source and caches with and without it.

Each test module names its cache class in ``CACHE_CLASS``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from fullon_cache import CacheSettings, ExchangeCache, sources
from tests.support.reference import Database


@pytest.fixture(autouse=True)
def _no_default_source(monkeypatch: pytest.MonkeyPatch) -> None:
    """No process-wide default source (fullon_orm is absent, or ignored): only ours counts."""
    monkeypatch.setattr(sources, "_chosen", [None])


@pytest.fixture
def db() -> Database:
    return Database()


@pytest.fixture
async def cache(
    request: pytest.FixtureRequest, settings: CacheSettings, db: Database
) -> AsyncIterator[ExchangeCache]:
    async with request.module.CACHE_CLASS(settings) as cache:
        cache.source = db
        yield cache


@pytest.fixture
async def bare(
    request: pytest.FixtureRequest, settings: CacheSettings
) -> AsyncIterator[ExchangeCache]:
    """A cache without any source: a miss is just a miss."""
    async with request.module.CACHE_CLASS(settings) as cache:
        cache.source = None
        assert cache.source is None
        yield cache
