"""Test stand-in for ``fullon_orm``, the Fullon database library (not on PyPI).

The real package cannot be installed here, so the tests put ``tests/stand_ins`` on
``sys.path`` to exercise :class:`fullon_cache.sources.OrmSource` against this tiny in-memory
imitation of the part of fullon_orm's API it uses::

    async with DatabaseContext() as db:
        await db.exchanges.get_by_id(ex_id)              # Exchange | None
        await db.exchanges.get_user_exchanges(user_id)   # list[dict]: rows, as the real one
        await db.exchanges.get_cat_exchanges(all=True)   # list[CatExchange]
        await db.symbols.get_by_exchange_id(cat_ex_id)   # list[Symbol]

Tests fill the module-level tables (``EXCHANGES``, ``CAT_EXCHANGES``, ``SYMBOLS``), read
``CALLS`` (every repository call with its arguments) and ``OPEN_CONTEXTS``, and call
:func:`reset` between tests. The models are ``fullon_cache.models``'s classes. It deliberately
has no ``models`` submodule: ``fullon_cache.models`` keeps its builtin classes.
"""

from __future__ import annotations

import copy
from typing import Any

from fullon_cache.models import CatExchange, Exchange, Symbol

__all__ = [
    "CALLS",
    "CAT_EXCHANGES",
    "EXCHANGES",
    "OPEN_CONTEXTS",
    "SYMBOLS",
    "DatabaseContext",
    "reset",
]

EXCHANGES: dict[int, Exchange] = {}
"""Exchange accounts by ``ex_id``."""
CAT_EXCHANGES: dict[int, CatExchange] = {}
"""The exchange catalogue by ``cat_ex_id``."""
SYMBOLS: dict[int, list[Symbol]] = {}
"""Symbols by ``cat_ex_id``."""
CALLS: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
"""``(method, args, kwargs)`` of every repository call, in order."""
OPEN_CONTEXTS: list[int] = [0]
"""How many DatabaseContexts are entered and not yet left (one-element list)."""


def reset() -> None:
    """Empty every table and the call log."""
    EXCHANGES.clear()
    CAT_EXCHANGES.clear()
    SYMBOLS.clear()
    CALLS.clear()
    OPEN_CONTEXTS[0] = 0


def _record(method: str, *args: Any, **kwargs: Any) -> None:
    if OPEN_CONTEXTS[0] <= 0:
        raise RuntimeError(f"{method} called outside of a DatabaseContext")
    CALLS.append((method, args, kwargs))


class _ExchangeRepository:
    async def get_by_id(self, ex_id: int) -> Exchange | None:
        _record("exchanges.get_by_id", ex_id)
        found = EXCHANGES.get(int(ex_id))
        return None if found is None else copy.deepcopy(found)

    async def get_user_exchanges(self, user_id: int) -> list[dict[str, Any]]:
        # The real repository returns plain dicts here, with a few extra columns.
        _record("exchanges.get_user_exchanges", user_id)
        return [
            {**exchange.to_dict(), "ex_named": exchange.name, "user_id": exchange.uid}
            for exchange in EXCHANGES.values()
            if exchange.uid == int(user_id)
        ]

    async def get_cat_exchanges(
        self,
        exchange: str | None = None,
        all: bool = False,  # noqa: A002 - fullon_orm's own parameter name
    ) -> list[CatExchange]:
        _record("exchanges.get_cat_exchanges", exchange=exchange, all=all)
        return [
            copy.deepcopy(cat)
            for cat in CAT_EXCHANGES.values()
            if (all or exchange is None or cat.name == exchange)
        ]


class _SymbolRepository:
    async def get_by_exchange_id(self, cat_ex_id: int) -> list[Symbol]:
        _record("symbols.get_by_exchange_id", cat_ex_id)
        return copy.deepcopy(SYMBOLS.get(int(cat_ex_id), []))


class DatabaseContext:
    """``async with DatabaseContext() as db``: repositories valid inside the block only."""

    def __init__(self) -> None:
        self.exchanges = _ExchangeRepository()
        self.symbols = _SymbolRepository()

    async def __aenter__(self) -> DatabaseContext:
        OPEN_CONTEXTS[0] += 1
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        OPEN_CONTEXTS[0] -= 1
