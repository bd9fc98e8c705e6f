"""Lua scripts against a real server: SHA1, the capped push, and NOSCRIPT recovery."""

from __future__ import annotations

import dataclasses
import hashlib
import uuid

import pytest
from redis.asyncio import Redis

from fullon_cache import scripts
from fullon_cache.scripts import ALL_SCRIPTS, PUSH_CAPPED, Script, run_script
from fullon_cache.settings import CacheSettings


@pytest.fixture
def key(settings: CacheSettings) -> str:
    return f"{settings.key_prefix}:test:scripts"


async def test_sha_is_the_sha1_of_the_source() -> None:
    noop = Script("noop", "return 1")
    assert noop.sha == hashlib.sha1(b"return 1").hexdigest()
    assert noop.sha == "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"
    assert PUSH_CAPPED.sha == hashlib.sha1(PUSH_CAPPED.source.encode()).hexdigest()


async def test_scripts_are_frozen_and_sha_is_not_a_constructor_argument() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        PUSH_CAPPED.source = "return 2"  # type: ignore[misc]
    with pytest.raises(TypeError):
        Script("noop", "return 1", "0" * 40)  # type: ignore[call-arg]


async def test_all_scripts_lists_every_module_level_script() -> None:
    defined = [value for value in vars(scripts).values() if isinstance(value, Script)]
    assert set(defined) == set(ALL_SCRIPTS)
    assert len(ALL_SCRIPTS) == len(set(ALL_SCRIPTS))
    assert len({script.name for script in ALL_SCRIPTS}) == len(ALL_SCRIPTS)
    assert len({script.sha for script in ALL_SCRIPTS}) == len(ALL_SCRIPTS)


async def test_every_script_compiles_on_the_server(raw_redis: Redis) -> None:
    loaded = [await raw_redis.script_load(script.source) for script in ALL_SCRIPTS]
    assert loaded == [script.sha for script in ALL_SCRIPTS]


async def test_push_capped_appends_and_keeps_the_newest(raw_redis: Redis, key: str) -> None:
    lengths = [await run_script(raw_redis, PUSH_CAPPED, [key], [f"item{n}", 3]) for n in range(5)]
    assert lengths == [1, 2, 3, 3, 3]
    assert await raw_redis.lrange(key, 0, -1) == [b"item2", b"item3", b"item4"]


async def test_push_capped_with_a_larger_cap_keeps_everything(raw_redis: Redis, key: str) -> None:
    for n in range(4):
        await run_script(raw_redis, PUSH_CAPPED, [key], [n, 100])
    assert await raw_redis.lrange(key, 0, -1) == [b"0", b"1", b"2", b"3"]


async def test_push_capped_touches_only_its_key(
    raw_redis: Redis, key: str, settings: CacheSettings
) -> None:
    other = f"{settings.key_prefix}:test:other"
    await raw_redis.rpush(other, "a", "b")
    await run_script(raw_redis, PUSH_CAPPED, [key], [b"x", 1])
    assert await raw_redis.lrange(other, 0, -1) == [b"a", b"b"]


@pytest.mark.standalone
async def test_after_script_flush_the_script_is_sent_again_once(raw_redis: Redis, key: str) -> None:
    await run_script(raw_redis, PUSH_CAPPED, [key], [b"before", 10])
    assert await raw_redis.script_exists(PUSH_CAPPED.sha) == [True]
    await raw_redis.script_flush()
    assert await raw_redis.script_exists(PUSH_CAPPED.sha) == [False]

    # EVALSHA fails with NOSCRIPT (nothing ran), then EVAL runs it exactly once.
    assert await run_script(raw_redis, PUSH_CAPPED, [key], [b"after", 10]) == 2
    assert await raw_redis.lrange(key, 0, -1) == [b"before", b"after"]
    assert await raw_redis.script_exists(PUSH_CAPPED.sha) == [True]  # cached again

    assert await run_script(raw_redis, PUSH_CAPPED, [key], [b"again", 10]) == 3


@pytest.mark.standalone
async def test_a_script_the_server_never_saw_runs_on_first_use(raw_redis: Redis) -> None:
    # A script unique to this test run: its SHA cannot be cached on the server yet.
    script = Script("echo", f"-- {uuid.uuid4()}\nreturn ARGV[1]")
    assert await raw_redis.script_exists(script.sha) == [False]
    assert await run_script(raw_redis, script, [], [b"hello"]) == b"hello"
    assert await raw_redis.script_exists(script.sha) == [True]
