"""Tests of fullon_cache.models and the builtin model classes."""

from __future__ import annotations

import dataclasses
import importlib
import types
import typing
from datetime import date, datetime
from typing import Any, ClassVar

import pytest
from sqlalchemy import Date, DateTime, ForeignKey
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import UserDefinedType

from fullon_cache import _builtin_models, models
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
from fullon_cache.models import datetime_fields, model_fields, orm_models, pick
from tests.factories import FULL_VALUES, WHEN

# The storable fields of every builtin class, in declaration order (the order of to_dict).
FIELDS: dict[type, tuple[str, ...]] = {
    Tick: (
        "symbol", "exchange", "price", "volume", "time",
        "bid", "ask", "last", "change", "percentage",
    ),
    Symbol: (
        "symbol_id", "symbol", "cat_ex_id", "base", "quote", "decimals",
        "updateframe", "backtest", "futures", "only_ticker",
    ),
    Order: (
        "order_id", "ex_order_id", "ex_id", "cat_ex_id", "exchange", "symbol", "side",
        "order_type", "volume", "final_volume", "price", "plimit", "tick", "futures",
        "leverage", "command", "reason", "status", "bot_id", "uid", "timestamp",
    ),
    Trade: (
        "trade_id", "ex_trade_id", "ex_order_id", "uid", "ex_id", "symbol", "order_type",
        "side", "volume", "price", "cost", "fee", "cur_volume", "cur_avg_price",
        "cur_avg_cost", "cur_fee", "roi", "roi_pct", "total_fee", "leverage", "time",
    ),
    Position: (
        "symbol", "cost", "volume", "fee", "count", "price", "timestamp",
        "ex_id", "side", "realized_pnl", "unrealized_pnl",
    ),
    Exchange: ("ex_id", "uid", "cat_ex_id", "name", "test", "active"),
    CatExchange: ("cat_ex_id", "name", "ohlcv_view"),
    Balance: ("currency", "total", "free", "used"),
}  # fmt: skip

# The fields without a default, and a value for each.
REQUIRED: dict[type, dict[str, Any]] = {
    Tick: {"symbol": "BTC/USDT", "exchange": "binance", "price": 50000.0, "time": 1.7e9},
    Symbol: {"symbol": "BTC/USDT", "cat_ex_id": 1},
    Order: {},
    Trade: {},
    Position: {"symbol": "BTC/USDT"},
    Exchange: {},
    CatExchange: {},
    Balance: {"currency": "BTC"},
}

# What an instance built from the required fields alone holds in its other fields.
DEFAULTS: dict[type, dict[str, Any]] = {
    Symbol: {"decimals": 8, "updateframe": "1h", "backtest": 30, "futures": False,
             "only_ticker": False},
    Position: {"cost": 0.0, "volume": 0.0, "fee": 0.0, "count": 0.0, "price": 0.0},
    Exchange: {"test": False, "active": True},
    Balance: {"total": 0.0, "free": 0.0, "used": 0.0},
}  # fmt: skip

FULL = FULL_VALUES

BUILTIN_CLASSES = list(FIELDS)


def _tick(**values: Any) -> Tick:
    return Tick(**REQUIRED[Tick], **values)


# --- the builtin classes -------------------------------------------------------------------


@pytest.mark.parametrize("cls", BUILTIN_CLASSES)
def test_storable_fields_are_pinned(cls: type[Any]) -> None:
    assert model_fields(cls) == frozenset(FIELDS[cls])
    instance = cls(**REQUIRED[cls])
    assert tuple(instance.to_dict()) == FIELDS[cls]


