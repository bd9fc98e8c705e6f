"""Every Redis key and pub/sub channel fullon_cache uses, and the rules for identifiers.

All names start with the namespace (``REDIS_KEY_PREFIX``, default ``fullon``) followed by ``:``.
A namespace may not contain ``:``, so no namespace's keys can match another's patterns.

Identifiers (exchange names, symbols, ids) may be ``str`` or ``int`` (used as its decimal
string). They are rejected when empty, padded with whitespace, longer than 200 characters, or
when they contain a character that could escape their key, pattern or channel: glob characters
``* ? [ ]``, a backslash, hash-tag braces ``{ }`` or any non-printable character (newline, tab,
NUL...). Plain spaces inside are fine ("Worker A").

Units of atomicity that span several keys share one hash tag ``{...}`` so that they live in the
same Redis Cluster slot.

Example::

    keys = KeySpace("fullon")
    keys.global_errors()              # 'fullon:errors:global'
    keys.pattern("tickers:*")         # 'fullon:tickers:*'
    identifier("BTC/USDT", "symbol")  # 'BTC/USDT'
    identifier(42, "ex_id")           # '42'
"""

from __future__ import annotations

import functools
import re

from fullon_cache.errors import InvalidInputError, InvalidTypeError

__all__ = [
    "COMPLETE_FIELD",
    "MAX_IDENTIFIER_LENGTH",
    "KeySpace",
    "escape_glob",
    "identifier",
    "normalize_symbol",
]

MAX_IDENTIFIER_LENGTH = 200
COMPLETE_FIELD = "\x00complete"
"""Hash field marking a cached collection as a full copy of its source (no identifier can
collide with it: identifiers never contain control characters)."""
_FORBIDDEN = re.compile(r"[*?\[\]{}\\]")
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


def identifier(value: object, name: str, max_length: int = MAX_IDENTIFIER_LENGTH) -> str:
    """Validate one key component and return it as text.

    Raises :class:`InvalidTypeError` for ``None``, ``bool``, floats and containers, and
    :class:`InvalidInputError` for empty or unsafe text.

    Example::

        identifier("binance", "exchange")   # 'binance'
        identifier(7, "bot_id")             # '7'
        identifier("bin*", "exchange")      # raises InvalidInputError
    """
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidTypeError(f"{name} must be a str or an int, not {type(value).__name__}")
    return _checked_text(value, name, max_length)


# Hot loops pass the same few symbols and exchanges on every call: checking each once pays.
# ``typed`` keeps 7 and "7" apart; failures are not cached (they raise).
@functools.lru_cache(maxsize=4096, typed=True)
def _checked_text(value: str | int, name: str, max_length: int) -> str:
    text = str(value) if isinstance(value, int) else value
    if not text:
        raise InvalidInputError(f"{name} must not be empty")
    if text != text.strip():
        raise InvalidInputError(f"{name} must not start or end with whitespace")
    if len(text) > max_length:
        raise InvalidInputError(f"{name} is longer than {max_length} characters")
    forbidden = _FORBIDDEN.search(text)
    if forbidden is not None:
        raise InvalidInputError(f"{name} must not contain {forbidden.group()!r}")
    if not text.isprintable():
        raise InvalidInputError(f"{name} must not contain control characters")
    return text


def normalize_symbol(symbol: str) -> str:
    """The form of a symbol used in trade and OHLCV key names: ``BTC/USDT`` -> ``BTCUSDT``.

    Example::

        normalize_symbol("BTC/USDT") == normalize_symbol("BTCUSDT")   # True
    """
    return symbol.replace("/", "")


def escape_glob(text: str) -> str:
    """Escape ``* ? [ ] \\`` so that ``text`` matches only itself in a SCAN/PSUBSCRIBE pattern.

    Example::

        escape_glob("a*b")   # 'a\\\\*b'
    """
    return _GLOB_SPECIAL.sub(r"\\\1", text)


