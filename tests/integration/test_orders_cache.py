"""OrdersCache against a real server: order status and the reliable order queues.

Order status: merges that keep other writers' fields, overwrites, timestamps, canceled orders
that expire alone, corrupted entries skipped. Queues: FIFO, what was pushed comes back,
blocking pops, and at-least-once delivery (BLMOVE onto a processing list, acknowledgement,
``requeue_stale_orders``).

No test asserts a duration: expiry uses ``ttl_order=1`` and a sleep past it, claim ages are
set by writing the claim time, and ``asyncio.timeout(GUARD)`` only turns a hang into a failure.
Faults are real: a TCP proxy that drops or delays replies, a killed server, ACL users that
may not run one command, corrupted bytes written with a plain redis-py client under the
library's own keys.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from redis.asyncio import Redis

from fullon_cache.errors import (
    CacheCorruptedValueError,
    CacheError,
    CacheUnavailableError,
    CacheUnknownOutcomeError,
    InvalidInputError,
    InvalidTypeError,
)
from fullon_cache.keys import KeySpace
from fullon_cache.local_server import LocalRedisServer
from fullon_cache.models import Order
from fullon_cache.orders_cache import OrdersCache
from fullon_cache.settings import CacheSettings
from tests.conftest import raw_client
from tests.support.proxy import FaultProxy
from tests.support.reference import stored_keys

GUARD = 10  # seconds: turns a hang into a failure, never a performance assertion
EX = "binance"
QUEUE = "bot_17"
STAMP = datetime(2024, 5, 17, 12, 30, 45, 123456, tzinfo=UTC)


def full_order(**changes: Any) -> Order:
    """An order with every field set."""
    fields: dict[str, Any] = {
        "order_id": 7,
        "ex_order_id": "A1",
        "ex_id": 3,
        "cat_ex_id": 1,
        "exchange": EX,
        "symbol": "BTC/USDT",
        "side": "buy",
        "order_type": "limit",
        "volume": 0.25,
        "final_volume": 0.125,
        "price": 50000.5,
        "plimit": 50100.0,
        "tick": 0.1,
        "futures": False,
        "leverage": 2.0,
        "command": "open",
        "reason": "signal",
        "status": "open",
        "bot_id": 17,
        "uid": 4,
        "timestamp": STAMP,
    }
    return Order(**{**fields, **changes})


def shown(item: Order | str | None) -> tuple[Any, ...]:
    """A hashable picture of a queue item (Orders are not hashable)."""
    if isinstance(item, Order):
        return ("order", *sorted(item.to_dict().items(), key=lambda pair: pair[0]))
    return ("id", item)


@pytest.fixture
def keys(settings: CacheSettings) -> KeySpace:
    return KeySpace(settings.key_prefix)


@pytest.fixture
async def cache(settings: CacheSettings) -> AsyncIterator[OrdersCache]:
    async with OrdersCache(settings) as cache:
        yield cache


@pytest.fixture
async def alone(fast_settings: CacheSettings) -> AsyncIterator[OrdersCache]:
    """A cache on a private server (server-wide counters and ACL users are this test's)."""
    async with OrdersCache(fast_settings) as cache:
        yield cache


@pytest.fixture
async def alone_raw(fast_settings: CacheSettings) -> AsyncIterator[Redis]:
    client = raw_client(fast_settings)
    yield client
    await client.aclose()


async def lrange(raw_redis: Redis, key: str) -> list[bytes]:
    items: list[bytes] = await raw_redis.lrange(key, 0, -1)
    return items


async def wait_until(check: Callable[[], Awaitable[bool]]) -> None:
    async with asyncio.timeout(GUARD):
        done = await check()
        while not done:
            await asyncio.sleep(0.01)
            done = await check()


async def blocked_clients(raw_redis: Redis) -> int:
    return int((await raw_redis.info("clients"))["blocked_clients"])


async def command_calls(raw_redis: Redis, command: str) -> int:
    stats = await raw_redis.info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


async def acl_user(admin: Redis, name: str, *rules: str) -> None:
    """A user with every permission but ``rules`` (e.g. ``-hset``), password ``pw``."""
    await admin.execute_command("ACL", "SETUSER", name, "on", ">pw", "~*", "&*", "+@all", *rules)


# -- order status: save, merge, read -------------------------------------------------------


async def test_save_order_data_creates_an_order_read_back_with_every_field(
    cache: OrdersCache, raw_redis: Redis, keys: KeySpace
) -> None:
    sent = full_order()
    assert await cache.get_order_status(EX, "A1") is None
    assert await cache.save_order_data(EX, sent) is None
    got = await cache.get_order_status(EX, "A1")
    assert got == sent
    assert got is not None
    assert got.timestamp == STAMP
    assert got.timestamp.tzinfo is not None
    assert await cache.get_order(EX, "A1") == sent
    assert await raw_redis.smembers(keys.order_ids(EX)) == {b"A1"}
    assert await raw_redis.ttl(keys.order(EX, "A1")) == -1  # an open order never expires


async def test_save_order_data_merges_only_the_fields_given(cache: OrdersCache) -> None:
    await cache.save_order_data(
        EX, Order(ex_order_id="A1", symbol="BTC/USDT", side="buy", volume=1.0, status="open")
    )
    await cache.save_order_data(EX, Order(ex_order_id="A1", status="filled", final_volume=0.5))
    got = await cache.get_order_status(EX, "A1")
    assert got == Order(
        ex_order_id="A1",
        symbol="BTC/USDT",
        side="buy",
        volume=1.0,
        final_volume=0.5,
        status="filled",
    )


async def test_concurrent_merges_of_different_fields_all_survive(cache: OrdersCache) -> None:
    # Every field of one order set by its own concurrent call...
    values = full_order(ex_order_id="ONE").to_dict()
    singles = [
        cache.save_order_data(EX, Order(ex_order_id="ONE", **{name: value}))
        for name, value in values.items()
        if name != "ex_order_id"
    ]
    # ...and 25 orders each merged twice at once (volume by one writer, status by another).
    pairs = [
        call
        for i in range(25)
        for call in (
            cache.save_order_data(EX, Order(ex_order_id=f"P{i}", volume=float(i))),
            cache.save_order_data(EX, Order(ex_order_id=f"P{i}", status=f"s{i}")),
        )
    ]
    assert len(singles) + len(pairs) >= 50
    async with asyncio.timeout(GUARD):
        await asyncio.gather(*singles, *pairs)
    assert await cache.get_order_status(EX, "ONE") == Order(**values)
    for i in range(25):
        assert await cache.get_order_status(EX, f"P{i}") == Order(
            ex_order_id=f"P{i}", volume=float(i), status=f"s{i}"
        )
    assert len(await cache.get_orders(EX)) == 26


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        (STAMP, STAMP),
        (STAMP.astimezone(timezone(timedelta(hours=5, minutes=30))), STAMP),
        (STAMP.replace(tzinfo=None), STAMP),  # naive: taken as UTC
        (1715949045.123456, datetime.fromtimestamp(1715949045.123456, UTC)),
        (1715949045, datetime(2024, 5, 17, 12, 30, 45, tzinfo=UTC)),
    ],
    ids=["utc", "other-zone", "naive", "epoch-float", "epoch-int"],
)
async def test_the_orders_own_timestamp_is_kept_as_an_aware_utc_datetime(
    cache: OrdersCache, given: datetime | float, kept: datetime
) -> None:
    await cache.save_order_data(EX, Order(ex_order_id="A1", timestamp=given, status="open"))
    await cache.save_order_data(EX, Order(ex_order_id="A1", status="filled"))  # no timestamp
    got = await cache.get_order_status(EX, "A1")
    assert got is not None
    assert isinstance(got.timestamp, datetime)
    assert got.timestamp == kept
    assert got.timestamp.utcoffset() == timedelta(0)
    [listed] = await cache.get_orders(EX)
    assert listed.timestamp == kept


