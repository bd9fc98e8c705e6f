"""SymbolCache: the symbols of each exchange, read through from the database.

Symbols live in one hash per catalogue exchange (``cat_ex_id``), loaded whole from the source
on a miss and kept for ``CACHE_TTL_SYMBOL`` seconds. Every symbol handed out carries its
``cat_exchange``, so ``symbol.exchange_name`` works. Deleting a symbol deletes its ticker too.

Example::

    async with SymbolCache() as cache:
        for symbol in await cache.get_symbols("binance"):
            print(symbol.symbol, symbol.exchange_name)
        btc = await cache.get_symbol("BTC/USDT", exchange_name="binance")
"""

from __future__ import annotations

from typing import Any, cast

from redis.asyncio import Redis

from fullon_cache.codecs import decode_model, encode_model
from fullon_cache.errors import InvalidInputError, InvalidTypeError
from fullon_cache.exchange_cache import ExchangeCache
from fullon_cache.keys import identifier
from fullon_cache.log import get_logger
from fullon_cache.models import Symbol
from fullon_cache.scripts import DELETE_TICKER, HSET_IF_FIELD_EXISTS, run_script
from fullon_cache.sources import ReferenceSource

__all__ = ["SymbolCache"]

logger = get_logger("symbol")


def _checked_symbol(symbol: object) -> Symbol:
    if not isinstance(symbol, Symbol):
        raise InvalidTypeError(f"expected a Symbol, not {type(symbol).__name__}")
    identifier(symbol.symbol, "symbol.symbol")
    identifier(symbol.cat_ex_id, "symbol.cat_ex_id")
    return symbol