class KeySpace:
    """The names of one namespace. Pure: no I/O.

    Example::

        keys = KeySpace("tenant_a")
        keys.strip(b"tenant_a:errors:global")   # 'errors:global'
    """

    __slots__ = ("_head", "prefix")

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._head = f"{prefix}:"

    def __repr__(self) -> str:
        return f"KeySpace({self.prefix!r})"

    def pattern(self, glob: str = "*") -> str:
        """A SCAN pattern for keys of this namespace; ``glob`` keeps its glob meaning.

        Example::

            KeySpace("fullon").pattern("tickers:*")   # 'fullon:tickers:*'
        """
        if not glob or not glob.isprintable():
            raise InvalidInputError("a key pattern must be non-empty printable text")
        return f"{escape_glob(self._head)}{glob}"

    def strip(self, key: bytes | str) -> str:
        """Return ``key`` without the namespace (keys come back from Redis as bytes).

        Example::

            KeySpace("fullon").strip(b"fullon:errors:global")   # 'errors:global'
        """
        text = key.decode("utf-8", "backslashreplace") if isinstance(key, bytes) else key
        return text.removeprefix(self._head)

    def global_errors(self) -> str:
        """The capped FIFO list behind ``push_global_error`` / ``pop_global_error``."""
        return f"{self._head}errors:global"

    def metrics(self, publisher: str) -> str:
        """The JSON snapshot of a process's call statistics (``publish_metrics``)."""
        return f"{self._head}metrics:{identifier(publisher, 'publisher')}"

    # Processes: one hash tag, so that a record and both indexes change in one script.

    def process(self, process_id: str) -> str:
        """The hash holding one process record (expires when the process goes quiet)."""
        return f"{self._head}{{processes}}:record:{process_id}"

    def active_processes(self) -> str:
        """Sorted set: process id -> epoch seconds of its last update."""
        return f"{self._head}{{processes}}:active"

    def process_components(self) -> str:
        """Hash: component -> id of its latest registered process."""
        return f"{self._head}{{processes}}:components"

    def process_broadcasts(self, process_type: str) -> str:
        """Pub/sub channel of the messages broadcast to one process type."""
        return f"{self._head}processes:broadcast:{process_type}"

    # Reference data (read through from the Fullon database).

    def exchange(self, ex_id: str) -> str:
        """One exchange account (JSON)."""
        return f"{self._head}exchanges:id:{ex_id}"

    def user_exchanges(self, user_id: str) -> str:
        """Hash: ex_id -> exchange (JSON) of one user, plus COMPLETE_FIELD once loaded."""
        return f"{self._head}exchanges:user:{user_id}"

    def exchange_catalog(self) -> str:
        """Hash: exchange name -> catalogue entry (JSON), plus COMPLETE_FIELD once loaded."""
        return f"{self._head}exchanges:catalog"

    def ws_errors(self, ex_id: str) -> str:
        """The capped FIFO list of one exchange's websocket errors."""
        return f"{self._head}errors:ws:{ex_id}"

    def symbols(self, cat_ex_id: str) -> str:
        """Hash: symbol -> symbol (JSON) of one catalogue exchange, plus COMPLETE_FIELD."""
        return f"{self._head}symbols:{cat_ex_id}"

    # Tickers: per exchange one hash tag for the latest values, their times and the channel.

    def tickers(self, exchange: str) -> str:
        """Hash: symbol -> latest ticker (JSON) of one exchange."""
        return f"{self._head}{{tickers:{exchange}}}:latest"

    def ticker_times(self, exchange: str) -> str:
        """Hash: symbol -> ``time`` of the stored ticker (so older ticks never overwrite it)."""
        return f"{self._head}{{tickers:{exchange}}}:times"

    def ticker_updates(self, exchange: str) -> str:
        """Pub/sub channel: every ticker stored for one exchange (JSON)."""
        return f"{self._head}{{tickers:{exchange}}}:updates"

    def ticker_exchanges(self) -> str:
        """Set: the exchanges that have tickers (no KEYS/SCAN needed to list them)."""
        return f"{self._head}tickers:exchanges"

    def tick_crawlers(self) -> str:
        """The ticker-crawler configuration (JSON)."""
        return f"{self._head}tickers:crawlers"

    # Accounts and positions.

    def accounts(self) -> str:
        """Hash: ex_id -> the account snapshot (JSON) of that exchange account."""
        return f"{self._head}accounts"

    def balances(self, ex_id: str) -> str:
        """Hash: currency -> balance (JSON) of one exchange account."""
        return f"{self._head}balances:{ex_id}"

    def positions(self, ex_id: str) -> str:
        """Hash: symbol -> position (JSON) of one exchange account."""
        return f"{self._head}positions:{ex_id}"

    def position_exchanges(self) -> str:
        """Set: the exchange accounts that have positions (not under ``positions:``, where
        an account id could collide with it)."""
        return f"{self._head}position_accounts"

    # Orders: per exchange one hash tag (order hashes + id index), per queue another.

    def order(self, exchange: str, order_id: str) -> str:
        """Hash of one order: field -> JSON value (expires when the order is canceled)."""
        return f"{self._head}{{orders:{exchange}}}:order:{order_id}"

    def order_ids(self, exchange: str) -> str:
        """Set: the ids of an exchange's stored orders."""
        return f"{self._head}{{orders:{exchange}}}:ids"

    def queue_pending(self, queue: str) -> str:
        """FIFO list of an order queue's waiting items."""
        return f"{self._head}{{oq:{queue}}}:pending"

    def queue_processing(self, queue: str) -> str:
        """List of the items consumers took but did not acknowledge yet."""
        return f"{self._head}{{oq:{queue}}}:processing"

    def queue_claims(self, queue: str) -> str:
        """Hash: item id -> epoch seconds it was claimed."""
        return f"{self._head}{{oq:{queue}}}:claims"

    def queue_dead(self, queue: str) -> str:
        """List of undecodable items taken off a queue (kept for inspection)."""
        return f"{self._head}{{oq:{queue}}}:dead"

    # Bots: the locks of an exchange and their fencing counters share one hash tag. The
    # exchange ends at the brace, so ':' in it cannot make two pairs share a key.

    def bot_lock(self, exchange: str, symbol: str) -> str:
        """The lock of one (exchange, symbol): its holder's bot id, with a TTL if leased."""
        return f"{self._head}{{lk:{exchange}}}:lock:{symbol}"

    def bot_lock_fence(self, exchange: str, symbol: str) -> str:
        """Counter incremented on every new acquisition of that lock (the fencing number)."""
        return f"{self._head}{{lk:{exchange}}}:fence:{symbol}"

    def bot_locks(self) -> str:
        """Set: the locks that may be held ([exchange, symbol] as JSON)."""
        return f"{self._head}bots:locks"

    def opening_positions(self) -> str:
        """Hash: [exchange, symbol] (JSON) -> the bot opening a position there."""
        return f"{self._head}bots:opening"

    def bot_statuses(self) -> str:
        """Hash: bot id -> its status (JSON)."""
        return f"{self._head}bots:status"

    # OHLCV: one sorted set per series (score: the bar's timestamp).

    def ohlcv(self, symbol: str, timeframe: str) -> str:
        """Sorted set of one series' bars (JSON ``[ts, o, h, l, c, v]``), by timestamp."""
        return f"{self._head}ohlcv:{{{normalize_symbol(symbol)}}}:{timeframe}"

    def ohlcv_updates(self, symbol: str, timeframe: str) -> str:
        """Pub/sub channel: the bars each update of one series wrote (JSON list)."""
        return f"{self._head}ohlcv:{{{normalize_symbol(symbol)}}}:{timeframe}:updates"

    # Trades.

    # The braces around the first component keep two-part names unambiguous: identifiers
    # may hold ":" (BTC/USDT:USDT) but never braces.

    def trades(self, exchange: str, symbol: str) -> str:
        """FIFO list of one exchange's trades of one symbol (symbol normalized)."""
        return f"{self._head}trades:list:{{{exchange}}}:{normalize_symbol(symbol)}"

    def trades_processing(self, exchange: str, symbol: str) -> str:
        """List of the drains of that trade list nobody acknowledged yet (same hash tag)."""
        return f"{self._head}trades:processing:{{{exchange}}}:{normalize_symbol(symbol)}"

    def exchange_trades(self, exchange: str) -> str:
        """FIFO list of one exchange's trades (any symbol)."""
        return f"{self._head}trades:exchange:{{{exchange}}}"

    def trade_statuses(self) -> str:
        """Hash: trade status key -> ISO time of its last update."""
        return f"{self._head}trades:status"

    def user_trade_statuses(self) -> str:
        """Hash: user-trade status key -> ISO time of its last update."""
        return f"{self._head}trades:user_status"

    def user_trades(self, uid: str, exchange: str) -> str:
        """FIFO list of one user's trades on one exchange."""
        return f"{self._head}trades:user:{{{uid}}}:{exchange}"

    def user_trades_processing(self, uid: str, exchange: str) -> str:
        """List of the pops of that user's queue nobody acknowledged yet (same hash tag)."""
        return f"{self._head}trades:user_processing:{{{uid}}}:{exchange}"
