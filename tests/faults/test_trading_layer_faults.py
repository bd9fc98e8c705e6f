"""Real faults in the trading layers: AccountCache, OrdersCache, TradesCache and BotCache.

A killed, write-paused, sleeping or full server, connections cut with ``CLIENT KILL`` or by the
fault proxy, lost replies, cancelled calls, and corrupted bytes or keys of the wrong type under
the layers' own keys. Every call ends with a result or a typed :class:`CacheError`; a write is
never applied twice; a reliable order queue never loses an order; a lost reply is never
reported as a miss.

The private server keeps no data across a restart (no persistence): "nothing lost" is proven by
cutting connections while the server keeps its data; kill and restart prove the error types and
that the same instance recovers. No test has more than four failing calls in a row on one pool
(a circuit breaker may open after five). ``asyncio.timeout(GUARD)`` only turns a hang into a
failure; no test asserts a duration.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from redis.asyncio import Redis

from fullon_cache import (
    AccountCache,
    BotCache,
    CacheCorruptedValueError,
    CacheError,
    CacheOutOfMemoryError,
    CacheSettings,
    CacheTimeoutError,
    CacheUnavailableError,
    CacheUnknownOutcomeError,
    OrdersCache,
    TradesCache,
)
from fullon_cache.keys import KeySpace
from fullon_cache.local_server import LocalRedisServer
from fullon_cache.models import Order, Position, Trade
from tests.conftest import raw_client
from tests.support.proxy import FaultProxy

GUARD = 10  # seconds: turns a hang into a failure, never a performance assertion
PAUSE_MS = 2500  # longer than any call's deadline (socket timeout 0.5 s + 1 s)
SLEEP_S = 2  # DEBUG SLEEP: longer than any call's deadline
EX, SYM, QUEUE = "binance", "BTC/USDT", "bot_17"
BTC = {"total": 1.0, "free": 0.75, "used": 0.25}
ETH = {"total": 2.0, "free": 2.0, "used": 0.0}
ORDER = Order(order_id=7, ex_order_id="A1", symbol=SYM, side="buy", volume=0.5, status="open")
STAMP = 1_700_000_000.0

Call = Callable[[Any], Awaitable[Any]]


def position(symbol: str = SYM, volume: float = 1.0) -> Position:
    return Position(symbol=symbol, volume=volume, price=50000.0, cost=50000.0 * volume)


def shape(positions: list[Position]) -> list[tuple[str | None, str, float]]:
    return [(p.ex_id, p.symbol, p.volume) for p in positions]


def trade(trade_id: int) -> Trade:
    return Trade(trade_id=trade_id, ex_trade_id=f"t{trade_id}", symbol=SYM, volume=0.1)


@pytest.fixture
async def admin(fast_settings: CacheSettings) -> AsyncIterator[Redis]:
    """A plain client straight to the private server (around the proxy), for faults and checks."""
    client = raw_client(fast_settings)
    yield client
    await client.aclose()


@pytest.fixture
def keys(fast_settings: CacheSettings) -> KeySpace:
    return KeySpace(fast_settings.key_prefix)


async def cut_connections(admin: Redis) -> None:
    """CLIENT KILL every connection but the admin's own: the library's, blocked ones too."""
    assert await admin.client_kill_filter(_type="normal", skipme=True) >= 1


async def blocked_in(admin: Redis, command: str, count: int = 1, *, exactly: bool = False) -> None:
    """Return once ``count`` (at least, or ``exactly``) clients are blocked in ``command``."""
    async with asyncio.timeout(GUARD):
        while True:
            clients = await admin.client_list()
            blocked = sum(client.get("cmd") == command for client in clients)
            if blocked == count or (blocked > count and not exactly):
                return
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def writes_paused(admin: Redis) -> AsyncIterator[None]:
    """CLIENT PAUSE WRITE for longer than a deadline; reads still pass."""
    await admin.execute_command("CLIENT", "PAUSE", PAUSE_MS, "WRITE")
    try:
        yield
    finally:
        await admin.execute_command("CLIENT", "UNPAUSE")
        await asyncio.sleep(0.2)  # lets the server run (or drop) what was held back


@contextlib.asynccontextmanager
async def server_asleep(admin: Redis) -> AsyncIterator[None]:
    """DEBUG SLEEP: the whole server stops answering for longer than a deadline."""
    sleeper = asyncio.ensure_future(admin.execute_command("DEBUG", "SLEEP", SLEEP_S))
    await asyncio.sleep(0.05)  # the admin's command reached the server
    try:
        yield
    finally:
        await sleeper


@contextlib.asynccontextmanager
async def memory_full(admin: Redis) -> AsyncIterator[None]:
    """Fill the server with raw keys, then put ``maxmemory`` below its usage (noeviction):
    every write that may grow memory is refused until the block ends."""
    await admin.config_set("maxmemory-policy", "noeviction")
    async with admin.pipeline(transaction=False) as pipe:
        for i in range(100):
            pipe.set(f"filler:{i}", b"x" * 10_000)
        await pipe.execute()
    used = int((await admin.info("memory"))["used_memory"])
    await admin.config_set("maxmemory", used - 200_000)
    try:
        yield
    finally:
        await admin.config_set("maxmemory", 0)


async def cancel_in_flight(proxy: FaultProxy, call: Awaitable[Any]) -> None:
    """Run ``call``, and cancel it once its request reached the server (reply held back)."""
    proxy.set_delay(0.3)
    task = asyncio.ensure_future(call)
    async with asyncio.timeout(GUARD):
        await proxy.wait_for_request()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    proxy.set_delay(0)


async def claim_and_crash(cache: OrdersCache, queue: str = QUEUE) -> Any:
    """Claim the next item and leave the block with an error (as a crashed consumer would)."""
    taken = None
    with pytest.raises(RuntimeError):
        async with cache.claim_open_order(queue, timeout=0) as item:
            taken = item
            raise RuntimeError("consumer crashed")
    return taken


async def pooled_blocking_pop(pop: Awaitable[Any], push: Awaitable[Any]) -> None:
    """A blocking pop on an empty queue (so the blocking pool holds a connection), then a push."""
    assert await pop is None
    await push


async def drain_queue(cache: OrdersCache) -> list[Any]:
    """Every item still waiting (no wait), in order."""
    items = []
    while (item := await cache.pop_open_order(QUEUE, timeout=0)) is not None:
        items.append(item)
    return items


# -- a killed server: typed errors, and the same instance recovers --------------------------


async def test_account_calls_on_a_killed_server_raise_unavailable_and_recover(
    server: LocalRedisServer, fast_settings: CacheSettings
) -> None:
    """A dead server makes account calls raise CacheUnavailableError; the instance recovers."""
    async with AccountCache(fast_settings) as cache:
        await cache.set_user_balances(3, {"BTC": BTC})
        server.kill()
        async with asyncio.timeout(GUARD):
            with pytest.raises(CacheUnavailableError):
                await cache.get_user_balances(3)  # never {} because Redis is down
            with pytest.raises(CacheUnavailableError):
                await cache.get_position(SYM, 3)
            with pytest.raises(CacheUnavailableError):
                await cache.upsert_positions(3, [position()])
        server.start()
        assert await cache.upsert_positions(3, [position()]) is True
        assert shape(await cache.get_positions(3)) == [("3", SYM, 1.0)]
        assert await cache.set_user_balances(3, {"ETH": ETH}) is True
        assert await cache.get_user_balances(3) == {"ETH": ETH}


async def test_a_kill_during_a_waiting_pop_and_claim_is_a_typed_error_and_recovers(
    server: LocalRedisServer, fast_settings: CacheSettings, admin: Redis
) -> None:
    """A pop/claim waiting when the server dies raises a typed error; the instance recovers."""

    async def claim() -> Any:
        async with cache.claim_open_order(QUEUE, timeout=5) as item:
            return item

    async with OrdersCache(fast_settings) as cache:
        assert await cache.get_queue_length(QUEUE) == 0  # warm-up
        popping = asyncio.ensure_future(cache.pop_open_order(QUEUE, timeout=5))
        claiming = asyncio.ensure_future(claim())
        await blocked_in(admin, "blmove", count=2)
        server.kill()
        async with asyncio.timeout(GUARD):
            for waiting in (popping, claiming):
                with pytest.raises(CacheUnknownOutcomeError):
                    await waiting
            with pytest.raises(CacheUnavailableError):
                await cache.push_open_order(QUEUE, ORDER)
        server.start()
        await cache.push_open_order(QUEUE, ORDER)
        async with asyncio.timeout(GUARD):
            assert await cache.pop_open_order(QUEUE, timeout=1) == ORDER
            async with cache.claim_open_order(QUEUE, timeout=0.2) as nothing:
                assert nothing is None


async def test_a_kill_during_a_waiting_trade_pop_is_a_typed_error_and_recovers(
    server: LocalRedisServer, fast_settings: CacheSettings, admin: Redis
) -> None:
    """A trade pop waiting when the server dies raises a typed error; the instance recovers."""
    async with TradesCache(fast_settings) as cache:
        assert await cache.pop_my_trade(7, EX) is None  # warm-up
        waiting = asyncio.ensure_future(cache.pop_my_trade(7, EX, timeout=5))
        await blocked_in(admin, "blmove")
        server.kill()
        async with asyncio.timeout(GUARD):
            with pytest.raises(CacheUnknownOutcomeError):
                await waiting
            with pytest.raises(CacheUnavailableError):
                await cache.get_trades(SYM, EX)
            with pytest.raises(CacheUnavailableError):
                await cache.push_trade_list(SYM, EX, trade(1))
        server.start()
        assert await cache.push_trade_list(SYM, EX, trade(1)) == 1
        assert await cache.get_trades(SYM, EX) == [trade(1)]
        assert await cache.push_my_trades_list(7, EX, trade(2)) == 1
        async with asyncio.timeout(GUARD):
            assert await cache.pop_my_trade(7, EX, timeout=1) == trade(2)


async def test_a_kill_while_a_bot_lock_is_held_raises_on_exit_and_recovers(
    server: LocalRedisServer, fast_settings: CacheSettings
) -> None:
    """A server dying under bot_lock: typed errors, never 'free', no hang; the instance recovers."""
    async with BotCache(fast_settings) as cache:
        async with asyncio.timeout(GUARD):
            with pytest.raises(CacheUnavailableError):
                async with cache.bot_lock(EX, SYM, "a", ttl=30) as lease:
                    server.kill()
                    with pytest.raises(CacheUnavailableError):
                        await cache.is_blocked(EX, SYM)
        assert lease.fence == 1
        server.start()
        assert await cache.is_blocked(EX, SYM) == ""  # the server lost its data (no persistence)
        async with cache.bot_lock(EX, SYM, "b", ttl=30) as again:
            assert await cache.is_blocked(EX, SYM) == "b"
            again.check()
        assert await cache.block_exchange(EX, SYM, "c", ttl=30) is True


# -- connections cut between and during calls (the server keeps its data) --------------------

CUT_READS = [
    pytest.param(
        AccountCache,
        lambda c: c.set_user_balances(3, {"BTC": BTC}),
        lambda c: c.get_user_balances(3),
        {"BTC": BTC},
        id="account-get_user_balances",
    ),
    pytest.param(
        AccountCache,
        lambda c: c.upsert_positions(3, [position()]),
        lambda c: c.get_position(SYM, 3),
        Position.from_dict({**position().to_dict(), "ex_id": "3"}),
        id="account-get_position",
    ),
    pytest.param(
        OrdersCache,
        lambda c: c.save_order_data(EX, ORDER),
        lambda c: c.get_order_status(EX, "A1"),
        ORDER,
        id="orders-get_order_status",
    ),
    pytest.param(
        OrdersCache,
        lambda c: c.push_open_order(QUEUE, ORDER),
        lambda c: c.get_queue_length(QUEUE),
        1,
        id="orders-get_queue_length",
    ),
    pytest.param(
        OrdersCache,
        lambda c: pooled_blocking_pop(
            c.pop_open_order(QUEUE, timeout=0.1), c.push_open_order(QUEUE, ORDER)
        ),
        lambda c: c.pop_open_order(QUEUE, timeout=1),
        ORDER,
        id="orders-blocking-pop",
    ),
    pytest.param(
        TradesCache,
        lambda c: pooled_blocking_pop(
            c.pop_my_trade(7, EX, timeout=0.1), c.push_my_trades_list(7, EX, trade(1))
        ),
        lambda c: c.pop_my_trade(7, EX, timeout=1),
        trade(1),
        id="trades-blocking-pop_my_trade",
    ),
    pytest.param(
        TradesCache,
        lambda c: c.update_user_trade_status("7:binance", timestamp=STAMP),
        lambda c: c.get_user_trade_status("7:binance"),
        datetime.fromtimestamp(STAMP, UTC),
        id="trades-get_user_trade_status",
    ),
    pytest.param(
        BotCache,
        lambda c: c.block_exchange(EX, SYM, "a"),
        lambda c: c.is_blocked(EX, SYM),
        "a",
        id="bot-is_blocked",
    ),
    pytest.param(
        BotCache,
        lambda c: c.mark_opening_position(EX, SYM, "a"),
        lambda c: c.is_opening_position(EX, SYM),
        True,
        id="bot-is_opening_position",
    ),
]


@pytest.mark.parametrize(("layer", "setup", "read", "expected"), CUT_READS)
async def test_a_read_right_after_its_connection_was_killed_succeeds(
    fast_settings: CacheSettings,
    admin: Redis,
    layer: type[AccountCache | BotCache],
    setup: Call,
    read: Call,
    expected: Any,
) -> None:
    """A read or blocking pop right after CLIENT KILL of the library's connections succeeds."""
    async with layer(fast_settings) as cache:
        await setup(cache)
        await cut_connections(admin)
        async with asyncio.timeout(GUARD):
            assert await read(cache) == expected


