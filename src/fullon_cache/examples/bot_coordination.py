"""BotCache and OHLCVCache: one bot per symbol, leases with fencing numbers, candles.

Run it: ``python -m fullon_cache.examples.bot_coordination`` (uses REDIS_URL and the namespace
``fullon_examples``), ``asyncio.run(bot_coordination.main(settings))`` or ``fullon-cache demo``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from fullon_cache import CacheSettings, OHLCVCache, close_all

SOURCE = Path(__file__).read_text(encoding="utf-8")


async def main(settings: CacheSettings | None = None) -> None:
    """Show bot coordination and candle series, asserting each step."""
    settings = settings or CacheSettings.from_env().replace(key_prefix="fullon_examples")

    async with OHLCVCache(settings) as cache:
        await cache.prepare_cache()

        # Ten bots race for BTC/USDT on binance: exactly one gets it.
        won = await asyncio.gather(
            *(cache.block_exchange("binance", "BTC/USDT", bot_id, ttl=30) for bot_id in range(10))
        )
        assert won.count(True) == 1
        holder = await cache.is_blocked("binance", "BTC/USDT")
        print(f"10 bots raced for BTC/USDT: bot {holder} holds it")
        assert not await cache.unblock_exchange("binance", "BTC/USDT", bot_id=99)  # not the owner
        assert await cache.unblock_exchange("binance", "BTC/USDT", bot_id=holder)

        # A lease kept alive while the bot trades; the fence orders the holders over time.
        async with cache.bot_lock("binance", "ETH/USDT", bot_id=1, ttl=5) as first:
            # While bot 1 holds it, bot 2 is turned away (bot_lock would raise LockHeldError).
            assert not await cache.block_exchange("binance", "ETH/USDT", bot_id=2)
            print(f"bot 2 is turned away: ETH/USDT is held by bot {first.bot_id}")
            first.check()
        async with cache.bot_lock("binance", "ETH/USDT", bot_id=2, ttl=5) as second:
            assert second.fence > first.fence
        print(f"fences: bot 1 had {first.fence}, bot 2 then got {second.fence}")

        # Candles: the live candle is updated many times and stays one bar.
        start = 1_700_000_040
        await cache.update_ohlcv_bars("BTC/USDT", "1m", [[start, 100, 101, 99, 100.5, 3]])
        for close in (100.7, 100.9, 101.2):
            await cache.update_ohlcv_bars("BTCUSDT", "1m", [[start, 100, 101.5, 99, close, 4]])
        await cache.update_ohlcv_bars("BTC/USDT", "1m", [[start + 180, 101, 102, 100, 101, 2]])
        bars = await cache.get_latest_ohlcv_bars("BTC/USDT", "1m", 10)
        assert [bar[0] for bar in bars] == [start, start + 180]
        assert bars[0][4] == 101.2
        gaps = await cache.get_ohlcv_gaps("BTC/USDT", "1m", start, start + 180)
        assert gaps == [(start + 60, start + 120)]
        print(f"2 bars stored (the live one updated 4 times); missing candles: {gaps}")
        await cache.prepare_cache()
    await close_all()


if __name__ == "__main__":
    asyncio.run(main())