async def test_order_id_is_the_ex_order_id_else_the_order_id(
    cache: OrdersCache, raw_redis: Redis, keys: KeySpace
) -> None:
    await cache.save_order_data(EX, Order(order_id=7, ex_order_id="X7", symbol="ETH/USDT"))
    await cache.save_order_data(EX, Order(order_id=8, symbol="BTC/USDT"))
    assert await cache.get_order_status(EX, "X7") is not None
    assert await cache.get_order_status(EX, 7) is None  # stored under its ex_order_id
    by_int, by_text = await cache.get_order_status(EX, 8), await cache.get_order(EX, "8")
    assert by_int == by_text == Order(order_id=8, symbol="BTC/USDT")
    assert await raw_redis.smembers(keys.order_ids(EX)) == {b"X7", b"8"}
    assert await cache.delete_order(EX, 8) is True
    assert await cache.get_order(EX, "8") is None


async def test_orders_of_other_exchanges_are_apart(cache: OrdersCache) -> None:
    await cache.save_order_data(EX, Order(ex_order_id="A1", status="open"))
    await cache.save_order_data("kraken", Order(ex_order_id="A1", status="filled"))
    await cache.save_order_data("kraken", Order(ex_order_id="K2", status="open"))
    assert await cache.get_order_status("kraken", "A1") == Order(ex_order_id="A1", status="filled")
    assert await cache.get_order_status(EX, "A1") == Order(ex_order_id="A1", status="open")
    assert [o.ex_order_id for o in await cache.get_orders(EX)] == ["A1"]
    assert sorted(o.ex_order_id or "" for o in await cache.get_orders("kraken")) == ["A1", "K2"]
    assert await cache.get_orders("bybit") == []
    assert await cache.get_order_status("bybit", "A1") is None


# -- canceled orders expire alone ----------------------------------------------------------


@pytest.mark.parametrize("status", ["canceled", "cancelled", "CANCELED", "Cancelled"])
async def test_a_canceled_order_gets_the_order_ttl_and_no_other_key_does(
    cache: OrdersCache, raw_redis: Redis, keys: KeySpace, status: str
) -> None:
    await cache.save_order_data(EX, Order(ex_order_id="OPEN", status="open"))
    await cache.save_order_data(EX, Order(ex_order_id="GONE", status="open", volume=1.0))
    await cache.save_order_data(EX, Order(ex_order_id="GONE", status=status))
    ttl = await raw_redis.ttl(keys.order(EX, "GONE"))
    assert 0 < ttl <= cache.settings.ttl_order
    assert await raw_redis.ttl(keys.order(EX, "OPEN")) == -1
    assert await raw_redis.ttl(keys.order_ids(EX)) == -1
    got = await cache.get_order_status(EX, "GONE")
    assert got == Order(ex_order_id="GONE", status=status, volume=1.0)


async def test_a_canceled_order_expires_alone_and_leaves_the_index(
    settings: CacheSettings, raw_redis: Redis, keys: KeySpace
) -> None:
    async with OrdersCache(settings.replace(ttl_order=1)) as cache:
        await cache.save_order_data(EX, Order(ex_order_id="GONE", status="canceled"))
        await cache.save_order_data(EX, Order(ex_order_id="OPEN", status="open"))
        await cache.save_order_data(EX, Order(ex_order_id="NEW", symbol="ETH/USDT"))
        await asyncio.sleep(1.3)
        assert await cache.get_order_status(EX, "GONE") is None
        assert await raw_redis.sismember(keys.order_ids(EX), "GONE")  # pruned lazily...
        listed = await cache.get_orders(EX)
        assert sorted(o.ex_order_id or "" for o in listed) == ["NEW", "OPEN"]
        assert not await raw_redis.sismember(keys.order_ids(EX), "GONE")  # ...by get_orders
        assert await raw_redis.smembers(keys.order_ids(EX)) == {b"NEW", b"OPEN"}
        assert await cache.get_order_status(EX, "OPEN") == Order(ex_order_id="OPEN", status="open")


async def test_a_later_status_lifts_the_ttl_and_updates_without_status_keep_it(
    cache: OrdersCache, raw_redis: Redis, keys: KeySpace
) -> None:
    key = keys.order(EX, "A1")
    await cache.save_order_data(EX, Order(ex_order_id="A1", status="canceled"))
    assert await raw_redis.ttl(key) > 0
    await cache.save_order_data(EX, Order(ex_order_id="A1", final_volume=0.0))
    assert await raw_redis.ttl(key) > 0  # no status: the TTL stays
    assert await cache.update_order(EX, Order(ex_order_id="A1", reason="user"))
    assert await raw_redis.ttl(key) > 0
    await cache.save_order_data(EX, Order(ex_order_id="A1", status="open"))
    assert await raw_redis.ttl(key) == -1  # PERSIST
    assert await cache.update_order(EX, Order(ex_order_id="A1", status="Canceled"))
    assert await raw_redis.ttl(key) > 0
    assert await cache.update_order(EX, Order(ex_order_id="A1", status="partially_filled"))
    assert await raw_redis.ttl(key) == -1
    assert await cache.get_order_status(EX, "A1") == Order(
        ex_order_id="A1", status="partially_filled", final_volume=0.0, reason="user"
    )


