"""Real faults: a killed, frozen, paused or full server, lost replies, cancelled calls.

Every call must end within its deadline (socket timeout + 1 s) with a result or a typed
error. The outer ``asyncio.timeout(10)`` guards only turn a hang into a failure; they are not
performance assertions.
"""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from fullon_cache import (
    BaseCache,
    CacheError,
    CacheOutOfMemoryError,
    CacheSettings,
    CacheTimeoutError,
    CacheUnavailableError,
    CacheUnknownOutcomeError,
)
from fullon_cache.local_server import LocalRedisServer
from tests.conftest import raw_client
from tests.support.proxy import FaultProxy

GUARD = 10  # seconds; far above any deadline in these tests


async def test_killed_server_gives_a_typed_error_and_recovers_after_restart(
    server: LocalRedisServer, fast_settings: CacheSettings
) -> None:
    async with BaseCache(fast_settings) as cache:
        assert await cache.ping()
        server.kill()
        async with asyncio.timeout(GUARD):
            with pytest.raises(CacheUnavailableError):
                await cache.ping()
            with pytest.raises(CacheUnavailableError):
                await cache.push_global_error("nobody hears this")
            assert await cache.test() is False
        server.start()
        assert await cache.ping() is True
        await cache.push_global_error("back")
        assert await cache.pop_global_error() == "back"


async def test_a_read_right_after_its_connection_was_killed_succeeds(
    fast_settings: CacheSettings,
) -> None:
    async with BaseCache(fast_settings) as cache:
        await cache.push_global_error("survives")
        admin = raw_client(fast_settings)
        killed = await admin.client_kill_filter(_type="normal", skipme=True)
        await admin.aclose()
        assert killed >= 1
        assert await cache.get_keys() == ["errors:global"]
        assert await cache.pop_global_error() == "survives"


async def test_a_frozen_server_times_out_within_the_deadline(
    fast_settings: CacheSettings,
) -> None:
    admin = raw_client(fast_settings)
    async with BaseCache(fast_settings) as cache:
        await cache.ping()
        sleeper = asyncio.create_task(admin.execute_command("DEBUG", "SLEEP", 3))
        await asyncio.sleep(0.1)
        async with asyncio.timeout(GUARD):
            with pytest.raises(CacheTimeoutError, match="deadline"):
                await cache.ping()
        await sleeper
        assert await cache.ping() is True
    await admin.aclose()


async def test_a_write_during_a_write_pause_is_an_unknown_outcome_never_doubled(
    fast_settings: CacheSettings,
) -> None:
    admin = raw_client(fast_settings)
    async with BaseCache(fast_settings) as cache:
        await cache.ping()
        await admin.execute_command("CLIENT", "PAUSE", 2500, "WRITE")
        async with asyncio.timeout(GUARD):
            assert await cache.get_keys() == []  # reads still pass during a WRITE pause
            with pytest.raises(CacheUnknownOutcomeError):
                await cache.push_global_error("paused")
        await admin.execute_command("CLIENT", "UNPAUSE")
        await asyncio.sleep(0.2)
        key = f"{fast_settings.key_prefix}:errors:global"
        # Redis drops a paused command whose client went away: "unknown" really means either
        # outcome; what must never happen is the write being applied twice.
        assert await admin.lrange(key, 0, -1) in ([], [b"paused"])
    await admin.aclose()


async def test_a_lost_reply_to_a_write_is_an_unknown_outcome_never_resent(
    proxy: FaultProxy, proxied_settings: CacheSettings, fast_settings: CacheSettings
) -> None:
    async with BaseCache(proxied_settings) as cache:
        await cache.push_global_error("loads the script")
        assert await cache.pop_global_error() == "loads the script"
        proxy.drop_next_reply()
        async with asyncio.timeout(GUARD):
            with pytest.raises(CacheUnknownOutcomeError):
                await cache.push_global_error("exactly once")
    admin = raw_client(fast_settings)
    key = f"{fast_settings.key_prefix}:errors:global"
    assert await admin.lrange(key, 0, -1) == [b"exactly once"]
    await admin.aclose()


async def test_a_lost_reply_to_a_pop_raises_instead_of_looking_empty(
    proxy: FaultProxy, proxied_settings: CacheSettings
) -> None:
    async with BaseCache(proxied_settings) as cache:
        await cache.push_global_error("in flight")
        proxy.drop_next_reply()
        async with asyncio.timeout(GUARD):
            with pytest.raises(CacheUnknownOutcomeError):
                await cache.pop_global_error()


