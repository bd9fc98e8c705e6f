"""AccountCache against a real server: account snapshots, balances and positions.

Every "nothing was written" claim is checked with SCAN over the test's namespace; corrupted
data is written with a plain redis-py client under the library's own keys (names from
``cache._keys``). No test asserts a duration: ``asyncio.timeout(GUARD)`` only turns a hang
into a failure.
"""

from __future__ import annotations

import asyncio
import copy
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from fullon_cache.account_cache import AccountCache
from fullon_cache.errors import (
    CacheCorruptedValueError,
    CacheOutOfMemoryError,
    CacheUnknownOutcomeError,
    InvalidInputError,
    InvalidTypeError,
)
from fullon_cache.models import Position
from fullon_cache.settings import CacheSettings
from tests.conftest import raw_client
from tests.support.proxy import FaultProxy
from tests.support.reference import stored_keys

GUARD = 10  # seconds: turns a hang into a failure, never a performance assertion
T = 1_700_000_000.25  # a fixed epoch for positions whose time does not matter
GARBAGE = b"\xff\x00 not json {"

Call = Callable[[AccountCache], Awaitable[Any]]


def position(symbol: str = "BTC/USDT", **fields: Any) -> Position:
    return Position(symbol=symbol, **{"volume": 1.0, "price": 50000.0, "cost": 50000.0, **fields})


def shape(positions: list[Position]) -> list[tuple[str | None, str, float]]:
    return [(p.ex_id, p.symbol, p.volume) for p in positions]


def balance(total: float, free: float | None = None, **extra: Any) -> dict[str, Any]:
    free = total if free is None else free
    return {"total": total, "free": free, "used": total - free, **extra}


@pytest.fixture
async def cache(settings: CacheSettings) -> AsyncIterator[AccountCache]:
    async with AccountCache(settings) as cache:
        cache.source = None  # no reference-data source: these tests never need one
        yield cache


async def raw_position(raw_redis: Redis, cache: AccountCache, ex: str, stored: Any) -> None:
    """Write a position field under the library's key and index, as the library would."""
    data = stored if isinstance(stored, bytes) else orjson.dumps(stored)
    await raw_redis.hset(cache._keys.positions(ex), stored_symbol(stored), data)
    await raw_redis.sadd(cache._keys.position_exchanges(), ex)


def stored_symbol(stored: Any) -> str:
    if isinstance(stored, dict) and isinstance(stored.get("symbol"), str):
        return str(stored["symbol"])
    return "BROKEN/USDT"


# -- account snapshots -------------------------------------------------------------------


async def test_upsert_user_account_stamps_now_in_utc_and_leaves_the_callers_dict(
    cache: AccountCache,
) -> None:
    account = {
        "USDT": {"total": 1000.0, "free": 800.0, "used": 200.0},
        "BTC": {"total": 0.5, "free": 0.5, "used": 0.0, "balance": 0.5},
    }
    original = copy.deepcopy(account)
    before = datetime.now(UTC)
    assert await cache.upsert_user_account(3, account) is True
    after = datetime.now(UTC)
    assert account == original  # not mutated: no "date" was added to the caller's dict
    snapshot = (await cache.get_all_accounts())["3"]
    stamp = datetime.fromisoformat(snapshot.pop("date"))
    assert stamp.tzinfo is not None
    assert stamp.utcoffset() == timedelta(0)
    assert before <= stamp <= after
    assert snapshot == original


async def test_upsert_user_account_stores_the_given_update_date_as_given(
    cache: AccountCache,
) -> None:
    account = {"USDT": {"total": 10.0}, "date": "caller's own date"}
    original = copy.deepcopy(account)
    assert await cache.upsert_user_account("3", account, update_date="2024-01-02 03:04:05")
    assert account == original
    assert (await cache.get_all_accounts())["3"] == {
        "USDT": {"total": 10.0},
        "date": "2024-01-02 03:04:05",
    }


async def test_upsert_user_account_replaces_the_previous_snapshot(cache: AccountCache) -> None:
    await cache.upsert_user_account(3, {"USDT": {"total": 1.0}, "BTC": {"total": 2.0}})
    await cache.upsert_user_account(3, {"ETH": {"total": 3.0}}, update_date="d2")
    assert await cache.get_full_account(3, "BTC") == {}
    assert await cache.get_full_account(3, "USDT") == {}
    assert await cache.get_full_account("3", "ETH") == {"total": 3.0}
    assert await cache.get_all_accounts() == {"3": {"ETH": {"total": 3.0}, "date": "d2"}}


async def test_get_full_account_is_empty_for_a_missing_account_or_currency(
    cache: AccountCache,
) -> None:
    assert await cache.get_full_account(3, "USDT") == {}
    await cache.upsert_user_account(3, {"USDT": {"total": 5.0, "free": 4.0, "used": 1.0}})
    assert await cache.get_full_account(3, "BTC") == {}
    assert await cache.get_full_account(4, "USDT") == {}
    assert await cache.get_full_account(3, "USDT") == {"total": 5.0, "free": 4.0, "used": 1.0}
    assert await cache.get_full_account("3", "USDT") == {"total": 5.0, "free": 4.0, "used": 1.0}


