"""Secrets never leak, and identifiers never escape their key, pattern or channel.

One distinctive secret (``SECRET``) is used as the Redis password and as exchange API
credentials; every test asserts it appears nowhere a caller, a log or a terminal could see
it: log records (DEBUG, every logger), ``repr``/``str`` of settings, caches and clients,
exceptions with their whole chain, ``fullon-cache doctor`` / ``inspect`` output and log file,
and the values stored in Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from fullon_cache import (
    AccountCache,
    BaseCache,
    BotCache,
    CacheCommandError,
    CacheError,
    CacheSourceError,
    CacheUnavailableError,
    ExchangeCache,
    InvalidInputError,
    OHLCVCache,
    OrdersCache,
    ProcessCache,
    SymbolCache,
    TickCache,
    TradesCache,
)
from fullon_cache.cli import main
from fullon_cache.keys import KeySpace
from fullon_cache.local_server import LocalRedisServer
from fullon_cache.models import CatExchange, Exchange, Order, Position, Tick
from fullon_cache.settings import CacheSettings
from fullon_cache.sources import OrmSource
from tests.security.conftest import SECRET, admin_client, exception_texts, log_texts

GUARD = 10.0
CHAIN = [
    BaseCache,
    ProcessCache,
    ExchangeCache,
    SymbolCache,
    TickCache,
    AccountCache,
    OrdersCache,
    TradesCache,
    BotCache,
    OHLCVCache,
]


@pytest.fixture
def closed_tcp_port() -> Iterator[int]:
    """A TCP port on 127.0.0.1 that is bound but not listening: connections are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every record of every logger at DEBUG (the library's and redis-py's)."""
    with caplog.at_level(logging.DEBUG):
        yield caplog


async def stored_bytes(server: LocalRedisServer, namespace: str) -> bytes:
    """Every key name and value of ``namespace``, whatever its Redis type, concatenated."""
    admin = Redis(unix_socket_path=server.socket_path)
    chunks: list[bytes] = []
    try:
        async for key in admin.scan_iter(match=f"{namespace}:*"):
            kind = (await admin.type(key)).decode()
            chunks.append(key)
            if kind == "string":
                chunks.append(await admin.get(key) or b"")
            elif kind == "hash":
                for field, value in (await admin.hgetall(key)).items():
                    chunks += [field, value]
            elif kind == "list":
                chunks += await admin.lrange(key, 0, -1)
            elif kind == "set":
                chunks += list(await admin.smembers(key))
            elif kind == "zset":
                chunks += await admin.zrange(key, 0, -1)
            else:  # a type the library never writes
                raise AssertionError(f"unexpected {kind} under {key!r}")
    finally:
        await admin.aclose()
    return b"\n".join(chunks)


# -- logs -------------------------------------------------------------------------------------


async def test_no_log_record_ever_contains_the_password(
    acl_settings: CacheSettings,
    private_server: LocalRedisServer,
    closed_tcp_port: int,
    all_logs: pytest.LogCaptureFixture,
) -> None:
    """No log record of a workload and its failure paths ever contains the password."""
    now = time.time()
    async with asyncio.timeout(GUARD), OHLCVCache(acl_settings) as cache:
        cache.source = None
        await cache.push_global_error("feed down")
        await cache.register_process("bot", "bot 17")
        await cache.set_ticker(Tick(symbol="BTC/USDT", exchange="x", price=1.0, time=now))
        await cache.upsert_positions(3, [Position(symbol="BTC/USDT", volume=1.0)])
        async with cache.bot_lock("x", "BTC/USDT", 17, ttl=5):
            await cache.update_ohlcv_bars("BTC/USDT", "1m", [[60, 1, 1, 1, 1, 1]])
        with pytest.raises(CacheCommandError):
            await cache.flushdb()
        async with contextlib.aclosing(cache.stream_ticker_updates("x")) as ticks:
            await anext(ticks)
            with admin_client(private_server) as admin:
                admin.client_kill_filter(_type="pubsub")  # the stream logs, then resubscribes
            await cache.set_ticker(Tick(symbol="BTC/USDT", exchange="x", price=2.0, time=now + 1))
            assert (await anext(ticks)).price == 2.0
    async with OrdersCache(acl_settings) as cache:
        await cache.push_open_order("q", Order(order_id=1))
        assert await cache.pop_open_order("q", timeout=0.5) == Order(order_id=1)
    wrong = acl_settings.replace(password=f"{SECRET}-wrong")
    unreachable = acl_settings.replace(
        unix_socket_path=None, host="127.0.0.1", port=closed_tcp_port
    )
    for settings in (wrong, unreachable):
        async with BaseCache(settings) as cache:
            with pytest.raises(CacheError):
                await cache.ping()
    logged = log_texts(all_logs.records)
    assert "ticker stream lost its subscription" in logged  # the failure paths did log
    assert "retrying after a transient error" in logged
    assert SECRET not in logged


# -- repr and str -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    ["url", "env url", "env password", "env sentinel password"],
)
def test_settings_never_show_the_password(source: str) -> None:
    """Settings from a URL, REDIS_URL, REDIS_PASSWORD or REDIS_SENTINEL_PASSWORD never show
    the password."""
    url = f"rediss://bot:{SECRET}@redis.internal:6380/2"
    settings = {
        "url": lambda: CacheSettings.from_url(url),
        "env url": lambda: CacheSettings.from_env({"REDIS_URL": url}),
        "env password": lambda: CacheSettings.from_env(
            {"REDIS_HOST": "redis.internal", "REDIS_USERNAME": "bot", "REDIS_PASSWORD": SECRET}
        ),
        "env sentinel password": lambda: CacheSettings.from_env(
            {
                "REDIS_SENTINELS": "10.0.0.1:26379",
                "REDIS_PASSWORD": SECRET,
                "REDIS_SENTINEL_PASSWORD": SECRET,
            }
        ),
    }[source]()
    assert settings.password == SECRET
    shown = [repr(settings), str(settings), f"{settings}", f"{settings!r}", settings.redacted_url()]
    assert all(SECRET not in text for text in shown)


@pytest.mark.parametrize("cls", CHAIN, ids=[cls.__name__ for cls in CHAIN])
async def test_caches_and_their_clients_never_show_the_password(
    acl_settings: CacheSettings, cls: type[BaseCache]
) -> None:
    """repr/str of every cache and its redis-py client and pool never show the password."""
    cache = cls(acl_settings)
    shown = [repr(cache), str(cache)]
    async with cache:
        assert await cache.ping() is True
        async with cache._redis_context() as client:
            shown += [repr(client), str(client), repr(client.connection_pool)]
        shown += [repr(cache), str(cache)]
    shown += [repr(cache), str(cache)]
    assert all(SECRET not in text for text in shown)


# -- errors -----------------------------------------------------------------------------------


async def test_a_refused_login_never_shows_the_password(
    acl_settings: CacheSettings, all_logs: pytest.LogCaptureFixture
) -> None:
    """A refused login's error, chained causes and traceback never contain the password."""
    user = acl_settings.replace(username=acl_settings.username, password=f"{SECRET}-typo")
    async with BaseCache(user) as cache:
        with pytest.raises(CacheUnavailableError, match="authentication failed") as caught:
            await cache.push_global_error("x")
    assert SECRET not in exception_texts(caught.value)
    assert SECRET not in log_texts(all_logs.records)


