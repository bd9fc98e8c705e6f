"""OHLCVCache against a real server: series, replace-by-timestamp, cap, ranges, gaps, streams.

No test asserts a duration: round trips are counted (by the fault proxy, and by a client whose
connections count their sends), and ``asyncio.timeout(GUARD)`` only turns a hang into a failure.
Corrupted data is written with a plain redis-py client under the library's own keys and
channels; nothing is mocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import random
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

import fullon_cache
from fullon_cache import (
    CacheCorruptedValueError,
    CacheSettings,
    CacheUnavailableError,
    InvalidInputError,
    InvalidTypeError,
    OHLCVCache,
)
from fullon_cache import ohlcv_cache as ohlcv_module
from fullon_cache.codecs import dumps
from fullon_cache.ohlcv_cache import timeframe_seconds
from fullon_cache.scripts import UPDATE_BARS
from tests.conftest import raw_client
from tests.support.counting import counting_client
from tests.support.proxy import FaultProxy
from tests.support.pubsub import (
    listening,
    next_message,
    publish,
    subscribers,
    wait_for_subscribers,
)
from tests.support.reference import stored_keys

GUARD = 10  # seconds: turns a hang into a failure, never a performance assertion
MIN = 60
T0 = 1_700_000_000 // 86_400 * 86_400  # a midnight: aligned to s, m, h and d
Bar = list[float]


def bar(ts: float, close: float = 1.5, volume: float = 10.0) -> list[Any]:
    """A valid bar, given with ints where it can be (the cache returns floats)."""
    return [ts, 1, 2, 0.5, close, volume]


def as_floats(bars: list[list[Any]]) -> list[Bar]:
    return [[float(value) for value in each] for each in bars]


def minutes(*offsets: int) -> list[list[Any]]:
    """Bars at T0 + offset minutes."""
    return [bar(T0 + offset * MIN) for offset in offsets]


def stamps(bars: list[Bar]) -> list[float]:
    return [each[0] for each in bars]


@pytest.fixture
async def cache(settings: CacheSettings) -> AsyncIterator[OHLCVCache]:
    async with OHLCVCache(settings) as cache:
        yield cache


async def take(stream: AsyncIterator[Bar], count: int) -> list[Bar]:
    async with asyncio.timeout(GUARD):
        return [await anext(stream) for _ in range(count)]


async def first_live(
    stream: AsyncIterator[Bar],
    raw_redis: Redis,
    channel: str,
    write: Callable[[], Awaitable[object]],
) -> Bar:
    """Start waiting on ``stream``, and once it is subscribed run ``write``."""
    waiting = asyncio.ensure_future(anext(stream))
    try:
        await wait_for_subscribers(raw_redis, channel, 1)
        await write()
        return await asyncio.wait_for(waiting, GUARD)
    finally:
        waiting.cancel()


class FiveBars(OHLCVCache):
    OHLCV_CAP = 5


# -- exports and timeframes ---------------------------------------------------------------


def test_ohlcv_cache_is_exported_from_the_root_with_a_default_cap_of_10000() -> None:
    assert fullon_cache.OHLCVCache is OHLCVCache is ohlcv_module.OHLCVCache
    assert issubclass(OHLCVCache, fullon_cache.BotCache)
    assert OHLCVCache.OHLCV_CAP == 10_000


@pytest.mark.parametrize(
    ("timeframe", "seconds"),
    [
        ("1s", 1),
        ("30s", 30),
        ("1m", 60),
        ("15m", 900),
        ("1h", 3600),
        ("4h", 14_400),
        ("1d", 86_400),
        ("3d", 259_200),
        ("1w", 604_800),
        ("2w", 1_209_600),
    ],
)
def test_timeframe_seconds(timeframe: str, seconds: int) -> None:
    assert timeframe_seconds(timeframe) == seconds
    assert type(timeframe_seconds(timeframe)) is int


@pytest.mark.parametrize(
    ("timeframe", "exc"),
    [
        ("1x", InvalidInputError),
        ("m1", InvalidInputError),
        ("0m", InvalidInputError),
        ("00h", InvalidInputError),
        ("", InvalidInputError),
        ("1m*", InvalidInputError),
        ("m", InvalidInputError),
        ("1M", InvalidInputError),
        ("1 m", InvalidInputError),
        ("1m ", InvalidInputError),
        ("-1m", InvalidInputError),
        ("1.5h", InvalidInputError),
        (60, InvalidInputError),  # an int is its decimal text, which has no unit
        (None, InvalidTypeError),
        (True, InvalidTypeError),
        (1.0, InvalidTypeError),
        (["1m"], InvalidTypeError),
    ],
)
def test_timeframe_seconds_rejects_what_is_not_a_timeframe(
    timeframe: object, exc: type[Exception]
) -> None:
    with pytest.raises(exc):
        timeframe_seconds(timeframe)


# -- update_ohlcv_bars: storing and reading back --------------------------------------------


async def test_update_stores_bars_and_returns_how_many_it_wrote(
    cache: OHLCVCache, raw_redis: Redis
) -> None:
    assert await cache.get_ohlcv_bars("BTC/USDT", "1m") == []  # nothing yet
    assert await cache.update_ohlcv_bars("BTC/USDT", "1m", minutes(0, 1, 2)) == 3
    assert await cache.update_ohlcv_bars("BTC/USDT", "1m", minutes(3)) == 1
    got = await cache.get_ohlcv_bars("BTC/USDT", "1m")
    assert got == as_floats(minutes(0, 1, 2, 3))
    assert await raw_redis.zcard(cache._keys.ohlcv("BTC/USDT", "1m")) == 4


async def test_bars_come_back_as_lists_of_six_floats(cache: OHLCVCache) -> None:
    given = [
        (T0, 100, 110, 90, 105, 7),  # a tuple of ints
        [T0 + MIN, 105.25, 106.5, 104.125, 106.0, 0.001],
        [T0 + 2 * MIN, 0, 0, 0, 0, 0],
    ]
    assert await cache.update_ohlcv_bars("ETH/USDT", "1m", given) == 3
    for got in (
        await cache.get_ohlcv_bars("ETH/USDT", "1m"),
        await cache.get_latest_ohlcv_bars("ETH/USDT", "1m", 3),
    ):
        assert got == [
            [T0, 100.0, 110.0, 90.0, 105.0, 7.0],
            [T0 + MIN, 105.25, 106.5, 104.125, 106.0, 0.001],
            [T0 + 2 * MIN, 0.0, 0.0, 0.0, 0.0, 0.0],
        ]
        assert all(type(each) is list and len(each) == 6 for each in got)
        assert all(type(value) is float for each in got for value in each)


async def test_a_fractional_timestamp_and_a_timestamp_of_zero_are_kept_exactly(
    cache: OHLCVCache,
) -> None:
    assert await cache.update_ohlcv_bars("BTC/USDT", "1s", [bar(0), bar(T0 + 0.125)]) == 2
    assert stamps(await cache.get_ohlcv_bars("BTC/USDT", "1s")) == [0.0, T0 + 0.125]
    assert await cache.update_ohlcv_bars("BTC/USDT", "1s", [bar(T0 + 0.125, close=9)]) == 1
    assert await cache.get_ohlcv_bars("BTC/USDT", "1s") == as_floats(
        [bar(0), bar(T0 + 0.125, close=9)]
    )


async def test_any_iterable_of_bars_is_accepted(cache: OHLCVCache) -> None:
    assert await cache.update_ohlcv_bars("BTC/USDT", "1m", iter(minutes(2, 0))) == 2
    assert await cache.update_ohlcv_bars("BTC/USDT", "1m", (b for b in minutes(1))) == 1
    assert await cache.update_ohlcv_bars("BTC/USDT", "1m", tuple(minutes(3))) == 1
    assert await cache.get_ohlcv_bars("BTC/USDT", "1m") == as_floats(minutes(0, 1, 2, 3))


async def test_slash_and_no_slash_name_one_series(cache: OHLCVCache, raw_redis: Redis) -> None:
    assert cache._keys.ohlcv("BTC/USDT", "1m") == cache._keys.ohlcv("BTCUSDT", "1m")
    assert await cache.update_ohlcv_bars("BTC/USDT", "1m", minutes(0)) == 1
    assert await cache.update_ohlcv_bars("BTCUSDT", "1m", minutes(1)) == 1
    assert await cache.update_ohlcv_bars("BTCUSDT", "1m", [bar(T0, close=3)]) == 1  # replaces
    expected = as_floats([bar(T0, close=3), *minutes(1)])
    assert await cache.get_ohlcv_bars("BTC/USDT", "1m") == expected
    assert await cache.get_ohlcv_bars("BTCUSDT", "1m") == expected
    assert await cache.get_latest_ohlcv_bars("BTCUSDT", "1m", 5) == expected
    assert await cache.get_latest_ohlcv_bars("BTC/USDT", "1m", 5) == expected
    assert await cache.get_ohlcv_gaps("BTC/USDT", "1m", T0, T0 + MIN) == []
    assert [k async for k in raw_redis.scan_iter(match=f"{cache.namespace}:*")] == [
        cache._keys.ohlcv("BTC/USDT", "1m").encode()
    ]


async def test_symbols_and_timeframes_are_separate_series(cache: OHLCVCache) -> None:
    assert await cache.update_ohlcv_bars("BTC/USDT", "1m", [bar(T0, close=1)]) == 1
    assert await cache.update_ohlcv_bars("BTC/USDT", "5m", [bar(T0, close=5)]) == 1
    assert await cache.update_ohlcv_bars("ETH/USDT", "1m", [bar(T0, close=2)]) == 1
    assert await cache.update_ohlcv_bars("BTC/USDT:USDT", "1m", [bar(T0, close=3)]) == 1
    assert await cache.get_ohlcv_bars("BTC/USDT", "1m") == as_floats([bar(T0, close=1)])
    assert await cache.get_ohlcv_bars("BTC/USDT", "5m") == as_floats([bar(T0, close=5)])
    assert await cache.get_ohlcv_bars("ETH/USDT", "1m") == as_floats([bar(T0, close=2)])
    assert await cache.get_ohlcv_bars("BTC/USDT:USDT", "1m") == as_floats([bar(T0, close=3)])


# -- replace by timestamp, order, cap ---------------------------------------------------------


async def test_100_updates_of_the_live_candle_keep_one_bar_with_the_last_values(
    cache: OHLCVCache, raw_redis: Redis
) -> None:
    assert await cache.update_ohlcv_bars("BTC/USDT", "1m", minutes(0, 1)) == 2
    live = T0 + 2 * MIN
    for i in range(100):
        assert await cache.update_ohlcv_bars("BTC/USDT", "1m", [bar(live, i, i + 1.5)]) == 1
    got = await cache.get_ohlcv_bars("BTC/USDT", "1m")
    assert got == as_floats([*minutes(0, 1), bar(live, 99, 100.5)])
    assert stamps(got).count(live) == 1
    assert await raw_redis.zcard(cache._keys.ohlcv("BTC/USDT", "1m")) == 3
    assert await cache.get_latest_ohlcv_bars("BTC/USDT", "1m", 1) == [
        [live, 1.0, 2.0, 0.5, 99.0, 100.5]
    ]


async def test_a_repeated_timestamp_in_one_call_keeps_the_last_bar(cache: OHLCVCache) -> None:
    given = [bar(T0, close=1), bar(T0 + MIN), bar(T0, close=2), bar(T0, close=3)]
    await cache.update_ohlcv_bars("BTC/USDT", "1m", given)
    assert await cache.get_ohlcv_bars("BTC/USDT", "1m") == as_floats(
        [bar(T0, close=3), bar(T0 + MIN)]
    )


async def test_a_bar_written_again_stays_one_and_replaces_every_entry_of_its_timestamp(
    cache: OHLCVCache, raw_redis: Redis
) -> None:
    key = cache._keys.ohlcv("BTC/USDT", "1m")
    await raw_redis.zadd(key, {b"old one": T0, b"old two": T0, b"next minute": T0 + MIN})
    for _ in range(2):
        assert await cache.update_ohlcv_bars("BTC/USDT", "1m", [bar(T0, close=4)]) == 1
        assert await raw_redis.zrangebyscore(key, T0, T0) == [
            dumps(as_floats([bar(T0, close=4)])[0])
        ]
    assert await raw_redis.zrangebyscore(key, T0 + MIN, T0 + MIN) == [b"next minute"]


async def test_out_of_order_arrivals_come_back_sorted(cache: OHLCVCache) -> None:
    offsets = list(range(30))
    random.Random(7).shuffle(offsets)
    assert await cache.update_ohlcv_bars("BTC/USDT", "1m", minutes(*offsets[:10])) == 10
    for offset in offsets[10:]:
        assert await cache.update_ohlcv_bars("BTC/USDT", "1m", minutes(offset)) == 1
    assert await cache.get_ohlcv_bars("BTC/USDT", "1m") == as_floats(minutes(*range(30)))
    assert await cache.get_latest_ohlcv_bars("BTC/USDT", "1m", 4) == as_floats(
        minutes(26, 27, 28, 29)
    )


async def test_the_cap_keeps_the_newest_bars_of_one_call(
    settings: CacheSettings, raw_redis: Redis
) -> None:
    async with FiveBars(settings) as cache:
        assert await cache.update_ohlcv_bars("BTC/USDT", "1m", minutes(*range(20))) == 20
        assert await cache.get_ohlcv_bars("BTC/USDT", "1m") == as_floats(minutes(*range(15, 20)))
        assert await raw_redis.zcard(cache._keys.ohlcv("BTC/USDT", "1m")) == 5


async def test_the_cap_keeps_the_newest_bars_whatever_order_they_arrive_in(
    settings: CacheSettings, raw_redis: Redis
) -> None:
    offsets = list(range(20))
    random.Random(3).shuffle(offsets)
    async with FiveBars(settings) as cache:
        for offset in offsets:
            assert await cache.update_ohlcv_bars("BTC/USDT", "1m", minutes(offset)) == 1
            assert await raw_redis.zcard(cache._keys.ohlcv("BTC/USDT", "1m")) <= 5
        assert await cache.get_ohlcv_bars("BTC/USDT", "1m") == as_floats(minutes(*range(15, 20)))
        # a late old bar does not push out a newer one
        assert await cache.update_ohlcv_bars("BTC/USDT", "1m", minutes(0)) == 1
        assert await cache.get_ohlcv_bars("BTC/USDT", "1m") == as_floats(minutes(*range(15, 20)))
        # replacing a kept bar does not shrink the series
        assert await cache.update_ohlcv_bars("BTC/USDT", "1m", [bar(T0 + 15 * MIN, 7)]) == 1
        assert await cache.get_ohlcv_bars("BTC/USDT", "1m") == as_floats(
            [bar(T0 + 15 * MIN, 7), *minutes(*range(16, 20))]
        )


async def test_the_default_cap_keeps_10000_bars(cache: OHLCVCache, raw_redis: Redis) -> None:
    bars = [bar(T0 + i) for i in range(10_005)]
    assert await cache.update_ohlcv_bars("BTC/USDT", "1s", bars) == 10_005
    key = cache._keys.ohlcv("BTC/USDT", "1s")
    assert await raw_redis.zcard(key) == 10_000
    got = await cache.get_ohlcv_bars("BTC/USDT", "1s")
    assert stamps(got) == [float(T0 + i) for i in range(5, 10_005)]
    assert await cache.update_ohlcv_bars("BTC/USDT", "1s", [bar(T0 + 10_005)]) == 1
    assert await raw_redis.zcard(key) == 10_000
    assert stamps(await cache.get_latest_ohlcv_bars("BTC/USDT", "1s", 1)) == [T0 + 10_005.0]
    assert stamps(await cache.get_ohlcv_bars("BTC/USDT", "1s", until=T0 + 6)) == [T0 + 6.0]


# -- bulk writes -------------------------------------------------------------------------------


def bulk(count: int) -> list[list[Any]]:
    return [bar(T0 + i * MIN, close=i, volume=i + 0.5) for i in range(count)]


@pytest.mark.standalone
async def test_2500_bars_are_written_in_3_round_trips(settings: CacheSettings) -> None:
    client, sends = counting_client(settings)
    try:
        async with OHLCVCache(redis=client, key_prefix=settings.key_prefix) as cache:
            assert await cache.update_ohlcv_bars("WARM/UP", "1m", minutes(0))  # script loaded
            before = sends[0]
            assert await cache.update_ohlcv_bars("WARM/UP", "1m", minutes(1)) == 1
            assert sends[0] == before + 1  # the counter counts round trips
            before = sends[0]
            assert await cache.update_ohlcv_bars("BTC/USDT", "1m", bulk(2500)) == 2500
            trips = sends[0] - before
            got = await cache.get_ohlcv_bars("BTC/USDT", "1m")
    finally:
        await client.aclose()
    assert trips == 3
    assert got == as_floats(bulk(2500))


async def test_2500_bars_through_the_proxy_are_pipelined_and_all_readable(
    proxy: FaultProxy, proxied_settings: CacheSettings
) -> None:
    async with OHLCVCache(proxied_settings) as cache:
        assert await cache.update_ohlcv_bars("WARM/UP", "1m", minutes(0))  # connection, script
        before = proxy.requests_forwarded
        assert await cache.update_ohlcv_bars("WARM/UP", "1m", minutes(1)) == 1
        assert proxy.requests_forwarded == before + 1  # a small write is one round trip
        before = proxy.requests_forwarded
        assert await cache.update_ohlcv_bars("BTC/USDT", "1m", bulk(2500)) == 2500
        chunks = proxy.requests_forwarded - before
        got = await cache.get_ohlcv_bars("BTC/USDT", "1m")
        latest = await cache.get_latest_ohlcv_bars("BTC/USDT", "1m", 2500)
    # The proxy counts relayed chunks (at most 64 KiB each), not round trips: each pipeline of
    # 1,000 bars is a few of them (test_2500_bars_are_written_in_3_round_trips counts exactly).
    # One round trip per bar would be 2,500 of them.
    assert 3 <= chunks <= 30
    assert got == latest == as_floats(bulk(2500))


async def test_an_update_works_when_the_server_does_not_know_its_script(
    fast_settings: CacheSettings,
) -> None:
    admin = raw_client(fast_settings)
    try:
        async with OHLCVCache(fast_settings) as cache:
            assert await cache.update_ohlcv_bars("BTC/USDT", "1m", minutes(0)) == 1
            assert await admin.script_exists(UPDATE_BARS.sha) == [True]
            await admin.script_flush()  # as after a restart or SCRIPT FLUSH
            assert await cache.update_ohlcv_bars("BTC/USDT", "1m", [bar(T0, 5), *minutes(1)]) == 2
            got = await cache.get_ohlcv_bars("BTC/USDT", "1m")
    finally:
        await admin.aclose()
    assert got == as_floats([bar(T0, 5), *minutes(1)])


async def test_an_empty_list_writes_and_publishes_nothing(
    cache: OHLCVCache, raw_redis: Redis, settings: CacheSettings
) -> None:
    channel = cache._keys.ohlcv_updates("BTC/USDT", "1m")
    async with listening(raw_redis, channel) as pubsub:
        assert await cache.update_ohlcv_bars("BTC/USDT", "1m", []) == 0
        assert await cache.update_ohlcv_bars("BTC/USDT", "1m", iter([])) == 0
        assert await stored_keys(raw_redis, settings) == set()
        assert await cache.update_ohlcv_bars("BTC/USDT", "1m", minutes(0)) == 1
        # the first publication is the real write's: the empty ones published nothing
        assert json.loads(await next_message(pubsub)) == as_floats(minutes(0))


async def test_an_update_publishes_the_bars_it_wrote_in_one_message(
    cache: OHLCVCache, raw_redis: Redis
) -> None:
    channel = cache._keys.ohlcv_updates("BTCUSDT", "1m")
    async with listening(raw_redis, channel) as pubsub:
        assert await cache.update_ohlcv_bars("BTC/USDT", "1m", minutes(2, 0, 1)) == 3
        assert json.loads(await next_message(pubsub)) == as_floats(minutes(2, 0, 1))


# -- invalid bars: a clear error and nothing written --------------------------------------------


GOOD = bar(T0)


@pytest.mark.parametrize(
    ("bars", "exc"),
    [
        pytest.param([[T0, 1, 2, 0.5, 1.5]], InvalidInputError, id="5 values"),
        pytest.param([[T0, 1, 2, 0.5, 1.5, 10, 11]], InvalidInputError, id="7 values"),
        pytest.param([[]], InvalidInputError, id="no values"),
        pytest.param([[T0, "1", 2, 0.5, 1.5, 10]], InvalidTypeError, id="str value"),
        pytest.param([["1700000000", 1, 2, 0.5, 1.5, 10]], InvalidTypeError, id="str ts"),
        pytest.param([[T0, 1, 2, None, 1.5, 10]], InvalidTypeError, id="None value"),
        pytest.param([[None, 1, 2, 0.5, 1.5, 10]], InvalidTypeError, id="None ts"),
        pytest.param([[T0, 1, 2, 0.5, math.nan, 10]], InvalidInputError, id="NaN"),
        pytest.param([[math.nan, 1, 2, 0.5, 1.5, 10]], InvalidInputError, id="NaN ts"),
        pytest.param([[T0, 1, math.inf, 0.5, 1.5, 10]], InvalidInputError, id="inf"),
        pytest.param([[T0, 1, 2, 0.5, 1.5, -math.inf]], InvalidInputError, id="-inf"),
        pytest.param([[T0, True, 2, 0.5, 1.5, 10]], InvalidTypeError, id="bool"),
        pytest.param([[False, 1, 2, 0.5, 1.5, 10]], InvalidTypeError, id="bool ts"),
        pytest.param([[T0, 1, 2, 0.5, 1.5, [10]]], InvalidTypeError, id="list value"),
        pytest.param([[-1, 1, 2, 0.5, 1.5, 10]], InvalidInputError, id="negative ts"),
        pytest.param([[-0.5, 1, 2, 0.5, 1.5, 10]], InvalidInputError, id="negative float ts"),
        pytest.param(["1700000000,1,2,0.5,1.5,10"], InvalidTypeError, id="bar is a str"),
        pytest.param([b"123456"], InvalidTypeError, id="bar is bytes"),
        pytest.param(
            [{"ts": T0, "o": 1, "h": 2, "l": 0.5, "c": 1.5, "v": 10}],
            InvalidTypeError,
            id="bar is a dict",
        ),
        pytest.param([None], InvalidTypeError, id="bar is None"),
        pytest.param([T0], InvalidTypeError, id="bar is a number"),
        pytest.param(
            [GOOD, GOOD, [T0 + MIN, 1, 2, 0.5, 1.5], GOOD],
            InvalidInputError,
            id="one bad bar among good ones",
        ),
        pytest.param(
            [*minutes(*range(1500)), [T0, 1, 2, 0.5, "x", 1]],
            InvalidTypeError,
            id="bad bar after the first batch",
        ),
        pytest.param(None, InvalidTypeError, id="bars None"),
        pytest.param("[[1700000000,1,2,0.5,1.5,10]]", InvalidTypeError, id="bars a str"),
        pytest.param(b"[[1700000000,1,2,0.5,1.5,10]]", InvalidTypeError, id="bars bytes"),
        pytest.param(GOOD, InvalidTypeError, id="bars is one bar"),
        pytest.param(7, InvalidTypeError, id="bars a number"),
        pytest.param(
            {"ts": T0, "o": 1, "h": 2, "l": 0.5, "c": 1.5, "v": 10},
            InvalidTypeError,
            id="bars a dict",
        ),
        pytest.param({T0: GOOD}, InvalidTypeError, id="bars a dict by timestamp"),
        pytest.param({}, InvalidTypeError, id="bars an empty dict"),
        pytest.param({tuple(GOOD): "bar"}, InvalidTypeError, id="bars a dict keyed by bars"),
    ],
)
async def test_invalid_bars_are_rejected_and_nothing_is_written(
    cache: OHLCVCache, raw_redis: Redis, settings: CacheSettings, bars: Any, exc: type[Exception]
) -> None:
    with pytest.raises(exc):
        await cache.update_ohlcv_bars("BTC/USDT", "1m", bars)
    assert await stored_keys(raw_redis, settings) == set()


async def test_a_rejected_update_leaves_the_series_and_its_subscribers_untouched(
    cache: OHLCVCache, raw_redis: Redis
) -> None:
    assert await cache.update_ohlcv_bars("BTC/USDT", "1m", minutes(0, 1)) == 2
    channel = cache._keys.ohlcv_updates("BTC/USDT", "1m")
    async with listening(raw_redis, channel) as pubsub:
        with pytest.raises(InvalidInputError):
            await cache.update_ohlcv_bars("BTC/USDT", "1m", [bar(T0, 9), bar(T0 + 2 * MIN, -1)[:5]])
        assert await cache.get_ohlcv_bars("BTC/USDT", "1m") == as_floats(minutes(0, 1))
        assert await cache.update_ohlcv_bars("BTC/USDT", "1m", minutes(3)) == 1
        assert json.loads(await next_message(pubsub)) == as_floats(minutes(3))


BAD_SYMBOLS = [
    pytest.param("BTC*", InvalidInputError, id="glob"),
    pytest.param("BTC?USDT", InvalidInputError, id="question mark"),
    pytest.param("{BTC}", InvalidInputError, id="braces"),
    pytest.param("/", InvalidInputError, id="only a slash"),
    pytest.param("//", InvalidInputError, id="only slashes"),
    pytest.param("", InvalidInputError, id="empty"),
    pytest.param("BTC\nUSDT", InvalidInputError, id="newline"),
    pytest.param(" BTC/USDT", InvalidInputError, id="leading space"),
    pytest.param(None, InvalidTypeError, id="None"),
    pytest.param(True, InvalidTypeError, id="bool"),
    pytest.param(1.5, InvalidTypeError, id="float"),
    pytest.param(["BTC/USDT"], InvalidTypeError, id="list"),
]
BAD_TIMEFRAMES = [
    pytest.param("1x", InvalidInputError, id="unit"),
    pytest.param("m1", InvalidInputError, id="reversed"),
    pytest.param("0m", InvalidInputError, id="zero"),
    pytest.param("", InvalidInputError, id="empty"),
    pytest.param("1m*", InvalidInputError, id="glob"),
    pytest.param("1m\n", InvalidInputError, id="newline"),
    pytest.param(None, InvalidTypeError, id="None"),
    pytest.param(60, InvalidInputError, id="int"),
]


def every_method(cache: OHLCVCache, symbol: Any, timeframe: Any) -> list[Callable[[], Any]]:
    return [
        lambda: cache.update_ohlcv_bars(symbol, timeframe, minutes(0)),
        lambda: cache.get_latest_ohlcv_bars(symbol, timeframe, 10),
        lambda: cache.get_ohlcv_bars(symbol, timeframe),
        lambda: cache.get_ohlcv_bars(symbol, timeframe, T0, T0 + MIN),
        lambda: cache.get_ohlcv_gaps(symbol, timeframe, T0, T0 + MIN),
        lambda: cache.stream_ohlcv_updates(symbol, timeframe),
    ]


async def assert_every_method_rejects(
    cache: OHLCVCache,
    raw_redis: Redis,
    settings: CacheSettings,
    symbol: Any,
    timeframe: Any,
    exc: type[Exception],
) -> None:
    for call in every_method(cache, symbol, timeframe):
        with pytest.raises(exc):
            result = call()  # the stream raises here, when it is made
            if asyncio.iscoroutine(result):
                await result
    assert await stored_keys(raw_redis, settings) == set()


@pytest.mark.parametrize(("symbol", "exc"), BAD_SYMBOLS)
async def test_a_bad_symbol_is_rejected_by_every_method(
    cache: OHLCVCache, raw_redis: Redis, settings: CacheSettings, symbol: Any, exc: type[Exception]
) -> None:
    await assert_every_method_rejects(cache, raw_redis, settings, symbol, "1m", exc)


@pytest.mark.parametrize(("timeframe", "exc"), BAD_TIMEFRAMES)
async def test_a_bad_timeframe_is_rejected_by_every_method(
    cache: OHLCVCache,
    raw_redis: Redis,
    settings: CacheSettings,
    timeframe: Any,
    exc: type[Exception],
) -> None:
    await assert_every_method_rejects(cache, raw_redis, settings, "BTC/USDT", timeframe, exc)


# -- get_latest_ohlcv_bars -----------------------------------------------------------------------


async def test_latest_bars_are_the_newest_count_oldest_first(cache: OHLCVCache) -> None:
    assert await cache.update_ohlcv_bars("BTC/USDT", "1m", minutes(4, 0, 3, 1, 2)) == 5
    expected = as_floats(minutes(2, 3, 4))
    assert await cache.get_latest_ohlcv_bars("BTC/USDT", "1m", 3) == expected
    assert await cache.get_latest_ohlcv_bars("BTC/USDT", "1m", count=3) == expected
    assert await cache.get_latest_ohlcv_bars(symbol="BTC/USDT", timeframe="1m", count=3) == expected
    assert await cache.get_latest_ohlcv_bars("BTC/USDT", "1m", 1) == as_floats(minutes(4))
    assert await cache.get_latest_ohlcv_bars("BTC/USDT", "1m", 0) == []
    assert await cache.get_latest_ohlcv_bars("BTC/USDT", "1m", count=0) == []
    assert await cache.get_latest_ohlcv_bars("BTC/USDT", "1m", 5) == as_floats(minutes(*range(5)))
    assert await cache.get_latest_ohlcv_bars("NONE/USDT", "1m", 5) == []


@pytest.mark.parametrize("count", [6, 1000, sys.maxsize, 2**64])
async def test_a_count_above_the_stored_bars_returns_them_all(
    cache: OHLCVCache, count: int
) -> None:
    assert await cache.update_ohlcv_bars("BTC/USDT", "1m", minutes(*range(5))) == 5
    assert await cache.get_latest_ohlcv_bars("BTC/USDT", "1m", count) == as_floats(
        minutes(*range(5))
    )


@pytest.mark.parametrize(
    ("count", "exc"),
    [
        (-1, InvalidInputError),
        (-100, InvalidInputError),
        (True, InvalidTypeError),
        (False, InvalidTypeError),
        (2.0, InvalidTypeError),
        (math.nan, InvalidTypeError),
        ("3", InvalidTypeError),
        (None, InvalidTypeError),
    ],
)
async def test_a_bad_count_raises(cache: OHLCVCache, count: object, exc: type[Exception]) -> None:
    assert await cache.update_ohlcv_bars("BTC/USDT", "1m", minutes(0, 1)) == 2
    with pytest.raises(exc):
        await cache.get_latest_ohlcv_bars("BTC/USDT", "1m", count)  # type: ignore[arg-type]


# -- get_ohlcv_bars --------------------------------------------------------------------------


async def test_bars_between_since_and_until_inclusive(cache: OHLCVCache) -> None:
    assert await cache.update_ohlcv_bars("BTC/USDT", "1m", minutes(*range(10))) == 10
    t = T0 + 3 * MIN
    u = T0 + 6 * MIN

    async def between(since: float | None, until: float | None) -> list[float]:
        return stamps(await cache.get_ohlcv_bars("BTC/USDT", "1m", since, until))

    def at(*offsets: int) -> list[float]:
        return [float(T0 + offset * MIN) for offset in offsets]

    assert await between(t, u) == at(3, 4, 5, 6)  # both bounds inclusive
    assert await between(t + 1, u - 1) == at(4, 5)
    assert await between(t + 0.5, u + 0.5) == at(4, 5, 6)
    assert await between(t, None) == at(*range(3, 10))
    assert await between(None, u) == at(*range(7))
    assert await between(None, None) == at(*range(10))
    assert await between(t, t) == at(3)
    assert await between(t + 1, t + 2) == []
    assert await between(u, t) == []  # since after until
    assert await between(T0 + 100 * MIN, None) == []
    assert await between(None, T0 - 1) == []
    assert await between(0, 2 * T0) == at(*range(10))
    assert stamps(await cache.get_ohlcv_bars("BTC/USDT", "1m", since=t)) == at(*range(3, 10))
    assert stamps(await cache.get_ohlcv_bars("BTC/USDT", "1m", until=t)) == at(0, 1, 2, 3)
    assert stamps(await cache.get_ohlcv_bars("BTC/USDT", "1m", until=t, since=t)) == at(3)
    assert await cache.get_ohlcv_bars("BTC/USDT", "1m", since=t, until=t) == as_floats(minutes(3))
    assert await cache.get_ohlcv_bars("NONE/USDT", "1m", since=t, until=u) == []


@pytest.mark.parametrize(
    ("bounds", "exc"),
    [
        ({"since": math.nan}, InvalidInputError),
        ({"until": math.nan}, InvalidInputError),
        ({"since": T0, "until": math.nan}, InvalidInputError),
        ({"since": math.inf}, InvalidInputError),
        ({"since": "1700000000"}, InvalidTypeError),
        ({"until": True}, InvalidTypeError),
        ({"since": [T0]}, InvalidTypeError),
    ],
)
async def test_a_bad_bound_raises(
    cache: OHLCVCache, bounds: dict[str, Any], exc: type[Exception]
) -> None:
    assert await cache.update_ohlcv_bars("BTC/USDT", "1m", minutes(0, 1)) == 2
    with pytest.raises(exc):
        await cache.get_ohlcv_bars("BTC/USDT", "1m", **bounds)


# -- get_ohlcv_gaps ----------------------------------------------------------------------------


async def test_no_gaps(cache: OHLCVCache) -> None:
    assert await cache.update_ohlcv_bars("BTC/USDT", "1m", minutes(*range(10))) == 10
    assert await cache.get_ohlcv_gaps("BTC/USDT", "1m", T0, T0 + 9 * MIN) == []
    assert await cache.get_ohlcv_gaps("BTCUSDT", "1m", T0 + 2 * MIN, T0 + 5 * MIN) == []
    assert await cache.get_ohlcv_gaps("BTC/USDT", "1m", T0 + 4 * MIN, T0 + 4 * MIN) == []


async def test_a_missing_middle_range(cache: OHLCVCache) -> None:
    assert await cache.update_ohlcv_bars("BTC/USDT", "1m", minutes(0, 1, 2, 6, 7)) == 5
    gaps = await cache.get_ohlcv_gaps("BTC/USDT", "1m", T0, T0 + 7 * MIN)
    assert gaps == [(T0 + 3.0 * MIN, T0 + 5.0 * MIN)]
    assert all(type(value) is float for gap in gaps for value in gap)


async def test_several_gaps_including_one_candle_wide_ones(cache: OHLCVCache) -> None:
    assert await cache.update_ohlcv_bars("BTC/USDT", "1m", minutes(0, 2, 3, 7, 9)) == 5
    assert await cache.get_ohlcv_gaps("BTC/USDT", "1m", T0, T0 + 9 * MIN) == [
        (T0 + 1.0 * MIN, T0 + 1.0 * MIN),
        (T0 + 4.0 * MIN, T0 + 6.0 * MIN),
        (T0 + 8.0 * MIN, T0 + 8.0 * MIN),
    ]


async def test_missing_at_the_start_and_at_the_end(cache: OHLCVCache) -> None:
    assert await cache.update_ohlcv_bars("BTC/USDT", "1m", minutes(3, 4, 5)) == 3
    assert await cache.get_ohlcv_gaps("BTC/USDT", "1m", T0, T0 + 9 * MIN) == [
        (float(T0), T0 + 2.0 * MIN),
        (T0 + 6.0 * MIN, T0 + 9.0 * MIN),
    ]
    assert await cache.get_ohlcv_gaps("BTC/USDT", "1m", T0 + 3 * MIN, T0 + 9 * MIN) == [
        (T0 + 6.0 * MIN, T0 + 9.0 * MIN)
    ]
    assert await cache.get_ohlcv_gaps("BTC/USDT", "1m", T0, T0 + 5 * MIN) == [
        (float(T0), T0 + 2.0 * MIN)
    ]


async def test_bounds_not_aligned_to_the_timeframe_are_aligned_inward(cache: OHLCVCache) -> None:
    assert await cache.update_ohlcv_bars("BTC/USDT", "1m", minutes(2, 3)) == 2
    # since rounds up to T0 + 1 min, until rounds down to T0 + 4 min
    assert await cache.get_ohlcv_gaps("BTC/USDT", "1m", T0 + 1, T0 + 5 * MIN - 1) == [
        (T0 + 1.0 * MIN, T0 + 1.0 * MIN),
        (T0 + 4.0 * MIN, T0 + 4.0 * MIN),
    ]
    assert await cache.get_ohlcv_gaps("BTC/USDT", "1m", T0 + 0.5, T0 + 4 * MIN - 0.5) == [
        (T0 + 1.0 * MIN, T0 + 1.0 * MIN)
    ]
    assert await cache.get_ohlcv_gaps("BTC/USDT", "1m", T0 + MIN + 1, T0 + 4 * MIN - 1) == []
    # no candle time between the bounds
    assert await cache.get_ohlcv_gaps("BTC/USDT", "1m", T0 + 1, T0 + MIN - 1) == []


async def test_an_empty_series_is_one_gap_over_the_whole_range(cache: OHLCVCache) -> None:
    assert await cache.get_ohlcv_gaps("BTC/USDT", "1h", T0, T0 + 24 * 3600) == [
        (float(T0), T0 + 24.0 * 3600)
    ]
    assert await cache.get_ohlcv_gaps("BTC/USDT", "1d", T0 - 1, T0 + 1) == [(float(T0), float(T0))]
    assert await cache.get_ohlcv_gaps("BTC/USDT", "1m", T0, T0) == [(float(T0), float(T0))]


async def test_since_after_until_has_no_gaps(cache: OHLCVCache) -> None:
    assert await cache.get_ohlcv_gaps("BTC/USDT", "1m", T0 + 10 * MIN, T0) == []
    assert await cache.update_ohlcv_bars("BTC/USDT", "1m", minutes(0)) == 1
    assert await cache.get_ohlcv_gaps("BTC/USDT", "1m", T0 + 10 * MIN, T0) == []


async def test_a_bar_off_the_timeframe_grid_does_not_fill_a_candle(cache: OHLCVCache) -> None:
    assert await cache.update_ohlcv_bars("BTC/USDT", "1m", [*minutes(0, 2), bar(T0 + 90)]) == 3
    assert await cache.get_ohlcv_gaps("BTC/USDT", "1m", T0, T0 + 2 * MIN) == [
        (T0 + 1.0 * MIN, T0 + 1.0 * MIN)
    ]


async def test_gaps_of_an_hourly_series(cache: OHLCVCache) -> None:
    hours = [bar(T0 + h * 3600) for h in (0, 1, 5)]
    assert await cache.update_ohlcv_bars("ETH/USDT", "1h", hours) == 3
    assert await cache.get_ohlcv_gaps("ETH/USDT", "1h", T0, T0 + 6 * 3600) == [
        (T0 + 2.0 * 3600, T0 + 4.0 * 3600),
        (T0 + 6.0 * 3600, T0 + 6.0 * 3600),
    ]
    assert await cache.get_ohlcv_gaps("ETH/USDT", "1m", T0, T0) == [(float(T0), float(T0))]


@pytest.mark.parametrize(
    ("since", "until", "exc"),
    [
        (math.nan, T0, InvalidInputError),
        (T0, math.nan, InvalidInputError),
        (T0, math.inf, InvalidInputError),
        (None, T0, InvalidTypeError),
        (T0, None, InvalidTypeError),
        (True, T0, InvalidTypeError),
        (str(T0), T0, InvalidTypeError),
    ],
)
async def test_gaps_with_a_bad_bound_raise(
    cache: OHLCVCache, since: Any, until: Any, exc: type[Exception]
) -> None:
    with pytest.raises(exc):
        await cache.get_ohlcv_gaps("BTC/USDT", "1m", since, until)


# -- stream_ohlcv_updates ------------------------------------------------------------------------


async def test_a_stream_yields_bars_written_by_another_instance_in_order(
    cache: OHLCVCache, raw_redis: Redis, settings: CacheSettings
) -> None:
    channel = cache._keys.ohlcv_updates("BTC/USDT", "1m")
    assert await cache.update_ohlcv_bars("BTC/USDT", "1m", minutes(0)) == 1  # before: not sent
    stream = cache.stream_ohlcv_updates("BTC/USDT", "1m")
    async with OHLCVCache(settings) as writer, contextlib.aclosing(stream) as bars:
        first = await first_live(
            bars,
            raw_redis,
            channel,
            lambda: writer.update_ohlcv_bars("BTCUSDT", "1m", minutes(1)),
        )
        # several bars of one call, in the order given, then the next calls
        assert await writer.update_ohlcv_bars("BTC/USDT", "1m", minutes(4, 2, 3)) == 3
        assert await writer.update_ohlcv_bars("BTC/USDT", "5m", minutes(9)) == 1  # other tf
        assert await writer.update_ohlcv_bars("ETH/USDT", "1m", minutes(9)) == 1  # other pair
        assert await writer.update_ohlcv_bars("BTC/USDT", "1m", [bar(T0 + 4 * MIN, 8)]) == 1
        rest = await take(bars, 4)
        assert await subscribers(raw_redis, channel) == 1
    assert first == as_floats(minutes(1))[0]
    assert rest == as_floats([*minutes(4, 2, 3), bar(T0 + 4 * MIN, 8)])
    assert all(type(value) is float for each in [first, *rest] for value in each)
    assert cache.corrupted_skipped == 0
    await wait_for_subscribers(raw_redis, channel, 0)  # closing released the subscription


async def test_a_stream_yields_bars_written_by_another_task(
    cache: OHLCVCache, raw_redis: Redis
) -> None:
    channel = cache._keys.ohlcv_updates("BTCUSDT", "1m")

    async def feed() -> None:
        for offset in range(5):
            await cache.update_ohlcv_bars("BTC/USDT", "1m", minutes(offset))

    async with contextlib.aclosing(cache.stream_ohlcv_updates("BTCUSDT", "1m")) as bars:
        feeding: asyncio.Task[None] | None = None

        async def start() -> None:
            nonlocal feeding
            feeding = asyncio.create_task(feed())

        first = await first_live(bars, raw_redis, channel, start)
        rest = await take(bars, 4)
        assert feeding is not None
        await feeding
    assert [first, *rest] == as_floats(minutes(*range(5)))


async def test_a_stream_skips_corrupted_publications_and_counts_them(
    cache: OHLCVCache, raw_redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    channel = cache._keys.ohlcv_updates("BTC/USDT", "1m")
    corrupted = [
        b"\xff garbage",
        b'{"ts": 1700000000, "open": 1}',
        b'"a string"',
        b"17",
        json.dumps([bar(T0), [T0 + MIN, 1, 2, 0.5, 1.5]]).encode(),  # a bar of 5
        json.dumps([[T0, 1, 2, 0.5, "1.5", 10]]).encode(),
        json.dumps([[T0, 1, 2, 0.5, 1.5, True]]).encode(),
        json.dumps([[-60, 1, 2, 0.5, 1.5, 10]]).encode(),
        json.dumps(["not a bar"]).encode(),
        json.dumps([{"ts": T0}]).encode(),
        json.dumps([None]).encode(),
    ]
    async with contextlib.aclosing(cache.stream_ohlcv_updates("BTC/USDT", "1m")) as bars:

        async def publish_garbage_then_a_bar() -> None:
            for payload in corrupted:
                assert await publish(raw_redis, channel, payload) == 1
            assert await cache.update_ohlcv_bars("BTC/USDT", "1m", minutes(1)) == 1

        with caplog.at_level(logging.WARNING, logger="fullon.cache"):
            first = await first_live(bars, raw_redis, channel, publish_garbage_then_a_bar)
            assert await publish(raw_redis, channel, b"[]") == 1  # nothing to yield
            assert await publish(raw_redis, channel, json.dumps(minutes(2, 3)).encode()) == 1
            rest = await take(bars, 2)
    assert [first, *rest] == as_floats(minutes(1, 2, 3))
    assert cache.corrupted_skipped == len(corrupted)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == len(corrupted)
    assert all(channel in message for message in warned)
    assert not any("garbage" in message for message in warned)


@pytest.mark.parametrize(
    ("symbol", "timeframe", "exc"),
    [
        ("BTC*", "1m", InvalidInputError),
        ("/", "1m", InvalidInputError),
        ("", "1m", InvalidInputError),
        (None, "1m", InvalidTypeError),
        ("BTC/USDT", "1x", InvalidInputError),
        ("BTC/USDT", "0m", InvalidInputError),
        ("BTC/USDT", "", InvalidInputError),
        ("BTC/USDT", "1m*", InvalidInputError),
        ("BTC/USDT", None, InvalidTypeError),
    ],
)
async def test_a_stream_with_bad_arguments_raises_when_it_is_made(
    cache: OHLCVCache, raw_redis: Redis, symbol: Any, timeframe: Any, exc: type[Exception]
) -> None:
    with pytest.raises(exc):
        cache.stream_ohlcv_updates(symbol, timeframe)
    assert await raw_redis.pubsub_channels(f"{cache.namespace}:*") == []  # nothing subscribed


# -- corrupted stored data ---------------------------------------------------------------------


async def test_corrupted_stored_bars_are_skipped_and_counted_while_the_others_return(
    cache: OHLCVCache, raw_redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    key = cache._keys.ohlcv("BTC/USDT", "1m")
    assert await cache.update_ohlcv_bars("BTC/USDT", "1m", minutes(0, 2, 4, 6)) == 4
    await raw_redis.zadd(
        key,
        {
            b"\xff garbage": T0 + 1 * MIN,
            json.dumps([T0 + 3 * MIN, 1, 2, 0.5, 1.5]).encode(): T0 + 3 * MIN,  # 5 values
            b'"a string"': T0 + 5 * MIN,
            json.dumps({"ts": T0 + 7 * MIN}).encode(): T0 + 7 * MIN,
            json.dumps([T0 + 8 * MIN, 1, 2, None, 1.5, 10]).encode(): T0 + 8 * MIN,
        },
    )
    with caplog.at_level(logging.WARNING, logger="fullon.cache"):
        assert await cache.get_ohlcv_bars("BTC/USDT", "1m") == as_floats(minutes(0, 2, 4, 6))
        assert cache.corrupted_skipped == 5
        assert await cache.get_ohlcv_bars("BTC/USDT", "1m", T0 + MIN, T0 + 3 * MIN) == as_floats(
            minutes(2)
        )
        assert cache.corrupted_skipped == 7
        # the newest four entries hold three corrupted ones: the readable one comes back
        assert await cache.get_latest_ohlcv_bars("BTC/USDT", "1m", 4) == as_floats(minutes(6))
        assert cache.corrupted_skipped == 10
        assert await cache.get_latest_ohlcv_bars("BTC/USDT", "1m", 6) == as_floats(minutes(4, 6))
        assert cache.corrupted_skipped == 14
        # a corrupted entry is a missing candle
        assert await cache.get_ohlcv_gaps("BTC/USDT", "1m", T0, T0 + 6 * MIN) == [
            (T0 + 1.0 * MIN, T0 + 1.0 * MIN),
            (T0 + 3.0 * MIN, T0 + 3.0 * MIN),
            (T0 + 5.0 * MIN, T0 + 5.0 * MIN),
        ]
        assert cache.corrupted_skipped == 17
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 17
    assert all(key in message for message in warned)
    assert not any("garbage" in message for message in warned)


SECRETS = [
    b'"SECRET-1"',  # a JSON string
    b'{"SECRET-2": 1}',  # a JSON object
    b'[1700000000, 1, 2, 0.5, 1.5, "SECRET-3"]',  # a bar with a string in it
]


async def test_a_corrupted_entry_never_shows_its_value_in_the_log(
    cache: OHLCVCache, raw_redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """Errors and logs carry the key, never the value (SPEC 6)."""
    key = cache._keys.ohlcv("BTC/USDT", "1m")
    channel = cache._keys.ohlcv_updates("BTC/USDT", "1m")
    await raw_redis.zadd(key, {value: T0 + i for i, value in enumerate(SECRETS)})
    with caplog.at_level(logging.WARNING, logger="fullon.cache"):
        assert await cache.get_ohlcv_bars("BTC/USDT", "1m") == []
        async with contextlib.aclosing(cache.stream_ohlcv_updates("BTC/USDT", "1m")) as bars:

            async def publish_secrets() -> None:
                for value in SECRETS:
                    assert await publish(raw_redis, channel, b"[%s]" % value) == 1
                assert await cache.update_ohlcv_bars("BTC/USDT", "1m", minutes(1)) == 1

            first = await first_live(bars, raw_redis, channel, publish_secrets)
            assert first == as_floats(minutes(1))[0]
    assert cache.corrupted_skipped == 2 * len(SECRETS)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 2 * len(SECRETS)
    leaked = [message for message in warned if "SECRET" in message]
    assert leaked == []


async def test_a_stream_whose_subscription_is_killed_raises_unavailable(
    fast_settings: CacheSettings,
) -> None:
    admin = raw_client(fast_settings)
    try:
        async with OHLCVCache(fast_settings) as cache:
            channel = cache._keys.ohlcv_updates("BTC/USDT", "1m")
            async with contextlib.aclosing(cache.stream_ohlcv_updates("BTC/USDT", "1m")) as bars:
                first = await first_live(
                    bars,
                    admin,
                    channel,
                    lambda: cache.update_ohlcv_bars("BTC/USDT", "1m", minutes(0)),
                )
                assert await admin.client_kill_filter(_type="pubsub") == 1
                with pytest.raises(CacheUnavailableError):
                    await take(bars, 1)
            # the series itself is still there to resynchronize from
            assert await cache.get_ohlcv_bars("BTC/USDT", "1m") == as_floats(minutes(0))
    finally:
        await admin.aclose()
    assert first == as_floats(minutes(0))[0]


async def test_writing_a_bar_replaces_a_corrupted_entry_with_its_timestamp(
    cache: OHLCVCache, raw_redis: Redis
) -> None:
    key = cache._keys.ohlcv("BTC/USDT", "1m")
    await raw_redis.zadd(key, {b"\xff garbage": T0 + MIN})
    assert await cache.update_ohlcv_bars("BTC/USDT", "1m", minutes(0, 1)) == 2
    assert await cache.get_ohlcv_bars("BTC/USDT", "1m") == as_floats(minutes(0, 1))
    assert cache.corrupted_skipped == 0
    assert await raw_redis.zcard(key) == 2


async def test_a_series_key_of_the_wrong_type_is_reported_as_corrupted(
    cache: OHLCVCache, raw_redis: Redis
) -> None:
    key = cache._keys.ohlcv("BTC/USDT", "1m")
    await raw_redis.set(key, b"not a sorted set")
    with pytest.raises(CacheCorruptedValueError) as caught:
        await cache.update_ohlcv_bars("BTC/USDT", "1m", minutes(0))
    assert caught.value.key == key
    assert key in str(caught.value)
    assert "not a sorted set" not in str(caught.value)
    reads: list[Callable[[], Awaitable[object]]] = [
        lambda: cache.get_latest_ohlcv_bars("BTCUSDT", "1m", 5),
        lambda: cache.get_ohlcv_bars("BTC/USDT", "1m"),
        lambda: cache.get_ohlcv_bars("BTC/USDT", "1m", T0, T0 + MIN),
        lambda: cache.get_ohlcv_gaps("BTC/USDT", "1m", T0, T0 + MIN),
    ]
    for read in reads:
        with pytest.raises(CacheCorruptedValueError) as on_read:
            await read()
        assert on_read.value.key == key
    assert await raw_redis.get(key) == b"not a sorted set"  # left alone
    # other series are unaffected
    assert await cache.update_ohlcv_bars("BTC/USDT", "5m", minutes(0)) == 1
    assert await cache.get_ohlcv_bars("BTC/USDT", "5m") == as_floats(minutes(0))


async def test_a_gap_search_over_too_many_candles_is_refused(cache: OHLCVCache) -> None:
    with pytest.raises(InvalidInputError, match="at most"):
        await cache.get_ohlcv_gaps("BTC/USDT", "1m", 0, 1e12)  # would walk 16 billion candles


@pytest.mark.parametrize("timeframe", ["01m", "00h"])
async def test_a_zero_padded_timeframe_is_refused(cache: OHLCVCache, timeframe: str) -> None:
    with pytest.raises(InvalidInputError):
        await cache.get_latest_ohlcv_bars("BTC/USDT", timeframe, 1)