@pytest.mark.parametrize(
    "stored",
    [GARBAGE, b"[1, 2, 3]", b'"text"'],
    ids=["garbage", "JSON list", "JSON string"],
)
async def test_get_full_account_of_a_corrupted_snapshot_raises(
    cache: AccountCache, raw_redis: Redis, stored: bytes
) -> None:
    key = cache._keys.accounts()
    await raw_redis.hset(key, "3", stored)
    with pytest.raises(CacheCorruptedValueError) as caught:
        await cache.get_full_account(3, "USDT")
    assert caught.value.key == key
    assert stored.decode(errors="replace") not in str(caught.value)  # never shows the value


async def test_none_is_no_account_and_no_balances(
    cache: AccountCache, raw_redis: Redis, settings: CacheSettings
) -> None:
    with pytest.raises(InvalidTypeError):
        await cache.upsert_user_account(3, None)  # type: ignore[arg-type]
    with pytest.raises(InvalidTypeError):
        await cache.set_user_balances(3, None)  # type: ignore[arg-type]
    assert await stored_keys(raw_redis, settings) == set()


async def test_an_entry_that_is_no_currency_gives_an_empty_dict(
    cache: AccountCache, raw_redis: Redis
) -> None:
    await raw_redis.hset(cache._keys.accounts(), "3", b'{"USDT": 5, "BTC": [1, 2]}')
    assert await cache.get_full_account(3, "USDT") == {}
    assert await cache.get_full_account(3, "BTC") == {}
    await cache.upsert_user_account(3, {"USDT": {"total": 1.0}})
    assert await cache.get_full_account(3, "date") == {}  # the stamp is no currency


async def test_get_all_accounts_is_keyed_by_str_ex_id(cache: AccountCache) -> None:
    assert await cache.get_all_accounts() == {}
    await cache.upsert_user_account(1, {"USDT": {"total": 1.0}}, update_date="d1")
    await cache.upsert_user_account("kraken main", {"BTC": {"total": 2.0}}, update_date="d2")
    assert await cache.get_all_accounts() == {
        "1": {"USDT": {"total": 1.0}, "date": "d1"},
        "kraken main": {"BTC": {"total": 2.0}, "date": "d2"},
    }


async def test_get_all_accounts_skips_and_counts_corrupted_snapshots(
    cache: AccountCache, raw_redis: Redis
) -> None:
    await cache.upsert_user_account(1, {"USDT": {"total": 1.0}}, update_date="d1")
    await cache.upsert_user_account(3, {"BTC": {"total": 2.0}}, update_date="d3")
    await raw_redis.hset(cache._keys.accounts(), "2", GARBAGE)
    await raw_redis.hset(cache._keys.accounts(), "4", b"[1]")
    assert cache.corrupted_skipped == 0
    assert await cache.get_all_accounts() == {
        "1": {"USDT": {"total": 1.0}, "date": "d1"},
        "3": {"BTC": {"total": 2.0}, "date": "d3"},
    }
    assert cache.corrupted_skipped == 2


BAD_ACCOUNT_CALLS = [
    pytest.param(lambda c: c.upsert_user_account(3, [("USDT", {})]), InvalidTypeError, id="list"),
    pytest.param(lambda c: c.upsert_user_account(3, "USDT"), InvalidTypeError, id="str"),
    pytest.param(lambda c: c.upsert_user_account(3, 5), InvalidTypeError, id="int"),
    pytest.param(lambda c: c.upsert_user_account(3, {1: {}}), InvalidInputError, id="int key"),
    pytest.param(lambda c: c.upsert_user_account(3, {"": {}}), InvalidInputError, id="empty key"),
    pytest.param(
        lambda c: c.upsert_user_account(3, {"USDT": {1, 2}}), InvalidTypeError, id="not JSON"
    ),
    pytest.param(
        lambda c: c.upsert_user_account(3, {}, update_date=None), InvalidTypeError, id="date None"
    ),
    pytest.param(
        lambda c: c.upsert_user_account(3, {}, update_date=1.5), InvalidTypeError, id="date float"
    ),
    pytest.param(
        lambda c: c.upsert_user_account(3, {}, update_date=datetime.now(UTC)),
        InvalidTypeError,
        id="date datetime",
    ),
    pytest.param(lambda c: c.upsert_user_account(None, {}), InvalidTypeError, id="ex_id None"),
    pytest.param(lambda c: c.upsert_user_account(3.0, {}), InvalidTypeError, id="ex_id float"),
    pytest.param(lambda c: c.upsert_user_account(True, {}), InvalidTypeError, id="ex_id bool"),
    pytest.param(lambda c: c.upsert_user_account("a*", {}), InvalidInputError, id="ex_id glob"),
    pytest.param(lambda c: c.upsert_user_account("", {}), InvalidInputError, id="ex_id empty"),
    pytest.param(lambda c: c.get_full_account("a{b}", "USDT"), InvalidInputError, id="get ex_id"),
    pytest.param(lambda c: c.get_full_account(3, "US\nDT"), InvalidInputError, id="get currency"),
    pytest.param(lambda c: c.get_full_account(3, None), InvalidTypeError, id="get None"),
]


BAD_BALANCE_KEY_CALLS = [
    pytest.param(lambda c: c.set_user_balances(None, {}), InvalidTypeError, id="balance set None"),
    pytest.param(lambda c: c.set_user_balances(1.5, {}), InvalidTypeError, id="balance set float"),
    pytest.param(lambda c: c.set_user_balances("a*", {}), InvalidInputError, id="balance set glob"),
    pytest.param(
        lambda c: c.get_user_balance(None, "BTC"), InvalidTypeError, id="balance get None"
    ),
    pytest.param(lambda c: c.get_user_balance(3, "B*"), InvalidInputError, id="balance get glob"),
    pytest.param(lambda c: c.get_user_balances("{3}"), InvalidInputError, id="balance all brace"),
]


