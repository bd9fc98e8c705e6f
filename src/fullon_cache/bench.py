"""The performance benchmark behind ``fullon-cache bench``.

Each operation runs through fullon_cache and, in the same process against the same server,
as the equivalent raw redis-py call, so the ratio between the two is what the machine's noise
cannot fake. Latencies are per call (sequential, one at a time); ops/s is 1 / mean latency.

Example::

    results = asyncio.run(run_benchmark(settings, operations=2000))
    print(format_table(results))
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from redis.asyncio import Redis

from fullon_cache.base_cache import BaseCache
from fullon_cache.codecs import encode_model
from fullon_cache.connection import close_all
from fullon_cache.keys import KeySpace
from fullon_cache.models import Tick
from fullon_cache.settings import CacheSettings
from fullon_cache.tick_cache import TickCache

__all__ = ["Measurement", "format_table", "run_benchmark"]

_Call = Callable[[], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Measurement:
    """One operation timed through fullon_cache and through raw redis-py."""

    name: str
    p50_us: float
    p99_us: float
    ops_per_s: float
    raw_p50_us: float
    raw_p99_us: float
    raw_ops_per_s: float

    @property
    def ratio(self) -> float:
        """fullon_cache's p50 divided by raw redis-py's (1.0 = no overhead)."""
        return self.p50_us / self.raw_p50_us

    def as_dict(self) -> dict[str, Any]:
        """The numbers as a JSON-ready dict, ratio included."""
        return {**asdict(self), "ratio": round(self.ratio, 3)}


async def _timings(call: _Call, operations: int) -> list[float]:
    for _ in range(max(10, operations // 10)):  # warm-up: connections, scripts, caches
        await call()
    samples = []
    for _ in range(operations):
        started = time.perf_counter_ns()
        await call()
        samples.append((time.perf_counter_ns() - started) / 1000)
    return sorted(samples)


def _summary(samples: list[float]) -> tuple[float, float, float]:
    p99 = samples[min(len(samples) - 1, round(0.99 * (len(samples) - 1)))]
    return statistics.median(samples), p99, 1e6 / statistics.fmean(samples)


async def _measure(name: str, ours: _Call, raw: _Call, operations: int) -> Measurement:
    p50, p99, ops = _summary(await _timings(ours, operations))
    raw_p50, raw_p99, raw_ops = _summary(await _timings(raw, operations))
    return Measurement(name, p50, p99, ops, raw_p50, raw_p99, raw_ops)


def _raw_client(settings: CacheSettings) -> Redis:
    if settings.unix_socket_path:
        return Redis(
            unix_socket_path=settings.unix_socket_path,
            db=settings.db,
            username=settings.username,
            password=settings.password,
        )
    return Redis(
        host=settings.host,
        port=settings.port,
        db=settings.db,
        ssl=settings.ssl,
        ssl_ca_certs=settings.ssl_ca_certs,
        username=settings.username,
        password=settings.password,
    )


async def run_benchmark(settings: CacheSettings, operations: int = 5000) -> list[Measurement]:
    """Time BaseCache's calls against raw redis-py; deletes its namespace's keys afterwards.

    Example::

        for m in await run_benchmark(settings, operations=1000):
            print(m.name, m.p50_us, m.ratio)
    """
    raw = _raw_client(settings)
    cache = TickCache(settings)
    cache.source = None
    key = f"{settings.key_prefix}:errors:global"
    keys = KeySpace(settings.key_prefix)
    latest, times = keys.tickers("bench"), keys.ticker_times("bench")
    updates, index = keys.ticker_updates("bench"), keys.ticker_exchanges()

    def tick() -> Tick:
        return Tick(symbol="BTC/USDT", exchange="bench", price=50000.0, time=time.time(),
                    bid=49999.5, ask=50000.5, volume=1234.5)  # fmt: skip

    async def raw_set_ticker() -> None:
        data = encode_model(tick())
        async with raw.pipeline(transaction=False) as pipe:
            pipe.hset(latest, "BTC/USDT", data)
            pipe.hset(times, "BTC/USDT", repr(time.time()))
            pipe.publish(updates, data)
            pipe.sadd(index, "bench")
            await pipe.execute()

    async def fresh_instance_ping() -> None:
        async with BaseCache(settings) as short_lived:
            await short_lived.ping()

    async def push_pop() -> None:
        await cache.push_global_error("benchmark")
        await cache.pop_global_error()

    async def raw_push_pop() -> None:
        async with raw.pipeline(transaction=False) as pipe:
            pipe.rpush(key, b"benchmark")
            pipe.ltrim(key, -cache.GLOBAL_ERROR_CAP, -1)
            await pipe.execute()
        await raw.lpop(key)

    try:
        return [
            await _measure("ping", cache.ping, raw.ping, operations),
            await _measure("ping, new instance", fresh_instance_ping, raw.ping, operations),
            await _measure(
                "pop (empty queue)", cache.pop_global_error, lambda: raw.lpop(key), operations
            ),
            await _measure("push + pop", push_pop, raw_push_pop, operations),
            await _measure(
                "set_ticker", lambda: cache.set_ticker(tick()), raw_set_ticker, operations
            ),
            await _measure(
                "get_ticker (hit)",
                lambda: cache.get_ticker("BTC/USDT", "bench"),
                lambda: raw.hget(latest, "BTC/USDT"),
                operations,
            ),
        ]
    finally:
        await cache.prepare_cache()
        await cache.aclose()
        await raw.aclose()
        await close_all()


def format_table(results: list[Measurement]) -> str:
    """A fixed-width table of the measurements.

    Example::

        print(format_table(await run_benchmark(settings)))
    """
    header = (
        f"{'operation':<20} {'p50 µs':>8} {'p99 µs':>8} {'ops/s':>8}   "
        f"{'raw p50':>8} {'raw p99':>8} {'raw ops/s':>9}   {'p50 ratio':>9}"
    )
    rows = [
        f"{m.name:<20} {m.p50_us:>8.1f} {m.p99_us:>8.1f} {m.ops_per_s:>8.0f}   "
        f"{m.raw_p50_us:>8.1f} {m.raw_p99_us:>8.1f} {m.raw_ops_per_s:>9.0f}   {m.ratio:>8.2f}x"
        for m in results
    ]
    return "\n".join([header, "-" * len(header), *rows])
