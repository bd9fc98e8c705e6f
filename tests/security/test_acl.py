"""The recommended ACL line confines fullon_cache to its namespace, and the library works
under it: every layer's main calls, Lua scripts (EVAL then EVALSHA), pipelines and
transactions, blocking pops, pub/sub, and the SCAN-based admin calls.

The line (see :func:`tests.security.conftest.recommended_acl`)::

    ACL SETUSER <user> reset on ><password> ~<prefix>:* resetchannels &<prefix>:*
        +@all -@dangerous +info +client|setname -script        (and -function on Redis 7)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import NoPermissionError, ResponseError

from fullon_cache import (
    AccountCache,
    BaseCache,
    BotCache,
    CacheCommandError,
    CacheError,
    CacheUnavailableError,
    ExchangeCache,
    OHLCVCache,
    OrdersCache,
    ProcessCache,
    SymbolCache,
    TickCache,
    TradesCache,
)
from fullon_cache.doctor import diagnose
from fullon_cache.local_server import LocalRedisServer
from fullon_cache.models import CatExchange, Exchange, Order, Position, Symbol, Tick, Trade
from fullon_cache.settings import CacheSettings
from tests.security.conftest import (
    ACL_PASSWORD,
    admin_client,
    recommended_acl,
    user_url,
)

GUARD = 10.0  # seconds: a hang fails the test instead of stalling the suite

BINANCE = CatExchange(cat_ex_id=1, name="binance", ohlcv_view="binance_ohlcv")
MAIN = Exchange(ex_id=3, uid=7, cat_ex_id=1, name="main")
BTC = Symbol(symbol_id=1, symbol="BTC/USDT", cat_ex_id=1, base="BTC", quote="USDT")


class Database:
    """A stub reference-data source (the Fullon database is not part of these tests)."""

    async def get_exchange(self, ex_id: Any) -> Exchange | None:
        return MAIN if str(ex_id) == "3" else None

    async def get_user_exchanges(self, user_id: Any) -> list[Exchange]:
        return [MAIN] if str(user_id) == "7" else []

    async def get_cat_exchanges(self) -> list[CatExchange]:
        return [BINANCE]

    async def get_symbols(self, cat_ex_id: Any) -> list[Symbol]:
        return [BTC] if str(cat_ex_id) == "1" else []


def tick(symbol: str = "BTC/USDT", price: float = 100.0, at: float | None = None) -> Tick:
    return Tick(symbol=symbol, exchange="binance", price=price, time=at or time.time())


@pytest.fixture
def other_namespace(private_server: LocalRedisServer, namespace: str) -> Iterator[str]:
    """Another tenant's namespace on the same server, with a key, a hash and a list in it;
    the test fails if any of them changed by its end."""
    other = f"other_{namespace}"
    latest = f"{other}:{{tickers:binance}}:latest"
    with admin_client(private_server) as admin:
        admin.set(f"{other}:secret", b"theirs")
        admin.hset(latest, b"BTC/USDT", b"{}")
        admin.rpush(f"{other}:errors:global", b"their error")
    yield other
    with admin_client(private_server) as admin:
        assert admin.get(f"{other}:secret") == b"theirs"
        assert admin.hgetall(latest) == {b"BTC/USDT": b"{}"}
        assert admin.lrange(f"{other}:errors:global", 0, -1) == [b"their error"]
        assert admin.exists(f"{other}:stolen") == 0


@pytest.fixture
def no_library_warnings(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """The library logs no warning: no step was silently refused (a claim time, an ack...)."""
    with caplog.at_level(logging.DEBUG):
        yield
    warnings = [r for r in caplog.records if r.name.startswith("fullon") and r.levelno >= 30]
    assert not warnings, [r.getMessage() for r in warnings]


def raw_user_client(settings: CacheSettings) -> Redis:
    """Plain redis-py logged in as the ACL user (an error reply is never retried)."""
    return Redis(
        unix_socket_path=settings.unix_socket_path,
        username=settings.username,
        password=settings.password,
    )


# -- the line confines the user ------------------------------------------------------------


FOREIGN: list[tuple[str, Callable[[Redis, str], Any]]] = [
    ("GET", lambda r, ns: r.get(f"{ns}:secret")),
    ("SET", lambda r, ns: r.set(f"{ns}:secret", b"mine")),
    ("DEL", lambda r, ns: r.delete(f"{ns}:secret")),
    ("UNLINK", lambda r, ns: r.unlink(f"{ns}:errors:global")),
    ("HGETALL", lambda r, ns: r.hgetall(f"{ns}:{{tickers:binance}}:latest")),
    ("LPOP", lambda r, ns: r.lpop(f"{ns}:errors:global")),
    ("RENAME", lambda r, ns: r.rename(f"{ns}:secret", f"{ns}:stolen")),
    ("EVAL KEYS[]", lambda r, ns: r.eval("return redis.call('GET', KEYS[1])", 1, f"{ns}:secret")),
    (
        "EVAL undeclared key",
        lambda r, ns: r.eval("return redis.call('GET', ARGV[1])", 0, f"{ns}:secret"),
    ),
    ("PUBLISH", lambda r, ns: r.publish(f"{ns}:{{tickers:binance}}:updates", b"x")),
]


@pytest.mark.parametrize(("command", "call"), FOREIGN, ids=[name for name, _ in FOREIGN])
async def test_the_user_cannot_touch_another_namespace(
    acl_settings: CacheSettings,
    other_namespace: str,
    command: str,
    call: Callable[[Redis, str], Any],
) -> None:
    """The recommended line's user gets NOPERM for any key or channel outside its namespace."""
    client = raw_user_client(acl_settings)
    try:
        with pytest.raises(ResponseError, match=r"(?i)no permissions|NOPERM|can't access"):
            await call(client, other_namespace)
        # The same command in its own namespace is allowed (it may find nothing there).
        [own] = await asyncio.gather(call(client, acl_settings.key_prefix), return_exceptions=True)
        assert not isinstance(own, NoPermissionError), own
    finally:
        await client.aclose()