# The writes that are never resent (each appends one item to a list).
PUSHES = [
    pytest.param(
        OrdersCache,
        lambda c: c.push_open_order(QUEUE, ORDER),
        lambda k: k.queue_pending(QUEUE),
        id="push_open_order",
    ),
    pytest.param(
        TradesCache,
        lambda c: c.push_trade_list(SYM, EX, trade(1)),
        lambda k: k.trades(EX, SYM),
        id="push_trade_list",
    ),
    pytest.param(
        TradesCache,
        lambda c: c.push_my_trades_list(7, EX, trade(1)),
        lambda k: k.user_trades("7", EX),
        id="push_my_trades_list",
    ),
    pytest.param(
        TradesCache,
        lambda c: c.push_trade(EX, trade(1)),
        lambda k: k.exchange_trades(EX),
        id="push_trade",
    ),
]


@pytest.mark.parametrize(("layer", "push", "key"), PUSHES)
async def test_a_push_right_after_its_connection_was_killed_is_applied_once(
    fast_settings: CacheSettings,
    admin: Redis,
    keys: KeySpace,
    layer: type[OrdersCache],
    push: Call,
    key: Callable[[KeySpace], str],
) -> None:
    """A push right after CLIENT KILL is never sent twice: queued once if it reports success."""
    async with layer(fast_settings) as cache:
        await cache.ping()  # a pooled connection, then cut
        await cut_connections(admin)
        async with asyncio.timeout(GUARD):
            try:
                await push(cache)
                expected: tuple[int, ...] = (1,)
            except CacheUnknownOutcomeError:
                expected = (0, 1)
        assert await admin.llen(key(keys)) in expected


async def wait_consumer(cache: OrdersCache, how: str) -> Any:
    """Take the next order as a pop or as a claim (acknowledged when the block exits)."""
    if how == "pop":
        return await cache.pop_open_order(QUEUE, timeout=5)
    async with cache.claim_open_order(QUEUE, timeout=5) as item:
        return item


@pytest.mark.parametrize("how", ["pop", "claim"])
@pytest.mark.parametrize("cut", ["client-kill", "proxy-reset"])
async def test_cutting_a_waiting_consumer_loses_no_order_and_duplicates_none(
    proxy: FaultProxy,
    proxied_settings: CacheSettings,
    admin: Redis,
    keys: KeySpace,
    cut: str,
    how: str,
) -> None:
    """Cutting a waiting consumer raises a typed error and loses or duplicates no order."""
    async with OrdersCache(proxied_settings) as cache:
        await cache.push_open_order(QUEUE, "A1")
        assert await claim_and_crash(cache) == "A1"  # on the processing list, unacknowledged
        waiting = asyncio.ensure_future(wait_consumer(cache, how))
        await blocked_in(admin, "blmove")
        if cut == "client-kill":
            await cut_connections(admin)
        else:
            proxy.reset_connections()
        async with asyncio.timeout(GUARD):
            with pytest.raises(CacheUnknownOutcomeError):
                await waiting
        await blocked_in(admin, "blmove", count=0, exactly=True)  # no orphan left waiting
        async with asyncio.timeout(GUARD):
            assert await cache.get_queue_length(QUEUE) == 0  # a read after the cut answers
        await cache.push_open_order(QUEUE, "B2")
        assert await cache.requeue_stale_orders(QUEUE, 0) == 1
        assert await drain_queue(cache) == ["A1", "B2"]
    assert await admin.exists(keys.queue_processing(QUEUE), keys.queue_claims(QUEUE)) == 0