async def test_an_unreachable_server_never_shows_the_password(
    acl_settings: CacheSettings, closed_tcp_port: int
) -> None:
    """Connection refused, with credentials configured: the error chain holds no secret."""
    settings = acl_settings.replace(unix_socket_path=None, host="127.0.0.1", port=closed_tcp_port)
    async with BaseCache(settings) as cache:
        with pytest.raises(CacheUnavailableError) as caught:
            await cache.get_keys()
    assert SECRET not in exception_texts(caught.value)


async def test_a_refused_command_never_shows_the_password(acl_settings: CacheSettings) -> None:
    """A command the ACL refuses gives CacheCommandError whose chain holds no secret."""
    async with BaseCache(acl_settings) as cache:
        with pytest.raises(CacheCommandError) as caught:
            await cache.flushdb()
    assert SECRET not in exception_texts(caught.value)


# -- the command line ---------------------------------------------------------------------------


def _everything_printed(capsys: pytest.CaptureFixture[str], log_dir: Path) -> str:
    captured = capsys.readouterr()
    logs = [p.read_text(errors="replace") for p in log_dir.rglob("*") if p.is_file()]
    return "\n".join([captured.out, captured.err, *logs])


@pytest.mark.parametrize("command", ["doctor", "inspect"])
@pytest.mark.parametrize("json_output", [False, True], ids=["text", "json"])
def test_the_command_never_shows_the_password_of_a_working_connection(
    acl_settings: CacheSettings,
    private_server: LocalRedisServer,
    quiet_cli_logging: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
    json_output: bool,
) -> None:
    """doctor/inspect as the ACL user succeed and never print or log the password."""
    url = f"unix://{acl_settings.username}:{SECRET}@{private_server.socket_path}?db=0"
    monkeypatch.setenv("REDIS_URL", url)
    monkeypatch.setenv("REDIS_KEY_PREFIX", acl_settings.key_prefix)
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    assert main([command, *(["--json"] if json_output else [])]) == 0
    printed = _everything_printed(capsys, quiet_cli_logging)
    assert acl_settings.key_prefix in printed
    assert SECRET not in printed