@pytest.mark.parametrize(("call", "exc"), BAD_ACCOUNT_CALLS + BAD_BALANCE_KEY_CALLS)
async def test_bad_account_input_is_rejected_and_nothing_is_written(
    cache: AccountCache,
    raw_redis: Redis,
    settings: CacheSettings,
    call: Call,
    exc: type[Exception],
) -> None:
    with pytest.raises(exc):
        await call(cache)
    assert await stored_keys(raw_redis, settings) == set()


# -- balances ------------------------------------------------------------------------------


async def test_set_user_balances_round_trips_and_keeps_extra_keys(cache: AccountCache) -> None:
    balances = {
        "BTC": balance(1.5, 1.2, balance=1.5, available=1.2),
        "USDT": balance(1000.0, 800.0),
    }
    original = copy.deepcopy(balances)
    assert await cache.set_user_balances(3, balances) is True
    assert balances == original  # neither the outer nor the inner dicts were changed
    assert await cache.get_user_balances(3) == original
    assert await cache.get_user_balances("3") == original
    assert await cache.get_user_balance(3, "BTC") == original["BTC"]
    assert await cache.get_user_balance("3", "USDT") == original["USDT"]


async def test_set_user_balances_replaces_every_balance(cache: AccountCache) -> None:
    await cache.set_user_balances(3, {"BTC": balance(1.0), "USDT": balance(10.0)})
    await cache.set_user_balances(3, {"ETH": balance(2.0)})
    assert await cache.get_user_balances(3) == {"ETH": balance(2.0)}
    assert await cache.get_user_balance(3, "BTC") is None
    assert await cache.get_user_balance(3, "USDT") is None


async def test_an_empty_dict_clears_the_balances(
    cache: AccountCache, raw_redis: Redis, settings: CacheSettings
) -> None:
    await cache.set_user_balances(3, {"BTC": balance(1.0)})
    await cache.set_user_balances(4, {"BTC": balance(9.0)})
    assert await cache.set_user_balances(3, {}) is True
    assert await cache.get_user_balances(3) == {}
    assert await cache.get_user_balance(3, "BTC") is None
    assert await cache.get_user_balances(4) == {"BTC": balance(9.0)}  # the other account stays
    assert await stored_keys(raw_redis, settings) == {"balances:4"}


async def test_balances_are_none_or_empty_when_missing(cache: AccountCache) -> None:
    assert await cache.get_user_balance(3, "BTC") is None
    assert await cache.get_user_balances(3) == {}
    await cache.set_user_balances(3, {"BTC": balance(1.0)})
    assert await cache.get_user_balance(3, "ETH") is None
    assert await cache.get_user_balance(4, "BTC") is None
    assert await cache.get_user_balances(4) == {}


async def test_a_corrupted_balance_raises_alone_and_is_skipped_among_the_others(
    cache: AccountCache, raw_redis: Redis
) -> None:
    await cache.set_user_balances(3, {"BTC": balance(1.0), "USDT": balance(10.0)})
    key = cache._keys.balances("3")
    await raw_redis.hset(key, "ETH", GARBAGE)
    await raw_redis.hset(key, "XRP", b"[1, 2]")
    with pytest.raises(CacheCorruptedValueError) as garbage:
        await cache.get_user_balance(3, "ETH")
    assert garbage.value.key == key
    with pytest.raises(CacheCorruptedValueError) as not_an_object:
        await cache.get_user_balance(3, "XRP")
    assert not_an_object.value.key == key
    assert await cache.get_user_balance(3, "BTC") == balance(1.0)
    assert cache.corrupted_skipped == 0
    assert await cache.get_user_balances(3) == {"BTC": balance(1.0), "USDT": balance(10.0)}
    assert cache.corrupted_skipped == 2


BAD_BALANCES = [
    pytest.param([("BTC", {"total": 1.0})], InvalidTypeError, id="list"),
    pytest.param("BTC", InvalidTypeError, id="str"),
    pytest.param(5, InvalidTypeError, id="int"),
    pytest.param({"BTC": 1.0}, InvalidTypeError, id="value a number"),
    pytest.param({"BTC": [1.0, 2.0]}, InvalidTypeError, id="value a list"),
    pytest.param({"BTC": None}, InvalidTypeError, id="value None"),
    pytest.param({"ETH": {"total": 1.0}, "BTC": "1.0"}, InvalidTypeError, id="second value"),
    pytest.param({1: {"total": 1.0}}, InvalidInputError, id="int currency"),
    pytest.param({"B*C": {"total": 1.0}}, InvalidInputError, id="glob currency"),
    pytest.param({"{BTC}": {"total": 1.0}}, InvalidInputError, id="brace currency"),
    pytest.param({"BTC\n": {"total": 1.0}}, InvalidInputError, id="newline currency"),
    pytest.param({"ETH": {"total": 1.0}, "B?C": {}}, InvalidInputError, id="second currency"),
    pytest.param({"BTC": {"total": {1, 2}}}, InvalidTypeError, id="not JSON"),
]