async def test_a_lost_reply_to_a_read_is_retried(
    proxy: FaultProxy, proxied_settings: CacheSettings
) -> None:
    async with BaseCache(proxied_settings) as cache:
        await cache.ping()
        proxy.drop_next_reply()
        async with asyncio.timeout(GUARD):
            assert await cache.ping() is True
        assert proxy.replies_dropped == 1


async def test_a_silent_network_ends_in_a_timeout_not_a_hang(
    proxy: FaultProxy, proxied_settings: CacheSettings
) -> None:
    async with BaseCache(proxied_settings) as cache:
        await cache.ping()
        proxy.blackhole()
        async with asyncio.timeout(GUARD):
            with pytest.raises(CacheTimeoutError):
                await cache.ping()
            with pytest.raises(CacheTimeoutError):
                await cache.pop_global_error(timeout=1)
        proxy.blackhole(False)
        assert await cache.ping() is True


async def test_a_cancelled_call_never_hands_its_reply_to_the_next_one(
    proxy: FaultProxy, proxied_settings: CacheSettings
) -> None:
    ns = proxied_settings.key_prefix
    settings = proxied_settings.replace(max_connections=1)  # both calls share one connection
    async with BaseCache(settings) as cache:
        await cache._run(lambda r: r.mset({f"{ns}:a": b"A", f"{ns}:b": b"B"}), idempotent=True)
        proxy.set_delay(0.3)
        slow = asyncio.create_task(cache._run(lambda r: r.get(f"{ns}:a"), idempotent=True))
        await proxy.wait_for_request()
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        proxy.set_delay(0)
        assert await cache._run(lambda r: r.get(f"{ns}:b"), idempotent=True) == b"B"
        assert await cache._run(lambda r: r.get(f"{ns}:a"), idempotent=True) == b"A"


async def test_a_killed_server_during_a_blocking_pop_raises(
    server: LocalRedisServer, fast_settings: CacheSettings
) -> None:
    async with BaseCache(fast_settings) as cache:
        await cache.ping()
        waiting = asyncio.create_task(cache.pop_global_error(timeout=5))
        await asyncio.sleep(0.2)
        server.kill()
        async with asyncio.timeout(GUARD):
            with pytest.raises(CacheUnknownOutcomeError):
                await waiting


async def test_out_of_memory_is_its_own_error_and_nothing_is_evicted(
    fast_settings: CacheSettings,
) -> None:
    admin: Redis = raw_client(fast_settings)
    used = int((await admin.info("memory"))["used_memory"])
    await admin.config_set("maxmemory", used + 200_000)
    try:
        async with BaseCache(fast_settings) as cache:
            with pytest.raises(CacheOutOfMemoryError):
                for i in range(1000):
                    await cache.push_global_error(f"{i}:" + "x" * 5000)
            assert await cache.pop_global_error() == "0:" + "x" * 5000  # nothing evicted
    finally:
        await admin.config_set("maxmemory", 0)
        await admin.aclose()


async def test_every_failure_is_a_cache_error(fast_settings: CacheSettings) -> None:
    unreachable = fast_settings.replace(unix_socket_path="/nonexistent/redis.sock")
    async with BaseCache(unreachable) as cache:
        with pytest.raises(CacheError) as caught:
            await cache.info()
        assert isinstance(caught.value.__cause__, Exception)  # always chained


async def test_a_subscription_waits_for_a_slow_confirmation(
    proxy: FaultProxy, proxied_settings: CacheSettings
) -> None:
    from fullon_cache import ProcessCache

    async with ProcessCache(proxied_settings.replace(socket_timeout=5)) as cache:
        await cache.ping()
        proxy.set_delay(1.1)  # every reply, the confirmation too, comes after more than one poll
        async with asyncio.timeout(GUARD), cache.broadcasts("tick") as messages:
            proxy.set_delay(0)
            assert await cache.broadcast_message("tick", "hello") == 1
            note = await anext(messages)
        assert note["message"] == "hello"


async def test_a_burst_of_first_calls_waits_for_connections_instead_of_failing(
    proxy: FaultProxy, proxied_settings: CacheSettings
) -> None:
    """More concurrent first calls than connections, slow replies: the one-time start-up
    check must take a connection like any call, so every caller waits its turn."""
    proxy.set_delay(0.05)
    async with BaseCache(proxied_settings.replace(max_connections=2, socket_timeout=5)) as cache:
        results = await asyncio.gather(*(cache.ping() for _ in range(20)))
    assert results == [True] * 20
