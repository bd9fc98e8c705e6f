"""TickCache: store tickers, read the latest, and follow updates as they are published.

Run it: ``python -m fullon_cache.examples.pubsub_example`` (uses REDIS_URL and the namespace
``fullon_examples``), ``asyncio.run(pubsub_example.main(settings))`` or ``fullon-cache demo``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from fullon_cache import CacheSettings, TickCache, TickerStaleError, close_all
from fullon_cache.models import Tick

SOURCE = Path(__file__).read_text(encoding="utf-8")


async def main(settings: CacheSettings | None = None) -> None:
    """Show tickers end to end: write, read, staleness, updates and a stream."""
    settings = settings or CacheSettings.from_env().replace(key_prefix="fullon_examples")

    async with TickCache(settings) as cache:
        await cache.prepare_cache()
        now = time.time()
        await cache.set_ticker(Tick(symbol="BTC/USDT", exchange="binance", price=50000.0, time=now))
        await cache.set_ticker(Tick(symbol="BTC/USDT", exchange="kraken", price=50010.0, time=now))
        # An older tick never replaces a newer one (a lagging writer cannot move the price back).
        assert not await cache.set_ticker(
            Tick(symbol="BTC/USDT", exchange="binance", price=1.0, time=now - 60)
        )
        tick = await cache.get_ticker("BTC/USDT", "binance")
        assert tick is not None
        assert tick.price == 50000.0
        assert tick.time == now  # exactly as stored
        freshest = await cache.get_price("BTC/USDT")  # any exchange: the freshest ticker
        print(f"BTC/USDT on binance: {tick.price}; on any exchange: {freshest}")

        await cache.set_ticker(
            Tick(symbol="ETH/USDT", exchange="binance", price=3000.0, time=now - 120)
        )
        stale: TickerStaleError | None = None
        try:
            await cache.get_ticker("ETH/USDT", "binance", max_age=30)
        except TickerStaleError as error:
            stale = error  # a 2 minute old price is never passed off as fresh
        assert stale is not None
        print(f"ETH/USDT is stale: {stale.age:.0f} s old")

        # Wait for the next update of one symbol. Pub/sub reaches only who is subscribed at
        # that moment, so this writer keeps publishing until the waiter has heard one.
        waiter = asyncio.ensure_future(cache.get_next_ticker("ETH/USDT", "binance", timeout=5))
        while not waiter.done():
            await cache.set_ticker(
                Tick(symbol="ETH/USDT", exchange="binance", price=3010.0, time=time.time())
            )
            await asyncio.wait({waiter}, timeout=0.1)
        update = waiter.result()
        assert update is not None
        assert update.price == 3010.0
        print(f"next ETH/USDT update: {update.price}")

        # A stream first replays the stored state, then follows the updates, never backwards.
        seen = []
        stream = cache.stream_ticker_updates("binance", ["BTC/USDT"])
        async with contextlib.aclosing(stream) as ticks:
            async for tick in ticks:
                seen.append(tick.price)
                if len(seen) == 1:
                    await cache.set_ticker(
                        Tick(symbol="BTC/USDT", exchange="binance", price=50100.0, time=time.time())
                    )
                else:
                    break
        assert seen == [50000.0, 50100.0]
        print(f"stream of BTC/USDT on binance: {seen}")
        await cache.prepare_cache()
    await close_all()


if __name__ == "__main__":
    asyncio.run(main())