@pytest.mark.parametrize(("balances", "exc"), BAD_BALANCES)
async def test_bad_balances_are_rejected_and_the_stored_ones_stay(
    cache: AccountCache,
    raw_redis: Redis,
    settings: CacheSettings,
    balances: object,
    exc: type[Exception],
) -> None:
    await cache.set_user_balances(3, {"USDT": balance(10.0)})
    with pytest.raises(exc):
        await cache.set_user_balances(3, balances)  # type: ignore[arg-type]
    assert await cache.get_user_balances(3) == {"USDT": balance(10.0)}
    assert await stored_keys(raw_redis, settings) == {"balances:3"}


# -- positions: writing ----------------------------------------------------------------------


async def test_upsert_positions_replaces_that_exchanges_positions(cache: AccountCache) -> None:
    await cache.upsert_positions(3, [position("BTC/USDT"), position("ETH/USDT", volume=2.0)])
    await cache.upsert_positions(4, [position("BTC/USDT", volume=7.0)])
    assert await cache.upsert_positions(3, [position("XRP/USDT", volume=3.0)]) is True
    assert shape(await cache.get_positions(3)) == [("3", "XRP/USDT", 3.0)]
    assert shape(await cache.get_positions(4)) == [("4", "BTC/USDT", 7.0)]  # untouched
    assert (await cache.get_position("BTC/USDT", 3)).volume == 0.0


async def test_upsert_positions_accepts_any_iterable_of_positions(cache: AccountCache) -> None:
    assert await cache.upsert_positions(3, (position("A/USDT"), position("B/USDT")))
    assert await cache.upsert_positions(4, (position(s) for s in ["C/USDT"]))
    assert shape(await cache.get_all_positions()) == [
        ("3", "A/USDT", 1.0),
        ("3", "B/USDT", 1.0),
        ("4", "C/USDT", 1.0),
    ]


async def test_an_empty_list_deletes_the_positions(
    cache: AccountCache, raw_redis: Redis, settings: CacheSettings
) -> None:
    index = cache._keys.position_exchanges()
    await cache.upsert_positions(3, [position("BTC/USDT")])
    await cache.upsert_positions(4, [position("ETH/USDT")])
    assert await raw_redis.smembers(index) == {b"3", b"4"}
    assert await cache.upsert_positions(3, []) is True
    assert await cache.get_positions(3) == []
    # The index is only ever added to (so a concurrent writer can never drop an account
    # that has positions); an account without positions in it costs an empty read.
    assert await raw_redis.smembers(index) == {b"3", b"4"}
    assert await stored_keys(raw_redis, settings) == {"positions:4", "position_accounts"}
    assert shape(await cache.get_all_positions()) == [("4", "ETH/USDT", 1.0)]


async def test_upsert_positions_with_update_date_stamps_only_the_stored_copies(
    cache: AccountCache,
) -> None:
    given = [position("BTC/USDT"), position("ETH/USDT", timestamp=T, ex_id="9")]
    original = [p.to_dict() for p in given]
    before = time.time()
    assert await cache.upsert_positions(3, given, update_date=True) is True
    after = time.time()
    assert [p.to_dict() for p in given] == original  # the caller's objects are unchanged
    stored = await cache.get_positions(3)
    assert [p.symbol for p in stored] == ["BTC/USDT", "ETH/USDT"]
    for p in stored:
        assert type(p.timestamp) is float
        assert before <= p.timestamp <= after
        assert p.ex_id == "3"


async def test_upsert_positions_without_update_date_keeps_the_given_timestamp(
    cache: AccountCache,
) -> None:
    given = position("BTC/USDT", timestamp=T, side="long", realized_pnl=1.5, unrealized_pnl=-2.0)
    await cache.upsert_positions(3, [given, position("ETH/USDT")])
    stored = await cache.get_position("BTC/USDT", 3)
    assert stored.to_dict() == {**given.to_dict(), "ex_id": "3"}
    assert repr(stored.timestamp) == repr(T)
    assert (await cache.get_position("ETH/USDT", 3)).timestamp is None
    assert given.ex_id is None


async def test_upsert_position_stores_under_its_own_ex_id_and_keeps_other_symbols(
    cache: AccountCache, raw_redis: Redis
) -> None:
    await cache.upsert_position(position("BTC/USDT", ex_id="3"))
    eth = position("ETH/USDT", ex_id="3", volume=2.0, fee=0.1, count=2.0)
    assert await cache.upsert_position(eth) is True
    assert (await cache.get_position("ETH/USDT", 3)).to_dict() == eth.to_dict()
    assert shape(await cache.get_positions("3")) == [("3", "BTC/USDT", 1.0), ("3", "ETH/USDT", 2.0)]
    assert await raw_redis.smembers(cache._keys.position_exchanges()) == {b"3"}
    # upsert replaces that symbol only
    await cache.upsert_position(position("BTC/USDT", ex_id="3", volume=0.5))
    assert shape(await cache.get_positions(3)) == [("3", "BTC/USDT", 0.5), ("3", "ETH/USDT", 2.0)]


async def test_upsert_position_with_an_int_ex_id_stores_it_as_text(
    cache: AccountCache, raw_redis: Redis
) -> None:
    given = position("BTC/USDT", ex_id=7)
    await cache.upsert_position(given)
    stored = await cache.get_position("BTC/USDT", "7")
    assert stored.ex_id == "7"
    raw = await raw_redis.hget(cache._keys.positions("7"), "BTC/USDT")
    assert raw is not None
    assert orjson.loads(raw)["ex_id"] == "7"
    assert given.ex_id == 7  # the caller's object is unchanged


