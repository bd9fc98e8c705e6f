"""TradesCache: trade lists per exchange and symbol, per-user trade queues, trade statuses.

A trade list is a FIFO list per exchange and symbol (the symbol is normalized, so
``BTC/USDT`` and ``BTCUSDT`` name the same list). Collectors push trades onto it; a consumer
*drains* it with :meth:`TradesCache.get_trades`, which reads and deletes the list in one MULTI
transaction: a trade pushed meanwhile is either in this drain or waits for the next one,
never lost and never returned twice. Per-user queues (``push_my_trades_list`` /
``pop_my_trade``) are FIFO lists popped one trade at a time, with any timeout. Trade statuses
are two hashes: status key -> the aware UTC datetime of its last update.

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

import math
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
from fullon_cache.errors import CacheCorruptedValueError, InvalidInputError, InvalidTypeError
from fullon_cache.keys import identifier, normalize_symbol
from fullon_cache.log import get_logger
from fullon_cache.models import Trade
from fullon_cache.orders_cache import OrdersCache

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

    # -- trade lists ----------------------------------------------------------------------

    def _trade_list(self, symbol: object, exchange: object) -> str:
        return self._keys.trades(identifier(exchange, "exchange"), _symbol(symbol))

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
        key = self._trade_list(symbol, exchange)
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

        Reading and deleting is one MULTI transaction, so a trade pushed concurrently is
        either returned now or stays for the next drain — never lost, never returned twice.
        Undecodable entries are skipped (logged and counted in ``corrupted_skipped``); a key
        of the wrong Redis type raises :class:`~fullon_cache.errors.CacheCorruptedValueError`
        (and is cleared: MULTI does not roll back the delete).

        Known limitation: when the reply of a drain is lost, this raises
        :class:`~fullon_cache.errors.CacheUnknownOutcomeError` and the drained trades are gone.

        Example::

            trades = await cache.get_trades("BTC/USDT", "binance")
        """
        key = self._trade_list(symbol, exchange)

        async def drain(client: Redis) -> list[bytes]:
            async with client.pipeline(transaction=True) as tx:
                tx.lrange(key, 0, -1)
                tx.delete(key)
                entries, _ = await tx.execute()
            return cast("list[bytes]", entries)

        entries = await self._run(drain, idempotent=False, key=key)
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
        await self._run(lambda r: r.hset(hash_key, field, stamp), idempotent=True, key=hash_key)
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

    def _user_list(self, uid: object, exchange: object) -> str:
        return self._keys.user_trades(identifier(uid, "uid"), identifier(exchange, "exchange"))

    async def push_my_trades_list(self, uid: int | str, exchange: str, trade: Trade) -> int:
        """Queue a trade of user ``uid`` on ``exchange`` (FIFO); returns the queue length.

        Example::

            await cache.push_my_trades_list(7, "binance", Trade(ex_trade_id="t1"))   # 1
        """
        key = self._user_list(uid, exchange)
        return await self._append_trade(key, _encoded_trade(trade))

    async def pop_my_trade(self, uid: int | str, exchange: str, timeout: float = 0) -> Trade | None:
        """Take the oldest queued trade of ``uid`` on ``exchange``; None when there is none.

        ``timeout`` 0 does not wait; otherwise waits up to ``timeout`` seconds (any length).
        An undecodable entry is taken off the queue and raises
        :class:`~fullon_cache.errors.CacheCorruptedValueError`.

        Example::

            trade = await cache.pop_my_trade(7, "binance", timeout=5)
        """
        key = self._user_list(uid, exchange)
        seconds = validation.seconds(timeout, "timeout")
        if seconds == 0:
            popped = await self._run(lambda r: r.lpop(key), idempotent=False, key=key)
            raw = cast("bytes | None", popped)
        else:
            raw = await self._blocking_pop(key, seconds)
        return None if raw is None else decode_model(Trade, raw, key)

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