async def test_an_acknowledgement_after_a_cut_connection_is_applied_once(
    fast_settings: CacheSettings, admin: Redis, keys: KeySpace
) -> None:
    """A claim whose connections were cut mid-block is still acknowledged once on a clean exit."""
    async with OrdersCache(fast_settings) as cache:
        await cache.push_open_order(QUEUE, ORDER)
        await cache.push_open_order(QUEUE, "B2")
        async with asyncio.timeout(GUARD), cache.claim_open_order(QUEUE, timeout=1) as item:
            assert item == ORDER
            await cut_connections(admin)
        assert await admin.exists(keys.queue_processing(QUEUE), keys.queue_claims(QUEUE)) == 0
        assert await cache.requeue_stale_orders(QUEUE, 0) == 0
        assert await drain_queue(cache) == ["B2"]


# -- a server pausing writes: reads pass, writes are unknown outcomes, never doubled ---------


async def test_positions_written_during_a_write_pause_are_all_or_nothing(
    fast_settings: CacheSettings, admin: Redis
) -> None:
    """Positions upserted during CLIENT PAUSE WRITE: unknown outcome, then old or new, no mix."""
    old = [position("BTC/USDT"), position("ETH/USDT", 2.0)]
    new = [position("SOL/USDT", 3.0)]
    async with AccountCache(fast_settings) as cache:
        await cache.upsert_positions(3, old)
        async with writes_paused(admin), asyncio.timeout(GUARD):
            assert shape(await cache.get_positions(3)) == [("3", SYM, 1.0), ("3", "ETH/USDT", 2.0)]
            with pytest.raises(CacheUnknownOutcomeError):
                await cache.upsert_positions(3, new)
        assert shape(await cache.get_positions(3)) in (
            [("3", SYM, 1.0), ("3", "ETH/USDT", 2.0)],
            [("3", "SOL/USDT", 3.0)],
        )


async def test_an_order_pushed_during_a_write_pause_is_queued_at_most_once(
    fast_settings: CacheSettings, admin: Redis, keys: KeySpace
) -> None:
    """An order pushed during CLIENT PAUSE WRITE is an unknown outcome, queued at most once."""
    async with OrdersCache(fast_settings) as cache:
        await cache.save_order_data(EX, ORDER)
        async with writes_paused(admin), asyncio.timeout(GUARD):
            assert await cache.get_order_status(EX, "A1") == ORDER
            with pytest.raises(CacheUnknownOutcomeError):
                await cache.push_open_order(QUEUE, ORDER)
        assert await admin.llen(keys.queue_pending(QUEUE)) in (0, 1)
        assert await drain_queue(cache) in ([], [ORDER])


async def test_a_trade_pushed_during_a_write_pause_is_listed_at_most_once(
    fast_settings: CacheSettings, admin: Redis, keys: KeySpace
) -> None:
    """A trade pushed during CLIENT PAUSE WRITE is an unknown outcome, listed at most once."""
    async with TradesCache(fast_settings) as cache:
        await cache.update_trade_status(EX)
        async with writes_paused(admin), asyncio.timeout(GUARD):
            assert await cache.get_trade_status(EX) is not None
            with pytest.raises(CacheUnknownOutcomeError):
                await cache.push_trade_list(SYM, EX, trade(1))
        assert await admin.llen(keys.trades(EX, SYM)) in (0, 1)
        assert await cache.get_trades(SYM, EX) in ([], [trade(1)])


async def test_a_lock_taken_during_a_write_pause_counts_at_most_one_fence(
    fast_settings: CacheSettings, admin: Redis, keys: KeySpace
) -> None:
    """A lock taken during CLIENT PAUSE WRITE is an unknown outcome counting one fence at most."""
    # An acquisition resent or run late is the owner re-acquiring: it never counts twice.
    async with BotCache(fast_settings) as cache:
        await cache.update_bot("a", {"feed": {"status": "old"}})
        async with writes_paused(admin), asyncio.timeout(GUARD):
            assert await cache.is_blocked(EX, SYM) == ""
            outcomes = await asyncio.gather(
                cache.block_exchange(EX, SYM, "a", ttl=30),
                cache.update_bot("a", {"feed": {"status": "new"}}),
                return_exceptions=True,
            )
        assert all(isinstance(outcome, CacheUnknownOutcomeError) for outcome in outcomes)
        assert await cache.is_blocked(EX, SYM) in ("", "a")
        assert await cache.block_exchange(EX, SYM, "a", ttl=30) is True
        assert int(await admin.get(keys.bot_lock_fence(EX, SYM)) or 0) == 1
        assert await cache.block_exchange(EX, SYM, "b", ttl=30) is False
        status = await cache.get_bot("a")
        assert status is not None
        assert status["feed"]["status"] in ("old", "new")


# -- a sleeping server: reads time out, never look like a miss --------------------------------

SLEEPING_READS = [
    pytest.param(
        AccountCache,
        lambda c: c.set_user_balances(3, {"BTC": BTC}),
        [lambda c: c.get_user_balance(3, "BTC"), lambda c: c.get_positions(3)],
        id="account",
    ),
    pytest.param(
        OrdersCache,
        lambda c: c.save_order_data(EX, ORDER),
        [lambda c: c.get_order_status(EX, "A1"), lambda c: c.get_queue_length(QUEUE)],
        id="orders",
    ),
    pytest.param(
        TradesCache,
        lambda c: c.update_trade_status(EX),
        [lambda c: c.get_trade_status(EX), lambda c: c.get_all_trade_statuses()],
        id="trades",
    ),
    pytest.param(
        BotCache,
        lambda c: c.block_exchange(EX, SYM, "a"),
        [lambda c: c.is_blocked(EX, SYM), lambda c: c.get_bot("a")],
        id="bot",
    ),
]


@pytest.mark.parametrize(("layer", "setup", "reads"), SLEEPING_READS)
async def test_reads_of_a_sleeping_server_time_out_never_look_like_a_miss(
    fast_settings: CacheSettings,
    admin: Redis,
    layer: type[AccountCache | BotCache],
    setup: Call,
    reads: list[Call],
) -> None:
    """Reads of a server in DEBUG SLEEP raise CacheTimeoutError, never look like a miss."""
    async with layer(fast_settings) as cache:
        await setup(cache)
        expected = [await read(cache) for read in reads]
        async with server_asleep(admin), asyncio.timeout(GUARD):
            outcomes = await asyncio.gather(
                *(read(cache) for read in reads), return_exceptions=True
            )
        assert [type(outcome) for outcome in outcomes] == [CacheTimeoutError] * len(reads)
        assert [await read(cache) for read in reads] == expected


async def test_an_order_pop_timed_out_on_a_sleeping_server_keeps_the_order(
    fast_settings: CacheSettings, admin: Redis, keys: KeySpace
) -> None:
    """An order pop that timed out on a sleeping server keeps the order: delivered exactly once."""
    async with OrdersCache(fast_settings) as cache:
        await cache.push_open_order(QUEUE, ORDER)
        async with server_asleep(admin), asyncio.timeout(GUARD):
            with pytest.raises(CacheTimeoutError):
                await cache.pop_open_order(QUEUE, timeout=0)
        pending = await admin.llen(keys.queue_pending(QUEUE))
        processing = await admin.llen(keys.queue_processing(QUEUE))
        assert (pending, processing) in ((1, 0), (0, 1))
        assert await cache.requeue_stale_orders(QUEUE, 0) == processing
        assert await drain_queue(cache) == [ORDER]


