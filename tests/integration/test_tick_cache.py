"""TickCache against a real server: latest values, the exchange index, pub/sub, compat.

No test asserts a duration: staleness uses ticks with old ``time`` values, round trips are
counted (by the fault proxy, or by a client whose connections count their sends: the proxy
relays a large pipeline in several chunks), and ``asyncio.timeout(GUARD)`` only turns a hang
into a failure.
Corrupted data is written with a plain redis-py client under the library's own keys; faults
are real (``CLIENT KILL TYPE pubsub``, a killed and restarted server).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

import fullon_cache
from fullon_cache import (
    CacheCorruptedValueError,
    CacheError,
    CacheSettings,
    CacheUnavailableError,
    InvalidInputError,
    InvalidTypeError,
    TickCache,
    TickerStaleError,
)
from fullon_cache import tick_cache as tick_module
from fullon_cache.codecs import decode_model, encode_model
from fullon_cache.keys import COMPLETE_FIELD, KeySpace
from fullon_cache.local_server import LocalRedisServer
from fullon_cache.models import CatExchange, Symbol, Tick
from fullon_cache.scripts import SET_TICKER
from tests.conftest import raw_client
from tests.support.counting import counting_client
from tests.support.proxy import FaultProxy
from tests.support.pubsub import (
    listening,
    message_within,
    next_message,
    publish,
    subscribers,
    wait_for_subscribers,
)
from tests.support.reference import Database, stored_keys

GUARD = 10  # seconds: turns a hang into a failure, never a performance assertion
T = 1_700_000_000.0  # a fixed epoch for ticks whose age does not matter
BINANCE = CatExchange(cat_ex_id=1, name="binance", ohlcv_view="binance_ohlcv")
KRAKEN = CatExchange(cat_ex_id=2, name="kraken", ohlcv_view="kraken_ohlcv")


def tick(
    symbol: str = "BTC/USDT",
    exchange: str = "binance",
    *,
    price: float = 50000.0,
    at: float = T,
    **extra: Any,
) -> Tick:
    return Tick(symbol=symbol, exchange=exchange, price=price, time=at, **extra)


def seen(ticks: list[Tick]) -> list[tuple[str, float]]:
    return [(t.symbol, t.time) for t in ticks]


@pytest.fixture
def keys(settings: CacheSettings) -> KeySpace:
    return KeySpace(settings.key_prefix)


@pytest.fixture
async def cache(settings: CacheSettings) -> AsyncIterator[TickCache]:
    async with TickCache(settings) as cache:
        cache.source = None  # no reference-data source unless a test gives one
        yield cache


@pytest.fixture
async def alone(fast_settings: CacheSettings) -> AsyncIterator[TickCache]:
    """A cache on a private server: CLIENT KILL there cannot touch another test's clients."""
    async with TickCache(fast_settings) as cache:
        cache.source = None
        yield cache


@pytest.fixture
async def alone_raw(fast_settings: CacheSettings) -> AsyncIterator[Redis]:
    client = raw_client(fast_settings)
    yield client
    await client.aclose()


async def take(stream: AsyncIterator[Tick], count: int) -> list[Tick]:
    async with asyncio.timeout(GUARD):
        return [await anext(stream) for _ in range(count)]


# -- the error and the exports -----------------------------------------------------------


def test_ticker_stale_error_is_a_cache_error_exported_from_the_root() -> None:
    assert fullon_cache.TickerStaleError is TickerStaleError is tick_module.TickerStaleError
    assert fullon_cache.TickCache is TickCache is tick_module.TickCache
    assert issubclass(TickerStaleError, CacheError)
    old = tick()
    error = TickerStaleError(old, 12.5)
    assert error.tick is old
    assert error.age == 12.5
    assert "BTC/USDT" in str(error)
    assert "binance" in str(error)


# -- set_ticker ----------------------------------------------------------------------------


async def test_set_ticker_stores_indexes_and_publishes(
    cache: TickCache, raw_redis: Redis, keys: KeySpace
) -> None:
    sent = tick(volume=12.5, bid=49999.5, ask=50000.5, last=50000.0, change=-1.5, percentage=-0.1)
    async with listening(raw_redis, keys.ticker_updates("binance")) as pubsub:
        assert await cache.set_ticker(sent) is True
        published = decode_model(Tick, await next_message(pubsub), "published")
    assert published.to_dict() == sent.to_dict()
    got = await cache.get_ticker("BTC/USDT", "binance")
    assert got is not None
    assert got.to_dict() == sent.to_dict()
    assert await raw_redis.smembers(keys.ticker_exchanges()) == {b"binance"}
    assert await raw_redis.hexists(keys.ticker_times("binance"), "BTC/USDT")


async def test_an_older_tick_is_refused_and_neither_stored_nor_published(
    cache: TickCache, raw_redis: Redis, keys: KeySpace
) -> None:
    assert await cache.set_ticker(tick(price=2.0, at=T + 10)) is True
    async with listening(raw_redis, keys.ticker_updates("binance")) as pubsub:
        assert await cache.set_ticker(tick(price=1.0, at=T)) is False
        stored = await cache.get_ticker("BTC/USDT", "binance")
        assert stored is not None
        assert (stored.price, stored.time) == (2.0, T + 10)
        assert await cache.set_ticker(tick(price=3.0, at=T + 20)) is True
        first = decode_model(Tick, await next_message(pubsub), "published")
    assert (first.price, first.time) == (3.0, T + 20)  # the refused tick was never published


async def test_a_tick_of_the_same_time_is_stored_again(cache: TickCache) -> None:
    assert await cache.set_ticker(tick(price=1.0, at=T)) is True
    assert await cache.set_ticker(tick(price=1.5, at=T)) is True
    got = await cache.get_ticker("BTC/USDT", "binance")
    assert got is not None
    assert got.price == 1.5


@pytest.mark.parametrize("stamp", [1732240000.123456, 1732240000, 0.1 + 0.2, 1732240000.000001])
async def test_time_comes_back_exactly_as_stored(cache: TickCache, stamp: float) -> None:
    assert await cache.set_ticker(tick(at=stamp))
    got = await cache.get_ticker("BTC/USDT", "binance")
    assert got is not None
    assert got.time == stamp
    assert type(got.time) is type(stamp)
    assert repr(got.time) == repr(stamp)
    # ... and the stored time still orders later ticks: a microsecond older is refused
    assert await cache.set_ticker(tick(at=stamp - 1e-6)) is False


async def test_set_ticker_is_one_round_trip(
    proxy: FaultProxy, proxied_settings: CacheSettings
) -> None:
    async with TickCache(proxied_settings) as cache:
        assert await cache.set_ticker(tick(at=T))  # warm-up: connection, INFO, script load
        before = proxy.requests_forwarded
        assert await cache.set_ticker(tick(price=2.0, at=T + 1)) is True
        assert proxy.requests_forwarded == before + 1
        assert await cache.set_ticker(tick(price=0.5, at=T)) is False  # refused: one trip too
        assert proxy.requests_forwarded == before + 2
        got = await cache.get_ticker("BTC/USDT", "binance")
        assert proxy.requests_forwarded == before + 3
    assert got is not None
    assert got.price == 2.0


async def test_set_ticker_works_when_the_server_does_not_know_its_script(
    fast_settings: CacheSettings,
) -> None:
    admin = raw_client(fast_settings)
    try:
        assert await admin.script_exists(SET_TICKER.sha) == [False]  # a fresh server
        async with TickCache(fast_settings) as cache:
            assert await cache.set_ticker(tick(price=1.0, at=T)) is True
            assert await admin.script_exists(SET_TICKER.sha) == [True]
            await admin.script_flush()  # as after a restart or SCRIPT FLUSH
            assert await cache.set_ticker(tick(price=2.0, at=T + 1)) is True
            assert await cache.set_tickers_batch([tick("ETH/USDT", price=3.0)]) == 1
            await admin.script_flush()
            assert await cache.set_ticker(tick(price=0.5, at=T)) is False  # still refused
            got = await cache.get_ticker("BTC/USDT", "binance")
            eth = await cache.get_ticker("ETH/USDT", "binance")
    finally:
        await admin.aclose()
    assert got is not None
    assert got.price == 2.0
    assert eth is not None
    assert eth.price == 3.0


