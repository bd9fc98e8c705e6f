"""Connections: one shared set of pools per (event loop, server settings).

The clients' pattern is a fresh ``async with TickCache() as c:`` around every call. Such
instances never open a connection of their own: the first use on an event loop builds a
:class:`Connections` for those settings, and every later instance on that loop reuses it.
A pool is tied to the loop it was made on and is never handed to another loop.

Each :class:`Connections` holds two redis-py pools, both with redis-py's blind retries off
(the cache retries only what is safe, see ``BaseCache``) and no socket timeout. Every call
runs under its own deadline (the socket timeout + 1 s, see :mod:`fullon_cache.deadline`),
which bounds each send and read; a cancelled read or send makes redis-py drop that
connection. A socket timeout as well would arm two more timers per command (and, on Python
3.11, a task per send): about 25 µs of a 150 µs hit, measured by ``fullon-cache bench``.

* commands: a FIFO semaphore in front of the pool makes callers wait for a free connection
  instead of failing;
* blocking pops: their own pool, so a long ``BLPOP``/``BLMOVE`` never holds a connection the
  commands need.

Connections record whether a command's bytes were handed to the socket, which lets the cache
tell "never sent, safe to retry" from "sent, outcome unknown".

Example::

    await fullon_cache.close_all()   # close this loop's pools; the next cache rereads settings
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Iterable
from contextvars import ContextVar
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import (
    AbstractConnection,
    Connection,
    SSLConnection,
    UnixDomainSocketConnection,
)
from redis.asyncio.connection import ConnectionPool as RedisConnectionPool
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import (
    Sentinel,
    SentinelConnectionPool,
    SentinelManagedConnection,
    SentinelManagedSSLConnection,
)
from redis.backoff import NoBackoff

from fullon_cache.breaker import CircuitBreaker
from fullon_cache.settings import CacheSettings

__all__ = [
    "ConnectionPool",
    "Connections",
    "breaker_for",
    "close_all",
    "connection_class",
    "connections_for",
    "default_settings",
    "server_kwargs",
]

_sent: ContextVar[bool] = ContextVar("fullon_cache_sent", default=False)
_registry: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopPools]
_registry = weakref.WeakKeyDictionary()
_default: list[CacheSettings] = []
_borrowed: weakref.WeakKeyDictionary[Redis, Connections] = weakref.WeakKeyDictionary()


class _SendTracking(AbstractConnection):
    _handshaking = False

    async def on_connect_check_health(self, check_health: bool = True) -> None:
        # AUTH, HELLO, CLIENT SETNAME: a failure here means the command was never sent.
        self._handshaking = True
        try:
            await super().on_connect_check_health(check_health)
        finally:
            self._handshaking = False

    async def send_packed_command(
        self, command: bytes | str | Iterable[bytes], check_health: bool = True
    ) -> None:
        if not self._handshaking:
            _sent.set(True)
        await super().send_packed_command(command, check_health)


class _TrackedConnection(_SendTracking, Connection):
    pass


class _TrackedSSLConnection(_SendTracking, SSLConnection):
    pass


class _TrackedUnixConnection(_SendTracking, UnixDomainSocketConnection):
    pass


class _TrackedSentinelConnection(_SendTracking, SentinelManagedConnection):
    pass


class _TrackedSentinelSSLConnection(_SendTracking, SentinelManagedSSLConnection):
    pass


def mark_unsent() -> None:
    """Start tracking one command attempt (called before each attempt)."""
    _sent.set(False)


def was_sent() -> bool:
    """True if the current attempt handed bytes to a socket since :func:`mark_unsent`."""
    return _sent.get()


def breaker_for(settings: CacheSettings) -> CircuitBreaker:
    """The circuit breaker of a new set of connections, as ``settings`` configure it.

    Example::

        breaker_for(CacheSettings(circuit_threshold=5)).threshold   # 5
    """
    return CircuitBreaker(settings.circuit_threshold, settings.circuit_cooldown)


def connection_class(settings: CacheSettings) -> type[AbstractConnection]:
    """redis-py's connection class for the server of ``settings`` (unix, TLS or TCP).

    Example::

        connection_class(CacheSettings.from_url("rediss://cache:6380"))   # SSLConnection
    """
    if settings.sentinels:
        return SentinelManagedSSLConnection if settings.ssl else SentinelManagedConnection
    if settings.unix_socket_path:
        return UnixDomainSocketConnection
    return SSLConnection if settings.ssl else Connection


def server_kwargs(settings: CacheSettings) -> dict[str, Any]:
    """Where and as whom to connect, as redis-py connection keywords (TLS always verified).
    Behind Sentinel the master's address is asked from the sentinels on each connect.

    Example::

        ConnectionPool(connection_class=connection_class(s), **server_kwargs(s))
    """
    where: dict[str, Any] = {
        "db": settings.db,
        "username": settings.username,
        "password": settings.password,
    }
    if settings.unix_socket_path and not settings.sentinels:
        return {**where, "path": settings.unix_socket_path}
    if not settings.sentinels:
        where |= {"host": settings.host, "port": settings.port}
    if settings.ssl:
        where |= {"ssl_ca_certs": settings.ssl_ca_certs, "ssl_cert_reqs": "required"}
    return where


_TRACKED: dict[type[AbstractConnection], type[AbstractConnection]] = {
    Connection: _TrackedConnection,
    SSLConnection: _TrackedSSLConnection,
    UnixDomainSocketConnection: _TrackedUnixConnection,
    SentinelManagedConnection: _TrackedSentinelConnection,
    SentinelManagedSSLConnection: _TrackedSentinelSSLConnection,
}


def _client_for(settings: CacheSettings) -> Redis:
    if not settings.cluster_mode:
        return Redis(connection_pool=_pool_for(settings))
    where = server_kwargs(settings)
    for standalone_only in ("db", "host", "port", "path"):
        where.pop(standalone_only, None)
    cluster = RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in settings.cluster_nodes],
        socket_timeout=None,  # the call's deadline bounds it, as for a standalone server
        socket_connect_timeout=settings.socket_connect_timeout,
        retry=Retry(NoBackoff(), 0),  # no blind resends; a redirected read is retried by _run
        max_connections=settings.max_connections,
        client_name="fullon_cache",
        **where,
    )
    # The command methods are the same; the few differences (SCAN, INFO, closing) are
    # handled where they are used, on ``Connections.cluster``.
    return cast("Redis", cluster)


def _pool_for(settings: CacheSettings) -> RedisConnectionPool:
    options: dict[str, Any] = {
        "connection_class": _TRACKED[connection_class(settings)],
        "socket_timeout": None,  # the call's deadline bounds it (see the module docstring)
        "socket_connect_timeout": settings.socket_connect_timeout,
        "retry": Retry(NoBackoff(), 0),
        "max_connections": settings.max_connections,
        "client_name": "fullon_cache",
        **server_kwargs(settings),
    }
    if not settings.sentinels:
        return RedisConnectionPool(**options)
    # The sentinels are asked for the master on each new connection: after a failover the
    # next connection goes to the new master (redis-py drops one that finds a replica).
    sentinels = Sentinel(
        settings.sentinels,
        sentinel_kwargs={
            "socket_timeout": settings.socket_timeout,
            "socket_connect_timeout": settings.socket_connect_timeout,
            "password": settings.sentinel_password,  # sentinels have their own requirepass
        },
    )
    master = settings.sentinel_master
    return SentinelConnectionPool(master, sentinels, **options)  # type: ignore[no-untyped-call]


class Connections:
    """The clients a cache instance talks through, for one server on one event loop.

    ``owned`` ones are shared between instances and closed by :func:`close_all`; ``borrowed``
    ones wrap a client the caller injected, which fullon_cache never closes.

    Example::

        conns = connections_for(settings)      # inside a running event loop
        await conns.client.ping()
    """

    def __init__(
        self,
        client: Redis,
        *,
        loop: asyncio.AbstractEventLoop | None,
        settings: CacheSettings | None,
        limit: int | None,
        breaker: CircuitBreaker,
    ) -> None:
        self.client = client
        self.breaker = breaker
        self.loop = loop
        self.owned = settings is not None
        self.cluster = isinstance(client, RedisCluster)
        """A Redis Cluster client: keys are spread over nodes, SCAN walks every primary."""
        self.tracks_sends = self.owned and not self.cluster
        """Whether a failed attempt can tell "never sent" (otherwise it is taken as sent)."""
        self.closed = False
        self.server_checked = False
        self.server_lock = asyncio.Lock()
        self.sharded_pubsub = False
        """Pub/sub is SSUBSCRIBE/SPUBLISH: a cluster of Redis 7+ (known after the server check)."""
        self._settings = settings
        self._blocking: Redis | None = None if self.owned else client
        self.limiter = asyncio.Semaphore(limit) if limit else None
        self.blocking_limiter = asyncio.Semaphore(limit) if limit else None

    @classmethod
    def owned_by_library(
        cls, settings: CacheSettings, loop: asyncio.AbstractEventLoop
    ) -> Connections:
        """Pools the library creates, shares and later closes."""
        client = _client_for(settings)
        return cls(
            client,
            loop=loop,
            settings=settings,
            limit=settings.max_connections,
            breaker=breaker_for(settings),
        )

    @classmethod
    def borrowed(cls, client: Redis, settings: CacheSettings) -> Connections:
        """Wrap a caller's client; used for both plain and blocking commands, never closed.

        Instances given the same client share one wrapper, so the once-per-server checks
        (the eviction policy) and the circuit breaker (configured by the first instance's
        ``settings``) are per client, not per instance.
        """
        conns = _borrowed.get(client)
        if conns is None:
            conns = cls(client, loop=None, settings=None, limit=None, breaker=breaker_for(settings))
            _borrowed[client] = conns
        return conns

    @property
    def blocking_client(self) -> Redis:
        """The client for blocking pops (created on first use for owned connections)."""
        if self._blocking is None:
            assert self._settings is not None  # owned connections always have settings
            self._blocking = _client_for(self._settings)
        return self._blocking

    @property
    def block_limit(self) -> float | None:
        """Longest single block that fits under the blocking client's socket timeout."""
        if self.cluster:  # only the library builds cluster clients, without socket timeout
            return None
        timeout = self.blocking_client.connection_pool.connection_kwargs.get("socket_timeout")
        return None if timeout is None else max(float(timeout) - 0.5, float(timeout) / 2)

    async def aclose(self) -> None:
        """Close owned pools (idempotent); borrowed clients are left to their owner."""
        if self.closed:
            return
        self.closed = True
        if self.owned:
            for client in (self.client, self._blocking):
                if client is None:
                    continue
                if self.cluster:  # it owns its nodes' pools
                    await client.aclose()
                    continue
                await client.connection_pool.aclose()
                if isinstance(client.connection_pool, SentinelConnectionPool):
                    await client.connection_pool.sentinel_manager.aclose()


