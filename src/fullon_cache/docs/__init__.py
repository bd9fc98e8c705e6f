"""Guides bundled with fullon_cache, as plain string constants.

Modules: ``quickstart`` (``GUIDE``), ``api_reference`` (one constant per cache, generated from
the live classes), ``caching_guide``, ``reliability``, ``testing_guide`` and ``migration``.

Example::

    from fullon_cache import docs
    print(docs.QUICK_START)
    sorted(docs.get_all_docs())   # ['API_REFERENCE', 'CACHING_GUIDE', ...]
"""

from __future__ import annotations

from fullon_cache.docs.api_reference import (
    ACCOUNT_CACHE,
    API_REFERENCE,
    BASE_CACHE,
    BOT_CACHE,
    EXCHANGE_CACHE,
    OHLCV_CACHE,
    ORDERS_CACHE,
    PROCESS_CACHE,
    SYMBOL_CACHE,
    TICK_CACHE,
    TRADES_CACHE,
)
from fullon_cache.docs.caching_guide import CACHING_GUIDE
from fullon_cache.docs.migration import MIGRATION_GUIDE
from fullon_cache.docs.quickstart import GUIDE as QUICK_START
from fullon_cache.docs.reliability import RELIABILITY_GUIDE
from fullon_cache.docs.testing_guide import TESTING_GUIDE

__all__ = [
    "ACCOUNT_CACHE",
    "API_REFERENCE",
    "BASE_CACHE",
    "BOT_CACHE",
    "CACHING_GUIDE",
    "EXCHANGE_CACHE",
    "MIGRATION_GUIDE",
    "OHLCV_CACHE",
    "ORDERS_CACHE",
    "PROCESS_CACHE",
    "QUICK_START",
    "RELIABILITY_GUIDE",
    "SYMBOL_CACHE",
    "TESTING_GUIDE",
    "TICK_CACHE",
    "TRADES_CACHE",
    "get_all_docs",
]


def get_all_docs() -> dict[str, str]:
    """Every guide by name.

    Example::

        print(get_all_docs()["TESTING_GUIDE"])
    """
    return {
        "QUICK_START": QUICK_START,
        "API_REFERENCE": API_REFERENCE,
        "CACHING_GUIDE": CACHING_GUIDE,
        "RELIABILITY_GUIDE": RELIABILITY_GUIDE,
        "TESTING_GUIDE": TESTING_GUIDE,
        "MIGRATION_GUIDE": MIGRATION_GUIDE,
    }