async def test_set_ticker_onto_a_key_of_the_wrong_type_reports_corruption(
    cache: TickCache, raw_redis: Redis, keys: KeySpace
) -> None:
    await raw_redis.set(keys.tickers("broken"), b"not a hash")
    with pytest.raises(CacheCorruptedValueError) as caught:
        await cache.set_ticker(tick(exchange="broken"))
    assert caught.value.key == keys.tickers("broken")
    with pytest.raises(CacheCorruptedValueError) as in_batch:
        await cache.set_tickers_batch([tick(exchange="binance"), tick(exchange="broken")])
    assert in_batch.value.key == keys.tickers("broken")
    assert await cache.set_ticker(tick(exchange="binance", at=T + 1)) is True  # others unaffected


async def test_deleting_the_tickers_of_an_exchange_repairs_a_key_of_the_wrong_type(
    cache: TickCache, raw_redis: Redis, keys: KeySpace
) -> None:
    await raw_redis.set(keys.tickers("broken"), b"not a hash")
    await raw_redis.sadd(keys.ticker_exchanges(), "broken", "binance")
    assert await cache.delete_exchange_tickers("broken") == 0  # no readable ticker was there
    assert await raw_redis.exists(keys.tickers("broken")) == 0
    assert await raw_redis.smembers(keys.ticker_exchanges()) == {b"binance"}
    assert await cache.set_ticker(tick(exchange="broken")) is True


async def test_a_times_hash_of_the_wrong_type_is_named_and_nothing_is_written_or_deleted(
    cache: TickCache, raw_redis: Redis, keys: KeySpace
) -> None:
    assert await cache.set_ticker(tick())
    times = keys.ticker_times("binance")
    await raw_redis.delete(times)
    await raw_redis.set(times, b"not a hash")
    async with listening(raw_redis, keys.ticker_updates("binance")) as pubsub:
        for call in (
            lambda: cache.set_ticker(tick(price=2.0, at=T + 1)),
            lambda: cache.set_tickers_batch([tick("ETH/USDT"), tick(exchange="kraken")]),
            lambda: cache.delete_ticker("BTC/USDT", "binance"),
        ):
            with pytest.raises(CacheCorruptedValueError) as caught:
                await call()
            assert caught.value.key == times
        assert await message_within(pubsub, 0.2) is None
    assert await raw_redis.hgetall(keys.tickers("binance")) == {b"BTC/USDT": encode_model(tick())}
    assert await raw_redis.get(times) == b"not a hash"
    assert await cache.get_ticker("BTC/USDT", "kraken") == tick(exchange="kraken")  # not hidden


async def test_delete_ticker_onto_a_latest_hash_of_the_wrong_type_names_it_and_deletes_nothing(
    cache: TickCache, raw_redis: Redis, keys: KeySpace
) -> None:
    assert await cache.set_ticker(tick())
    await raw_redis.delete(keys.tickers("binance"))
    await raw_redis.set(keys.tickers("binance"), b"not a hash")
    with pytest.raises(CacheCorruptedValueError) as caught:
        await cache.delete_ticker("BTC/USDT", "binance")
    assert caught.value.key == keys.tickers("binance")
    assert await raw_redis.hexists(keys.ticker_times("binance"), "BTC/USDT")


# -- set_tickers_batch -----------------------------------------------------------------------


def batch_of_1200() -> list[Tick]:
    return [tick(f"S{i:04d}/USDT", f"ex{i % 5}", price=float(i + 1), at=T + i) for i in range(1200)]


@pytest.mark.standalone
async def test_a_batch_of_1200_ticks_over_5_exchanges_takes_a_few_round_trips(
    settings: CacheSettings,
) -> None:
    ticks = batch_of_1200()
    client, sends = counting_client(settings)
    try:
        async with TickCache(redis=client, key_prefix=settings.key_prefix) as cache:
            assert await cache.set_ticker(tick("WARM/UP", "ex0"))  # connection, script loaded
            before = sends[0]
            assert await cache.set_ticker(tick("WARM/UP", "ex0", at=T + 1))
            assert sends[0] == before + 1  # the counter counts round trips
            before = sends[0]
            assert await cache.set_tickers_batch(ticks) == 1200
            trips = sends[0] - before
            stored = await cache.get_all_tickers()
    finally:
        await client.aclose()
    assert trips <= 4
    assert {(t.exchange, t.symbol, t.price, t.time) for t in stored} == {
        (t.exchange, t.symbol, t.price, t.time) for t in [*ticks, tick("WARM/UP", "ex0", at=T + 1)]
    }


async def test_a_batch_is_pipelined_through_the_proxy(
    proxy: FaultProxy, proxied_settings: CacheSettings
) -> None:
    async with TickCache(proxied_settings) as cache:
        assert await cache.set_ticker(tick("WARM/UP", "ex0"))  # connection, script loaded
        before = proxy.requests_forwarded
        assert await cache.set_tickers_batch(batch_of_1200()) == 1200
        chunks = proxy.requests_forwarded - before
        assert len(await cache.get_all_tickers()) == 1201
    # The proxy counts relayed chunks (at most 64 KiB each), not round trips: a few per
    # 500-tick pipeline. One round trip per tick would be 1,200 of them.
    assert chunks < 60


async def test_a_batch_counts_only_the_ticks_it_stored(
    cache: TickCache, raw_redis: Redis, keys: KeySpace
) -> None:
    assert await cache.set_ticker(tick("ETH/USDT", price=9.0, at=T + 100))
    batch = [
        tick("ETH/USDT", price=1.0, at=T),  # older than the stored one
        tick("BTC/USDT", price=2.0, at=T),
        tick("BTC/USDT", price=3.0, at=T + 1),  # later in the batch and newer: wins
        tick("BTC/USDT", price=4.0, at=T - 1),  # older than the one before it
        tick("XBT/USD", "kraken", price=5.0, at=T),
    ]
    assert await cache.set_tickers_batch(iter(batch)) == 3  # any iterable
    prices = {(t.exchange, t.symbol): t.price for t in await cache.get_all_tickers()}
    assert prices == {
        ("binance", "BTC/USDT"): 3.0,
        ("binance", "ETH/USDT"): 9.0,
        ("kraken", "XBT/USD"): 5.0,
    }
    assert await raw_redis.smembers(keys.ticker_exchanges()) == {b"binance", b"kraken"}


async def test_a_batch_with_one_invalid_tick_writes_nothing(
    cache: TickCache, raw_redis: Redis, settings: CacheSettings
) -> None:
    batch: list[Any] = [tick("A/USDT"), tick("B/USDT"), tick("C*/USDT"), tick("D/USDT")]
    with pytest.raises(InvalidInputError):
        await cache.set_tickers_batch(batch)
    batch[2] = {"symbol": "C/USDT", "exchange": "binance", "price": 1.0, "time": T}
    with pytest.raises(InvalidTypeError):
        await cache.set_tickers_batch(batch)
    assert await stored_keys(raw_redis, settings) == set()


@pytest.mark.parametrize("batch", [None, 5, "BTC/USDT", b"ticks", {"symbol": "A/USDT"}])
async def test_a_batch_that_is_not_a_collection_of_ticks_raises(
    cache: TickCache, raw_redis: Redis, settings: CacheSettings, batch: object
) -> None:
    with pytest.raises(InvalidTypeError):
        await cache.set_tickers_batch(batch)  # type: ignore[arg-type]
    assert await stored_keys(raw_redis, settings) == set()


async def test_an_empty_batch_stores_nothing(
    cache: TickCache, raw_redis: Redis, settings: CacheSettings
) -> None:
    assert await cache.set_tickers_batch([]) == 0
    assert await cache.set_tickers_batch(iter(())) == 0
    assert await stored_keys(raw_redis, settings) == set()


# -- invalid ticks -------------------------------------------------------------------------

