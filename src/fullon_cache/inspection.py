"""The read-only look at live state behind ``fullon-cache inspect``.

Example::

    state = asyncio.run(inspect_state(CacheSettings.from_env()))
    print(format_state(state))
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from fullon_cache.bot_cache import BotCache
from fullon_cache.connection import close_all
from fullon_cache.settings import CacheSettings
from fullon_cache.trades_cache import TradesCache

__all__ = ["format_state", "inspect_state"]

_QUEUE_PATTERN = "{oq:*}:pending"
_METRIC_FIELDS = ("calls", "errors", "p50_ms", "p99_ms", "max_ms")


async def inspect_state(settings: CacheSettings) -> dict[str, Any]:
    """Tickers per exchange (count, age of the newest), active processes, order-queue
    lengths, bot locks and the call statistics processes published (``publish_metrics``)
    in the namespace. Reads only.

    Example::

        (await inspect_state(settings))["locks"]   # [{'ex_id': 'binance', ...}]
    """
    try:
        async with TradesCache(settings) as cache, BotCache(settings) as bots:
            cache.source = None  # a look at the cache, never at the database
            now = time.time()
            tickers: dict[str, list[float]] = defaultdict(list)
            for tick in await cache.get_all_tickers():
                tickers[tick.exchange].append(now - tick.time)
            processes = await cache.get_active_processes(since_minutes=60)
            queues = []
            for key in await cache.get_keys(_QUEUE_PATTERN):
                name = key.removeprefix("{oq:").removesuffix("}:pending")
                queues.append({"queue": name, "waiting": await cache.get_queue_length(name)})
            return {
                "namespace": cache.namespace,
                "tickers": [
                    {"exchange": ex, "tickers": len(ages), "newest_age_s": round(min(ages), 3)}
                    for ex, ages in sorted(tickers.items())
                ],
                "processes": [
                    {
                        "type": record["process_type"],
                        "component": record["component"],
                        "status": record["status"],
                        "last_seen_age_s": round(now - record["last_seen"], 3),
                        "heartbeat_stale": record["_heartbeat_stale"],
                    }
                    for record in processes
                ],
                "queues": queues,
                "locks": await bots.get_blocks(),
                "metrics": _metric_rows(await cache.get_published_metrics(), now),
            }
    finally:
        await close_all()


def _metric_rows(published: dict[str, dict[str, Any]], now: float) -> list[dict[str, Any]]:
    """One row per publisher and operation."""
    rows = []
    for publisher, snapshot in published.items():
        age = round(now - snapshot["published_at"], 1)
        for operation, stats in sorted(snapshot["operations"].items()):
            rows.append(
                {
                    "publisher": publisher,
                    "age_s": age,
                    "operation": operation,
                    **{field: stats.get(field) for field in _METRIC_FIELDS},
                }
            )
    return rows


def _table(title: str, rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return [f"{title}: none"]
    columns = list(rows[0])
    widths = [max(len(col), *(len(str(row[col])) for row in rows)) for col in columns]

    def line(values: list[str]) -> str:
        cells = (value.ljust(width) for value, width in zip(values, widths, strict=True))
        return ("  " + "  ".join(cells)).rstrip()

    return [f"{title}:", line(columns), *(line([str(row[c]) for c in columns]) for row in rows)]


def format_state(state: dict[str, Any]) -> str:
    """The state as plain-text tables.

    Example::

        print(format_state(state))
    """
    lines = [f"namespace {state['namespace']}"]
    for title in ("tickers", "processes", "queues", "locks", "metrics"):
        lines += _table(title, state[title])
    return "\n".join(lines)
