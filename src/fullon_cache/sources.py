"""Where ExchangeCache and SymbolCache read reference data from on a miss.

A *source* is any object with the four coroutines of :class:`ReferenceSource`. The default
one, :class:`OrmSource`, reads through fullon_orm's ``DatabaseContext`` and is used
automatically when fullon_orm is installed; :func:`set_default_source` chooses another for the
whole process, and ``cache.source = ...`` for one cache. With no source a miss is just a miss.

Example::

    class Fixed:
        async def get_exchange(self, ex_id): ...
        async def get_user_exchanges(self, user_id): ...
        async def get_cat_exchanges(self): ...
        async def get_symbols(self, cat_ex_id): ...

    set_default_source(Fixed())
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from fullon_cache.models import CatExchange, Exchange, Symbol

__all__ = ["OrmSource", "ReferenceSource", "default_source", "set_default_source"]


class ReferenceSource(Protocol):
    """What the cache asks the Fullon database for. Ids are passed on as the caller gave them.

    Example::

        cache.source = my_source   # any object with these four coroutines
    """

    async def get_exchange(self, ex_id: Any) -> Exchange | None:
        """One exchange account, or None.

        Example::

            await source.get_exchange(3)
        """

    async def get_user_exchanges(self, user_id: Any) -> list[Exchange]:
        """Every exchange account of one user.

        Example::

            await source.get_user_exchanges(7)
        """

    async def get_cat_exchanges(self) -> list[CatExchange]:
        """The whole exchange catalogue.

        Example::

            await source.get_cat_exchanges()
        """

    async def get_symbols(self, cat_ex_id: Any) -> list[Symbol]:
        """Every symbol of one catalogue exchange.

        Example::

            await source.get_symbols(1)
        """


def _model(cls: type[Any], row: Any) -> Any:
    """fullon_orm returns some rows as dicts; the cache hands out models."""
    return cls.from_dict(row) if isinstance(row, Mapping) else row


class OrmSource:
    """Reads through fullon_orm: ``async with DatabaseContext() as db`` per load.

    Example::

        cache.source = OrmSource()
    """

    def __init__(self, context: Callable[[], AbstractAsyncContextManager[Any]] | None = None):
        self._context = context or importlib.import_module("fullon_orm").DatabaseContext

    async def get_exchange(self, ex_id: Any) -> Exchange | None:
        """``db.exchanges.get_by_id(ex_id)``, as a model.

        Example::

            exchange = await OrmSource().get_exchange(3)
        """
        async with self._context() as db:
            row = await db.exchanges.get_by_id(ex_id)
        return None if row is None else _model(Exchange, row)

    async def get_user_exchanges(self, user_id: Any) -> list[Exchange]:
        """``db.exchanges.get_user_exchanges(user_id)``, as models.

        Example::

            accounts = await OrmSource().get_user_exchanges(7)
        """
        async with self._context() as db:
            rows = await db.exchanges.get_user_exchanges(user_id)
        return [_model(Exchange, row) for row in rows]

    async def get_cat_exchanges(self) -> list[CatExchange]:
        """``db.exchanges.get_cat_exchanges(all=True)``, as models.

        Example::

            catalogue = await OrmSource().get_cat_exchanges()
        """
        async with self._context() as db:
            rows = await db.exchanges.get_cat_exchanges(all=True)
        return [_model(CatExchange, row) for row in rows]

    async def get_symbols(self, cat_ex_id: Any) -> list[Symbol]:
        """``db.symbols.get_by_exchange_id(cat_ex_id)``, as models.

        Example::

            symbols = await OrmSource().get_symbols(1)
        """
        async with self._context() as db:
            rows = await db.symbols.get_by_exchange_id(cat_ex_id)
        return [_model(Symbol, row) for row in rows]


_chosen: list[ReferenceSource | None] = []


def set_default_source(source: ReferenceSource | None) -> None:
    """Use ``source`` for every cache that was not given one (None: no source at all).

    Example::

        set_default_source(OrmSource())
    """
    _chosen[:] = [source]


def default_source() -> ReferenceSource | None:
    """The chosen default, else an :class:`OrmSource` when fullon_orm is importable, else None.

    Example::

        default_source()   # None here: fullon_orm is not installed
    """
    if not _chosen:
        try:
            orm = importlib.import_module("fullon_orm")
        except ImportError:
            orm = None
        # A stray folder named fullon_orm imports as an empty namespace package.
        found = orm is not None and hasattr(orm, "DatabaseContext")
        _chosen.append(OrmSource() if found else None)
    return _chosen[0]