# -- update_order, save_order, delete_order ------------------------------------------------


async def test_update_order_merges_into_a_stored_order_only(
    cache: OrdersCache, raw_redis: Redis, settings: CacheSettings
) -> None:
    assert await cache.update_order(EX, Order(ex_order_id="NOPE", status="canceled")) is False
    assert await stored_keys(raw_redis, settings) == set()  # nothing written, not even the index
    assert await cache.get_order_status(EX, "NOPE") is None
    await cache.save_order_data(EX, Order(ex_order_id="A1", symbol="BTC/USDT", volume=1.0))
    assert await cache.update_order(EX, Order(ex_order_id="A1", final_volume=0.4)) is True
    assert await cache.get_order_status(EX, "A1") == Order(
        ex_order_id="A1", symbol="BTC/USDT", volume=1.0, final_volume=0.4
    )


async def test_save_order_overwrites_the_stored_order(
    cache: OrdersCache, raw_redis: Redis, keys: KeySpace
) -> None:
    await cache.save_order_data(EX, full_order(status="canceled"))
    assert await raw_redis.ttl(keys.order(EX, "A1")) > 0
    assert await cache.save_order(EX, Order(ex_order_id="A1", symbol="ETH/USDT")) is True
    assert await cache.get_order_status(EX, "A1") == Order(ex_order_id="A1", symbol="ETH/USDT")
    assert await raw_redis.ttl(keys.order(EX, "A1")) == -1  # the canceled order is gone
    assert await cache.save_order(EX, Order(ex_order_id="B2", status="cancelled")) is True
    assert await raw_redis.ttl(keys.order(EX, "B2")) > 0
    assert await raw_redis.smembers(keys.order_ids(EX)) == {b"A1", b"B2"}


async def test_delete_order_removes_the_order_and_its_id(
    cache: OrdersCache, raw_redis: Redis, keys: KeySpace
) -> None:
    await cache.save_order_data(EX, Order(ex_order_id="A1", status="open"))
    await cache.save_order_data(EX, Order(ex_order_id="B2", status="open"))
    assert await cache.delete_order(EX, "A1") is True
    assert await cache.get_order_status(EX, "A1") is None
    assert await raw_redis.smembers(keys.order_ids(EX)) == {b"B2"}
    assert await cache.delete_order(EX, "A1") is False
    assert await cache.delete_order("kraken", "B2") is False
    assert [o.ex_order_id for o in await cache.get_orders(EX)] == ["B2"]


# -- corrupted data ------------------------------------------------------------------------


async def test_get_orders_skips_corrupted_orders_and_counts_them(
    cache: OrdersCache, raw_redis: Redis, keys: KeySpace
) -> None:
    for oid in ("A1", "B2", "C3", "D4", "E5", "F6"):
        await cache.save_order_data(EX, Order(ex_order_id=oid, status="open", volume=1.0))
    await raw_redis.hset(keys.order(EX, "B2"), "volume", b"{not json")
    await raw_redis.hset(keys.order(EX, "C3"), b"\xff\xfename", b"1")
    await raw_redis.hset(keys.order(EX, "D4"), "timestamp", b'"not a date"')
    await raw_redis.set(keys.order(EX, "WT"), b"a string, not a hash")
    await raw_redis.sadd(keys.order_ids(EX), "WT")
    assert cache.corrupted_skipped == 0
    listed = await cache.get_orders(EX)
    assert sorted(o.ex_order_id or "" for o in listed) == ["A1", "E5", "F6"]
    assert cache.corrupted_skipped == 4
    # A corrupted order is kept in the index (it is not expired), read alone it is an error.
    assert await raw_redis.scard(keys.order_ids(EX)) == 7
    for oid in ("B2", "C3", "D4", "WT"):
        with pytest.raises(CacheCorruptedValueError) as caught:
            await cache.get_order_status(EX, oid)
        assert caught.value.key == keys.order(EX, oid)


async def test_get_orders_skips_an_index_entry_that_is_not_text(
    cache: OrdersCache, raw_redis: Redis, keys: KeySpace
) -> None:
    """SPEC 6: one corrupted entry of a collection is skipped and counted, never fatal."""
    await cache.save_order_data(EX, Order(ex_order_id="A1", status="open"))
    await raw_redis.sadd(keys.order_ids(EX), b"\xff\xfe")
    listed = await cache.get_orders(EX)
    assert [o.ex_order_id for o in listed] == ["A1"]
    assert cache.corrupted_skipped == 1


# -- bad input: a clear error, nothing written ---------------------------------------------

BAD_ORDERS = [
    pytest.param({"ex_order_id": "A1", "status": "open"}, InvalidTypeError, id="dict"),
    pytest.param(None, InvalidTypeError, id="none"),
    pytest.param(Order(symbol="BTC/USDT", status="open"), InvalidInputError, id="no-id"),
    pytest.param(Order(ex_order_id="A1", price=math.nan), InvalidInputError, id="nan-price"),
    pytest.param(Order(ex_order_id="A1", price=math.inf), InvalidInputError, id="inf-price"),
    pytest.param(Order(ex_order_id="A1", price=True), InvalidTypeError, id="bool-price"),
    pytest.param(Order(ex_order_id="A1", volume=math.nan), InvalidInputError, id="nan-volume"),
    pytest.param(Order(ex_order_id="A1", volume=-math.inf), InvalidInputError, id="inf-volume"),
    pytest.param(Order(ex_order_id="A1", volume=False), InvalidTypeError, id="bool-volume"),
    pytest.param(Order(ex_order_id="A1", volume="1.0"), InvalidTypeError, id="text-volume"),
    pytest.param(Order(ex_order_id="A1", leverage=math.nan), InvalidInputError, id="nan-lev"),
    pytest.param(Order(ex_order_id="A*"), InvalidInputError, id="glob-id"),
    pytest.param(Order(ex_order_id="{A1}"), InvalidInputError, id="brace-id"),
    pytest.param(Order(ex_order_id="A\n1"), InvalidInputError, id="newline-id"),
    pytest.param(Order(ex_order_id=""), InvalidInputError, id="empty-id"),
    pytest.param(Order(order_id=True), InvalidTypeError, id="bool-order-id"),
    pytest.param(Order(order_id=1.5), InvalidTypeError, id="float-order-id"),
    pytest.param(Order(ex_order_id="A1", timestamp=math.nan), InvalidInputError, id="nan-ts"),
    pytest.param(Order(ex_order_id="A1", timestamp="2024-05-17"), InvalidTypeError, id="text-ts"),
    pytest.param(Order(ex_order_id="A1", timestamp=True), InvalidTypeError, id="bool-ts"),
    pytest.param(Order(ex_order_id="A1", timestamp=1e20), InvalidInputError, id="huge-ts"),
    pytest.param(Order(ex_order_id="A1", command={"a", "b"}), InvalidTypeError, id="set-field"),
]