async def test_trade_pops_timed_out_on_a_sleeping_server_are_unknown_outcomes(
    fast_settings: CacheSettings, admin: Redis, keys: KeySpace
) -> None:
    """Trade pops/drains on a sleeping server raise CacheTimeoutError, never None or []."""
    # Trade queues have no processing list: once the server wakes, each trade is still queued
    # or was taken by the abandoned command (the typed error said so), never duplicated.
    async with TradesCache(fast_settings) as cache:
        await cache.push_my_trades_list(7, EX, trade(1))
        await cache.push_trade_list(SYM, EX, trade(2))
        async with server_asleep(admin), asyncio.timeout(GUARD):
            outcomes = await asyncio.gather(
                cache.pop_my_trade(7, EX), cache.get_trades(SYM, EX), return_exceptions=True
            )
        assert [type(outcome) for outcome in outcomes] == [CacheTimeoutError] * 2
        assert await admin.llen(keys.user_trades("7", EX)) in (0, 1)
        assert await cache.get_trades(SYM, EX) in ([], [trade(2)])


# -- lost replies to writes: resent only when idempotent, never applied twice ----------------

IDEMPOTENT_WRITES = [
    pytest.param(
        AccountCache,
        lambda c: c.set_user_balances(3, {"BTC": BTC}),
        lambda c: c.get_user_balances(3),
        {"BTC": BTC},
        id="set_user_balances",
    ),
    pytest.param(
        AccountCache,
        lambda c: c.upsert_positions(3, [position(), position("ETH/USDT", 2.0)]),
        lambda c: c.get_all_positions(),
        [
            Position.from_dict({**position().to_dict(), "ex_id": "3"}),
            Position.from_dict({**position("ETH/USDT", 2.0).to_dict(), "ex_id": "3"}),
        ],
        id="upsert_positions",
    ),
    pytest.param(
        AccountCache,
        lambda c: c.upsert_user_account(3, {"BTC": BTC}, update_date="d1"),
        lambda c: c.get_all_accounts(),
        {"3": {"BTC": BTC, "date": "d1"}},
        id="upsert_user_account",
    ),
    pytest.param(
        OrdersCache,
        lambda c: c.save_order_data(EX, ORDER),
        lambda c: c.get_orders(EX),
        [ORDER],
        id="save_order_data",
    ),
    pytest.param(
        BotCache,
        lambda c: c.update_bot("a", {"feed": {"status": "running"}}),
        lambda c: c.get_bots(),
        None,  # checked below: one bot, its feed stamped
        id="update_bot",
    ),
    pytest.param(
        BotCache,
        lambda c: c.mark_opening_position(EX, SYM, "a"),
        lambda c: c.is_opening_position(EX, SYM),
        True,
        id="mark_opening_position",
    ),
]


@pytest.mark.parametrize(("layer", "write", "read", "expected"), IDEMPOTENT_WRITES)
async def test_a_lost_reply_to_an_overwrite_is_resent_and_the_result_is_exact(
    proxy: FaultProxy,
    proxied_settings: CacheSettings,
    layer: type[AccountCache | BotCache],
    write: Call,
    read: Call,
    expected: Any,
) -> None:
    """An overwrite whose reply is lost is resent and succeeds; the stored state is exact."""
    # What the library does: overwrites are idempotent, so they are retried, never raised.
    async with layer(proxied_settings) as cache:
        await write(cache)  # warm-up: connection, start-up check, scripts cached
        await cache.prepare_cache()
        proxy.drop_next_reply()
        async with asyncio.timeout(GUARD):
            await write(cache)
        assert proxy.replies_dropped == 1
        got = await read(cache)
    if expected is None:
        assert list(got) == ["a"]
        assert got["a"]["feed"]["status"] == "running"
    else:
        assert got == expected


@pytest.mark.parametrize(("layer", "push", "key"), PUSHES)
async def test_a_lost_reply_to_a_push_is_an_unknown_outcome_applied_once(
    proxy: FaultProxy,
    proxied_settings: CacheSettings,
    admin: Redis,
    keys: KeySpace,
    layer: type[OrdersCache],
    push: Call,
    key: Callable[[KeySpace], str],
) -> None:
    """A push whose reply is lost raises CacheUnknownOutcomeError and is queued exactly once."""
    async with layer(proxied_settings) as cache:
        await cache.ping()  # warm-up
        proxy.drop_next_reply()
        async with asyncio.timeout(GUARD):
            with pytest.raises(CacheUnknownOutcomeError):
                await push(cache)
        assert proxy.replies_dropped == 1
    assert await admin.llen(key(keys)) == 1


async def test_a_lost_reply_to_a_requeue_moves_each_order_back_once(
    proxy: FaultProxy, proxied_settings: CacheSettings, admin: Redis, keys: KeySpace
) -> None:
    """A requeue whose reply is lost is an unknown outcome that moves each order back once."""
    async with OrdersCache(proxied_settings) as cache:
        await cache.push_open_order(QUEUE, ORDER)
        assert await claim_and_crash(cache) == ORDER
        assert await cache.requeue_stale_orders(QUEUE, 3600) == 0  # warm-up: script cached
        proxy.drop_next_reply()
        async with asyncio.timeout(GUARD):
            with pytest.raises(CacheUnknownOutcomeError):
                await cache.requeue_stale_orders(QUEUE, 0)
        assert proxy.replies_dropped == 1
        assert await admin.llen(keys.queue_pending(QUEUE)) == 1
        assert await admin.llen(keys.queue_processing(QUEUE)) == 0
        assert await drain_queue(cache) == [ORDER]


DELETES = [
    pytest.param(
        lambda c: c.mark_opening_position(EX, SYM, "a"),
        lambda c: c.unmark_opening_position(EX, SYM),
        lambda c: c.is_opening_position(EX, SYM),
        False,
        id="unmark_opening_position",
    ),
    pytest.param(
        lambda c: c.update_bot("a", {"feed": {}}),
        lambda c: c.del_bot("a"),
        lambda c: c.get_bot("a"),
        None,
        id="del_bot",
    ),
    pytest.param(
        lambda c: c.update_bot("a", {"feed": {}}),
        lambda c: c.del_status(),
        lambda c: c.get_bots(),
        {},
        id="del_status",
    ),
]


@pytest.mark.parametrize(("setup", "delete", "read", "gone"), DELETES)
async def test_a_bot_delete_whose_reply_was_lost_is_not_reported_as_a_miss(
    proxy: FaultProxy,
    proxied_settings: CacheSettings,
    setup: Call,
    delete: Call,
    read: Call,
    gone: Any,
) -> None:
    """A bot delete whose reply is lost raises CacheUnknownOutcomeError, never False."""
    async with BotCache(proxied_settings) as cache:
        await setup(cache)
        proxy.drop_next_reply()
        async with asyncio.timeout(GUARD):
            with pytest.raises(CacheUnknownOutcomeError):
                await delete(cache)
        assert proxy.replies_dropped == 1
        assert await read(cache) == gone


async def test_a_position_delete_whose_reply_was_lost_is_not_reported_as_a_miss(
    proxy: FaultProxy, proxied_settings: CacheSettings
) -> None:
    """delete_position whose reply is lost never reports False for what it deleted."""
    async with AccountCache(proxied_settings) as cache:
        await cache.upsert_positions(3, [position(), position("ETH/USDT")])
        proxy.drop_next_reply()
        try:
            deleted: bool | None = await cache.delete_position(3, SYM)
        except CacheUnknownOutcomeError:
            deleted = None  # an honest "don't know" is fine too
        assert proxy.replies_dropped == 1
        assert (await cache.get_position(SYM, 3)).volume == 0.0  # this call deleted it...
        assert deleted is not False  # ...so "there was none" would be false


# -- lost replies to pops and reads ---------------------------------------------------------


async def test_a_claim_whose_reply_is_lost_raises_and_keeps_the_order(
    proxy: FaultProxy, proxied_settings: CacheSettings, admin: Redis, keys: KeySpace
) -> None:
    """A claim whose reply is lost raises (block never runs) and the order waits for a requeue."""
    async with OrdersCache(proxied_settings) as cache:
        await cache.push_open_order(QUEUE, "warm-up")
        async with cache.claim_open_order(QUEUE, timeout=1) as item:
            assert item == "warm-up"
        await cache.push_open_order(QUEUE, ORDER)
        proxy.drop_next_reply()
        async with asyncio.timeout(GUARD):
            with pytest.raises(CacheUnknownOutcomeError):
                async with cache.claim_open_order(QUEUE, timeout=1):
                    pytest.fail("the block must not run: the claim's reply was lost")
        assert proxy.replies_dropped == 1
        assert len(await admin.lrange(keys.queue_processing(QUEUE), 0, -1)) == 1
        assert await cache.requeue_stale_orders(QUEUE, 0) == 1
        assert await drain_queue(cache) == [ORDER]


