"""Real faults in the market-data layers: TickCache, OHLCVCache, ProcessCache, ExchangeCache and
SymbolCache.

Each fault test gets its own private server, which it kills and restarts, freezes (``DEBUG
SLEEP``), pauses for writes (``CLIENT PAUSE WRITE``), fills up (``maxmemory``) or whose clients it
kills (``CLIENT KILL``); a TCP proxy loses, delays or swallows replies; corrupted bytes and keys
of the wrong Redis type are written with a plain redis-py client under the library's own keys.
Nothing is mocked.

``asyncio.timeout(GUARD)`` only turns a hang into a failure: no test asserts a duration. At most
one call fails in a row on a pool before the fault ends, and the first call after a restart
polls for recovery, so a circuit breaker in front of the pools cannot change the outcome.

Corruption cases proven in tests/integration are not repeated here; these tests cover the key
types and calls those do not.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError

from fullon_cache import (
    BaseCache,
    CacheCorruptedValueError,
    CacheError,
    CacheOutOfMemoryError,
    CacheSettings,
    CacheTimeoutError,
    CacheUnavailableError,
    CacheUnknownOutcomeError,
    ExchangeCache,
    OHLCVCache,
    ProcessCache,
    SymbolCache,
    TickCache,
    sources,
)
from fullon_cache.codecs import dumps, encode_model
from fullon_cache.keys import KeySpace
from fullon_cache.local_server import LocalRedisServer
from fullon_cache.models import Exchange, Tick
from tests.conftest import SOCKET_TIMEOUT, raw_client
from tests.support.proxy import FaultProxy
from tests.support.pubsub import listening, next_message, wait_for_subscribers
from tests.support.reference import BINANCE, Database, sym

GUARD = 10  # seconds: turns a hang into a failure, never a performance assertion
T = 1_700_000_000.0  # a fixed epoch for ticks whose age does not matter
MIN = 60
T0 = 1_700_000_000 // 86_400 * 86_400  # a midnight, aligned to every timeframe
R = TypeVar("R")
C = TypeVar("C", bound=BaseCache)


def tick(
    symbol: str = "BTC/USDT", exchange: str = "binance", *, price: float = 1.0, at: float = T
) -> Tick:
    return Tick(symbol=symbol, exchange=exchange, price=price, time=at)


def bar(ts: float, close: float = 1.5) -> list[float]:
    return [float(ts), 1.0, 2.0, 0.5, close, 10.0]


@pytest.fixture(autouse=True)
def _no_default_source(monkeypatch: pytest.MonkeyPatch) -> None:
    """No process-wide reference source: a test that wants one gives it to its cache."""
    monkeypatch.setattr(sources, "_chosen", [None])


@pytest.fixture
def keys(namespace: str) -> KeySpace:
    return KeySpace(namespace)


@pytest.fixture
async def admin(fast_settings: CacheSettings) -> AsyncIterator[Redis]:
    """A plain redis-py client straight to the private server (never through the proxy)."""
    client = raw_client(fast_settings)
    yield client
    await client.aclose()


@contextlib.asynccontextmanager
async def opened(cls: type[C], settings: CacheSettings) -> AsyncIterator[C]:
    """A cache of ``cls``; the reference layers read through from a fresh fake database."""
    async with cls(settings) as cache:
        if isinstance(cache, ExchangeCache):
            cache.source = Database() if cls in (ExchangeCache, SymbolCache) else None
        yield cache


def one_shot_client(settings: CacheSettings) -> Redis:
    """A raw client that never resends (a DEBUG SLEEP must not reach a restarted server)."""
    return Redis(unix_socket_path=settings.unix_socket_path, retry=Retry(NoBackoff(), 0))


async def recovered(call: Callable[[], Awaitable[R]]) -> R:
    """The first result of ``call`` once the fault is over (a breaker may still be cooling)."""
    async with asyncio.timeout(GUARD):
        while True:
            try:
                return await call()
            except CacheUnavailableError:
                await asyncio.sleep(0.05)


async def snapshot(admin: Redis, namespace: str) -> dict[bytes, bytes | None]:
    """Every key of a namespace with its serialized value (DUMP): equal means untouched."""
    found = [key async for key in admin.scan_iter(match=f"{namespace}:*")]
    return {key: await admin.dump(key) for key in found}


# -- the calls under test ----------------------------------------------------------------------


async def _ticks(cache: TickCache) -> None:
    assert await cache.set_ticker(tick())
    assert await cache.set_ticker(tick("ETH/USDT", "kraken", price=2.0))


async def _crawlers(cache: TickCache) -> None:
    await cache.set_tick_crawlers({"binance": {"symbols": ["BTC/USDT"]}})


async def _bars(cache: OHLCVCache) -> None:
    assert await cache.update_ohlcv_bars("BTC/USDT", "1m", [bar(T0), bar(T0 + MIN)]) == 2
    assert await cache.update_ohlcv_bars("ETH/USDT", "1m", [bar(T0, close=3.0)]) == 1


async def _processes(cache: ProcessCache) -> tuple[str, str]:
    first = await cache.register_process("tick", "ticker", params={"symbols": 3})
    second = await cache.register_process("ohlcv", "candles", params={"symbols": 4})
    return first, second


async def _nothing(cache: BaseCache) -> None:
    """Reference data is read through from the fake database on the first read."""


@dataclass(frozen=True)
class Read:
    """A read of one layer: ``setup`` stores data (its result is the read's context)."""

    cls: type[BaseCache]
    setup: Callable[[Any], Awaitable[Any]]
    call: Callable[[Any, Any], Awaitable[Any]]


READS = {
    "tick.get_ticker": Read(TickCache, _ticks, lambda c, _: c.get_ticker("BTC/USDT", "binance")),
    "tick.get_all_tickers": Read(TickCache, _ticks, lambda c, _: c.get_all_tickers()),
    "tick.get_price": Read(TickCache, _ticks, lambda c, _: c.get_price("ETH/USDT")),
    "tick.get_tick_crawlers": Read(TickCache, _crawlers, lambda c, _: c.get_tick_crawlers()),
    "ohlcv.get_latest_ohlcv_bars": Read(
        OHLCVCache, _bars, lambda c, _: c.get_latest_ohlcv_bars("BTC/USDT", "1m", 10)
    ),
    "ohlcv.get_ohlcv_bars": Read(
        OHLCVCache, _bars, lambda c, _: c.get_ohlcv_bars("BTC/USDT", "1m", since=T0 + MIN)
    ),
    "process.get_process": Read(ProcessCache, _processes, lambda c, pids: c.get_process(pids[0])),
    "process.get_active_processes": Read(
        ProcessCache, _processes, lambda c, _: c.get_active_processes()
    ),
    "process.get_component_status": Read(
        ProcessCache, _processes, lambda c, _: c.get_component_status("candles")
    ),
    "exchange.get_exchange": Read(ExchangeCache, _nothing, lambda c, _: c.get_exchange(3)),
    "exchange.get_exchanges": Read(ExchangeCache, _nothing, lambda c, _: c.get_exchanges(7)),
    "exchange.get_cat_exchanges": Read(ExchangeCache, _nothing, lambda c, _: c.get_cat_exchanges()),
    "symbol.get_symbols": Read(SymbolCache, _nothing, lambda c, _: c.get_symbols("binance")),
    "symbol.get_symbol": Read(
        SymbolCache, _nothing, lambda c, _: c.get_symbol("ETH/USDT", cat_ex_id=1)
    ),
}
ONE_READ_PER_LAYER = [
    "tick.get_ticker",
    "ohlcv.get_latest_ohlcv_bars",
    "process.get_active_processes",
    "exchange.get_exchanges",
    "symbol.get_symbols",
]


async def _warm_ticker(cache: TickCache) -> None:
    assert await cache.set_ticker(tick(price=1.0, at=T))  # connection, INFO, script loaded


async def _warm_bars(cache: OHLCVCache) -> None:
    assert await cache.update_ohlcv_bars("BTC/USDT", "1m", [bar(T0)]) == 1


async def _warm_process(cache: ProcessCache) -> str:
    pid = await cache.register_process("tick", "ticker")
    assert await cache.update_process(pid, message="warm")  # loads the script
    return pid


async def _warm_symbols(cache: SymbolCache) -> None:
    assert await cache.get_symbols("binance")  # the catalogue and binance's symbols


async def _warm_ws(cache: ExchangeCache) -> None:
    await cache.push_ws_error("warm", 3)
    assert await cache.pop_ws_error(3) == "warm"


NEW_TICK = tick(price=2.0, at=T + 1)
NEW_BAR = bar(T0 + 5 * MIN, close=7.0)
NEW_EXCHANGE = Exchange(ex_id=6, uid=7, cat_ex_id=1, name="new account")
NEW_SYMBOL = sym("SOL/USDT", 1, symbol_id=9)
CHANGED_SYMBOL = sym("ETH/USDT", 1, symbol_id=2, decimals=7)
KNOWN_SYMBOL = sym("ETH/USDT", 1, BINANCE, symbol_id=2)  # brings its exchange along
CRAWLERS = {"kraken": {"symbols": ["XBT/USD"]}}


async def _copies_of_new_tick(admin: Redis, keys: KeySpace, _: Any) -> int:
    return int(await admin.hget(keys.tickers("binance"), "BTC/USDT") == encode_model(NEW_TICK))


async def _copies_of_batch(admin: Redis, keys: KeySpace, _: Any) -> int:
    return int(await admin.hlen(keys.tickers("kraken"))) // 3


async def _copies_of_new_bar(admin: Redis, keys: KeySpace, _: Any) -> int:
    ts = NEW_BAR[0]
    return int(await admin.zcount(keys.ohlcv("BTC/USDT", "1m"), ts, ts))


async def _copies_of_new_process(admin: Redis, keys: KeySpace, _: Any) -> int:
    pattern = keys.process("bot:new:*")
    return len([key async for key in admin.scan_iter(match=pattern)])


async def _copies_of_update(admin: Redis, keys: KeySpace, pid: str) -> int:
    return int(await admin.hget(keys.process(pid), "param:batch") == b"3")


async def _copies_of_stop(admin: Redis, keys: KeySpace, pid: str) -> int:
    return int(await admin.hget(keys.process(pid), "status") == b"stopped")


async def _copies_of_new_exchange(admin: Redis, keys: KeySpace, _: Any) -> int:
    return int(await admin.get(keys.exchange("6")) == encode_model(NEW_EXCHANGE))


async def _copies_of_new_symbol(admin: Redis, keys: KeySpace, _: Any) -> int:
    return int(await admin.hget(keys.symbols("1"), "SOL/USDT") == encode_model(NEW_SYMBOL))


async def _copies_of_changed_symbol(admin: Redis, keys: KeySpace, _: Any) -> int:
    return int(await admin.hget(keys.symbols("1"), "ETH/USDT") == encode_model(CHANGED_SYMBOL))


async def _copies_of_crawlers(admin: Redis, keys: KeySpace, _: Any) -> int:
    return int(await admin.get(keys.tick_crawlers()) == dumps(CRAWLERS))


async def _copies_of_ws_error(admin: Redis, keys: KeySpace, _: Any) -> int:
    return (await admin.lrange(keys.ws_errors("3"), 0, -1)).count(b"boom")


@dataclass(frozen=True)
class Write:
    """A write of one layer: ``setup`` warms the cache up (and gives the write its context);
    ``copies`` counts, with raw redis, how many times the write's effect is visible."""

    cls: type[BaseCache]
    setup: Callable[[Any], Awaitable[Any]]
    call: Callable[[Any, Any], Awaitable[Any]]
    copies: Callable[[Redis, KeySpace, Any], Awaitable[int]]


IDEMPOTENT_WRITES = {
    "tick.set_ticker": Write(
        TickCache, _warm_ticker, lambda c, _: c.set_ticker(NEW_TICK), _copies_of_new_tick
    ),
    "tick.set_tickers_batch": Write(
        TickCache,
        _warm_ticker,
        lambda c, _: c.set_tickers_batch([tick(s, "kraken") for s in ("A/B", "C/D", "E/F")]),
        _copies_of_batch,
    ),
    "tick.set_tick_crawlers": Write(
        TickCache, _warm_ticker, lambda c, _: c.set_tick_crawlers(CRAWLERS), _copies_of_crawlers
    ),
    "ohlcv.update_ohlcv_bars": Write(
        OHLCVCache,
        _warm_bars,
        lambda c, _: c.update_ohlcv_bars("BTC/USDT", "1m", [NEW_BAR]),
        _copies_of_new_bar,
    ),
    "process.register_process": Write(
        ProcessCache,
        _warm_process,
        lambda c, _: c.register_process("bot", "new"),
        _copies_of_new_process,
    ),
    "process.update_process": Write(
        ProcessCache,
        _warm_process,
        lambda c, pid: c.update_process(pid, params={"batch": 3}),
        _copies_of_update,
    ),
    "process.stop_process": Write(
        ProcessCache, _warm_process, lambda c, pid: c.stop_process(pid), _copies_of_stop
    ),
    "exchange.set_exchange": Write(
        ExchangeCache,
        lambda c: c.get_exchanges(7),
        lambda c, _: c.set_exchange(NEW_EXCHANGE),
        _copies_of_new_exchange,
    ),
    "symbol.add_symbol": Write(
        SymbolCache, _warm_symbols, lambda c, _: c.add_symbol(NEW_SYMBOL), _copies_of_new_symbol
    ),
    "symbol.update_symbol": Write(
        SymbolCache,
        _warm_symbols,
        lambda c, _: c.update_symbol(CHANGED_SYMBOL),
        _copies_of_changed_symbol,
    ),
}
PUSH_WS_ERROR = Write(
    ExchangeCache, _warm_ws, lambda c, _: c.push_ws_error("boom", 3), _copies_of_ws_error
)
ALL_WRITES = {**IDEMPOTENT_WRITES, "exchange.push_ws_error": PUSH_WS_ERROR}


# -- a killed server ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ONE_READ_PER_LAYER)
async def test_a_read_in_flight_when_the_server_dies_raises_a_typed_error_then_recovers(
    server: LocalRedisServer, fast_settings: CacheSettings, name: str
) -> None:
    """A read in flight when the server dies: typed error; the same instance works after restart."""
    case = READS[name]
    async with opened(case.cls, fast_settings) as cache:
        context = await case.setup(cache)
        assert await case.call(cache, context)
        sleeper = one_shot_client(fast_settings)
        frozen = asyncio.ensure_future(sleeper.execute_command("DEBUG", "SLEEP", 5))
        await asyncio.sleep(0.1)  # the server is frozen: the read below waits for its reply
        reading = asyncio.ensure_future(case.call(cache, context))
        await asyncio.sleep(0.2)
        server.kill()
        try:
            async with asyncio.timeout(GUARD):
                with pytest.raises((CacheUnavailableError, CacheUnknownOutcomeError)):
                    await reading
                with pytest.raises(RedisConnectionError):
                    await frozen
        finally:
            await sleeper.aclose()
        server.start()  # empty: nothing was saved
        context = await recovered(lambda: case.setup(cache))
        assert await case.call(cache, context)


@pytest.mark.parametrize("name", ALL_WRITES)
async def test_a_write_to_a_dead_server_raises_a_typed_error_and_works_after_a_restart(
    server: LocalRedisServer, fast_settings: CacheSettings, admin: Redis, keys: KeySpace, name: str
) -> None:
    """A write to a dead server: typed error; after restart the instance applies it once."""
    case = ALL_WRITES[name]
    # A pooled connection's bytes may still reach the dead socket: then the honest answer,
    # even for an overwrite, is "unknown outcome" (the server could have died after it).
    expected: Any = CacheError
    if name in IDEMPOTENT_WRITES:
        expected = (CacheUnavailableError, CacheUnknownOutcomeError)
    async with opened(case.cls, fast_settings) as cache:
        context = await case.setup(cache)
        server.kill()
        async with asyncio.timeout(GUARD):
            with pytest.raises(expected):
                await case.call(cache, context)
        server.start()
        context = await recovered(lambda: case.setup(cache))
        await case.call(cache, context)
        assert await case.copies(admin, keys, context) == 1


async def test_get_next_ticker_waiting_when_the_server_dies_raises_then_recovers(
    server: LocalRedisServer, fast_settings: CacheSettings, admin: Redis, keys: KeySpace
) -> None:
    """get_next_ticker when the server dies: CacheUnavailableError, not None; works again after."""
    channel = keys.ticker_updates("binance")
    async with opened(TickCache, fast_settings) as cache:
        waiting = asyncio.ensure_future(cache.get_next_ticker("BTC/USDT", "binance", GUARD))
        try:
            await wait_for_subscribers(admin, channel, 1)
            server.kill()
            async with asyncio.timeout(GUARD):
                with pytest.raises(CacheUnavailableError):
                    await waiting
        finally:
            waiting.cancel()
        server.start()
        await recovered(cache.ping)
        waiting = asyncio.ensure_future(cache.get_next_ticker("BTC/USDT", "binance", GUARD))
        try:
            await wait_for_subscribers(admin, channel, 1)
            assert await cache.set_ticker(NEW_TICK)
            assert await asyncio.wait_for(waiting, GUARD) == NEW_TICK
        finally:
            waiting.cancel()


async def test_an_ohlcv_stream_waiting_when_the_server_dies_raises_then_recovers(
    server: LocalRedisServer, fast_settings: CacheSettings, admin: Redis, keys: KeySpace
) -> None:
    """An OHLCV stream when the server dies: CacheUnavailableError; a new one works after it."""
    channel = keys.ohlcv_updates("BTC/USDT", "1m")
    async with opened(OHLCVCache, fast_settings) as cache:
        async with contextlib.aclosing(cache.stream_ohlcv_updates("BTC/USDT", "1m")) as bars:
            waiting = asyncio.ensure_future(anext(bars))
            try:
                await wait_for_subscribers(admin, channel, 1)
                server.kill()
                async with asyncio.timeout(GUARD):
                    with pytest.raises(CacheUnavailableError):
                        await waiting
            finally:
                waiting.cancel()
        server.start()
        await recovered(cache.ping)
        async with contextlib.aclosing(cache.stream_ohlcv_updates("BTC/USDT", "1m")) as bars:
            waiting = asyncio.ensure_future(anext(bars))
            try:
                await wait_for_subscribers(admin, channel, 1)
                assert await cache.update_ohlcv_bars("BTC/USDT", "1m", [NEW_BAR]) == 1
                assert await asyncio.wait_for(waiting, GUARD) == NEW_BAR
            finally:
                waiting.cancel()


async def test_a_broadcast_subscription_waiting_when_the_server_dies_raises_then_recovers(
    server: LocalRedisServer, fast_settings: CacheSettings, admin: Redis, keys: KeySpace
) -> None:
    """broadcasts() when the server dies: CacheUnavailableError; subscribing works again after."""
    channel = keys.process_broadcasts("bot")
    async with opened(ProcessCache, fast_settings) as cache:
        async with cache.broadcasts("bot") as messages:
            waiting = asyncio.ensure_future(anext(messages))
            try:
                await wait_for_subscribers(admin, channel, 1)
                server.kill()
                async with asyncio.timeout(GUARD):
                    with pytest.raises(CacheUnavailableError):
                        await waiting
            finally:
                waiting.cancel()
        server.start()
        await recovered(cache.ping)
        async with asyncio.timeout(GUARD), cache.broadcasts("bot") as messages:
            assert await cache.broadcast_message("bot", "back") == 1
            assert (await anext(messages))["message"] == "back"


async def test_a_blocking_ws_error_pop_when_the_server_dies_is_an_unknown_outcome(
    server: LocalRedisServer, fast_settings: CacheSettings
) -> None:
    """A blocking pop_ws_error when the server dies: CacheUnknownOutcomeError, never None."""
    async with opened(ExchangeCache, fast_settings) as cache:
        await _warm_ws(cache)
        waiting = asyncio.ensure_future(cache.pop_ws_error(3, timeout=5))
        await asyncio.sleep(0.2)
        server.kill()
        async with asyncio.timeout(GUARD):
            with pytest.raises(CacheUnknownOutcomeError):
                await waiting
        server.start()
        await recovered(lambda: cache.push_ws_error("after", 3))
        assert await cache.pop_ws_error(3, timeout=1) == "after"


# -- CLIENT KILL between calls -----------------------------------------------------------------


@pytest.mark.parametrize("name", READS)
async def test_a_read_right_after_client_kill_succeeds(
    fast_settings: CacheSettings, admin: Redis, name: str
) -> None:
    """After CLIENT KILL of the library's connections the next read returns the stored result."""
    case = READS[name]
    async with opened(case.cls, fast_settings) as cache:
        context = await case.setup(cache)
        before = await case.call(cache, context)
        assert before  # something to lose
        assert await admin.client_kill_filter(_type="normal", skipme=True) >= 1
        async with asyncio.timeout(GUARD):
            assert await case.call(cache, context) == before


@pytest.mark.parametrize("name", ALL_WRITES)
async def test_a_write_right_after_client_kill_is_applied_once(
    fast_settings: CacheSettings, admin: Redis, keys: KeySpace, name: str
) -> None:
    """After CLIENT KILL of the library's connections the next write succeeds, applied once."""
    case = ALL_WRITES[name]
    async with opened(case.cls, fast_settings) as cache:
        context = await case.setup(cache)
        assert await admin.client_kill_filter(_type="normal", skipme=True) >= 1
        async with asyncio.timeout(GUARD):
            await case.call(cache, context)
    assert await case.copies(admin, keys, context) == 1


async def test_a_broadcast_right_after_client_kill_is_delivered_once(
    fast_settings: CacheSettings, admin: Redis, keys: KeySpace
) -> None:
    """After CLIENT KILL the next broadcast_message (not idempotent) is delivered exactly once."""
    async with opened(ProcessCache, fast_settings) as cache:
        await cache.ping()
        assert await admin.client_kill_filter(_type="normal", skipme=True) >= 1
        async with listening(admin, keys.process_broadcasts("bot")) as pubsub:
            assert await cache.broadcast_message("bot", "once") == 1
            assert await cache.broadcast_message("bot", "next") == 1
            first, second = await next_message(pubsub), await next_message(pubsub)
    assert b'"once"' in first
    assert b'"next"' in second  # not the first one again


# -- a frozen server, a write pause ------------------------------------------------------------


@pytest.mark.parametrize("name", ONE_READ_PER_LAYER)
async def test_a_read_of_a_frozen_server_times_out_then_works(
    fast_settings: CacheSettings, admin: Redis, name: str
) -> None:
    """A read of a server frozen past the deadline: CacheTimeoutError, then the stored result."""
    case = READS[name]
    async with opened(case.cls, fast_settings) as cache:
        context = await case.setup(cache)
        before = await case.call(cache, context)
        frozen = asyncio.ensure_future(admin.execute_command("DEBUG", "SLEEP", 2))
        await asyncio.sleep(0.1)
        async with asyncio.timeout(GUARD):
            with pytest.raises(CacheTimeoutError):
                await case.call(cache, context)
            await frozen
            assert await recovered(lambda: case.call(cache, context)) == before


@pytest.mark.parametrize("name", ALL_WRITES)
async def test_a_write_during_a_write_pause_is_an_unknown_outcome_applied_at_most_once(
    fast_settings: CacheSettings, admin: Redis, keys: KeySpace, name: str
) -> None:
    """A write during CLIENT PAUSE WRITE: CacheUnknownOutcomeError, applied at most once."""
    case = ALL_WRITES[name]
    async with opened(case.cls, fast_settings) as cache:
        context = await case.setup(cache)
        await admin.execute_command("CLIENT", "PAUSE", 2000, "WRITE")
        try:
            async with asyncio.timeout(GUARD):
                assert await cache.ping()  # reads pass a write pause
                with pytest.raises(CacheUnknownOutcomeError):
                    await case.call(cache, context)
        finally:
            await admin.execute_command("CLIENT", "UNPAUSE")
        await asyncio.sleep(0.2)  # anything still queued by the server has run now
        assert await case.copies(admin, keys, context) <= 1
        assert await recovered(cache.ping)


async def test_a_broadcast_during_a_write_pause_is_an_unknown_outcome_delivered_at_most_once(
    fast_settings: CacheSettings, admin: Redis, keys: KeySpace
) -> None:
    """A paused broadcast_message: CacheUnknownOutcomeError, delivered at most once."""
    async with opened(ProcessCache, fast_settings) as cache:
        await cache.ping()
        async with listening(admin, keys.process_broadcasts("bot")) as pubsub:
            await admin.execute_command("CLIENT", "PAUSE", 2000, "WRITE")
            try:
                async with asyncio.timeout(GUARD):
                    with pytest.raises(CacheUnknownOutcomeError):
                        await cache.broadcast_message("bot", "paused")
            finally:
                await admin.execute_command("CLIENT", "UNPAUSE")
            assert await recovered(lambda: cache.broadcast_message("bot", "after")) == 1
            notes = []
            while not notes or b'"after"' not in notes[-1]:
                notes.append(await next_message(pubsub))
    assert len(notes) in (1, 2)
    assert [b'"paused"' in note for note in notes[:-1]] in ([], [True])


# -- the proxy loses replies -------------------------------------------------------------------


@pytest.mark.parametrize("close", [True, False], ids=["connection closed", "silent"])
@pytest.mark.parametrize("name", READS)
async def test_a_lost_reply_to_a_read_is_retried_and_returns_the_stored_result(
    proxy: FaultProxy, proxied_settings: CacheSettings, name: str, close: bool
) -> None:
    """A read whose reply is lost is retried and returns the stored result, never a miss."""
    case = READS[name]
    async with opened(case.cls, proxied_settings) as cache:
        context = await case.setup(cache)
        before = await case.call(cache, context)
        assert before
        proxy.drop_next_reply(close=close)
        async with asyncio.timeout(GUARD):
            assert await case.call(cache, context) == before
    assert proxy.replies_dropped == 1


@pytest.mark.parametrize("name", IDEMPOTENT_WRITES)
async def test_a_lost_reply_to_an_idempotent_write_is_resent_and_applied_once(
    proxy: FaultProxy, proxied_settings: CacheSettings, admin: Redis, keys: KeySpace, name: str
) -> None:
    """An overwrite whose reply is lost is resent, succeeds, and shows exactly once."""
    case = IDEMPOTENT_WRITES[name]
    async with opened(case.cls, proxied_settings) as cache:
        context = await case.setup(cache)
        proxy.drop_next_reply()
        async with asyncio.timeout(GUARD):
            await case.call(cache, context)
    assert proxy.replies_dropped == 1
    assert await case.copies(admin, keys, context) == 1


async def test_a_lost_reply_to_push_ws_error_is_an_unknown_outcome_never_resent(
    proxy: FaultProxy, proxied_settings: CacheSettings, admin: Redis, keys: KeySpace
) -> None:
    """push_ws_error whose reply is lost: CacheUnknownOutcomeError, queued exactly once."""
    async with opened(ExchangeCache, proxied_settings) as cache:
        await _warm_ws(cache)
        proxy.drop_next_reply()
        async with asyncio.timeout(GUARD):
            with pytest.raises(CacheUnknownOutcomeError):
                await cache.push_ws_error("boom", 3)
    assert await admin.lrange(keys.ws_errors("3"), 0, -1) == [b"boom"]


async def test_a_lost_reply_to_pop_ws_error_raises_instead_of_looking_empty(
    proxy: FaultProxy, proxied_settings: CacheSettings
) -> None:
    """pop_ws_error whose reply is lost raises CacheUnknownOutcomeError, never None."""
    async with opened(ExchangeCache, proxied_settings) as cache:
        await _warm_ws(cache)
        await cache.push_ws_error("in flight", 3)
        proxy.drop_next_reply()
        async with asyncio.timeout(GUARD):
            with pytest.raises(CacheUnknownOutcomeError):
                await cache.pop_ws_error(3)


async def test_a_lost_reply_to_a_broadcast_is_an_unknown_outcome_delivered_once(
    proxy: FaultProxy, proxied_settings: CacheSettings, admin: Redis, keys: KeySpace
) -> None:
    """broadcast_message whose reply is lost: CacheUnknownOutcomeError, delivered exactly once."""
    async with opened(ProcessCache, proxied_settings) as cache:
        await cache.ping()
        async with listening(admin, keys.process_broadcasts("bot")) as pubsub:
            proxy.drop_next_reply()
            async with asyncio.timeout(GUARD):
                with pytest.raises(CacheUnknownOutcomeError):
                    await cache.broadcast_message("bot", "lost reply")
            assert await cache.broadcast_message("bot", "next") == 1
            first, second = await next_message(pubsub), await next_message(pubsub)
    assert b'"lost reply"' in first
    assert b'"next"' in second


async def test_a_resent_set_ticker_reaches_a_ticker_stream_once(
    proxy: FaultProxy, proxied_settings: CacheSettings, fast_settings: CacheSettings
) -> None:
    """A set_ticker resent after a lost reply (published twice) reaches a ticker stream once."""
    async with (
        opened(TickCache, proxied_settings) as writer,
        opened(TickCache, fast_settings) as reader,
    ):
        await _warm_ticker(writer)
        stream = reader.stream_ticker_updates("binance")
        async with contextlib.aclosing(stream) as ticks, asyncio.timeout(GUARD):
            assert await anext(ticks) == tick(price=1.0, at=T)  # the stored one
            proxy.drop_next_reply()
            assert await writer.set_ticker(NEW_TICK) is True
            assert proxy.replies_dropped == 1
            newer = tick(price=3.0, at=T + 2)
            assert await writer.set_ticker(newer) is True
            assert [await anext(ticks), await anext(ticks)] == [NEW_TICK, newer]


@pytest.mark.parametrize(
    "name", ["tick.set_ticker", "ohlcv.update_ohlcv_bars", "process.register_process"]
)
async def test_a_write_sent_before_the_server_became_unreachable_is_an_unknown_outcome(
    proxy: FaultProxy, proxied_settings: CacheSettings, admin: Redis, keys: KeySpace, name: str
) -> None:
    """A write sent before the server became unreachable: unknown outcome, not unavailable."""
    case = IDEMPOTENT_WRITES[name]
    async with opened(case.cls, proxied_settings) as cache:
        context = await case.setup(cache)
        writing = asyncio.ensure_future(case.call(cache, context))
        await proxy.wait_for_request()  # the request is on its way to the server...
        await proxy.stop()  # ...and from now on nothing can connect
        async with asyncio.timeout(GUARD):
            with pytest.raises(CacheUnknownOutcomeError):
                await writing
    assert await case.copies(admin, keys, context) == 1  # it was applied


async def test_get_next_ticker_over_a_silent_network_raises_instead_of_returning_none(
    proxy: FaultProxy, proxied_settings: CacheSettings, admin: Redis, keys: KeySpace
) -> None:
    """get_next_ticker over a network gone silent raises a CacheError, never returns None."""
    async with opened(TickCache, proxied_settings) as cache:
        await cache.ping()
        waiting = asyncio.ensure_future(cache.get_next_ticker("BTC/USDT", "binance", 2))
        try:
            await wait_for_subscribers(admin, keys.ticker_updates("binance"), 1)
            proxy.blackhole()
            async with asyncio.timeout(GUARD):
                with pytest.raises(CacheError):
                    await waiting
        finally:
            waiting.cancel()
            proxy.blackhole(False)


# -- cancellation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    """Two calls of one layer with different replies, the first of them to be cancelled."""

    cls: type[BaseCache]
    setup: Callable[[Any], Awaitable[Any]]
    first: Callable[[Any, Any], Awaitable[Any]]
    second: Callable[[Any, Any], Awaitable[Any]]


PAIRS = {
    "tick.get_ticker": Pair(
        TickCache,
        _ticks,
        lambda c, _: c.get_ticker("BTC/USDT", "binance"),
        lambda c, _: c.get_ticker("ETH/USDT", "kraken"),
    ),
    "tick.get_all_tickers": Pair(
        TickCache,
        _ticks,
        lambda c, _: c.get_all_tickers("binance"),
        lambda c, _: c.get_all_tickers("kraken"),
    ),
    "tick.set_ticker": Pair(
        TickCache,
        _ticks,
        lambda c, _: c.set_ticker(NEW_TICK),
        lambda c, _: c.get_ticker("ETH/USDT", "kraken"),
    ),
    "ohlcv.get_ohlcv_bars": Pair(
        OHLCVCache,
        _bars,
        lambda c, _: c.get_ohlcv_bars("BTC/USDT", "1m"),
        lambda c, _: c.get_ohlcv_bars("ETH/USDT", "1m"),
    ),
    "ohlcv.update_ohlcv_bars": Pair(
        OHLCVCache,
        _bars,
        lambda c, _: c.update_ohlcv_bars("BTC/USDT", "1m", [NEW_BAR]),
        lambda c, _: c.get_latest_ohlcv_bars("ETH/USDT", "1m", 5),
    ),
    "process.get_process": Pair(
        ProcessCache,
        _processes,
        lambda c, pids: c.get_process(pids[0]),
        lambda c, pids: c.get_process(pids[1]),
    ),
    "process.update_process": Pair(
        ProcessCache,
        _processes,
        lambda c, pids: c.update_process(pids[0], params={"batch": 3}),
        lambda c, pids: c.get_component_status("candles"),
    ),
    "exchange.get_exchange": Pair(
        ExchangeCache, _nothing, lambda c, _: c.get_exchange(3), lambda c, _: c.get_exchange(4)
    ),
    "symbol.get_symbol": Pair(
        SymbolCache,
        _nothing,
        lambda c, _: c.get_symbol("BTC/USDT", cat_ex_id=1),
        lambda c, _: c.get_symbol("ETH/USDT", cat_ex_id=1),
    ),
}


@pytest.mark.parametrize("name", PAIRS)
async def test_a_call_cancelled_mid_command_never_hands_its_reply_to_the_next_one(
    proxy: FaultProxy, proxied_settings: CacheSettings, name: str
) -> None:
    """A call cancelled mid-command leaves the pool usable; later calls get their own replies."""
    pair = PAIRS[name]
    async with opened(pair.cls, proxied_settings.replace(max_connections=1)) as cache:
        context = await pair.setup(cache)
        first, second = await pair.first(cache, context), await pair.second(cache, context)
        assert first != second
        proxy.set_delay(0.3)
        slow = asyncio.ensure_future(pair.first(cache, context))
        await proxy.wait_for_request()
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        proxy.set_delay(0)
        async with asyncio.timeout(GUARD):
            assert await pair.second(cache, context) == second
            assert await pair.first(cache, context) == first


async def test_a_cancelled_subscription_is_released_and_the_next_one_gets_its_update(
    proxy: FaultProxy, proxied_settings: CacheSettings, admin: Redis, keys: KeySpace
) -> None:
    """A get_next_ticker cancelled while subscribing is released; the next gets its update."""
    channel = keys.ticker_updates("binance")
    async with opened(TickCache, proxied_settings) as cache:
        await cache.ping()
        proxy.set_delay(0.3)
        slow = asyncio.ensure_future(cache.get_next_ticker("BTC/USDT", "binance", GUARD))
        await proxy.wait_for_request()
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        proxy.set_delay(0)
        await wait_for_subscribers(admin, channel, 0)
        waiting = asyncio.ensure_future(cache.get_next_ticker("BTC/USDT", "binance", GUARD))
        try:
            await wait_for_subscribers(admin, channel, 1)
            assert await cache.set_ticker(NEW_TICK)
            assert await asyncio.wait_for(waiting, GUARD) == NEW_TICK
        finally:
            waiting.cancel()


# -- out of memory -----------------------------------------------------------------------------


async def exhaust_memory(admin: Redis) -> None:
    """Fill the server with raw keys (outside any namespace), then cap it below its usage."""
    for i in range(20):
        await admin.set(f"filler:{i}", b"x" * 10_000)
    used = int((await admin.info("memory"))["used_memory"])
    await admin.config_set("maxmemory", used - 100_000)
    with pytest.raises(OutOfMemoryError):
        await admin.set("filler:more", b"x")


@pytest.mark.parametrize("name", [name for name in ALL_WRITES if not name.startswith("ohlcv")])
async def test_out_of_memory_refuses_a_write_and_leaves_nothing_half_written(
    fast_settings: CacheSettings, admin: Redis, keys: KeySpace, namespace: str, name: str
) -> None:
    """Out of memory: a write raises CacheOutOfMemoryError, publishes and changes nothing."""
    case = ALL_WRITES[name]
    async with opened(case.cls, fast_settings) as cache:
        context = await case.setup(cache)
        async with listening(admin, f"{namespace}:*", pattern=True) as published:
            before = await snapshot(admin, namespace)
            await exhaust_memory(admin)
            try:
                with pytest.raises(CacheOutOfMemoryError):
                    await case.call(cache, context)
                assert await published.get_message(timeout=0.2) is None
                assert await snapshot(admin, namespace) == before
            finally:
                await admin.config_set("maxmemory", 0)
        await case.call(cache, context)  # the same instance writes once memory is available
    assert await case.copies(admin, keys, context) == 1


async def test_out_of_memory_refuses_an_ohlcv_update(
    fast_settings: CacheSettings, admin: Redis, keys: KeySpace, namespace: str
) -> None:
    """Out of memory: update_ohlcv_bars raises CacheOutOfMemoryError and writes no bar."""
    async with opened(OHLCVCache, fast_settings) as cache:
        await _warm_bars(cache)
        before = await snapshot(admin, namespace)
        await exhaust_memory(admin)
        try:
            with pytest.raises(CacheOutOfMemoryError):
                await cache.update_ohlcv_bars("BTC/USDT", "1m", [NEW_BAR])
            with pytest.raises(CacheOutOfMemoryError):
                await cache.update_ohlcv_bars("ETH/USDT", "1m", [NEW_BAR])
        finally:
            await admin.config_set("maxmemory", 0)
    assert await snapshot(admin, namespace) == before


async def test_a_ticker_refused_for_memory_is_never_stored_outside_the_exchange_index(
    fast_settings: CacheSettings, admin: Redis, keys: KeySpace
) -> None:
    """Near maxmemory, a ticker set_ticker stored is always listed in the exchange index."""
    unlisted = []
    async with opened(TickCache, fast_settings) as cache:
        await _warm_ticker(cache)
        for headroom in range(0, 2000, 20):  # walk the limit across one set_ticker's footprint
            exchange = f"ex{headroom}"
            used = int((await admin.info("memory"))["used_memory"])
            await admin.config_set("maxmemory", used + headroom)
            with contextlib.suppress(CacheOutOfMemoryError):
                await cache.set_ticker(tick(exchange=exchange))
            await admin.config_set("maxmemory", 0)
            stored = await admin.hexists(keys.tickers(exchange), "BTC/USDT")
            if stored and not await admin.sismember(keys.ticker_exchanges(), exchange):
                unlisted.append(exchange)
    assert unlisted == []


async def test_an_exchange_refused_for_memory_is_never_stored_outside_its_users_list(
    fast_settings: CacheSettings, admin: Redis, keys: KeySpace
) -> None:
    """Near maxmemory, an exchange set_exchange stored by id is always in its user's cached
    list too: a list marked complete never misses it (the list is written first)."""
    missing = []
    async with opened(ExchangeCache, fast_settings) as cache:
        await cache.get_exchanges(7)  # the user's list, cached and marked complete
        for headroom in range(0, 2000, 20):  # walk the limit across one write's footprint
            exchange = Exchange(ex_id=100 + headroom, uid=7, cat_ex_id=1, name="near the limit")
            used = int((await admin.info("memory"))["used_memory"])
            await admin.config_set("maxmemory", used + headroom)
            with contextlib.suppress(CacheOutOfMemoryError):
                await cache.set_exchange(exchange)
            await admin.config_set("maxmemory", 0)
            stored = await admin.exists(keys.exchange(str(exchange.ex_id)))
            listed = await admin.hexists(keys.user_exchanges("7"), str(exchange.ex_id))
            if stored and not listed:
                missing.append(exchange.ex_id)
    assert missing == []


# -- corrupted data (on the worker's shared server, in the test's own namespace) ---------------


async def test_a_ticker_exchange_index_of_the_wrong_type_is_reported_naming_it(
    settings: CacheSettings, raw_redis: Redis, keys: KeySpace
) -> None:
    """A ticker exchange index of the wrong type: CacheCorruptedValueError naming it."""
    async with opened(TickCache, settings) as cache:
        await raw_redis.set(keys.ticker_exchanges(), b"SECRET not a set")
        calls: list[Callable[[], Awaitable[object]]] = [  # reads first: set_ticker half-writes
            cache.get_all_tickers,
            lambda: cache.get_price("BTC/USDT"),
            lambda: cache.get_any_ticker("BTC/USDT"),
            lambda: cache.set_ticker(tick()),
            lambda: cache.set_tickers_batch([tick()]),
        ]
        for call in calls:
            with pytest.raises(CacheCorruptedValueError) as caught:
                await call()
            assert caught.value.key == keys.ticker_exchanges()
            assert "SECRET" not in str(caught.value)


async def test_an_undecodable_ticker_exchange_index_member_is_skipped_and_counted(
    settings: CacheSettings, raw_redis: Redis, keys: KeySpace
) -> None:
    """A non-UTF-8 ticker index member is skipped and counted; the others are listed."""
    async with opened(TickCache, settings) as cache:
        await _ticks(cache)
        await raw_redis.sadd(keys.ticker_exchanges(), b"\xff\xfe")
        listed = await cache.get_all_tickers()
        assert [t.exchange for t in listed] == ["binance", "kraken"]
        assert cache.corrupted_skipped == 1
        assert await cache.get_price("ETH/USDT") == 2.0
        assert await cache.get_any_ticker("BTC/USDT") == tick()
        assert cache.corrupted_skipped == 3  # once per read of the index


async def test_a_ticker_times_hash_of_the_wrong_type_is_reported_naming_it(
    settings: CacheSettings, raw_redis: Redis, keys: KeySpace
) -> None:
    """A ticker-times hash of the wrong type: CacheCorruptedValueError naming that hash."""
    async with opened(TickCache, settings) as cache:
        await raw_redis.set(keys.ticker_times("binance"), b"not a hash")
        for call in (
            lambda: cache.set_ticker(tick()),
            lambda: cache.delete_ticker("A/B", "binance"),
        ):
            with pytest.raises(CacheCorruptedValueError) as caught:
                await call()
            assert caught.value.key == keys.ticker_times("binance")


async def test_a_tick_crawler_configuration_of_the_wrong_type_is_reported_naming_it(
    settings: CacheSettings, raw_redis: Redis, keys: KeySpace
) -> None:
    """A tick-crawler key of the wrong type: CacheCorruptedValueError naming it; a set repairs."""
    async with opened(TickCache, settings) as cache:
        await raw_redis.hset(keys.tick_crawlers(), "binance", "SECRET")
        with pytest.raises(CacheCorruptedValueError) as caught:
            await cache.get_tick_crawlers()
        assert caught.value.key == keys.tick_crawlers()
        assert "SECRET" not in str(caught.value)
        await cache.set_tick_crawlers(CRAWLERS)
        assert await cache.get_tick_crawlers() == CRAWLERS


async def test_a_ticker_stream_skips_corrupted_stored_tickers_and_keeps_delivering(
    settings: CacheSettings, raw_redis: Redis, keys: KeySpace
) -> None:
    """A ticker stream skips and counts corrupted stored tickers and keeps delivering."""
    async with opened(TickCache, settings) as cache:
        assert await cache.set_ticker(tick("ETH/USDT"))
        await raw_redis.hset(
            keys.tickers("binance"),
            mapping={"BAD/ONE": b"\xff\xfe garbage", "BAD/TWO": b'{"symbol": "BAD/TWO"}'},
        )
        stream = cache.stream_ticker_updates("binance")
        async with contextlib.aclosing(stream) as ticks, asyncio.timeout(GUARD):
            assert await anext(ticks) == tick("ETH/USDT")
            assert cache.corrupted_skipped == 2
            assert await cache.set_ticker(NEW_TICK)
            assert await anext(ticks) == NEW_TICK


async def test_a_component_index_of_the_wrong_type_is_reported_by_reads_naming_it(
    settings: CacheSettings, raw_redis: Redis, keys: KeySpace
) -> None:
    """A component index of the wrong type: reads raise CacheCorruptedValueError naming it."""
    async with opened(ProcessCache, settings) as cache:
        await raw_redis.set(keys.process_components(), b"not a hash")
        with pytest.raises(CacheCorruptedValueError) as status:
            await cache.get_component_status("ticker")
        with pytest.raises(CacheCorruptedValueError) as cleanup:
            await cache.cleanup_stale_processes()
    assert status.value.key == cleanup.value.key == keys.process_components()


async def test_a_component_index_of_the_wrong_type_is_reported_by_writes_which_write_nothing(
    settings: CacheSettings, raw_redis: Redis, keys: KeySpace, namespace: str
) -> None:
    """A component index of the wrong type: calls name it and half-write nothing."""
    async with opened(ProcessCache, settings) as cache:
        pid = await cache.register_process("tick", "ticker")
        await raw_redis.delete(keys.process_components())
        await raw_redis.set(keys.process_components(), b"not a hash")
        before = await snapshot(raw_redis, namespace)
        calls: list[Callable[[], Awaitable[object]]] = [
            lambda: cache.register_process("tick", "other"),
            lambda: cache.stop_process(pid),
            cache.get_metrics,
        ]
        for call in calls:
            with pytest.raises(CacheCorruptedValueError) as caught:
                await call()
            assert caught.value.key == keys.process_components()
            assert await snapshot(raw_redis, namespace) == before


KeyOf = Callable[[KeySpace], str]
REFERENCE_COLLECTIONS: dict[str, tuple[KeyOf, Callable[[Any], Awaitable[Any]]]] = {
    "user exchanges": (lambda k: k.user_exchanges("7"), lambda c: c.get_exchanges(7)),
    "catalogue": (lambda k: k.exchange_catalog(), lambda c: c.get_cat_exchanges()),
    "catalogue by name": (lambda k: k.exchange_catalog(), lambda c: c.get_cat_ex_id("binance")),
    "symbols": (lambda k: k.symbols("1"), lambda c: c.get_symbols_by_ex_id(1)),
    "one symbol": (lambda k: k.symbols("1"), lambda c: c.get_symbol("ETH/USDT", cat_ex_id=1)),
    "add_symbol": (lambda k: k.symbols("1"), lambda c: c.add_symbol(NEW_SYMBOL)),
    "update_symbol": (lambda k: k.symbols("1"), lambda c: c.update_symbol(CHANGED_SYMBOL)),
    "delete_symbol": (lambda k: k.symbols("1"), lambda c: c.delete_symbol(KNOWN_SYMBOL)),
}


@pytest.mark.parametrize("name", REFERENCE_COLLECTIONS)
async def test_a_reference_collection_of_the_wrong_type_is_reported_naming_it(
    settings: CacheSettings, raw_redis: Redis, keys: KeySpace, name: str
) -> None:
    """A reference hash of the wrong type: CacheCorruptedValueError naming it; no source call."""
    key_of, call = REFERENCE_COLLECTIONS[name]
    async with opened(SymbolCache, settings) as cache:
        await raw_redis.set(key_of(keys), b"SECRET not a hash")
        with pytest.raises(CacheCorruptedValueError) as caught:
            await call(cache)
        assert caught.value.key == key_of(keys)
        assert "SECRET" not in str(caught.value)
        assert isinstance(cache.source, Database)
        assert sum(cache.source.calls.values()) == 0
        assert await raw_redis.get(key_of(keys)) == b"SECRET not a hash"  # left for inspection


@pytest.mark.parametrize("name", ["user exchanges", "catalogue", "symbols"])
async def test_an_undecodable_field_of_a_reference_collection_is_skipped_and_counted(
    settings: CacheSettings, raw_redis: Redis, keys: KeySpace, name: str
) -> None:
    """A non-UTF-8 field in a reference hash is skipped and counted; the others are listed."""
    key_of, call = REFERENCE_COLLECTIONS[name]
    async with opened(SymbolCache, settings) as cache:
        expected = await call(cache)  # loaded from the database, marked complete
        await raw_redis.hset(key_of(keys), b"\xff\xfe", b"\xff garbage")
        assert await call(cache) == expected
        assert cache.corrupted_skipped == 1


async def test_a_ws_error_queue_of_the_wrong_type_is_reported_naming_it(
    settings: CacheSettings, raw_redis: Redis, keys: KeySpace
) -> None:
    """A ws error queue of the wrong type: push and pops raise a corrupted-value error naming it."""
    async with opened(ExchangeCache, settings) as cache:
        await raw_redis.set(keys.ws_errors("3"), b"SECRET not a list")
        calls: list[Callable[[], Awaitable[object]]] = [
            lambda: cache.push_ws_error("boom", 3),
            lambda: cache.pop_ws_error(3),
            lambda: cache.pop_ws_error(3, timeout=GUARD),
        ]
        async with asyncio.timeout(GUARD):
            for call in calls:
                with pytest.raises(CacheCorruptedValueError) as caught:
                    await call()
                assert caught.value.key == keys.ws_errors("3")
                assert "SECRET" not in str(caught.value)


@pytest.mark.parametrize("timeout", [0, 1])
async def test_an_undecodable_ws_error_raises_naming_the_queue_and_the_queue_goes_on(
    settings: CacheSettings, raw_redis: Redis, keys: KeySpace, timeout: float
) -> None:
    """A non-UTF-8 ws error: CacheCorruptedValueError naming the queue; the next pop works."""
    async with opened(ExchangeCache, settings) as cache:
        await raw_redis.rpush(keys.ws_errors("3"), b"\xffSECRET\xfe")
        await cache.push_ws_error("next", 3)
        with pytest.raises(CacheCorruptedValueError) as caught:
            await cache.pop_ws_error(3, timeout=timeout)
        assert caught.value.key == keys.ws_errors("3")
        assert "SECRET" not in str(caught.value)
        assert await cache.pop_ws_error(3, timeout=timeout) == "next"


async def test_a_quiet_but_healthy_subscription_is_not_taken_for_a_dead_one(
    proxy: FaultProxy, proxied_settings: CacheSettings
) -> None:
    """Health-check pings answered over a quiet channel: get_next_ticker waits out its
    timeout and returns None (a miss), several pings later."""
    async with opened(TickCache, proxied_settings) as cache, asyncio.timeout(GUARD):
        assert await cache.get_next_ticker("BTC/USDT", "binance", 4 * SOCKET_TIMEOUT) is None