@pytest.mark.parametrize(("order", "error"), BAD_ORDERS)
@pytest.mark.parametrize("method", ["save_order_data", "update_order", "save_order"])
async def test_a_bad_order_is_rejected_and_nothing_is_written(
    cache: OrdersCache,
    raw_redis: Redis,
    settings: CacheSettings,
    method: str,
    order: Any,
    error: type[Exception],
) -> None:
    with pytest.raises(error):
        await getattr(cache, method)(EX, order)
    assert await stored_keys(raw_redis, settings) == set()


BAD_NAMES = [
    pytest.param("bin*", InvalidInputError, id="star"),
    pytest.param("bin?", InvalidInputError, id="question"),
    pytest.param("{binance}", InvalidInputError, id="braces"),
    pytest.param("bin\nance", InvalidInputError, id="newline"),
    pytest.param("", InvalidInputError, id="empty"),
    pytest.param(" binance", InvalidInputError, id="padded"),
    pytest.param(None, InvalidTypeError, id="none"),
    pytest.param(1.5, InvalidTypeError, id="float"),
]


@pytest.mark.parametrize(("name", "error"), BAD_NAMES)
async def test_a_bad_exchange_or_order_id_is_rejected_and_nothing_is_written(
    cache: OrdersCache,
    raw_redis: Redis,
    settings: CacheSettings,
    name: Any,
    error: type[Exception],
) -> None:
    order = Order(ex_order_id="A1", status="open")
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: cache.save_order_data(name, order),
        lambda: cache.update_order(name, order),
        lambda: cache.save_order(name, order),
        lambda: cache.get_order_status(name, "A1"),
        lambda: cache.get_order(name, "A1"),
        lambda: cache.get_orders(name),
        lambda: cache.delete_order(name, "A1"),
        lambda: cache.get_order_status(EX, name),
        lambda: cache.get_order(EX, name),
        lambda: cache.delete_order(EX, name),
    ]
    for call in calls:
        with pytest.raises(error):
            await call()
    assert await stored_keys(raw_redis, settings) == set()


@pytest.mark.parametrize(("name", "error"), BAD_NAMES)
async def test_a_bad_queue_name_is_rejected_and_nothing_is_written(
    cache: OrdersCache,
    raw_redis: Redis,
    settings: CacheSettings,
    name: Any,
    error: type[Exception],
) -> None:
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: cache.push_open_order(name, "A1"),
        lambda: cache.pop_open_order(name, timeout=0),
        lambda: cache.requeue_stale_orders(name, 0),
        lambda: cache.get_queue_length(name),
    ]
    for call in calls:
        with pytest.raises(error):
            await call()
    with pytest.raises(error):
        async with cache.claim_open_order(name, timeout=0):
            pass
    assert await stored_keys(raw_redis, settings) == set()


@pytest.mark.parametrize(
    ("item", "error"),
    [
        pytest.param(7, InvalidTypeError, id="int"),
        pytest.param({"id": "A1"}, InvalidTypeError, id="dict"),
        pytest.param(None, InvalidTypeError, id="none"),
        pytest.param(b"A1", InvalidTypeError, id="bytes"),
        pytest.param("A*", InvalidInputError, id="glob"),
        pytest.param("{A1}", InvalidInputError, id="braces"),
        pytest.param("A\n1", InvalidInputError, id="newline"),
        pytest.param("", InvalidInputError, id="empty"),
        pytest.param(Order(order_id=7, price=math.nan), InvalidInputError, id="nan-price"),
        pytest.param(Order(order_id=7, volume=True), InvalidTypeError, id="bool-volume"),
        pytest.param(Order(order_id=7, command={1}), InvalidTypeError, id="set-field"),
        # Accepted today: a text timestamp is then dead-lettered by the consumer's pop,
        # a non-finite one comes back as None.
        pytest.param(Order(order_id=7, timestamp="yesterday"), InvalidTypeError, id="text-ts"),
        pytest.param(Order(order_id=7, timestamp=math.nan), InvalidInputError, id="nan-ts"),
        pytest.param(Order(order_id=7, timestamp=math.inf), InvalidInputError, id="inf-ts"),
    ],
)
async def test_a_bad_queue_item_is_rejected_and_nothing_is_written(
    cache: OrdersCache,
    raw_redis: Redis,
    settings: CacheSettings,
    item: Any,
    error: type[Exception],
) -> None:
    with pytest.raises(error):
        await cache.push_open_order(QUEUE, item)
    assert await stored_keys(raw_redis, settings) == set()


@pytest.mark.parametrize(
    ("seconds", "error"),
    [
        pytest.param(-1, InvalidInputError, id="negative"),
        pytest.param(math.nan, InvalidInputError, id="nan"),
        pytest.param(math.inf, InvalidInputError, id="inf"),
        pytest.param(True, InvalidTypeError, id="bool"),
        pytest.param("1", InvalidTypeError, id="text"),
        pytest.param(None, InvalidTypeError, id="none"),
    ],
)
async def test_a_bad_timeout_or_age_is_rejected_and_nothing_is_taken(
    cache: OrdersCache, raw_redis: Redis, keys: KeySpace, seconds: Any, error: type[Exception]
) -> None:
    await cache.push_open_order(QUEUE, "A1")
    with pytest.raises(error):
        await cache.pop_open_order(QUEUE, timeout=seconds)
    with pytest.raises(error):
        async with cache.claim_open_order(QUEUE, timeout=seconds):
            pass
    with pytest.raises(error):
        await cache.requeue_stale_orders(QUEUE, older_than=seconds)
    assert await cache.get_queue_length(QUEUE) == 1
    assert await raw_redis.exists(keys.queue_processing(QUEUE), keys.queue_claims(QUEUE)) == 0


