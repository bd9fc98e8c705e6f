"""BotCache: one bot per (exchange, symbol), opening-position marks and bot status.

A block is a real lease: one key per (exchange, symbol) holding the holder's bot id, set only
if free (a script compares and sets), optionally with a TTL so that a dead bot's block
expires. Only the holder extends or releases it. Every new acquisition increments a fencing
counter under the same hash tag; ``bot_lock`` hands that number out and keeps the lease alive
while its block runs. ``is_blocked`` raises when Redis cannot answer: it never reports "free"
because Redis is down.

Example::

    async with BotCache() as cache:
        async with cache.bot_lock("binance", "BTC/USDT", bot_id=17, ttl=30) as lease:
            await place_order(..., client_order_id=f"17-{lease.fence}")
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from fullon_cache import validation
from fullon_cache.account_cache import AccountCache
from fullon_cache.codecs import dumps, loads, loads_object, utc_now, utf8
from fullon_cache.errors import (
    CacheCorruptedValueError,
    CacheError,
    InvalidInputError,
    LockHeldError,
    LockLostError,
    translate_redis_error,
)
from fullon_cache.keys import identifier
from fullon_cache.log import get_logger
from fullon_cache.scripts import (
    ACQUIRE_LOCK,
    EXTEND_LOCK,
    RELEASE_LOCK,
    ScriptCall,
    run_pipelined,
    run_script,
)

__all__ = ["BotCache", "Lease"]

logger = get_logger("bot")


def _lock_pair(member: bytes, index: str) -> tuple[str, str]:
    """An index member: the JSON list [exchange, symbol]."""
    pair = loads(member, index)
    if not isinstance(pair, list) or len(pair) != 2:
        raise CacheCorruptedValueError(index, "a lock entry is [exchange, symbol]")
    try:
        return identifier(pair[0], "ex_id"), identifier(pair[1], "symbol")
    except ValueError as exc:  # InvalidInputError and InvalidTypeError are ValueErrors
        raise CacheCorruptedValueError(index, f"bad lock entry: {exc}") from exc


def _holder(reply: object, key: str) -> str | None:
    """The bot id a lock holds (a GET reply), None when free; anything else is corrupted."""
    if isinstance(reply, Exception):
        raise CacheCorruptedValueError(key, "not a bot lock")
    return None if reply is None else utf8(cast("bytes", reply), key)


def _ttl_ms(ttl: object) -> int:
    if ttl is None:
        return 0
    seconds = validation.seconds(ttl, "ttl")
    if seconds < 0.001:
        raise InvalidInputError("ttl must be at least a millisecond")
    return max(1, round(seconds * 1000))


class Lease:
    """A held bot lock (from :meth:`BotCache.bot_lock`): its fencing number and its health.

    Example::

        async with cache.bot_lock("kraken", "ETH/USD", 3) as lease:
            lease.fence       # 12: larger than any earlier holder's
            lease.lost        # True once the lock ran out or was taken
    """

    def __init__(
        self, exchange: str, symbol: str, bot_id: str, fence: int, *, expires: float
    ) -> None:
        self.exchange = exchange
        self.symbol = symbol
        self.bot_id = bot_id
        self.fence = fence
        self.expires = expires
        """Monotonic time by which the lock expires unless extended (counted from the send
        of the last confirmed extension, so never later than the server's expiry)."""
        self.taken = False

    @property
    def lost(self) -> bool:
        """True once the lock was found gone or taken, or its confirmed expiry passed."""
        return self.taken or time.monotonic() >= self.expires

    def check(self) -> None:
        """Raise :class:`~fullon_cache.errors.LockLostError` if the lock is gone.

        Example::

            lease.check()   # before every order
        """
        if self.lost:
            raise LockLostError(f"bot {self.bot_id} lost {self.exchange} {self.symbol}")


class BotCache(AccountCache):
    """Bot coordination: locks, opening-position marks, bot status; a layer of the chain.

    Example::

        async with BotCache() as cache:
            if await cache.block_exchange("binance", "BTC/USDT", bot_id=17, ttl=60):
                ...
    """

    # -- locks --------------------------------------------------------------------------------

    def _lock_keys(self, ex_id: int | str, symbol: str) -> tuple[str, str, list[str]]:
        ex, sym = identifier(ex_id, "ex_id"), identifier(symbol, "symbol")
        return ex, sym, [self._keys.bot_lock(ex, sym), self._keys.bot_lock_fence(ex, sym)]

    async def _acquire(
        self, ex_id: int | str, symbol: str, bot_id: int | str, ttl: object
    ) -> tuple[bool, Any]:
        ex, sym, keys = self._lock_keys(ex_id, symbol)
        owner, ttl_ms = identifier(bot_id, "bot_id"), _ttl_ms(ttl)
        index = self._keys.bot_locks()

        def build(pipe: Pipeline, call: ScriptCall) -> None:
            call(ACQUIRE_LOCK, keys, [owner, ttl_ms])
            pipe.sadd(index, dumps([ex, sym]))

        # The owner re-acquiring changes nothing, so a resend after a lost reply is safe.
        results = await self._run(
            lambda r: run_pipelined(r, build), idempotent=True, write=True, key=keys[0]
        )
        taken, indexed = results
        if isinstance(taken, Exception):
            key = keys[1] if "fencing counter" in str(taken) else keys[0]
            raise translate_redis_error(taken, sent=True, key=key) from taken
        if isinstance(indexed, Exception):
            if taken[0]:  # nobody could see or list this lock: do not keep it
                await self.unblock_exchange(ex, sym, owner)
            raise translate_redis_error(indexed, sent=True, key=index) from indexed
        acquired, detail = taken
        return bool(acquired), detail

    async def block_exchange(
        self, ex_id: int | str, symbol: str, bot_id: int | str, ttl: float | None = None
    ) -> bool:
        """Block (exchange, symbol) for ``bot_id``: True if it holds the block now (or
        already did; the TTL is renewed), False if another bot holds it.

        With ``ttl`` (seconds) the block expires unless extended, so a dead bot's block
        does not stay forever; without, it lasts until released.

        Example::

            await cache.block_exchange("binance", "BTC/USDT", bot_id=17, ttl=60)   # True
        """
        acquired, _ = await self._acquire(ex_id, symbol, bot_id, ttl)
        return acquired

    async def is_blocked(self, ex_id: int | str, symbol: str) -> str:
        """The bot id holding (exchange, symbol), or ``""`` when free; raises when Redis
        cannot answer (never reports "free" then).

        Example::

            holder = await cache.is_blocked("binance", "BTC/USDT")   # '17'
        """
        _, _, keys = self._lock_keys(ex_id, symbol)
        holder = await self._run(lambda r: r.get(keys[0]), idempotent=True, key=keys[0])
        return "" if holder is None else utf8(cast("bytes", holder), keys[0])

    async def unblock_exchange(
        self, ex_id: int | str, symbol: str, bot_id: int | str | None = None
    ) -> bool:
        """Release a block; with ``bot_id`` only if that bot holds it. True if released.

        Example::

            await cache.unblock_exchange("binance", "BTC/USDT", bot_id=17)
        """
        _, _, keys = self._lock_keys(ex_id, symbol)
        owner = "" if bot_id is None else identifier(bot_id, "bot_id")
        # Not resent after a lost reply: the second try would find nothing to release.
        released = await self._run(
            lambda r: run_script(r, RELEASE_LOCK, keys[:1], [owner]),
            idempotent=False,
            key=keys[0],
        )
        return bool(released)

    async def _extend(self, ex: str, sym: str, owner: str, ttl_ms: int) -> bool:
        key = self._keys.bot_lock(ex, sym)
        extended = await self._run(
            lambda r: run_script(r, EXTEND_LOCK, [key], [owner, ttl_ms]),
            idempotent=True,
            write=True,
            key=key,
        )
        return bool(extended)

    async def get_blocks(self) -> list[dict[str, Any]]:
        """Every held block: rows ``{ex_id, symbol, bot, ttl}`` (ttl in seconds, None if
        the block does not expire).

        Example::

            for block in await cache.get_blocks():
                print(block["ex_id"], block["symbol"], block["bot"], block["ttl"])
        """
        index = self._keys.bot_locks()
        members = await self._run(lambda r: r.smembers(index), idempotent=True, key=index)
        pairs = []
        for member in sorted(cast("set[bytes]", members)):
            try:
                pairs.append(_lock_pair(member, index))
            except CacheCorruptedValueError as error:
                self._skip_corrupted(error)
        keys = [self._keys.bot_lock(ex, sym) for ex, sym in pairs]

        async def read(client: Redis) -> list[Any]:
            async with client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.get(key)
                    pipe.pttl(key)
                return await pipe.execute(raise_on_error=False)

        replies = await self._run(read, idempotent=True)
        rows = []
        for key, (ex, sym), holder, pttl in zip(
            keys, pairs, replies[::2], replies[1::2], strict=True
        ):
            try:
                bot = _holder(holder, key)
            except CacheCorruptedValueError as error:
                self._skip_corrupted(error)
                continue
            if bot is not None and pttl != -2:  # -2: it expired between the two reads
                ttl = None if pttl < 0 else pttl / 1000
                rows.append({"ex_id": ex, "symbol": sym, "bot": bot, "ttl": ttl})
        return rows

    @asynccontextmanager
    async def bot_lock(
        self, ex_id: int | str, symbol: str, bot_id: int | str, ttl: float = 30.0
    ) -> AsyncIterator[Lease]:
        """Hold (exchange, symbol) while the block runs: the same lock as
        :meth:`block_exchange`, extended every ``ttl / 3`` seconds, released at the end.

        Raises :class:`~fullon_cache.errors.LockHeldError` when another bot holds it. If the
        lease is lost meanwhile (expired during a stall, or taken), ``lease.lost`` becomes
        True, ``lease.check()`` raises, and leaving the block raises
        :class:`~fullon_cache.errors.LockLostError`.

        Example::

            async with cache.bot_lock("binance", "BTC/USDT", bot_id=17, ttl=30) as lease:
                lease.check()
                await trade(fence=lease.fence)
        """
        seconds = validation.seconds(ttl, "ttl")
        _ttl_ms(seconds)
        started = time.monotonic()
        acquired, detail = await self._acquire(ex_id, symbol, bot_id, seconds)
        ex, sym, keys = self._lock_keys(ex_id, symbol)
        owner = identifier(bot_id, "bot_id")
        if not acquired:
            holder = utf8(detail, keys[0])
            raise LockHeldError(holder, f"{ex} {sym} is held by bot {holder}")
        lease = Lease(ex, sym, owner, int(detail), expires=started + seconds)
        keeper = asyncio.create_task(self._keep_alive(lease, seconds))
        try:
            yield lease
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            if not lease.lost and not await self.unblock_exchange(ex, sym, owner):
                lease.taken = True  # gone (or taken) since the last extension
        lease.check()

    async def _keep_alive(self, lease: Lease, ttl: float) -> None:
        """Extend the lease every ttl/3 (sooner after a failure). The lease counts as lost
        when an extension finds it gone, or when its last confirmed expiry passes."""
        pause = ttl / 3
        while not lease.lost:
            await asyncio.sleep(pause)
            sent = time.monotonic()
            try:
                if await self._extend(lease.exchange, lease.symbol, lease.bot_id, _ttl_ms(ttl)):
                    lease.expires, pause = sent + ttl, ttl / 3
                else:
                    lease.taken = True
            except CacheError as error:
                logger.warning("could not extend a bot lock", bot=lease.bot_id, error=str(error))
                pause = ttl / 10
        logger.warning("bot lock lost", exchange=lease.exchange, symbol=lease.symbol)

    # -- opening-position marks --------------------------------------------------------------

    def _mark_field(self, ex_id: int | str, symbol: str) -> str:
        return dumps([identifier(ex_id, "ex_id"), identifier(symbol, "symbol")]).decode()

    async def mark_opening_position(self, ex_id: int | str, symbol: str, bot_id: int | str) -> bool:
        """Note that ``bot_id`` is opening a position on (exchange, symbol).

        Example::

            await cache.mark_opening_position("binance", "BTC/USDT", 17)
        """
        field, owner = self._mark_field(ex_id, symbol), identifier(bot_id, "bot_id")
        key = self._keys.opening_positions()
        await self._run(lambda r: r.hset(key, field, owner), idempotent=True, write=True, key=key)
        return True

    async def is_opening_position(self, ex_id: int | str, symbol: str) -> bool:
        """True while a bot is marked as opening a position there.

        Example::

            await cache.is_opening_position("binance", "BTC/USDT")   # True
        """
        field, key = self._mark_field(ex_id, symbol), self._keys.opening_positions()
        return bool(await self._run(lambda r: r.hexists(key, field), idempotent=True, key=key))

    async def unmark_opening_position(self, ex_id: int | str, symbol: str) -> bool:
        """Remove the mark; False when there was none.

        Example::

            await cache.unmark_opening_position("binance", "BTC/USDT")
        """
        field, key = self._mark_field(ex_id, symbol), self._keys.opening_positions()
        return bool(await self._run(lambda r: r.hdel(key, field), idempotent=False, key=key))

    # -- bot status ---------------------------------------------------------------------------

    async def update_bot(self, bot_id: int | str, bot: Mapping[str, Any]) -> bool:
        """Store a bot's status: ``{feed: {...}}``; each feed dict gets a ``timestamp`` (now,
        ISO UTC) in the stored copy, never in the caller's dict.

        Example::

            await cache.update_bot(17, {"feed_1": {"symbol": "BTC/USDT", "status": "running"}})
        """
        name = identifier(bot_id, "bot_id")
        status = validation.optional_mapping(bot, "bot")
        now = utc_now().isoformat()
        stamped = {
            feed: {**value, "timestamp": now} if isinstance(value, Mapping) else value
            for feed, value in status.items()
        }
        data, key = dumps(stamped), self._keys.bot_statuses()
        await self._run(lambda r: r.hset(key, name, data), idempotent=True, write=True, key=key)
        return True

    async def get_bots(self) -> dict[str, dict[str, Any]]:
        """Every bot's status, by bot id (corrupted entries skipped).

        Example::

            for bot_id, status in (await cache.get_bots()).items():
                print(bot_id, status)
        """
        key = self._keys.bot_statuses()
        fields = await self._run(lambda r: r.hgetall(key), idempotent=True, key=key)
        return self._decoded_mappings(fields, key)

    async def get_bot(self, bot_id: int | str) -> dict[str, Any] | None:
        """One bot's status, or None.

        Example::

            status = await cache.get_bot(17)
        """
        name, key = identifier(bot_id, "bot_id"), self._keys.bot_statuses()
        raw = await self._run(lambda r: r.hget(key, name), idempotent=True, key=key)
        if raw is None:
            return None
        return loads_object(cast("bytes", raw), key)

    async def del_bot(self, bot_id: int | str) -> bool:
        """Delete one bot's status; False when there was none.

        Example::

            await cache.del_bot(17)
        """
        name, key = identifier(bot_id, "bot_id"), self._keys.bot_statuses()
        return bool(await self._run(lambda r: r.hdel(key, name), idempotent=False, key=key))

    async def del_status(self) -> bool:
        """Delete every bot's status; False when there was none.

        Example::

            await cache.del_status()
        """
        key = self._keys.bot_statuses()
        return bool(await self._run(lambda r: r.delete(key), idempotent=False, key=key))