async def test_the_user_cannot_subscribe_to_another_namespace(
    acl_settings: CacheSettings, other_namespace: str
) -> None:
    """SUBSCRIBE to another namespace's channel is refused; its own channels are allowed."""
    client = raw_user_client(acl_settings)
    pubsub = client.pubsub()
    try:
        async with asyncio.timeout(GUARD):
            await pubsub.subscribe(f"{acl_settings.key_prefix}:{{tickers:binance}}:updates")
            assert (await pubsub.get_message(timeout=GUARD))["type"] == "subscribe"
            with pytest.raises(NoPermissionError):
                await pubsub.subscribe(f"{other_namespace}:{{tickers:binance}}:updates")
                await pubsub.get_message(timeout=GUARD)
    finally:
        await pubsub.aclose()
        await client.aclose()


DANGEROUS: list[tuple[str, ...]] = [
    ("KEYS", "*"),
    ("FLUSHDB",),
    ("FLUSHALL",),
    ("CONFIG", "GET", "maxmemory-policy"),
    ("CONFIG", "SET", "maxmemory-policy", "allkeys-lru"),
    ("DEBUG", "SLEEP", "0"),
    ("CLIENT", "LIST"),
    ("CLIENT", "KILL", "TYPE", "normal"),
    ("ACL", "LIST"),
    ("ACL", "SETUSER", "intruder", "on", "nopass", "~*", "+@all"),
    ("SWAPDB", "0", "1"),
    ("SCRIPT", "FLUSH"),
    ("SCRIPT", "KILL"),
    ("FUNCTION", "FLUSH"),
]


@pytest.mark.parametrize("command", DANGEROUS, ids=[" ".join(c[:2]) for c in DANGEROUS])
async def test_dangerous_commands_are_refused(
    acl_settings: CacheSettings, private_server: LocalRedisServer, command: tuple[str, ...]
) -> None:
    """The line denies server-wide commands (KEYS, FLUSH*, CONFIG, DEBUG, CLIENT KILL, ACL...)."""
    if command[0] == "FUNCTION" and private_server.version < (7,):
        pytest.skip("Redis 6.2 has no FUNCTION command")
    client = raw_user_client(acl_settings)
    try:
        with pytest.raises(NoPermissionError):
            await client.execute_command(*command)
    finally:
        await client.aclose()