@pytest.mark.parametrize("timeout", [0, 1.0], ids=["non-blocking", "blocking"])
async def test_a_trade_pop_whose_reply_is_lost_raises_instead_of_looking_empty(
    proxy: FaultProxy,
    proxied_settings: CacheSettings,
    admin: Redis,
    keys: KeySpace,
    timeout: float,
) -> None:
    """A trade pop whose reply is lost raises CacheUnknownOutcomeError, never None, and the
    trade it took comes back first (at-least-once: it waited on the processing list)."""
    async with TradesCache(proxied_settings) as cache:
        await cache.push_my_trades_list(7, EX, trade(0))
        assert await cache.pop_my_trade(7, EX, timeout=timeout) == trade(0)  # warm-up
        await cache.push_my_trades_list(7, EX, trade(1))
        await cache.push_my_trades_list(7, EX, trade(2))
        proxy.drop_next_reply()
        async with asyncio.timeout(GUARD):
            with pytest.raises(CacheUnknownOutcomeError):
                await cache.pop_my_trade(7, EX, timeout=timeout)
        assert proxy.replies_dropped == 1
        assert await admin.llen(keys.user_trades("7", EX)) == 1  # trade 1 was taken
        assert await cache.pop_my_trade(7, EX, timeout=timeout) == trade(1)  # given back
        assert await cache.pop_my_trade(7, EX, timeout=timeout) == trade(2)


LOST_READS = [
    pytest.param(
        AccountCache,
        lambda c: c.set_user_balances(3, {"BTC": BTC}),
        lambda c: c.get_user_balance(3, "BTC"),
        BTC,
        id="get_user_balance",
    ),
    pytest.param(
        AccountCache,
        lambda c: c.upsert_positions(3, [position()]),
        lambda c: c.get_positions(3),
        [Position.from_dict({**position().to_dict(), "ex_id": "3"})],
        id="get_positions",
    ),
    pytest.param(
        OrdersCache,
        lambda c: c.save_order_data(EX, ORDER),
        lambda c: c.get_order_status(EX, "A1"),
        ORDER,
        id="get_order_status",
    ),
    pytest.param(
        OrdersCache,
        lambda c: c.push_open_order(QUEUE, ORDER),
        lambda c: c.get_queue_length(QUEUE),
        1,
        id="get_queue_length",
    ),
    pytest.param(
        TradesCache,
        lambda c: c.update_user_trade_status("k", timestamp=STAMP),
        lambda c: c.get_user_trade_status("k"),
        datetime.fromtimestamp(STAMP, UTC),
        id="get_user_trade_status",
    ),
    pytest.param(
        BotCache,
        lambda c: c.block_exchange(EX, SYM, "a"),
        lambda c: c.is_blocked(EX, SYM),
        "a",
        id="is_blocked",
    ),
    pytest.param(
        BotCache,
        lambda c: c.mark_opening_position(EX, SYM, "a"),
        lambda c: c.is_opening_position(EX, SYM),
        True,
        id="is_opening_position",
    ),
]


@pytest.mark.parametrize(("layer", "setup", "read", "expected"), LOST_READS)
async def test_a_lost_reply_to_a_read_is_retried_never_a_miss(
    proxy: FaultProxy,
    proxied_settings: CacheSettings,
    layer: type[AccountCache | BotCache],
    setup: Call,
    read: Call,
    expected: Any,
) -> None:
    """A read whose reply is lost is retried and returns the stored value, never a miss."""
    async with layer(proxied_settings) as cache:
        await setup(cache)
        proxy.drop_next_reply()
        async with asyncio.timeout(GUARD):
            assert await read(cache) == expected
        assert proxy.replies_dropped == 1


@pytest.mark.parametrize(("layer", "setup", "read", "expected"), LOST_READS)
async def test_a_read_on_a_silent_connection_is_an_error_never_a_miss(
    proxy: FaultProxy,
    proxied_settings: CacheSettings,
    layer: type[AccountCache | BotCache],
    setup: Call,
    read: Call,
    expected: Any,
) -> None:
    """A read on a silent connection returns the value or CacheTimeoutError, never a miss."""
    async with layer(proxied_settings) as cache:
        await setup(cache)
        proxy.drop_next_reply(close=False)
        async with asyncio.timeout(GUARD):
            try:
                got = await read(cache)
            except CacheTimeoutError:
                got = expected  # an honest "no answer in time"
        assert got == expected
        assert proxy.replies_dropped == 1
        async with asyncio.timeout(GUARD):
            assert await read(cache) == expected  # the silent connection is not reused


# -- cancelled calls: the connection stays usable, replies never cross, pops keep items ------

CANCELLED_READS = [
    pytest.param(
        AccountCache,
        lambda c: c.set_user_balances(3, {"BTC": BTC, "ETH": ETH}),
        lambda c: c.get_user_balance(3, "BTC"),
        lambda c: c.get_user_balance(3, "ETH"),
        (BTC, ETH),
        id="account",
    ),
    pytest.param(
        OrdersCache,
        lambda c: c.save_order_data(EX, Order(ex_order_id="B2", status="open")),
        lambda c: c.get_order_status(EX, "B2"),
        lambda c: c.get_queue_length(QUEUE),
        (Order(ex_order_id="B2", status="open"), 0),
        id="orders",
    ),
    pytest.param(
        TradesCache,
        lambda c: c.push_trade_list(SYM, EX, trade(1)),
        lambda c: c.get_user_trade_status("k"),
        lambda c: c.get_trades(SYM, EX),
        (None, [trade(1)]),
        id="trades",
    ),
    pytest.param(
        BotCache,
        lambda c: c.block_exchange(EX, SYM, "a"),
        lambda c: c.get_bot("a"),
        lambda c: c.is_blocked(EX, SYM),
        (None, "a"),
        id="bot",
    ),
]


@pytest.mark.parametrize(("layer", "setup", "first", "second", "answers"), CANCELLED_READS)
async def test_a_cancelled_call_never_hands_its_reply_to_the_next_one(
    proxy: FaultProxy,
    proxied_settings: CacheSettings,
    layer: type[AccountCache | BotCache],
    setup: Call,
    first: Call,
    second: Call,
    answers: tuple[Any, Any],
) -> None:
    """A call cancelled in flight leaves its connection usable; replies never cross."""
    async with layer(proxied_settings.replace(max_connections=1)) as cache:
        await setup(cache)
        await first(cache)  # warm-up
        await cancel_in_flight(proxy, first(cache))
        async with asyncio.timeout(GUARD):
            assert await second(cache) == answers[1]
            assert await first(cache) == answers[0]


@pytest.mark.parametrize("timeout", [0, 1.0], ids=["non-blocking", "blocking"])
async def test_a_cancelled_order_pop_does_not_lose_the_order(
    proxy: FaultProxy,
    proxied_settings: CacheSettings,
    admin: Redis,
    keys: KeySpace,
    timeout: float,
) -> None:
    """An order pop cancelled in flight loses no order: it waits on the processing list."""
    async with OrdersCache(proxied_settings.replace(max_connections=1)) as cache:
        await cache.push_open_order(QUEUE, "warm-up")
        assert await cache.pop_open_order(QUEUE, timeout=timeout) == "warm-up"
        await cache.push_open_order(QUEUE, ORDER)
        await cache.push_open_order(QUEUE, "B2")
        await cancel_in_flight(proxy, cache.pop_open_order(QUEUE, timeout=timeout))
        async with asyncio.timeout(GUARD):
            assert await cache.pop_open_order(QUEUE, timeout=timeout) == "B2"
        assert len(await admin.lrange(keys.queue_processing(QUEUE), 0, -1)) == 1
        assert await cache.requeue_stale_orders(QUEUE, 0) == 1
        assert await drain_queue(cache) == [ORDER]


async def lengths_become(admin: Redis, lists: tuple[str, str], wanted: tuple[int, int]) -> None:
    lengths = (await admin.llen(lists[0]), await admin.llen(lists[1]))
    while lengths != wanted:
        await asyncio.sleep(0.005)
        lengths = (await admin.llen(lists[0]), await admin.llen(lists[1]))


