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

Available in this release: ``BaseCache`` and ``ProcessCache``. The layers below them are being
built on top of them.

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

Errors
------
Everything raised derives from ``CacheError`` (see ``fullon_cache.errors``): unavailable,
unknown outcome, timeout, corrupted value, out of memory, invalid input, closed. Calls never
hang: each ends within ``REDIS_SOCKET_TIMEOUT`` + 1 s.

More
----
``fullon_cache.docs`` (``QUICK_START``, ``API_REFERENCE``, ... and ``get_all_docs()``),
``fullon_cache.examples`` (runnable ``main()`` coroutines and ``get_all_examples()``), and the
``fullon-cache`` command (``demo``, ``doctor``, ``docs``, ``examples``, ``bench``).
"""

import importlib as _importlib
from importlib.metadata import PackageNotFoundError as _PackageNotFoundError
from importlib.metadata import version as _version
from types import ModuleType as _ModuleType

from fullon_cache.base_cache import BaseCache
from fullon_cache.connection import close_all
from fullon_cache.errors import (
    CacheClosedError,
    CacheCommandError,
    CacheConfigError,
    CacheCorruptedValueError,
    CacheError,
    CacheOutOfMemoryError,
    CacheTimeoutError,
    CacheUnavailableError,
    CacheUnknownOutcomeError,
    InvalidInputError,
    InvalidTypeError,
)
from fullon_cache.process_cache import ProcessCache, ProcessStatus, ProcessType
from fullon_cache.settings import CacheSettings

try:
    __version__ = _version("fullon-cache")
except _PackageNotFoundError:  # pragma: no cover - only when run from a source tree
    __version__ = "0.0.0"

__all__ = [
    "BaseCache",
    "CacheClosedError",
    "CacheCommandError",
    "CacheConfigError",
    "CacheCorruptedValueError",
    "CacheError",
    "CacheOutOfMemoryError",
    "CacheSettings",
    "CacheTimeoutError",
    "CacheUnavailableError",
    "CacheUnknownOutcomeError",
    "InvalidInputError",
    "InvalidTypeError",
    "ProcessCache",
    "ProcessStatus",
    "ProcessType",
    "__version__",
    "close_all",
]

_LAZY_SUBMODULES = {"docs", "examples"}


def __getattr__(name: str) -> _ModuleType:
    """``fullon_cache.docs`` and ``fullon_cache.examples`` load on first access."""
    if name in _LAZY_SUBMODULES:
        return _importlib.import_module(f"fullon_cache.{name}")
    raise AttributeError(f"module 'fullon_cache' has no attribute {name!r}")
