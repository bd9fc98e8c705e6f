"""fullon_cache — the async Redis cache the Fullon trading bots and services share state through.

The chain
---------
One connection layer, ``BaseCache``, and one cache per concern, each inheriting everything
above it::

    BaseCache                 connection, lifecycle, key space, codecs, errors, global error queue
     └─ ProcessCache          process registry + heartbeats
         └─ ExchangeCache     exchange reference data (read-through), websocket error queues
             └─ SymbolCache   symbol reference data (read-through), cascade to tickers
                 └─ TickCache real-time tickers + pub/sub
                     └─ AccountCache   balances + positions
                         ├─ OrdersCache     order status + order queues
                         │   └─ TradesCache trade queues + trade statuses
                         └─ BotCache        bot locks, opening-position marks, bot status
                             └─ OHLCVCache  candlestick bars

Every layer is available, from ``BaseCache`` to ``TradesCache`` and ``OHLCVCache``.

Connecting
----------
With no arguments a cache reads ``REDIS_URL`` (or ``REDIS_HOST``/``REDIS_PORT``/``REDIS_DB``,
``REDIS_PASSWORD`` ...) from the environment and a ``.env`` file, the first time one is built::

    from fullon_cache import BaseCache, CacheSettings

    async with BaseCache() as cache:                      # settings from the environment
        await cache.ping()
    async with BaseCache(CacheSettings.from_url("redis://127.0.0.1:6380/0")) as cache: ...
    async with BaseCache(redis=my_redis_client) as cache: ...   # borrowed, never closed

Instances built without a client share one pool per event loop and settings, so opening a
cache around every call is cheap. ``await fullon_cache.close_all()`` closes the pools.

BaseCache
---------
``ping()``, ``test()``, ``info()``, ``get_keys(pattern)``, ``prepare_cache()`` (delete this
namespace), ``flushdb()``, ``push_global_error(msg)`` / ``pop_global_error(timeout)``,
``pipeline()``, ``aclose()`` / ``close()``.

ProcessCache
------------
``register_process(type, component)``, ``update_process(pid, status=, message=, params=)``
(a heartbeat), ``get_process(pid)``, ``get_active_processes(process_type=, component=,
since_minutes=)``, ``stop_process(pid)``, ``cleanup_stale_processes()``,
``get_component_status(component)``, ``get_system_health()``, ``get_metrics()``,
``broadcast_message(type, message)`` and ``async with cache.broadcasts(type) as messages``;
enums ``ProcessType`` and ``ProcessStatus``.

ExchangeCache and SymbolCache
-----------------------------
Reference data read through from the Fullon database on a miss (a *source*: fullon_orm's
``DatabaseContext`` when installed, ``set_default_source(...)`` or ``cache.source = ...``
otherwise), cached for CACHE_TTL_EXCHANGE / CACHE_TTL_SYMBOL seconds; concurrent misses load
once. ``get_exchange(ex_id)``, ``get_exchanges(user_id)``, ``get_cat_exchanges()``,
``get_exchange_by_name(name)``, ``get_cat_ex_id(name)``, ``set_exchange(exchange)``,
``invalidate_exchanges()``, ``push_ws_error(error, ex_id)`` / ``pop_ws_error(ex_id)``;
``get_symbols(exchange)``, ``get_symbols_by_ex_id(cat_ex_id)``, ``get_symbol(symbol,
exchange_name=)``, ``add_symbol(symbol)``, ``update_symbol(symbol)``, ``delete_symbol(symbol)``
(its ticker goes too), ``symbol_exists(symbol)``.

TickCache
---------
``set_ticker(tick)`` (store + index + publish, one round trip; an older tick never replaces a
newer one), ``set_tickers_batch(ticks)``, ``get_ticker(symbol, exchange, max_age=)`` (raises
``TickerStaleError`` when older than ``max_age``), ``get_price(symbol)``,
``get_any_ticker(symbol)``, ``get_all_tickers()``, ``delete_ticker()``,
``delete_exchange_tickers()``, ``get_next_ticker(symbol, exchange, timeout)``,
``stream_ticker_updates(exchange, symbols)`` (resubscribes and resynchronizes; never goes
backwards), ``get_tick_crawlers()`` / ``set_tick_crawlers()``, ``round_down()``; compat
``get_tickers()``, ``update_ticker(exchange, tick)``, ``del_exchange_ticker()``.

AccountCache, OrdersCache, TradesCache
--------------------------------------
Accounts: ``upsert_user_account()``, ``get_full_account()``, ``get_all_accounts()``,
``set_user_balances()``, ``get_user_balance()``, ``get_user_balances()``; positions (one
symbol changes atomically): ``upsert_positions()``, ``upsert_position()``, ``set_position()``,
``get_position()`` (an empty Position on a miss), ``get_positions(ex_id)`` (that account
only), ``get_all_positions()``, ``delete_position()``, ``clean_positions()``.
Orders: ``save_order_data()`` / ``update_order()`` (atomic merges; a canceled order expires
alone), ``save_order()``, ``get_order_status()``, ``get_orders()``, ``delete_order()``; queues
that never lose an order: ``push_open_order()``, ``pop_open_order()``, ``async with
cache.claim_open_order(queue) as order`` (acknowledged when the block exits cleanly),
``requeue_stale_orders()``, ``get_queue_length()``.
Trades: ``push_trade_list()``, ``get_trades()`` (an atomic drain), trade and user-trade
statuses, per-user trade queues (``push_my_trades_list()``, ``pop_my_trade(timeout=)``).

BotCache and OHLCVCache
-----------------------
Bot locks are real leases: ``block_exchange(ex_id, symbol, bot_id, ttl=)`` (False when
another bot holds it), ``is_blocked()`` (the holder or ""; raises when Redis cannot answer),
``unblock_exchange()`` (only the owner, given its id), ``get_blocks()``, and ``async with
cache.bot_lock(ex_id, symbol, bot_id, ttl=) as lease`` (kept alive, ``lease.fence`` grows with
every acquisition, ``LockLostError`` if lost). Opening-position marks and bot status:
``mark_opening_position()``, ``is_opening_position()``, ``update_bot()``, ``get_bots()``.
Candles: ``update_ohlcv_bars(symbol, timeframe, bars)`` (a bar with a stored timestamp
replaces it; capped), ``get_latest_ohlcv_bars()``, ``get_ohlcv_bars(since=, until=)``,
``get_ohlcv_gaps()``, ``stream_ohlcv_updates()``.

Errors
------
Everything raised derives from ``CacheError`` (see ``fullon_cache.errors``): unavailable,
unknown outcome, timeout, corrupted value, out of memory, invalid input, closed. Calls never
hang: each ends within ``REDIS_SOCKET_TIMEOUT`` + 1 s.

More
----
``fullon_cache.docs`` (``QUICK_START``, ``API_REFERENCE``, ... and ``get_all_docs()``),
``fullon_cache.examples`` (runnable ``main()`` coroutines and ``get_all_examples()``), and the
``fullon-cache`` command (``demo``, ``doctor``, ``docs``, ``examples``, ``bench``,
``inspect``).
"""

