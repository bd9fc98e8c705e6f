"""The model classes fullon_cache uses when ``fullon_orm`` is not installed.

Plain mutable dataclasses with the same names and storable fields as the ``fullon_orm``
models. Import them through :mod:`fullon_cache.models`, which picks ``fullon_orm``'s classes
when that package is available.

Example::

    tick = Tick(symbol="BTC/USDT", exchange="binance", price=50000.0, time=1700000000.0)
    Tick.from_dict(tick.to_dict()) == tick   # True
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Self

__all__ = [
    "Balance",
    "CatExchange",
    "Exchange",
    "Order",
    "Position",
    "Symbol",
    "Tick",
    "Trade",
    "stored_fields",
]

_RELATIONSHIP = {"relationship": True}


@functools.cache
def stored_fields(cls: type) -> tuple[dataclasses.Field[Any], ...]:
    """The fields of dataclass ``cls`` that are stored: all but the relationships.

    A relationship is declared with ``field(metadata={"relationship": True})``.

    Example::

        [f.name for f in stored_fields(CatExchange)]   # ['cat_ex_id', 'name', 'ohlcv_view']
    """
    return tuple(f for f in dataclasses.fields(cls) if not f.metadata.get("relationship"))


def _is_required(f: dataclasses.Field[Any]) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


_LAYOUTS: dict[type, tuple[tuple[str, ...], tuple[str, ...]]] = {}


def _layout(cls: type) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The stored field names of ``cls`` and the required ones (computed once per class)."""
    if cls not in _LAYOUTS:
        fields = stored_fields(cls)
        names = tuple(f.name for f in fields)
        _LAYOUTS[cls] = names, tuple(f.name for f in fields if _is_required(f))
    return _LAYOUTS[cls]