async def test_an_order_pop_cancelled_while_acknowledging_gives_the_order_back(
    proxy: FaultProxy, proxied_settings: CacheSettings, admin: Redis, keys: KeySpace
) -> None:
    """Cancelled after the server ran the acknowledgement (its reply held back), a pop hands
    the order back to the head of the queue: the next pop gets it, no requeue needed."""
    pending, processing = keys.queue_pending(QUEUE), keys.queue_processing(QUEUE)
    async with OrdersCache(proxied_settings) as cache:
        await cache.push_open_order(QUEUE, ORDER)
        await cache.push_open_order(QUEUE, "B2")
        proxy.set_delay(0.1)  # every reply; the give-back's new connection pays it too
        task = asyncio.ensure_future(cache.pop_open_order(QUEUE, timeout=0))
        async with asyncio.timeout(GUARD):
            # taken and acknowledged on the server: on neither list, its reply on the way
            await lengths_become(admin, (pending, processing), (1, 0))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        proxy.set_delay(0)
        assert await admin.llen(processing) == 0
        async with asyncio.timeout(GUARD):
            assert await drain_queue(cache) == [ORDER, "B2"]  # back at the head, in order


TRADE_TAKES = [
    pytest.param(lambda c: c.pop_my_trade(7, EX), id="pop_my_trade-non-blocking"),
    pytest.param(lambda c: c.pop_my_trade(7, EX, timeout=1), id="pop_my_trade-blocking"),
    pytest.param(lambda c: c.get_trades(SYM, EX), id="get_trades-drain"),
]


@pytest.mark.parametrize("take", TRADE_TAKES)
async def test_a_cancelled_trade_pop_or_drain_does_not_lose_the_trade(
    proxy: FaultProxy,
    proxied_settings: CacheSettings,
    admin: Redis,
    keys: KeySpace,
    take: Call,
) -> None:
    """A trade pop or drain cancelled in flight loses no trade."""
    async with TradesCache(proxied_settings) as cache:
        await cache.push_my_trades_list(7, EX, trade(0))
        await cache.push_trade_list(SYM, EX, trade(0))
        await take(cache)  # warm-up: both pools connected
        await cache.push_my_trades_list(7, EX, trade(1))
        await cache.push_trade_list(SYM, EX, trade(1))
        await cancel_in_flight(proxy, take(cache))
        async with asyncio.timeout(GUARD):
            got = await take(cache)
        assert got in (trade(1), [trade(1)])


async def test_a_cancelled_lock_acquisition_is_taken_up_by_the_same_bot_with_one_fence(
    proxy: FaultProxy, proxied_settings: CacheSettings, admin: Redis, keys: KeySpace
) -> None:
    """A cancelled lock acquisition is taken up by the same bot with one fence, never two."""
    # The cancelled script ran on the server: the lock is held by "a" (with its TTL), which
    # takes it up again; the next calls on the single connection get their own replies.
    async with BotCache(proxied_settings.replace(max_connections=1)) as cache:
        assert await cache.block_exchange(EX, "WARM/UP", "a") is True  # scripts cached
        await cancel_in_flight(proxy, cache.block_exchange(EX, SYM, "a", ttl=30))
        async with asyncio.timeout(GUARD):
            assert await cache.is_blocked(EX, SYM) == "a"
            assert await cache.block_exchange(EX, SYM, "b", ttl=30) is False
            async with cache.bot_lock(EX, SYM, "a", ttl=30) as lease:
                assert lease.fence == 1
        assert await cache.is_blocked(EX, SYM) == ""
        assert int(await admin.get(keys.bot_lock_fence(EX, SYM)) or 0) == 1


# -- a full server (maxmemory, noeviction): typed errors, nothing half-written ---------------


async def test_order_writes_on_a_full_server_fail_whole_and_no_order_is_lost(
    fast_settings: CacheSettings, admin: Redis, keys: KeySpace
) -> None:
    """Order writes and pops on a full server raise OOM, write nothing half, lose no order."""
    stored = Order(ex_order_id="A1", status="open", volume=0.5)
    async with OrdersCache(fast_settings) as cache:
        await cache.save_order_data(EX, stored)
        await cache.push_open_order(QUEUE, "C3")
        assert await claim_and_crash(cache) == "C3"  # left claimed by a crashed consumer
        await cache.push_open_order(QUEUE, ORDER)
        async with memory_full(admin), asyncio.timeout(GUARD):
            try:  # LREM, then LPUSH: Redis lets a script that already wrote finish
                moved = await cache.requeue_stale_orders(QUEUE, 0)
            except CacheOutOfMemoryError:
                moved = 0
            assert await admin.llen(keys.queue_processing(QUEUE)) == 1 - moved
            with pytest.raises(CacheOutOfMemoryError):
                await cache.save_order_data(EX, Order(ex_order_id="N1", status="open"))
            with pytest.raises(CacheOutOfMemoryError):
                await cache.save_order_data(EX, Order(ex_order_id="A1", status="filled"))
            with pytest.raises(CacheOutOfMemoryError):
                await cache.push_open_order(QUEUE, "B2")
            with pytest.raises(CacheOutOfMemoryError):
                await cache.pop_open_order(QUEUE, timeout=0)
            assert await admin.exists(keys.order(EX, "N1")) == 0
            assert await admin.smembers(keys.order_ids(EX)) == {b"A1"}
            assert await cache.get_order_status(EX, "A1") == stored  # reads still work
            assert await cache.get_queue_length(QUEUE) == 1 + moved
        assert await cache.requeue_stale_orders(QUEUE, 0) == 1 - moved
        assert await drain_queue(cache) == ["C3", ORDER]


async def test_account_writes_on_a_full_server_are_refused_or_whole(
    fast_settings: CacheSettings, admin: Redis
) -> None:
    """Account writes on a full server raise CacheOutOfMemoryError or apply whole."""
    # Replacing balances (a script: DEL, then HSET) may succeed: Redis lets a script that
    # already wrote finish. Either way the balances are the old ones or the new ones.
    async with AccountCache(fast_settings) as cache:
        await cache.set_user_balances(3, {"BTC": BTC})
        async with memory_full(admin), asyncio.timeout(GUARD):
            with pytest.raises(CacheOutOfMemoryError):
                await cache.set_position(4, position())
            with pytest.raises(CacheOutOfMemoryError):
                await cache.upsert_user_account(3, {"BTC": BTC})
            try:
                await cache.set_user_balances(3, {"ETH": ETH})
                expected = {"ETH": ETH}
            except CacheOutOfMemoryError:
                expected = {"BTC": BTC}
            assert await cache.get_user_balances(3) == expected
            assert await cache.get_positions(4) == []
            assert await cache.get_all_positions() == []
            assert await cache.get_all_accounts() == {}


async def test_positions_of_a_new_account_on_a_full_server_are_refused_or_listed(
    fast_settings: CacheSettings, admin: Redis
) -> None:
    """Positions upserted on a full server are refused whole or stored and listed."""
    async with AccountCache(fast_settings) as cache:
        await cache.upsert_positions(3, [position()])
        async with memory_full(admin), asyncio.timeout(GUARD):
            try:
                await cache.upsert_positions(9, [position("ETH/USDT", 2.0)])
                refused = False
            except CacheOutOfMemoryError:
                refused = True
            stored = shape(await cache.get_positions(9))
            listed = [row for row in shape(await cache.get_all_positions()) if row[0] == "9"]
        assert stored == listed
        if refused:
            assert stored == []


async def test_trade_pushes_on_a_full_server_are_refused_and_nothing_is_lost(
    fast_settings: CacheSettings, admin: Redis, keys: KeySpace
) -> None:
    """Trade pushes on a full server raise CacheOutOfMemoryError; no trade is lost."""
    # A user-trade pop (LPOP) still works; a drain is refused (Redis refuses every command
    # queued in a MULTI when out of memory) and its trades stay listed.
    async with TradesCache(fast_settings) as cache:
        await cache.push_trade_list(SYM, EX, trade(1))
        await cache.push_my_trades_list(7, EX, trade(2))
        async with memory_full(admin), asyncio.timeout(GUARD):
            with pytest.raises(CacheOutOfMemoryError):
                await cache.push_trade_list(SYM, EX, trade(3))
            with pytest.raises(CacheOutOfMemoryError):
                await cache.push_my_trades_list(7, EX, trade(4))
            with pytest.raises(CacheOutOfMemoryError):
                await cache.update_trade_status(EX)
            with pytest.raises(CacheOutOfMemoryError):
                await cache.get_trades(SYM, EX)
            assert await cache.pop_my_trade(7, EX) == trade(2)
            assert await cache.pop_my_trade(7, EX) is None
            assert await cache.get_trade_status(EX) is None
            assert await admin.llen(keys.trades(EX, SYM)) == 1
        assert await cache.get_trades(SYM, EX) == [trade(1)]
        assert await admin.exists(keys.trades(EX, SYM), keys.user_trades("7", EX)) == 0


