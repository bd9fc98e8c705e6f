"""Pub/sub subscriptions: one channel on a connection of its own, classic or sharded.

On a standalone server, and on a cluster whose servers predate Redis 7, a channel is
subscribed with SUBSCRIBE and published with PUBLISH (a cluster broadcasts it to every node).
On a Redis 7+ cluster it is subscribed with SSUBSCRIBE on the node that owns the channel's hash
slot and published with SPUBLISH, which stays on that node: the library's channels carry the
hash tag of the keys they announce, so the script that writes and publishes and the
subscriber meet on one node. When the slot moves, the server ends the subscription
(``sunsubscribe``); it raises CacheUnavailableError like any lost subscription, and the next
one goes to the slot's new owner (a MOVED reply, or a node that cannot be reached after a
failover, makes it read the cluster's slot map again).

A quiet channel is told from a dead network by a PING sent after ``silence`` seconds without
a word from the server: no answer within another ``silence`` raises CacheUnavailableError.

Example::

    subscription = Subscription(conns, "fullon:{tickers:kraken}:updates")
    try:
        await subscription.enter(silence=5.0)
        async for payload in subscription.payloads(silence=5.0):
            ...
    finally:
        await subscription.aclose()
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.exceptions import AskError, RedisError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from fullon_cache.connection import Connections
from fullon_cache.errors import CacheUnavailableError, translate_redis_error

__all__ = ["Subscription", "publish_command"]

_SUBSCRIPTION_POLL = 1.0
_HEALTH_PING = "fullon-cache-health"  # not redis-py's own payload, whose pongs it swallows


def publish_command(conns: Connections) -> str:
    """The command that publishes to a channel on these connections' server."""
    return "SPUBLISH" if conns.sharded_pubsub else "PUBLISH"


@dataclass(frozen=True)
class _Kinds:
    """The types of the messages a subscription receives."""

    confirmed: str
    message: str
    ended: str | None  # a subscription the server ends itself


_CLASSIC = _Kinds("subscribe", "message", None)
_SHARDED = _Kinds("ssubscribe", "smessage", "sunsubscribe")


class Subscription:
    """One channel's subscription, sharded when the server is a Redis 7+ cluster (decided
    when it is entered: the first call to a server learns its version)."""

    def __init__(self, conns: Connections, channel: str) -> None:
        self.channel = channel
        self.kinds = _CLASSIC
        self.pubsub: PubSub | None = None
        self._conns = conns

    async def enter(self, silence: float) -> None:
        """Subscribe and wait for the server's confirmation: once it is in, nothing
        published to the channel can be missed (Redis confirms before it delivers).
        Raises redis-py's errors (the caller's retry loop translates them)."""
        if not self._conns.cluster:
            await self._subscribe(silence)
            return
        try:
            await self._subscribe(silence)
        except (AskError, RedisConnectionError, RedisTimeoutError):
            # The slot moved, or its node is gone (a failover promotes a replica): the map
            # the cluster client read may be stale, and only its own commands refresh it.
            await cast("RedisCluster", self._conns.blocking_client).nodes_manager.initialize()
            await self.aclose()  # the next connection goes where the fresh map says
            await self._subscribe(silence)

    async def _subscribe(self, silence: float) -> None:
        if self._conns.sharded_pubsub:  # a connection to the slot's owner as the map says now
            self.kinds = _SHARDED
            await self.aclose()
            cluster = cast("RedisCluster", self._conns.blocking_client)
            self.pubsub = await _node_pubsub(cluster, self.channel)
            await self.pubsub.ssubscribe(self.channel)
        else:
            # A retry keeps the connection of the attempt before: on a slow link its
            # confirmation may be on the way (a new connection would start all over).
            if self.pubsub is None:  # on a cluster: a connection to the channel's node
                self.pubsub = self._conns.blocking_client.pubsub()
            await self.pubsub.subscribe(self.channel)
        await _next_of_type(self.pubsub, self.kinds, self.kinds.confirmed, silence)

    async def payloads(self, silence: float) -> AsyncIterator[bytes]:
        """The payloads of the messages as they come; a lost subscription raises
        CacheUnavailableError."""
        assert self.pubsub is not None  # entered
        while True:
            try:
                message = await _next_of_type(self.pubsub, self.kinds, self.kinds.message, silence)
            except RedisError as exc:
                raise translate_redis_error(exc, sent=False) from exc
            yield message["data"]

    async def aclose(self) -> None:
        """Unsubscribe by closing the subscription's connection (idempotent)."""
        pubsub, self.pubsub = self.pubsub, None
        if pubsub is None:
            return
        await pubsub.aclose()
        if self.kinds is _SHARDED:  # the connection pool is the subscription's own
            await pubsub.connection_pool.aclose()


async def _node_pubsub(cluster: RedisCluster, channel: str) -> PubSub:
    """A pub/sub client of its own on the node that owns ``channel``'s slot."""
    await cluster.initialize()
    node = cast("ClusterNode", cluster.get_node_from_key(channel))  # None: replicas only
    pool = ConnectionPool(
        connection_class=node.connection_class, max_connections=1, **node.connection_kwargs
    )
    return Redis(connection_pool=pool).pubsub()


async def _next_of_type(pubsub: PubSub, kinds: _Kinds, kind: str, silence: float) -> dict[str, Any]:
    """The next message of ``kind``. One that ends the subscription raises
    CacheUnavailableError; a lost connection raises redis-py's error."""
    link = _Link(pubsub, silence)
    message: dict[str, Any] | None = None
    while message is None or message["type"] != kind:
        message = await link.next_message()
        if message is not None and message["type"] == kinds.ended:
            raise CacheUnavailableError(
                "the server ended the subscription: the channel's hash slot moved"
            )
    return message


class _Link:
    """A subscription's connection and when the server was last heard on it.

    redis-py ends an empty wait by cancelling inside ``get_message``; coverage.py (on
    CPython 3.11) then loses the line events of the frames that wait resumed, so what
    happens after a wait is done in a fresh call on the waiting line (``_heard``).
    """

    def __init__(self, pubsub: PubSub, silence: float) -> None:
        self.pubsub, self.silence = pubsub, silence
        self.poll = min(_SUBSCRIPTION_POLL, silence / 2)  # bounded: no socket timeout
        self.heard, self.pinged = asyncio.get_running_loop().time(), False

    async def next_message(self) -> dict[str, Any] | None:
        """One bounded wait: the message, or None (after pinging a quiet link in time)."""
        return await self._heard(await self.pubsub.get_message(timeout=self.poll))

    async def _heard(self, message: dict[str, Any] | None) -> dict[str, Any] | None:
        now = asyncio.get_running_loop().time()
        if message is None:
            self.pinged = await _check_alive(
                self.pubsub, now - self.heard, self.silence, self.pinged
            )
        else:  # any message, a pong too, proves the link
            self.heard, self.pinged = now, False
        return message


async def _check_alive(pubsub: PubSub, quiet: float, silence: float, pinged: bool) -> bool:
    """Ping a subscription quiet for ``silence`` seconds; fail when the ping went unanswered
    for as long. Returns whether a ping is out."""
    if quiet < silence:
        return pinged
    if pinged:
        if quiet >= 2 * silence:
            raise CacheUnavailableError(
                f"the subscription's connection went silent: no answer to a PING in {silence:g} s"
            )
        return True
    await pubsub.ping(_HEALTH_PING)
    return True
