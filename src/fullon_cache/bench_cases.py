"""What ``fullon-cache bench`` measures: the main operation of every layer, each next to the
minimal raw redis-py command sequence that does the same work (the same keys and payloads).

Reads on the raw side parse the JSON they fetch with orjson (the work any caller must do to
use the value); the library side also builds and checks its models. Where the library runs
a Lua script (for atomicity), the raw side runs the same script by ``EVALSHA``: no raw
sequence of plain commands does that work atomically. Rows whose ``baseline`` is
``"get_ticker"`` compare two library patterns instead of library and raw.

Example::

    caches = Caches(OHLCVCache(settings), TradesCache(settings))
    cases = build_cases(caches, raw_client, await prepare(caches))
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import orjson
from redis.asyncio import Redis

from fullon_cache.codecs import dumps, encode_model
from fullon_cache.keys import KeySpace
from fullon_cache.models import Order, Position, Tick, Trade
from fullon_cache.ohlcv_cache import OHLCVCache
from fullon_cache.process_cache import ProcessType
from fullon_cache.scripts import (
    ACK_TRADES,
    REPLACE_HASH_WHOLE,
    SET_TICKER,
    TAKE_TRADES,
    UPDATE_BARS,
    UPDATE_PROCESS,
)
from fullon_cache.tick_cache import TickCache
from fullon_cache.trades_cache import TradesCache

__all__ = ["BULK_ITEMS", "Caches", "Case", "build_cases", "prepare"]

Call = Callable[[], Awaitable[Any]]

BULK_ITEMS = 1000
EXCHANGE, SYMBOL, ACCOUNT, QUEUE, TIMEFRAME = "bench", "BTC/USDT", "7", "bench_bot", "1m"
LATEST_BARS = 60  # an hour of 1m candles: what a strategy reads each minute
_T0 = 1_700_000_000.0


@dataclass(frozen=True, slots=True)
class Case:
    """One measured operation: the library call and its baseline, each a no-argument coroutine.

    ``hit`` marks single-key reads (SPEC §9: within 1.5x of raw); ``items`` is how many
    items one call writes (bulk rows); ``layer`` names the cache class the call belongs to.
    """

    name: str
    layer: str
    ours: Call
    raw: Call
    hit: bool = False
    items: int = 1
    baseline: str = "raw redis-py"


@dataclass(frozen=True, slots=True)
class Caches:
    """The two ends of the chain (it forks after AccountCache): together they have every
    layer's calls."""

    bots: OHLCVCache
    trades: TradesCache

    async def aclose(self) -> None:
        """Close both caches."""
        await self.bots.aclose()
        await self.trades.aclose()


def _tick(symbol: str = SYMBOL) -> Tick:
    return Tick(symbol=symbol, exchange=EXCHANGE, price=50000.0, time=time.time(),
                bid=49999.5, ask=50000.5, volume=1234.5)  # fmt: skip


def _order() -> Order:
    return Order(ex_order_id="B1", symbol=SYMBOL, side="buy", order_type="limit",
                 volume=0.1, price=50000.0, status="open")  # fmt: skip


def _trade() -> Trade:
    return Trade(ex_trade_id="T1", symbol=SYMBOL, side="buy", volume=0.1, price=50000.0)


def _position(symbol: str = SYMBOL) -> Position:
    return Position(symbol=symbol, volume=0.1, price=50000.0, cost=5000.0, ex_id=ACCOUNT)


def _bar(ts: float) -> list[float]:
    return [ts, 50000.0, 50100.0, 49900.0, 50050.0, 12.5]


async def prepare(caches: Caches) -> str:
    """Store what the read cases hit (a ticker, an order, a position, a block, bars and a
    process); returns the process id the update case updates.

    Example::

        process_id = await prepare(caches)
    """
    cache = caches.bots
    await cache.set_ticker(_tick())
    await caches.trades.save_order_data(EXCHANGE, _order())
    await cache.upsert_positions(ACCOUNT, [_position()])
    await cache.block_exchange(EXCHANGE, SYMBOL, bot_id=17)
    await cache.update_ohlcv_bars(SYMBOL, TIMEFRAME, [_bar(_T0 + 60 * i) for i in range(600)])
    return await cache.register_process(ProcessType.BOT, "bench")


