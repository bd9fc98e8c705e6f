"""TickCache: the latest ticker of every symbol, with pub/sub updates.

Each exchange has one hash of latest tickers, one hash of their times and one update channel,
all under the hash tag ``{tickers:<exchange>}``; a set lists the exchanges that have tickers.
``set_ticker`` is one round trip: the index update, pipelined with a script that stores the tick
unless a newer one is stored and publishes it. The index goes first, so a tick is never stored
unlisted (a server that runs out of memory in between refuses the script). Readers always get
the newest stored tick; ``max_age`` turns an old one into :class:`TickerStaleError`. Pub/sub is
best effort: a stream re-reads stored state after it resubscribes, and never goes backwards per
symbol.

Example::

    async with TickCache() as cache:
        await cache.set_ticker(Tick(symbol="BTC/USDT", exchange="binance", price=50000.0,
                                    time=time.time()))
        tick = await cache.get_ticker("BTC/USDT", "binance", max_age=5)
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from fullon_cache import validation
from fullon_cache.codecs import decode_model, dumps, encode_model, loads_object, utf8
from fullon_cache.errors import (
    CacheCorruptedValueError,
    CacheError,
    CacheUnavailableError,
    CacheUnknownOutcomeError,
    InvalidInputError,
    InvalidTypeError,
    raise_error_replies,
)
from fullon_cache.keys import identifier
from fullon_cache.log import get_logger
from fullon_cache.models import Symbol, Tick
from fullon_cache.scripts import SET_TICKER, ScriptCall, run_pipelined
from fullon_cache.symbol_cache import SymbolCache

__all__ = ["TickCache", "TickerStaleError"]

logger = get_logger("tick")

_REQUIRED_NUMBERS = ("price", "time")
_OPTIONAL_NUMBERS = ("volume", "bid", "ask", "last", "change", "percentage")
_BATCH = 500  # ticks per pipeline in set_tickers_batch
_MIN_USD_SIZE = 2.0
_RESUBSCRIBE_PAUSE = 0.5


class TickerStaleError(CacheError):
    """The stored ticker is older than the caller's ``max_age``; ``.tick`` and ``.age`` tell.

    Example::

        try:
            tick = await cache.get_ticker("BTC/USDT", "binance", max_age=5)
        except TickerStaleError as stale:
            print(f"last price is {stale.age:.0f} s old")
    """

    def __init__(self, tick: Tick, age: float) -> None:
        super().__init__(f"ticker {tick.symbol} on {tick.exchange} is {age:.1f} s old")
        self.tick = tick
        self.age = age


def _checked_tick(tick: object) -> Tick:
    if not isinstance(tick, Tick):
        raise InvalidTypeError(f"expected a Tick, not {type(tick).__name__}")
    if not isinstance(tick.symbol, str) or not isinstance(tick.exchange, str):
        raise InvalidTypeError("a ticker's symbol and exchange are text")
    identifier(tick.symbol, "tick.symbol")
    identifier(tick.exchange, "tick.exchange")
    return _with_numbers(tick)


def _with_numbers(tick: Tick) -> Tick:
    if not isinstance(tick.symbol, str) or not isinstance(tick.exchange, str):
        raise InvalidTypeError("a ticker's symbol and exchange are text")
    for name in _REQUIRED_NUMBERS:
        validation.number(getattr(tick, name), f"tick.{name}")
    for name in _OPTIONAL_NUMBERS:
        if getattr(tick, name, None) is not None:
            validation.number(getattr(tick, name), f"tick.{name}")
    return tick


def _plainly_valid(tick: Tick) -> bool:
    """The common case checked fast: text names and finite floats (False: check it fully)."""
    if type(tick.symbol) is not str or type(tick.exchange) is not str:
        return False
    return validation.plainly_finite(tick, _REQUIRED_NUMBERS, _OPTIONAL_NUMBERS)


def _decode_tick(raw: bytes | Exception, key: str) -> Tick:
    """A stored tick, validated like one being written (a nonsense price is corruption)."""
    if isinstance(raw, Exception):  # a pipelined read of a key of the wrong type
        raise CacheCorruptedValueError(key, "holds a value of the wrong Redis type")
    tick = decode_model(Tick, raw, key)
    if _plainly_valid(tick):
        return tick
    try:
        return _with_numbers(tick)
    except InvalidInputError as exc:
        raise CacheCorruptedValueError(key, f"not a valid ticker ({exc})") from exc


class TickCache(SymbolCache):
    """Real-time tickers and their updates; the fifth layer of the chain.

    Example::

        async with TickCache() as cache:
            price = await cache.get_price("ETH/USDT")          # freshest of any exchange
            async for tick in cache.stream_ticker_updates("binance", ["ETH/USDT"]):
                print(tick.price)
    """

    # -- writes ---------------------------------------------------------------------------

    def _queue_tick(self, call: ScriptCall, tick: Tick) -> None:
        args = [tick.symbol, repr(float(tick.time)), encode_model(tick)]
        updates = self._keys.ticker_updates(tick.exchange)
        call(
            SET_TICKER, self._ticker_keys(tick.exchange), [*args, updates, self._publish_command()]
        )

    async def set_ticker(self, tick: Tick) -> bool:
        """Store, index and publish a tick in one round trip; False when a newer one is stored.

        Invalid ticks (not a Tick, no symbol/exchange, a missing or non-finite price or time)
        raise and write nothing.

        Example::

            await cache.set_ticker(Tick(symbol="BTC/USDT", exchange="kraken", price=50100.0,
                                        time=time.time(), bid=50099.5, ask=50100.5))
        """
        checked = _checked_tick(tick)
        index = self._keys.ticker_exchanges()

        def build(pipe: Pipeline, call: ScriptCall) -> None:
            pipe.sadd(index, checked.exchange)
            self._queue_tick(call, checked)

        # Resending is harmless: an equal tick is stored again; streams drop the repeat.
        results = await self._run(lambda r: run_pipelined(r, build), idempotent=True, write=True)
        return bool(self._stored(results, [checked])[0])

    async def set_tickers_batch(self, ticks: Iterable[Tick]) -> int:
        """Store many ticks, pipelined (a few round trips per thousand); returns how many
        were stored (older than the stored ones are skipped). All are checked first: one
        invalid tick and nothing is written.

        Example::

            stored = await cache.set_tickers_batch(ticks)
        """
        if not isinstance(ticks, Iterable) or isinstance(ticks, str | bytes | Mapping):
            raise InvalidTypeError(f"expected Ticks, not {type(ticks).__name__}")
        checked = [_checked_tick(tick) for tick in ticks]
        index = self._keys.ticker_exchanges()
        stored = 0
        for start in range(0, len(checked), _BATCH):
            chunk = checked[start : start + _BATCH]

            def build(pipe: Pipeline, call: ScriptCall, chunk: list[Tick] = chunk) -> None:
                pipe.sadd(index, *{tick.exchange for tick in chunk})
                for tick in chunk:
                    self._queue_tick(call, tick)

            results = await self._run(
                lambda r: run_pipelined(r, build), idempotent=True, write=True
            )
            stored += sum(self._stored(results, chunk))
        return stored

    def _stored(self, results: list[Any], ticks: list[Tick]) -> list[int]:
        """The script results of ``ticks`` (1 stored, 0 older), after the index's reply; an
        error reply raises for its key — the other commands of that pipeline did run."""
        keys = [self._ticker_keys(tick.exchange) for tick in ticks]
        raise_error_replies(results, [self._keys.ticker_exchanges()] + [k[0] for k in keys])
        return [
            self._script_outcome(outcome, tick_keys)
            for outcome, tick_keys in zip(results[1:], keys, strict=True)
        ]

    async def update_ticker(self, exchange: str, tick: Tick) -> bool:
        """Compat: store ``tick`` under ``exchange`` (the caller's tick is not changed).

        Example::

            await cache.update_ticker("binance", tick)
        """
        checked = _checked_tick(tick)
        moved = Tick.from_dict({**checked.to_dict(), "exchange": identifier(exchange, "exchange")})
        return await self.set_ticker(moved)

    # -- reads ----------------------------------------------------------------------------

    async def _symbol_and_exchange(
        self, symbol_or_str: Symbol | str, exchange: str | None
    ) -> tuple[str, str | None]:
        """The symbol name and its exchange: given, the Symbol's own, or from its cat_ex_id."""
        if isinstance(symbol_or_str, str):
            name = identifier(symbol_or_str, "symbol")
        elif isinstance(symbol_or_str, Symbol):
            name = identifier(symbol_or_str.symbol, "symbol.symbol")
            if exchange is None:
                exchange = symbol_or_str.exchange_name
            if exchange is None:
                cat = await self._cat_exchange_by_id(
                    identifier(symbol_or_str.cat_ex_id, "cat_ex_id")
                )
                exchange = None if cat is None else cat.name
        else:
            raise InvalidTypeError(f"expected a Symbol or str, not {type(symbol_or_str).__name__}")
        return name, None if exchange is None else identifier(exchange, "exchange")

    async def get_ticker(
        self,
        symbol_or_str: Symbol | str,
        exchange: str | None = None,
        *,
        max_age: float | None = None,
    ) -> Tick | None:
        """The latest ticker of a symbol on an exchange, or None.

        Accepts ``get_ticker(symbol_model)``, ``get_ticker("BTC/USDT", "binance")`` and
        ``get_ticker("BTC/USDT", exchange="kraken")``. With ``max_age`` (seconds) a ticker
        older than that raises :class:`TickerStaleError`. ``time`` comes back as stored.

        Example::

            tick = await cache.get_ticker("BTC/USDT", "binance", max_age=10)
        """
        limit = None if max_age is None else validation.seconds(max_age, "max_age")
        ex: str | None
        if isinstance(symbol_or_str, str) and exchange is not None:  # the hot loop's form
            name, ex = identifier(symbol_or_str, "symbol"), identifier(exchange, "exchange")
        else:
            name, ex = await self._symbol_and_exchange(symbol_or_str, exchange)
        if ex is None:
            if isinstance(symbol_or_str, str):
                raise InvalidInputError("get_ticker needs an exchange for a symbol name")
            return None
        key = self._keys.tickers(ex)
        raw = await self._run(lambda r: r.hget(key, name), idempotent=True, key=key)
        if raw is None:
            return None
        tick = _decode_tick(cast("bytes", raw), key)
        if limit is not None and time.time() - tick.time > limit:
            raise TickerStaleError(tick, time.time() - tick.time)
        return tick

    async def _exchanges_with_tickers(self) -> list[str]:
        """The indexed exchanges; a member that is no exchange name is skipped (and counted)."""
        index = self._keys.ticker_exchanges()
        members = await self._run(lambda r: r.smembers(index), idempotent=True, key=index)
        exchanges = []
        for member in members:
            try:
                exchanges.append(identifier(utf8(member, index), "exchange"))
            except CacheCorruptedValueError as error:
                self._skip_corrupted(error)
            except InvalidInputError as exc:
                self._skip_corrupted(CacheCorruptedValueError(index, f"bad member: {exc}"))
        return sorted(exchanges)

    async def _from_exchanges(self, exchanges: list[str], symbol: str) -> list[Tick]:
        """The ticker of ``symbol`` on each exchange that has one (one round trip)."""
        keys = [self._keys.tickers(ex) for ex in exchanges]
        found = await self._read_many("hget", keys, symbol)
        return self._decoded(
            (key, raw) for key, raw in zip(keys, found, strict=True) if raw is not None
        )

    def _decoded(self, entries: Iterable[tuple[str, Any]]) -> list[Tick]:
        """Decode stored ticks; a corrupted one is skipped (and counted), never fatal."""
        ticks = []
        for key, raw in entries:
            try:
                ticks.append(_decode_tick(raw, key))
            except CacheCorruptedValueError as error:
                self._skip_corrupted(error)
        return ticks

    async def get_price(self, symbol: str, exchange: str | None = None) -> float:
        """The last price of a symbol (0.0 when unknown); without an exchange, the freshest
        ticker of any exchange.

        Example::

            await cache.get_price("BTC/USDT", "binance")   # 50000.0
        """
        name = identifier(symbol, "symbol")
        if exchange is not None:
            tick = await self.get_ticker(name, exchange)
            return 0.0 if tick is None else float(tick.price)
        ticks = await self._from_exchanges(await self._exchanges_with_tickers(), name)
        return float(max(ticks, key=lambda tick: tick.time).price) if ticks else 0.0

    async def get_any_ticker(self, symbol_or_str: Symbol | str) -> Tick | None:
        """The symbol's ticker on its own exchange, else the freshest on any other exchange.

        Example::

            tick = await cache.get_any_ticker("ETH/USDT")
        """
        name, own = await self._symbol_and_exchange(symbol_or_str, None)
        if own is not None:
            mine = await self._from_exchanges([own], name)
            if mine:
                return mine[0]
        others = [ex for ex in await self._exchanges_with_tickers() if ex != own]
        ticks = await self._from_exchanges(others, name)
        return max(ticks, key=lambda tick: tick.time) if ticks else None

    async def get_all_tickers(
        self, exchange_name: str = "", cat_ex_id: int | None = None
    ) -> list[Tick]:
        """Every stored ticker of one exchange (by name or ``cat_ex_id``), or of all of them.

        Example::

            for tick in await cache.get_all_tickers():
                print(tick.exchange, tick.symbol, tick.price)
        """
        if exchange_name:
            exchanges = [identifier(exchange_name, "exchange_name")]
        elif cat_ex_id is not None:
            cat = await self._cat_exchange_by_id(identifier(cat_ex_id, "cat_ex_id"))
            exchanges = [] if cat is None or cat.name is None else [cat.name]
        else:
            exchanges = await self._exchanges_with_tickers()
        keys = [self._keys.tickers(ex) for ex in exchanges]
        entries: list[tuple[str, Any]] = []
        for key, found in zip(keys, await self._read_many("hgetall", keys), strict=True):
            if isinstance(found, Exception):
                entries.append((key, found))
            else:
                entries += [(key, found[field]) for field in sorted(found)]
        return self._decoded(entries)

    async def get_tickers(self, exchange: str = "") -> list[Tick]:
        """Compat alias of :meth:`get_all_tickers`.

        Example::

            ticks = await cache.get_tickers("binance")
        """
        return await self.get_all_tickers(exchange)

    # -- deletes --------------------------------------------------------------------------

    async def delete_ticker(self, symbol_or_str: Symbol | str, exchange: str | None = None) -> bool:
        """Delete one stored ticker; False when there was none.

        Example::

            await cache.delete_ticker("BTC/USDT", "binance")
        """
        name, ex = await self._symbol_and_exchange(symbol_or_str, exchange)
        if ex is None:
            raise InvalidInputError("delete_ticker needs the ticker's exchange")
        return await self._delete_ticker(ex, name)

    async def delete_exchange_tickers(self, exchange: str) -> int:
        """Delete every ticker of an exchange; returns how many there were.

        Example::

            await cache.delete_exchange_tickers("kraken")   # 152
        """
        ex = identifier(exchange, "exchange")
        latest, times = self._keys.tickers(ex), self._keys.ticker_times(ex)
        index = self._keys.ticker_exchanges()

        async def delete(client: Redis) -> list[Any]:
            async with client.pipeline(transaction=False) as pipe:
                pipe.hlen(latest)
                pipe.delete(latest, times)
                pipe.srem(index, ex)
                return await pipe.execute(raise_on_error=False)

        count = (await self._run(delete, idempotent=True, key=latest))[0]
        return 0 if isinstance(count, Exception) else int(count)  # a wrong-type key: gone now

    async def del_exchange_ticker(self, exchange: str) -> int:
        """Compat alias of :meth:`delete_exchange_tickers`.

        Example::

            await cache.del_exchange_ticker("kraken")
        """
        return await self.delete_exchange_tickers(exchange)

    # -- updates --------------------------------------------------------------------------

    async def get_next_ticker(
        self, symbol_or_str: Symbol | str, exchange: str | None = None, timeout: float = 10.0
    ) -> Tick | None:
        """Wait for the next published update of a symbol; None after ``timeout`` seconds.

        Example::

            tick = await cache.get_next_ticker("BTC/USDT", "binance", timeout=5)
        """
        seconds = validation.seconds(timeout, "timeout")
        name, ex = await self._symbol_and_exchange(symbol_or_str, exchange)
        if ex is None:
            raise InvalidInputError("get_next_ticker needs the ticker's exchange")
        channel = self._keys.ticker_updates(ex)
        async with self._subscription(channel) as payloads:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    async for tick in self._ticks(channel, payloads):
                        if tick.symbol == name:
                            return tick
        return None

    async def _ticks(self, channel: str, payloads: AsyncIterator[bytes]) -> AsyncIterator[Tick]:
        async for payload in payloads:
            ticks = self._decoded([(channel, payload)])
            if ticks:
                yield ticks[0]

    def stream_ticker_updates(
        self,
        exchange: str,
        symbols: list[str] | None = None,
        *,
        reconnect_timeout: float = 30.0,
    ) -> AsyncGenerator[Tick, None]:
        """Every update of an exchange's tickers (or of ``symbols`` only), as they come.

        After subscribing — and again after every reconnect — the stored tickers are read,
        so nothing published while the subscription was down is missed for good. Per symbol
        the stream never goes backwards: a tick not newer than the last one yielded is
        dropped. If resubscribing keeps failing for ``reconnect_timeout`` seconds, the last
        error is raised. Close it with ``contextlib.aclosing`` when you stop early.

        Example::

            async with contextlib.aclosing(cache.stream_ticker_updates("binance")) as ticks:
                async for tick in ticks:
                    print(tick.symbol, tick.price)
        """
        ex = identifier(exchange, "exchange")
        wanted = None if symbols is None else {identifier(s, "symbol") for s in symbols}
        limit = validation.seconds(reconnect_timeout, "reconnect_timeout")
        return self._stream(ex, wanted, limit)

    async def _stream(
        self, ex: str, wanted: set[str] | None, limit: float
    ) -> AsyncGenerator[Tick, None]:
        newest: dict[str, float] = {}
        channel = self._keys.ticker_updates(ex)
        failing_since: float | None = None
        while True:
            try:
                async with self._subscription(channel) as payloads:
                    stored = await self.get_all_tickers(ex)
                    failing_since = None
                    for tick in stored:
                        if _advances(tick, wanted, newest):
                            yield tick
                    async for tick in self._ticks(channel, payloads):
                        if _advances(tick, wanted, newest):
                            yield tick
            except (CacheUnavailableError, CacheUnknownOutcomeError) as error:
                now = time.monotonic()
                failing_since = failing_since or now
                if now - failing_since >= limit:
                    raise
                logger.warning("ticker stream lost its subscription", exchange=ex, error=str(error))
                await asyncio.sleep(_RESUBSCRIBE_PAUSE)

    # -- configuration and sizing ---------------------------------------------------------

    async def get_tick_crawlers(self) -> dict[str, Any]:
        """The ticker-crawler configuration ({} when none is stored).

        Example::

            crawlers = await cache.get_tick_crawlers()
        """
        key = self._keys.tick_crawlers()
        raw = await self._run(lambda r: r.get(key), idempotent=True, key=key)
        if raw is None:
            return {}
        return loads_object(cast("bytes", raw), key)

    async def set_tick_crawlers(self, crawlers: Mapping[str, Any]) -> bool:
        """Replace the ticker-crawler configuration.

        Example::

            await cache.set_tick_crawlers({"binance": {"symbols": ["BTC/USDT"]}})
        """
        data = dumps(validation.optional_mapping(crawlers, "crawlers"))
        key = self._keys.tick_crawlers()
        await self._run(lambda r: r.set(key, data), idempotent=True, write=True, key=key)
        return True

    async def round_down(
        self, symbol: str, exchange: str, sizes: list[float], futures: bool
    ) -> tuple[float, float, float]:
        """Sizes (free, used, total) in USD, for the balance checks of the Fullon bots.

        BTC-based, futures and slash-less symbols come back unchanged; otherwise each size
        is valued at the symbol's price, through ``<quote>/USDT`` when the quote is not a USD
        coin. (0, 0, 0) when all sizes are 0, the ticker is unknown, or the first size is
        worth less than 2 USD.

        Example::

            await cache.round_down("ETH/BTC", "binance", [1.0, 0.0, 1.0], futures=False)
        """
        name, ex = identifier(symbol, "symbol"), identifier(exchange, "exchange")
        values = tuple(float(validation.number(size, "sizes[]")) for size in sizes)
        if len(values) != 3:
            raise InvalidInputError("sizes must be three numbers: free, used, total")
        if not any(values):
            return 0.0, 0.0, 0.0
        base, slash, quote = name.partition("/")
        if not slash or base == "BTC" or futures:
            return values[0], values[1], values[2]
        tick = await self.get_ticker(name, ex)
        if tick is None:
            return 0.0, 0.0, 0.0
        rate = 1.0 if "USD" in quote else await self.get_price(f"{quote}/USDT")
        free, used, total = (value * tick.price * rate for value in values)
        return (0.0, 0.0, 0.0) if free < _MIN_USD_SIZE else (free, used, total)


def _advances(tick: Tick, wanted: set[str] | None, newest: dict[str, float]) -> bool:
    """True (and remembered) when ``tick`` is wanted and newer than the last one yielded."""
    if wanted is not None and tick.symbol not in wanted:
        return False
    if tick.symbol in newest and tick.time <= newest[tick.symbol]:
        return False
    newest[tick.symbol] = tick.time
    return True
