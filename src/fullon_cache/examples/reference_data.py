"""ExchangeCache and SymbolCache: reference data read through from a source on a miss.

The Fullon services read through fullon_orm's database (the default source when fullon_orm is
installed). This example brings its own small in-memory source to show the behaviour: the
first read asks the source, the next ones are served by Redis, ``force=True`` asks again.

Run it: ``python -m fullon_cache.examples.reference_data`` (uses REDIS_URL and the namespace
``fullon_examples``), ``asyncio.run(reference_data.main(settings))`` or ``fullon-cache demo``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from fullon_cache import CacheSettings, SymbolCache, close_all
from fullon_cache.models import CatExchange, Exchange, Symbol

SOURCE = Path(__file__).read_text(encoding="utf-8")


class InMemorySource:
    """Stands for the Fullon database: what ExchangeCache and SymbolCache ask on a miss."""

    def __init__(self) -> None:
        self.calls = 0
        self.symbols = {
            "BTC/USDT": Symbol(symbol="BTC/USDT", cat_ex_id=1, base="BTC", quote="USDT"),
            "ETH/USDT": Symbol(symbol="ETH/USDT", cat_ex_id=1, base="ETH", quote="USDT"),
        }

    async def get_exchange(self, ex_id: object) -> Exchange | None:
        self.calls += 1
        return Exchange(ex_id=int(str(ex_id)), uid=7, cat_ex_id=1, name="main account")

    async def get_user_exchanges(self, user_id: object) -> list[Exchange]:
        self.calls += 1
        return [Exchange(ex_id=3, uid=int(str(user_id)), cat_ex_id=1, name="main account")]

    async def get_cat_exchanges(self) -> list[CatExchange]:
        self.calls += 1
        return [CatExchange(cat_ex_id=1, name="binance", ohlcv_view="binance_ohlcv")]

    async def get_symbols(self, cat_ex_id: object) -> list[Symbol]:
        self.calls += 1
        return list(self.symbols.values())


async def main(settings: CacheSettings | None = None) -> None:
    """Show the read-through caches, asserting what reaches the source."""
    settings = settings or CacheSettings.from_env().replace(key_prefix="fullon_examples")
    source = InMemorySource()

    async with SymbolCache(settings) as cache:
        await cache.prepare_cache()
        cache.source = source

        accounts = await cache.get_exchanges(user_id=7)
        assert [a.ex_id for a in accounts] == [3]
        assert source.calls == 1
        assert await cache.get_exchanges(user_id=7) == accounts
        assert source.calls == 1
        print("get_exchanges: first call read the source, the second came from Redis")

        account = await cache.get_exchange(3)
        assert account is not None
        assert account.name == "main account"
        assert await cache.get_cat_ex_id("binance") == 1
        symbols = await cache.get_symbols("binance")
        assert sorted(s.symbol for s in symbols) == ["BTC/USDT", "ETH/USDT"]
        assert all(s.exchange_name == "binance" for s in symbols)
        print(f"symbols of binance: {sorted(s.symbol for s in symbols)}")

        calls = source.calls
        await cache.get_symbols("binance", force=True)
        assert source.calls == calls + 1
        print("force=True went back to the source")

        # A delisted symbol: gone from the database, then from the cache (its ticker too).
        btc = await cache.get_symbol("BTC/USDT", exchange_name="binance")
        assert btc is not None
        del source.symbols["BTC/USDT"]
        assert await cache.delete_symbol(btc)
        assert not await cache.symbol_exists("BTC/USDT", exchange_name="binance")
        print("BTC/USDT delisted: deleted from the cache together with its ticker")

        await cache.push_ws_error("binance: socket closed", ex_id=3)
        assert await cache.pop_ws_error(3) == "binance: socket closed"
        await cache.prepare_cache()
    await close_all()


if __name__ == "__main__":
    asyncio.run(main())