@pytest.mark.parametrize("cls", BUILTIN_CLASSES)
def test_required_fields_are_pinned(cls: type[Any]) -> None:
    required = {
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    assert required == set(REQUIRED[cls])


@pytest.mark.parametrize("cls", BUILTIN_CLASSES)
def test_defaults_of_optional_fields(cls: type[Any]) -> None:
    stored = cls(**REQUIRED[cls]).to_dict()
    expected = dict.fromkeys(FIELDS[cls]) | REQUIRED[cls] | DEFAULTS.get(cls, {})
    assert stored == expected


@pytest.mark.parametrize("cls", BUILTIN_CLASSES)
def test_round_trip_with_every_field_set(cls: type[Any]) -> None:
    assert set(FULL[cls]) == set(FIELDS[cls])
    original = cls(**FULL[cls])
    stored = original.to_dict()
    assert stored == FULL[cls]
    restored = cls.from_dict(stored)
    assert type(restored) is cls
    assert restored == original
    assert restored is not original


def test_to_dict_keeps_datetimes_as_objects() -> None:
    stored = Order(timestamp=WHEN).to_dict()
    assert stored["timestamp"] is WHEN


def test_instances_are_mutable() -> None:
    order = Order(status="open")
    order.status = "closed"
    assert order.to_dict()["status"] == "closed"


def test_to_dict_leaves_out_relationships_and_properties() -> None:
    cat = CatExchange(cat_ex_id=1, name="binance", ohlcv_view="binance_ohlcv")
    symbol_data = Symbol(symbol="BTC/USDT", cat_ex_id=1, cat_exchange=cat).to_dict()
    exchange_data = Exchange(ex_id=1, cat_exchange=cat).to_dict()
    tick_data = _tick(bid=1.0, ask=2.0).to_dict()
    assert "cat_exchange" not in symbol_data
    assert {"exchange_name", "ohlcv_view"}.isdisjoint(symbol_data)
    assert "cat_exchange" not in exchange_data
    assert {"spread", "spread_percentage"}.isdisjoint(tick_data)


def test_from_dict_ignores_unknown_keys_and_relationships() -> None:
    data = {
        "symbol": "BTC/USDT",
        "cat_ex_id": 1,
        "bogus": 3,
        "exchange_name": "binance",
        "cat_exchange": CatExchange(name="binance"),
    }
    symbol = Symbol.from_dict(data)
    assert symbol == Symbol(symbol="BTC/USDT", cat_ex_id=1)
    assert symbol.cat_exchange is None


def test_from_dict_accepts_any_mapping() -> None:
    data = types.MappingProxyType({"currency": "BTC", "free": 1.0})
    assert Balance.from_dict(data) == Balance(currency="BTC", free=1.0)


@pytest.mark.parametrize("cls", [cls for cls in BUILTIN_CLASSES if REQUIRED[cls]])
def test_from_dict_raises_type_error_naming_missing_required_fields(cls: type[Any]) -> None:
    with pytest.raises(TypeError, match="missing required field") as caught:
        cls.from_dict({"bogus": 1})
    for name in REQUIRED[cls]:
        assert name in str(caught.value)


def test_from_dict_raises_when_only_one_required_field_is_missing() -> None:
    data = dict(REQUIRED[Tick])
    del data["time"]
    with pytest.raises(TypeError, match=r"Tick: missing required field\(s\): time$"):
        Tick.from_dict(data)


@pytest.mark.parametrize("cls", [cls for cls in BUILTIN_CLASSES if not REQUIRED[cls]])
def test_from_dict_of_nothing_gives_defaults_when_nothing_is_required(cls: type[Any]) -> None:
    assert cls.from_dict({}) == cls()


# --- Tick ----------------------------------------------------------------------------------


def test_spread_is_ask_minus_bid() -> None:
    tick = _tick(bid=100.0, ask=100.5)
    assert tick.spread == pytest.approx(0.5)
    assert tick.spread_percentage == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("bid", "ask"), [(None, None), (100.0, None), (None, 100.5)], ids=["none", "no-ask", "no-bid"]
)
def test_spread_is_none_unless_bid_and_ask_are_set(bid: float | None, ask: float | None) -> None:
    tick = _tick(bid=bid, ask=ask)
    assert tick.spread is None
    assert tick.spread_percentage is None


@pytest.mark.parametrize("bid", [0.0, -1.0])
def test_spread_percentage_is_none_unless_bid_is_positive(bid: float) -> None:
    tick = _tick(bid=bid, ask=1.0)
    assert tick.spread == pytest.approx(1.0 - bid)
    assert tick.spread_percentage is None


def test_spread_can_be_negative_on_a_crossed_book() -> None:
    tick = _tick(bid=10.0, ask=9.0)
    assert tick.spread == pytest.approx(-1.0)
    assert tick.spread_percentage == pytest.approx(-10.0)


# --- Symbol --------------------------------------------------------------------------------


def test_symbol_names_come_from_its_cat_exchange() -> None:
    cat = CatExchange(cat_ex_id=1, name="binance", ohlcv_view="binance_ohlcv")
    symbol = Symbol(symbol="BTC/USDT", cat_ex_id=1, cat_exchange=cat)
    assert symbol.exchange_name == "binance"
    assert symbol.ohlcv_view == "binance_ohlcv"


def test_symbol_names_are_none_without_cat_exchange() -> None:
    symbol = Symbol(symbol="BTC/USDT", cat_ex_id=1)
    assert symbol.exchange_name is None
    assert symbol.ohlcv_view is None


def test_symbol_names_are_none_when_cat_exchange_lacks_them() -> None:
    symbol = Symbol(symbol="BTC/USDT", cat_ex_id=1, cat_exchange=CatExchange(cat_ex_id=1))
    assert symbol.exchange_name is None
    assert symbol.ohlcv_view is None


# --- choosing the classes ------------------------------------------------------------------


def _fake_orm(**classes: type) -> types.ModuleType:
    module = types.ModuleType("fake_orm_models")
    for name, cls in classes.items():
        setattr(module, name, cls)
    return module


class _OrmTick:
    pass


def test_pick_prefers_the_orm_class() -> None:
    assert pick("Tick", _fake_orm(Tick=_OrmTick)) is _OrmTick


def test_pick_falls_back_to_builtin_when_orm_module_lacks_the_name() -> None:
    assert pick("Order", _fake_orm(Tick=_OrmTick)) is Order


def test_pick_uses_builtin_without_orm_module() -> None:
    assert pick("Balance", None) is Balance


def test_pick_rejects_unknown_model_names_even_when_the_module_has_them() -> None:
    with pytest.raises(KeyError, match="Candle"):
        pick("Candle", _fake_orm(Candle=_OrmTick))