BAD_FIELDS = [
    pytest.param({"price": None}, InvalidTypeError, id="missing price"),
    pytest.param({"time": None}, InvalidTypeError, id="missing time"),
    pytest.param({"symbol": None}, InvalidTypeError, id="missing symbol"),
    pytest.param({"exchange": None}, InvalidTypeError, id="missing exchange"),
    pytest.param({"symbol": ""}, InvalidInputError, id="empty symbol"),
    pytest.param({"exchange": ""}, InvalidInputError, id="empty exchange"),
    pytest.param({"price": math.nan}, InvalidInputError, id="NaN price"),
    pytest.param({"price": math.inf}, InvalidInputError, id="infinite price"),
    pytest.param({"price": -math.inf}, InvalidInputError, id="minus infinite price"),
    pytest.param({"time": math.nan}, InvalidInputError, id="NaN time"),
    pytest.param({"time": math.inf}, InvalidInputError, id="infinite time"),
    pytest.param({"price": True}, InvalidTypeError, id="bool price"),
    pytest.param({"price": "50000"}, InvalidTypeError, id="str price"),
    pytest.param({"time": "1700000000"}, InvalidTypeError, id="str time"),
    pytest.param({"bid": math.nan}, InvalidInputError, id="NaN bid"),
    pytest.param({"ask": math.inf}, InvalidInputError, id="infinite ask"),
    pytest.param({"volume": "1"}, InvalidTypeError, id="str volume"),
    pytest.param({"percentage": False}, InvalidTypeError, id="bool percentage"),
    pytest.param({"symbol": "BTC*USDT"}, InvalidInputError, id="star in symbol"),
    pytest.param({"symbol": "BTC?USDT"}, InvalidInputError, id="question mark in symbol"),
    pytest.param({"symbol": "[BTC]/USDT"}, InvalidInputError, id="brackets in symbol"),
    pytest.param({"symbol": "{BTC}/USDT"}, InvalidInputError, id="braces in symbol"),
    pytest.param({"symbol": "BTC/\nUSDT"}, InvalidInputError, id="newline in symbol"),
    pytest.param({"exchange": "bin*"}, InvalidInputError, id="star in exchange"),
    pytest.param({"exchange": "bin{a}nce"}, InvalidInputError, id="braces in exchange"),
    pytest.param({"exchange": "bin\nance"}, InvalidInputError, id="newline in exchange"),
    pytest.param({"exchange": 5.0}, InvalidTypeError, id="float exchange"),
    pytest.param({"symbol": 5}, InvalidInputError, id="int symbol"),
    pytest.param({"exchange": 7}, InvalidInputError, id="int exchange"),
]


@pytest.mark.parametrize(("fields", "exc"), BAD_FIELDS)
async def test_an_invalid_tick_is_rejected_and_nothing_is_written(
    cache: TickCache,
    raw_redis: Redis,
    settings: CacheSettings,
    keys: KeySpace,
    fields: dict[str, Any],
    exc: type[Exception],
) -> None:
    bad = tick()
    for name, value in fields.items():
        setattr(bad, name, value)
    async with listening(raw_redis, keys.ticker_updates("binance")) as pubsub:
        with pytest.raises(exc):
            await cache.set_ticker(bad)
        with pytest.raises(exc):
            await cache.set_tickers_batch([tick("ETH/USDT"), bad])
        with pytest.raises(exc):
            await cache.update_ticker("binance", bad)
        assert await stored_keys(raw_redis, settings) == set()
        assert await publish(raw_redis, keys.ticker_updates("binance"), b"marker") == 1
        assert await next_message(pubsub) == b"marker"  # nothing was published before it


@pytest.mark.parametrize(
    "value",
    [
        {"symbol": "BTC/USDT", "exchange": "binance", "price": 1.0, "time": T},
        None,
        "BTC/USDT",
        Symbol(symbol="BTC/USDT", cat_ex_id=1),
    ],
    ids=["dict", "None", "str", "Symbol"],
)
async def test_something_that_is_not_a_tick_is_rejected(
    cache: TickCache, raw_redis: Redis, settings: CacheSettings, value: object
) -> None:
    with pytest.raises(InvalidTypeError, match="expected a Tick"):
        await cache.set_ticker(value)  # type: ignore[arg-type]
    with pytest.raises(InvalidTypeError, match="expected a Tick"):
        await cache.set_tickers_batch([tick(), value])  # type: ignore[list-item]
    with pytest.raises(InvalidTypeError, match="expected a Tick"):
        await cache.update_ticker("binance", value)  # type: ignore[arg-type]
    assert await stored_keys(raw_redis, settings) == set()


# -- update_ticker (compat) ----------------------------------------------------------------


async def test_update_ticker_stores_under_the_given_exchange_and_keeps_the_callers_tick(
    cache: TickCache, raw_redis: Redis, settings: CacheSettings
) -> None:
    mine = tick(exchange="binance", bid=49999.0)
    before = mine.to_dict()
    assert await cache.update_ticker("kraken", mine) is True
    assert mine.to_dict() == before
    got = await cache.get_ticker("BTC/USDT", "kraken")
    assert got is not None
    assert got.to_dict() == {**before, "exchange": "kraken"}
    assert await cache.get_ticker("BTC/USDT", "binance") is None
    assert await cache.update_ticker("kraken", tick(at=T - 1)) is False  # older: refused


@pytest.mark.parametrize(
    ("exchange", "exc"),
    [("kr*ken", InvalidInputError), ("", InvalidInputError), (None, InvalidTypeError)],
)
async def test_update_ticker_with_a_bad_exchange_writes_nothing(
    cache: TickCache,
    raw_redis: Redis,
    settings: CacheSettings,
    exchange: object,
    exc: type[Exception],
) -> None:
    with pytest.raises(exc):
        await cache.update_ticker(exchange, tick())  # type: ignore[arg-type]
    assert await stored_keys(raw_redis, settings) == set()


# -- get_ticker ------------------------------------------------------------------------------


async def test_get_ticker_accepts_the_three_call_shapes(cache: TickCache) -> None:
    assert await cache.set_ticker(tick(exchange="binance", price=1.0))
    assert await cache.set_ticker(tick(exchange="kraken", price=2.0))
    model = Symbol(symbol="BTC/USDT", cat_ex_id=1, cat_exchange=BINANCE)
    by_model = await cache.get_ticker(model)
    by_pair = await cache.get_ticker("BTC/USDT", "binance")
    by_keyword = await cache.get_ticker("BTC/USDT", exchange="kraken")
    explicit = await cache.get_ticker(model, "kraken")  # an explicit exchange wins
    assert by_model is not None
    assert by_pair is not None
    assert by_keyword is not None
    assert explicit is not None
    assert (by_model.exchange, by_model.price) == ("binance", 1.0)
    assert (by_pair.exchange, by_pair.price) == ("binance", 1.0)
    assert (by_keyword.exchange, by_keyword.price) == ("kraken", 2.0)
    assert (explicit.exchange, explicit.price) == ("kraken", 2.0)
    assert await cache.get_ticker("ETH/USDT", "binance") is None
    assert await cache.get_ticker("BTC/USDT", "bitstamp") is None
    assert (
        await cache.get_ticker(Symbol(symbol="ETH/USDT", cat_ex_id=1, cat_exchange=BINANCE)) is None
    )


async def test_a_symbol_without_its_exchange_is_resolved_through_the_catalogue(
    cache: TickCache,
) -> None:
    database = Database()
    cache.source = database
    assert await cache.set_ticker(tick(exchange="kraken", price=2.0))
    got = await cache.get_ticker(Symbol(symbol="BTC/USDT", cat_ex_id=2))
    assert got is not None
    assert (got.exchange, got.price) == ("kraken", 2.0)
    assert await cache.get_ticker(Symbol(symbol="BTC/USDT", cat_ex_id=99)) is None  # unknown
    assert await cache.get_ticker(Symbol(symbol="BTC/USDT", cat_ex_id=9)) is None  # no entry
    assert database.calls["get_cat_exchanges"] == 1  # the catalogue is cached once


