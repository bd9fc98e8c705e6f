"""Pool sharing, borrowed clients, the connection limit, server checks, transports."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator

import pytest
from redis.asyncio import Redis
from redis.asyncio.sentinel import (
    SentinelConnectionPool,
    SentinelManagedConnection,
    SentinelManagedSSLConnection,
)

from fullon_cache import (
    BaseCache,
    CacheSettings,
    CacheUnavailableError,
    close_all,
)
from fullon_cache.connection import (
    ConnectionPool,
    Connections,
    connection_class,
    connections_for,
    server_kwargs,
)
from fullon_cache.local_server import LocalRedisServer


async def _fullon_clients(raw: Redis) -> int:
    return sum(1 for client in await raw.client_list() if client["name"] == "fullon_cache")


async def _connections_received(raw: Redis) -> int:
    return int((await raw.info("stats"))["total_connections_received"])


@pytest.fixture
def env_server(monkeypatch: pytest.MonkeyPatch, redis_url: str, namespace: str) -> None:
    """Point no-argument caches at the test server and namespace."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("REDIS_KEY_PREFIX", namespace)


@pytest.fixture
def tcp_server() -> Iterator[LocalRedisServer]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with LocalRedisServer("--port", str(port), "--bind", "127.0.0.1") as server:
        server.tcp_port = port  # type: ignore[attr-defined]
        yield server


@pytest.mark.usefixtures("env_server")
async def test_a_thousand_short_lived_caches_share_one_pool(raw_redis: Redis) -> None:
    await close_all()
    before = await _connections_received(raw_redis)
    for _ in range(1000):
        async with BaseCache() as cache:
            await cache.ping()
    assert await _connections_received(raw_redis) - before <= 2
    assert await _fullon_clients(raw_redis) <= 2


async def test_instances_share_connections_whatever_their_namespace(
    settings: CacheSettings,
) -> None:
    first, second = BaseCache(settings), BaseCache(settings, key_prefix="another")
    await first.ping()
    await second.ping()
    assert first._connections() is second._connections() is connections_for(settings)


@pytest.mark.usefixtures("env_server")
async def test_default_settings_are_read_once_and_again_after_close_all(
    monkeypatch: pytest.MonkeyPatch, namespace: str
) -> None:
    await close_all()
    assert BaseCache().namespace == namespace
    monkeypatch.setenv("REDIS_KEY_PREFIX", "changed")
    assert BaseCache().namespace == namespace
    await close_all()
    assert BaseCache().namespace == "changed"
    await ConnectionPool.reset_async()  # the older library's spelling does the same
    monkeypatch.setenv("REDIS_KEY_PREFIX", "changed_again")
    assert BaseCache().namespace == "changed_again"


async def test_an_open_instance_survives_close_all(
    settings: CacheSettings, raw_redis: Redis
) -> None:
    async with BaseCache(settings) as cache:
        await cache.ping()
        old = cache._connections()
        await close_all()
        assert old.closed
        assert await cache.ping() is True
        assert cache._connections() is not old
    await close_all()
    await asyncio.sleep(0.05)
    assert await _fullon_clients(raw_redis) == 0


@pytest.mark.standalone
async def test_a_borrowed_client_is_never_closed(settings: CacheSettings) -> None:
    client = Redis(unix_socket_path=settings.unix_socket_path)
    async with BaseCache(settings, redis=client) as cache:
        assert await cache.ping()
        async with cache._redis_context() as redis:
            assert redis is client
    await close_all()
    assert await client.ping() is True
    await client.aclose()


@pytest.mark.standalone
async def test_a_long_block_on_a_borrowed_client_is_split_under_its_socket_timeout(
    settings: CacheSettings,
) -> None:
    client = Redis(unix_socket_path=settings.unix_socket_path, socket_timeout=0.5)
    async with BaseCache(settings, redis=client) as cache:
        assert await cache.pop_global_error(timeout=1.6) is None
        await cache.push_global_error("via borrowed client")
        assert await cache.pop_global_error(timeout=1) == "via borrowed client"
    await client.aclose()


@pytest.mark.standalone
async def test_callers_wait_for_a_free_connection_instead_of_failing(
    settings: CacheSettings, raw_redis: Redis
) -> None:
    small = settings.replace(max_connections=2)
    async with BaseCache(small) as cache:
        results = await asyncio.gather(*(cache.ping() for _ in range(60)))
        assert results == [True] * 60
        assert await _fullon_clients(raw_redis) <= 2


