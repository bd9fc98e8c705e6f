"""Raw pub/sub helpers for tests that watch what the library publishes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import RedisCluster

GUARD = 10  # seconds; only turns a hang into a failure


@contextlib.asynccontextmanager
async def listening(
    raw_redis: Redis, channel: str, *, pattern: bool = False
) -> AsyncIterator[PubSub]:
    """A raw subscription to a channel (or a glob ``pattern``), confirmed by the server
    before the block runs."""
    pubsub = raw_redis.pubsub()
    kind = "psubscribe" if pattern else "subscribe"
    try:
        await (pubsub.psubscribe(channel) if pattern else pubsub.subscribe(channel))
        async with asyncio.timeout(GUARD):
            message = None
            while message is None or message["type"] != kind:
                message = await pubsub.get_message(timeout=1.0)
        yield pubsub
    finally:
        await pubsub.aclose()


async def next_message(pubsub: PubSub) -> bytes:
    async with asyncio.timeout(GUARD):
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is not None:
                data: bytes = message["data"]
                return data


async def subscribers(raw_redis: Redis, channel: str) -> int:
    """Subscribers of ``channel``; on a cluster, summed over its nodes (a subscription
    lives on one node)."""
    if not isinstance(raw_redis, RedisCluster):
        [(_, count)] = await raw_redis.pubsub_numsub(channel)
        return int(count)
    total = 0
    await raw_redis.initialize()
    for node in raw_redis.get_nodes():
        async with Redis(host=node.host, port=node.port) as single:
            [(_, count)] = await single.pubsub_numsub(channel)
            total += int(count)
    return total


async def wait_for_subscribers(raw_redis: Redis, channel: str, count: int) -> None:
    async with asyncio.timeout(GUARD):
        current = await subscribers(raw_redis, channel)
        while current != count:
            await asyncio.sleep(0.01)
            current = await subscribers(raw_redis, channel)