async def test_a_preloaded_catalogue_resolves_without_a_source(
    cache: TickCache, raw_redis: Redis, keys: KeySpace
) -> None:
    await raw_redis.hset(
        keys.exchange_catalog(),
        mapping={COMPLETE_FIELD: b"1", "kraken": encode_model(KRAKEN)},
    )
    assert await cache.set_ticker(tick(exchange="kraken", price=2.0))
    got = await cache.get_ticker(Symbol(symbol="BTC/USDT", cat_ex_id=2))
    assert got is not None
    assert got.exchange == "kraken"
    assert await cache.get_ticker(Symbol(symbol="BTC/USDT", cat_ex_id=1)) is None


@pytest.mark.parametrize(
    "stored",
    [
        {"price": 50000, "time": T},  # whole numbers, as another writer may store them
        {"price": 50000.5, "time": T, "volume": 12, "bid": 49999},
        {"price": 50000.5, "time": T, "volume": 12.5, "bid": None, "ask": 50001.0},
    ],
    ids=["int price", "int optionals", "floats and nulls"],
)
async def test_stored_numbers_may_be_ints_or_floats(
    cache: TickCache, raw_redis: Redis, keys: KeySpace, stored: dict[str, object]
) -> None:
    payload = {"symbol": "BTC/USDT", "exchange": "binance", **stored}
    await raw_redis.hset(keys.tickers("binance"), "BTC/USDT", json.dumps(payload))
    got = await cache.get_ticker("BTC/USDT", "binance")
    assert got is not None
    assert {name: getattr(got, name) for name in stored} == stored


@pytest.mark.parametrize(
    ("args", "exc"),
    [
        pytest.param(("BTC/USDT",), InvalidInputError, id="str without exchange"),
        pytest.param((42,), InvalidTypeError, id="int"),
        pytest.param((None,), InvalidTypeError, id="None"),
        pytest.param((tick(),), InvalidTypeError, id="a Tick"),
        pytest.param(("BTC*", "binance"), InvalidInputError, id="glob symbol"),
        pytest.param(("BTC/USDT", "bin[a]nce"), InvalidInputError, id="glob exchange"),
        pytest.param(("BTC/USDT", ""), InvalidInputError, id="empty exchange"),
        pytest.param(("BTC/USDT", 1.5), InvalidTypeError, id="float exchange"),
        pytest.param(
            (Symbol(symbol="BTC/USDT", cat_ex_id=None),),  # type: ignore[arg-type]
            InvalidTypeError,
            id="Symbol without cat_ex_id",
        ),
        pytest.param(
            (Symbol(symbol="BTC?", cat_ex_id=1, cat_exchange=BINANCE),),
            InvalidInputError,
            id="Symbol with a glob",
        ),
    ],
)
async def test_get_ticker_rejects_bad_arguments(
    cache: TickCache, args: tuple[Any, ...], exc: type[Exception]
) -> None:
    assert await cache.set_ticker(tick())
    with pytest.raises(exc):
        await cache.get_ticker(*args)


async def test_max_age_reports_a_stale_ticker(cache: TickCache) -> None:
    now = time.time()
    assert await cache.set_ticker(tick(at=now))
    assert await cache.set_ticker(tick("ETH/USDT", price=3000.0, at=now - 3600))
    fresh = await cache.get_ticker("BTC/USDT", "binance", max_age=600)
    assert fresh is not None
    assert fresh.time == now
    with pytest.raises(TickerStaleError) as caught:
        await cache.get_ticker("ETH/USDT", "binance", max_age=600)
    stale = caught.value
    assert isinstance(stale, CacheError)
    assert (stale.tick.symbol, stale.tick.price, stale.tick.time) == (
        "ETH/USDT",
        3000.0,
        now - 3600,
    )
    assert stale.age >= 3600
    with pytest.raises(TickerStaleError):
        await cache.get_ticker(
            Symbol(symbol="ETH/USDT", cat_ex_id=1, cat_exchange=BINANCE), max_age=0
        )
    old = await cache.get_ticker("ETH/USDT", "binance")  # without max_age: returned as is
    assert old is not None
    assert old.time == now - 3600
    assert await cache.get_ticker("XRP/USDT", "binance", max_age=600) is None  # a miss


@pytest.mark.parametrize(
    ("max_age", "exc"),
    [
        (-1, InvalidInputError),
        (math.nan, InvalidInputError),
        (math.inf, InvalidInputError),
        ("5", InvalidTypeError),
        (True, InvalidTypeError),
    ],
)
async def test_a_bad_max_age_raises(
    cache: TickCache, max_age: object, exc: type[Exception]
) -> None:
    assert await cache.set_ticker(tick())
    with pytest.raises(exc):
        await cache.get_ticker("BTC/USDT", "binance", max_age=max_age)  # type: ignore[arg-type]


# -- get_price, get_any_ticker -----------------------------------------------------------------


async def test_get_price_prefers_the_exchange_else_the_freshest_ticker(cache: TickCache) -> None:
    assert await cache.set_ticker(tick(exchange="binance", price=1.0, at=T + 1))
    assert await cache.set_ticker(tick(exchange="kraken", price=2, at=T + 5))
    assert await cache.set_ticker(tick(exchange="bitstamp", price=3.0, at=T + 3))
    assert await cache.get_price("BTC/USDT", "binance") == 1.0
    by_kraken = await cache.get_price("BTC/USDT", "kraken")
    assert by_kraken == 2.0
    assert isinstance(by_kraken, float)
    freshest = await cache.get_price("BTC/USDT")
    assert freshest == 2.0
    assert isinstance(freshest, float)
    assert await cache.get_price("BTC/USDT", "bybit") == 0.0
    assert await cache.get_price("ETH/USDT", "binance") == 0.0
    assert await cache.get_price("ETH/USDT") == 0.0
    with pytest.raises(InvalidInputError):
        await cache.get_price("BTC*")
    with pytest.raises(InvalidInputError):
        await cache.get_price("BTC/USDT", "bin*")


async def test_get_price_without_tickers_anywhere_is_zero(cache: TickCache) -> None:
    assert await cache.get_price("BTC/USDT") == 0.0


async def test_get_any_ticker_tries_the_own_exchange_first_then_the_others(
    cache: TickCache,
) -> None:
    assert await cache.set_ticker(tick(exchange="binance", price=1.0, at=T))
    assert await cache.set_ticker(tick(exchange="kraken", price=2.0, at=T + 5))  # fresher
    assert await cache.set_ticker(tick("ETH/USDT", "kraken", price=3.0))
    on_binance = Symbol(symbol="BTC/USDT", cat_ex_id=1, cat_exchange=BINANCE)
    own = await cache.get_any_ticker(on_binance)
    assert own is not None
    assert (own.exchange, own.price) == ("binance", 1.0)
    elsewhere = await cache.get_any_ticker(
        Symbol(symbol="ETH/USDT", cat_ex_id=1, cat_exchange=BINANCE)
    )
    assert elsewhere is not None
    assert (elsewhere.exchange, elsewhere.price) == ("kraken", 3.0)
    by_name = await cache.get_any_ticker("ETH/USDT")
    assert by_name is not None
    assert by_name.exchange == "kraken"
    any_btc = await cache.get_any_ticker("BTC/USDT")
    assert any_btc is not None
    assert any_btc.symbol == "BTC/USDT"
    assert await cache.get_any_ticker("XRP/USDT") is None
    assert (
        await cache.get_any_ticker(Symbol(symbol="XRP/USDT", cat_ex_id=2, cat_exchange=KRAKEN))
        is None
    )
    with pytest.raises(InvalidTypeError):
        await cache.get_any_ticker(7)  # type: ignore[arg-type]


async def test_get_any_ticker_of_a_symbol_whose_exchange_is_unknown_searches_everywhere(
    cache: TickCache,
) -> None:
    cache.source = Database()
    assert await cache.set_ticker(tick(exchange="kraken", price=2.0))
    found = await cache.get_any_ticker(Symbol(symbol="BTC/USDT", cat_ex_id=99))
    assert found is not None
    assert found.exchange == "kraken"


async def test_get_any_ticker_without_any_tickers_is_none(cache: TickCache) -> None:
    assert await cache.get_any_ticker("BTC/USDT") is None


# -- get_all_tickers, get_tickers --------------------------------------------------------------


