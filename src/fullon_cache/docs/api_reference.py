"""API reference generated from the live classes, so it always matches the code.

One constant per cache (``BASE_CACHE``, ...) and ``API_REFERENCE`` joining them all.

Example::

    from fullon_cache.docs.api_reference import BASE_CACHE
    print(BASE_CACHE)
"""

from __future__ import annotations

import inspect

from fullon_cache.account_cache import AccountCache
from fullon_cache.base_cache import BaseCache
from fullon_cache.bot_cache import BotCache
from fullon_cache.exchange_cache import ExchangeCache
from fullon_cache.ohlcv_cache import OHLCVCache
from fullon_cache.orders_cache import OrdersCache
from fullon_cache.process_cache import ProcessCache
from fullon_cache.symbol_cache import SymbolCache
from fullon_cache.tick_cache import TickCache
from fullon_cache.trades_cache import TradesCache

__all__ = [
    "ACCOUNT_CACHE",
    "API_REFERENCE",
    "BASE_CACHE",
    "BOT_CACHE",
    "EXCHANGE_CACHE",
    "OHLCV_CACHE",
    "ORDERS_CACHE",
    "PROCESS_CACHE",
    "SYMBOL_CACHE",
    "TICK_CACHE",
    "TRADES_CACHE",
    "describe",
]


def _public_members(cls: type) -> list[tuple[str, object]]:
    return [
        (name, member)
        for name, member in vars(cls).items()
        if not name.startswith("_") and (callable(member) or isinstance(member, property))
    ]


def _describe_member(name: str, member: object) -> str:
    if isinstance(member, property):
        head, doc = f"{name}  (property)", member.__doc__
    else:
        signature = inspect.signature(member, eval_str=True)  # type: ignore[arg-type]
        head, doc = f"{name}{signature}", inspect.getdoc(member)
    body = inspect.cleandoc(doc or "(undocumented)")
    return f"{head}\n" + "\n".join(f"    {line}" if line else "" for line in body.splitlines())


def describe(cls: type) -> str:
    """A plain-text reference of ``cls``: its docstring, then every public method it defines.

    Example::

        print(describe(BaseCache))
    """
    title = f"{cls.__name__}({', '.join(base.__name__ for base in cls.__bases__)})"
    parts = [f"{title}\n{'=' * len(title)}"]
    parts += [doc for doc in [inspect.getdoc(cls)] if doc]
    parts += [_describe_member(name, member) for name, member in _public_members(cls)]
    return "\n\n".join(parts) + "\n"


BASE_CACHE = describe(BaseCache)
PROCESS_CACHE = describe(ProcessCache)
EXCHANGE_CACHE = describe(ExchangeCache)
SYMBOL_CACHE = describe(SymbolCache)
TICK_CACHE = describe(TickCache)
ACCOUNT_CACHE = describe(AccountCache)
ORDERS_CACHE = describe(OrdersCache)
TRADES_CACHE = describe(TradesCache)
BOT_CACHE = describe(BotCache)
OHLCV_CACHE = describe(OHLCVCache)
API_REFERENCE = "\n".join(
    [
        BASE_CACHE,
        PROCESS_CACHE,
        EXCHANGE_CACHE,
        SYMBOL_CACHE,
        TICK_CACHE,
        ACCOUNT_CACHE,
        ORDERS_CACHE,
        TRADES_CACHE,
        BOT_CACHE,
        OHLCV_CACHE,
    ]
)
