"""Redis Cluster on a local 3-node cluster, in every run (the whole integration suite runs
against one with ``pytest --redis-cluster``, a step of ``.ci/run``).

Promises: with ``REDIS_CLUSTER_MODE`` the caches work unchanged; admin scans see the keys of
every node; blocking pops and pub/sub work; closing releases the cluster clients.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from fullon_cache import BaseCache, CacheSettings, OrdersCache, TickCache, close_all
from fullon_cache.connection import connections_for
from fullon_cache.models import Order, Tick
from tests.conftest import raw_client
from tests.support.cluster import LocalCluster
from tests.support.pubsub import wait_for_subscribers


@pytest.fixture(scope="module")
def local_cluster(cluster: LocalCluster | None) -> Iterator[LocalCluster]:
    """The session's cluster under --redis-cluster, else one for this module."""
    if cluster is not None:
        yield cluster
        return
    with LocalCluster() as started:
        yield started


@pytest.fixture
def cluster_settings(local_cluster: LocalCluster, namespace: str) -> CacheSettings:
    return CacheSettings(
        cluster_mode=True, cluster_nodes=local_cluster.nodes[:1], key_prefix=namespace
    )


async def test_keys_spread_over_every_node_are_all_listed_and_deleted(
    cluster_settings: CacheSettings, local_cluster: LocalCluster
) -> None:
    async with TickCache(cluster_settings) as cache:
        exchanges = [f"ex{i}" for i in range(12)]  # hash tags spread these over the nodes
        for exchange in exchanges:
            await cache.set_ticker(
                Tick(symbol="BTC/USDT", exchange=exchange, price=1.0, time=time.time())
            )
        holding = 0
        for port in local_cluster.ports:
            with local_cluster.client(port) as node:
                holding += node.dbsize() > 0
        assert holding == len(local_cluster.ports)  # the test means something
        assert len(await cache.get_all_tickers()) == len(exchanges)
        listed = await cache.get_keys("*")
        assert {key for key in listed if key.startswith("{tickers:")} >= {
            f"{{tickers:{exchange}}}:latest" for exchange in exchanges
        }
        assert await cache.prepare_cache() == len(listed)
        assert await cache.get_keys("*") == []


async def test_blocking_pops_and_pub_sub_work_on_a_cluster(
    cluster_settings: CacheSettings,
) -> None:
    async with OrdersCache(cluster_settings) as cache:
        assert connections_for(cluster_settings).block_limit is None
        assert await cache.pop_open_order("bot 1", timeout=0.2) is None  # waited, empty
        await cache.push_open_order("bot 1", Order(order_id=7))
        assert await cache.pop_open_order("bot 1", timeout=1) == Order(order_id=7)
        waiting = asyncio.ensure_future(cache.get_next_ticker("BTC/USDT", "binance", 10))
        admin = raw_client(cluster_settings)
        try:
            await wait_for_subscribers(admin, cache._keys.ticker_updates("binance"), 1)
        finally:
            await admin.aclose()
        await cache.set_ticker(Tick(symbol="BTC/USDT", exchange="binance", price=2.0, time=1.0))
        assert (await waiting).price == 2.0  # type: ignore[union-attr]


async def test_close_all_releases_the_cluster_clients(cluster_settings: CacheSettings) -> None:
    async with BaseCache(cluster_settings) as cache:
        assert await cache.ping() is True
        conns = connections_for(cluster_settings)
        conns.blocking_client  # noqa: B018 - made on first use; closed with the rest
        await close_all()
        assert conns.closed
        assert await cache.ping() is True  # the next call opens fresh clients
