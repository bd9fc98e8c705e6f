"""Redis Cluster failover: a master crashes and the cluster promotes its replica.

Promises: calls caught in the failover end with a typed error within their deadline; once
the replica is promoted, calls reach it without a restart, what was replicated before the
crash is read back, and a ticker stream resubscribes on the new master and goes on (sharded
pub/sub on Redis 7+, classic on 6.2). Replication is asynchronous: a write the crashed master
had not yet replicated is lost (the reliability guide says so); the test replicates first
(``WAIT``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

import pytest
from redis.asyncio import Redis

from fullon_cache import CacheError, CacheSettings, TickCache
from fullon_cache.local_server import find_redis_server, server_version
from fullon_cache.models import Tick
from tests.conftest import raw_client
from tests.support.cluster import LocalCluster, sharding_server
from tests.support.pubsub import wait_for_subscribers

GUARD = 30  # seconds; the cluster promotes a replica about 2-3 s after its master died


def _servers() -> list[str]:
    """The suite's redis-server (classic pub/sub before Redis 7) and, when it differs, the
    server that shards pub/sub."""
    servers = [find_redis_server()]
    sharding = sharding_server()
    if sharding is not None and server_version(sharding) != server_version(servers[0]):
        servers.append(sharding)
    return servers


@pytest.fixture(
    params=_servers(), ids=lambda binary: "v" + ".".join(map(str, server_version(binary)))
)
def replicated(request: pytest.FixtureRequest) -> Iterator[LocalCluster]:
    with LocalCluster(request.param, replicas=True) as cluster:
        yield cluster


def _tick(price: float) -> Tick:
    return Tick(symbol="BTC/USDT", exchange="binance", price=price, time=time.time())


async def test_after_a_master_crashes_its_promoted_replica_serves_calls_and_streams(
    replicated: LocalCluster, namespace: str
) -> None:
    settings = CacheSettings(
        cluster_mode=True,
        cluster_nodes=replicated.nodes,
        key_prefix=namespace,
        socket_timeout=0.5,
        socket_connect_timeout=0.5,
        circuit_threshold=0,
    )
    async with TickCache(settings) as cache, asyncio.timeout(GUARD):
        await cache.set_ticker(_tick(1.0))
        key = cache._keys.tickers("binance")
        master = await replicated.owner_port(key)
        async with Redis(host="127.0.0.1", port=master) as node:
            assert await node.execute_command("WAIT", 1, 2000) == 1  # replicated

        stream = cache.stream_ticker_updates("binance", reconnect_timeout=GUARD)
        async with contextlib.aclosing(stream) as ticks:
            assert (await anext(ticks)).price == 1.0  # the stored one, then live updates
            admin = raw_client(settings)
            try:
                await wait_for_subscribers(admin, cache._keys.ticker_updates("binance"), 1)
            finally:
                await admin.aclose()

            replicated.kill(master)
            errors: list[CacheError] = []
            while True:
                try:
                    await cache.set_ticker(_tick(2.0))
                    break
                except CacheError as error:  # typed, within the deadline, until promoted
                    errors.append(error)
                    await asyncio.sleep(0.1)
            assert await replicated.owner_port(key) != master
            assert (await cache.get_ticker("BTC/USDT", "binance")).price == 2.0  # type: ignore[union-attr]
            assert (await anext(ticks)).price == 2.0  # resubscribed on the new master
            await cache.set_ticker(_tick(3.0))
            assert (await anext(ticks)).price == 3.0
    assert errors  # the test met the failover window