async def test_upsert_position_needs_an_ex_id(
    cache: AccountCache, raw_redis: Redis, settings: CacheSettings
) -> None:
    with pytest.raises(InvalidInputError):
        await cache.upsert_position(position("BTC/USDT"))
    assert await stored_keys(raw_redis, settings) == set()


async def test_set_position_stores_under_the_given_ex_id_as_text(
    cache: AccountCache, raw_redis: Redis
) -> None:
    given = position("BTC/USDT", ex_id="9", volume=0.25)
    assert await cache.set_position(3, given) is True
    stored = await cache.get_position("BTC/USDT", 3)
    assert stored.to_dict() == {**given.to_dict(), "ex_id": "3"}
    assert (await cache.get_position("BTC/USDT", 9)).volume == 0.0
    assert given.ex_id == "9"
    raw = await raw_redis.hget(cache._keys.positions("3"), "BTC/USDT")
    assert raw is not None
    assert orjson.loads(raw)["ex_id"] == "3"
    assert await raw_redis.smembers(cache._keys.position_exchanges()) == {b"3"}


# -- positions: reading ----------------------------------------------------------------------


async def test_get_position_of_a_missing_symbol_is_an_empty_position(
    cache: AccountCache, raw_redis: Redis, settings: CacheSettings
) -> None:
    empty = await cache.get_position("BTC/USDT", 3)
    assert isinstance(empty, Position)
    assert (empty.symbol, empty.volume, empty.ex_id) == ("BTC/USDT", 0.0, "3")
    assert (empty.cost, empty.price, empty.fee) == (0.0, 0.0, 0.0)
    await cache.upsert_positions(3, [position("ETH/USDT")])
    other = await cache.get_position("BTC/USDT", 3)
    assert (other.symbol, other.volume) == ("BTC/USDT", 0.0)
    assert await stored_keys(raw_redis, settings) == {"positions:3", "position_accounts"}


async def test_get_positions_returns_only_that_exchanges_positions(cache: AccountCache) -> None:
    await cache.upsert_positions(3, [position("ETH/USDT", volume=2.0), position("BTC/USDT")])
    await cache.upsert_positions(4, [position("BTC/USDT", volume=5.0), position("XRP/USDT")])
    await cache.set_position(34, position("BTC/USDT", volume=9.0))
    assert shape(await cache.get_positions(3)) == [
        ("3", "BTC/USDT", 1.0),
        ("3", "ETH/USDT", 2.0),
    ]
    assert shape(await cache.get_positions("4")) == [
        ("4", "BTC/USDT", 5.0),
        ("4", "XRP/USDT", 1.0),
    ]
    assert shape(await cache.get_positions(34)) == [("34", "BTC/USDT", 9.0)]
    assert await cache.get_positions(5) == []


async def test_get_all_positions_spans_every_exchange(cache: AccountCache) -> None:
    assert await cache.get_all_positions() == []
    await cache.upsert_positions(3, [position("ETH/USDT", volume=2.0), position("BTC/USDT")])
    await cache.upsert_position(position("BTC/USDT", ex_id="4", volume=5.0))
    await cache.set_position("kraken", position("SOL/USDT", volume=3.0))
    assert sorted(shape(await cache.get_all_positions())) == [
        ("3", "BTC/USDT", 1.0),
        ("3", "ETH/USDT", 2.0),
        ("4", "BTC/USDT", 5.0),
        ("kraken", "SOL/USDT", 3.0),
    ]


async def test_get_all_positions_skips_and_counts_a_key_of_the_wrong_type(
    cache: AccountCache, raw_redis: Redis
) -> None:
    await cache.upsert_positions(3, [position("BTC/USDT")])
    await cache.upsert_positions(6, [position("ETH/USDT")])
    await raw_redis.set(cache._keys.positions("5"), b"not a hash")
    await raw_redis.sadd(cache._keys.position_exchanges(), "5")
    assert sorted(shape(await cache.get_all_positions())) == [
        ("3", "BTC/USDT", 1.0),
        ("6", "ETH/USDT", 1.0),
    ]
    assert cache.corrupted_skipped == 1


async def test_delete_position_reports_whether_there_was_one(cache: AccountCache) -> None:
    await cache.upsert_positions(3, [position("BTC/USDT"), position("ETH/USDT")])
    await cache.upsert_positions(4, [position("BTC/USDT")])
    assert await cache.delete_position(3, "BTC/USDT") is True
    assert await cache.delete_position("3", "BTC/USDT") is False
    assert await cache.delete_position(5, "BTC/USDT") is False
    assert (await cache.get_position("BTC/USDT", 3)).volume == 0.0
    assert shape(await cache.get_positions(3)) == [("3", "ETH/USDT", 1.0)]
    assert shape(await cache.get_positions(4)) == [("4", "BTC/USDT", 1.0)]


async def test_clean_positions_counts_and_deletes_every_position(
    cache: AccountCache, raw_redis: Redis, settings: CacheSettings
) -> None:
    assert await cache.clean_positions() == 0
    await cache.upsert_positions(3, [position("BTC/USDT"), position("ETH/USDT")])
    await cache.upsert_positions(4, [position("BTC/USDT")])
    await cache.set_position("kraken", position("SOL/USDT"))
    await cache.set_user_balances(3, {"BTC": balance(1.0)})
    assert await cache.clean_positions() == 4
    assert await cache.get_all_positions() == []
    assert await cache.get_positions(3) == []
    assert await stored_keys(raw_redis, settings) == {"balances:3"}  # balances are not positions
    assert await cache.clean_positions() == 0