async def test_scan_lists_foreign_key_names_but_their_values_stay_unreadable(
    acl_settings: CacheSettings, other_namespace: str
) -> None:
    """SCAN may list other namespaces' key names (an ACL limit), never their values."""
    # Redis ACLs cannot filter SCAN (keyless) by key pattern, and the library's admin calls
    # (get_keys, prepare_cache, invalidate_exchanges, inspect) need SCAN.
    client = raw_user_client(acl_settings)
    try:
        names = [key async for key in client.scan_iter(match=f"{other_namespace}:*")]
        assert f"{other_namespace}:secret".encode() in names
        with pytest.raises(NoPermissionError):
            await client.get(f"{other_namespace}:secret")
    finally:
        await client.aclose()


# -- the library works under the line, layer by layer ---------------------------------------


as_confined_user = pytest.mark.usefixtures("other_namespace", "no_library_warnings")


@as_confined_user
async def test_base_cache_works_under_the_line(acl_settings: CacheSettings) -> None:
    """BaseCache's calls (Lua, BLPOP, pipelines, SCAN admin) work as the restricted user."""
    async with asyncio.timeout(GUARD), BaseCache(acl_settings) as cache:
        assert await cache.ping() is True
        assert await cache.test() is True
        assert (await cache.info("memory"))["maxmemory_policy"] == "noeviction"
        await cache.push_global_error("first")
        await cache.push_global_error("second")
        assert await cache.pop_global_error() == "first"
        assert await cache.pop_global_error(timeout=0.2) == "second"
        assert await cache.pop_global_error(timeout=0.2) is None
        async with cache.pipeline(transaction=True) as pipe:
            pipe.set(f"{cache.namespace}:a", 1)
            pipe.set(f"{cache.namespace}:b", 2)
        assert await cache.get_keys("*") == ["a", "b"]
        assert await cache.prepare_cache() == 2
        assert await cache.get_keys() == []


@as_confined_user
async def test_process_cache_works_under_the_line(acl_settings: CacheSettings) -> None:
    """ProcessCache's calls (MULTI, Lua, pub/sub broadcasts) work as the restricted user."""
    async with asyncio.timeout(GUARD), ProcessCache(acl_settings) as cache:
        pid = await cache.register_process("bot", "bot 17", params={"symbol": "BTC/USDT"})
        assert await cache.update_process(pid, status="running", params={"batch": 3})
        assert (await cache.get_process(pid) or {})["status"] == "running"
        assert [p["process_id"] for p in await cache.get_active_processes()] == [pid]
        assert (await cache.get_component_status("bot 17") or {})["process_id"] == pid
        assert (await cache.get_system_health())["healthy"] is True
        assert (await cache.get_metrics())["active_processes"] == 1
        assert len(await cache.get_top(comp="bot")) == 1
        async with cache.broadcasts("bot") as messages:
            assert await cache.broadcast_message("bot", "reload", {"v": 2}) == 1
            note = await anext(messages)
        assert (note["message"], note["data"]) == ("reload", {"v": 2})
        assert await cache.cleanup_stale_processes(stale_minutes=60) == 0
        assert await cache.stop_process(pid, "done") is True
        other = await cache.register_process("tick", "ticker")
        assert await cache.delete_from_top(component="ticker") == 1
        assert (await cache.get_process(other) or {})["status"] == "stopped"


