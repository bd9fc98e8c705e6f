"""BaseCache basics: connect, check the server, use the global error queue, clean up.

Run it: ``python -m fullon_cache.examples.basic_usage`` (uses REDIS_URL and the namespace
``fullon_examples``), ``asyncio.run(basic_usage.main(settings))`` or ``fullon-cache demo``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from fullon_cache import BaseCache, CacheSettings, InvalidInputError, close_all

SOURCE = Path(__file__).read_text(encoding="utf-8")


async def main(settings: CacheSettings | None = None) -> None:
    """Show BaseCache's everyday calls against a real Redis, asserting each result."""
    settings = settings or CacheSettings.from_env().replace(key_prefix="fullon_examples")

    async with BaseCache(settings) as cache:
        assert await cache.ping()
        version = (await cache.info("server"))["redis_version"]
        print(f"connected to Redis {version} as namespace {cache.namespace!r}")
        await cache.prepare_cache()  # start from an empty namespace

        # The global error queue: FIFO, capped, shared by every Fullon service.
        await cache.push_global_error("binance: websocket closed")
        await cache.push_global_error("kraken: rate limited")
        assert await cache.get_keys("errors:*") == ["errors:global"]
        assert await cache.pop_global_error() == "binance: websocket closed"
        assert await cache.pop_global_error(timeout=1) == "kraken: rate limited"
        assert await cache.pop_global_error(timeout=0.2) is None  # waited, queue stayed empty
        print("global error queue: pushed 2, popped 2 in order, then None")

    # A fresh instance per call is cheap: it reuses the pool of this event loop.
    for _ in range(100):
        async with BaseCache(settings) as cache:
            await cache.ping()
    print("100 short-lived caches shared one pool")

    async with BaseCache(settings) as cache:
        try:
            await cache.get_keys("bad\npattern")
        except InvalidInputError as error:
            print(f"bad input is refused before anything is sent: {error}")
        async with cache.pipeline() as pipe:  # several commands, one round trip
            pipe.set(f"{cache.namespace}:demo:a", "1")
            pipe.set(f"{cache.namespace}:demo:b", "2")
        assert await cache.get_keys("demo:*") == ["demo:a", "demo:b"]
        assert await cache.prepare_cache() == 2
        print("pipeline wrote 2 keys; prepare_cache deleted the namespace's 2 keys")
    await close_all()


if __name__ == "__main__":
    asyncio.run(main())
