"""ExchangeCache against a real server: read-through, TTLs, the stampede guard, the catalogue,
invalidation, corrupted entries, bad input and the websocket error queues.

The database is played by :class:`Database`, a small real source that counts its calls
(Redis itself is never mocked).
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from redis.asyncio import Redis

from fullon_cache import (
    CacheCorruptedValueError,
    CacheSettings,
    CacheSourceError,
    ExchangeCache,
    InvalidInputError,
    InvalidTypeError,
    sources,
)
from fullon_cache.keys import COMPLETE_FIELD, KeySpace
from fullon_cache.models import CatExchange, Exchange
from tests.support.proxy import FaultProxy
from tests.support.reference import BINANCE, HEDGE, KRAKEN, MAIN, OTHER, Database, key, stored_keys

GUARD = 10  # seconds; only turns a hang into a failure


CACHE_CLASS = ExchangeCache


def by_id(exchanges: list[Exchange]) -> list[Exchange]:
    return sorted(exchanges, key=lambda e: e.ex_id or 0)


# -- the source ----------------------------------------------------------------------------


async def test_the_source_is_the_caches_own_else_the_process_default(
    settings: CacheSettings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    fallback = Database()
    monkeypatch.setattr(sources, "_chosen", [fallback])
    async with ExchangeCache(settings) as cache:
        assert cache.source is fallback
        cache.source = db
        assert cache.source is db
        assert await cache.get_exchange(3) == MAIN
        cache.source = None  # no source at all for this cache: a miss is just a miss
        assert cache.source is None
        assert await cache.get_exchange(4) is None
    assert (db.calls["get_exchange"], fallback.calls["get_exchange"]) == (1, 0)


# -- get_exchange --------------------------------------------------------------------------


async def test_get_exchange_reads_through_once_and_caches_with_the_ttl(
    cache: ExchangeCache, db: Database, settings: CacheSettings, raw_redis: Redis
) -> None:
    assert await cache.get_exchange(3) == MAIN
    assert db.calls["get_exchange"] == 1
    assert await stored_keys(raw_redis, settings) == {"exchanges:id:3"}
    ttl = await raw_redis.ttl(key(settings, "exchanges:id:3"))
    assert 0 < ttl <= settings.ttl_exchange
    # A hit: the same value, no trip to the source, whether the id is an int or its text.
    assert await cache.get_exchange(3) == MAIN
    assert await cache.get_exchange("3") == MAIN
    assert db.calls["get_exchange"] == 1


async def test_get_exchange_hands_out_independent_copies(cache: ExchangeCache) -> None:
    first = await cache.get_exchange(3)
    assert first is not None
    first.name = "changed by the caller"
    assert await cache.get_exchange(3) == MAIN


async def test_get_exchange_unknown_to_the_source_is_none_and_not_cached(
    cache: ExchangeCache, db: Database, settings: CacheSettings, raw_redis: Redis
) -> None:
    assert await cache.get_exchange(99) is None
    assert await stored_keys(raw_redis, settings) == set()
    assert await cache.get_exchange(99) is None
    assert db.calls["get_exchange"] == 2  # misses are not cached: the next read asks again


async def test_get_exchange_without_a_source_is_a_plain_miss(
    bare: ExchangeCache, settings: CacheSettings, raw_redis: Redis
) -> None:
    assert await bare.get_exchange(3) is None
    assert await stored_keys(raw_redis, settings) == set()
    await bare.set_exchange(MAIN)
    assert await bare.get_exchange(3) == MAIN


async def test_get_exchange_reloads_after_the_ttl_expired(
    settings: CacheSettings, db: Database, raw_redis: Redis
) -> None:
    short = settings.replace(ttl_exchange=1)
    async with ExchangeCache(short) as cache:
        cache.source = db
        assert await cache.get_exchange(3) == MAIN
        assert await raw_redis.ttl(key(settings, "exchanges:id:3")) <= 1
        await asyncio.sleep(1.2)
        db.exchanges[3].name = "renamed"
        found = await cache.get_exchange(3)
    assert found is not None
    assert found.name == "renamed"
    assert db.calls["get_exchange"] == 2


async def test_concurrent_get_exchange_misses_load_once(cache: ExchangeCache, db: Database) -> None:
    db.pause = 0.2
    results = await asyncio.gather(*(cache.get_exchange(3) for _ in range(20)))
    assert db.calls["get_exchange"] == 1
    assert results == [MAIN] * 20


async def test_a_failing_source_raises_a_chained_source_error_and_caches_nothing(
    cache: ExchangeCache, db: Database, settings: CacheSettings, raw_redis: Redis
) -> None:
    db.error = ConnectionRefusedError("database is down")
    with pytest.raises(CacheSourceError) as caught:
        await cache.get_exchange(3)
    assert caught.value.__cause__ is db.error
    with pytest.raises(CacheSourceError) as caught:
        await cache.get_exchanges(7)
    assert caught.value.__cause__ is db.error
    with pytest.raises(CacheSourceError) as caught:
        await cache.get_cat_exchanges()
    assert caught.value.__cause__ is db.error
    with pytest.raises(CacheSourceError):
        await cache.get_cat_ex_id("binance")
    assert await stored_keys(raw_redis, settings) == set()
    # Once the database is back, the same calls succeed.
    db.error = None
    assert await cache.get_exchange(3) == MAIN
    assert await cache.get_cat_ex_id("kraken") == 2


async def test_concurrent_misses_share_one_failure(cache: ExchangeCache, db: Database) -> None:
    db.pause = 0.2
    db.error = TimeoutError("query timed out")
    outcomes = await asyncio.gather(
        *(cache.get_exchange(3) for _ in range(10)), return_exceptions=True
    )
    assert db.calls["get_exchange"] == 1
    assert all(isinstance(outcome, CacheSourceError) for outcome in outcomes)
    assert all(outcome.__cause__ is db.error for outcome in outcomes)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("ex_id", "exc"),
    [(None, InvalidTypeError), (True, InvalidTypeError), (3.0, InvalidTypeError),
     ("", InvalidInputError), ("3*", InvalidInputError), ("{3}", InvalidInputError),
     ("3\n", InvalidInputError)],
)  # fmt: skip
async def test_get_exchange_rejects_bad_ids_before_anything_happens(
    cache: ExchangeCache,
    db: Database,
    settings: CacheSettings,
    raw_redis: Redis,
    ex_id: object,
    exc: type[Exception],
) -> None:
    with pytest.raises(exc):
        await cache.get_exchange(ex_id)  # type: ignore[arg-type]
    assert sum(db.calls.values()) == 0
    assert await stored_keys(raw_redis, settings) == set()


# -- get_exchanges -------------------------------------------------------------------------


async def test_get_exchanges_reads_a_users_accounts_through_once(
    cache: ExchangeCache, db: Database, settings: CacheSettings, raw_redis: Redis
) -> None:
    assert by_id(await cache.get_exchanges(7)) == [MAIN, HEDGE]
    assert db.calls["get_user_exchanges"] == 1
    user_key = key(settings, "exchanges:user:7")
    assert await raw_redis.hexists(user_key, COMPLETE_FIELD)
    assert 0 < await raw_redis.ttl(user_key) <= settings.ttl_exchange
    assert by_id(await cache.get_exchanges("7")) == [MAIN, HEDGE]
    assert await cache.get_exchanges(8) == [OTHER]
    assert db.calls["get_user_exchanges"] == 2  # user 7 once, user 8 once


async def test_a_user_without_accounts_is_cached_as_an_empty_list(
    cache: ExchangeCache, db: Database
) -> None:
    assert await cache.get_exchanges(42) == []
    assert await cache.get_exchanges(42) == []
    assert db.calls["get_user_exchanges"] == 1


async def test_get_exchanges_reloads_after_the_ttl_expired(
    settings: CacheSettings, db: Database
) -> None:
    async with ExchangeCache(settings.replace(ttl_exchange=1)) as cache:
        cache.source = db
        assert len(await cache.get_exchanges(7)) == 2
        db.exchanges[6] = Exchange(ex_id=6, uid=7, cat_ex_id=1, name="new")
        assert len(await cache.get_exchanges(7)) == 2  # still the cached copy
        await asyncio.sleep(1.2)
        assert len(await cache.get_exchanges(7)) == 3
    assert db.calls["get_user_exchanges"] == 2


async def test_get_exchanges_without_a_source_is_an_empty_miss(
    bare: ExchangeCache, settings: CacheSettings, raw_redis: Redis
) -> None:
    assert await bare.get_exchanges(7) == []
    assert await stored_keys(raw_redis, settings) == set()


async def test_concurrent_get_exchanges_misses_load_once(
    cache: ExchangeCache, db: Database
) -> None:
    db.pause = 0.2
    results = await asyncio.gather(*(cache.get_exchanges(7) for _ in range(20)))
    assert db.calls["get_user_exchanges"] == 1
    assert all(by_id(result) == [MAIN, HEDGE] for result in results)


# -- set_exchange --------------------------------------------------------------------------


async def test_set_exchange_caches_it_by_id(
    cache: ExchangeCache, db: Database, settings: CacheSettings, raw_redis: Redis
) -> None:
    renamed = Exchange(ex_id=3, uid=7, cat_ex_id=1, name="renamed")
    assert await cache.set_exchange(renamed) is None
    assert await cache.get_exchange(3) == renamed
    assert db.calls["get_exchange"] == 0
    assert 0 < await raw_redis.ttl(key(settings, "exchanges:id:3")) <= settings.ttl_exchange


async def test_set_exchange_adds_to_a_cached_user_list_which_stays_complete(
    cache: ExchangeCache, db: Database, settings: CacheSettings, raw_redis: Redis
) -> None:
    await cache.get_exchanges(7)
    extra = Exchange(ex_id=9, uid=7, cat_ex_id=2, name="added later")
    await cache.set_exchange(extra)
    assert by_id(await cache.get_exchanges(7)) == [MAIN, HEDGE, extra]
    assert db.calls["get_user_exchanges"] == 1
    assert 0 < await raw_redis.ttl(key(settings, "exchanges:user:7")) <= settings.ttl_exchange


async def test_a_user_list_made_only_by_set_exchange_is_not_complete(
    cache: ExchangeCache, db: Database
) -> None:
    lone = Exchange(ex_id=9, uid=7, cat_ex_id=2, name="only in the cache")
    await cache.set_exchange(lone)
    # With a source, the partial list does not pass for the user's accounts: reload.
    assert by_id(await cache.get_exchanges(7)) == [MAIN, HEDGE]
    assert db.calls["get_user_exchanges"] == 1
    assert by_id(await cache.get_exchanges(7)) == [MAIN, HEDGE]
    assert db.calls["get_user_exchanges"] == 1


async def test_without_a_source_get_exchanges_returns_what_set_exchange_cached(
    bare: ExchangeCache,
) -> None:
    await bare.set_exchange(MAIN)
    await bare.set_exchange(HEDGE)
    await bare.set_exchange(OTHER)
    assert by_id(await bare.get_exchanges(7)) == [MAIN, HEDGE]
    assert await bare.get_exchanges(8) == [OTHER]


async def test_set_exchange_without_a_user_writes_only_the_id_key(
    bare: ExchangeCache, settings: CacheSettings, raw_redis: Redis
) -> None:
    await bare.set_exchange(Exchange(ex_id=3, cat_ex_id=1, name="no owner"))
    assert await stored_keys(raw_redis, settings) == {"exchanges:id:3"}


@pytest.mark.parametrize(
    ("exchange", "exc"),
    [(Exchange(uid=7, name="no id"), InvalidTypeError),
     (Exchange(ex_id="3*", uid=7), InvalidInputError),  # type: ignore[arg-type]
     (Exchange(ex_id=3, uid="7\n"), InvalidInputError),  # type: ignore[arg-type]
     (Exchange(ex_id=3, uid=True), InvalidTypeError),  # type: ignore[arg-type]
     ({"ex_id": 3, "uid": 7}, InvalidTypeError),
     (None, InvalidTypeError)],
)  # fmt: skip
async def test_set_exchange_rejects_bad_input_and_writes_nothing(
    bare: ExchangeCache,
    settings: CacheSettings,
    raw_redis: Redis,
    exchange: object,
    exc: type[Exception],
) -> None:
    with pytest.raises(exc):
        await bare.set_exchange(exchange)  # type: ignore[arg-type]
    assert await stored_keys(raw_redis, settings) == set()


async def test_set_exchange_rejects_an_object_that_is_no_model(
    bare: ExchangeCache, settings: CacheSettings, raw_redis: Redis
) -> None:
    """Anything with an ``ex_id`` but no ``to_dict`` must be a clear InvalidTypeError."""
    with pytest.raises(InvalidTypeError):
        await bare.set_exchange(SimpleNamespace(ex_id=3, uid=7))  # type: ignore[arg-type]
    assert await stored_keys(raw_redis, settings) == set()


# -- invalidate_exchanges ------------------------------------------------------------------


async def warm(cache: ExchangeCache) -> None:
    await cache.get_exchange(3)
    await cache.get_exchange(4)
    await cache.get_exchanges(7)
    await cache.get_cat_exchanges()


async def test_invalidate_by_id_forgets_that_exchange_only(
    cache: ExchangeCache, db: Database, settings: CacheSettings, raw_redis: Redis
) -> None:
    await warm(cache)
    assert await cache.invalidate_exchanges(ex_id=3) == 1
    assert await stored_keys(raw_redis, settings) == {
        "exchanges:id:4",
        "exchanges:user:7",
        "exchanges:catalog",
    }
    assert await cache.invalidate_exchanges(ex_id=3) == 0
    await cache.get_exchange(3)
    await cache.get_exchange(4)
    assert db.calls["get_exchange"] == 3  # 3, 4, then 3 again


async def test_invalidate_by_id_also_drops_it_from_its_users_cached_list(
    bare: ExchangeCache, raw_redis: Redis, settings: CacheSettings
) -> None:
    await bare.set_exchange(Exchange(ex_id=3, uid=7, name="main"))
    await bare.set_exchange(Exchange(ex_id=4, uid=7, name="spare"))
    assert await bare.invalidate_exchanges(ex_id=3) == 1
    assert [e.ex_id for e in await bare.get_exchanges(7)] == [4]


async def test_invalidate_by_id_of_a_corrupted_or_userless_copy_just_deletes_it(
    bare: ExchangeCache, raw_redis: Redis, settings: CacheSettings
) -> None:
    keys = KeySpace(settings.key_prefix)
    await raw_redis.set(keys.exchange("3"), b"\xff not json")
    await bare.set_exchange(Exchange(ex_id=4, name="no user"))
    assert await bare.invalidate_exchanges(ex_id=3) == 1
    assert await bare.invalidate_exchanges(ex_id=4) == 1
    assert await stored_keys(raw_redis, settings) == set()


async def test_invalidate_by_user_and_by_both(
    cache: ExchangeCache, db: Database, settings: CacheSettings, raw_redis: Redis
) -> None:
    await warm(cache)
    assert await cache.invalidate_exchanges(user_id=7) == 1
    await cache.get_exchanges(7)
    assert db.calls["get_user_exchanges"] == 2
    assert await cache.invalidate_exchanges(ex_id="4", user_id="7") == 2
    assert await stored_keys(raw_redis, settings) == {"exchanges:id:3", "exchanges:catalog"}


async def test_invalidate_everything_stays_in_its_namespace_and_its_data(
    cache: ExchangeCache,
    db: Database,
    settings: CacheSettings,
    raw_redis: Redis,
    namespace: str,
) -> None:
    await warm(cache)
    await cache.push_ws_error("kept", ex_id=3)
    await raw_redis.set(key(settings, "symbols:1"), "not exchange data")
    async with ExchangeCache(settings, key_prefix=f"{namespace}_other") as other:
        other.source = db
        await warm(other)
        assert await cache.invalidate_exchanges() == 4
        assert await cache.invalidate_exchanges() == 0
        assert await stored_keys(raw_redis, settings) == {"errors:ws:3", "symbols:1"}
        other_keys = [k async for k in raw_redis.scan_iter(match=f"{namespace}_other:*")]
        assert len(other_keys) == 4
        assert await other.get_exchange(3) == MAIN  # still cached over there
    calls = db.calls["get_exchange"]
    assert await cache.get_exchange(3) == MAIN
    assert db.calls["get_exchange"] == calls + 1


async def test_invalidate_rejects_bad_ids_and_deletes_nothing(
    cache: ExchangeCache, settings: CacheSettings, raw_redis: Redis
) -> None:
    await warm(cache)
    before = await stored_keys(raw_redis, settings)
    with pytest.raises(InvalidInputError):
        await cache.invalidate_exchanges(ex_id="*")
    with pytest.raises(InvalidTypeError):
        await cache.invalidate_exchanges(ex_id=3, user_id=7.0)  # type: ignore[arg-type]
    assert await stored_keys(raw_redis, settings) == before


# -- the exchange catalogue ----------------------------------------------------------------


async def test_get_cat_exchanges_reads_the_catalogue_through_once(
    cache: ExchangeCache, db: Database, settings: CacheSettings, raw_redis: Redis
) -> None:
    names = sorted(cat.name or "" for cat in await cache.get_cat_exchanges())
    assert names == ["binance", "kraken"]
    catalog_key = key(settings, "exchanges:catalog")
    assert await raw_redis.hexists(catalog_key, COMPLETE_FIELD)
    assert 0 < await raw_redis.ttl(catalog_key) <= settings.ttl_exchange
    assert await cache.get_cat_exchanges("kraken") == [KRAKEN]
    assert await cache.get_cat_exchanges(exchange_name="binance") == [BINANCE]
    assert await cache.get_cat_exchanges("bitstamp") == []
    everything = await cache.get_cat_exchanges(all=True)  # compat
    assert sorted(cat.name or "" for cat in everything) == ["binance", "kraken"]
    assert await cache.get_cat_exchanges("kraken", all=True) == [KRAKEN]
    assert db.calls["get_cat_exchanges"] == 1


async def test_get_cat_exchanges_without_a_source_is_empty(
    bare: ExchangeCache, settings: CacheSettings, raw_redis: Redis
) -> None:
    assert await bare.get_cat_exchanges() == []
    assert await bare.get_exchange_by_name("binance") is None
    assert await bare.get_cat_ex_id("binance") is None
    assert await stored_keys(raw_redis, settings) == set()


async def test_concurrent_catalogue_misses_load_once(cache: ExchangeCache, db: Database) -> None:
    db.pause = 0.2
    results = await asyncio.gather(*(cache.get_cat_exchanges() for _ in range(20)))
    assert db.calls["get_cat_exchanges"] == 1
    assert all(len(result) == 2 for result in results)


async def test_get_exchange_by_name_hits_the_cached_catalogue(
    cache: ExchangeCache, db: Database
) -> None:
    assert await cache.get_exchange_by_name("binance") == BINANCE
    assert await cache.get_exchange_by_name("kraken") == KRAKEN
    assert await cache.get_cat_ex_id("kraken") == 2
    assert db.calls["get_cat_exchanges"] == 1


async def test_a_name_missing_from_the_cached_catalogue_refreshes_it_once(
    cache: ExchangeCache, db: Database
) -> None:
    await cache.get_cat_exchanges()
    db.catalog.append(CatExchange(cat_ex_id=3, name="bybit", ohlcv_view="bybit_ohlcv"))
    assert await cache.get_cat_ex_id("bybit") == 3
    assert db.calls["get_cat_exchanges"] == 2
    assert await cache.get_exchange_by_name("bybit") is not None  # now cached
    assert db.calls["get_cat_exchanges"] == 2
    assert await cache.get_exchange_by_name("nowhere") is None
    assert await cache.get_cat_ex_id("nowhere") is None
    assert db.calls["get_cat_exchanges"] == 4  # one refresh per unknown name, no more


async def test_a_cold_lookup_of_an_unknown_name_asks_the_source_once(
    cache: ExchangeCache, db: Database
) -> None:
    """The catalogue was just loaded from the source: refreshing it again at once is waste."""
    assert await cache.get_exchange_by_name("nowhere") is None
    assert db.calls["get_cat_exchanges"] == 1


@pytest.mark.parametrize("name", ["bin*", "bin?nce", "[b]inance", "{binance}", "binance\n", None])
async def test_catalogue_lookups_reject_unsafe_names(
    cache: ExchangeCache, db: Database, name: object
) -> None:
    with pytest.raises(InvalidInputError):
        await cache.get_exchange_by_name(name)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        await cache.get_cat_ex_id(name)  # type: ignore[arg-type]
    if name is not None:  # None means "no filter" for get_cat_exchanges
        with pytest.raises(InvalidInputError):
            await cache.get_cat_exchanges(name)  # type: ignore[arg-type]
    assert sum(db.calls.values()) == 0


# -- corrupted entries ---------------------------------------------------------------------


@pytest.mark.parametrize("payload", [b"\xff\xfe{garbage", b"[1, 2]", b'"text"', b"{broken"])
async def test_a_corrupted_cached_exchange_raises_naming_the_key(
    cache: ExchangeCache, db: Database, settings: CacheSettings, raw_redis: Redis, payload: bytes
) -> None:
    exchange_key = key(settings, "exchanges:id:3")
    await raw_redis.set(exchange_key, payload)
    with pytest.raises(CacheCorruptedValueError) as caught:
        await cache.get_exchange(3)
    assert caught.value.key == exchange_key
    assert db.calls["get_exchange"] == 0
    assert await raw_redis.get(exchange_key) == payload


async def test_an_exchange_key_of_the_wrong_type_is_corrupted(
    cache: ExchangeCache, settings: CacheSettings, raw_redis: Redis
) -> None:
    await raw_redis.rpush(key(settings, "exchanges:id:3"), "a list")
    with pytest.raises(CacheCorruptedValueError, match="wrong Redis type"):
        await cache.get_exchange(3)


async def test_corrupted_entries_of_a_user_list_are_skipped_and_counted(
    cache: ExchangeCache, db: Database, settings: CacheSettings, raw_redis: Redis
) -> None:
    await cache.get_exchanges(7)
    user_key = key(settings, "exchanges:user:7")
    await raw_redis.hset(user_key, mapping={"4": b"\xff garbage", "8": b"[1]"})
    assert cache.corrupted_skipped == 0
    assert await cache.get_exchanges(7) == [MAIN]
    assert cache.corrupted_skipped == 2
    assert db.calls["get_user_exchanges"] == 1


async def test_corrupted_entries_of_the_catalogue_are_skipped_and_counted(
    cache: ExchangeCache, settings: CacheSettings, raw_redis: Redis
) -> None:
    await cache.get_cat_exchanges()
    await raw_redis.hset(key(settings, "exchanges:catalog"), "kraken", b"not json")
    assert await cache.get_cat_exchanges() == [BINANCE]
    assert await cache.get_cat_ex_id("binance") == 1
    assert cache.corrupted_skipped == 2


async def test_a_field_name_that_is_not_utf8_is_skipped_and_counted_not_reloaded(
    cache: ExchangeCache, db: Database, settings: CacheSettings, raw_redis: Redis
) -> None:
    assert await cache.get_exchanges(7) == [MAIN, HEDGE]
    await raw_redis.hset(key(settings, "exchanges:user:7"), b"\xffSECRET\xfe", b"\xff garbage")
    assert await cache.get_exchanges(7) == [MAIN, HEDGE]
    assert cache.corrupted_skipped == 1
    assert db.calls["get_user_exchanges"] == 1  # still complete: no trip to the source


# -- websocket error queues ----------------------------------------------------------------


async def test_ws_errors_are_fifo_per_exchange(cache: ExchangeCache) -> None:
    await cache.push_ws_error("first", ex_id=3)
    await cache.push_ws_error("other exchange", ex_id=4)
    await cache.push_ws_error("second: with spaces\nand lines ✓", ex_id="3")
    assert await cache.pop_ws_error(3) == "first"
    assert await cache.pop_ws_error("3", timeout=1) == "second: with spaces\nand lines ✓"
    assert await cache.pop_ws_error(3) is None
    assert await cache.pop_ws_error(4) == "other exchange"
    assert await cache.pop_ws_error(4) is None


async def test_ws_error_queues_are_capped(settings: CacheSettings, raw_redis: Redis) -> None:
    class SmallCap(ExchangeCache):
        WS_ERROR_CAP = 3

    async with SmallCap(settings) as cache:
        for i in range(5):
            await cache.push_ws_error(f"e{i}", ex_id=3)
        await cache.push_ws_error("kept", ex_id=4)
        assert await raw_redis.llen(key(settings, "errors:ws:3")) == 3
        assert [await cache.pop_ws_error(3) for _ in range(4)] == ["e2", "e3", "e4", None]
        assert await cache.pop_ws_error(4) == "kept"


async def test_a_blocking_ws_pop_on_an_empty_queue_returns_none(cache: ExchangeCache) -> None:
    assert await cache.pop_ws_error(3, timeout=0.3) is None


async def test_a_blocking_ws_pop_returns_an_error_pushed_while_waiting(
    settings: CacheSettings,
) -> None:
    async with ExchangeCache(settings) as consumer, ExchangeCache(settings) as producer:
        waiter = asyncio.create_task(consumer.pop_ws_error(3, timeout=10))
        await asyncio.sleep(0.2)
        await producer.push_ws_error("late", ex_id=3)
        assert await asyncio.wait_for(waiter, GUARD) == "late"


@pytest.mark.parametrize(
    ("error", "ex_id", "exc"),
    [("", 3, InvalidInputError), ("   ", 3, InvalidInputError), (None, 3, InvalidTypeError),
     (b"bytes", 3, InvalidTypeError), ("boom", "a*", InvalidInputError),
     ("boom", "{3}", InvalidInputError), ("boom", None, InvalidTypeError),
     ("boom", False, InvalidTypeError), ("boom", "", InvalidInputError)],
)  # fmt: skip
async def test_bad_ws_errors_raise_and_write_nothing(
    cache: ExchangeCache,
    settings: CacheSettings,
    raw_redis: Redis,
    error: object,
    ex_id: object,
    exc: type[Exception],
) -> None:
    with pytest.raises(exc):
        await cache.push_ws_error(error, ex_id)  # type: ignore[arg-type]
    assert await stored_keys(raw_redis, settings) == set()


@pytest.mark.parametrize(
    ("ex_id", "timeout", "exc"),
    [("a*", 0, InvalidInputError), (None, 0, InvalidTypeError), (3, -1, InvalidInputError),
     (3, "1", InvalidTypeError)],
)  # fmt: skip
async def test_bad_ws_pops_raise_and_leave_the_queue_alone(
    cache: ExchangeCache, ex_id: object, timeout: object, exc: type[Exception]
) -> None:
    await cache.push_ws_error("kept", ex_id=3)
    with pytest.raises(exc):
        await cache.pop_ws_error(ex_id, timeout)  # type: ignore[arg-type]
    assert await cache.pop_ws_error(3) == "kept"


# -- faults --------------------------------------------------------------------------------


@pytest.mark.faults
async def test_a_lost_reply_to_get_exchange_is_retried_and_loads_once(
    proxy: FaultProxy, proxied_settings: CacheSettings, db: Database
) -> None:
    async with ExchangeCache(proxied_settings) as cache:
        cache.source = db
        await cache.ping()  # warm: connection open, eviction policy checked
        proxy.drop_next_reply()
        async with asyncio.timeout(GUARD):
            assert await cache.get_exchange(3) == MAIN
        assert proxy.replies_dropped == 1
        assert await cache.get_exchange(3) == MAIN
    assert db.calls["get_exchange"] == 1
