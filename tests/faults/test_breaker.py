"""The circuit breaker against a real server: killed, frozen, back again.

Promise (issue 9): after repeated failures to reach Redis, calls fail fast with a typed
error for a cool-down instead of each waiting out its timeout, and a probe closes the
breaker when Redis is back. The proxy's ``accepted`` counter proves "fast": a refused call
opens no connection at all. The outer ``asyncio.timeout`` guards only turn a hang into a
failure; no test asserts a duration.
"""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from fullon_cache import (
    BaseCache,
    CacheCircuitOpenError,
    CacheCorruptedValueError,
    CacheSettings,
    CacheTimeoutError,
    CacheUnavailableError,
    TickCache,
)
from fullon_cache.local_server import LocalRedisServer
from tests.conftest import raw_client
from tests.support.proxy import FaultProxy

GUARD = 15  # seconds; far above any deadline here
COOLDOWN = 0.3


@pytest.fixture
def breaker_settings(proxied_settings: CacheSettings) -> CacheSettings:
    """Through the proxy (to count connections), with a breaker that opens after 3 failures."""
    return proxied_settings.replace(circuit_threshold=3, circuit_cooldown=COOLDOWN)


async def _fail_until_open(cache: BaseCache) -> None:
    for _ in range(3):
        with pytest.raises(CacheUnavailableError) as caught:
            await cache.ping()
        assert not isinstance(caught.value, CacheCircuitOpenError)


async def test_a_dead_server_opens_the_breaker_and_calls_fail_fast_without_connecting(
    server: LocalRedisServer, proxy: FaultProxy, breaker_settings: CacheSettings
) -> None:
    settings = breaker_settings.replace(circuit_cooldown=60.0)  # no probe during this test
    async with BaseCache(settings) as cache, asyncio.timeout(GUARD):
        await cache.ping()
        server.kill()
        await _fail_until_open(cache)
        connections = proxy.accepted
        for _ in range(20):
            with pytest.raises(CacheCircuitOpenError, match="3 failed calls in a row"):
                await cache.push_global_error("never sent")
        # The clients' pattern, a fresh instance per call, shares the pool's breaker.
        async with TickCache(settings) as other:
            with pytest.raises(CacheCircuitOpenError):
                await other.get_ticker("BTC/USDT", "binance")
            with pytest.raises(CacheCircuitOpenError):  # a subscription opens nothing either
                await other.get_next_ticker("BTC/USDT", "binance", timeout=GUARD)
        assert proxy.accepted == connections  # not one connection attempt while open


async def test_the_probe_closes_the_breaker_once_the_server_is_back(
    server: LocalRedisServer, breaker_settings: CacheSettings
) -> None:
    async with BaseCache(breaker_settings) as cache, asyncio.timeout(GUARD):
        server.kill()
        await _fail_until_open(cache)
        with pytest.raises(CacheCircuitOpenError):
            await cache.ping()
        server.start()
        await asyncio.sleep(COOLDOWN)  # the cooldown must pass before a probe is sent
        await cache.push_global_error("back")  # probe (PING) + this call
        assert await cache.pop_global_error() == "back"


async def test_a_failed_probe_keeps_failing_fast_until_a_later_probe_succeeds(
    server: LocalRedisServer, proxy: FaultProxy, breaker_settings: CacheSettings
) -> None:
    async with BaseCache(breaker_settings) as cache, asyncio.timeout(GUARD):
        server.kill()
        await _fail_until_open(cache)
        await asyncio.sleep(COOLDOWN)
        connections = proxy.accepted
        with pytest.raises(CacheCircuitOpenError) as caught:
            await cache.ping()  # this one probes: the server is still down
        assert isinstance(caught.value.__cause__, CacheUnavailableError)
        assert proxy.accepted == connections + 1  # the probe, and nothing else
        with pytest.raises(CacheCircuitOpenError):
            await cache.ping()  # a new cooldown started with the failed probe
        assert proxy.accepted == connections + 1
        server.start()
        await asyncio.sleep(COOLDOWN)
        assert await cache.ping() is True


async def test_a_frozen_server_opens_the_breaker_too(
    fast_settings: CacheSettings,
) -> None:
    settings = fast_settings.replace(circuit_threshold=1, circuit_cooldown=60.0)
    admin = raw_client(fast_settings)
    async with BaseCache(settings) as cache, asyncio.timeout(GUARD):
        await cache.ping()
        sleeper = asyncio.create_task(admin.execute_command("DEBUG", "SLEEP", 2))
        await asyncio.sleep(0.1)
        with pytest.raises(CacheTimeoutError):
            await cache.ping()
        with pytest.raises(CacheCircuitOpenError, match="CacheTimeoutError"):
            await cache.ping()
        await sleeper
    await admin.aclose()


async def test_errors_from_a_reachable_server_never_open_it(
    fast_settings: CacheSettings,
) -> None:
    settings = fast_settings.replace(circuit_threshold=1, circuit_cooldown=60.0)
    admin: Redis = raw_client(fast_settings)
    async with BaseCache(settings) as cache, asyncio.timeout(GUARD):
        await admin.set(f"{cache.namespace}:errors:global", b"not a list")
        for _ in range(3):
            with pytest.raises(CacheCorruptedValueError):
                await cache.pop_global_error()
        assert await cache.ping() is True
    await admin.aclose()


async def test_a_success_resets_the_count_of_failures(
    server: LocalRedisServer, breaker_settings: CacheSettings
) -> None:
    async with BaseCache(breaker_settings) as cache, asyncio.timeout(GUARD):
        for _ in range(3):  # 2 failures, a success, 2 failures: never 3 in a row
            server.kill()
            for _ in range(2):
                with pytest.raises(CacheUnavailableError) as caught:
                    await cache.ping()
                assert not isinstance(caught.value, CacheCircuitOpenError)
            server.start()
            assert await cache.ping() is True


async def test_a_borrowed_client_has_a_breaker_too(
    server: LocalRedisServer, fast_settings: CacheSettings
) -> None:
    settings = fast_settings.replace(circuit_threshold=2, circuit_cooldown=60.0)
    client = raw_client(fast_settings)
    async with BaseCache(settings, redis=client) as cache, asyncio.timeout(GUARD):
        await cache.ping()
        server.kill()
        for _ in range(2):  # the caller's client retries on its own: it may time out
            with pytest.raises((CacheUnavailableError, CacheTimeoutError)):
                await cache.ping()
        async with BaseCache(settings, redis=client) as again:
            with pytest.raises(CacheCircuitOpenError):
                await again.ping()
    await client.aclose()
