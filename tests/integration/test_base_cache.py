"""BaseCache against a real server: lifecycle, admin calls, the global error queue."""

from __future__ import annotations

import asyncio
import math

import pytest
from redis.asyncio import Redis

from fullon_cache import (
    BaseCache,
    CacheClosedError,
    CacheCorruptedValueError,
    CacheSettings,
    InvalidInputError,
    InvalidTypeError,
)

# -- lifecycle ---------------------------------------------------------------------------


async def test_async_with_returns_the_instance_and_closes_it(settings: CacheSettings) -> None:
    cache = BaseCache(settings)
    async with cache as entered:
        assert entered is cache
        assert await cache.ping() is True
    assert cache.closed


async def test_aclose_is_idempotent_and_close_is_an_alias(settings: CacheSettings) -> None:
    cache = BaseCache(settings)
    await cache.aclose()
    await cache.aclose()
    await cache.close()
    assert cache.closed


async def test_use_after_close_is_a_clear_error(settings: CacheSettings) -> None:
    cache = BaseCache(settings)
    await cache.aclose()
    with pytest.raises(CacheClosedError, match="BaseCache was used after it was closed"):
        await cache.ping()
    with pytest.raises(CacheClosedError):
        async with cache:
            pass
    assert await cache.test() is False


@pytest.mark.standalone
async def test_compat_cache_property_and_redis_context(settings: CacheSettings) -> None:
    async with BaseCache(settings) as cache:
        assert cache._cache is cache
        await cache.push_global_error("x")
        async with cache._redis_context() as redis:
            assert isinstance(redis, Redis)
            assert await redis.exists(f"{settings.key_prefix}:errors:global") == 1


async def test_repr_names_the_server_and_state_but_never_the_password(redis_url: str) -> None:
    settings = CacheSettings.from_url(redis_url, password="hunter2", key_prefix="ns")
    cache = BaseCache(settings)
    assert "ns=ns open" in repr(cache)
    assert "hunter2" not in repr(cache)
    await cache.aclose()
    assert repr(cache).endswith("closed>")


async def test_key_prefix_argument_overrides_the_settings(settings: CacheSettings) -> None:
    async with BaseCache(settings, key_prefix="other_ns") as cache:
        assert cache.namespace == "other_ns"
        assert cache.settings.key_prefix == "other_ns"
        assert cache.settings.connection_key == settings.connection_key
    with pytest.raises(ValueError, match="key_prefix"):
        BaseCache(settings, key_prefix="bad:prefix")


# -- admin calls -------------------------------------------------------------------------


async def test_ping_and_test(settings: CacheSettings) -> None:
    async with BaseCache(settings) as cache:
        assert await cache.ping() is True
        assert await cache.test() is True


async def test_info_whole_and_one_section(settings: CacheSettings) -> None:
    async with BaseCache(settings) as cache:
        assert "redis_version" in await cache.info()
        memory = await cache.info("memory")
        assert memory["maxmemory_policy"] == "noeviction"
        assert "redis_version" not in memory
        with pytest.raises(InvalidInputError):
            await cache.info("memory\r\nFLUSHALL")


async def test_get_keys_stays_inside_the_namespace(
    settings: CacheSettings, raw_redis: Redis
) -> None:
    ns = settings.key_prefix
    await raw_redis.set(f"{ns}:tickers:binance", 1)
    await raw_redis.set(f"{ns}:tickers:kraken", 1)
    await raw_redis.set(f"{ns}:orders:1", 1)
    await raw_redis.set(f"{ns}x:tickers:binance", 1)  # a namespace that starts with ours
    await raw_redis.set(f"other_{ns}:tickers:binance", 1)
    async with BaseCache(settings) as cache:
        assert await cache.get_keys() == ["orders:1", "tickers:binance", "tickers:kraken"]
        assert await cache.get_keys("tickers:*") == ["tickers:binance", "tickers:kraken"]
        assert await cache.get_keys("tickers:[b]*") == ["tickers:binance"]
        assert await cache.get_keys("nothing:*") == []
        with pytest.raises(InvalidInputError):
            await cache.get_keys("")


async def test_prepare_cache_deletes_only_its_namespace(
    settings: CacheSettings, raw_redis: Redis
) -> None:
    ns = settings.key_prefix
    async with raw_redis.pipeline(transaction=False) as pipe:
        for i in range(2500):  # more than one SCAN/UNLINK batch
            pipe.set(f"{ns}:k:{i}", i)
        pipe.set(f"{ns}x:survivor", 1)
        await pipe.execute()
    async with BaseCache(settings) as cache:
        assert await cache.prepare_cache() == 2500
        assert await cache.get_keys() == []
        assert await cache.prepare_cache() == 0
    assert await raw_redis.get(f"{ns}x:survivor") == b"1"
    await raw_redis.delete(f"{ns}x:survivor")


async def test_flushdb_empties_the_database(redis_url: str) -> None:
    from fullon_cache.local_server import LocalRedisServer

    # FLUSHDB would wipe other tests' keys on the shared server: use a private one.
    with LocalRedisServer() as server:
        settings = CacheSettings.from_url(server.url)
        async with BaseCache(settings) as cache:
            await cache.push_global_error("x")
            assert await cache.flushdb() is True
            async with cache._redis_context() as redis:
                assert await redis.dbsize() == 0


# -- global error queue ------------------------------------------------------------------


