"""``fullon-cache inspect``: a read-only look at the state other tests create."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from fullon_cache import BotCache, CacheSettings, TradesCache, close_all
from fullon_cache.cli import main
from fullon_cache.models import Order, Tick


async def _fill(settings: CacheSettings) -> None:
    async with TradesCache(settings) as cache, BotCache(settings) as bots:
        await cache.set_ticker(
            Tick(symbol="BTC/USDT", exchange="binance", price=1.0, time=time.time() - 3)
        )
        await cache.set_ticker(
            Tick(symbol="ETH/USDT", exchange="binance", price=2.0, time=time.time())
        )
        await cache.register_process("tick", "ticker binance")
        await cache.push_open_order("bot 17", Order(order_id=1))
        await cache.push_open_order("bot 17", "2")
        await bots.block_exchange("binance", "BTC/USDT", 17, ttl=60)
        await cache.publish_metrics("ticker bot")
    await close_all()


@pytest.fixture
def filled(
    redis_url: str, namespace: str, settings: CacheSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    asyncio.run(_fill(settings))
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("REDIS_KEY_PREFIX", namespace)


@pytest.mark.usefixtures("filled")
def test_inspect_json_shows_what_is_stored(
    namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inspect", "--json"]) == 0
    state = json.loads(capsys.readouterr().out)
    assert state["namespace"] == namespace
    [tickers] = state["tickers"]
    assert (tickers["exchange"], tickers["tickers"]) == ("binance", 2)
    assert tickers["newest_age_s"] >= 0
    [process] = state["processes"]
    assert (process["type"], process["component"], process["status"]) == (
        "tick",
        "ticker binance",
        "starting",
    )
    assert state["queues"] == [{"queue": "bot 17", "waiting": 2}]
    [lock] = state["locks"]
    assert (lock["ex_id"], lock["symbol"], lock["bot"]) == ("binance", "BTC/USDT", "17")
    assert 0 < lock["ttl"] <= 60
    rows = {row["operation"]: row for row in state["metrics"]}
    assert {row["publisher"] for row in rows.values()} == {"ticker bot"}
    assert rows["set_ticker"]["calls"] >= 2  # this process's own count when it published
    assert set(rows["set_ticker"]) == {
        "publisher",
        "age_s",
        "operation",
        "calls",
        "errors",
        "p50_ms",
        "p99_ms",
        "max_ms",
    }


@pytest.mark.usefixtures("filled")
def test_inspect_prints_tables(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect"]) == 0
    out = capsys.readouterr().out
    for heading in ("tickers:", "processes:", "queues:", "locks:", "metrics:"):
        assert heading in out
    assert "bot 17" in out
    assert "ticker binance" in out
    assert all(line == line.rstrip() for line in out.splitlines())


def test_inspect_of_an_empty_namespace_says_none(
    redis_url: str,
    namespace: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("REDIS_KEY_PREFIX", namespace)
    assert main(["inspect"]) == 0
    assert capsys.readouterr().out.count(": none") == 5


def test_inspect_of_an_unreachable_server_fails_with_a_hint_and_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    socket = tmp_path / "none.sock"
    monkeypatch.setenv("REDIS_URL", f"unix://bot:s3cretpw@{socket}?db=0")
    monkeypatch.setenv("REDIS_SOCKET_TIMEOUT", "0.5")
    assert main(["inspect", "--json"]) == 1
    out = capsys.readouterr().out
    assert "REDIS_URL" in out
    assert "doctor" in out
    assert "s3cretpw" not in out