# -- queues ------------------------------------------------------------------------------


async def test_a_queue_is_fifo_and_gives_back_exactly_what_was_pushed(
    cache: OrdersCache,
) -> None:
    pushed: list[Order | str] = [
        full_order(),
        "A1",
        Order(order_id=7, symbol="ETH/USDT"),
        "Worker A order 9",
        full_order(timestamp=1715949045.5, status="new"),  # epoch floats become datetimes
    ]
    for item in pushed:
        await cache.push_open_order(QUEUE, item)
    assert await cache.get_queue_length(QUEUE) == len(pushed)
    popped = [await cache.pop_open_order(QUEUE, timeout=0) for _ in pushed]
    assert popped[:4] == pushed[:4]
    assert popped[4] == full_order(
        timestamp=datetime.fromtimestamp(1715949045.5, UTC), status="new"
    )
    assert [type(item) for item in popped] == [type(item) for item in pushed]
    assert await cache.pop_open_order(QUEUE, timeout=0) is None
    assert await cache.get_queue_length(QUEUE) == 0


async def test_queues_are_apart(cache: OrdersCache) -> None:
    await cache.push_open_order("bot_1", "A1")
    await cache.push_open_order("bot_2", "B2")
    assert await cache.pop_open_order("bot_2", timeout=0) == "B2"
    assert await cache.pop_open_order("bot_2", timeout=0) is None
    assert await cache.pop_open_order("bot_1", timeout=0) == "A1"


async def test_popping_an_empty_queue_returns_none(
    cache: OrdersCache, raw_redis: Redis, settings: CacheSettings
) -> None:
    async with asyncio.timeout(GUARD):
        assert await cache.pop_open_order(QUEUE, timeout=0) is None
        assert await cache.pop_open_order(QUEUE, timeout=0.3) is None
        assert await cache.pop_open_order(QUEUE) is None  # the default timeout
        async with cache.claim_open_order(QUEUE, timeout=0) as item:
            assert item is None
        async with cache.claim_open_order(QUEUE, timeout=0.3) as item:
            assert item is None
    assert await stored_keys(raw_redis, settings) == set()


async def test_a_claim_on_an_empty_queue_lets_the_blocks_error_through(
    cache: OrdersCache,
) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with cache.claim_open_order(QUEUE, timeout=0) as item:
            assert item is None
            raise RuntimeError("boom")


async def test_a_blocking_pop_gets_an_item_pushed_while_it_waits(
    alone: OrdersCache, alone_raw: Redis
) -> None:
    waiting = asyncio.ensure_future(alone.pop_open_order(QUEUE, timeout=GUARD))
    try:
        await wait_until(lambda: _is_blocked(alone_raw))
        await alone.push_open_order(QUEUE, Order(order_id=7, symbol="BTC/USDT"))
        async with asyncio.timeout(GUARD):
            got = await waiting
    finally:
        waiting.cancel()
    assert got == Order(order_id=7, symbol="BTC/USDT")
    assert await alone.get_queue_length(QUEUE) == 0


async def _is_blocked(raw_redis: Redis) -> bool:
    return await blocked_clients(raw_redis) >= 1


@pytest.mark.standalone
async def test_a_wait_longer_than_the_socket_timeout_ends_in_none_not_an_error(
    settings: CacheSettings,
) -> None:
    # A client of the caller's with a short socket timeout: the pop waits in shorter blocks.
    client = raw_client(settings, socket_timeout=0.5)
    try:
        async with OrdersCache(settings, redis=client) as cache:
            async with asyncio.timeout(GUARD):
                assert await cache.pop_open_order(QUEUE, timeout=1.2) is None
                waiting = asyncio.ensure_future(cache.pop_open_order(QUEUE, timeout=3.0))
                await asyncio.sleep(1.0)  # past the socket timeout: a later block gets it
                await cache.push_open_order(QUEUE, "A1")
                assert await waiting == "A1"
    finally:
        await client.aclose()


async def test_get_queue_length_counts_pending_items_only(cache: OrdersCache) -> None:
    for oid in ("A1", "B2", "C3"):
        await cache.push_open_order(QUEUE, oid)
    async with cache.claim_open_order(QUEUE, timeout=0) as item:
        assert item == "A1"
        assert await cache.get_queue_length(QUEUE) == 2
    assert await cache.get_queue_length(QUEUE) == 2
    assert await cache.get_queue_length("other") == 0


async def test_identical_items_pushed_twice_are_both_delivered(
    cache: OrdersCache, raw_redis: Redis, keys: KeySpace
) -> None:
    order = Order(order_id=7, symbol="BTC/USDT", volume=1.0)
    for _ in range(2):
        await cache.push_open_order(QUEUE, order)
        await cache.push_open_order(QUEUE, "A1")
    envelopes = await lrange(raw_redis, keys.queue_pending(QUEUE))
    assert len(set(envelopes)) == 4  # each queued item is distinct on the wire
    got = [await cache.pop_open_order(QUEUE, timeout=0) for _ in range(4)]
    assert got == [order, "A1", order, "A1"]
    assert await cache.pop_open_order(QUEUE, timeout=0) is None


async def test_many_producers_and_consumers_deliver_every_item_exactly_once(
    cache: OrdersCache, raw_redis: Redis, keys: KeySpace
) -> None:
    producers, per_producer = 10, 100
    total = producers * per_producer

    def item(p: int, i: int) -> Order | str:
        return Order(order_id=p * 1000 + i, symbol="BTC/USDT") if i % 2 else f"p{p}-{i}"

    received: list[Order | str] = []

    async def produce(p: int) -> None:
        for i in range(per_producer):
            await cache.push_open_order(QUEUE, item(p, i))

    async def consume() -> None:
        while len(received) < total:
            got = await cache.pop_open_order(QUEUE, timeout=0.2)
            if got is not None:
                received.append(got)

    async with asyncio.timeout(60):
        await asyncio.gather(
            *(produce(p) for p in range(producers)), *(consume() for _ in range(10))
        )
    expected = Counter(shown(item(p, i)) for p in range(producers) for i in range(per_producer))
    assert Counter(shown(got) for got in received) == expected
    assert await cache.get_queue_length(QUEUE) == 0
    assert await raw_redis.llen(keys.queue_processing(QUEUE)) == 0
    assert await raw_redis.hlen(keys.queue_claims(QUEUE)) == 0