async def test_clean_positions_removes_a_key_of_the_wrong_type_without_counting_it(
    cache: AccountCache, raw_redis: Redis, settings: CacheSettings
) -> None:
    await cache.upsert_positions(3, [position("BTC/USDT")])
    await raw_redis.set(cache._keys.positions("5"), b"not a hash")
    await raw_redis.sadd(cache._keys.position_exchanges(), "5")
    assert await cache.clean_positions() == 1
    assert await stored_keys(raw_redis, settings) == set()


# -- positions: concurrency ------------------------------------------------------------------


async def test_concurrent_upserts_of_different_symbols_all_survive(cache: AccountCache) -> None:
    symbols = [f"C{i:03d}/USDT" for i in range(100)]
    async with asyncio.timeout(GUARD):
        results = await asyncio.gather(
            *(
                cache.upsert_position(position(s, ex_id="3", volume=float(i)))
                for i, s in enumerate(symbols)
            )
        )
    assert results == [True] * 100
    assert shape(await cache.get_positions(3)) == [
        ("3", s, float(i)) for i, s in enumerate(symbols)
    ]


async def test_readers_never_see_a_half_replaced_set_of_positions(cache: AccountCache) -> None:
    first = [position(f"A{i:02d}/USDT", volume=1.0) for i in range(20)]
    second = [position(f"B{i:02d}/USDT", volume=2.0) for i in range(20)]
    allowed = [
        sorted((p.symbol, p.volume) for p in batch) for batch in (first, second)
    ]  # what get_positions may show: one complete set or the other
    await cache.upsert_positions(3, first)

    async def write() -> None:
        for round_ in range(50):
            await cache.upsert_positions(3, second if round_ % 2 == 0 else first)

    async def read() -> list[list[tuple[str, float]]]:
        seen = []
        for _ in range(50):
            seen.append([(p.symbol, p.volume) for p in await cache.get_positions(3)])
        return seen

    async with asyncio.timeout(GUARD):
        _, *reads = await asyncio.gather(write(), read(), read(), read())
    assert all(snapshot in allowed for seen in reads for snapshot in seen)


# -- positions: bad input ----------------------------------------------------------------------

BAD_POSITIONS = [
    pytest.param({"symbol": "BTC/USDT", "volume": 1.0, "ex_id": "3"}, InvalidTypeError, id="dict"),
    pytest.param(None, InvalidTypeError, id="None"),
    pytest.param(position("BTC/USDT", volume=math.nan), InvalidInputError, id="NaN volume"),
    pytest.param(position("BTC/USDT", volume=math.inf), InvalidInputError, id="inf volume"),
    pytest.param(position("BTC/USDT", volume=True), InvalidTypeError, id="bool volume"),
    pytest.param(position("BTC/USDT", volume="1.0"), InvalidTypeError, id="str volume"),
    pytest.param(position("BTC/USDT", price=-math.inf), InvalidInputError, id="-inf price"),
    pytest.param(position("BTC/USDT", cost=None), InvalidTypeError, id="None cost"),
    pytest.param(position("BTC/USDT", fee=math.nan), InvalidInputError, id="NaN fee"),
    pytest.param(position("BTC/USDT", count=False), InvalidTypeError, id="bool count"),
    pytest.param(position("BTC*"), InvalidInputError, id="glob symbol"),
    pytest.param(position("BTC/{USDT}"), InvalidInputError, id="brace symbol"),
    pytest.param(position("BTC/USDT\n"), InvalidInputError, id="newline symbol"),
    pytest.param(position("BTC\n/USDT"), InvalidInputError, id="inner newline symbol"),
    pytest.param(position(""), InvalidInputError, id="empty symbol"),
    pytest.param(position(5), InvalidTypeError, id="int symbol"),
]


async def _bad_position_calls(cache: AccountCache, bad: Any, exc: type[Exception]) -> None:
    with_ex = bad
    if isinstance(bad, Position):
        with_ex = Position.from_dict({**bad.to_dict(), "ex_id": "3"})
    with pytest.raises(exc):
        await cache.upsert_position(with_ex)
    with pytest.raises(exc):
        await cache.set_position(3, bad)
    with pytest.raises(exc):
        await cache.upsert_positions(3, [bad])
    with pytest.raises(exc):
        await cache.upsert_positions(3, [position("ETH/USDT"), bad])  # one bad: none written


@pytest.mark.parametrize(("bad", "exc"), BAD_POSITIONS)
async def test_a_bad_position_is_rejected_and_nothing_is_written(
    cache: AccountCache,
    raw_redis: Redis,
    settings: CacheSettings,
    bad: Any,
    exc: type[Exception],
) -> None:
    await _bad_position_calls(cache, bad, exc)
    assert await stored_keys(raw_redis, settings) == set()


@pytest.mark.parametrize(
    ("fields", "exc"),
    [
        pytest.param({"timestamp": "yesterday"}, InvalidTypeError, id="str timestamp"),
        pytest.param({"timestamp": math.nan}, InvalidInputError, id="NaN timestamp"),
        pytest.param({"realized_pnl": math.nan}, InvalidInputError, id="NaN realized_pnl"),
        pytest.param({"unrealized_pnl": math.inf}, InvalidInputError, id="inf unrealized_pnl"),
        pytest.param({"unrealized_pnl": True}, InvalidTypeError, id="bool unrealized_pnl"),
    ],
)
async def test_a_bad_optional_number_of_a_position_is_rejected(
    cache: AccountCache,
    raw_redis: Redis,
    settings: CacheSettings,
    fields: dict[str, Any],
    exc: type[Exception],
) -> None:
    """Optional numbers may be None, but NaN would be stored as JSON null (silently changed)
    and a str timestamp is not the float epoch the model documents."""
    await _bad_position_calls(cache, position("BTC/USDT", **fields), exc)
    assert await stored_keys(raw_redis, settings) == set()


