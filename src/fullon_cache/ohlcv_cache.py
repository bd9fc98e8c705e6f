"""OHLCVCache: candlestick series per symbol and timeframe.

A series is a sorted set scored by the bar's timestamp (epoch seconds), so bars are always in
time order whatever order they arrive in. A bar whose timestamp is stored already replaces it
(the live candle is updated many times), in one script with the cap (the oldest bars beyond
``OHLCV_CAP`` go) and a publication of what was written. ``BTC/USDT`` and ``BTCUSDT`` name the
same series.

Example::

    async with OHLCVCache() as cache:
        await cache.update_ohlcv_bars("BTC/USDT", "1m", [[1700000000, 1, 2, 0.5, 1.5, 10.0]])
        bars = await cache.get_latest_ohlcv_bars("BTC/USDT", "1m", 100)
"""

from __future__ import annotations

import math
import re
from collections.abc import AsyncGenerator, Awaitable, Iterable, Mapping, Sequence
from typing import Any, cast

from redis.asyncio import Redis

from fullon_cache import validation
from fullon_cache.bot_cache import BotCache
from fullon_cache.codecs import dumps, loads
from fullon_cache.errors import (
    CacheCorruptedValueError,
    InvalidInputError,
    InvalidTypeError,
)
from fullon_cache.keys import identifier, normalize_symbol
from fullon_cache.log import get_logger
from fullon_cache.scripts import UPDATE_BARS, run_script

__all__ = ["OHLCVCache"]

logger = get_logger("ohlcv")

_TIMEFRAME = re.compile(r"([1-9]\d*)([smhdw])")
_MAX_GAP_CANDLES = 1_000_000  # a gap search walks candle by candle
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_BATCH = 1000  # bars per script call
_JSON_NUMBERS = (float, int)


def timeframe_seconds(timeframe: object) -> int:
    """Seconds in a timeframe such as ``"1m"``, ``"15m"``, ``"4h"``, ``"1d"``, ``"1w"``.

    Example::

        timeframe_seconds("15m")   # 900
    """
    name = identifier(timeframe, "timeframe")
    match = _TIMEFRAME.fullmatch(name)
    if match is None:
        raise InvalidInputError("timeframe must look like 1m, 15m, 4h, 1d or 1w")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _checked_bar(bar: object) -> list[float]:
    if isinstance(bar, str | bytes) or not isinstance(bar, Sequence):
        raise InvalidTypeError(
            f"a bar is [ts, open, high, low, close, volume], not a {type(bar).__name__}"
        )
    if len(bar) != 6:
        raise InvalidInputError(f"a bar has 6 numbers (ts, o, h, l, c, v), not {len(bar)}")
    values = [float(validation.number(value, "bar value")) for value in bar]
    if values[0] < 0:
        raise InvalidInputError("a bar's timestamp must be >= 0")
    return values


def _plain_bar(bar: Any) -> bool:
    """The fast check of what update_ohlcv_bars writes: 6 JSON numbers, the first >= 0
    (JSON has no NaN or inf); anything else goes through the full check."""
    return (
        type(bar) is list
        and len(bar) == 6
        and all(type(value) in _JSON_NUMBERS for value in bar)
        and bar[0] >= 0
    )


def _decoded_bar(raw: bytes, key: str) -> list[float]:
    bar = loads(raw, key)
    if _plain_bar(bar):
        return [float(value) for value in bar]
    try:
        return _checked_bar(bar)
    except InvalidInputError as exc:
        raise CacheCorruptedValueError(key, f"not a bar ({exc})") from exc


