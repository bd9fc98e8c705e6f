"""Raw pub/sub helpers for tests that watch what the library publishes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import ClusterPubSub, RedisCluster
from redis.exceptions import ResponseError

GUARD = 10  # seconds; only turns a hang into a failure


@contextlib.asynccontextmanager
async def listening(
    raw_redis: Redis, channel: str, *, pattern: bool = False
) -> AsyncIterator[PubSub]:
    """A raw subscription to a channel (or a glob ``pattern``), confirmed by the server
    before the block runs; sharded (SSUBSCRIBE) on a Redis 7+ cluster, as the library
    publishes there."""
    pubsub = raw_redis.pubsub()
    try:
        if pattern:
            await pubsub.psubscribe(channel)
        elif await shards_pub_sub(raw_redis):
            await pubsub.ssubscribe(channel)
        else:
            await pubsub.subscribe(channel)
        async with asyncio.timeout(GUARD):
            message = None
            while message is None or message["type"] not in _CONFIRMATIONS:
                message = await _receive(pubsub, timeout=1.0)
        yield pubsub
    finally:
        await pubsub.aclose()


async def shards_pub_sub(raw_redis: Redis) -> bool:
    """Whether the library publishes with SPUBLISH here (a cluster of Redis 7+)."""
    if not isinstance(raw_redis, RedisCluster):
        return False
    version = (await raw_redis.info("server"))["redis_version"]
    return int(str(version).split(".")[0]) >= 7


async def publish(raw_redis: Redis, channel: str, payload: bytes) -> int:
    """Publish as the library does here (SPUBLISH on a Redis 7+ cluster); the receivers."""
    if await shards_pub_sub(raw_redis):
        return int(await raw_redis.spublish(channel, payload))
    return int(await raw_redis.publish(channel, payload))


async def next_message(pubsub: PubSub) -> bytes:
    async with asyncio.timeout(GUARD):
        while True:
            message = await message_within(pubsub, 1.0)
            if message is not None:
                data: bytes = message["data"]
                return data


async def message_within(pubsub: PubSub, seconds: float) -> dict[str, Any] | None:
    """The next published message within ``seconds``, or None."""
    message = await _receive(pubsub, timeout=seconds)
    while message is not None and message["type"] in _CONFIRMATIONS:
        message = await _receive(pubsub, timeout=seconds)
    return message


_CONFIRMATIONS = ("subscribe", "psubscribe", "ssubscribe")


async def _receive(pubsub: PubSub, timeout: float) -> dict[str, Any] | None:
    if isinstance(pubsub, ClusterPubSub) and pubsub.shard_channels:
        return await pubsub.get_sharded_message(timeout=timeout)
    return await pubsub.get_message(timeout=timeout)


async def subscribers(raw_redis: Redis, channel: str) -> int:
    """Subscribers of ``channel``, classic and sharded; on a cluster, summed over its nodes
    (a subscription lives on one node)."""
    if not isinstance(raw_redis, RedisCluster):
        return await _subscribers_on(raw_redis, channel)
    total = 0
    await raw_redis.initialize()
    for node in raw_redis.get_nodes():
        async with Redis(host=node.host, port=node.port) as single:
            total += await _subscribers_on(single, channel)
    return total


async def subscribers_on_ports(ports: list[int], channel: str, *, sharded: bool) -> int:
    """Sharded (SSUBSCRIBE) or classic subscribers of ``channel`` summed over the loopback
    servers on ``ports`` (the nodes of a local cluster)."""
    total = 0
    for port in ports:
        async with Redis(host="127.0.0.1", port=port) as node:
            if sharded:
                total += await shard_subscribers(node, channel)
            else:
                [(_, count)] = await node.pubsub_numsub(channel)
                total += int(count)
    return total


async def shard_subscribers(node: Redis, channel: str) -> int:
    """Sharded (SSUBSCRIBE) subscribers of ``channel`` on one server (Redis 7+)."""
    [(_, count)] = await node.pubsub_shardnumsub(channel)
    return int(count)


async def _subscribers_on(single: Redis, channel: str) -> int:
    [(_, classic)] = await single.pubsub_numsub(channel)
    try:
        return int(classic) + await shard_subscribers(single, channel)
    except ResponseError:  # Redis 6.2: no sharded pub/sub
        return int(classic)


async def wait_for_subscribers(raw_redis: Redis, channel: str, count: int) -> None:
    await wait_for_count(lambda: subscribers(raw_redis, channel), count)


async def wait_for_count(count: Callable[[], Awaitable[int]], expected: int) -> None:
    """Poll ``count`` until it gives ``expected`` (within GUARD seconds)."""
    async with asyncio.timeout(GUARD):
        current = await count()
        while current != expected:
            await asyncio.sleep(0.01)
            current = await count()
