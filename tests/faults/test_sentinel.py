"""Redis Sentinel: the cache finds the master through the sentinels and follows a failover.

Promises: with ``REDIS_SENTINELS`` set, every call goes to the master the sentinels name;
after a failover the next calls reach the new master without a restart, and calls caught in
the switch end with a typed error within their deadline (never a hang, never a silent
miss). Replication is asynchronous: what the old master acknowledged but had not yet
replicated is lost in a failover (the caching guide says so); these tests replicate first
(``WAIT``) so that they test the client, not Redis.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from redis.asyncio import Redis

from fullon_cache import (
    BaseCache,
    CacheError,
    CacheSettings,
    CacheUnavailableError,
    TickCache,
)
from fullon_cache.models import Tick
from tests.support.pubsub import wait_for_subscribers
from tests.support.sentinel import SentinelSetup

GUARD = 30  # seconds; a failover takes about one here


@pytest.fixture
def setup() -> Iterator[SentinelSetup]:
    with SentinelSetup() as deployment:
        yield deployment


@pytest.fixture
def sentinel_settings(setup: SentinelSetup, namespace: str) -> CacheSettings:
    return CacheSettings(
        sentinels=setup.sentinels,
        sentinel_master=setup.name,
        key_prefix=namespace,
        socket_timeout=0.5,
        socket_connect_timeout=0.5,
    )


def _tick(price: float) -> Tick:
    return Tick(symbol="BTC/USDT", exchange="binance", price=price, time=time.time())


async def test_calls_go_to_the_master_the_sentinels_name(
    setup: SentinelSetup, sentinel_settings: CacheSettings
) -> None:
    async with TickCache(sentinel_settings) as cache, asyncio.timeout(GUARD):
        assert await cache.set_ticker(_tick(1.0)) is True
        assert (await cache.get_ticker("BTC/USDT", "binance")).price == 1.0  # type: ignore[union-attr]
        await cache.push_global_error("via sentinel")
        assert await cache.pop_global_error(timeout=1) == "via sentinel"  # blocking client
        waiting = asyncio.ensure_future(cache.get_next_ticker("BTC/USDT", "binance", GUARD))
        async with Redis(host="127.0.0.1", port=setup.master_port) as master:
            await wait_for_subscribers(master, cache._keys.ticker_updates("binance"), 1)
        await cache.set_ticker(_tick(2.0))
        assert (await waiting).price == 2.0  # type: ignore[union-attr]
    with setup.client(setup.master_port) as master:
        assert master.exists(f"{sentinel_settings.key_prefix}:errors:global") == 0
        assert master.dbsize() > 0


async def test_after_a_failover_calls_reach_the_new_master(
    setup: SentinelSetup, sentinel_settings: CacheSettings
) -> None:
    async with TickCache(sentinel_settings) as cache, asyncio.timeout(GUARD):
        await cache.set_ticker(_tick(1.0))
        await asyncio.to_thread(setup.failover)
        errors: list[CacheError] = []
        while True:  # calls caught in the switch may fail, typed, within their deadline
            try:
                await cache.set_ticker(_tick(3.0))
                break
            except CacheError as error:
                errors.append(error)
                await asyncio.sleep(0.1)
        assert len(errors) <= 5
        assert (await cache.get_ticker("BTC/USDT", "binance")).price == 3.0  # type: ignore[union-attr]
    with setup.client(setup.replica_port) as new_master:
        assert new_master.execute_command("ROLE")[0] == b"master"
        assert new_master.dbsize() > 0


async def test_data_replicated_before_a_failover_is_read_from_the_new_master(
    setup: SentinelSetup, sentinel_settings: CacheSettings
) -> None:
    async with BaseCache(sentinel_settings) as cache, asyncio.timeout(GUARD):
        await cache.push_global_error("replicated")
        await asyncio.to_thread(setup.failover)  # WAITs for the replica first
        for _ in range(50):
            try:
                assert await cache.pop_global_error() == "replicated"
                break
            except CacheError:
                await asyncio.sleep(0.1)
        else:
            pytest.fail("the new master never answered")


async def test_no_sentinel_to_ask_is_unavailable(namespace: str) -> None:
    settings = CacheSettings(
        sentinels=(("127.0.0.1", 1),),  # nothing listens there
        sentinel_master="fullon-test",
        key_prefix=namespace,
        socket_timeout=0.5,
        socket_connect_timeout=0.5,
    )
    async with BaseCache(settings) as cache, asyncio.timeout(GUARD):
        with pytest.raises(CacheUnavailableError):
            await cache.ping()


async def test_sentinels_that_require_a_password_are_asked_with_it(namespace: str) -> None:
    """REDIS_SENTINEL_PASSWORD authenticates to the sentinels (their own requirepass); a
    wrong one is a typed error that never shows either password."""
    with SentinelSetup(sentinel_password="sentinel-secret-7") as deployment:
        settings = CacheSettings(
            sentinels=deployment.sentinels,
            sentinel_master=deployment.name,
            sentinel_password="sentinel-secret-7",
            key_prefix=namespace,
            socket_timeout=0.5,
            socket_connect_timeout=0.5,
        )
        assert "sentinel-secret-7" not in repr(settings)
        async with BaseCache(settings) as cache, asyncio.timeout(GUARD):
            await cache.push_global_error("through the sentinels")
            assert await cache.pop_global_error() == "through the sentinels"
        wrong = settings.replace(sentinel_password="not-the-password-9")
        async with BaseCache(wrong) as cache, asyncio.timeout(GUARD):
            with pytest.raises(CacheUnavailableError) as caught:
                await cache.ping()
        shown = f"{caught.value!r} {caught.value} {caught.value.__cause__!r}"
        assert "not-the-password-9" not in shown
        assert "sentinel-secret-7" not in shown