async def test_blocking_pops_do_not_take_the_connections_of_other_calls(
    settings: CacheSettings,
) -> None:
    small = settings.replace(max_connections=1)
    async with BaseCache(small) as cache:
        waiting = asyncio.create_task(cache.pop_global_error(timeout=5))
        await asyncio.sleep(0.1)
        assert await asyncio.wait_for(cache.ping(), 2) is True
        await cache.push_global_error("done")
        assert await waiting == "done"


async def test_a_warning_when_redis_may_evict_keys(caplog: pytest.LogCaptureFixture) -> None:
    with LocalRedisServer("--maxmemory-policy", "allkeys-lru") as server:
        settings = CacheSettings.from_url(server.url)
        with caplog.at_level(logging.WARNING, logger="fullon.cache.connection"):
            async with BaseCache(settings) as cache:
                await cache.ping()
                await cache.ping()
            await close_all()
    warnings = [r for r in caplog.records if "maxmemory-policy" in r.getMessage()]
    assert len(warnings) == 1
    assert "allkeys-lru" in warnings[0].getMessage()


async def test_no_warning_under_noeviction(
    settings: CacheSettings, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="fullon.cache.connection"):
        async with BaseCache(settings) as cache:
            await cache.ping()
    assert not [r for r in caplog.records if "maxmemory-policy" in r.getMessage()]


@pytest.mark.standalone
async def test_acl_user_without_info_works_and_skips_the_policy_check(
    settings: CacheSettings, raw_redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    user = f"u_{settings.key_prefix}"
    await raw_redis.acl_setuser(
        user, enabled=True, passwords=["+pw"], keys=["*"], commands=["+@all", "-info"]
    )
    try:
        acl = settings.replace(username=user, password="pw")
        with caplog.at_level(logging.WARNING):
            async with BaseCache(acl) as cache:
                assert await cache.ping() is True
                await cache.push_global_error("as an ACL user")
        assert not caplog.records
    finally:
        await raw_redis.acl_deluser(user)


async def test_wrong_password_is_unavailable_not_retried(settings: CacheSettings) -> None:
    wrong = settings.replace(username="nobody", password="wrong")
    async with BaseCache(wrong) as cache:
        with pytest.raises(CacheUnavailableError, match="authentication failed"):
            await cache.ping()
        assert await cache.test() is False


async def test_an_unreachable_cluster_is_unavailable(namespace: str) -> None:
    settings = CacheSettings(
        cluster_mode=True,
        cluster_nodes=(("127.0.0.1", 1),),  # nothing listens there
        key_prefix=namespace,
        socket_connect_timeout=0.5,
    )
    async with BaseCache(settings) as cache:
        with pytest.raises(CacheUnavailableError, match="Redis Cluster"):
            await cache.ping()


async def test_tcp_connections_work(tcp_server: LocalRedisServer) -> None:
    settings = CacheSettings(host="127.0.0.1", port=tcp_server.tcp_port)  # type: ignore[attr-defined]
    async with BaseCache(settings) as cache:
        assert await cache.ping() is True


async def test_tls_against_a_plain_server_fails_as_unavailable(
    tcp_server: LocalRedisServer,
) -> None:
    settings = CacheSettings(
        host="127.0.0.1",
        port=tcp_server.tcp_port,  # type: ignore[attr-defined]
        ssl=True,
        socket_timeout=1,
        socket_connect_timeout=0.2,
    )
    async with BaseCache(settings) as cache:
        with pytest.raises(CacheUnavailableError):
            await cache.ping()


@pytest.mark.standalone
async def test_closing_borrowed_connections_leaves_the_callers_client_open(
    settings: CacheSettings,
) -> None:
    client = Redis(unix_socket_path=settings.unix_socket_path)
    borrowed = Connections.borrowed(client, settings)
    await borrowed.aclose()
    assert borrowed.closed
    assert await client.ping() is True
    await client.aclose()


@pytest.mark.parametrize(
    ("ssl", "expected"),
    [(False, SentinelManagedConnection), (True, SentinelManagedSSLConnection)],
)
async def test_sentinel_pools_use_send_tracking_connections_to_the_named_master(
    ssl: bool, expected: type
) -> None:
    settings = CacheSettings(sentinels=(("127.0.0.1", 1),), ssl=ssl, ssl_ca_certs=None)
    assert connection_class(settings) is expected
    assert "host" not in server_kwargs(settings)  # the sentinels name the master
    conns = connections_for(settings)
    pool = conns.client.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert issubclass(pool.connection_class, expected)
    assert pool.connection_class is not expected  # the send-tracking subclass
    assert conns.blocking_client.connection_pool is not pool
    await close_all()
    assert conns.closed
