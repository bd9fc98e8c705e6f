"""Sources: how the default one is chosen, and OrmSource against the fullon_orm stand-in.

The real fullon_orm is not on PyPI; ``tests/stand_ins/fullon_orm`` imitates the part of its
API that :class:`~fullon_cache.sources.OrmSource` uses. Tests that want it put that folder on
``sys.path`` for their own duration only (fixture ``orm``).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from redis.asyncio import Redis

from fullon_cache import CacheSettings, CacheSourceError, SymbolCache, sources
from fullon_cache.models import CatExchange, Exchange, Symbol
from fullon_cache.sources import OrmSource, default_source, set_default_source

STAND_INS = Path(__file__).resolve().parents[1] / "stand_ins"

BINANCE = CatExchange(cat_ex_id=1, name="binance", ohlcv_view="binance_ohlcv")
KRAKEN = CatExchange(cat_ex_id=2, name="kraken", ohlcv_view="kraken_ohlcv")
MAIN = Exchange(ex_id=3, uid=7, cat_ex_id=1, name="main")
HEDGE = Exchange(ex_id=4, uid=7, cat_ex_id=2, name="hedge", test=True)
OTHER = Exchange(ex_id=5, uid=8, cat_ex_id=1, name="someone else's")
BTC = Symbol(symbol_id=1, symbol="BTC/USDT", cat_ex_id=1, base="BTC", quote="USDT")
ETH = Symbol(symbol_id=2, symbol="ETH/USDT", cat_ex_id=1, base="ETH", quote="USDT", decimals=4)


@pytest.fixture(autouse=True)
def _undecided(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts before the process default was chosen (and leaves it so)."""
    monkeypatch.setattr(sources, "_chosen", [])


@pytest.fixture
def no_orm(monkeypatch: pytest.MonkeyPatch) -> None:
    """fullon_orm cannot be imported (whatever this machine has installed)."""
    monkeypatch.setitem(sys.modules, "fullon_orm", None)  # type: ignore[arg-type]


def forget_fullon_orm() -> None:
    sys.modules.pop("fullon_orm", None)