class _Storable:
    """``to_dict`` / ``from_dict`` shared by every builtin model."""

    if TYPE_CHECKING:
        # Makes the mixin a DataclassInstance for the type checker; the subclasses provide it.
        __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]

    def to_dict(self) -> dict[str, Any]:
        """Every storable field with its value as-is (datetimes stay ``datetime``).

        Example::

            Balance(currency="BTC", total=1.5).to_dict()
            # {'currency': 'BTC', 'total': 1.5, 'free': 0.0, 'used': 0.0}
        """
        return {name: getattr(self, name) for name in _layout(type(self))[0]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Build an instance from ``data``, ignoring keys that are not storable fields.

        Raises ``TypeError`` when a required field is missing.

        Example::

            Balance.from_dict({"currency": "BTC", "free": 1.0, "unknown": 3})
            # Balance(currency='BTC', total=0.0, free=1.0, used=0.0)
        """
        names, required = _layout(cls)
        missing = [name for name in required if name not in data]
        if missing:
            raise TypeError(f"{cls.__name__}: missing required field(s): {', '.join(missing)}")
        return cls(**{name: data[name] for name in names if name in data})


@dataclass(kw_only=True)
class Tick(_Storable):
    """The latest ticker of one symbol on one exchange; ``time`` is epoch seconds.

    Example::

        tick = Tick(symbol="BTC/USDT", exchange="binance", price=50000.0, time=1700000000.0,
                    bid=49999.0, ask=50001.0)
        tick.spread   # 2.0
    """

    symbol: str
    exchange: str
    price: float
    volume: float | None = None
    time: float
    bid: float | None = None
    ask: float | None = None
    last: float | None = None
    change: float | None = None
    percentage: float | None = None

    @property
    def spread(self) -> float | None:
        """``ask - bid``, or ``None`` unless both are set.

        Example::

            Tick(symbol="X/Y", exchange="e", price=1.0, time=0.0, bid=1.0, ask=1.5).spread  # 0.5
        """
        if self.bid is None or self.ask is None:
            return None
        return self.ask - self.bid

    @property
    def spread_percentage(self) -> float | None:
        """The spread as a percentage of the bid, or ``None`` unless spread is known and bid > 0.

        Example::

            Tick(symbol="X/Y", exchange="e", price=1.0, time=0.0, bid=2.0, ask=2.1)
            # .spread_percentage ≈ 5.0
        """
        spread = self.spread
        if spread is None or self.bid is None or self.bid <= 0:
            return None
        return spread / self.bid * 100


@dataclass(kw_only=True)
class CatExchange(_Storable):
    """A kind of exchange (``binance``, ``kraken``...) from the catalogue.

    Example::

        CatExchange(cat_ex_id=1, name="binance", ohlcv_view="binance_ohlcv")
    """

    cat_ex_id: int | None = None
    name: str | None = None
    ohlcv_view: str | None = None


@dataclass(kw_only=True)
class Symbol(_Storable):
    """A tradable symbol of one catalogue exchange.

    Example::

        symbol = Symbol(symbol="BTC/USDT", cat_ex_id=1, cat_exchange=CatExchange(name="binance"))
        symbol.exchange_name   # 'binance'
    """

    symbol_id: int | None = None
    symbol: str
    cat_ex_id: int
    base: str | None = None
    quote: str | None = None
    decimals: int = 8
    updateframe: str = "1h"
    backtest: int = 30
    futures: bool = False
    only_ticker: bool = False
    cat_exchange: CatExchange | None = field(default=None, metadata=_RELATIONSHIP)

    @property
    def exchange_name(self) -> str | None:
        """The catalogue exchange's name, or ``None`` without ``cat_exchange``.

        Example::

            Symbol(symbol="BTC/USDT", cat_ex_id=1).exchange_name   # None
        """
        return self.cat_exchange.name if self.cat_exchange is not None else None

    @property
    def ohlcv_view(self) -> str | None:
        """The catalogue exchange's OHLCV view, or ``None`` without ``cat_exchange``.

        Example::

            Symbol(symbol="BTC/USDT", cat_ex_id=1,
                   cat_exchange=CatExchange(ohlcv_view="v")).ohlcv_view   # 'v'
        """
        return self.cat_exchange.ohlcv_view if self.cat_exchange is not None else None


@dataclass(kw_only=True)
class Order(_Storable):
    """An order placed by a bot on an exchange; every field is optional.

    Example::

        Order(ex_order_id="abc", symbol="BTC/USDT", side="buy", volume=0.1, status="open")
    """

    order_id: int | None = None
    ex_order_id: str | None = None
    ex_id: int | str | None = None
    cat_ex_id: int | None = None
    exchange: str | None = None
    symbol: str | None = None
    side: str | None = None
    order_type: str | None = None
    volume: float | None = None
    final_volume: float | None = None
    price: float | None = None
    plimit: float | None = None
    tick: float | None = None
    futures: bool | None = None
    leverage: float | None = None
    command: str | None = None
    reason: str | None = None
    status: str | None = None
    bot_id: int | None = None
    uid: int | None = None
    timestamp: datetime | None = None


@dataclass(kw_only=True)
class Trade(_Storable):
    """A fill on an exchange with the running position figures; every field is optional.

    Example::

        Trade(ex_trade_id="t1", symbol="BTC/USDT", side="buy", volume=0.1, price=50000.0)
    """

    trade_id: int | None = None
    ex_trade_id: str | None = None
    ex_order_id: str | None = None
    uid: int | None = None
    ex_id: int | str | None = None
    symbol: str | None = None
    order_type: str | None = None
    side: str | None = None
    volume: float | None = None
    price: float | None = None
    cost: float | None = None
    fee: float | None = None
    cur_volume: float | None = None
    cur_avg_price: float | None = None
    cur_avg_cost: float | None = None
    cur_fee: float | None = None
    roi: float | None = None
    roi_pct: float | None = None
    total_fee: float | None = None
    leverage: float | None = None
    time: float | datetime | None = None


@dataclass(kw_only=True)
class Position(_Storable):
    """The open position in one symbol; ``timestamp`` is epoch seconds.

    Example::

        Position(symbol="BTC/USDT", volume=0.5, price=50000.0, ex_id="1")
    """

    symbol: str
    cost: float = 0.0
    volume: float = 0.0
    fee: float = 0.0
    count: float = 0.0
    price: float = 0.0
    timestamp: float | None = None
    ex_id: str | None = None
    side: str | None = None
    realized_pnl: float | None = None
    unrealized_pnl: float | None = None


@dataclass(kw_only=True)
class Exchange(_Storable):
    """A user's account on a catalogue exchange.

    Example::

        Exchange(ex_id=1, uid=7, cat_ex_id=1, name="main", cat_exchange=CatExchange(name="kraken"))
    """

    ex_id: int | None = None
    uid: int | None = None
    cat_ex_id: int | None = None
    name: str | None = None
    test: bool = False
    active: bool = True
    cat_exchange: CatExchange | None = field(default=None, metadata=_RELATIONSHIP)


@dataclass(kw_only=True)
class Balance(_Storable):
    """The balance of one currency in an account.

    Example::

        Balance(currency="USDT", total=100.0, free=80.0, used=20.0)
    """

    currency: str
    total: float = 0.0
    free: float = 0.0
    used: float = 0.0