class SymbolCache(ExchangeCache):
    """Symbol reference data; the fourth layer of the chain.

    Example::

        async with SymbolCache() as cache:
            symbols = await cache.get_symbols_by_ex_id(1, force=True)   # fresh from the source
    """

    async def _with_exchange(self, symbols: list[Symbol], cat_ex_id: int | str) -> list[Symbol]:
        """Attach the catalogue entry to symbols that came without one."""
        if all(symbol.cat_exchange is not None for symbol in symbols):
            return symbols
        cat = await self._cat_exchange_by_id(cat_ex_id)
        for symbol in symbols:
            if symbol.cat_exchange is None:
                symbol.cat_exchange = cat
        return symbols

    async def _symbol_fields(
        self, cat_ex_id: int | str, *, force: bool = False
    ) -> tuple[dict[str, bytes], bool]:
        key = self._keys.symbols(identifier(cat_ex_id, "cat_ex_id"))

        async def load(source: ReferenceSource) -> dict[str, bytes]:
            found = await source.get_symbols(cat_ex_id)
            return {str(symbol.symbol): encode_model(symbol) for symbol in found}

        return await self._read_collection(key, load, self._settings.ttl_symbol, force=force)

    async def get_symbols_by_ex_id(self, cat_ex_id: int | str, force: bool = False) -> list[Symbol]:
        """Every symbol of one catalogue exchange; ``force`` reloads them from the source.

        Example::

            symbols = await cache.get_symbols_by_ex_id(1)
        """
        fields, _ = await self._symbol_fields(cat_ex_id, force=force)
        key = self._keys.symbols(identifier(cat_ex_id, "cat_ex_id"))
        return await self._with_exchange(self._decode_all(Symbol, fields, key), cat_ex_id)

    async def get_symbols(self, exchange: str, force: bool = False) -> list[Symbol]:
        """Every symbol of an exchange, by name ([] when the catalogue does not know it).

        Example::

            symbols = await cache.get_symbols("kraken", force=True)
        """
        cat_ex_id = await self.get_cat_ex_id(exchange)
        return [] if cat_ex_id is None else await self.get_symbols_by_ex_id(cat_ex_id, force)

    async def _resolve_cat_ex_id(
        self, cat_ex_id: int | str | None, exchange_name: str | None
    ) -> int | str | None:
        if cat_ex_id is not None:
            return cat_ex_id
        if exchange_name is None:
            raise InvalidInputError("give cat_ex_id or exchange_name to look a symbol up")
        return await self.get_cat_ex_id(exchange_name)

    async def get_symbol(
        self,
        symbol: str,
        cat_ex_id: int | str | None = None,
        exchange_name: str | None = None,
    ) -> Symbol | None:
        """One symbol of one exchange; on a miss the exchange's symbols are reloaded once.

        Example::

            await cache.get_symbol("ETH/USDT", exchange_name="binance")
        """
        name = identifier(symbol, "symbol")
        cat = await self._resolve_cat_ex_id(cat_ex_id, exchange_name)
        if cat is None:
            return None
        key = self._keys.symbols(identifier(cat, "cat_ex_id"))
        raw = await self._run(lambda r: r.hget(key, name), idempotent=True, key=key)
        if raw is None and self.source is not None:
            fields, _ = await self._symbol_fields(cat, force=True)
            raw = fields.get(name)
        if raw is None:
            return None
        found = decode_model(Symbol, cast("bytes", raw), key)
        return (await self._with_exchange([found], cat))[0]

    async def symbol_exists(
        self,
        symbol: Symbol | str,
        cat_ex_id: int | str | None = None,
        exchange_name: str | None = None,
    ) -> bool:
        """True when the symbol is known (a ``Symbol`` brings its own ``cat_ex_id``).

        Example::

            await cache.symbol_exists("BTC/USDT", exchange_name="binance")   # True
        """
        if not isinstance(symbol, str):
            model = _checked_symbol(symbol)
            symbol, cat_ex_id = model.symbol, model.cat_ex_id
        return await self.get_symbol(symbol, cat_ex_id, exchange_name) is not None

    async def add_symbol(self, symbol: Symbol) -> bool:
        """Cache a symbol under its exchange (a list loaded from the source stays complete).

        Example::

            await cache.add_symbol(Symbol(symbol="SOL/USDT", cat_ex_id=1, base="SOL", quote="USDT"))
        """
        model = _checked_symbol(symbol)
        key = self._keys.symbols(identifier(model.cat_ex_id, "symbol.cat_ex_id"))
        data, ttl = encode_model(model), self._settings.ttl_symbol

        async def write(client: Redis) -> None:
            async with client.pipeline(transaction=True) as tx:
                tx.hset(key, model.symbol, data)
                tx.expire(key, ttl)
                await tx.execute()

        await self._run(write, idempotent=True, write=True, key=key)
        return True

    async def update_symbol(self, symbol: Symbol) -> bool:
        """Replace a cached symbol; False (and nothing written) when it is not cached.

        Example::

            btc.decimals = 2
            await cache.update_symbol(btc)
        """
        model = _checked_symbol(symbol)
        key = self._keys.symbols(identifier(model.cat_ex_id, "symbol.cat_ex_id"))
        args: list[Any] = [model.symbol, encode_model(model)]
        updated = await self._run(
            lambda r: run_script(r, HSET_IF_FIELD_EXISTS, [key], args),
            idempotent=True,
            write=True,
            key=key,
        )
        return bool(updated)

    async def delete_symbol(self, symbol: Symbol) -> bool:
        """Forget a symbol and delete its ticker; False when it was not cached.

        The ticker goes first: a ticker hash of the wrong Redis type raises
        :class:`~fullon_cache.errors.CacheCorruptedValueError` naming it, and the symbol stays.

        Example::

            await cache.delete_symbol(btc)
        """
        model = _checked_symbol(symbol)
        key = self._keys.symbols(identifier(model.cat_ex_id, "symbol.cat_ex_id"))
        exchange = model.exchange_name
        if exchange is None:
            cat = await self._cat_exchange_by_id(model.cat_ex_id)
            exchange = None if cat is None else cat.name
        if exchange is not None:
            await self._delete_ticker(identifier(exchange, "exchange"), model.symbol)
        deleted = await self._run(lambda r: r.hdel(key, model.symbol), idempotent=True, key=key)
        return bool(deleted)

    async def _delete_ticker(self, exchange: str, symbol: str) -> bool:
        """Delete a stored ticker (its value and its time, atomically); False when there was
        none. A hash of the wrong Redis type raises naming it, and nothing is deleted."""
        keys = self._ticker_keys(exchange)
        deleted = await self._run(
            lambda r: run_script(r, DELETE_TICKER, keys, [symbol]),
            idempotent=True,
            write=True,
            key=keys[0],
        )
        return bool(self._script_outcome(deleted, keys))

    def _ticker_keys(self, exchange: str) -> list[str]:
        """An exchange's latest-ticker hash and the hash of their times (KEYS of the scripts)."""
        return [self._keys.tickers(exchange), self._keys.ticker_times(exchange)]
