"""The recommended ACL line on a Redis 7+ cluster: the cluster client reads the slot map,
scripts run on the slot's node, blocking pops wait there, and pub/sub is sharded, all under
a user confined to its namespace (the line is set on every node, as ACLs are per node)."""

from __future__ import annotations

import asyncio
import time

from redis import Redis as SyncRedis

from fullon_cache import CacheSettings, OrdersCache, ProcessCache, TickCache
from fullon_cache.models import Order, Tick
from tests.security.conftest import ACL_PASSWORD, recommended_acl
from tests.support.cluster import LocalCluster
from tests.support.pubsub import subscribers_on_ports, wait_for_count

GUARD = 10.0


async def test_the_recommended_line_works_on_a_sharded_cluster(
    sharding_cluster: LocalCluster, namespace: str
) -> None:
    user = f"app_{namespace}"
    for port in sharding_cluster.ports:
        with SyncRedis(host="127.0.0.1", port=port) as node:
            node.execute_command(
                "ACL", "SETUSER", user,
                *recommended_acl(namespace, ACL_PASSWORD, sharding_cluster.version),
            )  # fmt: skip
    settings = CacheSettings(
        cluster_mode=True,
        cluster_nodes=sharding_cluster.nodes[:1],
        username=user,
        password=ACL_PASSWORD,
        key_prefix=namespace,
    )
    async with (
        TickCache(settings) as ticks,
        OrdersCache(settings) as orders,
        ProcessCache(settings) as processes,
        asyncio.timeout(GUARD),
    ):
        channel = ticks._keys.ticker_updates("binance")
        waiting = asyncio.ensure_future(ticks.get_next_ticker("BTC/USDT", "binance", GUARD))
        ports = sharding_cluster.ports
        await wait_for_count(lambda: subscribers_on_ports(ports, channel, sharded=True), 1)
        tick = Tick(symbol="BTC/USDT", exchange="binance", price=5.0, time=time.time())
        assert await ticks.set_ticker(tick) is True
        assert (await waiting).price == 5.0  # type: ignore[union-attr]
        assert (await ticks.get_ticker("BTC/USDT", "binance")).price == 5.0  # type: ignore[union-attr]

        await orders.push_open_order("bot 1", Order(order_id=1))
        assert await orders.pop_open_order("bot 1", timeout=1) == Order(order_id=1)

        async with processes.broadcasts("bot") as messages:
            assert await processes.broadcast_message("bot", "halt") == 1
            assert (await anext(messages))["message"] == "halt"