async def test_a_push_whose_reply_is_lost_is_an_unknown_outcome_and_queued_once(
    proxy: FaultProxy, proxied_settings: CacheSettings
) -> None:
    async with OrdersCache(proxied_settings) as cache:
        assert await cache.ping()  # warm-up: connection and handshake
        proxy.drop_next_reply()
        with pytest.raises(CacheUnknownOutcomeError):
            await cache.push_open_order(QUEUE, "A1")
        assert proxy.replies_dropped == 1
        assert await cache.get_queue_length(QUEUE) == 1  # never resent by the library
        assert await cache.pop_open_order(QUEUE, timeout=0) == "A1"


# -- reliability: claims, acknowledgements, requeues ---------------------------------------


async def test_a_claim_is_acknowledged_when_its_block_exits_cleanly(
    cache: OrdersCache, raw_redis: Redis, keys: KeySpace
) -> None:
    await cache.push_open_order(QUEUE, Order(order_id=7, symbol="BTC/USDT"))
    before = time.time()
    async with cache.claim_open_order(QUEUE, timeout=GUARD) as item:
        assert item == Order(order_id=7, symbol="BTC/USDT")
        [envelope] = await lrange(raw_redis, keys.queue_processing(QUEUE))
        claimed = await raw_redis.hget(keys.queue_claims(QUEUE), envelope.partition(b":")[0])
        assert claimed is not None
        assert before <= float(claimed) <= time.time()
        assert await cache.get_queue_length(QUEUE) == 0
    assert await raw_redis.exists(keys.queue_processing(QUEUE), keys.queue_claims(QUEUE)) == 0
    assert await cache.requeue_stale_orders(QUEUE, 0) == 0
    assert await cache.pop_open_order(QUEUE, timeout=0) is None


async def test_an_item_whose_block_raised_stays_claimed_until_requeued_at_the_head(
    cache: OrdersCache, raw_redis: Redis, keys: KeySpace
) -> None:
    await cache.push_open_order(QUEUE, "A1")
    with pytest.raises(RuntimeError, match="exchange down"):
        async with cache.claim_open_order(QUEUE, timeout=1.0) as item:
            assert item == "A1"
            raise RuntimeError("exchange down")
    assert len(await lrange(raw_redis, keys.queue_processing(QUEUE))) == 1
    assert await cache.get_queue_length(QUEUE) == 0
    await cache.push_open_order(QUEUE, "B2")  # pushed meanwhile
    assert await cache.requeue_stale_orders(QUEUE, older_than=60) == 0  # a fresh claim
    assert len(await lrange(raw_redis, keys.queue_processing(QUEUE))) == 1
    assert await cache.requeue_stale_orders(QUEUE, 0) == 1
    assert await raw_redis.exists(keys.queue_processing(QUEUE), keys.queue_claims(QUEUE)) == 0
    assert await cache.pop_open_order(QUEUE, timeout=0) == "A1"  # at the head
    assert await cache.pop_open_order(QUEUE, timeout=0) == "B2"


async def test_requeue_puts_several_stale_items_back_oldest_first(
    cache: OrdersCache, raw_redis: Redis, keys: KeySpace
) -> None:
    for oid in ("A1", "B2", "C3", "D4"):
        await cache.push_open_order(QUEUE, oid)
    taken = []
    with pytest.raises(RuntimeError):
        async with (
            cache.claim_open_order(QUEUE, timeout=0) as first,
            cache.claim_open_order(QUEUE, timeout=0) as second,
            cache.claim_open_order(QUEUE, timeout=0) as third,
        ):
            taken = [first, second, third]
            raise RuntimeError("crashed")
    assert taken == ["A1", "B2", "C3"]
    await cache.push_open_order(QUEUE, "E5")
    assert await cache.requeue_stale_orders(QUEUE, 0) == 3
    assert [await cache.pop_open_order(QUEUE, timeout=0) for _ in range(5)] == [
        "A1",
        "B2",
        "C3",
        "D4",
        "E5",
    ]
    assert await raw_redis.exists(keys.queue_processing(QUEUE), keys.queue_claims(QUEUE)) == 0


async def test_requeue_moves_only_claims_at_least_that_old(
    cache: OrdersCache, raw_redis: Redis, keys: KeySpace
) -> None:
    await cache.push_open_order(QUEUE, "OLD")
    await cache.push_open_order(QUEUE, "NEW")
    with pytest.raises(RuntimeError):
        async with (
            cache.claim_open_order(QUEUE, timeout=0),
            cache.claim_open_order(QUEUE, timeout=0),
        ):
            raise RuntimeError("crashed")
    old, new = await lrange(raw_redis, keys.queue_processing(QUEUE))
    # The first claim was made two minutes ago.
    await raw_redis.hset(keys.queue_claims(QUEUE), old.partition(b":")[0], time.time() - 120)
    assert await cache.requeue_stale_orders(QUEUE, older_than=60) == 1
    assert await lrange(raw_redis, keys.queue_processing(QUEUE)) == [new]
    assert await cache.pop_open_order(QUEUE, timeout=0) == "OLD"
    assert await cache.pop_open_order(QUEUE, timeout=0) is None
    assert await cache.requeue_stale_orders(QUEUE, 0) == 1
    assert await cache.pop_open_order(QUEUE, timeout=0) == "NEW"


async def test_an_order_whose_consumer_died_is_delivered_again_after_a_requeue(
    cache: OrdersCache, raw_redis: Redis, keys: KeySpace
) -> None:
    order = Order(order_id=7, symbol="BTC/USDT", side="sell", volume=0.5)
    await cache.push_open_order(QUEUE, order)
    inside = asyncio.Event()

    async def consumer() -> None:
        async with cache.claim_open_order(QUEUE, timeout=GUARD) as item:
            assert item == order
            inside.set()
            await asyncio.Event().wait()  # never finishes: the process "dies" here

    task = asyncio.ensure_future(consumer())
    async with asyncio.timeout(GUARD):
        await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(await lrange(raw_redis, keys.queue_processing(QUEUE))) == 1  # not acknowledged
    assert await cache.pop_open_order(QUEUE, timeout=0) is None
    assert await cache.requeue_stale_orders(QUEUE, 0) == 1
    async with cache.claim_open_order(QUEUE, timeout=0) as again:
        assert again == order
    assert await raw_redis.exists(keys.queue_processing(QUEUE), keys.queue_claims(QUEUE)) == 0