class _Raw:
    """The raw redis-py side: plain commands on the library's keys."""

    def __init__(self, client: Redis, keys: KeySpace) -> None:
        self.client, self.keys = client, keys

    async def hget(self, key: str, field: str) -> Any:
        return orjson.loads(cast(bytes, await self.client.hget(key, field)))

    async def hgetall(self, key: str) -> dict[Any, Any]:
        fields = await self.client.hgetall(key)
        return {name: orjson.loads(value) for name, value in fields.items()}

    async def zrange(self, key: str, count: int) -> list[Any]:
        items = cast("list[bytes]", await self.client.zrange(key, -count, -1))
        return [orjson.loads(item) for item in items]

    async def set_tickers(self, ticks: list[Tick]) -> None:
        latest, times = self.keys.tickers(EXCHANGE), self.keys.ticker_times(EXCHANGE)
        updates = self.keys.ticker_updates(EXCHANGE)
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.sadd(self.keys.ticker_exchanges(), EXCHANGE)
            for tick in ticks:
                args: list[Any] = [tick.symbol, repr(tick.time), encode_model(tick), updates]
                args.append("PUBLISH")
                pipe.evalsha(SET_TICKER.sha, 2, latest, times, *args)
            await pipe.execute()

    async def save_order(self) -> None:
        order = _order()
        fields: dict[Any, Any] = {
            name: dumps(value) for name, value in order.to_dict().items() if value
        }
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.hset(self.keys.order(EXCHANGE, "B1"), mapping=fields)
            pipe.sadd(self.keys.order_ids(EXCHANGE), "B1")
            await pipe.execute()

    async def push_pop(self) -> None:
        pending, processing = self.keys.queue_pending(QUEUE), self.keys.queue_processing(QUEUE)
        await self.client.rpush(pending, b"0123456789abcdef:" + encode_model(_order()))
        item = await self.client.blmove(pending, processing, 1, "LEFT", "RIGHT")
        await self.client.lrem(processing, 1, cast(Any, item))

    async def push_drain(self) -> None:
        key = self.keys.trades(EXCHANGE, SYMBOL)
        processing = self.keys.trades_processing(EXCHANGE, SYMBOL)
        await self.client.rpush(key, encode_model(_trade()))
        # At-least-once, as the library: take onto a processing list, then acknowledge.
        await self.client.evalsha(TAKE_TRADES.sha, 2, key, processing, "t0", 0, "60.0")
        await self.client.evalsha(ACK_TRADES.sha, 1, processing, "t0")

    async def upsert_positions(self, positions: list[Position]) -> None:
        args = [part for p in positions for part in (p.symbol, encode_model(p))]
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.sadd(self.keys.position_exchanges(), ACCOUNT)
            pipe.evalsha(REPLACE_HASH_WHOLE.sha, 1, self.keys.positions(ACCOUNT), *args)
            await pipe.execute()

    async def update_bars(self, bars: list[list[float]]) -> None:
        key, channel = (
            self.keys.ohlcv(SYMBOL, TIMEFRAME),
            self.keys.ohlcv_updates(SYMBOL, TIMEFRAME),
        )
        args: list[Any] = [OHLCVCache.OHLCV_CAP, channel, "PUBLISH", dumps(bars)]
        for bar in bars:
            args += [repr(bar[0]), dumps(bar)]
        await self.client.evalsha(UPDATE_BARS.sha, 1, key, *args)

    async def update_process(self, process_id: str) -> None:
        now = time.time()
        keys = [self.keys.process(process_id), self.keys.active_processes()]
        args: list[Any] = [process_id, "2026-01-01T00:00:00+00:00", repr(now), "1"]
        args += [OHLCVCache.PROCESS_TTL]
        args += ["status", "running"]
        await self.client.evalsha(UPDATE_PROCESS.sha, 2, *keys, *args)


def _bulk_ticks() -> list[Tick]:
    return [_tick(f"S{i}/USDT") for i in range(BULK_ITEMS)]


def _bulk_positions() -> list[Position]:
    return [_position(f"S{i}/USDT") for i in range(BULK_ITEMS)]


def _bulk_bars() -> list[list[float]]:
    return [_bar(_T0 + 60 * i) for i in range(BULK_ITEMS)]