async def test_optional_numbers_of_a_position_may_be_none(cache: AccountCache) -> None:
    given = position("BTC/USDT", timestamp=None, realized_pnl=None, unrealized_pnl=None)
    await cache.set_position(3, given)
    assert (await cache.get_position("BTC/USDT", 3)).to_dict() == {**given.to_dict(), "ex_id": "3"}


async def test_a_rejected_upsert_positions_keeps_the_stored_positions(
    cache: AccountCache, raw_redis: Redis, settings: CacheSettings
) -> None:
    await cache.upsert_positions(3, [position("BTC/USDT")])
    await _bad_position_calls(cache, position("ETH/USDT", volume=math.nan), InvalidInputError)
    with pytest.raises(InvalidTypeError):
        await cache.upsert_positions(3, None)  # type: ignore[arg-type]
    assert shape(await cache.get_positions(3)) == [("3", "BTC/USDT", 1.0)]
    assert await stored_keys(raw_redis, settings) == {"positions:3", "position_accounts"}


@pytest.mark.parametrize(
    "positions",
    [None, {"symbol": "BTC/USDT"}, "BTC/USDT", b"BTC/USDT", 5, position("BTC/USDT")],
    ids=["None", "dict", "str", "bytes", "int", "a Position"],
)
async def test_positions_that_are_not_a_list_are_rejected(
    cache: AccountCache, raw_redis: Redis, settings: CacheSettings, positions: object
) -> None:
    with pytest.raises(InvalidTypeError):
        await cache.upsert_positions(3, positions)  # type: ignore[arg-type]
    assert await stored_keys(raw_redis, settings) == set()


@pytest.mark.parametrize(
    ("ex_id", "exc"),
    [
        (None, InvalidTypeError),
        (3.0, InvalidTypeError),
        (True, InvalidTypeError),
        ("a*", InvalidInputError),
        ("{3}", InvalidInputError),
        ("3\n", InvalidInputError),
        ("", InvalidInputError),
    ],
)
async def test_a_bad_ex_id_is_rejected_by_every_position_method(
    cache: AccountCache,
    raw_redis: Redis,
    settings: CacheSettings,
    ex_id: Any,
    exc: type[Exception],
) -> None:
    if ex_id is not None:  # None on a Position means "no ex_id": its own test covers it
        with pytest.raises(exc):
            await cache.upsert_position(position("BTC/USDT", ex_id=ex_id))
    with pytest.raises(exc):
        await cache.set_position(ex_id, position("BTC/USDT"))
    with pytest.raises(exc):
        await cache.upsert_positions(ex_id, [position("BTC/USDT")])
    with pytest.raises(exc):
        await cache.upsert_positions(ex_id, [])
    with pytest.raises(exc):
        await cache.get_position("BTC/USDT", ex_id)
    with pytest.raises(exc):
        await cache.get_positions(ex_id)
    with pytest.raises(exc):
        await cache.delete_position(ex_id, "BTC/USDT")
    assert await stored_keys(raw_redis, settings) == set()


@pytest.mark.parametrize(
    ("symbol", "exc"),
    [(None, InvalidTypeError), ("BTC*", InvalidInputError), ("A\nB", InvalidInputError)],
)
async def test_a_bad_symbol_is_rejected_by_the_position_readers(
    cache: AccountCache, symbol: Any, exc: type[Exception]
) -> None:
    with pytest.raises(exc):
        await cache.get_position(symbol, 3)
    with pytest.raises(exc):
        await cache.delete_position(3, symbol)


# -- positions: corrupted data ----------------------------------------------------------------

CORRUPTED_POSITIONS = [
    pytest.param(GARBAGE, id="garbage bytes"),
    pytest.param(b"[1, 2]", id="JSON list"),
    pytest.param({"volume": 1.0}, id="no symbol"),
    pytest.param({"symbol": "BROKEN/USDT", "volume": "abc"}, id="volume abc"),
    pytest.param({"symbol": "BROKEN/USDT", "price": None}, id="price null"),
    pytest.param({"symbol": "BROKEN/USDT", "volume": True}, id="volume true"),
]


@pytest.mark.parametrize("stored", CORRUPTED_POSITIONS)
async def test_a_corrupted_position_raises_on_get_position(
    cache: AccountCache, raw_redis: Redis, stored: Any
) -> None:
    await raw_position(raw_redis, cache, "3", stored)
    key = cache._keys.positions("3")
    with pytest.raises(CacheCorruptedValueError) as caught:
        await cache.get_position(stored_symbol(stored), 3)
    assert caught.value.key == key