@pytest.fixture
def tcp_server() -> Iterator[LocalRedisServer]:
    """A private server that also listens on 127.0.0.1:<port> (``.tcp_port``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with LocalRedisServer("--port", str(port), "--bind", "127.0.0.1") as server:
        server.tcp_port = port  # type: ignore[attr-defined]
        yield server


@pytest.mark.parametrize("command", ["doctor", "inspect"])
@pytest.mark.parametrize("where", ["REDIS_URL", "REDIS_PASSWORD"])
def test_the_command_never_shows_a_refused_password(
    private_server: LocalRedisServer,
    request: pytest.FixtureRequest,
    quiet_cli_logging: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
    where: str,
) -> None:
    """doctor/inspect refused a login (REDIS_URL or REDIS_PASSWORD) never print it."""
    wrong = f"{SECRET}-typo"
    if where == "REDIS_URL":
        monkeypatch.setenv("REDIS_URL", f"unix://app:{wrong}@{private_server.socket_path}?db=0")
    else:
        tcp_server: LocalRedisServer = request.getfixturevalue("tcp_server")
        with admin_client(tcp_server) as admin:
            admin.execute_command("ACL", "SETUSER", "app", "on", f">{SECRET}", "~*", "+@all")
        monkeypatch.setenv("REDIS_HOST", "127.0.0.1")
        monkeypatch.setenv("REDIS_PORT", str(tcp_server.tcp_port))  # type: ignore[attr-defined]
        monkeypatch.setenv("REDIS_USERNAME", "app")
        monkeypatch.setenv("REDIS_PASSWORD", wrong)
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    assert main([command]) == 1
    printed = _everything_printed(capsys, quiet_cli_logging)
    assert "authentication failed" in printed
    assert SECRET not in printed


# -- exchange API credentials ---------------------------------------------------------------------

API_FIELDS = {"api_key": f"key-{SECRET}", "secret": SECRET, "passphrase": f"pp-{SECRET}"}
ROW = {"ex_id": 3, "uid": 7, "cat_ex_id": 1, "name": "main", "active": True, **API_FIELDS}
BINANCE = CatExchange(cat_ex_id=1, name="binance", ohlcv_view="")


class _Exchanges:
    """The part of fullon_orm's exchange repository OrmSource uses; rows carry API keys."""

    async def get_by_id(self, ex_id: Any) -> dict[str, Any] | None:
        return dict(ROW) if ex_id == 3 else None

    async def get_user_exchanges(self, user_id: Any) -> list[dict[str, Any]]:
        return [dict(ROW)] if user_id == 7 else []

    async def get_cat_exchanges(self, all: bool = False) -> list[CatExchange]:  # noqa: A002
        return [BINANCE]


class _Db:
    exchanges = _Exchanges()


