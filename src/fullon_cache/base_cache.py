"""BaseCache: connection, lifecycle, key space, deadlines, retries and the global error queue.

Every other cache inherits from it. Layers talk to Redis only through :meth:`BaseCache._run`
(one bounded, translated, carefully retried call) and :meth:`BaseCache._blocking_pop`, name
keys through ``self._keys`` and (de)serialize through :mod:`fullon_cache.codecs`.

Example::

    async with BaseCache() as cache:
        await cache.ping()
        await cache.push_global_error("ticker feed for kraken is down")
        print(await cache.pop_global_error())
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Self, TypeVar, cast

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.exceptions import BusyLoadingError, RedisClusterException, RedisError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from fullon_cache import connection as _connection
from fullon_cache import validation
from fullon_cache.codecs import decode_text, dumps, loads_object
from fullon_cache.connection import Connections
from fullon_cache.deadline import Deadlines
from fullon_cache.errors import (
    CacheCircuitOpenError,
    CacheClosedError,
    CacheCorruptedValueError,
    CacheError,
    CacheTimeoutError,
    CacheUnavailableError,
    CacheUnknownOutcomeError,
    InvalidInputError,
    is_auth_failure,
    translate_redis_error,
)
from fullon_cache.keys import KeySpace
from fullon_cache.log import get_logger
from fullon_cache.monitoring import MONITOR, operation_name
from fullon_cache.scripts import PUSH_CAPPED, run_script
from fullon_cache.settings import CacheSettings
from fullon_cache.subscription import Subscription, publish_command

__all__ = ["BaseCache"]

_T = TypeVar("_T")
logger = get_logger("base")
connection_logger = get_logger("connection")

_MAX_RETRIES = 3
_SCAN_BATCH = 1000


def _backoff(attempt: int) -> float:
    """Seconds to wait before retry ``attempt`` (1, 2, ...): exponential with jitter."""
    return min(0.5, 0.05 * 2.0 ** (attempt - 1)) * (0.5 + random.random() / 2)  # noqa: S311


def _major_version(info: dict[str, Any]) -> int:
    """The major version INFO reports (0 when it does not)."""
    return int(str(info.get("redis_version", "0")).split(".")[0])


async def _blocking_command(
    client: Redis, key: str, into: str | None, seconds: float, to_head: bool
) -> bytes | None:
    if into is None:
        reply = await client.blpop([key], timeout=seconds)
        return None if reply is None else cast("bytes", reply[1])
    side = "LEFT" if to_head else "RIGHT"
    # redis-py types the timeout as int; Redis takes fractions of a second.
    moved = await client.blmove(key, into, seconds, "LEFT", side)  # type: ignore[arg-type]
    return cast("bytes | None", moved)


async def _primaries(client: Redis) -> list[ClusterNode]:
    cluster = cast("RedisCluster", client)
    await cluster.initialize()  # a no-op once the cluster's nodes are known
    return cluster.get_primaries()


async def _scan_step(
    client: Redis, cursor: int, match: str, node: ClusterNode | None
) -> tuple[int, list[bytes]]:
    if node is None:
        return cast(
            "tuple[int, list[bytes]]", await client.scan(cursor, match=match, count=_SCAN_BATCH)
        )
    # A cluster client answers with a cursor per node it asked: here one.
    reply = await cast("RedisCluster", client).scan(
        cursor, match=match, count=_SCAN_BATCH, target_nodes=node
    )
    cursors, batch = cast("tuple[dict[str, int], list[bytes]]", reply)
    return cursors[node.name], batch


def _snapshot(raw: bytes | Exception, key: str) -> dict[str, Any]:
    if isinstance(raw, Exception):  # a pipelined read of a key of the wrong type
        raise CacheCorruptedValueError(key, "holds a value of the wrong Redis type")
    snapshot = loads_object(raw, key)
    published, operations = snapshot.get("published_at"), snapshot.get("operations")
    if not isinstance(published, int | float) or not isinstance(operations, dict):
        raise CacheCorruptedValueError(key, "not a metrics snapshot")
    if not all(isinstance(stats, dict) for stats in operations.values()):
        raise CacheCorruptedValueError(key, "not a metrics snapshot")
    return snapshot


def _resend(idempotent: bool, write: bool, retry_unsent: bool) -> _Resend:
    if not retry_unsent:
        return _Resend.NEVER
    if not idempotent:
        return _Resend.IF_UNSENT
    return _Resend.OVERWRITE if write else _Resend.READ


def _deadline_passed(deadline: float) -> CacheTimeoutError:
    message = f"no result within the {deadline:g} s deadline"
    error = CacheTimeoutError(message)
    error.__cause__ = TimeoutError(message)
    return error


def _socket_timed_out() -> RedisTimeoutError:
    return RedisTimeoutError("no reply within the socket timeout")


class _Resend(enum.Enum):
    """When a failed attempt may be sent again."""

    READ = "read"  # reads: always; a failure is what the last attempt met
    OVERWRITE = "overwrite"  # always; once one attempt was sent, a failure is an unknown outcome
    IF_UNSENT = "if_unsent"  # other writes: only if their bytes never reached a socket
    NEVER = "never"  # pipelines: their command stack is gone after a failed execute

    def allows(self, exc: Exception, sent: bool) -> bool:
        if not isinstance(exc, RedisConnectionError | RedisTimeoutError) or is_auth_failure(exc):
            return False
        return self in (_Resend.READ, _Resend.OVERWRITE) or (self is _Resend.IF_UNSENT and not sent)


_UNREACHABLE = (CacheUnavailableError, CacheUnknownOutcomeError)


class BaseCache:
    """The root of the cache chain: owns the connection and everything every cache shares.

    Build it with no arguments (settings from the environment / ``.env``), with explicit
    :class:`~fullon_cache.settings.CacheSettings`, or around a redis-py client you own
    (borrowed, never closed). Instances made without a client share one pool per event loop
    and settings, so ``async with XCache() as c:`` around every call costs no new connection.

    Every call finishes within ``settings.deadline`` (socket timeout + 1 s) with a result or a
    :class:`~fullon_cache.errors.CacheError`. Reads and overwrites are retried with backoff
    inside that deadline; writes that are not idempotent are never sent twice.

    Example::

        async with BaseCache(key_prefix="staging") as cache:
            if await cache.test():
                print(await cache.get_keys("tickers:*"))
    """

    GLOBAL_ERROR_CAP = 1000
    """The global error queue keeps at most this many entries (the oldest are dropped)."""

    def __init__(
        self,
        settings: CacheSettings | None = None,
        *,
        redis: Redis | None = None,
        key_prefix: str | None = None,
    ) -> None:
        settings = settings or _connection.default_settings()
        if key_prefix is not None and key_prefix != settings.key_prefix:
            settings = settings.replace(key_prefix=key_prefix)
        self._settings = settings
        self._keys = KeySpace(settings.key_prefix)
        self._borrowed = Connections.borrowed(redis, settings) if redis is not None else None
        self._conns: Connections | None = None
        self._closed = False
        self.corrupted_skipped = 0
        """How many undecodable collection entries this instance skipped (and logged)."""

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (
            f"<{type(self).__name__} {self._settings.redacted_url()} ns={self.namespace} {state}>"
        )

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._ensure_open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Release this instance (idempotent). Shared pools and injected clients stay open.

        Example::

            cache = BaseCache()
            await cache.aclose()
            await cache.aclose()   # no-op
        """
        self._closed = True
        self._conns = None

    async def close(self) -> None:
        """Alias of :meth:`aclose` (compat with the older fullon_cache).

        Example::

            await cache.close()
        """
        await self.aclose()

    @property
    def closed(self) -> bool:
        """True once :meth:`aclose` was called."""
        return self._closed

    @property
    def settings(self) -> CacheSettings:
        """The settings this instance uses."""
        return self._settings

    @property
    def namespace(self) -> str:
        """The key prefix in front of every key and channel of this instance."""
        return self._keys.prefix

    @property
    def _cache(self) -> Self:
        """Compat: services call ``cache._cache.close()``."""
        return self

    def _ensure_open(self) -> None:
        if self._closed:
            raise CacheClosedError(f"{type(self).__name__} was used after it was closed")

    def _connections(self) -> Connections:
        self._ensure_open()
        if self._borrowed is not None:
            return self._borrowed
        conns = self._conns
        if conns is None or conns.closed or conns.loop is not asyncio.get_running_loop():
            conns = self._conns = _connection.connections_for(self._settings)
        return conns

    @asynccontextmanager
    async def _redis_context(self) -> AsyncIterator[Redis]:
        """Compat: yields the underlying redis-py client (for ``flushdb()``/``dbsize()``).

        Example::

            async with cache._redis_context() as redis:
                await redis.dbsize()
        """
        yield self._connections().client

    # -- the one way to talk to Redis ------------------------------------------------------

    async def _run(
        self,
        op: Callable[[Redis], Awaitable[_T]],
        *,
        idempotent: bool,
        key: str | None = None,
        blocking: float | None = None,
        retry_unsent: bool = True,
        write: bool = False,
    ) -> _T:
        """Run ``op(client)`` within the deadline, translating redis-py errors.

        ``idempotent`` ops are retried after transient errors (an idempotent ``write``, an
        overwrite, fails as an unknown outcome once an attempt was sent); other ops only when
        their bytes never left (``retry_unsent``). ``blocking`` is the seconds a blocking
        command may wait: it runs on the blocking client and extends the deadline by that
        much. The circuit breaker may refuse the call; the monitor records it.
        """
        conns = self._connections()
        name = operation_name(1)
        started = time.perf_counter()
        try:
            if conns.breaker.is_open:
                await conns.breaker.admit(lambda: self._probe(conns))
            result = await self._bounded(
                conns, op, _resend(idempotent, write, retry_unsent), key, blocking
            )
        except CacheError as exc:
            if isinstance(exc, _UNREACHABLE) and not isinstance(exc, CacheCircuitOpenError):
                conns.breaker.failed(exc)
            MONITOR.record(name, time.perf_counter() - started, exc, self._keys.prefix)
            raise
        conns.breaker.succeeded()
        MONITOR.record(name, time.perf_counter() - started, None, self._keys.prefix)
        return result

    async def _bounded(
        self,
        conns: Connections,
        op: Callable[[Redis], Awaitable[_T]],
        resend: _Resend,
        key: str | None,
        blocking: float | None,
    ) -> _T:
        deadline = self._settings.deadline + (blocking or 0.0)
        deadlines = Deadlines.of_running_loop()
        attempts = self._attempts(conns, op, resend, key, blocking, deadlines)
        return await deadlines.bound(deadline, attempts, lambda: _deadline_passed(deadline))

    async def _probe(self, conns: Connections) -> None:
        """The circuit breaker's probe: one PING within the socket timeout."""
        try:
            async with conns.limiter or contextlib.nullcontext():
                await Deadlines.of_running_loop().bound(
                    self._settings.socket_timeout, conns.client.ping(), _socket_timed_out
                )
        except RedisError as exc:
            raise translate_redis_error(exc, sent=False) from exc

    async def _attempts(
        self,
        conns: Connections,
        op: Callable[[Redis], Awaitable[_T]],
        resend: _Resend,
        key: str | None,
        blocking: float | None,
        deadlines: Deadlines,
    ) -> _T:
        def bounded(client: Redis) -> Awaitable[_T]:
            # One attempt, cut off after the socket timeout like a silent socket: a read is
            # then retried within the call's deadline (the connection is dropped).
            return deadlines.bound(self._settings.socket_timeout, op(client), _socket_timed_out)

        attempt_op: Callable[[Redis], Awaitable[_T]] = bounded
        if blocking is None:
            client, limiter = conns.client, conns.limiter
        else:  # a blocking command waits as long as it asked; the call's deadline bounds it
            client, limiter, attempt_op = conns.blocking_client, conns.blocking_limiter, op
        attempt, sent_before = 0, False
        while True:
            try:
                _connection.mark_unsent()  # before the server check: it may be what connects
                if not conns.server_checked:
                    await self._check_server(conns)
                if limiter is None:
                    return await attempt_op(client)
                async with limiter:
                    return await attempt_op(client)
            except (RedisError, RedisClusterException) as exc:
                # LOADING is the server refusing the command: it was not applied.
                sent = (_connection.was_sent() or not conns.tracks_sends) and not isinstance(
                    exc, BusyLoadingError
                )
                if attempt >= _MAX_RETRIES or not resend.allows(exc, sent):
                    sent = sent or (sent_before and resend is _Resend.OVERWRITE)
                    raise translate_redis_error(exc, sent=sent, key=key) from exc
                sent_before = sent_before or sent
            attempt += 1
            logger.debug("retrying after a transient error", attempt=attempt)
            await asyncio.sleep(_backoff(attempt))

    async def _check_server(self, conns: Connections) -> None:
        """Once per pool: learn the server's version (a Redis 7+ cluster shards pub/sub) and
        warn when Redis may evict keys. Concurrent first calls wait for the one check, which
        takes a connection like any call (never one too many)."""
        async with conns.server_lock:
            if conns.server_checked:
                return
            try:
                async with conns.limiter or contextlib.nullcontext():
                    info = await conns.client.info()
            except ResponseError:  # INFO refused by an ACL: classic pub/sub, nothing to warn
                info = {}
            conns.sharded_pubsub = conns.cluster and _major_version(info) >= 7
            conns.server_checked = True
        policy = info.get("maxmemory_policy", "noeviction")
        if policy != "noeviction":
            connection_logger.warning(
                "Redis maxmemory-policy is not noeviction: under memory pressure Redis will "
                "silently drop keys (bot locks, queues); set maxmemory-policy noeviction",
                policy=policy,
            )

    async def _blocking_pop(
        self, key: str, timeout: float, *, into: str | None = None, to_head: bool = False
    ) -> bytes | None:
        """Take the head of list ``key``, waiting up to ``timeout`` seconds (> 0): BLPOP, or
        BLMOVE onto the tail of list ``into`` (a processing list: nothing is lost if the reply
        is), or onto its head with ``to_head`` (``into=key, to_head=True`` waits for an item
        and leaves the list as it was). Waits in chunks that fit any socket timeout of the
        blocking client, so a long wait ends in None, not in a timeout error."""
        loop = asyncio.get_running_loop()
        ends = loop.time() + timeout
        remaining = timeout
        while True:
            limit = self._connections().block_limit
            chunk = remaining if limit is None else min(remaining, limit)
            reply = await self._run(
                lambda r: _blocking_command(r, key, into, chunk, to_head),  # noqa: B023
                idempotent=False,
                key=key,
                blocking=chunk,
            )
            remaining = ends - loop.time()
            if reply is not None or remaining < 0.01:
                return reply

    async def _push_text(self, key: str, text: str, cap: int) -> None:
        """Append ``text`` to the capped FIFO list ``key`` (the oldest entries beyond drop)."""
        data = validation.text(text, "error").encode()
        await self._run(
            lambda r: run_script(r, PUSH_CAPPED, [key], [data, cap]), idempotent=False, key=key
        )

    async def _pop_text(self, key: str, timeout: object) -> str | None:
        """Take the oldest entry of the FIFO list ``key``, waiting up to ``timeout`` seconds."""
        seconds = validation.seconds(timeout, "timeout")
        if seconds == 0:
            raw = cast(
                "bytes | None", await self._run(lambda r: r.lpop(key), idempotent=False, key=key)
            )
        else:
            raw = await self._blocking_pop(key, seconds)
        return None if raw is None else decode_text(raw, key)

    async def _read_many(self, command: str, keys: Sequence[bytes | str], *args: Any) -> list[Any]:
        """``command`` (a read such as ``hgetall``) on every key in one round trip; an error
        reply comes back in its key's place instead of failing the others."""

        async def read(client: Redis) -> list[Any]:
            async with client.pipeline(transaction=False) as pipe:
                for key in keys:
                    getattr(pipe, command)(key, *args)
                return await pipe.execute(raise_on_error=False)

        return await self._run(read, idempotent=True)

    def _skip_corrupted(self, error: CacheCorruptedValueError) -> None:
        """One undecodable entry of a collection: log it, count it, carry on with the rest."""
        self.corrupted_skipped += 1
        logger.warning("skipped a corrupted entry", key=error.key, reason=error.reason)

    @asynccontextmanager
    async def _subscription(self, channel: str) -> AsyncIterator[AsyncIterator[bytes]]:
        """Subscribe to ``channel`` on a connection of its own; yields the message payloads.

        A lost subscription raises :class:`~fullon_cache.errors.CacheUnavailableError`;
        messages published meanwhile are gone (pub/sub is at-most-once). Sharded on a Redis 7+
        cluster (:mod:`fullon_cache.subscription`).
        """
        subscription = Subscription(self._connections(), channel)
        silence = self._settings.socket_timeout
        try:
            await self._run(lambda _: subscription.enter(silence), idempotent=True)
            yield subscription.payloads(silence)
        finally:
            await subscription.aclose()

    def _publish_command(self) -> str:
        """PUBLISH, or SPUBLISH on a Redis 7+ cluster (call it inside the ``_run`` op, where
        the server is known)."""
        return publish_command(self._connections())

    # -- public API ------------------------------------------------------------------------

    async def ping(self) -> bool:
        """Round trip to Redis; True, or a :class:`~fullon_cache.errors.CacheError`.

        Example::

            await cache.ping()   # True
        """
        return bool(await self._run(lambda r: r.ping(), idempotent=True))

    async def test(self) -> bool:
        """True when Redis answers, False otherwise (never raises).

        Example::

            if not await cache.test():
                print("Redis is down")
        """
        try:
            return await self.ping()
        except CacheError:
            return False

    async def info(self, section: str | None = None) -> dict[str, Any]:
        """The server's ``INFO`` (optionally one section) as a dict.

        Example::

            (await cache.info("server"))["redis_version"]   # '7.0.15'
        """
        if section is not None and not section.isidentifier():
            raise InvalidInputError("an INFO section is a single word such as 'memory'")
        return await self._run(lambda r: r.info(section), idempotent=True)

    async def get_keys(self, pattern: str = "*") -> list[str]:
        """Keys of this namespace matching the glob ``pattern``, without the namespace.

        Uses SCAN (never KEYS); meant for admin tools, not hot paths.

        Example::

            await cache.get_keys("errors:*")   # ['errors:global']
        """
        match = self._keys.pattern(pattern)
        return sorted({self._keys.strip(key) async for key in self._scan(match)})

    async def _scan(self, match: str) -> AsyncIterator[bytes | str]:
        """SCAN the server, or each primary of a cluster in turn."""
        nodes: list[ClusterNode | None] = [None]
        if self._connections().cluster:
            nodes = list(await self._run(_primaries, idempotent=True))
        for node in nodes:
            cursor = 0
            while True:
                cursor, batch = await self._run(
                    lambda r: _scan_step(r, cursor, match, node),  # noqa: B023 - awaited at once
                    idempotent=True,
                )
                for key in batch:
                    yield key
                if cursor == 0:
                    break

    async def prepare_cache(self) -> int:
        """Delete every key of this namespace (SCAN + UNLINK); returns how many were deleted.

        Other namespaces in the same database are untouched.

        Example::

            await cache.prepare_cache()   # 12
        """
        batch: list[bytes | str] = []
        deleted = 0
        async for key in self._scan(self._keys.pattern("*")):
            batch.append(key)
            if len(batch) >= _SCAN_BATCH:
                deleted += await self._unlink(batch)
                batch = []
        return deleted + (await self._unlink(batch) if batch else 0)

    async def _unlink(self, keys: list[bytes | str]) -> int:
        return int(await self._run(lambda r: r.unlink(*keys), idempotent=True))

    async def flushdb(self) -> bool:
        """Compat: ``FLUSHDB`` the whole configured database (every namespace in it!).

        Prefer :meth:`prepare_cache`, which deletes only this namespace.

        Example::

            await cache.flushdb()   # True
        """
        return bool(await self._run(lambda r: r.flushdb(), idempotent=True))

    async def push_global_error(self, error: str) -> None:
        """Append ``error`` to the global error queue (FIFO, capped at ``GLOBAL_ERROR_CAP``).

        Example::

            await cache.push_global_error("exchange binance: websocket closed")
        """
        await self._push_text(self._keys.global_errors(), error, self.GLOBAL_ERROR_CAP)

    async def pop_global_error(self, timeout: float = 0) -> str | None:
        """Take the oldest global error; wait up to ``timeout`` seconds (0: do not wait).

        Returns None when the queue stays empty.

        Example::

            error = await cache.pop_global_error(timeout=5)
        """
        return await self._pop_text(self._keys.global_errors(), timeout)

    async def publish_metrics(self, publisher: str, ttl: float = 60.0) -> None:
        """Store this process's call statistics (:func:`fullon_cache.monitoring.snapshot`)
        under ``publisher`` for ``ttl`` seconds, where ``fullon-cache inspect`` shows them.

        Call it every so often (e.g. with each heartbeat); a process that stops publishing
        disappears from the view after ``ttl``.

        Example::

            await cache.publish_metrics("ticker-bot-1", ttl=120)
        """
        key = self._keys.metrics(publisher)
        milliseconds = round(validation.seconds(ttl, "ttl") * 1000)
        if milliseconds < 1:
            raise InvalidInputError("ttl must be at least a millisecond")
        data = dumps({"published_at": time.time(), "operations": MONITOR.snapshot()})
        await self._run(
            lambda r: r.set(key, data, px=milliseconds), idempotent=True, write=True, key=key
        )

    async def get_published_metrics(self) -> dict[str, dict[str, Any]]:
        """The statistics every process of this namespace published, by publisher name
        (SCAN: for admin tools, not hot paths). A corrupted snapshot is skipped and counted.

        Example::

            (await cache.get_published_metrics())["ticker-bot-1"]["operations"]["get_ticker"]
        """
        keys = [key async for key in self._scan(self._keys.pattern("metrics:*"))]
        published: dict[str, dict[str, Any]] = {}
        for key, raw in zip(keys, await self._read_many("get", keys), strict=True):
            name = self._keys.strip(key)
            try:
                if raw is not None:  # None: it expired between the SCAN and the GET
                    snapshot = _snapshot(raw, f"{self.namespace}:{name}")
                    published[name.removeprefix("metrics:")] = snapshot
            except CacheCorruptedValueError as error:
                self._skip_corrupted(error)
        return dict(sorted(published.items()))

    @asynccontextmanager
    async def pipeline(self, *, transaction: bool = False) -> AsyncIterator[Pipeline]:
        """Batch raw redis-py commands into one round trip, sent when the block exits cleanly.

        Call ``await pipe.execute()`` inside the block to read the replies. A pipeline is never
        resent after a lost reply. Key names are yours to build (start them with
        ``cache.namespace``).

        Example::

            async with cache.pipeline() as pipe:
                pipe.set(f"{cache.namespace}:a", 1)
                pipe.set(f"{cache.namespace}:b", 2)
        """
        pipe = self._connections().client.pipeline(transaction=transaction)
        try:
            yield pipe
            if len(pipe):
                await self._run(lambda _: pipe.execute(), idempotent=False, retry_unsent=False)
        finally:
            await pipe.reset()  # type: ignore[no-untyped-call]
