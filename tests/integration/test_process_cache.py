"""ProcessCache against a real server: registry, heartbeats, health, broadcasts, compat.

Windows that must pass are short (``since_minutes=WINDOW``, one second) and the tests sleep
past them: that is the behaviour under test, not a speed assertion. Corrupted data is
written with a plain redis-py client under the library's own keys.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from redis.asyncio import Redis

import fullon_cache
from fullon_cache import (
    CacheCorruptedValueError,
    CacheSettings,
    CacheUnavailableError,
    InvalidInputError,
    InvalidTypeError,
    ProcessCache,
)
from fullon_cache import process_cache as process_module
from fullon_cache.keys import KeySpace
from fullon_cache.process_cache import ProcessStatus, ProcessType
from tests.conftest import raw_client
from tests.support.proxy import FaultProxy
from tests.support.pubsub import publish

GUARD = 10  # seconds: turns a hang into a failure, never a performance assertion
WINDOW = 1 / 60  # one second, in minutes
PAST_WINDOW = 1.2  # seconds slept to leave that window


class ShortLived(ProcessCache):
    PROCESS_TTL = 1  # a record expires one second after its last write


RECORD_FIELDS = {
    "process_id", "process_type", "component", "params", "status", "message",
    "created_at", "updated_at", "heartbeat", "last_seen",
}  # fmt: skip


@pytest.fixture
def keys(settings: CacheSettings) -> KeySpace:
    return KeySpace(settings.key_prefix)


@pytest.fixture
async def cache(settings: CacheSettings) -> AsyncIterator[ProcessCache]:
    async with ProcessCache(settings) as cache:
        yield cache


async def namespace_keys(raw_redis: Redis, settings: CacheSettings) -> list[bytes]:
    return [key async for key in raw_redis.scan_iter(match=f"{settings.key_prefix}:*")]


def aware(text: str) -> datetime:
    stamp = datetime.fromisoformat(text)
    assert stamp.tzinfo is not None
    offset = stamp.utcoffset()
    assert offset is not None
    assert offset.total_seconds() == 0
    return stamp


async def subscribers(raw_redis: Redis, channel: str) -> int:
    [(name, count)] = await raw_redis.pubsub_numsub(channel)
    assert name == channel.encode()
    return int(count)


def ids(records: list[dict[str, Any]]) -> list[str]:
    return [record["process_id"] for record in records]


# -- enums -------------------------------------------------------------------------------


def test_enums_are_str_enums_equal_to_their_values() -> None:
    assert ProcessType.TICK == "tick"
    assert ProcessType("user_trades_service") is ProcessType.USER_TRADES_SERVICE
    assert ProcessStatus.RUNNING == "running"
    assert isinstance(ProcessStatus.ERROR, str)
    assert {t.value for t in ProcessType} == {
        "tick", "ohlcv", "bot", "account", "order", "bot_status_service", "crawler",
        "user_trades_service",
    }  # fmt: skip
    assert {s.value for s in ProcessStatus} == {
        "starting", "running", "processing", "idle", "error", "stopped",
    }  # fmt: skip
    assert fullon_cache.ProcessType is ProcessType is process_module.ProcessType
    assert fullon_cache.ProcessStatus is ProcessStatus is process_module.ProcessStatus
    assert fullon_cache.ProcessCache is process_module.ProcessCache


# -- register_process --------------------------------------------------------------------


async def test_register_returns_an_id_naming_type_and_component(cache: ProcessCache) -> None:
    pid = await cache.register_process(ProcessType.TICK, "ticker_binance")
    assert isinstance(pid, str)
    assert "tick" in pid
    assert "ticker_binance" in pid
    assert pid != await cache.register_process(ProcessType.TICK, "ticker_binance")


async def test_a_registered_record_has_exactly_the_documented_fields(
    cache: ProcessCache,
) -> None:
    pid = await cache.register_process("ohlcv", "Worker A")  # spaces are fine
    record = await cache.get_process(pid)
    assert record is not None
    assert set(record) == RECORD_FIELDS
    assert record["process_id"] == pid
    assert record["process_type"] == "ohlcv"
    assert record["component"] == "Worker A"
    assert record["params"] == {}
    assert record["status"] == ProcessStatus.STARTING
    assert isinstance(record["message"], str)
    assert "Worker A" in record["message"]
    created = aware(record["created_at"])
    assert created == aware(record["updated_at"]) == aware(record["heartbeat"])
    assert isinstance(record["last_seen"], float)
    assert abs(record["last_seen"] - created.timestamp()) < 1  # the same instant


async def test_register_accepts_enums_and_plain_strings(cache: ProcessCache) -> None:
    by_enum = await cache.register_process(ProcessType.BOT, "bot_1", status=ProcessStatus.RUNNING)
    by_text = await cache.register_process("bot", "bot_2", status="running")
    for pid in (by_enum, by_text):
        record = await cache.get_process(pid)
        assert record is not None
        assert (record["process_type"], record["status"]) == ("bot", "running")
        assert type(record["process_type"]) is str


async def test_register_compat_call_styles(cache: ProcessCache) -> None:
    short = await cache.register_process("crawler", "crawler_1")
    keywords = await cache.register_process(
        process_type=ProcessType.ACCOUNT,
        component="accounts",
        params={"users": [1, 2]},
        message="booting",
        status=ProcessStatus.PROCESSING,
    )
    first = await cache.get_process(short)
    assert first is not None
    assert (first["process_type"], first["status"]) == ("crawler", "starting")
    second = await cache.get_process(keywords)
    assert second is not None
    assert second["params"] == {"users": [1, 2]}
    assert (second["message"], second["status"]) == ("booting", "processing")


async def test_params_round_trip_any_json_values(cache: ProcessCache) -> None:
    params = {
        "nested": {"a": {"b": [1, 2.5, None, {"c": "d"}]}},
        "empty_list": [],
        "empty_dict": {},
        "float": 0.1 + 0.2,
        "tiny": 1e-300,
        "big_int": 2**63 - 1,
        "negative": -7,
        "unicode": "₿ ü 日本語 🚀",
        "bool": False,
        "none": None,
        "with:colon and space": "x",
        "empty_string": "",
    }
    pid = await cache.register_process("tick", "ticker", params=params)
    record = await cache.get_process(pid)
    assert record is not None
    assert record["params"] == params
    assert record["params"]["float"] == 0.1 + 0.2  # exact, not rounded


async def test_the_component_index_points_at_the_latest_process(cache: ProcessCache) -> None:
    await cache.register_process("tick", "ticker_kraken")
    latest = await cache.register_process("tick", "ticker_kraken", message="second")
    status = await cache.get_component_status("ticker_kraken")
    assert status is not None
    assert status["process_id"] == latest
    assert status["message"] == "second"


async def test_a_long_component_still_gives_a_usable_id(cache: ProcessCache) -> None:
    component = "c" * 190  # a valid identifier (at most 200 characters)
    pid = await cache.register_process(ProcessType.USER_TRADES_SERVICE, component)
    record = await cache.get_process(pid)
    assert record is not None
    assert record["component"] == component
    assert await cache.update_process(pid, status="running") is True
    assert await cache.stop_process(pid) is True


@pytest.mark.parametrize(
    ("changes", "exc"),
    [({"process_type": "teapot"}, InvalidInputError),
     ({"process_type": 1}, InvalidTypeError),
     ({"process_type": None}, InvalidTypeError),
     ({"status": "sleeping"}, InvalidInputError),
     ({"status": 3}, InvalidTypeError),
     ({"status": None}, InvalidTypeError),
     ({"component": ""}, InvalidInputError),
     ({"component": "a*b"}, InvalidInputError),
     ({"component": "a{b}"}, InvalidInputError),
     ({"component": "a\nb"}, InvalidInputError),
     ({"component": " padded"}, InvalidInputError),
     ({"component": None}, InvalidTypeError),
     ({"component": 1.5}, InvalidTypeError),
     ({"params": ["a"]}, InvalidTypeError),
     ({"params": "a=1"}, InvalidTypeError),
     ({"params": {1: "x"}}, InvalidInputError),
     ({"params": {"": "x"}}, InvalidInputError),
     ({"params": {"ok": 1, "bad": object()}}, InvalidTypeError),
     ({"message": 5}, InvalidTypeError),
     ({"message": b"bytes"}, InvalidTypeError)],
)  # fmt: skip
async def test_bad_register_input_raises_and_writes_nothing(
    cache: ProcessCache,
    raw_redis: Redis,
    settings: CacheSettings,
    changes: dict[str, Any],
    exc: type[Exception],
) -> None:
    arguments: dict[str, Any] = {"process_type": "tick", "component": "ticker", **changes}
    with pytest.raises(exc):
        await cache.register_process(**arguments)
    assert await namespace_keys(raw_redis, settings) == []


async def test_an_unknown_enum_string_is_also_a_value_error(cache: ProcessCache) -> None:
    with pytest.raises(ValueError, match="teapot"):
        await cache.register_process("teapot", "ticker")
    with pytest.raises(TypeError):
        await cache.register_process("tick", "ticker", status=2)  # type: ignore[arg-type]


async def test_register_sets_the_record_ttl(
    cache: ProcessCache, raw_redis: Redis, keys: KeySpace
) -> None:
    pid = await cache.register_process("tick", "ticker")
    assert 0 < await raw_redis.ttl(keys.process(pid)) <= ProcessCache.PROCESS_TTL


# -- update_process ----------------------------------------------------------------------


async def test_update_of_an_unknown_id_returns_false_and_writes_nothing(
    cache: ProcessCache, raw_redis: Redis, settings: CacheSettings
) -> None:
    updated = await cache.update_process("tick:ghost:0123", status="running", params={"a": 1})
    assert updated is False
    assert await cache.get_process("tick:ghost:0123") is None
    assert await namespace_keys(raw_redis, settings) == []


async def test_update_changes_status_message_and_params(cache: ProcessCache) -> None:
    pid = await cache.register_process("bot", "bot_7")
    assert await cache.update_process(
        pid, status=ProcessStatus.ERROR, message="exchange down", params={"retries": 3}
    )
    record = await cache.get_process(pid)
    assert record is not None
    assert (record["status"], record["message"]) == ("error", "exchange down")
    assert record["params"] == {"retries": 3}
    assert await cache.update_process(pid, status="idle")
    record = await cache.get_process(pid)
    assert record is not None
    assert (record["status"], record["message"]) == ("idle", "exchange down")


async def test_params_merge_shallowly(cache: ProcessCache) -> None:
    pid = await cache.register_process(
        "bot", "bot_7", params={"keep": 1, "replace": "old", "nested": {"a": 1, "b": 2}}
    )
    assert await cache.update_process(
        pid, params={"replace": "new", "nested": {"c": 3}, "added": []}
    )
    record = await cache.get_process(pid)
    assert record is not None
    assert record["params"] == {"keep": 1, "replace": "new", "nested": {"c": 3}, "added": []}


async def test_a_heartbeat_moves_heartbeat_and_last_seen_forward(cache: ProcessCache) -> None:
    pid = await cache.register_process("tick", "ticker")
    before = await cache.get_process(pid)
    await asyncio.sleep(0.01)
    assert await cache.update_process(pid) is True
    after = await cache.get_process(pid)
    assert before is not None
    assert after is not None
    assert aware(after["heartbeat"]) > aware(before["heartbeat"])
    assert aware(after["updated_at"]) > aware(before["updated_at"])
    assert after["last_seen"] > before["last_seen"]
    assert after["created_at"] == before["created_at"]
    assert after["status"] == before["status"]


async def test_an_update_without_heartbeat_changes_only_updated_at(
    cache: ProcessCache,
) -> None:
    pid = await cache.register_process("tick", "ticker")
    before = await cache.get_process(pid)
    await asyncio.sleep(0.01)
    assert await cache.update_process(pid, message="busy", heartbeat=False) is True
    after = await cache.get_process(pid)
    assert before is not None
    assert after is not None
    assert aware(after["updated_at"]) > aware(before["updated_at"])
    assert after["heartbeat"] == before["heartbeat"]
    assert after["last_seen"] == before["last_seen"]
    assert after["message"] == "busy"


async def test_concurrent_updates_merge_atomically(cache: ProcessCache) -> None:
    pid = await cache.register_process("order", "orders", params={"base": True})
    results = await asyncio.gather(
        *(cache.update_process(pid, params={f"key_{i}": i}) for i in range(50))
    )
    assert results == [True] * 50
    record = await cache.get_process(pid)
    assert record is not None
    assert record["params"] == {"base": True, **{f"key_{i}": i for i in range(50)}}


async def test_an_update_refreshes_the_record_ttl(
    settings: CacheSettings, raw_redis: Redis, keys: KeySpace
) -> None:
    class HundredSeconds(ProcessCache):
        PROCESS_TTL = 100

    async with HundredSeconds(settings) as cache:
        pid = await cache.register_process("tick", "ticker")
        await raw_redis.expire(keys.process(pid), 5)
        assert await cache.update_process(pid, heartbeat=False) is True
        assert 5 < await raw_redis.ttl(keys.process(pid)) <= 100


@pytest.mark.parametrize(
    ("changes", "exc"),
    [({"process_id": None}, InvalidTypeError),
     ({"process_id": True}, InvalidTypeError),
     ({"process_id": 1.5}, InvalidTypeError),
     ({"process_id": ""}, InvalidInputError),
     ({"process_id": "tick:a*:1"}, InvalidInputError),
     ({"process_id": "tick:a\n:1"}, InvalidInputError),
     ({"status": "sleeping"}, InvalidInputError),
     ({"status": 5}, InvalidTypeError),
     ({"message": 5}, InvalidTypeError),
     ({"params": [("a", 1)]}, InvalidTypeError),
     ({"params": {"": 1}}, InvalidInputError),
     ({"params": {"ok": 1, "bad": object()}}, InvalidTypeError)],
)  # fmt: skip
async def test_bad_update_input_raises_and_changes_nothing(
    cache: ProcessCache,
    raw_redis: Redis,
    keys: KeySpace,
    changes: dict[str, Any],
    exc: type[Exception],
) -> None:
    pid = await cache.register_process("tick", "ticker", params={"a": 1})
    record_before = await raw_redis.hgetall(keys.process(pid))
    index_before = await raw_redis.zrange(keys.active_processes(), 0, -1, withscores=True)
    arguments: dict[str, Any] = {"process_id": pid, "message": "changed", **changes}
    with pytest.raises(exc):
        await cache.update_process(**arguments)
    assert await raw_redis.hgetall(keys.process(pid)) == record_before
    assert await raw_redis.zrange(keys.active_processes(), 0, -1, withscores=True) == index_before


# -- get_process -------------------------------------------------------------------------


async def test_get_process_of_an_unknown_id_is_none(cache: ProcessCache) -> None:
    assert await cache.get_process("tick:nobody:000000000000") is None
    assert await cache.get_process(42) is None  # type: ignore[arg-type]  # ints are ids


@pytest.mark.parametrize(
    ("process_id", "exc"),
    [(None, InvalidTypeError), (False, InvalidTypeError), (["x"], InvalidTypeError),
     ("", InvalidInputError), ("a?b", InvalidInputError), ("{processes}", InvalidInputError)],
)  # fmt: skip
async def test_bad_ids_raise(cache: ProcessCache, process_id: object, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        await cache.get_process(process_id)  # type: ignore[arg-type]
    with pytest.raises(exc):
        await cache.stop_process(process_id)  # type: ignore[arg-type]


def good_record(pid: str, **overrides: Any) -> dict[str, Any]:
    now = time.time()
    stamp = datetime.fromtimestamp(now, UTC).isoformat()
    record: dict[str, Any] = {
        "process_id": pid, "process_type": "tick", "component": "ticker",
        "status": "running", "message": "ok", "created_at": stamp, "updated_at": stamp,
        "heartbeat": stamp, "last_seen": repr(now),
    }  # fmt: skip
    record.update(overrides)
    return record


CORRUPTIONS: list[dict[str, Any]] = [
    {"process_type": None},  # a missing field (None fields are left out below)
    {"last_seen": None},
    {"status": b"\xff\xfe"},  # not UTF-8
    {b"param:\xc3": b"1"},  # a field name that is not UTF-8
    {"param:symbols": b"{not json"},
    {"last_seen": "yesterday"},
]


async def write_record(raw_redis: Redis, key: str, fields: dict[Any, Any]) -> None:
    await raw_redis.hset(key, mapping={k: v for k, v in fields.items() if v is not None})


@pytest.mark.parametrize("corruption", CORRUPTIONS)
async def test_a_corrupted_record_raises_with_its_key(
    cache: ProcessCache, raw_redis: Redis, keys: KeySpace, corruption: dict[Any, Any]
) -> None:
    pid = "tick:ticker:corrupt"
    key = keys.process(pid)
    fields = good_record(pid)
    for name, value in corruption.items():
        fields[name] = value
    await write_record(raw_redis, key, fields)
    with pytest.raises(CacheCorruptedValueError) as caught:
        await cache.get_process(pid)
    assert caught.value.key == key
    assert "not json" not in str(caught.value)


async def test_a_record_of_the_wrong_redis_type_is_corrupted(
    cache: ProcessCache, raw_redis: Redis, keys: KeySpace
) -> None:
    await raw_redis.set(keys.process("tick:ticker:1"), "a string")
    with pytest.raises(CacheCorruptedValueError) as caught:
        await cache.get_process("tick:ticker:1")
    assert caught.value.key == keys.process("tick:ticker:1")


# -- get_active_processes ----------------------------------------------------------------


async def test_active_processes_are_newest_first(cache: ProcessCache) -> None:
    first = await cache.register_process("tick", "a")
    await asyncio.sleep(0.01)
    second = await cache.register_process("bot", "b")
    await asyncio.sleep(0.01)
    third = await cache.register_process("ohlcv", "c")
    assert ids(await cache.get_active_processes()) == [third, second, first]
    await asyncio.sleep(0.01)
    assert await cache.update_process(first, heartbeat=False)
    assert ids(await cache.get_active_processes()) == [first, third, second]


async def test_active_processes_filter_by_type_and_component(cache: ProcessCache) -> None:
    tick_a = await cache.register_process("tick", "a")
    tick_b = await cache.register_process(ProcessType.TICK, "b")
    bot_a = await cache.register_process("bot", "a")
    assert set(ids(await cache.get_active_processes(process_type="tick"))) == {tick_a, tick_b}
    assert set(ids(await cache.get_active_processes(process_type=ProcessType.TICK))) == {
        tick_a,
        tick_b,
    }
    assert set(ids(await cache.get_active_processes(component="a"))) == {tick_a, bot_a}
    assert ids(await cache.get_active_processes(process_type="bot", component="a")) == [bot_a]
    assert await cache.get_active_processes(process_type="crawler") == []
    assert await cache.get_active_processes(component="nobody") == []


async def test_a_process_not_updated_within_the_window_drops_out(cache: ProcessCache) -> None:
    quiet = await cache.register_process("tick", "quiet")
    kept = await cache.register_process("tick", "kept")
    await asyncio.sleep(PAST_WINDOW)
    fresh = await cache.register_process("tick", "fresh")
    assert await cache.update_process(kept)
    assert set(ids(await cache.get_active_processes(since_minutes=WINDOW))) == {fresh, kept}
    assert quiet in ids(await cache.get_active_processes())  # default window: 5 minutes


async def test_heartbeat_stale_flags_updates_without_a_recent_heartbeat(
    cache: ProcessCache,
) -> None:
    silent = await cache.register_process("bot", "silent")
    await asyncio.sleep(PAST_WINDOW)
    assert await cache.update_process(silent, message="still busy", heartbeat=False)
    beating = await cache.register_process("bot", "beating")
    found = {r["process_id"]: r for r in await cache.get_active_processes(since_minutes=WINDOW)}
    assert set(found) == {silent, beating}
    assert found[silent]["_heartbeat_stale"] is True
    assert found[beating]["_heartbeat_stale"] is False


async def test_without_the_heartbeat_check_there_is_no_stale_flag(cache: ProcessCache) -> None:
    pid = await cache.register_process("bot", "bot_1")
    [record] = await cache.get_active_processes(include_heartbeat_check=False)
    assert record["process_id"] == pid
    assert set(record) == RECORD_FIELDS
    [checked] = await cache.get_active_processes()
    assert set(checked) == {*RECORD_FIELDS, "_heartbeat_stale"}


async def test_an_expired_record_disappears_and_its_index_entry_is_pruned(
    settings: CacheSettings, raw_redis: Redis, keys: KeySpace
) -> None:
    async with ShortLived(settings) as cache:
        gone = await cache.register_process("tick", "gone")
        await asyncio.sleep(PAST_WINDOW)
        alive = await cache.register_process("tick", "alive")
        assert await raw_redis.exists(keys.process(gone)) == 0
        assert ids(await cache.get_active_processes()) == [alive]
        assert await cache.get_process(gone) is None
    assert await raw_redis.zrange(keys.active_processes(), 0, -1) == [alive.encode()]


async def test_an_expired_record_is_pruned_by_a_read(
    settings: CacheSettings, raw_redis: Redis, keys: KeySpace
) -> None:
    async with ShortLived(settings) as cache:
        gone = await cache.register_process("tick", "gone")
        await asyncio.sleep(PAST_WINDOW)
        assert await raw_redis.zscore(keys.active_processes(), gone) is not None
        assert await cache.get_active_processes() == []
        assert await raw_redis.zscore(keys.active_processes(), gone) is None
        assert (await cache.get_metrics())["active_processes"] == 0


async def test_a_corrupted_record_is_skipped_counted_and_logged(
    cache: ProcessCache,
    raw_redis: Redis,
    keys: KeySpace,
    caplog: pytest.LogCaptureFixture,
) -> None:
    before = await cache.register_process("tick", "before")
    bad = "tick:broken:000000000000"
    await write_record(
        raw_redis, keys.process(bad), good_record(bad, **{"param:x": b"{secret-not-json"})
    )
    await raw_redis.zadd(keys.active_processes(), {bad: time.time()})
    after = await cache.register_process("tick", "after")
    with caplog.at_level(logging.WARNING, logger="fullon.cache.base"):
        assert ids(await cache.get_active_processes()) == [after, before]
    assert cache.corrupted_skipped == 1
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert keys.process(bad) in warnings[0].getMessage()
    assert "secret" not in warnings[0].getMessage()
    assert (await cache.get_metrics())["corrupted_records_skipped"] == 1


async def test_a_record_of_the_wrong_type_does_not_hide_the_others(
    cache: ProcessCache, raw_redis: Redis, keys: KeySpace
) -> None:
    good = await cache.register_process("tick", "good")
    bad = "tick:broken:000000000000"
    await raw_redis.set(keys.process(bad), "a string, not a hash")
    await raw_redis.zadd(keys.active_processes(), {bad: time.time()})
    assert ids(await cache.get_active_processes()) == [good]
    assert cache.corrupted_skipped == 1


async def test_an_undecodable_index_member_does_not_hide_the_others(
    cache: ProcessCache, raw_redis: Redis, keys: KeySpace
) -> None:
    good = await cache.register_process("tick", "good")
    await raw_redis.zadd(keys.active_processes(), {b"\xff\xfe": time.time() - 1})
    assert ids(await cache.get_active_processes()) == [good]
    assert cache.corrupted_skipped == 1


async def test_an_index_of_the_wrong_redis_type_is_corrupted(
    cache: ProcessCache, raw_redis: Redis, keys: KeySpace
) -> None:
    await raw_redis.set(keys.active_processes(), "not a sorted set")
    with pytest.raises(CacheCorruptedValueError) as caught:
        await cache.get_active_processes()
    assert caught.value.key == keys.active_processes()


@pytest.mark.parametrize(
    ("arguments", "exc"),
    [({"process_type": "teapot"}, InvalidInputError),
     ({"process_type": 3}, InvalidTypeError),
     ({"component": ""}, InvalidInputError),
     ({"component": "a*"}, InvalidInputError),
     ({"component": 2.5}, InvalidTypeError),
     ({"since_minutes": -1}, InvalidInputError),
     ({"since_minutes": math.nan}, InvalidInputError),
     ({"since_minutes": math.inf}, InvalidInputError),
     ({"since_minutes": True}, InvalidTypeError),
     ({"since_minutes": "5"}, InvalidTypeError),
     ({"since_minutes": None}, InvalidTypeError)],
)  # fmt: skip
async def test_bad_active_process_filters_raise(
    cache: ProcessCache, arguments: dict[str, Any], exc: type[Exception]
) -> None:
    with pytest.raises(exc):
        await cache.get_active_processes(**arguments)


# -- stop_process ------------------------------------------------------------------------


async def test_stop_marks_the_record_stopped_and_takes_it_off_the_active_list(
    cache: ProcessCache, raw_redis: Redis, keys: KeySpace
) -> None:
    pid = await cache.register_process("tick", "ticker", params={"a": 1})
    other = await cache.register_process("tick", "other")
    assert await cache.stop_process(pid, "shutting down") is True
    record = await cache.get_process(pid)
    assert record is not None
    assert (record["status"], record["message"]) == (ProcessStatus.STOPPED, "shutting down")
    assert record["params"] == {"a": 1}
    assert ids(await cache.get_active_processes()) == [other]
    assert await raw_redis.zscore(keys.active_processes(), pid) is None
    assert 0 < await raw_redis.ttl(keys.process(pid)) <= ProcessCache.PROCESS_TTL
    assert await cache.get_component_status("ticker") is None


async def test_stop_without_a_message_says_stopped(cache: ProcessCache) -> None:
    pid = await cache.register_process("tick", "ticker")
    assert await cache.stop_process(pid) is True
    record = await cache.get_process(pid)
    assert record is not None
    assert record["status"] == "stopped"
    assert "stopped" in record["message"].lower()


async def test_stop_keeps_the_component_entry_of_a_newer_process(cache: ProcessCache) -> None:
    older = await cache.register_process("tick", "ticker")
    newer = await cache.register_process("tick", "ticker")
    assert await cache.stop_process(older) is True
    status = await cache.get_component_status("ticker")
    assert status is not None
    assert status["process_id"] == newer
    assert await cache.stop_process(newer) is True
    assert await cache.get_component_status("ticker") is None


async def test_stop_of_an_unknown_id_returns_false_and_writes_nothing(
    cache: ProcessCache, raw_redis: Redis, settings: CacheSettings
) -> None:
    assert await cache.stop_process("tick:ghost:0123", "bye") is False
    assert await namespace_keys(raw_redis, settings) == []


async def test_stop_rejects_a_message_that_is_not_text(
    cache: ProcessCache, raw_redis: Redis, keys: KeySpace
) -> None:
    pid = await cache.register_process("tick", "ticker")
    with pytest.raises(InvalidTypeError):
        await cache.stop_process(pid, 42)  # type: ignore[arg-type]
    record = await cache.get_process(pid)
    assert record is not None
    assert record["status"] == "starting"
    assert await raw_redis.zscore(keys.active_processes(), pid) is not None


# -- cleanup_stale_processes -------------------------------------------------------------


async def test_cleanup_stops_only_processes_older_than_the_window(cache: ProcessCache) -> None:
    stale_a = await cache.register_process("tick", "stale_a")
    stale_b = await cache.register_process("bot", "stale_b")
    revived = await cache.register_process("bot", "revived")
    await asyncio.sleep(PAST_WINDOW)
    fresh = await cache.register_process("tick", "fresh")
    assert await cache.update_process(revived, heartbeat=False)
    assert await cache.cleanup_stale_processes(stale_minutes=WINDOW) == 2
    for pid in (stale_a, stale_b):
        record = await cache.get_process(pid)
        assert record is not None
        assert record["status"] == "stopped"
        assert "stale" in record["message"]
    assert set(ids(await cache.get_active_processes())) == {fresh, revived}
    assert await cache.cleanup_stale_processes(stale_minutes=WINDOW) == 0


async def test_a_stale_stop_spares_a_process_updated_after_the_cutoff(cache: ProcessCache) -> None:
    pid = await cache.register_process("tick", "heartbeat in between")
    cutoff = time.time() - 60  # what cleanup read before this process's latest update
    assert await cache._stop(pid, "stale", repr(cutoff)) is False
    record = await cache.get_process(pid)
    assert record is not None
    assert record["status"] == "starting"
    assert ids(await cache.get_active_processes()) == [pid]


async def test_cleanup_drops_component_entries_that_outlived_their_process(
    cache: ProcessCache, keys: KeySpace, raw_redis: Redis
) -> None:
    alive = await cache.register_process("tick", "alive")
    gone = await cache.register_process("tick", "gone")
    await raw_redis.delete(keys.process(gone))  # as if its record had expired
    await raw_redis.hset(keys.process_components(), "garbage", b"\xff\xfe")
    assert await cache.cleanup_stale_processes() == 0
    assert await raw_redis.hgetall(keys.process_components()) == {b"alive": alive.encode()}
    assert (await cache.get_metrics())["components"] == 1


async def test_cleanup_with_the_default_window_keeps_fresh_processes(
    cache: ProcessCache,
) -> None:
    pid = await cache.register_process("tick", "fresh")
    assert await cache.cleanup_stale_processes() == 0
    assert ids(await cache.get_active_processes()) == [pid]


@pytest.mark.parametrize(
    ("stale_minutes", "exc"),
    [(-1, InvalidInputError), (math.nan, InvalidInputError), (True, InvalidTypeError),
     ("30", InvalidTypeError)],
)  # fmt: skip
async def test_bad_cleanup_windows_raise_and_stop_nothing(
    cache: ProcessCache, stale_minutes: object, exc: type[Exception]
) -> None:
    pid = await cache.register_process("tick", "ticker")
    with pytest.raises(exc):
        await cache.cleanup_stale_processes(stale_minutes=stale_minutes)  # type: ignore[arg-type]
    assert ids(await cache.get_active_processes()) == [pid]


# -- get_component_status ----------------------------------------------------------------


async def test_component_status_of_an_unknown_component_is_none(cache: ProcessCache) -> None:
    assert await cache.get_component_status("nobody") is None
    with pytest.raises(InvalidInputError):
        await cache.get_component_status("no*body")
    with pytest.raises(InvalidTypeError):
        await cache.get_component_status(None)  # type: ignore[arg-type]


async def test_an_expired_process_leaves_no_component_entry_behind(
    settings: CacheSettings, raw_redis: Redis, keys: KeySpace
) -> None:
    async with ShortLived(settings) as cache:
        await cache.register_process("tick", "ticker")
        await asyncio.sleep(PAST_WINDOW)
        assert await cache.get_component_status("ticker") is None
        assert await raw_redis.hexists(keys.process_components(), "ticker") == 0


@pytest.mark.parametrize("stored_id", [b"\xff\xfe", b"tick:bad*id:1"])
async def test_a_corrupted_component_entry_is_reported_as_corrupted(
    cache: ProcessCache, raw_redis: Redis, keys: KeySpace, stored_id: bytes
) -> None:
    await raw_redis.hset(keys.process_components(), "ticker", stored_id)
    with pytest.raises(CacheCorruptedValueError) as caught:
        await cache.get_component_status("ticker")
    assert caught.value.key == keys.process_components()


# -- get_system_health and get_metrics ---------------------------------------------------


async def test_health_of_an_empty_registry(cache: ProcessCache) -> None:
    assert await cache.get_system_health() == {
        "healthy": True,
        "total_processes": 0,
        "by_type": {},
        "by_status": {},
        "stale_processes": 0,
        "error_processes": 0,
    }


async def test_health_counts_running_processes_by_type_and_status(cache: ProcessCache) -> None:
    await cache.register_process("tick", "t1", status="running")
    await cache.register_process("tick", "t2", status="running")
    await cache.register_process("bot", "b1", status="idle")
    stopped = await cache.register_process("bot", "b2", status="running")
    assert await cache.stop_process(stopped)
    assert await cache.get_system_health() == {
        "healthy": True,
        "total_processes": 3,
        "by_type": {"tick": 2, "bot": 1},
        "by_status": {"running": 2, "idle": 1},
        "stale_processes": 0,
        "error_processes": 0,
    }


async def test_an_error_process_makes_the_system_unhealthy(cache: ProcessCache) -> None:
    await cache.register_process("tick", "t1", status="running")
    failing = await cache.register_process("bot", "b1", status="running")
    assert await cache.update_process(failing, status=ProcessStatus.ERROR, message="boom")
    health = await cache.get_system_health()
    assert health["healthy"] is False
    assert health["error_processes"] == 1
    assert health["stale_processes"] == 0
    assert health["by_status"] == {"running": 1, "error": 1}


async def test_a_stale_heartbeat_makes_the_system_unhealthy(
    cache: ProcessCache, raw_redis: Redis, keys: KeySpace
) -> None:
    await cache.register_process("tick", "t1", status="running")
    silent = await cache.register_process("bot", "b1", status="running")
    await raw_redis.hset(keys.process(silent), "last_seen", repr(time.time() - 7200))
    health = await cache.get_system_health()
    assert health["healthy"] is False
    assert health["stale_processes"] == 1
    assert health["error_processes"] == 0
    assert health["total_processes"] == 2


async def test_metrics_count_the_index_components_and_skipped_records(
    cache: ProcessCache, raw_redis: Redis, keys: KeySpace
) -> None:
    assert await cache.get_metrics() == {
        "active_processes": 0,
        "components": 0,
        "corrupted_records_skipped": 0,
    }
    first = await cache.register_process("tick", "ticker")
    await cache.register_process("tick", "ticker")
    await cache.register_process("bot", "bot_1")
    assert await cache.stop_process(first)
    bad = "tick:broken:000000000000"
    await write_record(raw_redis, keys.process(bad), good_record(bad, last_seen="x"))
    await raw_redis.zadd(keys.active_processes(), {bad: time.time()})
    assert len(await cache.get_active_processes()) == 2
    assert await cache.get_metrics() == {
        "active_processes": 3,  # two live processes and the corrupted record's entry
        "components": 2,
        "corrupted_records_skipped": 1,
    }


async def snapshot(raw_redis: Redis, settings: CacheSettings) -> dict[bytes, bytes | None]:
    """Every key of the namespace with its serialized value (DUMP): equal means untouched."""
    return {key: await raw_redis.dump(key) for key in await namespace_keys(raw_redis, settings)}


@pytest.mark.parametrize("index", ["active", "components"])
async def test_an_index_of_the_wrong_type_is_named_by_every_write_which_writes_nothing(
    cache: ProcessCache, raw_redis: Redis, keys: KeySpace, settings: CacheSettings, index: str
) -> None:
    pid = await cache.register_process("tick", "ticker")
    key = keys.active_processes() if index == "active" else keys.process_components()
    await raw_redis.delete(key)
    await raw_redis.set(key, b"not an index")
    before = await snapshot(raw_redis, settings)
    calls = [
        lambda: cache.register_process("tick", "other"),
        lambda: cache.stop_process(pid),
        cache.get_metrics,
    ]
    if index == "active":  # an update does not touch the component index
        calls.append(lambda: cache.update_process(pid, status="running"))
    for call in calls:
        with pytest.raises(CacheCorruptedValueError) as caught:
            await call()
        assert caught.value.key == key
        assert await snapshot(raw_redis, settings) == before
    await raw_redis.delete(key)  # repaired: the writes work again
    assert await cache.update_process(pid, status="running") is True
    assert await cache.stop_process(pid) is True


async def test_an_update_of_a_record_of_the_wrong_type_names_it_and_writes_nothing(
    cache: ProcessCache, raw_redis: Redis, keys: KeySpace, settings: CacheSettings
) -> None:
    pid = "tick:ticker:0123456789ab"
    await raw_redis.set(keys.process(pid), b"not a record")
    before = await snapshot(raw_redis, settings)
    for call in (
        lambda: cache.update_process(pid, status="running"),
        lambda: cache.stop_process(pid),
    ):
        with pytest.raises(CacheCorruptedValueError) as caught:
            await call()
        assert caught.value.key == keys.process(pid)
        assert await snapshot(raw_redis, settings) == before


# -- broadcasts --------------------------------------------------------------------------


async def test_a_subscriber_receives_a_broadcast(cache: ProcessCache) -> None:
    async with cache.broadcasts(ProcessType.BOT) as messages:
        sent_at = time.time()
        assert await cache.broadcast_message("bot", "reload", {"strategy": "v2"}) == 1
        note = await asyncio.wait_for(anext(messages), 5)
        assert set(note) == {"message", "data", "timestamp"}
        assert note["message"] == "reload"
        assert note["data"] == {"strategy": "v2"}
        assert abs(aware(note["timestamp"]).timestamp() - sent_at) < 60
        assert await cache.broadcast_message(ProcessType.BOT, "ping") == 1
        note = await asyncio.wait_for(anext(messages), 5)
        assert (note["message"], note["data"]) == ("ping", {})


async def test_a_broadcast_without_subscribers_reaches_nobody(cache: ProcessCache) -> None:
    assert await cache.broadcast_message("tick", "anyone?") == 0


async def test_a_broadcast_to_another_type_is_not_received(cache: ProcessCache) -> None:
    async with cache.broadcasts("bot") as messages:
        assert await cache.broadcast_message("tick", "for ticks") == 0
        assert await cache.broadcast_message("bot", "for bots") == 1
        note = await asyncio.wait_for(anext(messages), 5)
        assert note["message"] == "for bots"


async def test_two_subscribers_both_receive(cache: ProcessCache, settings: CacheSettings) -> None:
    async with (
        ProcessCache(settings) as other,
        cache.broadcasts("bot") as first,
        other.broadcasts("bot") as second,
    ):
        assert await cache.broadcast_message("bot", "all hands") == 2
        assert (await asyncio.wait_for(anext(first), 5))["message"] == "all hands"
        assert (await asyncio.wait_for(anext(second), 5))["message"] == "all hands"


@pytest.mark.standalone
async def test_undecodable_broadcasts_are_skipped_and_counted(
    cache: ProcessCache, raw_redis: Redis, keys: KeySpace, caplog: pytest.LogCaptureFixture
) -> None:
    channel = keys.process_broadcasts("bot")
    garbage = [b"\xff\xfe garbage", b"[1, 2]", b'{"data": {}}', b'{"message": 5}', b"null"]
    async with cache.broadcasts("bot") as messages:
        for payload in garbage:
            assert await publish(raw_redis, channel, payload) == 1
        assert await cache.broadcast_message("bot", "still delivered") == 1
        with caplog.at_level(logging.WARNING, logger="fullon.cache.base"):
            note = await asyncio.wait_for(anext(messages), 5)
    assert note["message"] == "still delivered"
    assert cache.corrupted_skipped == len(garbage)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == len(garbage)
    assert all(channel in record.getMessage() for record in warnings)


@pytest.mark.standalone
async def test_the_subscription_is_released_when_the_block_exits(
    cache: ProcessCache, raw_redis: Redis, keys: KeySpace
) -> None:
    channel = keys.process_broadcasts("bot")
    async with cache.broadcasts("bot") as messages:
        assert await cache.broadcast_message("bot", "hello") == 1
        await asyncio.wait_for(anext(messages), 5)
        assert await subscribers(raw_redis, channel) == 1
    async with asyncio.timeout(GUARD):  # the server notices the closed socket on its own
        count = await subscribers(raw_redis, channel)
        while count:
            await asyncio.sleep(0.01)
            count = await subscribers(raw_redis, channel)
    assert await cache.broadcast_message("bot", "nobody") == 0


async def test_a_quiet_subscription_keeps_waiting(fast_settings: CacheSettings) -> None:
    async with ProcessCache(fast_settings) as cache, cache.broadcasts("tick") as messages:
        waiting = asyncio.ensure_future(anext(messages))
        await asyncio.sleep(1.5)  # longer than the socket timeout and the poll interval
        assert not waiting.done()
        assert await cache.broadcast_message("tick", "late") == 1
        note = await asyncio.wait_for(waiting, 5)
        assert note["message"] == "late"


async def test_a_killed_subscription_raises_unavailable(fast_settings: CacheSettings) -> None:
    admin = raw_client(fast_settings)
    try:
        async with ProcessCache(fast_settings) as cache, cache.broadcasts("bot") as messages:
            assert await cache.broadcast_message("bot", "before") == 1
            assert (await asyncio.wait_for(anext(messages), 5))["message"] == "before"
            assert await admin.client_kill_filter(_type="pubsub") == 1
            async with asyncio.timeout(GUARD):
                with pytest.raises(CacheUnavailableError):
                    await anext(messages)
    finally:
        await admin.aclose()


@pytest.mark.parametrize(
    ("arguments", "exc"),
    [({"message": ""}, InvalidInputError),
     ({"message": "   "}, InvalidInputError),
     ({"message": None}, InvalidTypeError),
     ({"message": 5}, InvalidTypeError),
     ({"process_type": "teapot"}, InvalidInputError),
     ({"process_type": 7}, InvalidTypeError),
     ({"data": ["not", "a", "dict"]}, InvalidTypeError),
     ({"data": {"": 1}}, InvalidInputError),
     ({"data": {"x": object()}}, InvalidTypeError)],
)  # fmt: skip
async def test_bad_broadcasts_raise_and_publish_nothing(
    cache: ProcessCache, arguments: dict[str, Any], exc: type[Exception]
) -> None:
    async with cache.broadcasts("bot") as messages:
        with pytest.raises(exc):
            await cache.broadcast_message(**{"process_type": "bot", "message": "x", **arguments})
        assert await cache.broadcast_message("bot", "the first one") == 1
        note = await asyncio.wait_for(anext(messages), 5)
        assert note["message"] == "the first one"


async def test_subscribing_to_an_unknown_type_raises(cache: ProcessCache) -> None:
    with pytest.raises(InvalidInputError):
        async with cache.broadcasts("teapot"):
            pass  # pragma: no cover - never entered
    with pytest.raises(InvalidTypeError):
        async with cache.broadcasts(None):  # type: ignore[arg-type]
            pass  # pragma: no cover - never entered


# -- compat with the older fullon_cache --------------------------------------------------


async def test_delete_from_top_stops_the_processes_of_one_component(
    cache: ProcessCache,
) -> None:
    first = await cache.register_process("tick", "ticker_binance")
    second = await cache.register_process("tick", "ticker_binance")
    other = await cache.register_process("tick", "ticker_kraken")
    assert await cache.delete_from_top(component="ticker_binance") == 2
    for pid in (first, second):
        record = await cache.get_process(pid)
        assert record is not None
        assert record["status"] == "stopped"
    assert ids(await cache.get_active_processes()) == [other]
    assert await cache.delete_from_top("ticker_binance") == 0
    assert await cache.delete_from_top("nobody") == 0
    assert await cache.delete_from_top(None) == 0
    assert await cache.delete_from_top() == 0
    assert ids(await cache.get_active_processes()) == [other]
    with pytest.raises(InvalidInputError):
        await cache.delete_from_top("ticker*")


async def test_get_top_rows_have_the_old_shape(cache: ProcessCache) -> None:
    pid = await cache.register_process("tick", "ticker", params={"n": 1}, message="up")
    record = await cache.get_process(pid)
    assert record is not None
    assert await cache.get_top() == [
        {
            "type": "tick",
            "key": "ticker",
            "params": {"n": 1},
            "message": "up",
            "timestamp": record["updated_at"],
        }
    ]


async def test_get_top_filters_by_process_type(cache: ProcessCache) -> None:
    await cache.register_process("tick", "ticker")
    await cache.register_process("bot", "bot_1")
    assert [row["key"] for row in await cache.get_top(comp="bot")] == ["bot_1"]
    assert [row["key"] for row in await cache.get_top(comp=ProcessType.TICK)] == ["ticker"]
    assert await cache.get_top(comp="crawler") == []
    with pytest.raises(InvalidInputError):
        await cache.get_top(comp="teapot")


async def test_get_top_deltatime_bounds_the_last_update(cache: ProcessCache) -> None:
    await cache.register_process("tick", "old")
    await asyncio.sleep(PAST_WINDOW)
    await cache.register_process("tick", "new")
    assert [row["key"] for row in await cache.get_top(deltatime=1)] == ["new"]
    assert [row["key"] for row in await cache.get_top(deltatime=3600)] == ["new", "old"]
    with pytest.raises(InvalidInputError):
        await cache.get_top(deltatime=-5)
    with pytest.raises(InvalidTypeError):
        await cache.get_top(deltatime="60")  # type: ignore[arg-type]


# -- lost replies (a real TCP proxy drops them) ------------------------------------------


async def test_an_update_whose_reply_is_lost_is_retried_and_applied(
    proxy: FaultProxy, proxied_settings: CacheSettings
) -> None:
    async with ProcessCache(proxied_settings) as cache:
        await cache.ping()
        pid = await cache.register_process("tick", "ticker")
        assert await cache.update_process(pid, params={"warm": True})  # loads the script
        proxy.drop_next_reply()
        async with asyncio.timeout(GUARD):
            assert await cache.update_process(pid, params={"count": 1}) is True
        assert proxy.replies_dropped == 1
        record = await cache.get_process(pid)
        assert record is not None
        assert record["params"] == {"warm": True, "count": 1}


async def test_a_register_whose_reply_is_lost_creates_exactly_one_record(
    proxy: FaultProxy, proxied_settings: CacheSettings, fast_settings: CacheSettings
) -> None:
    async with ProcessCache(proxied_settings) as cache:
        await cache.ping()
        proxy.drop_next_reply()
        async with asyncio.timeout(GUARD):
            pid = await cache.register_process("tick", "ticker")
        assert proxy.replies_dropped == 1
    direct = raw_client(fast_settings)
    try:
        keys = KeySpace(fast_settings.key_prefix)
        assert await direct.zrange(keys.active_processes(), 0, -1) == [pid.encode()]
        assert await direct.hget(keys.process_components(), "ticker") == pid.encode()
        assert await direct.exists(keys.process(pid)) == 1
        records = [k async for k in direct.scan_iter(match=f"{fast_settings.key_prefix}:*")]
        assert len(records) == 3  # the record, the index and the component hash
    finally:
        await direct.aclose()
