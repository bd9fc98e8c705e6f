"""ProcessCache: processes, heartbeats, health, broadcasts and shared call statistics.

Processes are registered, heartbeated, watched and broadcast to; this process's call
statistics (``fullon_cache.monitoring``) are published for ``fullon-cache inspect``.

Run it: ``python -m fullon_cache.examples.process_monitoring`` (uses REDIS_URL and the namespace
``fullon_examples``), ``asyncio.run(process_monitoring.main(settings))`` or ``fullon-cache demo``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from fullon_cache import (
    CacheSettings,
    ProcessCache,
    ProcessStatus,
    ProcessType,
    close_all,
    monitoring,
)
from fullon_cache.monitoring import OperationEvent

SOURCE = Path(__file__).read_text(encoding="utf-8")


async def main(settings: CacheSettings | None = None) -> None:
    """Show a process's life cycle in the registry, asserting each step."""
    settings = settings or CacheSettings.from_env().replace(key_prefix="fullon_examples")

    async with ProcessCache(settings) as cache:
        await cache.prepare_cache()
        ticker = await cache.register_process(ProcessType.TICK, "ticker binance")
        bot = await cache.register_process(
            "bot", "bot 17", params={"symbol": "BTC/USDT"}, status=ProcessStatus.RUNNING
        )
        print(f"registered {ticker!r} and {bot!r}")

        # A heartbeat with new state; params merge shallowly.
        assert await cache.update_process(bot, message="position opened", params={"size": 0.1})
        record = await cache.get_process(bot)
        assert record is not None
        assert record["params"] == {"symbol": "BTC/USDT", "size": 0.1}
        print(f"bot 17 says {record['message']!r}, params {record['params']}")

        active = await cache.get_active_processes(since_minutes=5)
        assert [r["process_id"] for r in active] == [bot, ticker]  # newest first
        health = await cache.get_system_health()
        assert health["healthy"]
        assert health["by_type"] == {"tick": 1, "bot": 1}
        print(f"health: {health}")

        # Broadcasts reach the processes that listen right now (best effort).
        async with cache.broadcasts(ProcessType.BOT) as messages:
            assert await cache.broadcast_message("bot", "reload strategy", {"version": 2}) == 1
            note = await asyncio.wait_for(anext(messages), 5)
        assert note["message"] == "reload strategy"
        assert note["data"] == {"version": 2}
        print(f"bot received broadcast {note['message']!r}")

        # Every call to Redis is counted under the method it served; listeners see each one.
        seen: list[OperationEvent] = []
        monitoring.add_listener(seen.append)
        await cache.get_process(bot)
        monitoring.remove_listener(seen.append)
        assert [event.name for event in seen] == ["get_process"]
        stats = monitoring.snapshot()["get_process"]
        assert stats["calls"] >= 2
        print(f"get_process: {stats['calls']} calls, p99 <= {stats['p99_ms']} ms")
        await cache.publish_metrics("example process", ttl=30)  # what inspect shows
        assert "example process" in await cache.get_published_metrics()

        assert await cache.stop_process(ticker, "maintenance")
        assert [r["component"] for r in await cache.get_active_processes()] == ["bot 17"]
        print("ticker stopped: only bot 17 is still active")
        await cache.prepare_cache()
    await close_all()


if __name__ == "__main__":
    asyncio.run(main())