@as_confined_user
async def test_exchange_and_symbol_caches_work_under_the_line(
    acl_settings: CacheSettings,
) -> None:
    """Exchange/SymbolCache read-through, writes and SCAN invalidation work as the user."""
    async with asyncio.timeout(GUARD), SymbolCache(acl_settings) as cache:
        cache.source = Database()
        assert await cache.get_exchange(3) == MAIN
        assert await cache.get_exchanges(7) == [MAIN]
        assert await cache.get_cat_ex_id("binance") == 1
        assert [c.name for c in await cache.get_cat_exchanges()] == ["binance"]
        assert [s.symbol for s in await cache.get_symbols("binance")] == ["BTC/USDT"]
        assert await cache.symbol_exists("BTC/USDT", exchange_name="binance") is True
        eth = Symbol(symbol="ETH/USDT", cat_ex_id=1, base="ETH", quote="USDT")
        assert await cache.add_symbol(eth) is True
        eth.decimals = 4
        assert await cache.update_symbol(eth) is True
        found = await cache.get_symbol("ETH/USDT", cat_ex_id=1)
        assert found is not None
        assert found.decimals == 4
        assert await cache.delete_symbol(eth) is True
        await cache.set_exchange(Exchange(ex_id=4, uid=7, cat_ex_id=1, name="hedge"))
        assert await cache.invalidate_exchanges(ex_id=4) == 1
        assert await cache.invalidate_exchanges() >= 2  # SCAN of the namespace
        await cache.push_ws_error("socket closed", ex_id=3)
        assert await cache.pop_ws_error(3, timeout=0.2) == "socket closed"
    async with ExchangeCache(acl_settings) as plain:
        plain.source = None
        assert await plain.get_exchange(3) is None


@as_confined_user
async def test_tick_cache_works_under_the_line(acl_settings: CacheSettings) -> None:
    """TickCache's calls (Lua + publish, streams, get_next_ticker) work as the user."""
    now = time.time()
    async with asyncio.timeout(GUARD), TickCache(acl_settings) as cache:
        cache.source = None
        assert await cache.set_ticker(tick(at=now - 10)) is True
        assert await cache.set_tickers_batch([tick("ETH/USDT", 10.0, now - 10)]) == 1
        assert await cache.update_ticker("binance", tick(price=101.0, at=now - 9)) is True
        assert (await cache.get_ticker("BTC/USDT", "binance") or tick()).price == 101.0
        assert await cache.get_price("ETH/USDT", "binance") == 10.0
        assert len(await cache.get_all_tickers()) == 2
        assert len(await cache.get_tickers("binance")) == 2
        stream = cache.stream_ticker_updates("binance", ["BTC/USDT"])
        async with contextlib.aclosing(stream) as ticks:
            assert (await anext(ticks)).price == 101.0  # the stored one first
            assert await cache.set_ticker(tick(price=102.0, at=now - 8))
            assert (await anext(ticks)).price == 102.0  # then live
        waiting = asyncio.ensure_future(cache.get_next_ticker("ETH/USDT", "binance", timeout=5))
        while not waiting.done():
            await cache.set_ticker(tick("ETH/USDT", 11.0, time.time()))
            await asyncio.sleep(0.05)
        assert (await waiting or tick()).price == 11.0
        assert await cache.set_tick_crawlers({"binance": {"symbols": ["BTC/USDT"]}})
        assert await cache.get_tick_crawlers() == {"binance": {"symbols": ["BTC/USDT"]}}
        assert await cache.delete_ticker("BTC/USDT", "binance") is True
        assert await cache.delete_exchange_tickers("binance") == 1


@as_confined_user
async def test_account_cache_works_under_the_line(acl_settings: CacheSettings) -> None:
    """AccountCache's snapshots, balances and positions (Lua) work as the user."""
    async with asyncio.timeout(GUARD), AccountCache(acl_settings) as cache:
        cache.source = None
        assert await cache.upsert_user_account(3, {"USDT": {"total": 10.0}}) is True
        assert await cache.get_full_account(3, "USDT") == {"total": 10.0}
        assert list(await cache.get_all_accounts()) == ["3"]
        assert await cache.set_user_balances(3, {"BTC": {"total": 1.5, "free": 1.0, "used": 0.5}})
        assert (await cache.get_user_balance(3, "BTC") or {})["total"] == 1.5
        assert list(await cache.get_user_balances(3)) == ["BTC"]
        await cache.upsert_positions(3, [Position(symbol="BTC/USDT", volume=0.1)])
        assert await cache.upsert_position(Position(symbol="ETH/USDT", ex_id="3", volume=2.0))
        assert await cache.set_position(4, Position(symbol="BTC/USDT", volume=1.0))
        assert (await cache.get_position("ETH/USDT", 3)).volume == 2.0
        assert len(await cache.get_positions(3)) == 2
        assert len(await cache.get_all_positions()) == 3
        assert await cache.delete_position(3, "ETH/USDT") is True
        assert await cache.clean_positions() >= 1


