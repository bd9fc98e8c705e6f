"""SymbolCache against a real server: read-through per exchange, single lookups with refresh,
add/update/delete (with the ticker cascade), TTLs, the stampede guard, corrupted entries and
bad input.

The database is played by :class:`Database`, a small real source that counts its calls
(Redis itself is never mocked).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio import Redis

from fullon_cache import (
    CacheCorruptedValueError,
    CacheSettings,
    CacheSourceError,
    InvalidInputError,
    InvalidTypeError,
    SymbolCache,
)
from fullon_cache.keys import COMPLETE_FIELD
from fullon_cache.models import Exchange, Symbol
from tests.support.proxy import FaultProxy
from tests.support.reference import BINANCE, KRAKEN, Database, key, stored_keys, sym

GUARD = 10  # seconds; only turns a hang into a failure


CACHE_CLASS = SymbolCache


def tickers_key(cache: SymbolCache, exchange: str) -> str:
    return cache._keys.tickers(exchange)


def names(symbols: list[Symbol]) -> list[str]:
    return sorted(s.symbol for s in symbols)


def without_exchange(symbol: Symbol) -> dict[str, Any]:
    return symbol.to_dict()  # the stored fields: cat_exchange is a relationship


# -- get_symbols / get_symbols_by_ex_id ----------------------------------------------------


async def test_get_symbols_reads_an_exchange_through_once(
    cache: SymbolCache, db: Database, settings: CacheSettings, raw_redis: Redis
) -> None:
    symbols = await cache.get_symbols("binance")
    assert names(symbols) == ["BTC/USDT", "ETH/USDT"]
    expected = {s.symbol: without_exchange(s) for s in db.symbols[1]}
    assert {s.symbol: without_exchange(s) for s in symbols} == expected
    # The source gave them without their exchange: the cache attached the catalogue entry.
    assert all(s.cat_exchange == BINANCE for s in symbols)
    assert all(s.exchange_name == "binance" for s in symbols)
    symbols_key = key(settings, "symbols:1")
    assert await raw_redis.hexists(symbols_key, COMPLETE_FIELD)
    assert 0 < await raw_redis.ttl(symbols_key) <= settings.ttl_symbol
    assert names(await cache.get_symbols("binance")) == ["BTC/USDT", "ETH/USDT"]
    assert names(await cache.get_symbols_by_ex_id(1)) == ["BTC/USDT", "ETH/USDT"]
    assert names(await cache.get_symbols_by_ex_id("1")) == ["BTC/USDT", "ETH/USDT"]
    assert (db.calls["get_symbols"], db.calls["get_cat_exchanges"]) == (1, 1)


async def test_symbols_that_come_with_their_exchange_need_no_catalogue(
    cache: SymbolCache, db: Database
) -> None:
    [xbt] = await cache.get_symbols_by_ex_id(2)
    assert xbt.symbol == "XBT/USD"
    assert xbt.cat_exchange == KRAKEN
    assert xbt.exchange_name == "kraken"
    assert db.calls["get_cat_exchanges"] == 0
    [cached] = await cache.get_symbols_by_ex_id(2)
    assert cached.exchange_name == "kraken"  # the stored copy keeps it
    assert (db.calls["get_symbols"], db.calls["get_cat_exchanges"]) == (1, 0)


async def test_symbols_of_an_exchange_missing_from_the_catalogue_have_no_exchange(
    cache: SymbolCache,
) -> None:
    [abc] = await cache.get_symbols_by_ex_id(9)
    assert abc.symbol == "ABC/DEF"
    assert abc.cat_exchange is None
    assert abc.exchange_name is None


async def test_an_unknown_exchange_name_has_no_symbols(
    cache: SymbolCache, db: Database, settings: CacheSettings, raw_redis: Redis
) -> None:
    assert await cache.get_symbols("bitstamp") == []
    assert db.calls["get_symbols"] == 0
    assert await stored_keys(raw_redis, settings) == {"exchanges:catalog"}


async def test_an_exchange_without_symbols_is_cached_as_empty(
    cache: SymbolCache, db: Database
) -> None:
    assert await cache.get_symbols_by_ex_id(5) == []
    assert await cache.get_symbols_by_ex_id(5) == []
    assert db.calls["get_symbols"] == 1


async def test_force_reloads_from_the_source(cache: SymbolCache, db: Database) -> None:
    assert len(await cache.get_symbols("binance")) == 2
    db.symbols[1].append(sym("SOL/USDT", 1))
    assert len(await cache.get_symbols("binance")) == 2  # cached
    assert names(await cache.get_symbols("binance", force=True)) == [
        "BTC/USDT",
        "ETH/USDT",
        "SOL/USDT",
    ]
    del db.symbols[1][0]
    assert names(await cache.get_symbols_by_ex_id(1, force=True)) == ["ETH/USDT", "SOL/USDT"]
    assert names(await cache.get_symbols_by_ex_id(1)) == ["ETH/USDT", "SOL/USDT"]
    assert db.calls["get_symbols"] == 3


async def test_symbols_reload_after_the_ttl_expired(
    settings: CacheSettings, db: Database, raw_redis: Redis
) -> None:
    async with SymbolCache(settings.replace(ttl_symbol=1)) as cache:
        cache.source = db
        assert len(await cache.get_symbols_by_ex_id(1)) == 2
        assert await raw_redis.ttl(key(settings, "symbols:1")) <= 1
        db.symbols[1].append(sym("SOL/USDT", 1))
        await asyncio.sleep(1.2)
        assert len(await cache.get_symbols_by_ex_id(1)) == 3
    assert db.calls["get_symbols"] == 2


async def test_concurrent_get_symbols_misses_load_once(cache: SymbolCache, db: Database) -> None:
    db.pause = 0.2
    results = await asyncio.gather(*(cache.get_symbols("binance") for _ in range(20)))
    assert db.calls["get_symbols"] == 1
    assert db.calls["get_cat_exchanges"] == 1
    assert all(names(result) == ["BTC/USDT", "ETH/USDT"] for result in results)
    assert all(s.exchange_name == "binance" for result in results for s in result)


async def test_a_failing_source_raises_a_chained_error_and_caches_nothing(
    cache: SymbolCache, db: Database, settings: CacheSettings, raw_redis: Redis
) -> None:
    await cache.get_cat_exchanges()
    db.error = OSError("database is down")
    with pytest.raises(CacheSourceError) as caught:
        await cache.get_symbols("binance")
    assert caught.value.__cause__ is db.error
    with pytest.raises(CacheSourceError):
        await cache.get_symbol("BTC/USDT", cat_ex_id=1)
    assert await stored_keys(raw_redis, settings) == {"exchanges:catalog"}
    db.error = None
    assert len(await cache.get_symbols("binance")) == 2


async def test_without_a_source_a_miss_is_empty_and_writes_nothing(
    bare: SymbolCache, settings: CacheSettings, raw_redis: Redis
) -> None:
    assert await bare.get_symbols("binance") == []
    assert await bare.get_symbols_by_ex_id(1) == []
    assert await bare.get_symbol("BTC/USDT", cat_ex_id=1) is None
    assert await bare.get_symbol("BTC/USDT", exchange_name="binance") is None
    assert await bare.symbol_exists("BTC/USDT", cat_ex_id=1) is False
    assert await stored_keys(raw_redis, settings) == set()


async def test_without_a_source_added_symbols_are_what_is_cached(bare: SymbolCache) -> None:
    await bare.add_symbol(sym("BTC/USDT", 1, BINANCE))
    await bare.add_symbol(sym("ETH/USDT", 1))
    symbols = await bare.get_symbols_by_ex_id(1)
    assert names(symbols) == ["BTC/USDT", "ETH/USDT"]
    found = await bare.get_symbol("BTC/USDT", cat_ex_id=1)
    assert found is not None
    assert found.exchange_name == "binance"


async def test_force_without_a_source_still_returns_what_is_cached(bare: SymbolCache) -> None:
    """``force`` asks the source to refresh; with no source there is nothing to refresh from,
    so the cached symbols must not vanish from the answer."""
    await bare.add_symbol(sym("BTC/USDT", 1, BINANCE))
    assert names(await bare.get_symbols_by_ex_id(1)) == ["BTC/USDT"]
    assert names(await bare.get_symbols_by_ex_id(1, force=True)) == ["BTC/USDT"]


@pytest.mark.parametrize(
    ("cat_ex_id", "exc"),
    [(None, InvalidTypeError), (1.0, InvalidTypeError), ("1*", InvalidInputError),
     ("", InvalidInputError)],
)  # fmt: skip
async def test_get_symbols_by_ex_id_rejects_bad_ids(
    cache: SymbolCache, db: Database, cat_ex_id: object, exc: type[Exception]
) -> None:
    with pytest.raises(exc):
        await cache.get_symbols_by_ex_id(cat_ex_id)  # type: ignore[arg-type]
    assert sum(db.calls.values()) == 0


async def test_get_symbols_rejects_unsafe_exchange_names(cache: SymbolCache, db: Database) -> None:
    with pytest.raises(InvalidInputError):
        await cache.get_symbols("bin*")
    assert sum(db.calls.values()) == 0


# -- get_symbol ----------------------------------------------------------------------------


async def test_get_symbol_hits_the_cached_list(cache: SymbolCache, db: Database) -> None:
    await cache.get_symbols("binance")
    by_id = await cache.get_symbol("ETH/USDT", cat_ex_id=1)
    by_name = await cache.get_symbol("ETH/USDT", exchange_name="binance")
    assert by_id is not None
    assert by_name is not None
    assert without_exchange(by_id) == without_exchange(db.symbols[1][1])
    assert by_id.decimals == 4
    assert by_id.cat_exchange == BINANCE
    assert by_name == by_id
    assert (db.calls["get_symbols"], db.calls["get_cat_exchanges"]) == (1, 1)


async def test_get_symbol_on_a_cold_cache_loads_the_exchange_once(
    cache: SymbolCache, db: Database
) -> None:
    found = await cache.get_symbol("XBT/USD", cat_ex_id=2)
    assert found is not None
    assert found.exchange_name == "kraken"
    assert db.calls["get_symbols"] == 1
    assert names(await cache.get_symbols_by_ex_id(2)) == ["XBT/USD"]
    assert db.calls["get_symbols"] == 1


async def test_a_missing_symbol_reloads_its_exchange_once(cache: SymbolCache, db: Database) -> None:
    await cache.get_symbols_by_ex_id(1)
    db.symbols[1].append(sym("SOL/USDT", 1, decimals=3))
    found = await cache.get_symbol("SOL/USDT", cat_ex_id=1)
    assert found is not None
    assert found.decimals == 3
    assert found.exchange_name == "binance"
    assert db.calls["get_symbols"] == 2
    assert await cache.get_symbol("SOL/USDT", cat_ex_id=1) is not None
    assert db.calls["get_symbols"] == 2


async def test_a_symbol_the_source_does_not_know_is_none_after_one_reload(
    cache: SymbolCache, db: Database
) -> None:
    await cache.get_symbols_by_ex_id(1)
    assert await cache.get_symbol("DOGE/USDT", cat_ex_id=1) is None
    assert db.calls["get_symbols"] == 2
    assert await cache.symbol_exists("DOGE/USDT", exchange_name="binance") is False
    assert db.calls["get_symbols"] == 3  # one reload per miss, never more


async def test_get_symbol_of_an_unknown_exchange_name_is_none(
    cache: SymbolCache, db: Database
) -> None:
    assert await cache.get_symbol("BTC/USDT", exchange_name="bitstamp") is None
    assert db.calls["get_symbols"] == 0


async def test_get_symbol_needs_an_exchange(cache: SymbolCache, db: Database) -> None:
    with pytest.raises(InvalidInputError, match="cat_ex_id or exchange_name"):
        await cache.get_symbol("BTC/USDT")
    with pytest.raises(InvalidInputError):
        await cache.symbol_exists("BTC/USDT")
    assert sum(db.calls.values()) == 0


@pytest.mark.parametrize(
    ("symbol", "cat_ex_id", "exchange_name", "exc"),
    [("BTC*", 1, None, InvalidInputError), ("BTC/USDT\n", 1, None, InvalidInputError),
     (None, 1, None, InvalidTypeError), ("BTC/USDT", "[1]", None, InvalidInputError),
     ("BTC/USDT", None, "bin?nce", InvalidInputError), ("", 1, None, InvalidInputError)],
)  # fmt: skip
async def test_get_symbol_rejects_bad_input(
    cache: SymbolCache,
    db: Database,
    symbol: object,
    cat_ex_id: object,
    exchange_name: object,
    exc: type[Exception],
) -> None:
    with pytest.raises(exc):
        await cache.get_symbol(symbol, cat_ex_id, exchange_name)  # type: ignore[arg-type]
    assert db.calls["get_symbols"] == 0


async def test_a_corrupted_cached_symbol_raises_naming_the_key(
    cache: SymbolCache, db: Database, settings: CacheSettings, raw_redis: Redis
) -> None:
    await cache.get_symbols_by_ex_id(1)
    symbols_key = key(settings, "symbols:1")
    await raw_redis.hset(symbols_key, "BTC/USDT", b"\xff\xfe garbage")
    with pytest.raises(CacheCorruptedValueError) as caught:
        await cache.get_symbol("BTC/USDT", cat_ex_id=1)
    assert caught.value.key == symbols_key
    assert db.calls["get_symbols"] == 1


# -- symbol_exists -------------------------------------------------------------------------


async def test_symbol_exists_with_a_name_or_a_symbol(cache: SymbolCache) -> None:
    assert await cache.symbol_exists("BTC/USDT", cat_ex_id=1) is True
    assert await cache.symbol_exists("BTC/USDT", exchange_name="binance") is True
    assert await cache.symbol_exists("BTC/USDT", cat_ex_id=2) is False
    assert await cache.symbol_exists(sym("XBT/USD", 2)) is True
    assert await cache.symbol_exists(sym("XBT/USD", 1)) is False
    # A Symbol brings its own cat_ex_id, which wins over an exchange name.
    assert await cache.symbol_exists(sym("XBT/USD", 2), exchange_name="binance") is True


# -- add_symbol ----------------------------------------------------------------------------


async def test_add_symbol_into_a_complete_list_keeps_it_complete(
    cache: SymbolCache, db: Database, settings: CacheSettings, raw_redis: Redis
) -> None:
    await cache.get_symbols("binance")
    symbols_key = key(settings, "symbols:1")
    await raw_redis.expire(symbols_key, 100)
    added = sym("SOL/USDT", 1, symbol_id=77, decimals=2)
    assert await cache.add_symbol(added) is True
    assert 100 < await raw_redis.ttl(symbols_key) <= settings.ttl_symbol  # TTL refreshed
    assert names(await cache.get_symbols("binance")) == ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
    found = await cache.get_symbol("SOL/USDT", exchange_name="binance")
    assert found is not None
    assert without_exchange(found) == without_exchange(added)
    assert found.exchange_name == "binance"
    assert db.calls["get_symbols"] == 1  # still the list loaded once


async def test_add_symbol_to_an_uncached_exchange_does_not_make_a_complete_list(
    cache: SymbolCache, db: Database, settings: CacheSettings, raw_redis: Redis
) -> None:
    await cache.add_symbol(sym("SOL/USDT", 1))
    symbols_key = key(settings, "symbols:1")
    assert not await raw_redis.hexists(symbols_key, COMPLETE_FIELD)
    assert 0 < await raw_redis.ttl(symbols_key) <= settings.ttl_symbol
    # With a source the partial list is not taken for the exchange's symbols.
    assert names(await cache.get_symbols_by_ex_id(1)) == ["BTC/USDT", "ETH/USDT"]
    assert db.calls["get_symbols"] == 1


async def test_add_symbol_overwrites_an_existing_entry(cache: SymbolCache) -> None:
    await cache.get_symbols_by_ex_id(1)
    await cache.add_symbol(sym("BTC/USDT", 1, decimals=1))
    found = await cache.get_symbol("BTC/USDT", cat_ex_id=1)
    assert found is not None
    assert found.decimals == 1
    assert len(await cache.get_symbols_by_ex_id(1)) == 2


# -- update_symbol -------------------------------------------------------------------------


async def test_update_symbol_replaces_a_cached_symbol(cache: SymbolCache, db: Database) -> None:
    [btc, _] = sorted(await cache.get_symbols("binance"), key=lambda s: s.symbol)
    btc.decimals = 2
    btc.only_ticker = True
    assert await cache.update_symbol(btc) is True
    found = await cache.get_symbol("BTC/USDT", cat_ex_id=1)
    assert found is not None
    assert (found.decimals, found.only_ticker) == (2, True)
    assert found.exchange_name == "binance"
    assert db.calls["get_symbols"] == 1


async def test_update_symbol_of_an_uncached_symbol_writes_nothing(
    cache: SymbolCache, db: Database, settings: CacheSettings, raw_redis: Redis
) -> None:
    assert await cache.update_symbol(sym("BTC/USDT", 1)) is False
    assert await stored_keys(raw_redis, settings) == set()
    await cache.get_symbols_by_ex_id(1)
    assert await cache.update_symbol(sym("SOL/USDT", 1)) is False
    assert not await raw_redis.hexists(key(settings, "symbols:1"), "SOL/USDT")
    assert db.calls["get_symbols"] == 1


# -- delete_symbol -------------------------------------------------------------------------


async def test_delete_symbol_forgets_it_and_its_ticker(
    cache: SymbolCache, settings: CacheSettings, raw_redis: Redis
) -> None:
    symbols = sorted(await cache.get_symbols("binance"), key=lambda s: s.symbol)
    tickers = tickers_key(cache, "binance")
    await raw_redis.hset(tickers, mapping={"BTC/USDT": b'{"price": 1}', "ETH/USDT": b"{}"})
    other_tickers = tickers_key(cache, "kraken")
    await raw_redis.hset(other_tickers, "BTC/USDT", b"{}")
    assert await cache.delete_symbol(symbols[0]) is True
    assert not await raw_redis.hexists(key(settings, "symbols:1"), "BTC/USDT")
    assert await raw_redis.hkeys(tickers) == [b"ETH/USDT"]
    assert await raw_redis.hkeys(other_tickers) == [b"BTC/USDT"]  # another exchange's
    assert await cache.delete_symbol(symbols[0]) is False
    assert names(await cache.get_symbols("binance")) == ["ETH/USDT"]


async def test_delete_symbol_finds_the_exchange_in_the_catalogue(
    cache: SymbolCache, raw_redis: Redis
) -> None:
    await cache.get_symbols_by_ex_id(1)
    tickers = tickers_key(cache, "binance")
    await raw_redis.hset(tickers, mapping={"BTC/USDT": b"{}", "ETH/USDT": b"{}"})
    bare_symbol = sym("BTC/USDT", 1)
    assert bare_symbol.exchange_name is None
    assert await cache.delete_symbol(bare_symbol) is True
    assert await raw_redis.hkeys(tickers) == [b"ETH/USDT"]


async def test_delete_symbol_of_an_exchange_missing_from_the_catalogue_touches_no_ticker(
    cache: SymbolCache, settings: CacheSettings, raw_redis: Redis
) -> None:
    await cache.get_symbols_by_ex_id(9)
    for exchange in ("binance", "kraken"):
        await raw_redis.hset(tickers_key(cache, exchange), "ABC/DEF", b"{}")
    before = await stored_keys(raw_redis, settings)
    assert await cache.delete_symbol(sym("ABC/DEF", 9)) is True
    assert await cache.get_symbols_by_ex_id(9, force=False) == []
    assert await stored_keys(raw_redis, settings) == before
    for exchange in ("binance", "kraken"):
        assert await raw_redis.hkeys(tickers_key(cache, exchange)) == [b"ABC/DEF"]


async def test_delete_symbol_without_a_source_uses_its_own_exchange(
    bare: SymbolCache, raw_redis: Redis
) -> None:
    await bare.add_symbol(sym("BTC/USDT", 1, BINANCE))
    tickers = tickers_key(bare, "binance")
    await raw_redis.hset(tickers, "BTC/USDT", b"{}")
    assert await bare.delete_symbol(sym("BTC/USDT", 1, BINANCE)) is True
    assert await raw_redis.exists(tickers) == 0
    # With neither a cat_exchange nor a catalogue, only the symbol itself is deleted.
    await bare.add_symbol(sym("ETH/USDT", 1))
    await raw_redis.hset(tickers, "ETH/USDT", b"{}")
    assert await bare.delete_symbol(sym("ETH/USDT", 1)) is True
    assert await raw_redis.hkeys(tickers) == [b"ETH/USDT"]


# -- bad symbols ---------------------------------------------------------------------------

BAD_SYMBOLS = [
    pytest.param("BTC/USDT", InvalidTypeError, id="a str"),
    pytest.param({"symbol": "BTC/USDT", "cat_ex_id": 1}, InvalidTypeError, id="a dict"),
    pytest.param(None, InvalidTypeError, id="None"),
    pytest.param(Symbol(symbol="BTC*", cat_ex_id=1), InvalidInputError, id="glob in symbol"),
    pytest.param(Symbol(symbol="{BTC}", cat_ex_id=1), InvalidInputError, id="hash tag"),
    pytest.param(Symbol(symbol="", cat_ex_id=1), InvalidInputError, id="empty symbol"),
    pytest.param(
        Symbol(symbol="BTC/USDT", cat_ex_id=None),  # type: ignore[arg-type]
        InvalidTypeError,
        id="no cat_ex_id",
    ),
    pytest.param(
        Symbol(symbol="BTC/USDT", cat_ex_id="1?"),  # type: ignore[arg-type]
        InvalidInputError,
        id="glob id",
    ),
    pytest.param(
        Symbol(symbol=None, cat_ex_id=1),  # type: ignore[arg-type]
        InvalidTypeError,
        id="no symbol",
    ),
]


@pytest.mark.parametrize("method", ["add_symbol", "update_symbol", "delete_symbol"])
@pytest.mark.parametrize(("bad", "exc"), BAD_SYMBOLS)
async def test_bad_symbols_raise_and_write_nothing(
    cache: SymbolCache,
    db: Database,
    settings: CacheSettings,
    raw_redis: Redis,
    method: str,
    bad: object,
    exc: type[Exception],
) -> None:
    with pytest.raises(exc):
        await getattr(cache, method)(bad)
    assert await stored_keys(raw_redis, settings) == set()
    assert sum(db.calls.values()) == 0


@pytest.mark.parametrize(("bad", "exc"), BAD_SYMBOLS[1:])  # a str is a symbol name there
async def test_symbol_exists_rejects_bad_symbols(
    cache: SymbolCache, db: Database, bad: object, exc: type[Exception]
) -> None:
    with pytest.raises(exc):
        await cache.symbol_exists(bad)  # type: ignore[arg-type]
    assert sum(db.calls.values()) == 0


@pytest.mark.parametrize("method", ["add_symbol", "update_symbol", "delete_symbol"])
async def test_models_that_are_not_symbols_are_rejected(
    cache: SymbolCache, settings: CacheSettings, raw_redis: Redis, method: str
) -> None:
    """An Exchange has ``to_dict`` and ``cat_ex_id`` too, but it is no Symbol."""
    with pytest.raises(InvalidTypeError):
        await getattr(cache, method)(Exchange(ex_id=3, uid=7, cat_ex_id=1, name="main"))
    assert await stored_keys(raw_redis, settings) == set()


# -- corrupted entries ---------------------------------------------------------------------


async def test_corrupted_symbols_are_skipped_and_counted(
    cache: SymbolCache, db: Database, settings: CacheSettings, raw_redis: Redis
) -> None:
    await cache.get_symbols_by_ex_id(1)
    await raw_redis.hset(
        key(settings, "symbols:1"),
        mapping={
            "BAD/ONE": b"\xff garbage",
            "BAD/TWO": b"[1, 2]",
            "BAD/THREE": b'{"symbol": "BAD/THREE"}',  # no cat_ex_id: does not fit a Symbol
        },
    )
    assert cache.corrupted_skipped == 0
    symbols = await cache.get_symbols("binance")
    assert names(symbols) == ["BTC/USDT", "ETH/USDT"]
    assert all(s.exchange_name == "binance" for s in symbols)
    assert cache.corrupted_skipped == 3
    assert db.calls["get_symbols"] == 1


async def test_a_cached_symbol_with_a_malformed_exchange_gets_the_catalogue_entry(
    cache: SymbolCache, settings: CacheSettings, raw_redis: Redis
) -> None:
    payload = b'{"symbol": "SOL/USDT", "cat_ex_id": 1, "cat_exchange": "binance"}'
    await raw_redis.hset(key(settings, "symbols:1"), "SOL/USDT", payload)
    found = await cache.get_symbol("SOL/USDT", cat_ex_id=1)
    assert found is not None
    assert found.cat_exchange == BINANCE


# -- faults --------------------------------------------------------------------------------


@pytest.mark.faults
async def test_a_lost_reply_to_get_symbols_is_retried_and_loads_once(
    proxy: FaultProxy, proxied_settings: CacheSettings, db: Database
) -> None:
    async with SymbolCache(proxied_settings) as cache:
        cache.source = db
        await cache.ping()  # warm: connection open, eviction policy checked
        proxy.drop_next_reply()
        async with asyncio.timeout(GUARD):
            assert names(await cache.get_symbols("binance")) == ["BTC/USDT", "ETH/USDT"]
        assert proxy.replies_dropped == 1
        proxy.drop_next_reply()
        async with asyncio.timeout(GUARD):
            assert names(await cache.get_symbols("binance")) == ["BTC/USDT", "ETH/USDT"]
        assert proxy.replies_dropped == 2
    assert (db.calls["get_symbols"], db.calls["get_cat_exchanges"]) == (1, 1)