def test_orm_models_is_none_without_fullon_orm() -> None:
    assert orm_models() is None
    assert models.USING_FULLON_ORM is False


def test_orm_models_returns_the_imported_module(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _fake_orm(Tick=_OrmTick)
    imported: list[str] = []

    def import_module(name: str) -> types.ModuleType:
        imported.append(name)
        return fake

    monkeypatch.setattr(importlib, "import_module", import_module)
    assert orm_models() is fake
    assert imported == ["fullon_orm.models"]


@pytest.mark.parametrize("name", [cls.__name__ for cls in BUILTIN_CLASSES])
def test_public_names_are_the_builtin_classes_without_fullon_orm(name: str) -> None:
    assert getattr(models, name) is getattr(_builtin_models, name)
    assert name in models.__all__


# --- model_fields / datetime_fields on other kinds of classes ------------------------------


@pytest.mark.parametrize("cls", BUILTIN_CLASSES)
def test_datetime_fields_of_builtin_classes(cls: type[Any]) -> None:
    expected = {Order: {"timestamp"}, Trade: {"time"}}.get(cls, set())
    assert datetime_fields(cls) == frozenset(expected)


def test_results_are_cached() -> None:
    assert model_fields(Symbol) is model_fields(Symbol)
    assert datetime_fields(Order) is datetime_fields(Order)


class _Stamp(datetime):
    pass


@dataclasses.dataclass
class _Custom:
    label: ClassVar[str] = "not a field"
    at: datetime
    maybe: date | datetime | None = None
    stamp: _Stamp | None = None
    day: date | None = None
    many: list[datetime] = dataclasses.field(default_factory=list)
    parent: datetime | None = dataclasses.field(default=None, metadata={"relationship": True})


def test_fields_of_another_dataclass() -> None:
    assert model_fields(_Custom) == {"at", "maybe", "stamp", "day", "many"}
    # Unions are looked into; containers and plain dates are not datetimes.
    assert datetime_fields(_Custom) == {"at", "maybe", "stamp"}


class _Base(DeclarativeBase):
    pass


class _Opaque(UserDefinedType[object]):
    """A column type that, like every type before SQLAlchemy 2.1, cannot name its python type."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "OPAQUE"

    @property
    def python_type(self) -> type:
        raise NotImplementedError


class _Venue(_Base):
    __tablename__ = "venue"

    venue_id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    deals: Mapped[list[_Deal]] = relationship(back_populates="venue")


class _Deal(_Base):
    __tablename__ = "deal"

    deal_id: Mapped[int] = mapped_column(primary_key=True)
    venue_id: Mapped[int] = mapped_column(ForeignKey("venue.venue_id"))
    price: Mapped[float | None]
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    settled_on: Mapped[date | None] = mapped_column(Date)
    blob: Mapped[Any] = mapped_column(_Opaque())
    venue: Mapped[_Venue] = relationship(back_populates="deals")


def test_sqlalchemy_fields_are_the_columns_not_the_relationships() -> None:
    assert model_fields(_Deal) == {
        "deal_id", "venue_id", "price", "opened_at", "settled_on", "blob",
    }  # fmt: skip
    assert model_fields(_Venue) == {"venue_id", "name"}


def test_sqlalchemy_datetime_fields_skip_types_without_python_type() -> None:
    assert datetime_fields(_Deal) == {"opened_at"}
    assert datetime_fields(_Venue) == frozenset()


def test_sqlalchemy_constructor_rejects_unknown_keywords_so_the_codec_filters() -> None:
    data = {"deal_id": 1, "venue_id": 2, "price": 3.5, "opened_at": WHEN, "note": "extra"}
    with pytest.raises(TypeError, match="note"):
        _Deal(**data)
    deal = _Deal(**{k: v for k, v in data.items() if k in model_fields(_Deal)})
    assert (deal.deal_id, deal.price, deal.opened_at) == (1, 3.5, WHEN)


class _Plain:
    def __init__(
        self,
        first: int,
        /,
        name: str,
        *rest: int,
        size: int = 1,
        when: datetime | None = None,
    ) -> None:
        self.name = name


class _Loose:
    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs


class _Bare:
    pass


def test_plain_class_fields_are_its_keyword_parameters() -> None:
    assert model_fields(_Plain) == {"name", "size", "when"}
    assert datetime_fields(_Plain) == frozenset()


@pytest.mark.parametrize("cls", [_Loose, _Bare])
def test_var_keywords_and_missing_init_give_no_fields(cls: type[Any]) -> None:
    assert model_fields(cls) == frozenset()
    assert datetime_fields(cls) == frozenset()


def test_typing_union_annotations_are_looked_into() -> None:
    # Optional[...] is a typing.Union, not a types.UnionType like ``datetime | None``.
    optional = typing.Optional[datetime]  # noqa: UP045
    legacy = dataclasses.make_dataclass("Legacy", [("at", optional), ("n", int | None)])
    assert typing.get_origin(optional) is typing.Union
    assert datetime_fields(legacy) == {"at"}
    assert model_fields(legacy) == {"at", "n"}