@as_confined_user
async def test_orders_cache_works_under_the_line(acl_settings: CacheSettings) -> None:
    """OrdersCache's order status and reliable queue (BLMOVE, ack, requeue) work as the user."""
    async with asyncio.timeout(GUARD), OrdersCache(acl_settings) as cache:
        cache.source = None
        await cache.save_order_data("binance", Order(ex_order_id="A1", status="open"))
        assert await cache.update_order("binance", Order(ex_order_id="A1", final_volume=0.5))
        assert await cache.save_order("binance", Order(ex_order_id="A2", symbol="BTC/USDT"))
        assert (await cache.get_order_status("binance", "A1") or Order()).final_volume == 0.5
        assert len(await cache.get_orders("binance")) == 2
        assert await cache.delete_order("binance", "A2") is True
        await cache.push_open_order("bot 17", Order(order_id=7, symbol="BTC/USDT"))
        await cache.push_open_order("bot 17", "8")
        await cache.push_open_order("bot 17", "9")
        assert await cache.get_queue_length("bot 17") == 3
        assert (await cache.pop_open_order("bot 17", timeout=0.5) or Order()).order_id == 7
        assert await cache.pop_open_order("bot 17", timeout=0) == "8"
        with pytest.raises(RuntimeError):
            async with cache.claim_open_order("bot 17", timeout=0.5) as item:
                assert item == "9"
                raise RuntimeError("the consumer failed: the item stays claimed")
        assert await cache.requeue_stale_orders("bot 17", older_than=0) == 1
        async with cache.claim_open_order("bot 17", timeout=0.5) as item:
            assert item == "9"
        assert await cache.pop_open_order("bot 17", timeout=0.2) is None


@as_confined_user
async def test_trades_cache_works_under_the_line(acl_settings: CacheSettings) -> None:
    """TradesCache's lists (scripted take and ack), statuses and blocking pops work as the user."""
    async with asyncio.timeout(GUARD), TradesCache(acl_settings) as cache:
        cache.source = None
        assert await cache.push_trade_list("BTC/USDT", "binance", Trade(ex_trade_id="t1")) == 1
        assert await cache.push_trade("binance", Trade(ex_trade_id="t2", symbol="ETH/USDT"))
        assert [t.ex_trade_id for t in await cache.get_trades("BTC/USDT", "binance")] == ["t1"]
        assert await cache.get_trades_list("BTC/USDT", "binance") == []  # drained
        assert await cache.update_trade_status("binance") is True
        assert await cache.get_trade_status("binance") is not None
        assert list(await cache.get_all_trade_statuses()) == ["binance"]
        assert await cache.update_user_trade_status("7:binance") is True
        assert await cache.get_user_trade_status("7:binance") is not None
        assert await cache.delete_user_trade_statuses() == 1
        assert await cache.push_my_trades_list(7, "binance", Trade(ex_trade_id="t3")) == 1
        assert (await cache.pop_my_trade(7, "binance", timeout=0.5) or Trade()).ex_trade_id == "t3"
        assert await cache.push_user_trade(7, "binance", Trade(ex_trade_id="t4")) == 1
        assert (await cache.pop_user_trade(7, "binance") or Trade()).ex_trade_id == "t4"


