"""A real ReferenceSource for the ExchangeCache/SymbolCache tests: it plays the Fullon database
(Redis itself is never mocked) and counts its calls.

Binance's symbols come without ``cat_exchange`` (the cache must attach it), Kraken's with it;
cat_ex_id 9 has symbols but no catalogue entry.
"""

from __future__ import annotations

import asyncio
import copy
from collections import Counter
from typing import Any

from redis.asyncio import Redis

from fullon_cache.models import CatExchange, Exchange, Symbol
from fullon_cache.settings import CacheSettings

BINANCE = CatExchange(cat_ex_id=1, name="binance", ohlcv_view="binance_ohlcv")
KRAKEN = CatExchange(cat_ex_id=2, name="kraken", ohlcv_view="kraken_ohlcv")
MAIN = Exchange(ex_id=3, uid=7, cat_ex_id=1, name="main")
HEDGE = Exchange(ex_id=4, uid=7, cat_ex_id=2, name="hedge", test=True)
OTHER = Exchange(ex_id=5, uid=8, cat_ex_id=1, name="someone else's", active=False)


def sym(name: str, cat_ex_id: int, cat: CatExchange | None = None, **fields: Any) -> Symbol:
    base, quote = name.split("/")
    return Symbol(
        symbol=name, cat_ex_id=cat_ex_id, base=base, quote=quote, cat_exchange=cat, **fields
    )


class Database:
    """The source: its data can be changed by a test; ``pause`` makes concurrent misses
    overlap for real; ``error`` makes every call fail."""

    def __init__(self) -> None:
        self.exchanges: dict[int, Exchange] = {e.ex_id: copy.copy(e) for e in (MAIN, HEDGE, OTHER)}
        self.catalog: list[CatExchange] = [copy.copy(BINANCE), copy.copy(KRAKEN)]
        self.symbols: dict[int, list[Symbol]] = {
            1: [sym("BTC/USDT", 1, symbol_id=1), sym("ETH/USDT", 1, symbol_id=2, decimals=4)],
            2: [sym("XBT/USD", 2, KRAKEN, symbol_id=3)],
            9: [sym("ABC/DEF", 9, symbol_id=4)],
        }
        self.calls: Counter[str] = Counter()
        self.pause = 0.0
        self.error: Exception | None = None

    async def _visit(self, method: str) -> None:
        self.calls[method] += 1
        if self.pause:
            await asyncio.sleep(self.pause)
        if self.error is not None:
            raise self.error

    async def get_exchange(self, ex_id: int | str) -> Exchange | None:
        await self._visit("get_exchange")
        found = self.exchanges.get(int(ex_id))
        return None if found is None else copy.copy(found)

    async def get_user_exchanges(self, user_id: int | str) -> list[Exchange]:
        await self._visit("get_user_exchanges")
        return [copy.copy(e) for e in self.exchanges.values() if e.uid == int(user_id)]

    async def get_cat_exchanges(self) -> list[CatExchange]:
        await self._visit("get_cat_exchanges")
        return [copy.copy(cat) for cat in self.catalog]

    async def get_symbols(self, cat_ex_id: int | str) -> list[Symbol]:
        await self._visit("get_symbols")
        return copy.deepcopy(self.symbols.get(int(cat_ex_id), []))


def key(settings: CacheSettings, suffix: str) -> str:
    return f"{settings.key_prefix}:{suffix}"


async def stored_keys(raw_redis: Redis, settings: CacheSettings) -> set[str]:
    """Every key of the test's namespace (SCAN on the raw client)."""
    return {
        k.decode().removeprefix(f"{settings.key_prefix}:")
        async for k in raw_redis.scan_iter(match=f"{settings.key_prefix}:*")
    }
