"""Every bundled example runs against a real Redis and cleans up after itself."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from fullon_cache import close_all, examples
from fullon_cache.settings import CacheSettings


async def _keys(client: Redis, prefix: str) -> list[bytes]:
    return [key async for key in client.scan_iter(match=f"{prefix}:*")]


# performance_test counts the round trips of one standalone connection.
_EXAMPLES = [
    pytest.param(name, marks=pytest.mark.standalone) if name == "performance_test" else name
    for name in examples.EXAMPLES
]


@pytest.mark.parametrize("name", _EXAMPLES)
async def test_example_runs_and_cleans_up(
    name: str, settings: CacheSettings, namespace: str, raw_redis: Redis
) -> None:
    neighbour = f"{namespace}_other:keep"
    await raw_redis.set(neighbour, "1")
    try:
        await examples.load(name).main(settings)
        assert await _keys(raw_redis, namespace) == []
        assert await raw_redis.get(neighbour) == b"1"  # other namespaces are left alone
    finally:
        await raw_redis.delete(neighbour)


@pytest.mark.parametrize("name", _EXAMPLES)
async def test_example_runs_twice(name: str, settings: CacheSettings, raw_redis: Redis) -> None:
    await examples.load(name).main(settings)
    await examples.load(name).main(settings)
    assert await _keys(raw_redis, settings.key_prefix) == []


async def test_example_without_settings_uses_the_environment(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    redis_url: str,
    raw_redis: Redis,
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    await close_all()  # forget any default settings read before the change
    await examples.load("basic_usage").main()
    assert "as namespace 'fullon_examples'" in capsys.readouterr().out
    assert await _keys(raw_redis, "fullon_examples") == []