@asynccontextmanager
async def _database() -> AsyncIterator[_Db]:
    yield _Db()


def _with_credentials(exchange: Exchange) -> Exchange:
    """An Exchange that also carries API credentials as extra attributes (as an ORM row may)."""
    for name, value in API_FIELDS.items():
        setattr(exchange, name, value)
    return exchange


class _ModelSource:
    """A source that hands out Exchange models carrying credentials."""

    async def get_exchange(self, ex_id: Any) -> Exchange | None:
        return _with_credentials(Exchange(ex_id=4, uid=8, cat_ex_id=1, name="hedge"))

    async def get_user_exchanges(self, user_id: Any) -> list[Exchange]:
        return [_with_credentials(Exchange(ex_id=4, uid=8, cat_ex_id=1, name="hedge"))]

    async def get_cat_exchanges(self) -> list[CatExchange]:
        return [BINANCE]

    async def get_symbols(self, cat_ex_id: Any) -> list[Any]:
        return []


async def test_exchange_api_credentials_are_never_stored_returned_or_logged(
    acl_settings: CacheSettings,
    private_server: LocalRedisServer,
    all_logs: pytest.LogCaptureFixture,
) -> None:
    """Exchange API credentials from a source or caller are never stored, returned or logged."""
    async with ExchangeCache(acl_settings) as cache:
        cache.source = OrmSource(_database)
        got = [await cache.get_exchange(3), *(await cache.get_exchanges(7))]
        got += [await cache.get_exchange(3), *(await cache.get_exchanges(7))]  # cached copies
        cache.source = _ModelSource()
        got += [await cache.get_exchange(4), *(await cache.get_exchanges(8))]
        await cache.set_exchange(_with_credentials(Exchange(ex_id=5, uid=9, name="set")))
        cache.source = None
        got += [await cache.get_exchange(5), *(await cache.get_exchanges(9))]
    assert len(got) == 8
    assert all(isinstance(e, Exchange) and e.ex_id in (3, 4, 5) for e in got)
    for exchange in got[:4] + got[6:]:  # built by the cache, not the caller's own objects
        assert SECRET not in repr(vars(exchange))
    stored = await stored_bytes(private_server, acl_settings.key_prefix)
    assert b'"name":"main"' in stored  # the exchanges are there...
    assert SECRET.encode() not in stored  # ...their credentials are not
    assert SECRET not in log_texts(all_logs.records)


async def test_a_source_failure_message_never_repeats_the_source_error(
    acl_settings: CacheSettings, all_logs: pytest.LogCaptureFixture
) -> None:
    """CacheSourceError's own message never repeats the source error's text (a DSN password)."""
    failure = RuntimeError(f"could not connect to postgresql://fullon:{SECRET}@db/fullon")

    class Broken:
        async def get_exchange(self, ex_id: Any) -> Exchange | None:
            raise failure

    async with ExchangeCache(acl_settings) as cache:
        cache.source = Broken()  # type: ignore[assignment]
        with pytest.raises(CacheSourceError, match="RuntimeError") as caught:
            await cache.get_exchange(3)
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value)
    assert caught.value.__cause__ is failure
    assert SECRET not in log_texts(all_logs.records)


# -- identifiers cannot escape their key, pattern or channel ----------------------------------

WORDS = [
    "a", "b", "a:b", "b:a", "a:b:c", "BTC/USDT:USDT", "1m", "a:1m", "fence", "a:fence",
    "exchanges", "crawlers", "global", "ws", "id", "user", "catalog", "locks", "opening",
    "status", "ids", "latest", "times", "updates", "pending", "processing", "claims", "dead",
    "list", "exchange", "user_status", "record:a", "active", "components", "order:a",
]  # fmt: skip
CHANNELS = {"ticker_updates", "ohlcv_updates", "process_broadcasts"}