@pytest.mark.parametrize("timeout", [0, 1.0], ids=["non-blocking", "blocking"])
async def test_a_pop_whose_reply_is_lost_raises_and_the_order_is_not_lost(
    proxy: FaultProxy, proxied_settings: CacheSettings, fast_settings: CacheSettings, timeout: float
) -> None:
    keys = KeySpace(fast_settings.key_prefix)
    direct = raw_client(fast_settings)
    order = Order(order_id=7, symbol="BTC/USDT", volume=0.5)
    try:
        async with OrdersCache(proxied_settings) as cache:
            # Warm-up: both clients connected, handshakes and the INFO check done.
            assert await cache.ping()
            await cache.push_open_order(QUEUE, "warm-up")
            assert await cache.pop_open_order(QUEUE, timeout=timeout) == "warm-up"
            await cache.push_open_order(QUEUE, order)
            proxy.drop_next_reply()
            async with asyncio.timeout(GUARD):
                with pytest.raises(CacheUnknownOutcomeError):
                    await cache.pop_open_order(QUEUE, timeout=timeout)
            assert proxy.replies_dropped == 1
            assert await cache.get_queue_length(QUEUE) == 0
            assert len(await lrange(direct, keys.queue_processing(QUEUE))) == 1  # not lost
            assert await cache.requeue_stale_orders(QUEUE, 0) == 1
            assert await cache.pop_open_order(QUEUE, timeout=timeout) == order
            assert await direct.exists(keys.queue_processing(QUEUE)) == 0
    finally:
        await direct.aclose()


async def test_an_unclaimed_item_on_the_processing_list_is_dated_then_requeued(
    cache: OrdersCache, raw_redis: Redis, keys: KeySpace
) -> None:
    processing, claims = keys.queue_processing(QUEUE), keys.queue_claims(QUEUE)
    await raw_redis.rpush(processing, b'0123abcd:{"id":"A1"}')  # taken, never noted
    before = time.time()
    assert await cache.requeue_stale_orders(QUEUE, older_than=60) == 0
    dated = await raw_redis.hget(claims, "0123abcd")
    assert dated is not None
    assert before <= float(dated) <= time.time()
    assert await cache.requeue_stale_orders(QUEUE, older_than=60) == 0  # still young
    await raw_redis.hset(claims, "0123abcd", before - 61)  # ... a minute later
    assert await cache.requeue_stale_orders(QUEUE, older_than=60) == 1
    assert await raw_redis.exists(processing, claims) == 0
    assert await cache.pop_open_order(QUEUE, timeout=0) == "A1"
    # With an age of 0 such an item goes back at once.
    await raw_redis.rpush(processing, b'4567cdef:{"id":"B2"}')
    assert await cache.requeue_stale_orders(QUEUE, 0) == 1
    assert await raw_redis.exists(processing, claims) == 0
    assert await cache.pop_open_order(QUEUE, timeout=0) == "B2"


CORRUPTED_ITEMS = [
    b"xyz:notjson",
    b"abc:[1,2]",
    b"no separator at all",
    b'def:{"id":5}',
    b'fed:{"order":"not an object"}',
    b'cba:{"order":{"order_id":1,"timestamp":"not a date"}}',
    b"\xff\xfe:\xff",
]


@pytest.mark.parametrize("timeout", [0, 1.0], ids=["non-blocking", "blocking"])
async def test_a_processing_list_of_the_wrong_type_is_the_key_named_and_nothing_is_taken(
    cache: OrdersCache, raw_redis: Redis, keys: KeySpace, timeout: float
) -> None:
    # Redis's WRONGTYPE for LMOVE/BLMOVE does not say which list: the error names the right one.
    await cache.push_open_order(QUEUE, "A1")
    await raw_redis.set(keys.queue_processing(QUEUE), b"not a list")
    async with asyncio.timeout(GUARD):
        with pytest.raises(CacheCorruptedValueError) as caught:
            await cache.pop_open_order(QUEUE, timeout=timeout)
    assert caught.value.key == keys.queue_processing(QUEUE)
    assert await lrange(raw_redis, keys.queue_pending(QUEUE)) != []  # still queued
    await raw_redis.delete(keys.queue_processing(QUEUE))
    assert await cache.pop_open_order(QUEUE, timeout=timeout) == "A1"


@pytest.mark.parametrize("timeout", [0, 1.0], ids=["non-blocking", "blocking"])
async def test_corrupted_queue_items_go_to_the_dead_list_and_the_pop_goes_on(
    cache: OrdersCache, raw_redis: Redis, keys: KeySpace, timeout: float
) -> None:
    await raw_redis.rpush(keys.queue_pending(QUEUE), *CORRUPTED_ITEMS)
    await cache.push_open_order(QUEUE, "A1")
    await raw_redis.rpush(keys.queue_pending(QUEUE), b"xyz:notjson")
    await cache.push_open_order(QUEUE, Order(order_id=2))
    async with asyncio.timeout(GUARD):
        assert await cache.pop_open_order(QUEUE, timeout=timeout) == "A1"
        assert cache.corrupted_skipped == len(CORRUPTED_ITEMS)
        async with cache.claim_open_order(QUEUE, timeout=timeout) as item:
            assert item == Order(order_id=2)
        assert await cache.pop_open_order(QUEUE, timeout=timeout) is None
    assert cache.corrupted_skipped == len(CORRUPTED_ITEMS) + 1
    dead = await lrange(raw_redis, keys.queue_dead(QUEUE))
    assert dead == [*CORRUPTED_ITEMS, b"xyz:notjson"]  # kept as they were, in order
    assert await raw_redis.exists(keys.queue_processing(QUEUE), keys.queue_claims(QUEUE)) == 0
    assert await cache.requeue_stale_orders(QUEUE, 0) == 0  # nothing of them comes back


