"""Pools belong to one event loop: a new loop never gets a pool made on another one."""

from __future__ import annotations

import asyncio

from fullon_cache import BaseCache, CacheSettings, close_all
from fullon_cache.connection import Connections, connections_for


def test_each_event_loop_gets_its_own_pool(settings: CacheSettings) -> None:
    seen: list[Connections] = []
    cache = BaseCache(settings)  # built outside any loop, used on three

    async def use() -> None:
        assert await cache.ping() is True
        seen.append(connections_for(settings))

    asyncio.run(use())  # ends without close_all: the pool closes with its loop
    asyncio.run(use())
    with asyncio.Runner() as runner:
        runner.run(use())
        runner.run(close_all())
    assert len({id(conns) for conns in seen}) == 3
    assert seen[0].loop is not seen[1].loop
    assert all(conns.closed for conns in seen)


def test_close_all_forgets_pools_of_closed_loops(settings: CacheSettings) -> None:
    async def use() -> Connections:
        async with BaseCache(settings) as cache:
            await cache.ping()
        return connections_for(settings)

    first = asyncio.run(use())
    assert first.loop is not None
    assert first.loop.is_closed()

    async def later() -> bool:
        await close_all()
        from fullon_cache.connection import _registry

        return first.loop in _registry

    assert asyncio.run(later()) is False
