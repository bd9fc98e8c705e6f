"""FaultProxy against a real, private redis-server reached over a unix socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from fullon_cache.local_server import LocalRedisServer
from tests.support.proxy import FaultProxy

MakeClient = Callable[..., aioredis.Redis]


@pytest.fixture
def redis_sock(server: LocalRedisServer) -> Path:
    """The private server's unix socket (``server`` and ``proxy`` come from tests/conftest.py)."""
    return Path(server.socket_path)


@pytest.fixture
async def direct(redis_sock: Path) -> AsyncIterator[aioredis.Redis]:
    """A client talking to the server itself, bypassing the proxy."""
    client = aioredis.Redis(unix_socket_path=str(redis_sock), decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def make_client(proxy: FaultProxy) -> AsyncIterator[MakeClient]:
    """Build non-retrying clients through the proxy; all are closed at teardown."""
    clients: list[aioredis.Redis] = []

    def make(*, socket_timeout: float = 5.0, single: bool = False) -> aioredis.Redis:
        client = aioredis.Redis(
            host=proxy.host,
            port=proxy.port,
            socket_timeout=socket_timeout,
            retry=Retry(NoBackoff(), 0),
            single_connection_client=single,
            decode_responses=True,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def _eventually(probe: Callable[[], Awaitable[object]], expected: object) -> object:
    """Poll ``probe`` for up to 5 s until it returns ``expected``; return its last value."""
    for _ in range(250):
        if (value := await probe()) == expected:
            break
        await asyncio.sleep(0.02)
    return value


async def test_relays_commands(proxy: FaultProxy, make_client: MakeClient) -> None:
    client = make_client()
    assert await client.set("greeting", "hello") is True
    assert await client.get("greeting") == "hello"
    assert proxy.url == f"redis://127.0.0.1:{proxy.port}/0"
    assert proxy.connections == 1
    assert proxy.replies_dropped == 0


async def test_tcp_upstream_and_unreachable_upstream(proxy: FaultProxy, tmp_path: Path) -> None:
    async with await FaultProxy.start((proxy.host, proxy.port)) as chained:
        client = aioredis.Redis.from_url(chained.url, retry=Retry(NoBackoff(), 0))
        try:
            assert await client.ping() is True
            assert (chained.connections, proxy.connections) == (1, 1)
        finally:
            await client.aclose()
    async with await FaultProxy.start(str(tmp_path / "missing.sock")) as broken:
        client = aioredis.Redis(host=broken.host, port=broken.port, retry=Retry(NoBackoff(), 0))
        try:
            with pytest.raises(RedisConnectionError):
                await client.ping()
        finally:
            await client.aclose()


async def test_delay_keeps_replies_correct(
    proxy: FaultProxy, make_client: MakeClient, direct: aioredis.Redis
) -> None:
    client = make_client()
    await direct.set("k", "v")
    await client.ping()
    proxy.set_delay(0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await client.get("k") == "v"
    assert loop.time() - started >= 0.29
    pipe = client.pipeline(transaction=False)
    pipe.incr("n")
    pipe.incr("n")
    pipe.get("k")
    assert await pipe.execute() == [1, 2, "v"]
    proxy.set_delay(0)
    assert await client.get("k") == "v"
    with pytest.raises(ValueError, match=">= 0"):
        proxy.set_delay(-1)


async def test_drop_reply_closes_connection_after_execution(
    proxy: FaultProxy, make_client: MakeClient, direct: aioredis.Redis
) -> None:
    client = make_client()
    await client.ping()
    proxy.drop_next_reply()
    with pytest.raises(RedisConnectionError):
        await client.incr("counter")
    assert await direct.get("counter") == "1"
    assert proxy.replies_dropped == 1
    assert await client.incr("counter") == 2  # only one reply is dropped


async def test_drop_reply_without_close_times_out(
    proxy: FaultProxy, make_client: MakeClient, direct: aioredis.Redis
) -> None:
    client = make_client(socket_timeout=0.5)
    await client.ping()
    proxy.drop_next_reply(close=False)
    with pytest.raises(RedisTimeoutError):
        await client.incr("counter")
    assert await direct.get("counter") == "1"
    assert proxy.replies_dropped == 1


async def test_blackhole_times_out_then_recovers(
    proxy: FaultProxy, make_client: MakeClient, direct: aioredis.Redis
) -> None:
    client = make_client(socket_timeout=0.5)
    await client.ping()
    proxy.blackhole()
    with pytest.raises(RedisTimeoutError):
        await client.set("k", "lost")
    assert await direct.get("k") is None  # the request never reached the server
    proxy.blackhole(False)
    fresh = make_client(socket_timeout=0.5)
    assert await fresh.set("k", "v") is True
    assert await fresh.get("k") == "v"


async def test_reset_connections_breaks_existing_ones(
    proxy: FaultProxy, make_client: MakeClient
) -> None:
    client = make_client(single=True)
    assert await client.ping() is True
    proxy.reset_connections()
    with pytest.raises(RedisConnectionError):
        await client.ping()

    async def open_connections() -> int:
        return proxy.connections

    assert await _eventually(open_connections, 0) == 0
    fresh = make_client()
    assert await fresh.ping() is True
    assert proxy.connections == 1


async def test_wait_for_request_sees_forwarded_command(
    proxy: FaultProxy, make_client: MakeClient, direct: aioredis.Redis
) -> None:
    client = make_client()
    await client.ping()
    proxy.set_delay(1.0)

    async def incr() -> object:
        return await client.incr("counter")

    pending = asyncio.create_task(incr())
    await asyncio.wait_for(proxy.wait_for_request(), timeout=5)
    pending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending
    # the command was cancelled on the client side but had already been sent
    assert await _eventually(lambda: direct.get("counter"), "1") == "1"


async def test_stop_closes_every_connection(redis_sock: Path, direct: aioredis.Redis) -> None:
    async def upstream_clients() -> int:
        return len(await direct.client_list())

    assert await upstream_clients() == 1  # just `direct`
    proxy = await FaultProxy.start(str(redis_sock))
    clients = [
        aioredis.Redis(host=proxy.host, port=proxy.port, retry=Retry(NoBackoff(), 0))
        for _ in range(3)
    ]
    try:
        for client in clients:
            assert await client.ping() is True
        assert proxy.connections == 3
        assert await upstream_clients() == 4
        proxy.blackhole()  # stop() must also close connections that are stuck...
        async with asyncio.timeout(4):  # ...without needing its 5 s cancel fallback
            await proxy.stop()
        assert proxy.connections == 0
        assert await _eventually(upstream_clients, 1) == 1
        with pytest.raises(RedisConnectionError):
            await clients[0].ping()
        await proxy.stop()  # idempotent
    finally:
        for client in clients:
            await client.aclose()


async def test_requests_forwarded_counts_round_trips(proxy: FaultProxy) -> None:
    client = aioredis.Redis(host=proxy.host, port=proxy.port, retry=Retry(NoBackoff(), 0))
    await client.ping()
    before = proxy.requests_forwarded
    async with client.pipeline(transaction=False) as pipe:
        pipe.set("a", 1)
        pipe.get("a")
        await pipe.execute()
    assert proxy.requests_forwarded - before == 1
    await client.get("a")
    assert proxy.requests_forwarded - before == 2
    await client.aclose()