async def test_get_all_tickers_lists_every_exchange_that_has_tickers(cache: TickCache) -> None:
    ticks = [
        tick(f"C{s}/USDT", f"ex{e:02d}", price=float(e * 10 + s), at=T + e + s)
        for e in range(30)
        for s in range(3)
    ]
    random.Random(7).shuffle(ticks)
    assert await cache.set_tickers_batch(ticks) == 90
    listed = await cache.get_all_tickers()
    expected = sorted(ticks, key=lambda t: (t.exchange, t.symbol))
    assert [t.to_dict() for t in listed] == [t.to_dict() for t in expected]
    assert [t.to_dict() for t in await cache.get_tickers()] == [t.to_dict() for t in expected]
    one = await cache.get_all_tickers("ex07")
    assert [(t.exchange, t.symbol) for t in one] == [("ex07", f"C{s}/USDT") for s in range(3)]
    assert [t.to_dict() for t in await cache.get_tickers("ex07")] == [t.to_dict() for t in one]
    assert await cache.get_all_tickers("nowhere") == []
    assert await cache.get_tickers("nowhere") == []


async def test_get_all_tickers_without_any_tickers_is_empty(cache: TickCache) -> None:
    assert await cache.get_all_tickers() == []
    assert await cache.get_tickers() == []


async def test_get_all_tickers_by_cat_ex_id(cache: TickCache) -> None:
    database = Database()
    cache.source = database
    assert await cache.set_ticker(tick(exchange="binance", price=1.0))
    assert await cache.set_ticker(tick("ETH/USDT", "binance", price=2.0))
    assert await cache.set_ticker(tick(exchange="kraken", price=3.0))
    by_id = await cache.get_all_tickers(cat_ex_id=1)
    assert [(t.exchange, t.symbol, t.price) for t in by_id] == [
        ("binance", "BTC/USDT", 1.0),
        ("binance", "ETH/USDT", 2.0),
    ]
    by_str_id = await cache.get_all_tickers(cat_ex_id="2")  # type: ignore[arg-type]
    assert [t.exchange for t in by_str_id] == ["kraken"]
    named = await cache.get_all_tickers("kraken", cat_ex_id=1)  # the name wins
    assert [t.exchange for t in named] == ["kraken"]
    assert await cache.get_all_tickers(cat_ex_id=99) == []
    assert await cache.get_all_tickers(cat_ex_id=9) == []
    with pytest.raises(InvalidTypeError):
        await cache.get_all_tickers(cat_ex_id=1.0)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        await cache.get_all_tickers("bin*")


# -- corrupted data --------------------------------------------------------------------------

CORRUPT_VALUES = [
    pytest.param(b"\xff\xfe garbage", id="garbage bytes"),
    pytest.param(b"[1, 2]", id="a list"),
    pytest.param(b"null", id="null"),
    pytest.param(
        b'{"symbol": "BTC/USDT", "exchange": "broken", "price": "abc", "time": 1}',
        id="str price",
    ),
    pytest.param(
        b'{"symbol": "BTC/USDT", "exchange": "broken", "price": NaN, "time": 1}',
        id="NaN price",
    ),
    pytest.param(b'{"symbol": "BTC/USDT", "exchange": "broken", "time": 1}', id="no price"),
    pytest.param(
        b'{"symbol": "BTC/USDT", "exchange": "broken", "price": 1, "time": null}',
        id="null time",
    ),
    pytest.param(b'{"symbol": 5, "exchange": "broken", "price": 1, "time": 1}', id="int symbol"),
    pytest.param(
        b'{"symbol": "BTC/USDT", "exchange": null, "price": 1, "time": 1}', id="null exchange"
    ),
]


@pytest.fixture
async def corrupted(cache: TickCache, raw_redis: Redis, keys: KeySpace) -> TickCache:
    """binance and kraken are fine; "wrongtype" has a string where its hash should be."""
    assert await cache.set_ticker(tick(exchange="binance", price=1.0, at=T + 1))
    assert await cache.set_ticker(tick("ETH/USDT", "binance", price=2.0, at=T + 1))
    assert await cache.set_ticker(tick(exchange="kraken", price=3.0, at=T + 2))
    await raw_redis.set(keys.tickers("wrongtype"), b"not a hash")
    await raw_redis.sadd(keys.ticker_exchanges(), "wrongtype")
    return cache


