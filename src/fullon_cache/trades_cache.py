"""TradesCache: trade lists per exchange and symbol, per-user trade queues, trade statuses.

A trade list is a FIFO list per exchange and symbol (the symbol is normalized, so
``BTC/USDT`` and ``BTCUSDT`` name the same list). Collectors push trades onto it; a consumer
*drains* it with :meth:`TradesCache.get_trades`. Per-user queues (``push_my_trades_list`` /
``pop_my_trade``) are FIFO lists popped one trade at a time, with any timeout. Trade statuses
are two hashes: status key -> the aware UTC datetime of its last update.

Drains and pops are at-least-once. One script takes the trades and, in the same step, keeps
them as one entry on a processing list beside the queue (same hash tag); a second round trip
acknowledges (drops) that entry once the trades are in hand. A take that was cancelled, or
whose reply was lost, is given back to the head of its queue by the same instance's next take
of that queue; a take nobody acknowledged for ``STALE_TAKE_SECONDS`` (its consumer died) is
given back by anyone's next take. A trade pushed during a drain is in this drain or the next.

Trades go in and come out as :class:`~fullon_cache.models.Trade`; ``time`` comes back as it
was given (a float epoch, or a datetime, as an aware UTC datetime).

Example::

    async with TradesCache() as cache:
        await cache.push_trade_list("BTC/USDT", "binance", Trade(ex_trade_id="t1", volume=0.1))
        for trade in await cache.get_trades("BTC/USDT", "binance"):   # the list is now empty
            print(trade.ex_trade_id, trade.volume)
        await cache.update_trade_status("binance")
        print(await cache.get_trade_status("binance"))
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import cast

from redis.asyncio import Redis

from fullon_cache import validation
from fullon_cache.codecs import (
    decode_model,
    decode_text,
    encode_model,
    parse_datetime,
    to_utc,
    utc_now,
)
from fullon_cache.errors import (
    CacheCorruptedValueError,
    CacheError,
    InvalidInputError,
    InvalidTypeError,
)
from fullon_cache.keys import identifier, normalize_symbol
from fullon_cache.log import get_logger
from fullon_cache.models import Trade
from fullon_cache.orders_cache import OrdersCache
from fullon_cache.scripts import ACK_TRADES, GIVE_BACK_TRADES, TAKE_TRADES, run_script

__all__ = ["TradesCache"]

logger = get_logger("trades")


def _encoded_trade(trade: object) -> bytes:
    """The JSON of a Trade; anything else (a dict, an Order...) raises InvalidTypeError."""
    if not isinstance(trade, Trade):
        raise InvalidTypeError(f"expected a Trade, not {type(trade).__name__}")
    return encode_model(trade)


def _symbol(symbol: object) -> str:
    name = identifier(symbol, "symbol")
    if not normalize_symbol(name):
        raise InvalidInputError("symbol must contain more than '/'")
    return name


def _status_time(timestamp: object) -> datetime:
    """The time to store for a status: now, a datetime (naive = UTC) or a float epoch."""
    if timestamp is None:
        return utc_now()
    if isinstance(timestamp, bool) or not isinstance(timestamp, datetime | int | float):
        got = type(timestamp).__name__
        raise InvalidTypeError(f"timestamp must be a datetime, an epoch number or None, not {got}")
    if not isinstance(timestamp, datetime) and not math.isfinite(timestamp):
        raise InvalidInputError("timestamp must be a finite number of epoch seconds")
    try:
        if isinstance(timestamp, datetime):
            return to_utc(timestamp)
        return datetime.fromtimestamp(timestamp, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise InvalidInputError("timestamp is out of the range of dates") from exc


def _decode_time(raw: bytes, key: str) -> datetime:
    return parse_datetime(decode_text(raw, key), key)


class TradesCache(OrdersCache):
    """Trade lists, per-user trade queues and trade statuses; below OrdersCache in the chain.

    Example::

        async with TradesCache() as cache:
            await cache.push_my_trades_list(7, "binance", trade)
            trade = await cache.pop_my_trade(7, "binance", timeout=5)   # None after 5 s
    """

    STALE_TAKE_SECONDS = 60.0
    """A drain or pop nobody acknowledged for this long (or for two call deadlines, if that is
    longer) is stale: its consumer died, and the next take of that queue gives it back."""

    _abandoned_takes: dict[str, set[str]]
    """Per processing list: tokens of this instance's takes that failed or were cancelled
    after they may have run (created on first use: the caches have no ``__init__``)."""

    # -- reliable takes (drains and pops) -------------------------------------------------

    def _abandoned(self, processing: str) -> set[str]:
        if not hasattr(self, "_abandoned_takes"):
            self._abandoned_takes = {}
        return self._abandoned_takes.setdefault(processing, set())

    async def _take_trades(
        self, queue: str, processing: str, count: int
    ) -> tuple[str, list[bytes]]:
        """One TAKE_TRADES round trip: ``count`` trades (0: all) onto the processing list
        under a new token, after giving back this instance's abandoned takes and stale ones."""
        token, abandoned = uuid.uuid4().hex, self._abandoned(processing)
        given_back = sorted(abandoned)
        stale = max(self.STALE_TAKE_SECONDS, 2 * self._settings.deadline)
        keys, args = [queue, processing], [token, count, repr(stale), *given_back]
        try:
            reply = await self._run(
                lambda r: run_script(r, TAKE_TRADES, keys, args), idempotent=False, key=queue
            )
        except BaseException:
            abandoned.add(token)  # it may have run: the next take gives its trades back
            raise
        abandoned.difference_update(given_back)
        if not isinstance(reply, list):
            self._script_outcome(reply, keys)  # -i: KEYS[i] holds another Redis type
        return token, cast("list[bytes]", reply)

    async def _acknowledge_take(
        self, queue: str, processing: str, token: str, trades: list[bytes]
    ) -> None:
        """Drop a delivered take. If that fails the trades are still delivered (logged); they
        come back once the take is stale. Cancelled, the trades never reach the caller: they
        go back to the head of the queue before the cancellation goes on."""
        try:
            reply = await self._run(
                lambda r: run_script(r, ACK_TRADES, [processing], [token]),
                idempotent=True,
                write=True,
                key=processing,
            )
            self._script_outcome(reply, [processing])
        except CacheError as error:
            logger.warning("could not acknowledge taken trades", key=processing, error=str(error))
        except BaseException:
            # Should the give-back fail too, the next take gives the entry back (if the
            # acknowledgement did not drop it); after a give-back, it finds nothing.
            self._abandoned(processing).add(token)
            with contextlib.suppress(CacheError):  # the cancellation is what goes on
                await self._give_back(queue, processing, token, trades)
            raise

    async def _give_back(
        self, queue: str, processing: str, token: str, trades: list[bytes]
    ) -> None:
        """Put the trades of a take back at the head of the queue, whether its acknowledgement
        ran or not (never resent: a second give-back would queue them twice)."""
        keys = [queue, processing]
        reply = await self._run(
            lambda r: run_script(r, GIVE_BACK_TRADES, keys, [token, *trades]),
            idempotent=False,
            key=queue,
        )
        self._script_outcome(reply, keys)

    async def _deliver(
        self, queue: str, processing: str, count: int, seconds: float = 0.0
    ) -> list[bytes]:
        """Take ``count`` trades (0: all), waiting up to ``seconds`` for one, and acknowledge
        them: two round trips, plus a wait and a take per wake-up on an empty queue."""
        loop = asyncio.get_running_loop()
        ends = loop.time() + seconds
        while True:
            token, taken = await self._take_trades(queue, processing, count)
            if taken or ends - loop.time() < 0.01:
                break
            # Wait for a trade without taking it: BLMOVE of the head back onto the head.
            head = await self._blocking_pop(queue, ends - loop.time(), into=queue, to_head=True)
            if head is None:
                return []
        if taken:
            await self._acknowledge_take(queue, processing, token, taken)
        return taken

    # -- trade lists ----------------------------------------------------------------------

    def _trade_list(self, symbol: object, exchange: object) -> tuple[str, str]:
        """The trade list of ``symbol`` on ``exchange`` and its processing list."""
        ex, name = identifier(exchange, "exchange"), _symbol(symbol)
        return self._keys.trades(ex, name), self._keys.trades_processing(ex, name)

    async def _append_trade(self, key: str, data: bytes) -> int:
        """RPUSH one entry; never resent once it may have reached the server."""
        length = await self._run(lambda r: r.rpush(key, data), idempotent=False, key=key)
        return int(length)

    async def push_trade_list(self, symbol: str, exchange: str, trade: Trade) -> int:
        """Append ``trade`` to the list of ``symbol`` on ``exchange``; returns the list length.

        Keywords work too: ``push_trade_list(symbol=..., exchange=..., trade=...)``. A lost
        reply raises :class:`~fullon_cache.errors.CacheUnknownOutcomeError` (the push is never
        resent, so the trade is in the list at most once).

        Example::

            await cache.push_trade_list("BTC/USDT", "binance", Trade(ex_trade_id="t1"))   # 1
        """
        key, _ = self._trade_list(symbol, exchange)
        return await self._append_trade(key, _encoded_trade(trade))

    async def push_trade(self, exchange: str, trade: Trade) -> bool:
        """Append ``trade`` to the exchange's list of trades of any symbol; True.

        Example::

            await cache.push_trade("binance", Trade(ex_trade_id="t1", symbol="ETH/USDT"))
        """
        key = self._keys.exchange_trades(identifier(exchange, "exchange"))
        await self._append_trade(key, _encoded_trade(trade))
        return True

    async def get_trades(self, symbol: str, exchange: str) -> list[Trade]:
        """Drain the list of ``symbol`` on ``exchange``: every trade, oldest first; [] if none.

        The list is taken whole in one step (a trade pushed concurrently is in this drain or
        the next), kept on a processing list until acknowledged: two round trips. A drain that
        was cancelled, or raised CacheUnknownOutcomeError/CacheTimeoutError, loses nothing:
        this instance's next drain returns its trades first (another instance's, once the take
        is ``STALE_TAKE_SECONDS`` old). Undecodable entries are skipped (logged and counted in
        ``corrupted_skipped``); a list of the wrong Redis type raises
        :class:`~fullon_cache.errors.CacheCorruptedValueError` naming it (nothing changes).

        Example::

            trades = await cache.get_trades("BTC/USDT", "binance")
        """
        key, processing = self._trade_list(symbol, exchange)
        entries = await self._deliver(key, processing, 0)
        logger.debug("trades drained", key=key, count=len(entries))
        return self._decoded_trades(entries, key)

    async def get_trades_list(self, symbol: str, exchange: str) -> list[Trade]:
        """Compat alias of :meth:`get_trades` (drains the list too).

        Example::

            trades = await cache.get_trades_list("BTC/USDT", "binance")
        """
        return await self.get_trades(symbol, exchange)

    def _decoded_trades(self, entries: list[bytes], key: str) -> list[Trade]:
        trades = []
        for raw in entries:
            try:
                trades.append(decode_model(Trade, raw, key))
            except CacheCorruptedValueError as error:
                self._skip_corrupted(error)
        return trades

    # -- trade statuses -------------------------------------------------------------------

    async def _stamp_status(self, hash_key: str, key: object, at: datetime) -> bool:
        field = identifier(key, "key")
        stamp = at.isoformat()
        await self._run(
            lambda r: r.hset(hash_key, field, stamp), idempotent=True, write=True, key=hash_key
        )
        return True

    async def _status_at(self, hash_key: str, key: object) -> datetime | None:
        field = identifier(key, "key")
        raw = await self._run(lambda r: r.hget(hash_key, field), idempotent=True, key=hash_key)
        return None if raw is None else _decode_time(cast("bytes", raw), hash_key)

    async def update_trade_status(self, key: int | str) -> bool:
        """Record that trades of ``key`` (for example an exchange) were updated now; True.

        Example::

            await cache.update_trade_status("binance")
        """
        return await self._stamp_status(self._keys.trade_statuses(), key, utc_now())

    async def get_trade_status(self, key: int | str) -> datetime | None:
        """When ``key``'s trades were last updated (aware UTC), or None.

        An undecodable stored time raises :class:`~fullon_cache.errors.CacheCorruptedValueError`.

        Example::

            await cache.get_trade_status("binance")   # datetime(2026, ..., tzinfo=UTC)
        """
        return await self._status_at(self._keys.trade_statuses(), key)

    async def get_all_trade_statuses(self) -> dict[str, datetime]:
        """Every trade status by key; undecodable entries are skipped (logged and counted).

        Example::

            for key, updated in (await cache.get_all_trade_statuses()).items():
                print(key, updated.isoformat())
        """
        hash_key = self._keys.trade_statuses()
        fields = await self._run(lambda r: r.hgetall(hash_key), idempotent=True, key=hash_key)
        return self._decoded_statuses(cast("Mapping[bytes, bytes]", fields), hash_key)

    def _decoded_statuses(self, fields: Mapping[bytes, bytes], key: str) -> dict[str, datetime]:
        found = {}
        for name in sorted(fields):
            try:
                found[decode_text(name, key)] = _decode_time(fields[name], key)
            except CacheCorruptedValueError as error:
                self._skip_corrupted(error)
        return found

    async def update_user_trade_status(
        self, key: int | str, timestamp: datetime | float | None = None
    ) -> bool:
        """Record when ``key``'s user trades were updated: now, or ``timestamp``; True.

        ``timestamp`` is a datetime (a naive one is taken as UTC) or epoch seconds.

        Example::

            await cache.update_user_trade_status("7:binance")
            await cache.update_user_trade_status("7:kraken", timestamp=1700000000.0)
        """
        at = _status_time(timestamp)
        return await self._stamp_status(self._keys.user_trade_statuses(), key, at)

    async def get_user_trade_status(self, key: int | str) -> datetime | None:
        """When ``key``'s user trades were last updated (aware UTC), or None.

        Example::

            await cache.get_user_trade_status("7:binance")
        """
        return await self._status_at(self._keys.user_trade_statuses(), key)

    async def delete_user_trade_statuses(self) -> int:
        """Delete every user trade status; returns how many there were.

        Retried after a lost reply (deleting twice changes nothing); the retry then reports 0.

        Example::

            await cache.delete_user_trade_statuses()   # 3
        """
        hash_key = self._keys.user_trade_statuses()

        async def delete(client: Redis) -> int:
            async with client.pipeline(transaction=True) as tx:
                tx.hlen(hash_key)
                tx.delete(hash_key)
                count, _ = await tx.execute()
            return int(count)

        return await self._run(delete, idempotent=True, key=hash_key)

    # -- per-user trade queues ------------------------------------------------------------

    def _user_list(self, uid: object, exchange: object) -> tuple[str, str]:
        """The trade queue of ``uid`` on ``exchange`` and its processing list."""
        user, ex = identifier(uid, "uid"), identifier(exchange, "exchange")
        return self._keys.user_trades(user, ex), self._keys.user_trades_processing(user, ex)

    async def push_my_trades_list(self, uid: int | str, exchange: str, trade: Trade) -> int:
        """Queue a trade of user ``uid`` on ``exchange`` (FIFO); returns the queue length.

        Example::

            await cache.push_my_trades_list(7, "binance", Trade(ex_trade_id="t1"))   # 1
        """
        key, _ = self._user_list(uid, exchange)
        return await self._append_trade(key, _encoded_trade(trade))

    async def pop_my_trade(self, uid: int | str, exchange: str, timeout: float = 0) -> Trade | None:
        """Take the oldest queued trade of ``uid`` on ``exchange``; None when there is none.

        ``timeout`` 0 does not wait; otherwise waits up to ``timeout`` seconds (any length).
        Two round trips (take, acknowledge), plus a wait and a take if the queue was empty. A
        pop that was cancelled, or raised CacheUnknownOutcomeError/CacheTimeoutError, loses
        nothing: this instance's next pop of that queue returns its trade first (another
        instance's, once the take is ``STALE_TAKE_SECONDS`` old). An undecodable entry is
        taken off the queue and raises :class:`~fullon_cache.errors.CacheCorruptedValueError`.

        Example::

            trade = await cache.pop_my_trade(7, "binance", timeout=5)
        """
        key, processing = self._user_list(uid, exchange)
        seconds = validation.seconds(timeout, "timeout")
        taken = await self._deliver(key, processing, 1, seconds)
        return decode_model(Trade, taken[0], key) if taken else None

    async def push_user_trade(self, uid: int | str, exchange: str, trade: Trade) -> int:
        """Alias of :meth:`push_my_trades_list`.

        Example::

            await cache.push_user_trade(7, "binance", trade)
        """
        return await self.push_my_trades_list(uid, exchange, trade)

    async def pop_user_trade(
        self, uid: int | str, exchange: str, timeout: float = 0
    ) -> Trade | None:
        """Alias of :meth:`pop_my_trade`.

        Example::

            trade = await cache.pop_user_trade(7, "binance", timeout=1)
        """
        return await self.pop_my_trade(uid, exchange, timeout)