class _LoopPools:
    """The shared connections of one event loop, closed when that loop shuts down.

    ``asyncio.run()`` and ``asyncio.Runner`` call ``loop.shutdown_asyncgens()`` while the loop
    still runs: a parked async generator's ``finally`` is the one hook that lets the pools
    close their sockets on their own loop, even when the application never calls
    :func:`close_all`. (A loop closed by hand without that call leaves them to the GC.)
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.pools: dict[tuple[Any, ...], Connections] = {}
        self._guard = self._close_at_shutdown()  # the loop itself tracks it only weakly
        loop.create_task(self._arm())

    async def _arm(self) -> None:
        await anext(self._guard)

    async def _close_at_shutdown(self) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        for conns in self.pools.values():
            await conns.aclose()


def connections_for(settings: CacheSettings) -> Connections:
    """The shared connections for ``settings`` on the running event loop (made on first use).

    Example::

        async def main():
            assert connections_for(settings) is connections_for(settings)
    """
    loop = asyncio.get_running_loop()
    per_loop = _registry.get(loop)
    if per_loop is None:
        per_loop = _registry[loop] = _LoopPools(loop)
    key = settings.connection_key
    conns = per_loop.pools.get(key)
    if conns is None or conns.closed:
        conns = per_loop.pools[key] = Connections.owned_by_library(settings, loop)
    return conns


def default_settings() -> CacheSettings:
    """Settings for caches built without arguments: read from the environment once.

    :func:`close_all` forgets them, so the next cache reads the environment again.
    """
    if not _default:
        _default.append(CacheSettings.from_env())
    return _default[0]


async def close_all() -> None:
    """Close the shared pools of the running event loop and forget the default settings.

    Pools of event loops that are already closed are dropped too. Instances still open keep
    working: their next call opens fresh connections.

    Example::

        await fullon_cache.close_all()
    """
    _default.clear()
    for loop in [loop for loop in _registry if loop.is_closed()]:
        del _registry[loop]
    per_loop = _registry.pop(asyncio.get_running_loop(), None)
    if per_loop is not None:
        await per_loop.aclose()


class ConnectionPool:
    """Compatibility with the older fullon_cache: ``await ConnectionPool.reset_async()``."""

    @staticmethod
    async def reset_async() -> None:
        """Same as :func:`close_all`."""
        await close_all()
