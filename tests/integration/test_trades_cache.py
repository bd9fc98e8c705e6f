"""TradesCache against a real server: trade lists and their drain, statuses, user queues.

No test asserts a duration: ``asyncio.timeout(GUARD)`` only turns a hang into a failure.
Corrupted data is written with a plain redis-py client under the library's own keys; a lost
reply is real (the fault proxy drops it after the server applied the command). Drains and pops
are at-least-once: a take waits on a processing list until acknowledged; a stale take is made
by dating its entry back, never by waiting.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from redis.asyncio import Redis

import fullon_cache
from fullon_cache import (
    CacheCorruptedValueError,
    CacheSettings,
    CacheUnknownOutcomeError,
    InvalidInputError,
    InvalidTypeError,
    TradesCache,
)
from fullon_cache import trades_cache as trades_module
from fullon_cache.codecs import decode_model, encode_model
from fullon_cache.docs import api_reference
from fullon_cache.keys import KeySpace
from fullon_cache.models import Order, Trade
from fullon_cache.orders_cache import OrdersCache
from tests.conftest import raw_client
from tests.support.proxy import FaultProxy
from tests.support.reference import stored_keys

GUARD = 10  # seconds: turns a hang into a failure, never a performance assertion
T = 1_700_000_000.0
CONCURRENT = 1000


def trade(trade_id: int = 1, **extra: Any) -> Trade:
    fields: dict[str, Any] = {
        "ex_trade_id": f"t{trade_id}",
        "symbol": "BTC/USDT",
        "side": "buy",
        "volume": 0.1,
        "price": 50000.0,
        "time": T + trade_id,
    }
    return Trade(trade_id=trade_id, **{**fields, **extra})


def ids(trades: list[Trade]) -> list[int | None]:
    return [t.trade_id for t in trades]


def recent(moment: datetime | None) -> bool:
    """An aware UTC datetime of about now (hang-guard wide: this is no timing assertion)."""
    assert moment is not None
    assert moment.utcoffset() == timedelta(0)
    return abs(datetime.now(UTC) - moment) < timedelta(seconds=GUARD)


@pytest.fixture
def keys(settings: CacheSettings) -> KeySpace:
    return KeySpace(settings.key_prefix)


@pytest.fixture
async def cache(settings: CacheSettings) -> AsyncIterator[TradesCache]:
    async with TradesCache(settings) as cache:
        cache.source = None  # no reference-data source
        yield cache


async def acl_user(admin: Redis, name: str, *rules: str) -> None:
    """A user with every permission but ``rules`` (e.g. ``-lrem``), password ``pw``."""
    await admin.execute_command("ACL", "SETUSER", name, "on", ">pw", "~*", "&*", "+@all", *rules)


async def age_takes(raw_redis: Redis, processing: str, seconds: float = 3600) -> None:
    """Date every take waiting on ``processing`` back by ``seconds`` (its consumer died).

    An entry is ``<token>:<server time>:<msgpack of its trades>``."""
    for index, entry in enumerate(await raw_redis.lrange(processing, 0, -1)):
        token, _, rest = entry.partition(b":")
        since, _, packed = rest.partition(b":")
        older = str(float(since) - seconds).encode()
        await raw_redis.lset(processing, index, b":".join([token, older, packed]))


async def blocked_on(raw_redis: Redis, command: str) -> None:
    """Return once some client of the server is blocked in ``command``."""
    async with asyncio.timeout(GUARD):
        commands = [client.get("cmd") for client in await raw_redis.client_list()]
        while command not in commands:
            await asyncio.sleep(0.01)
            commands = [client.get("cmd") for client in await raw_redis.client_list()]


# -- the class ---------------------------------------------------------------------------


def test_trades_cache_is_below_orders_cache_and_exported() -> None:
    assert fullon_cache.TradesCache is TradesCache is trades_module.TradesCache
    assert TradesCache.__bases__ == (OrdersCache,)
    assert "__init__" not in vars(TradesCache)
    assert "get_trades(self, symbol: str, exchange: str)" in api_reference.TRADES_CACHE
    assert api_reference.TRADES_CACHE in api_reference.API_REFERENCE
    assert fullon_cache.docs.TRADES_CACHE is api_reference.TRADES_CACHE


@pytest.mark.parametrize(
    "stamp",
    [
        T + 0.123456,
        1_700_000_000,
        datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2))),
    ],
)
def test_the_codec_keeps_a_trade_time_as_given(stamp: float | datetime) -> None:
    back = decode_model(Trade, encode_model(trade(time=stamp)), "k")
    assert back.time == stamp
    assert type(back.time) is type(stamp)
    if isinstance(back.time, datetime):
        assert back.time.tzinfo is UTC


def test_the_codec_takes_a_naive_trade_time_as_utc() -> None:
    back = decode_model(Trade, encode_model(trade(time=datetime(2026, 1, 2, 3))), "k")
    assert back.time == datetime(2026, 1, 2, 3, tzinfo=UTC)


# -- trade lists ---------------------------------------------------------------------------


async def test_push_then_drain_is_fifo_and_empties_the_list(
    cache: TradesCache, raw_redis: Redis, keys: KeySpace
) -> None:
    assert await cache.push_trade_list("BTC/USDT", "binance", trade(1)) == 1
    assert await cache.push_trade_list("BTC/USDT", "binance", trade(2)) == 2
    assert await cache.push_trade_list(symbol="BTC/USDT", exchange="binance", trade=trade(3)) == 3
    assert await cache.push_trade_list("ETH/USDT", "binance", trade(9)) == 1  # another list
    drained = await cache.get_trades("BTC/USDT", "binance")
    assert ids(drained) == [1, 2, 3]
    assert [t.to_dict() for t in drained] == [trade(i).to_dict() for i in (1, 2, 3)]
    assert await raw_redis.exists(keys.trades("binance", "BTC/USDT")) == 0
    assert await cache.get_trades("BTC/USDT", "binance") == []
    assert ids(await cache.get_trades("ETH/USDT", "binance")) == [9]


async def test_a_symbol_with_or_without_slash_names_the_same_list(cache: TradesCache) -> None:
    assert await cache.push_trade_list("BTC/USDT", "binance", trade(1)) == 1
    assert await cache.push_trade_list("BTCUSDT", "binance", trade(2)) == 2
    assert await cache.push_trade_list("BTCUSDT", "kraken", trade(3)) == 1  # another exchange
    assert ids(await cache.get_trades("BTCUSDT", "binance")) == [1, 2]
    assert ids(await cache.get_trades_list("BTC/USDT", "kraken")) == [3]


async def test_get_trades_list_is_a_draining_alias(cache: TradesCache) -> None:
    await cache.push_trade_list("BTC/USDT", "binance", trade(1))
    await cache.push_trade_list("BTC/USDT", "binance", trade(2))
    assert ids(await cache.get_trades_list("BTC/USDT", "binance")) == [1, 2]
    assert await cache.get_trades_list("BTC/USDT", "binance") == []


async def test_a_drain_of_a_list_that_never_existed_is_empty(
    cache: TradesCache, raw_redis: Redis, settings: CacheSettings
) -> None:
    assert await cache.get_trades("BTC/USDT", "binance") == []
    assert await stored_keys(raw_redis, settings) == set()


async def test_trade_times_come_back_as_given(cache: TradesCache) -> None:
    given: list[float | datetime] = [T + 0.25, datetime(2026, 5, 1, 12, 30, 15, 5, tzinfo=UTC)]
    for number, stamp in enumerate(given):
        await cache.push_trade_list("BTC/USDT", "binance", trade(number, time=stamp))
    back = [t.time for t in await cache.get_trades("BTC/USDT", "binance")]
    assert back == given
    assert [type(stamp) for stamp in back] == [float, datetime]


async def test_concurrent_pushes_and_drains_lose_and_duplicate_nothing(
    cache: TradesCache, raw_redis: Redis, settings: CacheSettings
) -> None:
    async def push(number: int) -> int:
        return await cache.push_trade_list("BTC/USDT", "binance", trade(number))

    # Warm-up: on a cold pool, BaseCache's start-up check (INFO) runs outside the connection
    # limiter, so a burst of first calls can exceed max_connections (reported to the lead).
    assert await cache.ping()
    drains: list[list[Trade]] = []
    # The drainer has a client of its own, so its drains do not queue behind the pushes.
    async with TradesCache(settings, redis=raw_redis) as drainer, asyncio.timeout(GUARD * 3):
        pushing = asyncio.gather(*(push(number) for number in range(CONCURRENT)))
        while not pushing.done():
            drains.append(await drainer.get_trades("BTC/USDT", "binance"))
        await pushing
        drains.append(await drainer.get_trades("BTC/USDT", "binance"))  # what the last left
    drained = [t for batch in drains for t in batch]
    assert Counter(ids(drained)) == Counter(range(CONCURRENT))
    assert sum(1 for batch in drains if batch) >= 2  # the drains really raced the pushes
    assert await cache.get_trades("BTC/USDT", "binance") == []


async def test_corrupted_entries_are_skipped_and_counted_and_the_others_returned(
    cache: TradesCache, raw_redis: Redis, keys: KeySpace
) -> None:
    key = keys.trades("binance", "BTC/USDT")
    await cache.push_trade_list("BTC/USDT", "binance", trade(1))
    await raw_redis.rpush(key, b"\xff not json", b"[1, 2]", b'{"time": "not a date"}')
    await cache.push_trade_list("BTC/USDT", "binance", trade(2))
    assert ids(await cache.get_trades("BTC/USDT", "binance")) == [1, 2]
    assert cache.corrupted_skipped == 3
    assert await raw_redis.exists(key) == 0  # the corrupted entries went with the drain


async def test_a_trade_list_of_the_wrong_type_is_named_and_nothing_changes(
    cache: TradesCache, raw_redis: Redis, keys: KeySpace
) -> None:
    key = keys.trades("binance", "BTC/USDT")
    await raw_redis.set(key, b"not a list")
    with pytest.raises(CacheCorruptedValueError) as caught:
        await cache.get_trades("BTC/USDT", "binance")
    assert caught.value.key == key
    assert await raw_redis.get(key) == b"not a list"  # left for an operator
    assert await raw_redis.exists(keys.trades_processing("binance", "BTC/USDT")) == 0
    await raw_redis.delete(key)
    assert await cache.push_trade_list("BTC/USDT", "binance", trade(1)) == 1
    assert ids(await cache.get_trades("BTC/USDT", "binance")) == [1]


@pytest.mark.parametrize(
    ("processing", "take"),
    [
        pytest.param(
            lambda k: k.trades_processing("binance", "BTC/USDT"),
            lambda c: c.get_trades("BTC/USDT", "binance"),
            id="drain",
        ),
        pytest.param(
            lambda k: k.user_trades_processing("7", "binance"),
            lambda c: c.pop_my_trade(7, "binance"),
            id="pop",
        ),
        pytest.param(
            lambda k: k.user_trades_processing("7", "binance"),
            lambda c: c.pop_my_trade(7, "binance", timeout=1),
            id="blocking-pop",
        ),
    ],
)
async def test_a_processing_list_of_the_wrong_type_is_named_and_no_trade_is_taken(
    cache: TradesCache, raw_redis: Redis, keys: KeySpace, processing: Any, take: Any
) -> None:
    await cache.push_trade_list("BTC/USDT", "binance", trade(1))
    await cache.push_my_trades_list(7, "binance", trade(1))
    name = processing(keys)
    await raw_redis.set(name, b"not a list")
    async with asyncio.timeout(GUARD):
        with pytest.raises(CacheCorruptedValueError) as caught:
            await take(cache)
    assert caught.value.key == name
    await raw_redis.delete(name)
    assert await take(cache) in ([trade(1)], trade(1))  # still queued


async def test_an_entry_on_a_processing_list_that_is_no_take_goes_back_whole(
    cache: TradesCache, raw_redis: Redis, keys: KeySpace
) -> None:
    processing = keys.trades_processing("binance", "BTC/USDT")
    await raw_redis.rpush(processing, b"not a take", b"ab12:yesterday:x")
    await cache.push_trade_list("BTC/USDT", "binance", trade(1))
    assert ids(await cache.get_trades("BTC/USDT", "binance")) == [1]
    assert cache.corrupted_skipped == 2  # they went back to the list, and were drained
    assert await raw_redis.exists(processing) == 0


async def test_push_trade_appends_to_the_exchange_list(
    cache: TradesCache, raw_redis: Redis, keys: KeySpace
) -> None:
    assert await cache.push_trade("binance", trade(1)) is True
    assert await cache.push_trade("binance", trade(2, symbol="ETH/USDT")) is True
    stored = await raw_redis.lrange(keys.exchange_trades("binance"), 0, -1)
    assert [decode_model(Trade, raw, "k").trade_id for raw in stored] == [1, 2]
    assert await cache.get_trades("BTC/USDT", "binance") == []  # not a symbol's list


# -- trade statuses ------------------------------------------------------------------------


async def test_trade_statuses_are_now_in_aware_utc(cache: TradesCache) -> None:
    assert await cache.get_trade_status("binance") is None
    assert await cache.get_all_trade_statuses() == {}
    assert await cache.update_trade_status("binance") is True
    assert await cache.update_trade_status(42) is True
    first = await cache.get_trade_status("binance")
    assert recent(first)
    assert recent(await cache.get_trade_status("42"))
    statuses = await cache.get_all_trade_statuses()
    assert sorted(statuses) == ["42", "binance"]
    assert statuses["binance"] == first
    assert all(recent(moment) for moment in statuses.values())
    assert await cache.update_trade_status("binance") is True
    later = await cache.get_trade_status("binance")
    assert later is not None
    assert first is not None
    assert later >= first


async def test_corrupted_trade_statuses_are_skipped_in_the_listing(
    cache: TradesCache, raw_redis: Redis, keys: KeySpace
) -> None:
    key = keys.trade_statuses()
    await cache.update_trade_status("binance")
    await raw_redis.hset(key, "garbled", b"\xff\xfe")
    await raw_redis.hset(key, "bad_date", "yesterday")
    await raw_redis.hset(key, b"\xff", datetime.now(UTC).isoformat())
    statuses = await cache.get_all_trade_statuses()
    assert list(statuses) == ["binance"]
    assert cache.corrupted_skipped == 3
    for name in ("garbled", "bad_date"):
        with pytest.raises(CacheCorruptedValueError) as caught:
            await cache.get_trade_status(name)
        assert caught.value.key == key


async def test_user_trade_status_now_by_default(cache: TradesCache) -> None:
    assert await cache.get_user_trade_status("7:binance") is None
    assert await cache.update_user_trade_status("7:binance") is True
    assert recent(await cache.get_user_trade_status("7:binance"))
    assert await cache.get_trade_status("7:binance") is None  # a different hash


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param(
            datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
            datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
            id="aware",
        ),
        pytest.param(
            datetime(2026, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2))),
            datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
            id="other zone",
        ),
        pytest.param(datetime(2026, 1, 2, 3), datetime(2026, 1, 2, 3, tzinfo=UTC), id="naive"),
        pytest.param(T + 0.5, datetime.fromtimestamp(T + 0.5, UTC), id="float epoch"),
        pytest.param(1_700_000_000, datetime.fromtimestamp(T, UTC), id="int epoch"),
    ],
)
async def test_a_given_user_trade_status_round_trips(
    cache: TradesCache, given: datetime | float, expected: datetime
) -> None:
    assert await cache.update_user_trade_status("7:binance", timestamp=given) is True
    back = await cache.get_user_trade_status("7:binance")
    assert back == expected
    assert back is not None
    assert back.tzinfo is UTC


async def test_delete_user_trade_statuses_counts_what_it_deleted(cache: TradesCache) -> None:
    assert await cache.delete_user_trade_statuses() == 0
    for key in ("7:binance", "7:kraken", 8):
        await cache.update_user_trade_status(key, T)
    await cache.update_trade_status("binance")
    assert await cache.delete_user_trade_statuses() == 3
    assert await cache.get_user_trade_status("7:binance") is None
    assert await cache.delete_user_trade_statuses() == 0
    assert await cache.get_trade_status("binance") is not None  # the other hash stays


# -- per-user trade queues -----------------------------------------------------------------


async def test_user_trade_queues_are_fifo_per_user_and_exchange(cache: TradesCache) -> None:
    assert await cache.pop_my_trade(7, "binance") is None
    assert await cache.push_my_trades_list(7, "binance", trade(1)) == 1
    assert await cache.push_user_trade("7", "binance", trade(2)) == 2  # 7 and "7": one queue
    assert await cache.push_my_trades_list(7, "kraken", trade(3)) == 1
    assert await cache.push_my_trades_list(8, "binance", trade(4)) == 1
    first = await cache.pop_my_trade(7, "binance")
    assert first is not None
    assert first.to_dict() == trade(1).to_dict()
    second = await cache.pop_user_trade("7", "binance")
    assert second is not None
    assert second.trade_id == 2
    assert await cache.pop_my_trade(7, "binance") is None
    assert ids([t for t in [await cache.pop_my_trade(7, "kraken")] if t]) == [3]
    assert ids([t for t in [await cache.pop_user_trade(8, "binance", 1)] if t]) == [4]


async def test_a_blocking_pop_returns_a_trade_pushed_while_it_waits(
    cache: TradesCache, raw_redis: Redis
) -> None:
    async with asyncio.timeout(GUARD):
        waiting = asyncio.ensure_future(cache.pop_my_trade(7, "binance", timeout=GUARD))
        try:
            await blocked_on(raw_redis, "blmove")
            assert await cache.push_my_trades_list(7, "binance", trade(5)) == 1
            got = await waiting
        finally:
            waiting.cancel()
    assert got is not None
    assert got.to_dict() == trade(5).to_dict()
    assert await cache.pop_my_trade(7, "binance") is None


@pytest.mark.standalone
async def test_a_wait_longer_than_the_socket_timeout_ends_in_none_or_a_later_trade(
    settings: CacheSettings,
) -> None:
    # A client of the caller's with a short socket timeout: the pop waits in shorter blocks.
    client = raw_client(settings, socket_timeout=0.5)
    try:
        async with TradesCache(settings, redis=client) as cache, asyncio.timeout(GUARD):
            assert await cache.pop_my_trade(7, "binance", timeout=1.2) is None
            waiting = asyncio.ensure_future(cache.pop_my_trade(7, "binance", timeout=3.0))
            await asyncio.sleep(1.0)  # past the socket timeout: a later block sees it
            await cache.push_my_trades_list(7, "binance", trade(1))
            assert await waiting == trade(1)
    finally:
        await client.aclose()


@pytest.mark.parametrize("pop", ["pop_my_trade", "pop_user_trade"])
async def test_a_blocking_pop_of_an_empty_queue_returns_none_after_its_timeout(
    cache: TradesCache, pop: str
) -> None:
    async with asyncio.timeout(GUARD):
        assert await getattr(cache, pop)(7, "binance", timeout=0.3) is None


async def test_a_corrupted_queued_trade_raises_and_is_taken_off(
    cache: TradesCache, raw_redis: Redis, keys: KeySpace
) -> None:
    key = keys.user_trades("7", "binance")
    await raw_redis.rpush(key, b"\xff not json")
    await cache.push_my_trades_list(7, "binance", trade(1))
    with pytest.raises(CacheCorruptedValueError) as caught:
        await cache.pop_my_trade(7, "binance")
    assert caught.value.key == key
    got = await cache.pop_my_trade(7, "binance", timeout=1)
    assert got is not None
    assert got.trade_id == 1


# -- bad input: rejected before anything is sent ----------------------------------------------

BAD_CALLS = [
    pytest.param("push_trade_list", ("BTC/USDT", "binance", trade().to_dict()), InvalidTypeError),
    pytest.param("push_trade_list", ("BTC/USDT", "binance", Order(order_id=1)), InvalidTypeError),
    pytest.param("push_trade_list", ("BTC/USDT", "binance", None), InvalidTypeError),
    pytest.param("push_trade_list", ("BTC/USDT", "bin*", trade()), InvalidInputError),
    pytest.param("push_trade_list", ("BTC/USDT", "{binance}", trade()), InvalidInputError),
    pytest.param("push_trade_list", ("BTC/USDT", "", trade()), InvalidInputError),
    pytest.param("push_trade_list", ("BTC/USDT", None, trade()), InvalidTypeError),
    pytest.param("push_trade_list", ("BTC\n/USDT", "binance", trade()), InvalidInputError),
    pytest.param("push_trade_list", ("BTC?", "binance", trade()), InvalidInputError),
    pytest.param("push_trade_list", ("/", "binance", trade()), InvalidInputError),
    pytest.param("push_trade_list", ("BTC/USDT", "binance", trade(price=object())), TypeError),
    pytest.param("push_trade", ("binance", {"trade_id": 1}), InvalidTypeError),
    pytest.param("push_trade", ("bin[a]nce", trade()), InvalidInputError),
    pytest.param("get_trades", ("BTC/USDT", "bin*"), InvalidInputError),
    pytest.param("get_trades_list", ("", "binance"), InvalidInputError),
    pytest.param("update_trade_status", ("",), InvalidInputError),
    pytest.param("update_trade_status", ("a*",), InvalidInputError),
    pytest.param("update_trade_status", (None,), InvalidTypeError),
    pytest.param("get_trade_status", ("{x}",), InvalidInputError),
    pytest.param("update_user_trade_status", ("k\n",), InvalidInputError),
    pytest.param("update_user_trade_status", ("k", "2026-01-01"), InvalidTypeError),
    pytest.param("update_user_trade_status", ("k", True), InvalidTypeError),
    pytest.param("update_user_trade_status", ("k", [T]), InvalidTypeError),
    pytest.param("update_user_trade_status", ("k", math.nan), InvalidInputError),
    pytest.param("update_user_trade_status", ("k", math.inf), InvalidInputError),
    pytest.param("update_user_trade_status", ("k", 1e20), InvalidInputError),
    pytest.param(
        "update_user_trade_status",
        ("k", datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5)))),
        InvalidInputError,
    ),
    pytest.param("get_user_trade_status", ("",), InvalidInputError),
    pytest.param("push_my_trades_list", (7, "binance", {"trade_id": 1}), InvalidTypeError),
    pytest.param("push_my_trades_list", (7.5, "binance", trade()), InvalidTypeError),
    pytest.param("push_user_trade", ("u*", "binance", trade()), InvalidInputError),
    pytest.param("pop_my_trade", (7, "bin?"), InvalidInputError),
    pytest.param("pop_my_trade", (7, "binance", -1), InvalidInputError),
    pytest.param("pop_my_trade", (7, "binance", "1"), InvalidTypeError),
    pytest.param("pop_user_trade", (7, "binance", math.nan), InvalidInputError),
    pytest.param("pop_user_trade", (None, "binance"), InvalidTypeError),
]


@pytest.mark.parametrize(("method", "args", "exc"), BAD_CALLS)
async def test_bad_input_is_rejected_and_nothing_is_written(
    cache: TradesCache,
    raw_redis: Redis,
    settings: CacheSettings,
    method: str,
    args: tuple[Any, ...],
    exc: type[Exception],
) -> None:
    with pytest.raises(exc):
        await getattr(cache, method)(*args)
    assert await stored_keys(raw_redis, settings) == set()


# -- lost replies (a real TCP proxy drops them) ------------------------------------------


async def test_a_push_whose_reply_is_lost_is_not_resent(
    proxy: FaultProxy, proxied_settings: CacheSettings
) -> None:
    async with TradesCache(proxied_settings) as cache:
        await cache.ping()  # warm-up: connection and start-up checks
        assert await cache.push_trade_list("BTC/USDT", "binance", trade(1)) == 1
        proxy.drop_next_reply()
        async with asyncio.timeout(GUARD):
            with pytest.raises(CacheUnknownOutcomeError):
                await cache.push_trade_list("BTC/USDT", "binance", trade(2))
            assert proxy.replies_dropped == 1
            assert ids(await cache.get_trades("BTC/USDT", "binance")) == [1, 2]


@pytest.mark.parametrize(
    ("take", "expected"),
    [
        pytest.param(
            lambda c: c.get_trades("BTC/USDT", "binance"), [trade(1), trade(2)], id="drain"
        ),
        pytest.param(lambda c: c.pop_my_trade(7, "binance"), trade(1), id="pop"),
        pytest.param(lambda c: c.pop_my_trade(7, "binance", 1), trade(1), id="blocking-pop"),
    ],
)
async def test_a_take_whose_reply_is_lost_raises_and_the_next_take_returns_its_trades(
    proxy: FaultProxy,
    proxied_settings: CacheSettings,
    fast_settings: CacheSettings,
    take: Any,
    expected: Any,
) -> None:
    async with TradesCache(proxied_settings) as cache:
        assert await take(cache) in ([], None)  # warm-up: the server knows the scripts
        await cache.push_trade_list("BTC/USDT", "binance", trade(1))
        await cache.push_my_trades_list(7, "binance", trade(1))
        await cache.push_trade_list("BTC/USDT", "binance", trade(2))
        await cache.push_my_trades_list(7, "binance", trade(2))
        proxy.drop_next_reply()
        async with asyncio.timeout(GUARD):
            with pytest.raises(CacheUnknownOutcomeError):
                await take(cache)
            assert proxy.replies_dropped == 1
            assert await take(cache) == expected  # given back first, in its order
            await cache.get_trades("BTC/USDT", "binance")
            while await cache.pop_my_trade(7, "binance") is not None:
                pass
    direct = raw_client(fast_settings)
    try:
        assert await stored_keys(direct, fast_settings) == set()  # all acknowledged
    finally:
        await direct.aclose()


async def test_a_stale_take_of_a_dead_consumer_comes_back_to_any_consumer(
    proxy: FaultProxy, proxied_settings: CacheSettings, fast_settings: CacheSettings
) -> None:
    keys = KeySpace(fast_settings.key_prefix)
    processing = keys.user_trades_processing("7", "binance")
    direct = raw_client(fast_settings)
    async with TradesCache(proxied_settings) as dead, TradesCache(fast_settings) as other:
        assert await dead.pop_my_trade(7, "binance") is None  # warm-up: scripts known
        await dead.push_my_trades_list(7, "binance", trade(1))
        await dead.push_my_trades_list(7, "binance", trade(2))
        proxy.drop_next_reply()
        async with asyncio.timeout(GUARD):
            with pytest.raises(CacheUnknownOutcomeError):
                await dead.pop_my_trade(7, "binance")
            # Not stale yet: its consumer may still acknowledge it.
            assert await other.pop_my_trade(7, "binance") == trade(2)
            assert await other.pop_my_trade(7, "binance") is None
            assert await direct.llen(processing) == 1
            await age_takes(direct, processing)
            assert await other.pop_my_trade(7, "binance", timeout=1) == trade(1)
    try:
        assert await stored_keys(direct, fast_settings) == set()
    finally:
        await direct.aclose()


async def test_stale_takes_come_back_in_their_order_ahead_of_newer_trades(
    cache: TradesCache, raw_redis: Redis, keys: KeySpace
) -> None:
    processing = keys.trades_processing("binance", "BTC/USDT")
    for token, numbers in ((b"0a", (1, 2)), (b"0b", (3,))):
        packed = await raw_redis.eval(  # the server's own msgpack, as a take would write it
            "return cmsgpack.pack(ARGV)", 0, *(encode_model(trade(n)) for n in numbers)
        )
        await raw_redis.rpush(processing, token + b":1700000000.5:" + packed)
    await cache.push_trade_list("BTC/USDT", "binance", trade(4))
    assert ids(await cache.get_trades("BTC/USDT", "binance")) == [1, 2, 3, 4]
    assert await raw_redis.exists(processing) == 0


async def test_a_failed_acknowledgement_still_delivers_and_the_take_comes_back_when_stale(
    fast_settings: CacheSettings, caplog: pytest.LogCaptureFixture
) -> None:
    keys = KeySpace(fast_settings.key_prefix)
    processing = keys.user_trades_processing("7", "binance")
    admin = raw_client(fast_settings)
    await acl_user(admin, "no_lrem", "-lrem")  # a real refusal of the acknowledgement
    worker_settings = fast_settings.replace(username="no_lrem", password="pw")
    try:
        async with TradesCache(worker_settings) as worker, TradesCache(fast_settings) as other:
            await worker.push_my_trades_list(7, "binance", trade(1))
            with caplog.at_level(logging.WARNING, logger="fullon.cache.trades"):
                assert await worker.pop_my_trade(7, "binance") == trade(1)
            assert any("could not acknowledge" in r.getMessage() for r in caplog.records)
            assert await other.pop_my_trade(7, "binance") is None  # not stale yet
            await age_takes(admin, processing)
            assert await other.pop_my_trade(7, "binance") == trade(1)  # at-least-once
            assert await admin.exists(processing) == 0
    finally:
        await admin.aclose()


async def test_a_take_cancelled_while_acknowledging_gives_its_trades_back(
    proxy: FaultProxy, proxied_settings: CacheSettings, fast_settings: CacheSettings
) -> None:
    direct = raw_client(fast_settings)
    async with TradesCache(proxied_settings) as cache:
        await cache.push_trade_list("BTC/USDT", "binance", trade(1))
        await cache.push_trade_list("BTC/USDT", "binance", trade(2))
        assert ids(await cache.get_trades("BTC/USDT", "binance")) == [1, 2]  # warm-up
        await cache.push_trade_list("BTC/USDT", "binance", trade(3))
        await cache.push_trade_list("BTC/USDT", "binance", trade(4))
        proxy.set_delay(0.3)
        draining = asyncio.ensure_future(cache.get_trades("BTC/USDT", "binance"))
        async with asyncio.timeout(GUARD):
            await proxy.wait_for_request()  # the take
            await proxy.wait_for_request()  # the acknowledgement: the server drops the take
            draining.cancel()
            proxy.set_delay(0)  # the give-back may need a new connection: no delayed handshake
            with pytest.raises(asyncio.CancelledError):
                await draining  # ...but its trades never reached the caller
        async with asyncio.timeout(GUARD):
            assert ids(await cache.get_trades("BTC/USDT", "binance")) == [3, 4]
            assert await cache.get_trades("BTC/USDT", "binance") == []
    try:
        assert await stored_keys(direct, fast_settings) == set()
    finally:
        await direct.aclose()