import importlib as _importlib
from importlib.metadata import PackageNotFoundError as _PackageNotFoundError
from importlib.metadata import version as _version
from types import ModuleType as _ModuleType

from fullon_cache.account_cache import AccountCache
from fullon_cache.base_cache import BaseCache
from fullon_cache.bot_cache import BotCache, Lease
from fullon_cache.connection import close_all
from fullon_cache.errors import (
    CacheCircuitOpenError,
    CacheClosedError,
    CacheCommandError,
    CacheConfigError,
    CacheCorruptedValueError,
    CacheError,
    CacheLockError,
    CacheOutOfMemoryError,
    CacheSourceError,
    CacheTimeoutError,
    CacheUnavailableError,
    CacheUnknownOutcomeError,
    InvalidInputError,
    InvalidTypeError,
    LockHeldError,
    LockLostError,
)
from fullon_cache.exchange_cache import ExchangeCache
from fullon_cache.ohlcv_cache import OHLCVCache
from fullon_cache.orders_cache import OrdersCache
from fullon_cache.process_cache import ProcessCache, ProcessStatus, ProcessType
from fullon_cache.settings import CacheSettings
from fullon_cache.sources import OrmSource, ReferenceSource, set_default_source
from fullon_cache.symbol_cache import SymbolCache
from fullon_cache.tick_cache import TickCache, TickerStaleError
from fullon_cache.trades_cache import TradesCache

try:
    __version__ = _version("fullon-cache")
except _PackageNotFoundError:  # pragma: no cover - only when run from a source tree
    __version__ = "0.0.0"

__all__ = [
    "AccountCache",
    "BaseCache",
    "BotCache",
    "CacheCircuitOpenError",
    "CacheClosedError",
    "CacheCommandError",
    "CacheConfigError",
    "CacheCorruptedValueError",
    "CacheError",
    "CacheLockError",
    "CacheOutOfMemoryError",
    "CacheSettings",
    "CacheSourceError",
    "CacheTimeoutError",
    "CacheUnavailableError",
    "CacheUnknownOutcomeError",
    "ExchangeCache",
    "InvalidInputError",
    "InvalidTypeError",
    "Lease",
    "LockHeldError",
    "LockLostError",
    "OHLCVCache",
    "OrdersCache",
    "OrmSource",
    "ProcessCache",
    "ProcessStatus",
    "ProcessType",
    "ReferenceSource",
    "SymbolCache",
    "TickCache",
    "TickerStaleError",
    "TradesCache",
    "__version__",
    "close_all",
    "set_default_source",
]

_LAZY_SUBMODULES = {"docs", "examples"}


def __getattr__(name: str) -> _ModuleType:
    """``fullon_cache.docs`` and ``fullon_cache.examples`` load on first access."""
    if name in _LAZY_SUBMODULES:
        return _importlib.import_module(f"fullon_cache.{name}")
    raise AttributeError(f"module 'fullon_cache' has no attribute {name!r}")