@as_confined_user
async def test_bot_cache_works_under_the_line(acl_settings: CacheSettings) -> None:
    """BotCache's locks (Lua, fencing, a kept-alive lease), marks and statuses work as the user."""
    async with asyncio.timeout(GUARD), BotCache(acl_settings) as cache:
        cache.source = None
        assert await cache.block_exchange("binance", "BTC/USDT", bot_id=17, ttl=30) is True
        assert await cache.block_exchange("binance", "BTC/USDT", bot_id=18) is False
        assert await cache.is_blocked("binance", "BTC/USDT") == "17"
        assert [b["bot"] for b in await cache.get_blocks()] == ["17"]
        assert await cache.unblock_exchange("binance", "BTC/USDT", bot_id=17) is True
        async with cache.bot_lock("binance", "ETH/USDT", bot_id=17, ttl=0.6) as lease:
            await asyncio.sleep(0.5)  # long enough for the keeper to extend it once
            lease.check()
            assert lease.fence >= 1
        assert await cache.is_blocked("binance", "ETH/USDT") == ""
        assert await cache.mark_opening_position("binance", "BTC/USDT", 17) is True
        assert await cache.is_opening_position("binance", "BTC/USDT") is True
        assert await cache.unmark_opening_position("binance", "BTC/USDT") is True
        assert await cache.update_bot(17, {"feed_1": {"status": "running"}}) is True
        assert list(await cache.get_bots()) == ["17"]
        assert (await cache.get_bot(17) or {})["feed_1"]["status"] == "running"
        assert await cache.del_bot(17) is True
        assert await cache.update_bot(18, {})
        assert await cache.del_status() is True


@as_confined_user
async def test_ohlcv_cache_works_under_the_line(acl_settings: CacheSettings) -> None:
    """OHLCVCache's bar updates (Lua + publish), reads and update stream work as the user."""
    async with asyncio.timeout(GUARD), OHLCVCache(acl_settings) as cache:
        cache.source = None
        assert await cache.update_ohlcv_bars("BTC/USDT", "1m", [[60, 1, 2, 0.5, 1.5, 3]]) == 1
        async with contextlib.aclosing(cache.stream_ohlcv_updates("BTC/USDT", "1m")) as bars:
            waiting = asyncio.ensure_future(anext(bars))
            while not waiting.done():
                await cache.update_ohlcv_bars("BTC/USDT", "1m", [[180, 1, 2, 0.5, 1.5, 3]])
                await asyncio.sleep(0.05)
            assert (await waiting)[0] == 180
        assert [b[0] for b in await cache.get_latest_ohlcv_bars("BTC/USDT", "1m", 5)] == [60, 180]
        assert [b[0] for b in await cache.get_ohlcv_bars("BTC/USDT", "1m", since=100)] == [180]
        assert await cache.get_ohlcv_gaps("BTC/USDT", "1m", 60, 180) == [(120.0, 120.0)]


@as_confined_user
async def test_credentials_given_by_replace_work_like_those_in_the_url(
    acl_settings: CacheSettings, private_server: LocalRedisServer
) -> None:
    """Username and password set with ``settings.replace()`` authenticate like a URL's."""
    plain = CacheSettings.from_url(private_server.url, key_prefix=acl_settings.key_prefix)
    settings = plain.replace(username=acl_settings.username, password=acl_settings.password)
    async with BaseCache(settings) as cache:
        await cache.push_global_error("via replace")
        assert await cache.pop_global_error() == "via replace"


# -- what the line refuses the library -------------------------------------------------------


@pytest.mark.usefixtures("other_namespace")
async def test_flushdb_is_refused_and_nothing_is_deleted(acl_settings: CacheSettings) -> None:
    """The compat ``flushdb()`` raises a typed CacheCommandError under the line; no key goes."""
    async with BaseCache(acl_settings) as cache:
        await cache.push_global_error("kept")
        with pytest.raises(CacheCommandError, match=r"(?i)permission"):
            await cache.flushdb()
        assert await cache.pop_global_error() == "kept"


