"""The model classes fullon_cache stores and returns: ``fullon_orm``'s when it is installed.

The Fullon services share their models through ``fullon_orm`` (not on PyPI). When it can be
imported, ``Tick``, ``Symbol``, ``Order``, ``Trade``, ``Position``, ``Exchange``,
``CatExchange`` and ``Balance`` here are the classes of ``fullon_orm.models``, so that objects
read from the cache are the ones the services already use; any of these names that
``fullon_orm.models`` lacks, and all of them when the package is absent, are the library's own
dataclasses with the same fields. Type checkers always see the builtin classes.

:func:`model_fields` and :func:`datetime_fields` describe either kind of class, so that the
codec can store only real fields (SQLAlchemy constructors reject unknown keywords) and restore
datetimes.

Example::

    from fullon_cache.models import Tick, USING_FULLON_ORM, model_fields

    tick = Tick(symbol="BTC/USDT", exchange="binance", price=50000.0, time=1700000000.0)
    USING_FULLON_ORM                # False unless fullon_orm is installed
    "price" in model_fields(Tick)   # True
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
import types
import typing
from datetime import datetime
from types import ModuleType
from typing import TYPE_CHECKING, Any

from fullon_cache import _builtin_models

__all__ = [
    "USING_FULLON_ORM",
    "Balance",
    "CatExchange",
    "Exchange",
    "Order",
    "Position",
    "Symbol",
    "Tick",
    "Trade",
    "datetime_fields",
    "model_fields",
    "orm_models",
    "pick",
]

_BUILTINS: dict[str, type] = {
    "Tick": _builtin_models.Tick,
    "Symbol": _builtin_models.Symbol,
    "Order": _builtin_models.Order,
    "Trade": _builtin_models.Trade,
    "Position": _builtin_models.Position,
    "Exchange": _builtin_models.Exchange,
    "CatExchange": _builtin_models.CatExchange,
    "Balance": _builtin_models.Balance,
}
_KEYWORD_KINDS = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def orm_models() -> ModuleType | None:
    """Return ``fullon_orm.models``, or ``None`` when it cannot be imported.

    Example::

        orm_models()   # None without fullon_orm
    """
    try:
        return importlib.import_module("fullon_orm.models")
    except ImportError:
        return None


def pick(name: str, orm_module: ModuleType | None) -> type:
    """The class for model ``name``: ``orm_module``'s when it has one, else the builtin one.

    Raises ``KeyError`` when ``name`` is not one of the models this library knows.

    Example::

        pick("Tick", None) is _builtin_models.Tick   # True
        pick("Order", orm_models())                  # fullon_orm's Order when installed
    """
    builtin = _BUILTINS[name]
    # getattr(None, name, builtin) is builtin: no orm module needs no special case.
    found: type = getattr(orm_module, name, builtin)
    return found


def model_fields(cls: type) -> frozenset[str]:
    """The names of the storable fields of model class ``cls``.

    Dataclasses: their fields but relationships (``field(metadata={"relationship": True})``);
    SQLAlchemy declarative classes: their table's column keys; anything else: the keyword
    parameters of ``__init__``.

    Example::

        model_fields(CatExchange)   # frozenset({'cat_ex_id', 'name', 'ohlcv_view'})
    """
    return _cached_model_fields(cls)


def datetime_fields(cls: type) -> frozenset[str]:
    """The names of the storable fields of ``cls`` whose values may be ``datetime`` objects.

    Dataclasses: fields annotated with ``datetime`` (alone or in a union); SQLAlchemy
    declarative classes: columns whose type's ``python_type`` is ``datetime``; else none.

    Example::

        datetime_fields(Order)   # frozenset({'timestamp'})
    """
    return _cached_datetime_fields(cls)


def built_from_fields(cls: type) -> bool:
    """True when ``cls(**fields)`` is all ``cls.from_dict(fields)`` does for fields already
    limited to :func:`model_fields` (the builtin models): decoding then skips a second pass.

    Example::

        built_from_fields(_builtin_models.Tick)   # True
    """
    return _cached_built_from_fields(cls)


# functools.cache hides the signature from type checkers (any hashable argument would pass,
# a type[T] would not), hence the typed public wrappers above.
@functools.cache
def _cached_built_from_fields(cls: type) -> bool:
    return issubclass(cls, _builtin_models._Storable)  # the package's own base class


@functools.cache
def _cached_model_fields(cls: type) -> frozenset[str]:
    if dataclasses.is_dataclass(cls):
        return frozenset(f.name for f in _builtin_models.stored_fields(cls))
    table = getattr(cls, "__table__", None)
    if table is not None:
        return frozenset(table.columns.keys())
    return _keyword_parameters(cls)


@functools.cache
def _cached_datetime_fields(cls: type) -> frozenset[str]:
    if dataclasses.is_dataclass(cls):
        hints = typing.get_type_hints(cls)
        return frozenset(name for name in model_fields(cls) if _allows_datetime(hints[name]))
    table = getattr(cls, "__table__", None)
    if table is not None:
        return frozenset(c.key for c in table.columns if _python_type(c.type) is datetime)
    return frozenset()


def _keyword_parameters(cls: type[object]) -> frozenset[str]:
    # type[object], not type: mypy rejects reading __init__ from a bare ``type`` value.
    init = inspect.signature(cls.__init__)
    return frozenset(
        p.name for p in init.parameters.values() if p.kind in _KEYWORD_KINDS and p.name != "self"
    )


def _allows_datetime(annotation: object) -> bool:
    # Only unions are looked into: list[datetime] holds a list, not a datetime.
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_allows_datetime(arg) for arg in typing.get_args(annotation))
    return isinstance(annotation, type) and issubclass(annotation, datetime)


def _python_type(column_type: Any) -> type | None:
    # SQLAlchemy < 2.1 (and some custom types) raise instead of answering ``object``.
    try:
        python_type: type = column_type.python_type
    except NotImplementedError:
        return None
    return python_type


_ORM = orm_models()
USING_FULLON_ORM: bool = _ORM is not None

if TYPE_CHECKING:
    from fullon_cache._builtin_models import (
        Balance,
        CatExchange,
        Exchange,
        Order,
        Position,
        Symbol,
        Tick,
        Trade,
    )
else:
    Tick = pick("Tick", _ORM)
    Symbol = pick("Symbol", _ORM)
    Order = pick("Order", _ORM)
    Trade = pick("Trade", _ORM)
    Position = pick("Position", _ORM)
    Exchange = pick("Exchange", _ORM)
    CatExchange = pick("CatExchange", _ORM)
    Balance = pick("Balance", _ORM)