class OHLCVCache(BotCache):
    """Candlestick series; the last layer of the chain.

    Example::

        async with OHLCVCache() as cache:
            bars = await cache.get_ohlcv_bars("ETH/USDT", "1h", since=1700000000)
    """

    OHLCV_CAP = 10_000
    """Bars kept per series (the newest)."""

    def _series(self, symbol: object, timeframe: object) -> tuple[str, str]:
        name = identifier(symbol, "symbol")
        if not normalize_symbol(name):
            raise InvalidInputError("symbol must have characters besides '/'")
        timeframe_seconds(timeframe)
        frame = cast(str, timeframe)
        return self._keys.ohlcv(name, frame), self._keys.ohlcv_updates(name, frame)

    async def update_ohlcv_bars(
        self, symbol: str, timeframe: str, bars: Iterable[Sequence[float]]
    ) -> int:
        """Store bars ``[ts, open, high, low, close, volume]``; a stored bar with the same
        ``ts`` is replaced. Returns how many were written. Every bar is checked first: one
        invalid bar and nothing is written. 1,000 bars go per round trip.

        Example::

            await cache.update_ohlcv_bars("BTC/USDT", "1m", [[1700000040, 1, 2, 0.5, 1.5, 3]])
        """
        key, channel = self._series(symbol, timeframe)
        given: object = bars
        if isinstance(given, str | bytes | Mapping) or not isinstance(given, Iterable):
            raise InvalidTypeError(f"bars must be a list of bars, not {type(given).__name__}")
        checked = [_checked_bar(bar) for bar in given]
        written = 0
        for start in range(0, len(checked), _BATCH):
            chunk = checked[start : start + _BATCH]
            # Writing the same bars again changes nothing: safe to resend.
            written += int(
                await self._run(
                    lambda r: self._write_bars(r, key, channel, chunk),  # noqa: B023 - awaited here
                    idempotent=True,
                    write=True,
                    key=key,
                )
            )
        return written

    def _write_bars(
        self, client: Redis, key: str, channel: str, chunk: list[list[float]]
    ) -> Awaitable[Any]:
        args: list[Any] = [self.OHLCV_CAP, channel, self._publish_command(), dumps(chunk)]
        for bar in chunk:
            args += [repr(bar[0]), dumps(bar)]
        return run_script(client, UPDATE_BARS, [key], args)

    async def _bars(self, key: str, reply: Any) -> list[list[float]]:
        bars = []
        for raw in cast("list[bytes]", reply):
            try:
                bars.append(_decoded_bar(raw, key))
            except CacheCorruptedValueError as error:
                self._skip_corrupted(error)
        return bars

    async def get_latest_ohlcv_bars(
        self, symbol: str, timeframe: str, count: int
    ) -> list[list[float]]:
        """The newest ``count`` bars of a series, oldest first.

        Example::

            await cache.get_latest_ohlcv_bars("BTC/USDT", "1m", count=60)
        """
        key, _ = self._series(symbol, timeframe)
        if isinstance(count, bool) or not isinstance(count, int):
            raise InvalidTypeError("count must be an int")
        if count < 0:
            raise InvalidInputError("count must be >= 0")
        if count == 0:
            return []
        start = -min(count, 2**63)  # Redis ranks are 64-bit
        reply = await self._run(lambda r: r.zrange(key, start, -1), idempotent=True, key=key)
        return await self._bars(key, reply)

    async def get_ohlcv_bars(
        self,
        symbol: str,
        timeframe: str,
        since: float | None = None,
        until: float | None = None,
    ) -> list[list[float]]:
        """The bars with ``since <= ts <= until`` (either bound optional), oldest first.

        Example::

            await cache.get_ohlcv_bars("BTC/USDT", "1h", since=1700000000, until=1700086400)
        """
        key, _ = self._series(symbol, timeframe)
        low = "-inf" if since is None else repr(float(validation.number(since, "since")))
        high = "+inf" if until is None else repr(float(validation.number(until, "until")))
        reply = await self._run(lambda r: r.zrangebyscore(key, low, high), idempotent=True, key=key)
        return await self._bars(key, reply)

    async def get_ohlcv_gaps(
        self, symbol: str, timeframe: str, since: float, until: float
    ) -> list[tuple[float, float]]:
        """The missing candles between ``since`` and ``until`` (inclusive), as ranges
        ``(first missing ts, last missing ts)``; candle times are multiples of the timeframe.

        Example::

            await cache.get_ohlcv_gaps("BTC/USDT", "1m", 1700000000, 1700003600)
            # [(1700000600.0, 1700000720.0)]: three minutes are missing
        """
        step = timeframe_seconds(timeframe)
        first = math.ceil(validation.number(since, "since") / step) * step
        last = math.floor(validation.number(until, "until") / step) * step
        if (last - first) / step > _MAX_GAP_CANDLES:
            raise InvalidInputError(f"a gap search covers at most {_MAX_GAP_CANDLES} candles")
        present = {bar[0] for bar in await self.get_ohlcv_bars(symbol, timeframe, first, last)}
        gaps: list[tuple[float, float]] = []
        start: float | None = None
        for ts in range(first, last + step, step):
            if ts not in present and start is None:
                start = ts
            if ts in present and start is not None:
                gaps.append((float(start), float(ts - step)))
                start = None
        if start is not None:
            gaps.append((float(start), float(last)))
        return gaps

    def stream_ohlcv_updates(
        self, symbol: str, timeframe: str
    ) -> AsyncGenerator[list[float], None]:
        """Every bar written to a series from now on, as it is written (pub/sub: best
        effort; read the series again after a reconnect).

        Example::

            async with contextlib.aclosing(cache.stream_ohlcv_updates("BTC/USDT", "1m")) as s:
                async for bar in s:
                    print(bar)
        """
        _, channel = self._series(symbol, timeframe)
        return self._ohlcv_stream(channel)

    async def _ohlcv_stream(self, channel: str) -> AsyncGenerator[list[float], None]:
        async with self._subscription(channel) as payloads:
            async for payload in payloads:
                for bar in await self._published(channel, payload):
                    yield bar

    async def _published(self, channel: str, payload: bytes) -> list[list[float]]:
        try:
            return _published_bars(payload, channel)
        except CacheCorruptedValueError as error:
            self._skip_corrupted(error)
            return []


def _published_bars(payload: bytes, channel: str) -> list[list[float]]:
    bars = loads(payload, channel)
    if not isinstance(bars, list):
        raise CacheCorruptedValueError(channel, "expected a JSON list of bars")
    try:
        return [_checked_bar(bar) for bar in bars]
    except InvalidInputError as exc:
        raise CacheCorruptedValueError(channel, f"not a bar ({exc})") from exc
