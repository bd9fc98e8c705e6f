"""Order and trade queues: at-least-once delivery, acknowledgement, requeue, trade drains.

Run it: ``python -m fullon_cache.examples.queue_patterns`` (uses REDIS_URL and the namespace
``fullon_examples``), ``asyncio.run(queue_patterns.main(settings))`` or ``fullon-cache demo``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from fullon_cache import CacheSettings, close_all
from fullon_cache.models import Order, Trade
from fullon_cache.trades_cache import TradesCache

SOURCE = Path(__file__).read_text(encoding="utf-8")


def _place_order_on_the_exchange(item: object) -> None:
    raise ConnectionError(f"the exchange did not answer for order {item}")


async def main(settings: CacheSettings | None = None) -> None:
    """Show the queue patterns of the order and trade layers, asserting each step."""
    settings = settings or CacheSettings.from_env().replace(key_prefix="fullon_examples")

    async with TradesCache(settings) as cache:
        await cache.prepare_cache()

        # Order status: merges, and a canceled order that expires alone.
        await cache.save_order_data(
            "binance", Order(ex_order_id="A1", symbol="BTC/USDT", volume=1.0)
        )
        await cache.save_order_data("binance", Order(ex_order_id="A1", status="open"))
        stored = await cache.get_order_status("binance", "A1")
        assert stored is not None
        assert (stored.volume, stored.status) == (1.0, "open")
        print(f"order A1 merged: volume {stored.volume}, status {stored.status}")

        # A FIFO queue of orders (or order ids) for one bot.
        await cache.push_open_order("bot_17", Order(order_id=1, symbol="BTC/USDT", side="buy"))
        await cache.push_open_order("bot_17", "2")
        first = await cache.pop_open_order("bot_17", timeout=1)
        assert isinstance(first, Order)
        assert first.order_id == 1
        waiting = await cache.get_queue_length("bot_17")
        print(f"popped order {first.order_id}; {waiting} item waits in the queue")

        # Claim: acknowledged only when the work finished; otherwise it comes back.
        with contextlib.suppress(ConnectionError):
            async with cache.claim_open_order("bot_17", timeout=1) as item:
                assert item == "2"
                _place_order_on_the_exchange(item)  # the bot fails mid-way
        assert await cache.get_queue_length("bot_17") == 0  # still claimed, not lost
        assert await cache.requeue_stale_orders("bot_17", older_than=0) == 1
        async with cache.claim_open_order("bot_17", timeout=1) as item:
            assert item == "2"  # delivered again, and acknowledged this time
        print("order 2 failed once, was requeued and delivered again")

        # Trades: pushed by the collector, drained atomically by the account service.
        for trade_id in (1, 2, 3):
            trade = Trade(trade_id=trade_id, symbol="BTC/USDT", volume=0.1, time=time.time())
            await cache.push_trade_list("BTC/USDT", "binance", trade)
        drained = await cache.get_trades("BTCUSDT", "binance")  # same list as "BTC/USDT"
        assert [t.trade_id for t in drained] == [1, 2, 3]
        assert await cache.get_trades("BTC/USDT", "binance") == []
        print(f"drained trades {[t.trade_id for t in drained]}; the list is empty now")

        await cache.update_trade_status("binance:BTC/USDT")
        status = await cache.get_trade_status("binance:BTC/USDT")
        assert status is not None
        assert status.tzinfo is not None
        print(f"trade status updated at {status.isoformat()}")
        await cache.prepare_cache()
    await close_all()


if __name__ == "__main__":
    asyncio.run(main())