def build_cases(
    caches: Caches, client: Redis, process_id: str, *, borrowed: Redis | None = None
) -> list[Case]:
    """Every measured operation, the library's side on ``caches`` and the raw side on
    ``client``. ``borrowed`` is the client the caches were built on, if any: the
    new-instance case builds its caches on it too.

    Example::

        for case in build_cases(caches, raw, await prepare(caches)):
            await case.ours(); await case.raw()
    """
    cache, trades = caches.bots, caches.trades
    raw = _Raw(client, KeySpace(cache.namespace))
    keys = raw.keys

    async def fresh_get_ticker() -> Any:
        async with TickCache(cache.settings, redis=borrowed) as short_lived:
            return await short_lived.get_ticker(SYMBOL, EXCHANGE)

    async def push_pop() -> None:
        await trades.push_open_order(QUEUE, _order())
        await trades.pop_open_order(QUEUE)

    async def push_drain() -> None:
        await trades.push_trade_list(SYMBOL, EXCHANGE, _trade())
        await trades.get_trades(SYMBOL, EXCHANGE)

    def get_ticker() -> Awaitable[Any]:
        return cache.get_ticker(SYMBOL, EXCHANGE)

    return [
        Case("ping", "BaseCache", cache.ping, client.ping, hit=True),
        Case("get_ticker", "TickCache", get_ticker,
             lambda: raw.hget(keys.tickers(EXCHANGE), SYMBOL), hit=True),
        Case("get_ticker, new instance", "TickCache", fresh_get_ticker, get_ticker,
             baseline="get_ticker"),
        Case("set_ticker", "TickCache", lambda: cache.set_ticker(_tick()),
             lambda: raw.set_tickers([_tick()])),
        Case("set_tickers_batch", "TickCache", lambda: cache.set_tickers_batch(_bulk_ticks()),
             lambda: raw.set_tickers(_bulk_ticks()), items=BULK_ITEMS),
        Case("get_position", "AccountCache", lambda: cache.get_position(SYMBOL, ACCOUNT),
             lambda: raw.hget(keys.positions(ACCOUNT), SYMBOL), hit=True),
        Case("upsert_positions", "AccountCache",
             lambda: cache.upsert_positions(ACCOUNT, [_position()]),
             lambda: raw.upsert_positions([_position()])),
        Case("upsert_positions (bulk)", "AccountCache",
             lambda: cache.upsert_positions(ACCOUNT, _bulk_positions()),
             lambda: raw.upsert_positions(_bulk_positions()), items=BULK_ITEMS),
        Case("get_order_status", "OrdersCache", lambda: trades.get_order_status(EXCHANGE, "B1"),
             lambda: raw.hgetall(keys.order(EXCHANGE, "B1")), hit=True),
        Case("save_order_data", "OrdersCache", lambda: trades.save_order_data(EXCHANGE, _order()),
             raw.save_order),
        Case("order queue push + pop", "OrdersCache", push_pop, raw.push_pop),
        Case("trade push + drain", "TradesCache", push_drain, raw.push_drain),
        Case("is_blocked", "BotCache", lambda: cache.is_blocked(EXCHANGE, SYMBOL),
             lambda: client.get(keys.bot_lock(EXCHANGE, SYMBOL)), hit=True),
        Case("get_latest_ohlcv_bars", "OHLCVCache",
             lambda: cache.get_latest_ohlcv_bars(SYMBOL, TIMEFRAME, 1),
             lambda: raw.zrange(keys.ohlcv(SYMBOL, TIMEFRAME), 1), hit=True),
        Case(f"get_latest_ohlcv_bars {LATEST_BARS}", "OHLCVCache",
             lambda: cache.get_latest_ohlcv_bars(SYMBOL, TIMEFRAME, LATEST_BARS),
             lambda: raw.zrange(keys.ohlcv(SYMBOL, TIMEFRAME), LATEST_BARS)),
        Case("update_ohlcv_bars", "OHLCVCache",
             lambda: cache.update_ohlcv_bars(SYMBOL, TIMEFRAME, [_bar(_T0)]),
             lambda: raw.update_bars([_bar(_T0)])),
        Case("update_ohlcv_bars (bulk)", "OHLCVCache",
             lambda: cache.update_ohlcv_bars(SYMBOL, TIMEFRAME, _bulk_bars()),
             lambda: raw.update_bars(_bulk_bars()), items=BULK_ITEMS),
        Case("update_process", "ProcessCache",
             lambda: cache.update_process(process_id, status="running"),
             lambda: raw.update_process(process_id)),
    ]  # fmt: skip
