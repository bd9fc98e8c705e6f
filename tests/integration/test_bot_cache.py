"""BotCache against a real server: bot locks (leases with fencing), opening-position marks and
bot status.

Every "nothing was written" claim is checked with SCAN over the test's namespace; corrupted
data and keys of the wrong type are written with a plain redis-py client under the library's
own keys (names from ``cache._keys``). Faults are real: a killed server, a proxy that drops a
reply or swallows everything (blackhole). No test asserts a duration: TTL expiry uses small
TTLs and sleeps well past them, and ``asyncio.timeout(GUARD)`` only turns a hang into a failure.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from fullon_cache import BotCache, CacheLockError, Lease, LockHeldError, LockLostError
from fullon_cache.errors import (
    CacheCorruptedValueError,
    CacheError,
    CacheUnknownOutcomeError,
    InvalidInputError,
    InvalidTypeError,
)
from fullon_cache.keys import KeySpace
from fullon_cache.settings import CacheSettings
from tests.conftest import raw_client
from tests.support.proxy import FaultProxy
from tests.support.reference import stored_keys

GUARD = 10  # seconds: turns a hang into a failure, never a performance assertion
GARBAGE = b"\xff\x00 not json {"
EX, SYM = "binance", "BTC/USDT"

Call = Callable[[BotCache], Awaitable[Any]]


@pytest.fixture
def keys(settings: CacheSettings) -> KeySpace:
    return KeySpace(settings.key_prefix)


@pytest.fixture
async def cache(settings: CacheSettings) -> AsyncIterator[BotCache]:
    async with BotCache(settings) as cache:
        cache.source = None  # no reference-data source: these tests never need one
        yield cache


async def fence(raw_redis: Redis, keys: KeySpace, ex: str = EX, sym: str = SYM) -> int:
    value = await raw_redis.get(keys.bot_lock_fence(ex, sym))
    return 0 if value is None else int(value)


async def eventually(condition: Callable[[], object]) -> None:
    """Wait until ``condition()`` is true (a hang fails the test, never a slow machine)."""
    async with asyncio.timeout(GUARD):
        done = condition()
        while not done:
            await asyncio.sleep(0.02)
            done = condition()


async def until_lost(lease: Lease) -> None:
    """Wait until the keep-alive task reports the lease lost."""
    await eventually(lambda: lease.lost)


class BodyError(Exception):
    """Raised by a test inside a ``bot_lock`` block."""


# -- the exports ---------------------------------------------------------------------------


def test_lock_errors_form_a_tree_under_cache_lock_error() -> None:
    assert issubclass(LockHeldError, CacheLockError)
    assert issubclass(LockLostError, CacheLockError)
    assert issubclass(CacheLockError, CacheError)
    error = LockHeldError("17", "binance BTC/USDT is held by bot 17")
    assert error.holder == "17"
    assert "17" in str(error)


def test_a_lease_reports_its_loss() -> None:
    lease = Lease("binance", "BTC/USDT", "17", 4, expires=time.monotonic() + 60)
    assert (lease.exchange, lease.symbol, lease.bot_id, lease.fence) == (EX, SYM, "17", 4)
    assert lease.lost is False
    lease.check()  # held: nothing raised
    lease.taken = True
    with pytest.raises(LockLostError, match="17"):
        lease.check()


def test_a_lease_past_its_confirmed_expiry_is_lost() -> None:
    lease = Lease("binance", "BTC/USDT", "17", 4, expires=time.monotonic() - 0.001)
    assert lease.lost is True
    with pytest.raises(LockLostError):
        lease.check()


async def test_an_index_of_the_wrong_type_leaves_another_bots_lock_alone(
    cache: BotCache, raw_redis: Redis, keys: KeySpace
) -> None:
    assert await cache.block_exchange(EX, SYM, 1)
    await raw_redis.delete(keys.bot_locks())
    await raw_redis.set(keys.bot_locks(), "not a set")
    with pytest.raises(CacheCorruptedValueError) as caught:
        await cache.block_exchange(EX, SYM, 2)
    assert caught.value.key == keys.bot_locks()
    assert await cache.is_blocked(EX, SYM) == "1"


# -- block_exchange / is_blocked / unblock_exchange -----------------------------------------


async def test_twenty_bots_racing_through_one_instance_one_wins(
    cache: BotCache, raw_redis: Redis, keys: KeySpace
) -> None:
    results = await asyncio.gather(
        *(cache.block_exchange(EX, SYM, f"bot{i}", ttl=30) for i in range(20))
    )
    winners = [f"bot{i}" for i, won in enumerate(results) if won]
    assert len(winners) == 1
    assert all(type(won) is bool for won in results)
    assert await cache.is_blocked(EX, SYM) == winners[0]
    assert await fence(raw_redis, keys) == 1  # the losers incremented nothing


async def test_twenty_bots_racing_from_their_own_instances_one_wins(
    settings: CacheSettings, raw_redis: Redis, keys: KeySpace
) -> None:
    caches = [BotCache(settings) for _ in range(20)]
    try:
        results = await asyncio.gather(
            *(c.block_exchange(EX, SYM, 100 + i, ttl=30) for i, c in enumerate(caches))
        )
        winners = [str(100 + i) for i, won in enumerate(results) if won]
        assert len(winners) == 1
        for each in caches:
            assert await each.is_blocked(EX, SYM) == winners[0]
    finally:
        for each in caches:
            await each.aclose()
    assert await fence(raw_redis, keys) == 1


async def test_the_holder_blocking_again_gets_true_and_a_renewed_ttl(
    cache: BotCache, raw_redis: Redis, keys: KeySpace
) -> None:
    assert await cache.block_exchange(EX, SYM, "a", ttl=60) is True
    lock = keys.bot_lock(EX, SYM)
    assert 0 < await raw_redis.pttl(lock) <= 60_000
    await raw_redis.pexpire(lock, 1000)  # as if most of the TTL had passed
    assert await cache.block_exchange(EX, SYM, "a", ttl=60) is True
    assert 1000 < await raw_redis.pttl(lock) <= 60_000
    assert await cache.is_blocked(EX, SYM) == "a"
    assert await fence(raw_redis, keys) == 1  # the same acquisition: no new fence


async def test_another_bot_gets_false_and_nothing_changes(
    cache: BotCache, raw_redis: Redis, keys: KeySpace, settings: CacheSettings
) -> None:
    assert await cache.block_exchange(EX, SYM, "a", ttl=60) is True
    lock = keys.bot_lock(EX, SYM)
    await raw_redis.pexpire(lock, 5000)
    before = await stored_keys(raw_redis, settings)
    assert await cache.block_exchange(EX, SYM, "b", ttl=60) is False
    assert await cache.block_exchange(EX, SYM, "b") is False
    assert await cache.is_blocked(EX, SYM) == "a"
    assert 0 < await raw_redis.pttl(lock) <= 5000  # not renewed by the loser
    assert await raw_redis.get(lock) == b"a"
    assert await fence(raw_redis, keys) == 1
    assert await stored_keys(raw_redis, settings) == before


async def test_a_block_of_another_symbol_or_exchange_is_independent(cache: BotCache) -> None:
    assert await cache.block_exchange(EX, SYM, "a") is True
    assert await cache.block_exchange(EX, "ETH/USDT", "b") is True
    assert await cache.block_exchange("kraken", SYM, "c") is True
    assert await cache.is_blocked(EX, SYM) == "a"
    assert await cache.is_blocked(EX, "ETH/USDT") == "b"
    assert await cache.is_blocked("kraken", SYM) == "c"


async def test_int_and_str_ids_name_the_same_lock(cache: BotCache) -> None:
    assert await cache.block_exchange(3, SYM, 17) is True
    assert await cache.is_blocked("3", SYM) == "17"
    assert await cache.block_exchange("3", SYM, "17") is True  # the same owner
    assert await cache.block_exchange("3", SYM, 18) is False
    assert await cache.unblock_exchange(3, SYM, "17") is True


async def test_an_expired_block_lets_another_bot_in_with_a_higher_fence(
    cache: BotCache, raw_redis: Redis, keys: KeySpace
) -> None:
    async with cache.bot_lock(EX, SYM, "a", ttl=5) as first:
        pass
    assert await cache.block_exchange(EX, SYM, "a", ttl=0.3) is True
    held_by_a = await fence(raw_redis, keys)
    assert held_by_a > first.fence
    assert await cache.block_exchange(EX, SYM, "b", ttl=0.3) is False
    await asyncio.sleep(0.6)  # well past the 0.3 s TTL: bot a "died"
    assert await cache.is_blocked(EX, SYM) == ""
    async with cache.bot_lock(EX, SYM, "b", ttl=5) as lease:
        assert lease.fence > held_by_a
        assert await cache.is_blocked(EX, SYM) == "b"
        assert await cache.block_exchange(EX, SYM, "a", ttl=0.3) is False  # a came back late


async def test_a_block_without_ttl_persists(
    cache: BotCache, raw_redis: Redis, keys: KeySpace
) -> None:
    assert await cache.block_exchange(EX, SYM, "a") is True
    assert await raw_redis.pttl(keys.bot_lock(EX, SYM)) == -1
    await asyncio.sleep(0.3)
    assert await cache.is_blocked(EX, SYM) == "a"
    # the owner blocking again with a TTL turns it into an expiring block, and back
    assert await cache.block_exchange(EX, SYM, "a", ttl=60) is True
    assert 0 < await raw_redis.pttl(keys.bot_lock(EX, SYM)) <= 60_000
    assert await cache.block_exchange(EX, SYM, "a") is True
    assert await raw_redis.pttl(keys.bot_lock(EX, SYM)) == -1


async def test_a_millisecond_ttl_is_accepted(cache: BotCache) -> None:
    assert await cache.block_exchange(EX, SYM, "a", ttl=0.001) is True
    await asyncio.sleep(0.1)
    assert await cache.is_blocked(EX, SYM) == ""


async def test_is_blocked_is_empty_when_free_and_writes_nothing(
    cache: BotCache, raw_redis: Redis, settings: CacheSettings
) -> None:
    assert await cache.is_blocked(EX, SYM) == ""
    assert await stored_keys(raw_redis, settings) == set()


async def test_unblock_by_a_non_owner_fails_and_the_block_stays(
    cache: BotCache, raw_redis: Redis, keys: KeySpace
) -> None:
    assert await cache.block_exchange(EX, SYM, "a", ttl=60) is True
    assert await cache.unblock_exchange(EX, SYM, "b") is False
    assert await cache.is_blocked(EX, SYM) == "a"
    assert await raw_redis.pttl(keys.bot_lock(EX, SYM)) > 0
    assert await cache.unblock_exchange(EX, SYM, "a") is True
    assert await cache.is_blocked(EX, SYM) == ""
    assert await cache.unblock_exchange(EX, SYM, "a") is False  # nothing left to release
    assert await cache.block_exchange(EX, SYM, "b") is True  # free for the next bot


async def test_unblock_without_a_bot_id_releases_whoever_holds_it(cache: BotCache) -> None:
    assert await cache.unblock_exchange(EX, SYM) is False  # free
    assert await cache.block_exchange(EX, SYM, "a") is True
    assert await cache.unblock_exchange(EX, SYM) is True
    assert await cache.is_blocked(EX, SYM) == ""
    assert await cache.unblock_exchange(EX, SYM) is False


async def test_the_fence_survives_a_release_and_keeps_increasing(
    cache: BotCache, raw_redis: Redis, keys: KeySpace
) -> None:
    seen = []
    for bot in ["a", "b", "a", "c"]:
        assert await cache.block_exchange(EX, SYM, bot) is True
        seen.append(await fence(raw_redis, keys))
        assert await cache.unblock_exchange(EX, SYM, bot) is True
    assert seen == [1, 2, 3, 4]


# -- get_blocks ------------------------------------------------------------------------------


async def test_get_blocks_lists_held_blocks_with_their_bot_and_ttl(cache: BotCache) -> None:
    assert await cache.get_blocks() == []
    assert await cache.block_exchange(EX, SYM, "a") is True
    assert await cache.block_exchange(3, "ETH/USDT", 17, ttl=60) is True
    assert await cache.block_exchange("kraken", "XBT/USD", "c", ttl=0.3) is True
    assert await cache.block_exchange("kraken", "ETH/USD", "d", ttl=60) is True
    assert await cache.unblock_exchange("kraken", "ETH/USD", "d") is True
    await asyncio.sleep(0.6)  # the 0.3 s block expired
    rows = await cache.get_blocks()
    by_lock = {(row["ex_id"], row["symbol"]): row for row in rows}
    assert len(rows) == 2
    assert set(by_lock) == {(EX, SYM), ("3", "ETH/USDT")}
    assert by_lock[EX, SYM] == {"ex_id": EX, "symbol": SYM, "bot": "a", "ttl": None}
    expiring = by_lock["3", "ETH/USDT"]
    assert expiring["bot"] == "17"
    assert isinstance(expiring["ttl"], float)
    assert 0 < expiring["ttl"] <= 60
    assert set(expiring) == {"ex_id", "symbol", "bot", "ttl"}
    assert cache.corrupted_skipped == 0


async def test_get_blocks_shows_a_lease_and_forgets_it_once_released(cache: BotCache) -> None:
    async with cache.bot_lock(EX, SYM, "a", ttl=30) as lease:
        [row] = await cache.get_blocks()
        assert (row["ex_id"], row["symbol"], row["bot"]) == (EX, SYM, "a")
        assert 0 < row["ttl"] <= 30
        assert lease.fence == 1
    assert await cache.get_blocks() == []


@pytest.mark.parametrize(
    "member",
    [
        pytest.param(GARBAGE, id="garbage bytes"),
        pytest.param(b"", id="empty"),
        pytest.param(b"[1,2", id="truncated JSON"),
        pytest.param(b'["binance","BTC/USDT","extra"]', id="3-list"),
        pytest.param(b'["binance"]', id="1-list"),
        pytest.param(b"[]", id="empty list"),
        pytest.param(b"null", id="null"),
        pytest.param(b"5", id="number"),
        pytest.param(b'"x"', id="1-char string"),
        pytest.param(b'{"binance":1}', id="1-key object"),
        pytest.param(b'["bin*","BTC/USDT"]', id="glob in exchange"),
        pytest.param(b'["binance",null]', id="null symbol"),
        pytest.param(b'["binance",1.5]', id="float symbol"),
        pytest.param(b'["binance",["BTC/USDT"]]', id="list symbol"),
        pytest.param(b'"ab"', id="2-char string"),
        pytest.param(b'{"binance":1,"BTC/USDT":2}', id="2-key object"),
    ],
)
async def test_get_blocks_skips_and_counts_a_corrupted_index_member(
    cache: BotCache, raw_redis: Redis, member: bytes
) -> None:
    assert await cache.block_exchange(EX, SYM, "a") is True
    assert await cache.block_exchange("kraken", "XBT/USD", "b", ttl=60) is True
    await raw_redis.sadd(cache._keys.bot_locks(), member)
    rows = await cache.get_blocks()
    assert sorted((r["ex_id"], r["symbol"], r["bot"]) for r in rows) == [
        (EX, SYM, "a"),
        ("kraken", "XBT/USD", "b"),
    ]
    assert cache.corrupted_skipped == 1
    await cache.get_blocks()
    assert cache.corrupted_skipped == 2  # counted on every read that met it


async def test_get_blocks_with_a_lock_key_of_the_wrong_type_counts_it(
    cache: BotCache, raw_redis: Redis
) -> None:
    assert await cache.block_exchange(EX, SYM, "a") is True
    assert await cache.block_exchange("kraken", "XBT/USD", "b") is True
    lock = cache._keys.bot_lock("kraken", "XBT/USD")
    await raw_redis.delete(lock)
    await raw_redis.hset(lock, "holder", "b")  # not a string any more
    rows = await cache.get_blocks()
    assert [(r["ex_id"], r["symbol"], r["bot"]) for r in rows] == [(EX, SYM, "a")]
    assert cache.corrupted_skipped == 1  # skipped like any corrupted entry: logged, counted


async def test_get_blocks_skips_and_counts_a_lock_holding_garbage_bytes(
    cache: BotCache, raw_redis: Redis
) -> None:
    assert await cache.block_exchange(EX, SYM, "a") is True
    assert await cache.block_exchange("kraken", "XBT/USD", "b") is True
    await raw_redis.set(cache._keys.bot_lock("kraken", "XBT/USD"), GARBAGE)
    rows = await cache.get_blocks()
    assert [(r["ex_id"], r["symbol"], r["bot"]) for r in rows] == [(EX, SYM, "a")]
    assert cache.corrupted_skipped == 1
    with pytest.raises(CacheCorruptedValueError) as caught:
        await cache.is_blocked("kraken", "XBT/USD")
    assert caught.value.key == cache._keys.bot_lock("kraken", "XBT/USD")


async def test_get_blocks_with_an_index_of_the_wrong_type_names_it(
    cache: BotCache, raw_redis: Redis
) -> None:
    index = cache._keys.bot_locks()
    await raw_redis.set(index, b"not a set")
    with pytest.raises(CacheCorruptedValueError) as caught:
        await cache.get_blocks()
    assert caught.value.key == index


# -- bad input --------------------------------------------------------------------------------

BAD_IDS = [
    pytest.param(None, InvalidTypeError, id="None"),
    pytest.param(1.5, InvalidTypeError, id="float"),
    pytest.param(True, InvalidTypeError, id="bool"),
    pytest.param(["a"], InvalidTypeError, id="list"),
    pytest.param(b"a", InvalidTypeError, id="bytes"),
    pytest.param("", InvalidInputError, id="empty"),
    pytest.param("a*", InvalidInputError, id="star"),
    pytest.param("a?", InvalidInputError, id="question mark"),
    pytest.param("[a]", InvalidInputError, id="brackets"),
    pytest.param("{a}", InvalidInputError, id="hash tag"),
    pytest.param("a\nb", InvalidInputError, id="newline"),
    pytest.param(" a", InvalidInputError, id="leading space"),
]


def lock_calls(ex: Any, sym: Any, bot: Any) -> list[Call]:
    async def enter(c: BotCache) -> None:
        async with c.bot_lock(ex, sym, bot, ttl=5):
            pytest.fail("the block must not run")

    calls: list[Call] = [
        lambda c: c.block_exchange(ex, sym, bot),
        lambda c: c.block_exchange(ex, sym, bot, ttl=30),
        enter,
    ]
    if bot is not None:  # unblock_exchange(ex, sym, None) releases whoever holds it
        calls.append(lambda c: c.unblock_exchange(ex, sym, bot))
    return calls


@pytest.mark.parametrize(("bad", "exc"), BAD_IDS)
async def test_a_bad_exchange_or_symbol_raises_and_writes_nothing(
    cache: BotCache, raw_redis: Redis, settings: CacheSettings, bad: Any, exc: type[Exception]
) -> None:
    calls = [
        *lock_calls(bad, SYM, "a"),
        *lock_calls(EX, bad, "a"),
        lambda c: c.is_blocked(bad, SYM),
        lambda c: c.is_blocked(EX, bad),
        lambda c: c.unblock_exchange(bad, SYM),
        lambda c: c.unblock_exchange(EX, bad),
        lambda c: c.mark_opening_position(bad, SYM, "a"),
        lambda c: c.mark_opening_position(EX, bad, "a"),
        lambda c: c.is_opening_position(bad, SYM),
        lambda c: c.is_opening_position(EX, bad),
        lambda c: c.unmark_opening_position(bad, SYM),
        lambda c: c.unmark_opening_position(EX, bad),
    ]
    for call in calls:
        with pytest.raises(exc):
            await call(cache)
    assert await stored_keys(raw_redis, settings) == set()


@pytest.mark.parametrize(("bad", "exc"), BAD_IDS)
async def test_a_bad_bot_id_raises_and_writes_nothing(
    cache: BotCache, raw_redis: Redis, settings: CacheSettings, bad: Any, exc: type[Exception]
) -> None:
    calls = [
        *lock_calls(EX, SYM, bad),
        lambda c: c.mark_opening_position(EX, SYM, bad),
        lambda c: c.update_bot(bad, {"feed": {"status": "running"}}),
        lambda c: c.get_bot(bad),
        lambda c: c.del_bot(bad),
    ]
    for call in calls:
        with pytest.raises(exc):
            await call(cache)
    assert await stored_keys(raw_redis, settings) == set()


BAD_TTLS = [
    pytest.param(-1, InvalidInputError, id="negative"),
    pytest.param(-0.5, InvalidInputError, id="negative float"),
    pytest.param(math.nan, InvalidInputError, id="NaN"),
    pytest.param(math.inf, InvalidInputError, id="infinite"),
    pytest.param(0, InvalidInputError, id="zero"),
    pytest.param(0.0001, InvalidInputError, id="under a millisecond"),
    pytest.param(True, InvalidTypeError, id="bool"),
    pytest.param(False, InvalidTypeError, id="False"),
    pytest.param("30", InvalidTypeError, id="str"),
    pytest.param([30], InvalidTypeError, id="list"),
]


@pytest.mark.parametrize(("ttl", "exc"), BAD_TTLS)
async def test_a_bad_ttl_raises_and_writes_nothing(
    cache: BotCache, raw_redis: Redis, settings: CacheSettings, ttl: Any, exc: type[Exception]
) -> None:
    with pytest.raises(exc):
        await cache.block_exchange(EX, SYM, "a", ttl=ttl)
    with pytest.raises(exc):
        async with cache.bot_lock(EX, SYM, "a", ttl=ttl):
            pytest.fail("the block must not run")
    assert await stored_keys(raw_redis, settings) == set()


async def test_bot_lock_without_a_ttl_raises_and_writes_nothing(
    cache: BotCache, raw_redis: Redis, settings: CacheSettings
) -> None:
    # A lease must expire if its bot dies: bot_lock needs a TTL (block_exchange does not).
    with pytest.raises(InvalidTypeError):
        async with cache.bot_lock(EX, SYM, "a", ttl=None):  # type: ignore[arg-type]
            pytest.fail("the block must not run")
    assert await cache.is_blocked(EX, SYM) == ""  # not left held, without a TTL, forever
    assert await stored_keys(raw_redis, settings) == set()


# -- keys of the wrong type ---------------------------------------------------------------------


async def test_a_lock_key_of_the_wrong_type_is_reported_with_its_name(
    cache: BotCache, raw_redis: Redis
) -> None:
    lock = cache._keys.bot_lock(EX, SYM)
    await raw_redis.hset(lock, "holder", "a")
    calls: list[Call] = [
        lambda c: c.block_exchange(EX, SYM, "a"),
        lambda c: c.block_exchange(EX, SYM, "a", ttl=30),
        lambda c: c.is_blocked(EX, SYM),
        lambda c: c.unblock_exchange(EX, SYM, "a"),
        lambda c: c.unblock_exchange(EX, SYM),
    ]
    for call in calls:
        with pytest.raises(CacheCorruptedValueError) as caught:
            await call(cache)
        assert caught.value.key == lock
    with pytest.raises(CacheCorruptedValueError) as in_lease:
        async with cache.bot_lock(EX, SYM, "a", ttl=5):
            pytest.fail("the block must not run")
    assert in_lease.value.key == lock
    assert await raw_redis.type(lock) == b"hash"  # left for an operator to look at
    assert await cache.block_exchange(EX, "ETH/USDT", "a") is True  # other locks unaffected


async def test_a_fence_counter_of_the_wrong_type_is_reported_with_its_name(
    cache: BotCache, raw_redis: Redis
) -> None:
    counter = cache._keys.bot_lock_fence(EX, SYM)
    await raw_redis.hset(counter, "n", "1")
    with pytest.raises(CacheCorruptedValueError) as caught:
        await cache.block_exchange(EX, SYM, "a", ttl=30)
    assert caught.value.key == counter


async def test_an_acquisition_failing_on_its_fence_counter_does_not_leave_the_lock_held(
    cache: BotCache, raw_redis: Redis
) -> None:
    # The caller got an error, so it will never release: the lock must not be held now
    # (without a TTL it would be held forever).
    await raw_redis.hset(cache._keys.bot_lock_fence(EX, SYM), "n", "1")
    with pytest.raises(CacheCorruptedValueError):
        await cache.block_exchange(EX, SYM, "a")
    assert await cache.is_blocked(EX, SYM) == ""


@pytest.mark.parametrize(
    "stored",
    [
        pytest.param(b"abc", id="text"),
        pytest.param(b"", id="empty"),
        pytest.param(b"1.5", id="float"),
        pytest.param(b"-3", id="negative"),
        pytest.param(b"007", id="leading zeros"),
        pytest.param(b" 7", id="space"),
        pytest.param(b"9223372036854775807", id="no room to increment"),
        pytest.param(GARBAGE, id="garbage bytes"),
    ],
)
async def test_a_fence_counter_that_is_no_counter_fails_the_acquisition_writing_nothing(
    cache: BotCache, raw_redis: Redis, keys: KeySpace, stored: bytes
) -> None:
    counter = keys.bot_lock_fence(EX, SYM)
    await raw_redis.set(counter, stored)
    for call in (
        lambda: cache.block_exchange(EX, SYM, "a"),
        lambda: cache.block_exchange(EX, SYM, "a", ttl=30),
    ):
        with pytest.raises(CacheCorruptedValueError) as caught:
            await call()
        assert caught.value.key == counter
        assert await cache.is_blocked(EX, SYM) == ""
    with pytest.raises(CacheCorruptedValueError) as in_lease:
        async with cache.bot_lock(EX, SYM, "a", ttl=5):
            pytest.fail("the block must not run")
    assert in_lease.value.key == counter
    assert await raw_redis.get(counter) == stored  # left for an operator to look at


async def test_the_holder_reacquiring_over_a_corrupted_fence_counter_is_refused(
    cache: BotCache, raw_redis: Redis, keys: KeySpace
) -> None:
    assert await cache.block_exchange(EX, SYM, "a", ttl=30) is True
    await raw_redis.set(keys.bot_lock_fence(EX, SYM), b"abc")
    with pytest.raises(CacheCorruptedValueError):
        await cache.block_exchange(EX, SYM, "a", ttl=60)
    assert 0 < await raw_redis.pttl(keys.bot_lock(EX, SYM)) <= 30_000  # not renewed


@pytest.mark.parametrize(("stored", "next_fence"), [(b"0", 1), (b"41", 42)])
async def test_a_fence_counter_holding_an_integer_keeps_counting(
    cache: BotCache, raw_redis: Redis, keys: KeySpace, stored: bytes, next_fence: int
) -> None:
    await raw_redis.set(keys.bot_lock_fence(EX, SYM), stored)
    async with cache.bot_lock(EX, SYM, "a", ttl=5) as lease:
        assert lease.fence == next_fence
        assert await cache.block_exchange(EX, SYM, "a", ttl=5) is True  # the holder: same fence
        assert await fence(raw_redis, keys) == next_fence


async def test_an_acquisition_failing_on_its_index_does_not_leave_the_lock_held(
    cache: BotCache, raw_redis: Redis
) -> None:
    await raw_redis.set(cache._keys.bot_locks(), b"not a set")
    with pytest.raises(CacheCorruptedValueError):
        await cache.block_exchange(EX, SYM, "a")
    assert await cache.is_blocked(EX, SYM) == ""


async def test_an_index_of_the_wrong_type_is_reported_with_its_name(
    cache: BotCache, raw_redis: Redis
) -> None:
    index = cache._keys.bot_locks()
    await raw_redis.set(index, b"not a set")
    with pytest.raises(CacheCorruptedValueError) as caught:
        await cache.block_exchange(EX, SYM, "a", ttl=30)
    assert caught.value.key == index
    with pytest.raises(CacheCorruptedValueError) as in_lease:
        async with cache.bot_lock(EX, SYM, "b", ttl=5):
            pytest.fail("the block must not run")
    assert in_lease.value.key == index
    assert await raw_redis.get(index) == b"not a set"


async def test_mark_and_status_keys_of_the_wrong_type_are_reported_with_their_names(
    cache: BotCache, raw_redis: Redis
) -> None:
    marks, statuses = cache._keys.opening_positions(), cache._keys.bot_statuses()
    await raw_redis.set(marks, b"not a hash")
    await raw_redis.set(statuses, b"not a hash")
    for call, key in [
        (lambda c: c.mark_opening_position(EX, SYM, "a"), marks),
        (lambda c: c.is_opening_position(EX, SYM), marks),
        (lambda c: c.unmark_opening_position(EX, SYM), marks),
        (lambda c: c.update_bot("a", {}), statuses),
        (lambda c: c.get_bot("a"), statuses),
        (lambda c: c.get_bots(), statuses),
        (lambda c: c.del_bot("a"), statuses),
    ]:
        with pytest.raises(CacheCorruptedValueError) as caught:
            await call(cache)
        assert caught.value.key == key


# -- Redis failures are never "not blocked" ----------------------------------------------------


@pytest.mark.faults
async def test_a_dead_server_makes_lock_calls_raise_never_report_free(
    server: Any, fast_settings: CacheSettings
) -> None:
    async with BotCache(fast_settings) as cache:
        assert await cache.block_exchange(EX, SYM, "a") is True
        server.kill()
        calls: list[Call] = [
            lambda c: c.is_blocked(EX, SYM),
            lambda c: c.is_blocked(EX, "ETH/USDT"),
            lambda c: c.block_exchange(EX, SYM, "b"),
            lambda c: c.unblock_exchange(EX, SYM, "a"),
            lambda c: c.get_blocks(),
            lambda c: c.is_opening_position(EX, SYM),
            lambda c: c.get_bot("a"),
        ]
        async with asyncio.timeout(GUARD):
            for call in calls:
                with pytest.raises(CacheError):
                    await call(cache)
            with pytest.raises(CacheError):
                async with cache.bot_lock(EX, "ETH/USDT", "b", ttl=5):
                    pytest.fail("the block must not run")


@pytest.mark.faults
async def test_a_frozen_network_makes_is_blocked_raise(
    proxy: FaultProxy, proxied_settings: CacheSettings
) -> None:
    async with BotCache(proxied_settings) as cache:
        assert await cache.is_blocked(EX, SYM) == ""  # warm-up: connection and policy check
        proxy.blackhole()
        async with asyncio.timeout(GUARD):
            with pytest.raises(CacheError):
                await cache.is_blocked(EX, SYM)
        proxy.blackhole(False)
        assert await cache.is_blocked(EX, SYM) == ""


@pytest.mark.faults
async def test_a_lost_reply_to_an_acquisition_is_resent_without_a_second_fence(
    proxy: FaultProxy, proxied_settings: CacheSettings
) -> None:
    async with BotCache(proxied_settings) as cache:
        assert await cache.block_exchange(EX, "WARM/UP", "a") is True  # script cached
        proxy.drop_next_reply()
        assert await cache.block_exchange(EX, SYM, "a", ttl=30) is True
        assert proxy.replies_dropped == 1
        assert await cache.is_blocked(EX, SYM) == "a"
        proxy.drop_next_reply()
        async with cache.bot_lock(EX, "ETH/USDT", "b", ttl=30) as lease:
            assert lease.fence == 1  # the resent acquisition did not count twice
        assert proxy.replies_dropped == 2
        rows = await cache.get_blocks()
    assert sorted((r["symbol"], r["bot"]) for r in rows) == [(SYM, "a"), ("WARM/UP", "a")]


@pytest.mark.faults
async def test_a_lost_reply_to_a_release_is_an_unknown_outcome_never_resent(
    proxy: FaultProxy, proxied_settings: CacheSettings
) -> None:
    async with BotCache(proxied_settings) as cache:
        assert await cache.block_exchange(EX, "WARM/UP", "a") is True
        assert await cache.unblock_exchange(EX, "WARM/UP", "a") is True  # scripts cached
        assert await cache.block_exchange(EX, SYM, "a") is True
        proxy.drop_next_reply()
        with pytest.raises(CacheUnknownOutcomeError):
            await cache.unblock_exchange(EX, SYM, "a")
        assert await cache.is_blocked(EX, SYM) == ""  # it was released: the reply was lost


# -- bot_lock: the lease ------------------------------------------------------------------------


async def test_bot_lock_yields_a_lease_with_an_increasing_fence(
    cache: BotCache, raw_redis: Redis, keys: KeySpace
) -> None:
    fences = []
    for bot in [17, "b", 17]:
        async with cache.bot_lock(EX, SYM, bot, ttl=30) as lease:
            assert isinstance(lease, Lease)
            assert (lease.exchange, lease.symbol, lease.bot_id) == (EX, SYM, str(bot))
            assert await cache.is_blocked(EX, SYM) == str(bot)
            assert await fence(raw_redis, keys) == lease.fence
            lease.check()
            fences.append(lease.fence)
        assert lease.lost is False
        assert await cache.is_blocked(EX, SYM) == ""
    assert fences == [1, 2, 3]
    async with cache.bot_lock(3, "ETH/USDT", "a", ttl=30) as other:
        assert other.fence == 1  # every (exchange, symbol) has its own counter
        assert (other.exchange, other.symbol) == ("3", "ETH/USDT")


async def test_bot_lock_is_the_same_lock_as_block_exchange(cache: BotCache) -> None:
    async with cache.bot_lock(EX, SYM, "a", ttl=30):
        assert await cache.block_exchange(EX, SYM, "b", ttl=30) is False
        assert await cache.unblock_exchange(EX, SYM, "b") is False
        assert await cache.is_blocked(EX, SYM) == "a"
    assert await cache.block_exchange(EX, SYM, "b", ttl=30) is True


async def test_bot_lock_raises_lock_held_naming_the_holder(
    cache: BotCache, raw_redis: Redis, keys: KeySpace
) -> None:
    assert await cache.block_exchange(EX, SYM, "other", ttl=60) is True
    await raw_redis.pexpire(keys.bot_lock(EX, SYM), 5000)
    with pytest.raises(LockHeldError) as caught:
        async with cache.bot_lock(EX, SYM, "me", ttl=30):
            pytest.fail("the block must not run")
    assert caught.value.holder == "other"
    assert "other" in str(caught.value)
    assert await cache.is_blocked(EX, SYM) == "other"
    assert 0 < await raw_redis.pttl(keys.bot_lock(EX, SYM)) <= 5000  # untouched
    assert await fence(raw_redis, keys) == 1


async def test_bot_lock_keeps_the_lease_alive_past_its_ttl(
    cache: BotCache, raw_redis: Redis, keys: KeySpace
) -> None:
    async with cache.bot_lock(EX, SYM, "a", ttl=0.6) as lease:
        await asyncio.sleep(1.2)  # twice the TTL: only the keep-alive keeps it
        assert await cache.is_blocked(EX, SYM) == "a"
        assert 0 < await raw_redis.pttl(keys.bot_lock(EX, SYM)) <= 600
        assert lease.lost is False
        lease.check()
        assert await cache.block_exchange(EX, SYM, "b", ttl=30) is False
    assert await cache.is_blocked(EX, SYM) == ""


async def test_a_lease_deleted_under_the_block_is_reported_lost(
    cache: BotCache, raw_redis: Redis
) -> None:
    with pytest.raises(LockLostError):
        async with cache.bot_lock(EX, SYM, "a", ttl=0.6) as lease:
            await raw_redis.delete(cache._keys.bot_lock(EX, SYM))
            await until_lost(lease)  # the next extension (after ttl/3) finds it gone
            with pytest.raises(LockLostError):
                lease.check()
    assert lease.lost is True
    assert await cache.is_blocked(EX, SYM) == ""


async def test_a_lease_taken_by_another_bot_is_lost_and_its_exit_spares_the_new_holder(
    cache: BotCache, raw_redis: Redis, keys: KeySpace
) -> None:
    with pytest.raises(LockLostError):
        async with cache.bot_lock(EX, SYM, "a", ttl=0.6) as lease:
            await raw_redis.delete(keys.bot_lock(EX, SYM))  # as if it had expired
            assert await cache.block_exchange(EX, SYM, "b") is True
            await until_lost(lease)
            with pytest.raises(LockLostError):
                lease.check()
            assert await fence(raw_redis, keys) > lease.fence
    assert await cache.is_blocked(EX, SYM) == "b"  # not released by a's exit
    assert await raw_redis.pttl(keys.bot_lock(EX, SYM)) == -1  # nor extended by a


async def test_a_lease_lost_between_extensions_still_raises_on_exit(
    cache: BotCache, raw_redis: Redis, keys: KeySpace
) -> None:
    # ttl=30: the keep-alive would look again only after 10 s; the exit must notice anyway.
    with pytest.raises(LockLostError):
        async with cache.bot_lock(EX, SYM, "a", ttl=30):
            await raw_redis.delete(keys.bot_lock(EX, SYM))
            assert await cache.block_exchange(EX, SYM, "b") is True
    assert await cache.is_blocked(EX, SYM) == "b"


async def test_a_failing_block_releases_the_lock_and_raises_its_own_error(
    cache: BotCache,
) -> None:
    with pytest.raises(BodyError, match="order rejected"):
        async with cache.bot_lock(EX, SYM, "a", ttl=30) as lease:
            assert await cache.is_blocked(EX, SYM) == "a"
            raise BodyError("order rejected")
    assert lease.lost is False
    assert await cache.is_blocked(EX, SYM) == ""
    assert await cache.block_exchange(EX, SYM, "b") is True


async def test_a_failing_block_after_losing_its_lease_raises_its_own_error(
    cache: BotCache, raw_redis: Redis, keys: KeySpace
) -> None:
    with pytest.raises(BodyError):
        async with cache.bot_lock(EX, SYM, "a", ttl=0.6) as lease:
            await raw_redis.delete(keys.bot_lock(EX, SYM))
            assert await cache.block_exchange(EX, SYM, "b") is True
            await until_lost(lease)
            raise BodyError("stopped trading")
    assert await cache.is_blocked(EX, SYM) == "b"


async def test_a_cancelled_block_releases_the_lock(cache: BotCache) -> None:
    entered = asyncio.Event()

    async def trade() -> None:
        async with cache.bot_lock(EX, SYM, "a", ttl=30):
            entered.set()
            await asyncio.Event().wait()  # until cancelled

    task = asyncio.create_task(trade())
    async with asyncio.timeout(GUARD):
        await entered.wait()
    assert await cache.is_blocked(EX, SYM) == "a"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await cache.is_blocked(EX, SYM) == ""


async def test_two_bots_taking_turns_through_bot_lock_never_overlap(cache: BotCache) -> None:
    inside: list[str] = []
    overlaps = 0
    done: list[tuple[str, int]] = []
    refused: list[tuple[str, str]] = []

    async def bot(name: str) -> None:
        nonlocal overlaps
        finished = 0
        while finished < 5:
            try:
                async with cache.bot_lock(EX, SYM, name, ttl=5) as lease:
                    inside.append(name)
                    overlaps += len(inside) > 1
                    await asyncio.sleep(0.01)
                    inside.remove(name)
                    done.append((name, lease.fence))
                    finished += 1
            except LockHeldError as held:
                refused.append((name, held.holder))
                await asyncio.sleep(0.005)

    async with asyncio.timeout(GUARD):
        await asyncio.gather(bot("a"), bot("b"), bot("c"))
    assert overlaps == 0
    assert all(holder in {"a", "b", "c"} - {name} for name, holder in refused)
    fences = [f for _, f in done]
    assert fences == sorted(fences)
    assert len(set(fences)) == 15  # every acquisition got its own, larger, fence


@pytest.mark.faults
async def test_an_outage_longer_than_the_ttl_marks_the_lease_lost(
    proxy: FaultProxy, proxied_settings: CacheSettings, fast_settings: CacheSettings
) -> None:
    async with BotCache(proxied_settings) as cache:
        assert await cache.is_blocked(EX, SYM) == ""  # warm-up
        with pytest.raises(LockLostError):
            async with cache.bot_lock(EX, SYM, "a", ttl=0.6) as lease:
                proxy.blackhole()
                await until_lost(lease)  # no extension got through for a whole TTL
                with pytest.raises(LockLostError):
                    lease.check()
                proxy.blackhole(False)
        assert await cache.is_blocked(EX, SYM) == ""  # it expired on the server meanwhile
    admin = raw_client(fast_settings)
    try:
        assert await admin.exists(cache._keys.bot_lock(EX, SYM)) == 0
    finally:
        await admin.aclose()


@pytest.mark.faults
async def test_a_lease_whose_lock_expired_during_an_outage_fails_its_check_at_once(
    proxy: FaultProxy, proxied_settings: CacheSettings, fast_settings: CacheSettings
) -> None:
    # The keep-alive's extension hangs for its whole deadline (1.5 s) in the outage; the
    # lock (ttl 0.6 s) is gone on the server long before that. From then on another bot may
    # hold it, so lease.check() must not pass any more.
    admin = raw_client(fast_settings)  # straight to the server, around the proxy
    try:
        async with BotCache(proxied_settings) as cache:
            assert await cache.is_blocked(EX, SYM) == ""  # warm-up
            lock = cache._keys.bot_lock(EX, SYM)
            with pytest.raises(LockLostError):
                async with cache.bot_lock(EX, SYM, "a", ttl=0.6) as lease:
                    proxy.blackhole()
                    async with asyncio.timeout(GUARD):  # until it expired on the server
                        taken = await admin.set(lock, "b", nx=True)  # another bot takes it
                        while not taken:
                            await asyncio.sleep(0.01)
                            taken = await admin.set(lock, "b", nx=True)
                    reported_lost = lease.lost
                    proxy.blackhole(False)
                    await until_lost(lease)
        assert await admin.get(lock) == b"b"
        assert reported_lost, "another bot held the lock while lease.check() still passed"
    finally:
        await admin.aclose()


@pytest.mark.faults
@pytest.mark.slow
async def test_an_outage_shorter_than_the_ttl_keeps_the_lease(
    proxy: FaultProxy, proxied_settings: CacheSettings, caplog: pytest.LogCaptureFixture
) -> None:
    def failed_extensions() -> int:
        return sum("could not extend" in r.getMessage() for r in caplog.records)

    # ttl=6: extensions every 2 s; one of them fails (its whole 1.5 s deadline falls in the
    # outage), the outage ends ~3.6 s in, well before the lock would expire.
    async with BotCache(proxied_settings) as cache:
        assert await cache.is_blocked(EX, SYM) == ""  # warm-up
        with caplog.at_level(logging.WARNING, logger="fullon.cache.bot"):
            async with cache.bot_lock(EX, SYM, "a", ttl=6) as lease:
                proxy.blackhole()
                await eventually(failed_extensions)
                proxy.blackhole(False)
                assert lease.lost is False
                lease.check()
                assert await cache.is_blocked(EX, SYM) == "a"
        assert await cache.is_blocked(EX, SYM) == ""  # released at the exit, no error
    assert not any("bot lock lost" in r.getMessage() for r in caplog.records)


# -- opening-position marks ------------------------------------------------------------------


async def test_opening_position_marks(cache: BotCache) -> None:
    assert await cache.is_opening_position(EX, SYM) is False
    assert await cache.mark_opening_position(EX, SYM, "a") is True
    assert await cache.is_opening_position(EX, SYM) is True
    assert await cache.mark_opening_position(EX, SYM, "a") is True  # again: still marked
    assert await cache.unmark_opening_position(EX, SYM) is True
    assert await cache.is_opening_position(EX, SYM) is False
    assert await cache.unmark_opening_position(EX, SYM) is False


async def test_opening_position_marks_are_per_exchange_and_symbol(cache: BotCache) -> None:
    assert await cache.mark_opening_position(3, SYM, 17) is True
    assert await cache.is_opening_position("3", SYM) is True  # an int id is its decimal string
    assert await cache.is_opening_position(3, "ETH/USDT") is False
    assert await cache.is_opening_position(4, SYM) is False
    assert await cache.is_opening_position("kraken", SYM) is False
    assert await cache.mark_opening_position("kraken", SYM, 18) is True
    assert await cache.unmark_opening_position(3, SYM) is True
    assert await cache.is_opening_position(3, SYM) is False
    assert await cache.is_opening_position("kraken", SYM) is True
    # a mark is not a lock
    assert await cache.is_blocked("kraken", SYM) == ""


async def test_an_exchange_and_symbol_cannot_be_confused_through_the_mark_field(
    cache: BotCache,
) -> None:
    assert await cache.mark_opening_position("a:b", "c", 1) is True
    assert await cache.is_opening_position("a", "b:c") is False
    assert await cache.mark_opening_position("a b", "c", 1) is True  # plain spaces are allowed
    assert await cache.is_opening_position("a b", "c") is True


# -- bot status -------------------------------------------------------------------------------


def iso_utc(text: str) -> datetime:
    stamp = datetime.fromisoformat(text)
    assert stamp.tzinfo is not None
    assert stamp.utcoffset() == timedelta(0)
    return stamp


async def test_update_bot_stamps_each_feed_in_the_stored_copy_only(cache: BotCache) -> None:
    status: dict[str, Any] = {
        "feed_1": {"symbol": SYM, "status": "running", "nested": {"a": [1, 2]}},
        "feed_2": {"symbol": "ETH/USDT", "timestamp": "caller's own"},
        "note": "not a feed",
        "count": 3,
        "items": [1, {"x": 1}],
        "off": None,
    }
    given = copy.deepcopy(status)
    before = datetime.now(UTC)
    assert await cache.update_bot(17, status) is True
    after = datetime.now(UTC)
    assert status == given  # the caller's dict (and the dicts in it) are untouched
    stored = await cache.get_bot(17)
    assert stored is not None
    for feed in ("feed_1", "feed_2"):
        assert before <= iso_utc(stored[feed].pop("timestamp")) <= after
    assert stored == {
        "feed_1": given["feed_1"],
        "feed_2": {"symbol": "ETH/USDT"},
        "note": "not a feed",
        "count": 3,
        "items": [1, {"x": 1}],
        "off": None,
    }


async def test_update_bot_replaces_the_previous_status(cache: BotCache) -> None:
    assert await cache.update_bot("a", {"feed_1": {"status": "running"}}) is True
    assert await cache.update_bot("a", {"feed_2": {"status": "stopped"}}) is True
    stored = await cache.get_bot("a")
    assert stored is not None
    assert set(stored) == {"feed_2"}
    assert stored["feed_2"]["status"] == "stopped"
    assert await cache.update_bot("a", {}) is True
    assert await cache.get_bot("a") == {}


async def test_get_bots_get_bot_and_deletion(cache: BotCache) -> None:
    assert await cache.get_bots() == {}
    assert await cache.get_bot(17) is None
    assert await cache.update_bot(17, {"feed": {"status": "running"}}) is True
    assert await cache.update_bot("b", {"feed": {"status": "stopped"}}) is True
    bots = await cache.get_bots()
    assert set(bots) == {"17", "b"}
    assert bots["17"]["feed"]["status"] == "running"
    assert bots["b"]["feed"]["status"] == "stopped"
    assert await cache.get_bot("17") == bots["17"]  # an int id is its decimal string
    assert await cache.del_bot(17) is True
    assert await cache.del_bot(17) is False
    assert await cache.get_bot(17) is None
    assert set(await cache.get_bots()) == {"b"}
    assert await cache.del_status() is True
    assert await cache.del_status() is False
    assert await cache.get_bots() == {}
    assert await cache.get_bot("b") is None


@pytest.mark.parametrize(
    "stored",
    [
        pytest.param(GARBAGE, id="garbage"),
        pytest.param(b"", id="empty"),
        pytest.param(b'{"feed": ', id="truncated"),
        pytest.param(b"[1, 2]", id="list"),
        pytest.param(b'"running"', id="string"),
        pytest.param(b"null", id="null"),
        pytest.param(b"5", id="number"),
    ],
)
async def test_a_corrupted_bot_status_raises_alone_and_is_skipped_in_the_list(
    cache: BotCache, raw_redis: Redis, stored: bytes
) -> None:
    assert await cache.update_bot("good", {"feed": {"status": "running"}}) is True
    key = cache._keys.bot_statuses()
    await raw_redis.hset(key, "bad", stored)
    with pytest.raises(CacheCorruptedValueError) as caught:
        await cache.get_bot("bad")
    assert caught.value.key == key
    assert "not json" not in str(caught.value)  # the key, never the value
    bots = await cache.get_bots()
    assert set(bots) == {"good"}
    assert cache.corrupted_skipped == 1
    assert await cache.del_bot("bad") is True  # a corrupted entry can still be removed


@pytest.mark.parametrize(
    ("bot", "exc"),
    [
        pytest.param(["feed"], InvalidTypeError, id="list"),
        pytest.param("running", InvalidTypeError, id="str"),
        pytest.param(5, InvalidTypeError, id="int"),
        pytest.param({1: {"status": "running"}}, InvalidInputError, id="int key"),
        pytest.param({"": {"status": "running"}}, InvalidInputError, id="empty key"),
        pytest.param({"feed": {"status": object()}}, InvalidTypeError, id="not JSON"),
        pytest.param({"feed": object()}, InvalidTypeError, id="feed not JSON"),
    ],
)
async def test_a_bad_bot_status_raises_and_writes_nothing(
    cache: BotCache, raw_redis: Redis, settings: CacheSettings, bot: Any, exc: type[Exception]
) -> None:
    with pytest.raises(exc):
        await cache.update_bot("a", bot)
    assert await stored_keys(raw_redis, settings) == set()


async def test_update_bot_with_none_stores_an_empty_status(cache: BotCache) -> None:
    assert await cache.update_bot("a", None) is True  # type: ignore[arg-type]
    assert await cache.get_bot("a") == {}
    assert await cache.get_bots() == {"a": {}}


async def test_a_status_round_trips_through_json_without_pickle(
    cache: BotCache, raw_redis: Redis
) -> None:
    assert await cache.update_bot("a", {"feed": {"price": 1.5, "ok": True}}) is True
    raw = await raw_redis.hget(cache._keys.bot_statuses(), "a")
    assert raw is not None
    decoded = orjson.loads(raw)
    assert decoded["feed"]["price"] == 1.5
    assert decoded["feed"]["ok"] is True