async def test_bot_locks_on_a_full_server_are_not_half_taken(
    fast_settings: CacheSettings, admin: Redis, keys: KeySpace
) -> None:
    """Lock calls on a full server raise CacheOutOfMemoryError and never half-take a lock."""
    async with BotCache(fast_settings) as cache:
        await cache.update_bot("a", {"feed": {"status": "old"}})
        async with memory_full(admin), asyncio.timeout(GUARD):
            with pytest.raises(CacheOutOfMemoryError):
                await cache.block_exchange(EX, SYM, "a", ttl=30)
            with pytest.raises(CacheOutOfMemoryError):
                async with cache.bot_lock(EX, SYM, "a", ttl=30):
                    pytest.fail("the block must not run")
            with pytest.raises(CacheOutOfMemoryError):
                await cache.update_bot("a", {"feed": {"status": "new"}})
            assert await cache.is_blocked(EX, SYM) == ""
            assert await cache.get_blocks() == []
        lock, fence = keys.bot_lock(EX, SYM), keys.bot_lock_fence(EX, SYM)
        assert await admin.exists(lock, fence, keys.bot_locks()) == 0
        status = await cache.get_bot("a")
        assert status is not None
        assert status["feed"]["status"] == "old"
        async with cache.bot_lock(EX, SYM, "a", ttl=30) as lease:
            assert lease.fence == 1


# -- corrupted bytes and keys of the wrong type under the layers' keys -----------------------

GARBAGE = b"\xff\xfe\x00 not json {"

WRONG_TYPES = [
    pytest.param(
        AccountCache, KeySpace.accounts, lambda c: c.get_full_account(3, "BTC"), id="accounts-get"
    ),
    pytest.param(
        AccountCache, KeySpace.accounts, lambda c: c.get_all_accounts(), id="accounts-all"
    ),
    pytest.param(
        AccountCache, KeySpace.accounts, lambda c: c.upsert_user_account(3, {}), id="accounts-set"
    ),
    pytest.param(
        AccountCache,
        lambda k: k.balances("3"),
        lambda c: c.get_user_balance(3, "BTC"),
        id="balances-get",
    ),
    pytest.param(
        AccountCache, lambda k: k.balances("3"), lambda c: c.get_user_balances(3), id="balances-all"
    ),
    pytest.param(
        AccountCache, lambda k: k.positions("3"), lambda c: c.get_position(SYM, 3), id="position"
    ),
    pytest.param(
        AccountCache, lambda k: k.positions("3"), lambda c: c.get_positions(3), id="positions"
    ),
    pytest.param(
        AccountCache,
        lambda k: k.positions("3"),
        lambda c: c.set_position(3, position()),
        id="positions-set",
    ),
    pytest.param(
        AccountCache,
        KeySpace.position_exchanges,
        lambda c: c.get_all_positions(),
        id="position-index-all",
    ),
    pytest.param(
        OrdersCache,
        lambda k: k.order(EX, "A1"),
        lambda c: c.save_order_data(EX, ORDER),
        id="order-save",
    ),
    pytest.param(
        OrdersCache, lambda k: k.order_ids(EX), lambda c: c.get_orders(EX), id="order-index-list"
    ),
    pytest.param(
        OrdersCache,
        lambda k: k.queue_pending(QUEUE),
        lambda c: c.get_queue_length(QUEUE),
        id="queue-length",
    ),
    pytest.param(
        OrdersCache,
        lambda k: k.queue_pending(QUEUE),
        lambda c: c.push_open_order(QUEUE, "A1"),
        id="queue-push",
    ),
    pytest.param(
        OrdersCache,
        lambda k: k.queue_pending(QUEUE),
        lambda c: c.pop_open_order(QUEUE, timeout=0),
        id="queue-pop",
    ),
    pytest.param(
        OrdersCache,
        lambda k: k.queue_pending(QUEUE),
        lambda c: c.pop_open_order(QUEUE, timeout=1),
        id="queue-blocking-pop",
    ),
    pytest.param(
        TradesCache,
        lambda k: k.user_trades("7", EX),
        lambda c: c.pop_my_trade(7, EX),
        id="user-trades-pop",
    ),
    pytest.param(
        TradesCache,
        lambda k: k.user_trades("7", EX),
        lambda c: c.pop_my_trade(7, EX, timeout=1),
        id="user-trades-blocking-pop",
    ),
    pytest.param(
        TradesCache,
        lambda k: k.user_trades("7", EX),
        lambda c: c.push_my_trades_list(7, EX, trade(1)),
        id="user-trades-push",
    ),
    pytest.param(
        TradesCache,
        lambda k: k.exchange_trades(EX),
        lambda c: c.push_trade(EX, trade(1)),
        id="exchange-trades-push",
    ),
    pytest.param(
        TradesCache, KeySpace.trade_statuses, lambda c: c.get_trade_status(EX), id="status-get"
    ),
    pytest.param(
        TradesCache,
        KeySpace.trade_statuses,
        lambda c: c.get_all_trade_statuses(),
        id="status-all",
    ),
    pytest.param(
        TradesCache, KeySpace.trade_statuses, lambda c: c.update_trade_status(EX), id="status-set"
    ),
    pytest.param(
        TradesCache,
        KeySpace.user_trade_statuses,
        lambda c: c.get_user_trade_status("k"),
        id="user-status-get",
    ),
    pytest.param(
        TradesCache,
        KeySpace.user_trade_statuses,
        lambda c: c.update_user_trade_status("k"),
        id="user-status-set",
    ),
    pytest.param(
        TradesCache,
        KeySpace.user_trade_statuses,
        lambda c: c.delete_user_trade_statuses(),
        id="user-status-delete",  # MULTI HLEN+DEL: the DEL runs, so the key is cleared
    ),
]


@pytest.mark.parametrize(("layer", "key", "call"), WRONG_TYPES)
async def test_a_key_of_the_wrong_type_is_a_corrupted_value_naming_it(
    settings: CacheSettings,
    raw_redis: Redis,
    layer: type[AccountCache | BotCache],
    key: Callable[[KeySpace], str],
    call: Call,
) -> None:
    """A key of the wrong type raises CacheCorruptedValueError naming it, never the value."""
    name = key(KeySpace(settings.key_prefix))
    await raw_redis.set(name, GARBAGE)
    async with layer(settings) as cache, asyncio.timeout(GUARD):
        with pytest.raises(CacheCorruptedValueError) as caught:
            await call(cache)
    assert caught.value.key == name
    assert "not json" not in str(caught.value)
    assert await raw_redis.get(name) in (GARBAGE, None)  # left for an operator, or deleted


async def _balance_named_garbage(cache: Any, raw_redis: Redis) -> None:
    await cache.set_user_balances(3, {"BTC": BTC})
    await raw_redis.hset(cache._keys.balances("3"), GARBAGE, b"{}")


async def _account_named_garbage(cache: Any, raw_redis: Redis) -> None:
    await cache.upsert_user_account(3, {"BTC": BTC}, update_date="d1")
    await raw_redis.hset(cache._keys.accounts(), GARBAGE, b"{}")


async def _bot_named_garbage(cache: Any, raw_redis: Redis) -> None:
    await cache.update_bot("a", {})
    await raw_redis.hset(cache._keys.bot_statuses(), GARBAGE, b"{}")


async def _position_account_named_garbage(cache: Any, raw_redis: Redis) -> None:
    await cache.upsert_positions(3, [position()])
    await raw_redis.sadd(cache._keys.position_exchanges(), GARBAGE)


async def _listed_positions(cache: Any) -> list[tuple[str | None, str, float]]:
    return shape(await cache.get_all_positions())