@pytest.mark.parametrize("value", CORRUPT_VALUES)
async def test_a_corrupted_entry_does_not_hide_the_other_exchanges(
    corrupted: TickCache,
    raw_redis: Redis,
    keys: KeySpace,
    value: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = corrupted
    await raw_redis.hset(keys.tickers("broken"), "BTC/USDT", value)
    await raw_redis.sadd(keys.ticker_exchanges(), "broken")
    with caplog.at_level(logging.WARNING, logger="fullon.cache.base"):
        listed = await cache.get_all_tickers()
    assert [(t.exchange, t.symbol) for t in listed] == [
        ("binance", "BTC/USDT"),
        ("binance", "ETH/USDT"),
        ("kraken", "BTC/USDT"),
    ]
    assert cache.corrupted_skipped == 2
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 2
    assert any(keys.tickers("broken") in message for message in warned)
    assert all(value.decode(errors="replace") not in message for message in warned)
    assert await cache.get_price("BTC/USDT") == 3.0  # the freshest of the readable ones
    assert cache.corrupted_skipped == 4
    found = await cache.get_any_ticker("BTC/USDT")
    assert found is not None
    assert found.exchange in {"binance", "kraken"}
    assert await cache.get_all_tickers("broken") == []
    assert await cache.get_all_tickers("wrongtype") == []
    with pytest.raises(CacheCorruptedValueError) as caught:
        await cache.get_ticker("BTC/USDT", "broken")
    assert caught.value.key == keys.tickers("broken")
    assert value.decode(errors="replace") not in str(caught.value)
    with pytest.raises(CacheCorruptedValueError) as wrong:
        await cache.get_ticker("BTC/USDT", "wrongtype")
    assert wrong.value.key == keys.tickers("wrongtype")
    with pytest.raises(CacheCorruptedValueError):
        await cache.get_price("BTC/USDT", "broken")
    assert await cache.set_ticker(tick(exchange="broken", price=4.0, at=T + 3))  # overwritten
    repaired = await cache.get_ticker("BTC/USDT", "broken")
    assert repaired is not None
    assert repaired.price == 4.0


@pytest.mark.parametrize("member", [b"\xff\xfe", b"bad*exchange", b"x}{y", b" padded"], ids=repr)
async def test_an_index_member_that_is_no_exchange_name_is_skipped_and_counted(
    cache: TickCache, raw_redis: Redis, keys: KeySpace, member: bytes
) -> None:
    assert await cache.set_ticker(tick(exchange="binance", price=1.0, at=T + 1))
    assert await cache.set_ticker(tick(exchange="kraken", price=3.0, at=T + 2))
    await raw_redis.sadd(keys.ticker_exchanges(), member)
    assert [t.exchange for t in await cache.get_all_tickers()] == ["binance", "kraken"]
    assert cache.corrupted_skipped == 1
    assert await cache.get_price("BTC/USDT") == 3.0
    assert await cache.get_any_ticker("BTC/USDT") == tick(exchange="kraken", price=3.0, at=T + 2)
    assert cache.corrupted_skipped == 3


# -- deletes ---------------------------------------------------------------------------------


async def test_delete_ticker(cache: TickCache, raw_redis: Redis, keys: KeySpace) -> None:
    assert await cache.set_ticker(tick(at=T + 10))
    assert await cache.set_ticker(tick("ETH/USDT"))
    assert await cache.set_ticker(tick(exchange="kraken"))
    assert await cache.delete_ticker("BTC/USDT", "binance") is True
    assert await cache.get_ticker("BTC/USDT", "binance") is None
    assert not await raw_redis.hexists(keys.ticker_times("binance"), "BTC/USDT")
    assert await cache.delete_ticker("BTC/USDT", "binance") is False
    assert await cache.get_ticker("ETH/USDT", "binance") is not None
    assert await cache.get_ticker("BTC/USDT", "kraken") is not None
    assert await cache.set_ticker(tick(at=T)) is True  # its time went with it
    model = Symbol(symbol="ETH/USDT", cat_ex_id=1, cat_exchange=BINANCE)
    assert await cache.delete_ticker(model) is True
    assert await cache.delete_ticker(Symbol(symbol="BTC/USDT", cat_ex_id=1), "kraken") is True
    assert [t.symbol for t in await cache.get_all_tickers()] == ["BTC/USDT"]


async def test_delete_ticker_needs_an_exchange(cache: TickCache) -> None:
    assert await cache.set_ticker(tick())
    with pytest.raises(InvalidInputError, match="exchange"):
        await cache.delete_ticker("BTC/USDT")
    with pytest.raises(InvalidInputError, match="exchange"):
        await cache.delete_ticker(Symbol(symbol="BTC/USDT", cat_ex_id=1))  # not in a catalogue
    with pytest.raises(InvalidInputError):
        await cache.delete_ticker("BTC/USDT", "bin*")
    with pytest.raises(InvalidTypeError):
        await cache.delete_ticker(3)  # type: ignore[arg-type]
    assert await cache.get_ticker("BTC/USDT", "binance") is not None


async def test_delete_exchange_tickers_and_its_alias(
    cache: TickCache, raw_redis: Redis, keys: KeySpace
) -> None:
    for symbol in ("A/USDT", "B/USDT", "C/USDT"):
        assert await cache.set_ticker(tick(symbol, "binance"))
    assert await cache.set_ticker(tick("A/USDT", "kraken"))
    assert await cache.set_ticker(tick("A/USDT", "bitstamp"))
    assert await cache.delete_exchange_tickers("binance") == 3
    assert await raw_redis.exists(keys.tickers("binance"), keys.ticker_times("binance")) == 0
    assert await raw_redis.smembers(keys.ticker_exchanges()) == {b"kraken", b"bitstamp"}
    assert [t.exchange for t in await cache.get_all_tickers()] == ["bitstamp", "kraken"]
    assert await cache.delete_exchange_tickers("binance") == 0
    assert await cache.del_exchange_ticker("kraken") == 1
    assert await raw_redis.smembers(keys.ticker_exchanges()) == {b"bitstamp"}
    assert await cache.set_ticker(tick("A/USDT", "kraken", at=T - 100)) is True  # times gone
    with pytest.raises(InvalidInputError):
        await cache.delete_exchange_tickers("bit*")
    with pytest.raises(InvalidTypeError):
        await cache.del_exchange_ticker(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("with_cat_exchange", [True, False])
async def test_deleting_a_symbol_deletes_its_ticker(
    cache: TickCache, raw_redis: Redis, keys: KeySpace, with_cat_exchange: bool
) -> None:
    cache.source = Database()
    btc = Symbol(
        symbol="BTC/USDT",
        cat_ex_id=1,
        base="BTC",
        quote="USDT",
        cat_exchange=BINANCE if with_cat_exchange else None,
    )
    assert await cache.add_symbol(btc)
    assert await cache.set_ticker(tick(exchange="binance", at=T + 10))
    assert await cache.set_ticker(tick("ETH/USDT", "binance"))
    assert await cache.set_ticker(tick(exchange="kraken"))
    assert await cache.delete_symbol(btc) is True
    assert await cache.get_ticker("BTC/USDT", "binance") is None
    assert not await raw_redis.hexists(keys.ticker_times("binance"), "BTC/USDT")
    assert await cache.get_ticker("ETH/USDT", "binance") is not None
    assert await cache.get_ticker("BTC/USDT", "kraken") is not None
    assert await cache.set_ticker(tick(exchange="binance", at=T)) is True
    # a symbol whose exchange cannot be resolved leaves every ticker alone
    assert await cache.delete_symbol(Symbol(symbol="BTC/USDT", cat_ex_id=99)) is False
    assert await cache.get_ticker("BTC/USDT", "binance") is not None


@pytest.mark.parametrize("broken", ["latest", "times"])
async def test_deleting_a_symbol_whose_ticker_hash_has_the_wrong_type_deletes_nothing(
    cache: TickCache, raw_redis: Redis, keys: KeySpace, broken: str
) -> None:
    btc = Symbol(symbol="BTC/USDT", cat_ex_id=1, base="BTC", quote="USDT", cat_exchange=BINANCE)
    assert await cache.add_symbol(btc)
    assert await cache.set_ticker(tick())
    latest, times = keys.tickers("binance"), keys.ticker_times("binance")
    key = latest if broken == "latest" else times
    await raw_redis.delete(key)
    await raw_redis.set(key, b"not a hash")
    with pytest.raises(CacheCorruptedValueError) as caught:
        await cache.delete_symbol(btc)
    assert caught.value.key == key
    assert await raw_redis.hexists(keys.symbols("1"), "BTC/USDT")
    assert await raw_redis.hexists(times if broken == "latest" else latest, "BTC/USDT")


# -- get_next_ticker -------------------------------------------------------------------------


async def test_get_next_ticker_returns_the_next_update_of_its_symbol(
    cache: TickCache, raw_redis: Redis, keys: KeySpace
) -> None:
    channel = keys.ticker_updates("binance")
    assert await cache.set_ticker(tick(at=T))  # already stored: not the next one
    waiting = asyncio.ensure_future(cache.get_next_ticker("BTC/USDT", "binance", timeout=GUARD))
    try:
        await wait_for_subscribers(raw_redis, channel, 1)
        assert await publish(raw_redis, channel, b"\xff garbage") == 1
        assert await cache.set_ticker(tick("ETH/USDT", at=T + 1))  # another symbol
        assert await cache.set_ticker(tick(exchange="kraken", at=T + 1))  # another exchange
        assert await cache.set_ticker(tick(price=7.0, at=T + 2))
        got = await asyncio.wait_for(waiting, GUARD)
    finally:
        waiting.cancel()
    assert got is not None
    assert (got.symbol, got.exchange, got.price, got.time) == ("BTC/USDT", "binance", 7.0, T + 2)
    assert cache.corrupted_skipped == 1
    await wait_for_subscribers(raw_redis, channel, 0)  # the subscription was released


async def test_get_next_ticker_of_a_symbol_model(
    cache: TickCache, raw_redis: Redis, keys: KeySpace
) -> None:
    model = Symbol(symbol="XBT/USD", cat_ex_id=2, cat_exchange=KRAKEN)
    waiting = asyncio.ensure_future(cache.get_next_ticker(model, timeout=GUARD))
    try:
        await wait_for_subscribers(raw_redis, keys.ticker_updates("kraken"), 1)
        assert await cache.set_ticker(tick("XBT/USD", "kraken", price=5.0))
        got = await asyncio.wait_for(waiting, GUARD)
    finally:
        waiting.cancel()
    assert got is not None
    assert (got.symbol, got.exchange, got.price) == ("XBT/USD", "kraken", 5.0)


@pytest.mark.parametrize("timeout", [0, 0.3])
async def test_get_next_ticker_returns_none_after_its_timeout(
    cache: TickCache, raw_redis: Redis, keys: KeySpace, timeout: float
) -> None:
    assert await cache.set_ticker(tick())
    async with asyncio.timeout(GUARD):
        assert await cache.get_next_ticker("BTC/USDT", "binance", timeout=timeout) is None
    await wait_for_subscribers(raw_redis, keys.ticker_updates("binance"), 0)


async def test_get_next_ticker_raises_when_its_subscription_is_lost(
    alone: TickCache, alone_raw: Redis
) -> None:
    cache, raw_redis = alone, alone_raw
    keys = KeySpace(cache.namespace)
    waiting = asyncio.ensure_future(cache.get_next_ticker("BTC/USDT", "binance", timeout=GUARD))
    try:
        await wait_for_subscribers(raw_redis, keys.ticker_updates("binance"), 1)
        assert await raw_redis.client_kill_filter(_type="pubsub") >= 1
        async with asyncio.timeout(GUARD):
            with pytest.raises(CacheUnavailableError):  # not disguised as "no update: None"
                await waiting
    finally:
        waiting.cancel()


async def test_a_dead_server_is_an_error_never_a_miss(
    server: LocalRedisServer, fast_settings: CacheSettings
) -> None:
    async with TickCache(fast_settings) as cache:
        cache.source = None
        assert await cache.set_ticker(tick())
        server.kill()
        async with asyncio.timeout(GUARD):
            with pytest.raises(CacheUnavailableError):
                await cache.get_ticker("BTC/USDT", "binance")
            with pytest.raises(CacheUnavailableError):
                await cache.get_all_tickers()
            with pytest.raises(CacheUnavailableError):
                await cache.get_price("BTC/USDT")
            with pytest.raises(CacheUnavailableError):
                await cache.get_next_ticker("BTC/USDT", "binance", timeout=0.3)
            with pytest.raises(CacheUnavailableError):
                await cache.set_ticker(tick(at=T + 1))
        server.start()
        assert await cache.set_ticker(tick(at=T + 2)) is True  # back, on an empty server
        got = await cache.get_ticker("BTC/USDT", "binance")
    assert got is not None
    assert got.time == T + 2


@pytest.mark.parametrize(
    ("args", "kwargs", "exc"),
    [
        pytest.param(("BTC/USDT",), {}, InvalidInputError, id="no exchange"),
        pytest.param(
            (Symbol(symbol="BTC/USDT", cat_ex_id=1),), {}, InvalidInputError, id="unresolved"
        ),
        pytest.param(("BTC/USDT", "bin*"), {}, InvalidInputError, id="glob exchange"),
        pytest.param(("BTC/USDT", "binance"), {"timeout": -1}, InvalidInputError, id="negative"),
        pytest.param(("BTC/USDT", "binance"), {"timeout": "1"}, InvalidTypeError, id="str"),
        pytest.param((None, "binance"), {}, InvalidTypeError, id="None symbol"),
    ],
)
async def test_get_next_ticker_rejects_bad_arguments(
    cache: TickCache, args: tuple[Any, ...], kwargs: dict[str, Any], exc: type[Exception]
) -> None:
    async with asyncio.timeout(GUARD):
        with pytest.raises(exc):
            await cache.get_next_ticker(*args, **kwargs)


# -- stream_ticker_updates ---------------------------------------------------------------------


@pytest.mark.standalone
async def test_a_stream_yields_stored_ticks_then_live_updates_never_going_back(
    cache: TickCache, raw_redis: Redis, keys: KeySpace
) -> None:
    channel = keys.ticker_updates("binance")
    assert await cache.set_ticker(tick("ETH/USDT", price=1.0, at=T + 1))
    assert await cache.set_ticker(tick("BTC/USDT", price=1.0, at=T + 1))
    assert await cache.set_ticker(tick("XRP/USDT", at=T + 1))  # not wanted
    assert await cache.set_ticker(tick("BTC/USDT", "kraken", at=T + 5))  # another exchange
    stream = cache.stream_ticker_updates("binance", ["BTC/USDT", "ETH/USDT"])
    async with contextlib.aclosing(stream) as ticks:
        stored = await take(ticks, 2)
        assert seen(stored) == [("BTC/USDT", T + 1), ("ETH/USDT", T + 1)]
        # subscribed before it read stored state: everything from now on is live
        assert await cache.set_ticker(tick("XRP/USDT", at=T + 2))
        assert await cache.set_ticker(tick("BTC/USDT", "kraken", at=T + 6))
        assert await cache.set_ticker(tick("BTC/USDT", price=2.0, at=T + 1))  # same time: repeat
        assert await publish(raw_redis, channel, encode_model(tick("ETH/USDT", at=T))) == 1  # older
        assert await publish(raw_redis, channel, b"\xff garbage") == 1
        assert await cache.set_ticker(tick("ETH/USDT", price=3.0, at=T + 2))
        assert await cache.set_ticker(tick("BTC/USDT", price=4.0, at=T + 3))
        live = await take(ticks, 2)
        assert await subscribers(raw_redis, channel) == 1
    assert seen(live) == [("ETH/USDT", T + 2), ("BTC/USDT", T + 3)]
    assert [t.price for t in live] == [3.0, 4.0]
    assert all(t.exchange == "binance" for t in [*stored, *live])
    assert cache.corrupted_skipped == 1
    await wait_for_subscribers(raw_redis, channel, 0)  # closing released the subscription


async def test_a_stream_of_every_symbol_waits_for_the_first_update(
    cache: TickCache, raw_redis: Redis, keys: KeySpace
) -> None:
    async with contextlib.aclosing(cache.stream_ticker_updates("binance")) as ticks:
        waiting = asyncio.ensure_future(anext(ticks))
        try:
            await wait_for_subscribers(raw_redis, keys.ticker_updates("binance"), 1)
            assert await cache.set_ticker(tick("ETH/USDT", at=T))
            first = await asyncio.wait_for(waiting, GUARD)
        finally:
            waiting.cancel()
        assert await cache.set_ticker(tick("BTC/USDT", at=T - 5))  # another symbol: older is fine
        second = await anext(ticks)
    assert seen([first, second]) == [("ETH/USDT", T), ("BTC/USDT", T - 5)]


async def test_a_stream_resubscribes_after_client_kill_and_catches_up_from_stored_state(
    alone: TickCache, alone_raw: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    cache, raw_redis = alone, alone_raw
    keys = KeySpace(cache.namespace)
    channel = keys.ticker_updates("binance")
    assert await cache.set_ticker(tick("A/USDT", at=T + 1))
    assert await cache.set_ticker(tick("B/USDT", at=T + 1))
    yielded: list[Tick] = []
    async with contextlib.aclosing(cache.stream_ticker_updates("binance")) as ticks:
        yielded += await take(ticks, 2)  # stored
        assert await cache.set_ticker(tick("A/USDT", at=T + 2))
        yielded += await take(ticks, 1)  # live
        assert await raw_redis.client_kill_filter(_type="pubsub") >= 1
        assert await subscribers(raw_redis, channel) == 0
        # published while nobody listens: only the stored state can bring these back
        assert await cache.set_ticker(tick("B/USDT", at=T + 2))
        assert await cache.set_ticker(tick("A/USDT", at=T + 3))
        with caplog.at_level(logging.WARNING, logger="fullon.cache.tick"):
            yielded += await take(ticks, 2)  # resynchronized
        assert await subscribers(raw_redis, channel) == 1
        assert await cache.set_ticker(tick("B/USDT", at=T + 3))
        yielded += await take(ticks, 1)  # live again
    assert seen(yielded) == [
        ("A/USDT", T + 1),
        ("B/USDT", T + 1),
        ("A/USDT", T + 2),
        ("A/USDT", T + 3),
        ("B/USDT", T + 2),
        ("B/USDT", T + 3),
    ]
    assert any("lost its subscription" in r.getMessage() for r in caplog.records)


async def test_a_stream_that_recovered_gets_its_whole_reconnect_timeout_again(
    alone: TickCache, alone_raw: Redis
) -> None:
    cache, raw_redis = alone, alone_raw
    assert await cache.set_ticker(tick(at=T))
    stream = cache.stream_ticker_updates("binance", reconnect_timeout=1)
    async with contextlib.aclosing(stream) as ticks:
        yielded = await take(ticks, 1)
        for later in (T + 1, T + 2):
            assert await raw_redis.client_kill_filter(_type="pubsub") >= 1
            assert await cache.set_ticker(tick(at=later))
            yielded += await take(ticks, 1)  # recovered
            await asyncio.sleep(1.2)  # healthy for longer than reconnect_timeout
    assert seen(yielded) == [("BTC/USDT", T), ("BTC/USDT", T + 1), ("BTC/USDT", T + 2)]


async def test_a_stream_keeps_delivering_in_order_across_a_server_restart(
    server: LocalRedisServer, fast_settings: CacheSettings
) -> None:
    async with TickCache(fast_settings) as cache:
        cache.source = None
        assert await cache.set_ticker(tick("BTC/USDT", at=T + 1))
        async with contextlib.aclosing(cache.stream_ticker_updates("binance")) as ticks:
            yielded = await take(ticks, 1)
            waiting = asyncio.ensure_future(anext(ticks))
            try:
                await asyncio.sleep(0)  # the stream is waiting for live updates
                server.kill()
                server.start()  # comes back empty: nothing was saved
                assert await cache.set_ticker(tick("BTC/USDT", price=1.0, at=T))  # older
                assert await cache.set_ticker(tick("ETH/USDT", at=T + 2))
                yielded.append(await asyncio.wait_for(waiting, GUARD))
            finally:
                waiting.cancel()
            assert await cache.set_ticker(tick("BTC/USDT", price=2.0, at=T + 3))
            yielded += await take(ticks, 1)
    assert seen(yielded) == [("BTC/USDT", T + 1), ("ETH/USDT", T + 2), ("BTC/USDT", T + 3)]
    assert yielded[-1].price == 2.0


async def test_a_stream_gives_up_when_the_server_stays_down(
    server: LocalRedisServer, fast_settings: CacheSettings
) -> None:
    async with TickCache(fast_settings) as cache:
        assert await cache.set_ticker(tick())
        stream = cache.stream_ticker_updates("binance", reconnect_timeout=1)
        async with contextlib.aclosing(stream) as ticks:
            assert seen(await take(ticks, 1)) == [("BTC/USDT", T)]
            server.kill()
            async with asyncio.timeout(GUARD):
                with pytest.raises(CacheUnavailableError):
                    await anext(ticks)
            with pytest.raises(StopAsyncIteration):  # it ended for good
                await anext(ticks)


@pytest.mark.parametrize(
    ("args", "kwargs", "exc"),
    [
        pytest.param(("bin*",), {}, InvalidInputError, id="glob exchange"),
        pytest.param((None,), {}, InvalidTypeError, id="None exchange"),
        pytest.param(("binance", ["BTC?"]), {}, InvalidInputError, id="glob symbol"),
        pytest.param(("binance", [None]), {}, InvalidTypeError, id="None symbol"),
        pytest.param(("binance",), {"reconnect_timeout": -1}, InvalidInputError, id="negative"),
        pytest.param(("binance",), {"reconnect_timeout": "1"}, InvalidTypeError, id="str"),
    ],
)
async def test_a_stream_with_bad_arguments_raises_when_it_is_made(
    cache: TickCache, args: tuple[Any, ...], kwargs: dict[str, Any], exc: type[Exception]
) -> None:
    with pytest.raises(exc):
        cache.stream_ticker_updates(*args, **kwargs)


# -- tick crawlers -----------------------------------------------------------------------------


async def test_tick_crawlers_round_trip(cache: TickCache) -> None:
    assert await cache.get_tick_crawlers() == {}
    config = {"binance": {"symbols": ["BTC/USDT", "ETH/USDT"], "active": True}, "kraken": {}}
    assert await cache.set_tick_crawlers(config) is True
    assert await cache.get_tick_crawlers() == config
    assert await cache.set_tick_crawlers({"kraken": {"symbols": []}}) is True  # replaced
    assert await cache.get_tick_crawlers() == {"kraken": {"symbols": []}}


@pytest.mark.parametrize(
    ("value", "exc"),
    [
        (["binance"], InvalidTypeError),
        ("binance", InvalidTypeError),
        ({"": 1}, InvalidInputError),
        ({"binance": object()}, InvalidTypeError),
    ],
)
async def test_a_bad_tick_crawler_configuration_is_rejected(
    cache: TickCache, value: object, exc: type[Exception]
) -> None:
    assert await cache.set_tick_crawlers({"binance": {}})
    with pytest.raises(exc):
        await cache.set_tick_crawlers(value)  # type: ignore[arg-type]
    assert await cache.get_tick_crawlers() == {"binance": {}}


@pytest.mark.parametrize("stored", [b"\xff not json", b"[1, 2]", b'"text"', b"null"])
async def test_a_corrupted_tick_crawler_configuration_raises(
    cache: TickCache, raw_redis: Redis, keys: KeySpace, stored: bytes
) -> None:
    await raw_redis.set(keys.tick_crawlers(), stored)
    with pytest.raises(CacheCorruptedValueError) as caught:
        await cache.get_tick_crawlers()
    assert caught.value.key == keys.tick_crawlers()


# -- round_down --------------------------------------------------------------------------------


async def test_round_down_with_all_sizes_zero(cache: TickCache) -> None:
    assert await cache.round_down("ETH/USDT", "binance", [0, 0.0, 0], futures=False) == (0, 0, 0)


@pytest.mark.parametrize(
    ("symbol", "futures"),
    [("BTC/USDT", False), ("BTC/EUR", False), ("ETH/USDT", True), ("ETHUSDT", False)],
)
async def test_round_down_leaves_btc_futures_and_slashless_symbols_unchanged(
    cache: TickCache, symbol: str, futures: bool
) -> None:
    assert await cache.set_ticker(tick("ETH/USDT", price=3000.0))  # not used
    result = await cache.round_down(symbol, "binance", [1, 0.5, 1.5], futures=futures)
    assert result == (1.0, 0.5, 1.5)
    assert all(isinstance(value, float) for value in result)


async def test_round_down_values_a_usd_quote_at_the_price(cache: TickCache) -> None:
    assert await cache.set_ticker(tick("ETH/USDT", price=3000.0))
    result = await cache.round_down("ETH/USDT", "binance", [1, 0.5, 1.5], futures=False)
    assert result == (3000.0, 1500.0, 4500.0)
    assert all(isinstance(value, float) for value in result)
    assert await cache.set_ticker(tick("ETH/USD", "kraken", price=2000.0))
    assert await cache.round_down("ETH/USD", "kraken", [2, 0, 2], futures=False) == (
        4000.0,
        0.0,
        4000.0,
    )


async def test_round_down_values_another_quote_through_its_usdt_price(cache: TickCache) -> None:
    assert await cache.set_ticker(tick("ETH/BTC", "binance", price=0.05))
    assert await cache.set_ticker(tick("BTC/USDT", "kraken", price=60000.0))  # any exchange
    result = await cache.round_down("ETH/BTC", "binance", [1, 0.5, 1.5], futures=False)
    assert result == pytest.approx((3000.0, 1500.0, 4500.0))
    assert all(isinstance(value, float) for value in result)


async def test_round_down_without_a_price_is_zero(cache: TickCache) -> None:
    assert await cache.round_down("ETH/USDT", "binance", [1, 0, 1], futures=False) == (0, 0, 0)
    assert await cache.set_ticker(tick("ETH/BTC", "binance", price=0.05))
    # the quote's USDT price is unknown: the size cannot be valued
    assert await cache.round_down("ETH/BTC", "binance", [1, 0, 1], futures=False) == (0, 0, 0)


async def test_round_down_under_two_usd_is_zero(cache: TickCache) -> None:
    assert await cache.set_ticker(tick("SHIB/USDT", price=0.00001))
    small = await cache.round_down("SHIB/USDT", "binance", [1000, 0, 1000], futures=False)
    assert small == (0.0, 0.0, 0.0)
    # the first size (free) decides, even when the total is worth more
    free_small = await cache.round_down("SHIB/USDT", "binance", [1e5, 1e6, 1.1e6], futures=False)
    assert free_small == (0.0, 0.0, 0.0)
    enough = await cache.round_down("SHIB/USDT", "binance", [3e5, 0, 3e5], futures=False)
    assert enough == pytest.approx((3.0, 0.0, 3.0))


@pytest.mark.parametrize(
    ("sizes", "exc"),
    [
        ([1, 2], InvalidInputError),
        ([1, 2, 3, 4], InvalidInputError),
        ([], InvalidInputError),
        ([math.nan, 0, 0], InvalidInputError),
        ([1, math.inf, 1], InvalidInputError),
        (["1", 0, 1], InvalidTypeError),
        ([True, 0, 1], InvalidTypeError),
    ],
)
async def test_round_down_rejects_bad_sizes(
    cache: TickCache, sizes: list[Any], exc: type[Exception]
) -> None:
    assert await cache.set_ticker(tick("ETH/USDT", price=3000.0))
    with pytest.raises(exc):
        await cache.round_down("ETH/USDT", "binance", sizes, futures=False)


async def test_round_down_rejects_a_bad_symbol(cache: TickCache) -> None:
    with pytest.raises(InvalidInputError):
        await cache.round_down("ETH*/USDT", "binance", [1, 0, 1], futures=False)