@pytest.mark.parametrize("stored", CORRUPTED_POSITIONS)
async def test_a_corrupted_position_is_skipped_and_counted_among_the_others(
    cache: AccountCache, raw_redis: Redis, stored: Any
) -> None:
    await cache.upsert_positions(3, [position("BTC/USDT"), position("ETH/USDT", volume=2.0)])
    await cache.upsert_positions(4, [position("SOL/USDT", volume=3.0)])
    await raw_position(raw_redis, cache, "3", stored)
    assert shape(await cache.get_positions(3)) == [
        ("3", "BTC/USDT", 1.0),
        ("3", "ETH/USDT", 2.0),
    ]
    assert cache.corrupted_skipped == 1
    assert sorted(shape(await cache.get_all_positions())) == [
        ("3", "BTC/USDT", 1.0),
        ("3", "ETH/USDT", 2.0),
        ("4", "SOL/USDT", 3.0),
    ]
    assert cache.corrupted_skipped == 2


async def test_upsert_positions_onto_an_index_of_the_wrong_type_reports_corruption(
    cache: AccountCache, raw_redis: Redis
) -> None:
    """An error reply inside the pipeline must not be reported as success (set_position,
    which sends the same two commands, raises for it)."""
    index = cache._keys.position_exchanges()
    await raw_redis.set(index, b"not a set")
    with pytest.raises(CacheCorruptedValueError):
        await cache.set_position(3, position("BTC/USDT"))
    with pytest.raises(CacheCorruptedValueError):
        await cache.upsert_positions(3, [position("BTC/USDT")])


async def test_upsert_positions_onto_positions_of_the_wrong_type_names_them_and_keeps_them(
    cache: AccountCache, raw_redis: Redis
) -> None:
    key = cache._keys.positions("3")
    await raw_redis.set(key, b"not a hash")
    with pytest.raises(CacheCorruptedValueError) as caught:
        await cache.upsert_positions(3, [position("BTC/USDT")])
    assert caught.value.key == key
    assert await raw_redis.get(key) == b"not a hash"  # left for an operator to look at


async def test_upsert_positions_with_a_symbol_twice_keeps_the_last(cache: AccountCache) -> None:
    given = [position("BTC/USDT"), position("ETH/USDT"), position("BTC/USDT", volume=4.0)]
    await cache.upsert_positions(3, given)
    assert shape(await cache.get_positions(3)) == [("3", "BTC/USDT", 4.0), ("3", "ETH/USDT", 1.0)]


# -- positions: a full server, a lost reply, a garbage index member ----------------------------


@pytest.fixture
async def admin(fast_settings: CacheSettings) -> AsyncIterator[Redis]:
    """A plain client on the private server (the one ``fast_settings`` point at)."""
    client = raw_client(fast_settings)
    yield client
    await client.aclose()


async def fill_up(admin: Redis) -> None:
    """Put ``maxmemory`` below the server's usage (noeviction): writes that may grow memory
    are refused from now on."""
    await admin.config_set("maxmemory-policy", "noeviction")
    await admin.set("filler", b"x" * 500_000)
    used = int((await admin.info("memory"))["used_memory"])
    await admin.config_set("maxmemory", used - 200_000)


async def test_upsert_positions_on_a_full_server_writes_nothing(
    fast_settings: CacheSettings, admin: Redis
) -> None:
    """Either every key is written or none: the index SADD and the script's first write are
    both refused, so the stored positions and the index stay as they were."""
    async with AccountCache(fast_settings) as cache, asyncio.timeout(GUARD):
        await cache.upsert_positions(3, [position("BTC/USDT"), position("ETH/USDT")])
        index = cache._keys.position_exchanges()
        await fill_up(admin)
        with pytest.raises(CacheOutOfMemoryError):
            await cache.upsert_positions(3, [position("SOL/USDT", volume=9.0)])
        with pytest.raises(CacheOutOfMemoryError):
            await cache.upsert_positions(9, [position("SOL/USDT", volume=9.0)])
        assert await admin.smembers(index) == {b"3"}
        assert await admin.exists(cache._keys.positions("9")) == 0
        assert shape(await cache.get_all_positions()) == [
            ("3", "BTC/USDT", 1.0),
            ("3", "ETH/USDT", 1.0),
        ]
        assert await cache.upsert_positions(3, []) is True  # a delete frees memory: allowed
        assert await cache.get_all_positions() == []


async def test_a_lost_reply_to_delete_position_is_an_unknown_outcome_never_resent(
    proxy: FaultProxy, proxied_settings: CacheSettings
) -> None:
    async with AccountCache(proxied_settings) as cache, asyncio.timeout(GUARD):
        await cache.upsert_positions(3, [position("BTC/USDT"), position("ETH/USDT")])
        proxy.drop_next_reply()
        with pytest.raises(CacheUnknownOutcomeError):
            await cache.delete_position(3, "BTC/USDT")
        assert proxy.replies_dropped == 1
        assert shape(await cache.get_positions(3)) == [("3", "ETH/USDT", 1.0)]


async def test_a_garbage_member_of_the_position_index_is_skipped_and_counted(
    cache: AccountCache, raw_redis: Redis, settings: CacheSettings
) -> None:
    await cache.upsert_positions(3, [position("BTC/USDT")])
    await cache.upsert_positions(4, [position("ETH/USDT")])
    await raw_redis.sadd(cache._keys.position_exchanges(), GARBAGE)
    assert shape(await cache.get_all_positions()) == [
        ("3", "BTC/USDT", 1.0),
        ("4", "ETH/USDT", 1.0),
    ]
    assert cache.corrupted_skipped == 1
    assert await cache.clean_positions() == 2
    assert cache.corrupted_skipped == 2
    assert await stored_keys(raw_redis, settings) == set()  # the index went with them