@pytest.mark.parametrize(
    ("layer", "plant", "listing", "expected"),
    [
        pytest.param(
            AccountCache,
            _balance_named_garbage,
            lambda c: c.get_user_balances(3),
            {"BTC": BTC},
            id="balances",
        ),
        pytest.param(
            AccountCache,
            _account_named_garbage,
            lambda c: c.get_all_accounts(),
            {"3": {"BTC": BTC, "date": "d1"}},
            id="accounts",
        ),
        pytest.param(BotCache, _bot_named_garbage, lambda c: c.get_bots(), {"a": {}}, id="bots"),
        pytest.param(
            AccountCache,
            _position_account_named_garbage,
            _listed_positions,
            [("3", SYM, 1.0)],
            id="position-index",
        ),
    ],
)
async def test_an_entry_named_with_garbage_bytes_is_skipped_and_counted(
    settings: CacheSettings,
    raw_redis: Redis,
    layer: type[AccountCache | BotCache],
    plant: Callable[[Any, Redis], Awaitable[None]],
    listing: Call,
    expected: Any,
) -> None:
    """A collection entry named with undecodable bytes is skipped and counted, never fatal."""
    async with layer(settings) as cache:
        await plant(cache, raw_redis)
        assert await listing(cache) == expected
        assert cache.corrupted_skipped == 1


async def test_a_garbage_user_trade_status_raises_naming_its_key(
    settings: CacheSettings, raw_redis: Redis
) -> None:
    """An undecodable user-trade status raises CacheCorruptedValueError naming its key."""
    async with TradesCache(settings) as cache:
        await cache.update_user_trade_status("good")
        key = cache._keys.user_trade_statuses()
        await raw_redis.hset(key, "bad", GARBAGE)
        with pytest.raises(CacheCorruptedValueError) as caught:
            await cache.get_user_trade_status("bad")
        assert caught.value.key == key
        assert "not json" not in str(caught.value)
        assert await cache.get_user_trade_status("good") is not None


async def test_garbage_claim_times_are_taken_as_fresh_claims_and_the_order_comes_back(
    settings: CacheSettings, raw_redis: Redis
) -> None:
    """A claim time that is no number is taken as a fresh claim: no crash, no order lost."""
    async with OrdersCache(settings) as cache:
        await cache.push_open_order(QUEUE, ORDER)
        assert await claim_and_crash(cache) == ORDER
        claims = cache._keys.queue_claims(QUEUE)
        [item_id] = await raw_redis.hkeys(claims)
        await raw_redis.hset(claims, item_id, GARBAGE)
        before = time.time()
        assert await cache.requeue_stale_orders(QUEUE, older_than=3600) == 0
        assert before <= float(await raw_redis.hget(claims, item_id)) <= time.time()  # re-dated
        assert await cache.requeue_stale_orders(QUEUE, 0) == 1
        assert await drain_queue(cache) == [ORDER]


async def _corrupt_processing(cache: OrdersCache, raw_redis: Redis) -> str:
    await cache.push_open_order(QUEUE, ORDER)
    name = cache._keys.queue_processing(QUEUE)
    await raw_redis.set(name, GARBAGE)
    return name


async def _corrupt_dead(cache: OrdersCache, raw_redis: Redis) -> str:
    await raw_redis.rpush(cache._keys.queue_pending(QUEUE), b"undecodable item")
    await cache.push_open_order(QUEUE, ORDER)
    name = cache._keys.queue_dead(QUEUE)
    await raw_redis.set(name, GARBAGE)
    return name


async def _corrupt_claims(cache: OrdersCache, raw_redis: Redis) -> str:
    await cache.push_open_order(QUEUE, ORDER)
    await claim_and_crash(cache)
    name = cache._keys.queue_claims(QUEUE)
    await raw_redis.delete(name)
    await raw_redis.set(name, GARBAGE)
    return name


async def _corrupt_order_index(cache: OrdersCache, raw_redis: Redis) -> str:
    name = cache._keys.order_ids(EX)
    await raw_redis.set(name, GARBAGE)
    return name


QUEUE_SIDE_KEYS = [
    pytest.param(
        _corrupt_processing, lambda c: c.pop_open_order(QUEUE, timeout=0), id="processing-pop"
    ),
    pytest.param(_corrupt_dead, lambda c: c.pop_open_order(QUEUE, timeout=0), id="dead-pop"),
    pytest.param(_corrupt_claims, lambda c: c.requeue_stale_orders(QUEUE, 0), id="claims-requeue"),
    pytest.param(
        _corrupt_order_index, lambda c: c.save_order_data(EX, ORDER), id="order-index-save"
    ),
]


@pytest.mark.parametrize(("corrupt", "call"), QUEUE_SIDE_KEYS)
async def test_a_wrong_type_side_key_of_a_queue_or_order_is_the_key_named(
    settings: CacheSettings,
    raw_redis: Redis,
    corrupt: Callable[[OrdersCache, Redis], Awaitable[str]],
    call: Call,
) -> None:
    """A wrong-type processing/dead/claims/id-index key is the key the error names."""
    async with OrdersCache(settings) as cache:
        name = await corrupt(cache, raw_redis)
        with pytest.raises(CacheCorruptedValueError) as caught:
            await call(cache)
    assert caught.value.key == name


async def test_a_wrong_type_side_key_of_a_queue_never_loses_the_orders_behind(
    settings: CacheSettings, raw_redis: Redis
) -> None:
    """A wrong-type processing or dead list raises a typed error and loses no good order."""
    async with OrdersCache(settings) as cache:
        for corrupt in (_corrupt_processing, _corrupt_dead):
            name = await corrupt(cache, raw_redis)
            with pytest.raises(CacheCorruptedValueError):
                await cache.pop_open_order(QUEUE, timeout=0)
            await raw_redis.delete(name)
            assert await cache.requeue_stale_orders(QUEUE, 0) == 0
            assert await drain_queue(cache) == [ORDER]


async def test_an_order_saved_onto_a_wrong_type_index_is_not_half_written(
    settings: CacheSettings, raw_redis: Redis
) -> None:
    """A save failing on a wrong-type order-id index writes no unindexed order data."""
    async with OrdersCache(settings) as cache:
        await _corrupt_order_index(cache, raw_redis)
        with pytest.raises(CacheCorruptedValueError):
            await cache.save_order_data(EX, ORDER)
        assert await raw_redis.exists(cache._keys.order(EX, "A1")) == 0


async def _lock_in_a_block(cache: BotCache) -> None:
    async with cache.bot_lock(EX, SYM, "a", ttl=5):
        pytest.fail("the block must not run")


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c: c.is_blocked(EX, SYM), id="is_blocked"),
        pytest.param(_lock_in_a_block, id="bot_lock"),
    ],
)
async def test_a_lock_holding_garbage_bytes_is_a_corrupted_value_naming_it(
    settings: CacheSettings, raw_redis: Redis, call: Call
) -> None:
    """A lock holding undecodable bytes raises CacheCorruptedValueError naming it."""
    async with BotCache(settings) as cache:
        lock = cache._keys.bot_lock(EX, SYM)
        await raw_redis.set(lock, GARBAGE)
        with pytest.raises(CacheCorruptedValueError) as caught:
            await call(cache)
        assert caught.value.key == lock
        assert await cache.block_exchange(EX, SYM, "a") is False  # still not free to take


async def test_a_lock_holding_garbage_bytes_is_skipped_and_counted_by_get_blocks(
    settings: CacheSettings, raw_redis: Redis
) -> None:
    """get_blocks skips and counts a lock holding undecodable bytes, listing the others."""
    async with BotCache(settings) as cache:
        assert await cache.block_exchange(EX, "ETH/USDT", "b") is True
        await raw_redis.set(cache._keys.bot_lock(EX, SYM), GARBAGE)
        await raw_redis.sadd(cache._keys.bot_locks(), f'["{EX}","{SYM}"]')
        rows = await cache.get_blocks()
        assert [(row["symbol"], row["bot"]) for row in rows] == [("ETH/USDT", "b")]
        assert cache.corrupted_skipped == 1


async def test_a_fence_counter_that_is_no_integer_leaves_no_lock_half_taken(
    settings: CacheSettings, raw_redis: Redis
) -> None:
    """A fence counter holding text fails the acquisition without leaving the lock held."""
    async with BotCache(settings) as cache:
        counter = cache._keys.bot_lock_fence(EX, SYM)
        await raw_redis.set(counter, b"abc")
        with pytest.raises(CacheError) as caught:
            await cache.block_exchange(EX, SYM, "a")
        assert await cache.is_blocked(EX, SYM) == ""  # the caller was told it failed
        assert isinstance(caught.value, CacheCorruptedValueError)
        assert caught.value.key == counter
