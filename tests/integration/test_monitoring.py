"""Monitoring hooks on real calls: named per public method, errors typed, shared via Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from redis.asyncio import Redis

from fullon_cache import (
    BaseCache,
    CacheCorruptedValueError,
    CacheSettings,
    InvalidInputError,
    monitoring,
)
from fullon_cache.monitoring import OperationEvent
from tests.conftest import raw_client
from tests.support.proxy import FaultProxy


@pytest.fixture
def events(namespace: str) -> Iterator[list[OperationEvent]]:
    """The events of this test's namespace, from a listener registered for the test."""
    seen: list[OperationEvent] = []

    def listener(event: OperationEvent) -> None:
        if event.namespace == namespace:
            seen.append(event)

    monitoring.add_listener(listener)
    yield seen
    monitoring.remove_listener(listener)


@pytest.mark.standalone
async def test_each_call_is_named_after_the_public_method_it_serves(
    settings: CacheSettings, events: list[OperationEvent]
) -> None:
    async with BaseCache(settings) as cache:
        await cache.ping()
        await cache.push_global_error("feed down")  # through _push_text and a script
        await cache.get_keys("errors:*")  # through the _scan async generator
        await cache.pop_global_error(timeout=0.05)  # through _pop_text
        await cache.pop_global_error(timeout=0.05)  # empty: through _blocking_pop
    assert [e.name for e in events] == [
        "ping",
        "push_global_error",
        "get_keys",
        "pop_global_error",
        "pop_global_error",
    ]
    assert all(e.error is None and e.seconds > 0 for e in events)


async def test_a_failed_call_is_recorded_with_its_error(
    settings: CacheSettings, raw_redis: Redis, events: list[OperationEvent]
) -> None:
    monitoring.reset()
    async with BaseCache(settings) as cache:
        await raw_redis.set(f"{cache.namespace}:errors:global", b"not a list")
        with pytest.raises(CacheCorruptedValueError) as caught:
            await cache.pop_global_error()
    [event] = events
    assert (event.name, event.error) == ("pop_global_error", caught.value)
    stats = monitoring.snapshot()["pop_global_error"]
    assert (stats["calls"], stats["errors"]) == (1, 1)
    assert stats["error_types"] == {"CacheCorruptedValueError": 1}


async def test_a_cancelled_call_is_not_recorded(
    settings: CacheSettings, events: list[OperationEvent]
) -> None:
    async with BaseCache(settings) as cache:
        waiting = asyncio.create_task(cache.pop_global_error(timeout=30))
        await asyncio.sleep(0.1)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
    assert events == []


async def test_published_metrics_are_read_back_per_publisher(settings: CacheSettings) -> None:
    monitoring.reset()
    async with BaseCache(settings) as cache:
        await cache.ping()
        await cache.publish_metrics("ticker bot 1", ttl=30)
        published = await cache.get_published_metrics()
        assert list(published) == ["ticker bot 1"]
        snapshot = published["ticker bot 1"]
        assert snapshot["operations"]["ping"]["calls"] == 1
        assert snapshot["published_at"] > 0


async def test_published_metrics_expire_after_their_ttl(
    settings: CacheSettings, raw_redis: Redis
) -> None:
    async with BaseCache(settings) as cache:
        await cache.publish_metrics("short lived", ttl=30)
        pttl = await raw_redis.pttl(f"{cache.namespace}:metrics:short lived")
        assert 0 < pttl <= 30_000


@pytest.mark.parametrize("ttl", [0, 0.0001])
async def test_a_ttl_under_a_millisecond_is_refused_and_nothing_is_written(
    settings: CacheSettings, ttl: float
) -> None:
    async with BaseCache(settings) as cache:
        with pytest.raises(InvalidInputError, match="ttl"):
            await cache.publish_metrics("bot", ttl=ttl)
        assert await cache.get_keys() == []


@pytest.mark.parametrize("publisher", ["", "a*", "x{y}", "line\nbreak"])
async def test_a_publisher_name_that_could_escape_its_key_is_refused(
    settings: CacheSettings, publisher: str
) -> None:
    async with BaseCache(settings) as cache:
        with pytest.raises(InvalidInputError):
            await cache.publish_metrics(publisher)


@pytest.mark.parametrize(
    "planted",
    [
        b"\xff not json",
        b"[1, 2]",
        b'{"operations": {}}',
        b'{"published_at": 1, "operations": []}',
        b'{"published_at": 1, "operations": {"ping": 3}}',
    ],
)
async def test_a_corrupted_snapshot_is_skipped_and_counted(
    settings: CacheSettings, raw_redis: Redis, planted: bytes
) -> None:
    async with BaseCache(settings) as cache:
        await cache.publish_metrics("good")
        await raw_redis.set(f"{cache.namespace}:metrics:bad", planted)
        assert list(await cache.get_published_metrics()) == ["good"]
        assert cache.corrupted_skipped == 1


async def test_a_snapshot_key_of_the_wrong_type_is_skipped_and_counted(
    settings: CacheSettings, raw_redis: Redis
) -> None:
    async with BaseCache(settings) as cache:
        await raw_redis.rpush(f"{cache.namespace}:metrics:bad", b"x")
        assert await cache.get_published_metrics() == {}
        assert cache.corrupted_skipped == 1


@pytest.mark.standalone
async def test_a_snapshot_that_expires_between_the_scan_and_its_read_is_left_out(
    proxy: FaultProxy, proxied_settings: CacheSettings, fast_settings: CacheSettings
) -> None:
    admin = raw_client(fast_settings)  # straight to the server, not through the proxy
    patient = proxied_settings.replace(socket_timeout=5.0)  # the delay must not time out
    try:
        async with BaseCache(patient) as cache:
            await cache.publish_metrics("gone")
            await cache.publish_metrics("stays")
            proxy.set_delay(0.5)  # the SCAN runs, its reply waits in the proxy
            listing = asyncio.create_task(cache.get_published_metrics())
            await proxy.wait_for_request()
            await admin.delete(f"{cache.namespace}:metrics:gone")  # before the GETs are sent
            assert list(await listing) == ["stays"]
            assert cache.corrupted_skipped == 0
    finally:
        await admin.aclose()