ANOTHER_NAMESPACE_CALLS: list[tuple[str, Callable[[Any], Any]]] = [
    ("push_global_error", lambda c: c.push_global_error("x")),
    ("pop_global_error", lambda c: c.pop_global_error()),
    ("set_ticker", lambda c: c.set_ticker(tick())),
    ("get_ticker", lambda c: c.get_ticker("BTC/USDT", "binance")),
    ("get_next_ticker", lambda c: c.get_next_ticker("BTC/USDT", "binance", timeout=1)),
    ("block_exchange", lambda c: c.block_exchange("binance", "BTC/USDT", 17, ttl=5)),
    ("is_blocked", lambda c: c.is_blocked("binance", "BTC/USDT")),
    ("push_open_order", lambda c: c.push_open_order("q", "1")),
    ("pop_open_order", lambda c: c.pop_open_order("q", timeout=0.2)),
    ("update_ohlcv_bars", lambda c: c.update_ohlcv_bars("BTC/USDT", "1m", [[60, 1, 1, 1, 1, 1]])),
    ("prepare_cache", lambda c: c.prepare_cache()),
]


class _Everything(TradesCache, OHLCVCache):
    """Every layer's methods on one instance (the two ends of the chain's branches)."""


@pytest.mark.parametrize(
    ("name", "call"), ANOTHER_NAMESPACE_CALLS, ids=[name for name, _ in ANOTHER_NAMESPACE_CALLS]
)
async def test_a_cache_pointed_at_another_namespace_is_refused(
    acl_settings: CacheSettings, other_namespace: str, name: str, call: Callable[[Any], Any]
) -> None:
    """Another tenant's prefix with this user's login fails with CacheCommandError, no miss."""
    intruder = acl_settings.replace(key_prefix=other_namespace)
    async with asyncio.timeout(GUARD), _Everything(intruder) as cache:
        cache.source = None
        with pytest.raises(CacheCommandError, match=r"(?i)permission|can't access"):
            await call(cache)


@pytest.mark.usefixtures("no_library_warnings")
async def test_without_info_the_caches_work_and_doctor_reports_the_refusal(
    private_server: LocalRedisServer, namespace: str, make_user: Callable[..., str]
) -> None:
    """Without +info the caches work and stay quiet; only doctor reports the refusal."""
    rules = recommended_acl(namespace, ACL_PASSWORD, private_server.version)
    rules.remove("+info")  # the start-up maxmemory-policy check then skips itself, silently
    user = make_user(f"noinfo_{namespace}", *rules)
    settings = CacheSettings.from_url(
        user_url(private_server, user, ACL_PASSWORD), key_prefix=namespace
    )
    async with BotCache(settings) as cache:
        cache.source = None
        assert await cache.block_exchange("binance", "BTC/USDT", 17, ttl=5) is True
        with pytest.raises(CacheCommandError):
            await cache.info()
    report = await diagnose(settings)
    assert report["ok"] is False
    assert any("CacheCommandError" in problem for problem in report["problems"])


async def test_a_refused_handshake_is_a_permission_error_not_an_unknown_outcome(
    private_server: LocalRedisServer, namespace: str, make_user: Callable[..., str]
) -> None:
    """A handshake refused by the ACL is reported as not applied, not as an unknown outcome."""
    if private_server.version >= (7,):
        pytest.skip("on Redis 7 CLIENT SETNAME is not @dangerous: the handshake is allowed")
    rules = recommended_acl(namespace, ACL_PASSWORD, private_server.version)
    rules.remove("+client|setname")
    user = make_user(f"noname_{namespace}", *rules)
    settings = CacheSettings.from_url(
        user_url(private_server, user, ACL_PASSWORD), key_prefix=namespace
    )
    async with BaseCache(settings) as cache:
        with pytest.raises(CacheError) as caught:
            await cache.push_global_error("never applied")
    assert isinstance(caught.value, CacheUnavailableError | CacheCommandError), repr(caught.value)


def test_the_recommended_line_is_accepted_by_this_server(
    private_server: LocalRedisServer,
) -> None:
    """The line as documented is valid ACL syntax for the server under test (6.2 or 7.x)."""
    with admin_client(private_server) as admin:
        try:
            rules = recommended_acl("ns", "pw", private_server.version)
            admin.execute_command("ACL", "SETUSER", "syntax_check", *rules)
            user = admin.acl_getuser("syntax_check")
        finally:
            admin.acl_deluser("syntax_check")
    assert "ns:*" in str(user["keys"])  # 6.2: [b'ns:*'], 7.x: '~ns:*'
    assert "ns:*" in str(user["channels"])