@pytest.fixture
def orm(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The fullon_orm stand-in, importable as ``fullon_orm`` for this test only, filled."""
    monkeypatch.delitem(sys.modules, "fullon_orm", raising=False)
    monkeypatch.syspath_prepend(str(STAND_INS))
    try:
        import fullon_orm

        assert Path(fullon_orm.__file__ or "").is_relative_to(STAND_INS)
        fullon_orm.reset()
        fullon_orm.CAT_EXCHANGES.update({1: BINANCE, 2: KRAKEN})
        fullon_orm.EXCHANGES.update({3: MAIN, 4: HEDGE, 5: OTHER})
        fullon_orm.SYMBOLS.update({1: [BTC, ETH]})
        yield fullon_orm
        assert fullon_orm.OPEN_CONTEXTS == [0]  # every DatabaseContext was left
    finally:
        forget_fullon_orm()  # monkeypatch would not remove a module imported after delitem


def calls(orm: ModuleType) -> list[str]:
    return [method for method, _, _ in orm.CALLS]


# -- choosing the default source -----------------------------------------------------------


def test_without_fullon_orm_there_is_no_default_source(no_orm: None) -> None:
    assert default_source() is None
    assert sources._chosen == [None]  # decided once
    assert default_source() is None


def test_with_fullon_orm_the_default_source_is_an_orm_source(orm: ModuleType) -> None:
    chosen = default_source()
    assert isinstance(chosen, OrmSource)
    assert default_source() is chosen  # decided once, then reused


def test_a_stray_fullon_orm_folder_is_not_taken_for_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "fullon_orm").mkdir()  # imports as an empty namespace package
    monkeypatch.delitem(sys.modules, "fullon_orm", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert default_source() is None
        assert "fullon_orm" in sys.modules  # it did import...
        assert not hasattr(sys.modules["fullon_orm"], "DatabaseContext")  # ...as nothing
    finally:
        forget_fullon_orm()


def test_set_default_source_overrides_fullon_orm(orm: ModuleType) -> None:
    mine = OrmSource(lambda: orm.DatabaseContext())
    set_default_source(mine)
    assert default_source() is mine
    set_default_source(None)
    assert default_source() is None  # explicitly none, although fullon_orm is importable


def test_set_default_source_is_used_by_caches_without_their_own(
    settings: CacheSettings, no_orm: None
) -> None:
    marker = OrmSource(lambda: _unused_context())
    set_default_source(marker)
    assert SymbolCache(settings).source is marker


@asynccontextmanager
async def _unused_context() -> AsyncIterator[Any]:  # never entered
    yield None


def test_orm_source_needs_fullon_orm_unless_given_a_context(no_orm: None) -> None:
    with pytest.raises(ImportError):
        OrmSource()


# -- OrmSource against the stand-in --------------------------------------------------------


async def test_orm_source_get_exchange(orm: ModuleType) -> None:
    source = OrmSource()
    found = await source.get_exchange(3)
    assert found == MAIN
    assert isinstance(found, Exchange)
    assert await source.get_exchange("4") == HEDGE
    assert await source.get_exchange(99) is None
    # Ids are passed on as the caller gave them.
    assert [args for _, args, _ in orm.CALLS] == [(3,), ("4",), (99,)]
    assert calls(orm) == ["exchanges.get_by_id"] * 3


async def test_orm_source_turns_user_exchange_rows_into_models(orm: ModuleType) -> None:
    found = await OrmSource().get_user_exchanges(7)
    assert all(type(exchange) is Exchange for exchange in found)  # not dicts, extras dropped
    assert sorted(found, key=lambda e: e.ex_id or 0) == [MAIN, HEDGE]
    assert await OrmSource().get_user_exchanges(42) == []
    assert calls(orm) == ["exchanges.get_user_exchanges"] * 2


async def test_the_stand_in_returns_user_exchanges_as_dicts(orm: ModuleType) -> None:
    """What makes the conversion above necessary: the rows are plain dicts."""
    async with orm.DatabaseContext() as db:
        rows = await db.exchanges.get_user_exchanges(7)
    assert rows
    assert all(isinstance(row, dict) for row in rows)


async def test_orm_source_asks_for_the_whole_catalogue(orm: ModuleType) -> None:
    found = await OrmSource().get_cat_exchanges()
    assert sorted(found, key=lambda c: c.cat_ex_id or 0) == [BINANCE, KRAKEN]
    assert orm.CALLS == [("exchanges.get_cat_exchanges", (), {"exchange": None, "all": True})]


async def test_orm_source_get_symbols(orm: ModuleType) -> None:
    assert await OrmSource().get_symbols(1) == [BTC, ETH]
    assert await OrmSource().get_symbols(2) == []
    assert orm.CALLS == [
        ("symbols.get_by_exchange_id", (1,), {}),
        ("symbols.get_by_exchange_id", (2,), {}),
    ]


async def test_orm_source_uses_the_context_it_was_given(orm: ModuleType) -> None:
    entered: list[str] = []

    @asynccontextmanager
    async def context() -> AsyncIterator[Any]:
        entered.append("in")
        async with orm.DatabaseContext() as db:
            yield db
        entered.append("out")

    source = OrmSource(context)
    assert await source.get_exchange(3) == MAIN
    assert await source.get_symbols(1) == [BTC, ETH]
    assert entered == ["in", "out", "in", "out"]


# -- the caches on the default source ------------------------------------------------------


async def test_caches_read_through_fullon_orm_by_default(
    orm: ModuleType, settings: CacheSettings, raw_redis: Redis
) -> None:
    async with SymbolCache(settings) as cache:
        assert isinstance(cache.source, OrmSource)
        assert await cache.get_exchange(3) == MAIN
        assert sorted(await cache.get_exchanges(7), key=lambda e: e.ex_id or 0) == [MAIN, HEDGE]
        symbols = await cache.get_symbols("binance")
        assert sorted(s.symbol for s in symbols) == ["BTC/USDT", "ETH/USDT"]
        assert all(s.exchange_name == "binance" for s in symbols)
        assert await cache.get_cat_ex_id("kraken") == 2
        # Everything again: all hits now.
        await cache.get_exchange(3)
        await cache.get_exchanges(7)
        await cache.get_symbols("binance")
    assert calls(orm) == [
        "exchanges.get_by_id",
        "exchanges.get_user_exchanges",
        "exchanges.get_cat_exchanges",
        "symbols.get_by_exchange_id",
    ]
    assert await raw_redis.exists(f"{settings.key_prefix}:symbols:1") == 1


async def test_a_database_failure_reaches_the_caller_as_a_source_error(
    orm: ModuleType, settings: CacheSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    failure = RuntimeError("could not connect to server")

    class Broken:
        async def __aenter__(self) -> None:
            raise failure

        async def __aexit__(self, *exc_info: object) -> None:
            pass

    monkeypatch.setattr(orm, "DatabaseContext", Broken)
    async with SymbolCache(settings) as cache:
        with pytest.raises(CacheSourceError) as caught:
            await cache.get_symbols("binance")
    assert caught.value.__cause__ is failure