async def test_a_pop_delivers_even_when_its_claim_time_cannot_be_noted(
    fast_settings: CacheSettings, alone_raw: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    await acl_user(alone_raw, "no_hset", "-hset")  # a real refusal of the claim-time write
    keys = KeySpace(fast_settings.key_prefix)
    worker_settings = fast_settings.replace(username="no_hset", password="pw")
    async with OrdersCache(worker_settings) as worker, OrdersCache(fast_settings) as admin:
        await worker.push_open_order(QUEUE, "A1")
        await worker.push_open_order(QUEUE, "B2")
        with caplog.at_level(logging.WARNING, logger="fullon.cache.orders"):
            # A pop acknowledges at once and notes no claim time: HSET is never needed.
            assert await worker.pop_open_order(QUEUE, timeout=0) == "A1"
            assert not caplog.records
            assert not await alone_raw.exists(
                keys.queue_processing(QUEUE), keys.queue_claims(QUEUE)
            )
            # A claim without a noted time is still taken, kept on failure, and requeued.
            with pytest.raises(RuntimeError):
                async with worker.claim_open_order(QUEUE, timeout=1.0) as item:
                    assert item == "B2"
                    assert not await alone_raw.exists(keys.queue_claims(QUEUE))
                    raise RuntimeError("crashed")
        assert any("could not note a claim time" in r.getMessage() for r in caplog.records)
        assert len(await lrange(alone_raw, keys.queue_processing(QUEUE))) == 1
        assert await admin.requeue_stale_orders(QUEUE, older_than=60) == 0  # dated now
        assert await admin.requeue_stale_orders(QUEUE, 0) == 1
        assert await admin.pop_open_order(QUEUE, timeout=0) == "B2"


async def test_an_item_whose_acknowledgement_fails_is_still_delivered_and_kept(
    fast_settings: CacheSettings, alone_raw: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    await acl_user(alone_raw, "no_lrem", "-lrem")  # a real refusal of the acknowledgement
    keys = KeySpace(fast_settings.key_prefix)
    worker_settings = fast_settings.replace(username="no_lrem", password="pw")
    async with OrdersCache(worker_settings) as worker, OrdersCache(fast_settings) as admin:
        await worker.push_open_order(QUEUE, "A1")
        with caplog.at_level(logging.WARNING, logger="fullon.cache.orders"):
            assert await worker.pop_open_order(QUEUE, timeout=1.0) == "A1"
        assert any("could not acknowledge" in r.getMessage() for r in caplog.records)
        # Delivered, and still on the processing list: a requeue delivers it again.
        assert len(await lrange(alone_raw, keys.queue_processing(QUEUE))) == 1
        assert await admin.requeue_stale_orders(QUEUE, 0) == 1
        # A claim whose acknowledgement fails says so: the item may be delivered again.
        with pytest.raises(CacheError):
            async with worker.claim_open_order(QUEUE, timeout=0) as item:
                assert item == "A1"
        assert len(await lrange(alone_raw, keys.queue_processing(QUEUE))) == 1
        assert await admin.requeue_stale_orders(QUEUE, 0) == 1
        assert await admin.pop_open_order(QUEUE, timeout=0) == "A1"
        assert await alone_raw.exists(keys.queue_processing(QUEUE), keys.queue_claims(QUEUE)) == 0


# -- infrastructure failures are errors, never misses --------------------------------------


async def test_a_dead_server_is_an_error_never_a_miss(
    server: LocalRedisServer, alone: OrdersCache
) -> None:
    cache = alone
    await cache.save_order_data(EX, Order(ex_order_id="A1", status="open"))
    await cache.push_open_order(QUEUE, "A1")
    server.kill()
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: cache.get_order_status(EX, "A1"),
        lambda: cache.get_orders(EX),
        lambda: cache.update_order(EX, Order(ex_order_id="A1", status="filled")),
        lambda: cache.delete_order(EX, "A1"),
        lambda: cache.pop_open_order(QUEUE, timeout=0),
        lambda: cache.pop_open_order(QUEUE, timeout=0.3),
        lambda: cache.push_open_order(QUEUE, "B2"),
        lambda: cache.requeue_stale_orders(QUEUE, 0),
        lambda: cache.get_queue_length(QUEUE),
    ]
    async with asyncio.timeout(GUARD * 3):
        for call in calls:
            with pytest.raises(CacheUnavailableError):
                await call()
        with pytest.raises(CacheUnavailableError):
            async with cache.claim_open_order(QUEUE, timeout=0):
                pass


async def test_a_delete_whose_reply_was_lost_is_not_reported_as_a_miss(
    proxy: FaultProxy, proxied_settings: CacheSettings
) -> None:
    """SPEC 6: an infrastructure failure is never disguised as "there was none"."""
    async with OrdersCache(proxied_settings) as cache:
        await cache.save_order_data(EX, Order(ex_order_id="A1", status="open"))  # warm-up
        proxy.drop_next_reply()
        try:
            deleted: bool | None = await cache.delete_order(EX, "A1")
        except CacheUnknownOutcomeError:
            deleted = None  # an honest "don't know" is fine too
        assert proxy.replies_dropped == 1
        assert await cache.get_order_status(EX, "A1") is None  # this call deleted it...
        assert deleted is not False  # ...so "there was none" would be false


async def test_get_orders_never_unindexes_an_order_saved_while_it_reads(
    proxy: FaultProxy,
    proxied_settings: CacheSettings,
    fast_settings: CacheSettings,
    alone: OrdersCache,
    alone_raw: Redis,
) -> None:
    """An expired id is pruned from the index; an order placed again meanwhile must stay."""
    keys = KeySpace(fast_settings.key_prefix)
    writer = alone
    await writer.save_order_data(EX, Order(ex_order_id="A1", status="canceled"))
    await writer.save_order_data(EX, Order(ex_order_id="B2", status="open"))
    await alone_raw.delete(keys.order(EX, "A1"))  # A1 expired; its id is still indexed
    # Replies through the proxy are slowed, so a write lands between the reader's steps.
    async with OrdersCache(proxied_settings.replace(socket_timeout=5.0)) as reader:
        assert await reader.ping()  # warm-up
        hgetalls = await command_calls(alone_raw, "hgetall")
        proxy.set_delay(1.0)
        listing = asyncio.ensure_future(reader.get_orders(EX))
        try:
            # Once the reader has read both orders (A1 gone), A1 is placed again. (A reader
            # that reads some other way simply finishes first: the end state must hold.)
            async def read_or_done() -> bool:
                reads = await command_calls(alone_raw, "hgetall")
                return listing.done() or reads >= hgetalls + 2

            await wait_until(read_or_done)
            await writer.save_order_data(EX, Order(ex_order_id="A1", status="open"))
            proxy.set_delay(0)
            async with asyncio.timeout(GUARD):
                first = await listing
        finally:
            listing.cancel()
        assert [o.ex_order_id for o in first] == ["B2"]
        assert await reader.get_order_status(EX, "A1") == Order(ex_order_id="A1", status="open")
        listed = await reader.get_orders(EX)
    assert sorted(o.ex_order_id or "" for o in listed) == ["A1", "B2"]