async def test_global_errors_are_fifo(settings: CacheSettings) -> None:
    async with BaseCache(settings) as cache:
        for message in ("first", "second", "third: with spaces\nand lines ✓"):
            await cache.push_global_error(message)
        assert await cache.pop_global_error() == "first"
        assert await cache.pop_global_error(timeout=1) == "second"
        assert await cache.pop_global_error() == "third: with spaces\nand lines ✓"
        assert await cache.pop_global_error() is None


async def test_global_error_queue_is_capped(settings: CacheSettings, raw_redis: Redis) -> None:
    class SmallCap(BaseCache):
        GLOBAL_ERROR_CAP = 3

    async with SmallCap(settings) as cache:
        for i in range(5):
            await cache.push_global_error(f"e{i}")
        assert await raw_redis.llen(f"{settings.key_prefix}:errors:global") == 3
        assert [await cache.pop_global_error() for _ in range(4)] == ["e2", "e3", "e4", None]


@pytest.mark.parametrize(
    ("error", "exc"),
    [(None, InvalidTypeError), (b"bytes", InvalidTypeError), (42, InvalidTypeError),
     ("", InvalidInputError), ("   ", InvalidInputError)],
)  # fmt: skip
async def test_bad_error_messages_raise_and_write_nothing(
    settings: CacheSettings, raw_redis: Redis, error: object, exc: type[Exception]
) -> None:
    async with BaseCache(settings) as cache:
        with pytest.raises(exc):
            await cache.push_global_error(error)  # type: ignore[arg-type]
    assert await raw_redis.exists(f"{settings.key_prefix}:errors:global") == 0


@pytest.mark.parametrize(
    ("timeout", "exc"),
    [(-1, InvalidInputError), (math.nan, InvalidInputError), (math.inf, InvalidInputError),
     (True, InvalidTypeError), ("1", InvalidTypeError), (None, InvalidTypeError)],
)  # fmt: skip
async def test_bad_pop_timeouts_raise(
    settings: CacheSettings, timeout: object, exc: type[Exception]
) -> None:
    async with BaseCache(settings) as cache:
        await cache.push_global_error("kept")
        with pytest.raises(exc):
            await cache.pop_global_error(timeout)  # type: ignore[arg-type]
        assert await cache.pop_global_error() == "kept"


async def test_blocking_pop_returns_an_error_pushed_while_waiting(settings: CacheSettings) -> None:
    async with BaseCache(settings) as consumer, BaseCache(settings) as producer:
        waiter = asyncio.create_task(consumer.pop_global_error(timeout=10))
        await asyncio.sleep(0.2)
        await producer.push_global_error("late")
        assert await asyncio.wait_for(waiter, 10) == "late"


async def test_blocking_pop_on_an_empty_queue_returns_none(settings: CacheSettings) -> None:
    async with BaseCache(settings) as cache:
        assert await cache.pop_global_error(timeout=0.3) is None


@pytest.mark.slow
async def test_a_block_longer_than_the_socket_timeout_returns_none(
    settings: CacheSettings,
) -> None:
    assert settings.socket_timeout == 5
    async with BaseCache(settings) as cache:
        assert await asyncio.wait_for(cache.pop_global_error(timeout=7), 30) is None


@pytest.mark.parametrize("payload", [b"\xff\xfe{not text", b"\xc3"])
async def test_corrupted_bytes_raise_the_corrupted_value_error(
    settings: CacheSettings, raw_redis: Redis, payload: bytes
) -> None:
    key = f"{settings.key_prefix}:errors:global"
    await raw_redis.rpush(key, payload, b"fine")
    async with BaseCache(settings) as cache:
        with pytest.raises(CacheCorruptedValueError) as caught:
            await cache.pop_global_error()
        assert caught.value.key == key
        assert repr(payload)[2:-1] not in str(caught.value)
        assert await cache.pop_global_error() == "fine"  # the rest of the queue is intact


async def test_a_key_of_the_wrong_type_is_reported_as_corrupted(
    settings: CacheSettings, raw_redis: Redis
) -> None:
    key = f"{settings.key_prefix}:errors:global"
    await raw_redis.set(key, "not a list")
    async with BaseCache(settings) as cache:
        with pytest.raises(CacheCorruptedValueError, match="wrong Redis type"):
            await cache.pop_global_error()
        with pytest.raises(CacheCorruptedValueError):
            await cache.push_global_error("x")
    assert await raw_redis.get(key) == b"not a list"


# -- pipeline ----------------------------------------------------------------------------


async def test_pipeline_sends_queued_commands_on_exit(
    settings: CacheSettings, raw_redis: Redis
) -> None:
    ns = settings.key_prefix
    async with BaseCache(settings) as cache:
        async with cache.pipeline() as pipe:
            pipe.set(f"{ns}:a", 1)
            pipe.incr(f"{ns}:a")
        assert await raw_redis.get(f"{ns}:a") == b"2"
        async with cache.pipeline(transaction=True) as pipe:
            pipe.incr(f"{ns}:a")
            pipe.get(f"{ns}:a")
            assert await pipe.execute() == [3, b"3"]
        assert await raw_redis.get(f"{ns}:a") == b"3"  # executed once, not again on exit


async def test_pipeline_sends_nothing_when_the_block_raises(
    settings: CacheSettings, raw_redis: Redis
) -> None:
    async with BaseCache(settings) as cache:
        with pytest.raises(RuntimeError):
            async with cache.pipeline() as pipe:
                pipe.set(f"{settings.key_prefix}:never", 1)
                raise RuntimeError
    assert await raw_redis.exists(f"{settings.key_prefix}:never") == 0