def _names(space: KeySpace) -> dict[str, set[tuple[str, tuple[str, ...]]]]:
    """Every name the key space builds from WORDS -> the (method, arguments) that build it."""
    built: dict[str, set[tuple[str, tuple[str, ...]]]] = {}
    for method, build in inspect.getmembers(space, predicate=inspect.ismethod):
        if method.startswith("_") or method in {"pattern", "strip"}:
            continue
        arity = len(inspect.signature(build).parameters)
        for args in itertools.product(WORDS, repeat=arity):
            name = build(*args)
            kind = "channel" if method in CHANNELS else "key"  # separate spaces in Redis
            built.setdefault(f"{kind} {name}", set()).add((method, args))
    return built


KEY_METHODS = sorted(
    name
    for name, _ in inspect.getmembers(KeySpace, predicate=inspect.isfunction)
    if not name.startswith("_") and name not in {"pattern", "strip"}
)


@pytest.mark.parametrize(
    "method",
    KEY_METHODS,
)
def test_distinct_identifiers_never_share_a_key_or_channel(method: str) -> None:
    """Different identifiers (with ':' or reserved words) never build the same key or channel."""
    clashes = {
        name: sorted(makers)
        for name, makers in _names(KeySpace("ns")).items()
        if len(makers) > 1 and any(maker[0] == method for maker in makers)
    }
    assert not clashes, next(iter(clashes.items()))


async def test_locks_of_different_pairs_are_independent(acl_settings: CacheSettings) -> None:
    """Bot 1 blocking ('a', 'b:c') does not block ('a:b', 'c') for bot 2."""
    async with BotCache(acl_settings) as cache:
        assert await cache.block_exchange("a", "b:c", bot_id=1, ttl=5) is True
        assert await cache.is_blocked("a:b", "c") == ""
        assert await cache.block_exchange("a:b", "c", bot_id=2, ttl=5) is True


async def test_an_exchange_id_cannot_overwrite_the_positions_index(
    acl_settings: CacheSettings,
) -> None:
    """Positions of an account named 'exchanges' do not break other accounts' positions."""
    async with AccountCache(acl_settings) as cache:
        with contextlib.suppress(InvalidInputError):  # refusing the name would be fine too
            await cache.set_position("exchanges", Position(symbol="BTC/USDT", volume=1.0))
        assert await cache.set_position(3, Position(symbol="BTC/USDT", volume=2.0)) is True
        assert [p.volume for p in await cache.get_all_positions() if p.ex_id == "3"] == [2.0]


CHANNEL_CALLS: list[tuple[str, Callable[[OHLCVCache], Any]]] = [
    ("stream_ticker_updates", lambda c: c.stream_ticker_updates("bin\r\nance")),
    ("stream_ticker_updates symbols", lambda c: c.stream_ticker_updates("x", ["BTC\n"])),
    ("get_next_ticker", lambda c: c.get_next_ticker("BTC/USDT", "x\r\nPUBLISH a b")),
    ("stream_ohlcv_updates", lambda c: c.stream_ohlcv_updates("BTC\x00/USDT", "1m")),
    ("broadcasts", lambda c: c.broadcasts("bot\nx")),
    ("broadcast_message", lambda c: c.broadcast_message("bot\r\n", "x")),
    ("set_ticker", lambda c: c.set_ticker(Tick(symbol="B", exchange="x\n", price=1.0, time=1.0))),
]


@pytest.mark.parametrize(("name", "call"), CHANNEL_CALLS, ids=[n for n, _ in CHANNEL_CALLS])
async def test_control_characters_never_reach_a_channel(
    acl_settings: CacheSettings,
    private_server: LocalRedisServer,
    name: str,
    call: Callable[[OHLCVCache], Any],
) -> None:
    """A control character in a channel's component is refused before reaching Redis."""
    with admin_client(private_server) as admin:
        before = int(admin.info("stats")["total_commands_processed"])
        async with OHLCVCache(acl_settings) as cache:
            cache.source = None
            with pytest.raises(CacheError):  # InvalidInputError / InvalidTypeError
                result = call(cache)
                if inspect.isawaitable(result):
                    await result
                else:
                    async with result:
                        pass
        # this INFO is the one command since the last: nothing of the call reached the server
        assert int(admin.info("stats")["total_commands_processed"]) == before + 1
        assert admin.pubsub_channels(f"{acl_settings.key_prefix}:*") == []
