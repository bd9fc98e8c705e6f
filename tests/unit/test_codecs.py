"""JSON (de)serialization, the datetime policy, and building models from stored data."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Self

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import DateTime, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from fullon_cache import models
from fullon_cache.codecs import (
    build_model,
    decode_model,
    decode_text,
    dumps,
    encode_model,
    loads,
    parse_datetime,
    to_utc,
    utc_now,
)
from fullon_cache.errors import CacheCorruptedValueError, InvalidTypeError
from fullon_cache.models import (
    Balance,
    CatExchange,
    Order,
    Symbol,
    Tick,
    Trade,
    model_fields,
)
from tests.factories import FULL_VALUES, WHEN

KEY = "fullon:test:key"
PLUS_TWO = timezone(timedelta(hours=2))

# -- dumps / loads -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        {"price": 1.5, "volume": 0, "name": "BTC/USDT", "ok": True, "none": None},
        [1, "two", 3.0, None, False, {"nested": [1, 2]}],
        'text with ünïcode and "quotes"',
        0,
        -12345678901234,
        1e-12,
        None,
        {},
        [],
    ],
)
def test_dumps_loads_round_trip(value: Any) -> None:
    raw = dumps(value)
    assert isinstance(raw, bytes)
    assert loads(raw, key=KEY) == value
    assert loads(raw.decode(), key=KEY) == value  # text is accepted too


def test_dumps_is_compact_json() -> None:
    assert dumps({"a": 1, "b": [1, 2]}) == b'{"a":1,"b":[1,2]}'


def test_a_naive_datetime_is_taken_to_be_utc() -> None:
    assert dumps(datetime(2024, 5, 1, 12, 30)) == b'"2024-05-01T12:30:00+00:00"'


def test_an_aware_datetime_is_converted_to_utc() -> None:
    local = datetime(2024, 5, 1, 14, 30, 15, 250000, tzinfo=PLUS_TWO)
    assert dumps({"at": local}) == b'{"at":"2024-05-01T12:30:15.250000+00:00"}'


def test_a_utc_datetime_keeps_its_microseconds() -> None:
    assert loads(dumps([WHEN]), key=KEY) == ["2024-05-01T12:30:15.250000+00:00"]


@pytest.mark.parametrize(
    "value",
    [object(), {1, 2}, Decimal("1.5"), b"bytes", {"nested": [object()]}, 2**70],
    ids=["object", "set", "decimal", "bytes", "nested", "int-over-64-bits"],
)
def test_values_json_cannot_hold_raise_invalid_type_error(value: Any) -> None:
    with pytest.raises(InvalidTypeError, match="cannot store a value of this type as JSON"):
        dumps(value)


def test_non_str_dict_keys_are_written_as_text() -> None:
    raw = dumps({1: "a", 2.5: "b", None: "d", -3: {7: "e"}})
    assert loads(raw, key=KEY) == {"1": "a", "2.5": "b", "null": "d", "-3": {"7": "e"}}
    assert loads(dumps({True: "c"}), key=KEY) == {"true": "c"}


@pytest.mark.parametrize(
    "raw",
    [b"{bad json", b"", b"{'single': 1}", b"[1, 2", b"\xff\xfe\x00", "NaN", b"s3cret-bytes"],
)
def test_loads_of_bad_json_is_a_corrupted_value_naming_the_key_only(raw: bytes | str) -> None:
    with pytest.raises(CacheCorruptedValueError) as caught:
        loads(raw, key=KEY)
    assert caught.value.key == KEY
    assert KEY in str(caught.value)
    assert "not valid JSON" in str(caught.value)
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    if text:
        assert text not in str(caught.value)
    assert isinstance(caught.value.__cause__, orjson.JSONDecodeError)


# -- text and datetimes --------------------------------------------------------------------


def test_decode_text() -> None:
    assert decode_text("feed down ✓".encode(), key=KEY) == "feed down ✓"
    assert decode_text(b"", key=KEY) == ""


def test_decode_text_of_bad_utf8_is_a_corrupted_value() -> None:
    with pytest.raises(CacheCorruptedValueError, match="not valid UTF-8") as caught:
        decode_text(b"ok \xff\xfe", key=KEY)
    assert caught.value.key == KEY
    assert "\\xff" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T12:30:15.250000+00:00", WHEN),
        ("2024-05-01T14:30:15.250000+02:00", WHEN),
        ("2024-05-01T12:30:15.250000", WHEN),  # naive: taken to be UTC
        ("2024-05-01T12:30:15.250000Z", WHEN),
        ("2024-05-01", datetime(2024, 5, 1, tzinfo=UTC)),
    ],
)
def test_parse_datetime_returns_aware_utc(text: str, expected: datetime) -> None:
    parsed = parse_datetime(text, key=KEY)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize("text", ["yesterday", "", "2024-13-01", "1714566615"])
def test_parse_datetime_of_bad_text_is_a_corrupted_value(text: str) -> None:
    with pytest.raises(CacheCorruptedValueError, match="invalid ISO-8601") as caught:
        parse_datetime(text, key=KEY)
    assert caught.value.key == KEY


def test_to_utc_and_utc_now() -> None:
    assert to_utc(datetime(2024, 5, 1, 12, 30, 15, 250000)) == WHEN
    assert to_utc(datetime(2024, 5, 1, 14, 30, 15, 250000, tzinfo=PLUS_TWO)).tzinfo is UTC
    assert to_utc(WHEN) == WHEN
    assert to_utc(WHEN).tzinfo is UTC
    before = datetime.now(UTC)
    now = utc_now()
    after = datetime.now(UTC)
    assert now.tzinfo is UTC
    assert before <= now <= after


# -- models --------------------------------------------------------------------------------

FULL = FULL_VALUES

MODEL_CLASSES = [getattr(models, name) for name in models.__all__ if name[0].isupper()]
MODEL_CLASSES = [cls for cls in MODEL_CLASSES if isinstance(cls, type)]


def test_the_samples_cover_every_model_and_every_field() -> None:
    assert set(FULL) == set(MODEL_CLASSES)
    for cls, values in FULL.items():
        assert set(values) == model_fields(cls), cls.__name__
        assert all(value is not None for value in values.values())


@pytest.mark.parametrize("cls", list(FULL), ids=lambda cls: cls.__name__)
def test_encode_decode_round_trip_of_every_model(cls: type[Any]) -> None:
    original = cls(**FULL[cls])
    raw = encode_model(original)
    assert isinstance(raw, bytes)
    decoded = decode_model(cls, raw, key=KEY)
    assert type(decoded) is cls
    assert decoded == original
    assert decoded.to_dict() == original.to_dict()


def test_order_timestamp_comes_back_as_the_same_aware_instant() -> None:
    local = datetime(2024, 5, 1, 14, 30, 15, 250000, tzinfo=PLUS_TWO)
    decoded = decode_model(Order, encode_model(Order(timestamp=local)), key=KEY)
    assert decoded.timestamp == local
    assert decoded.timestamp is not None
    assert decoded.timestamp.tzinfo is UTC


def test_a_naive_order_timestamp_comes_back_as_utc() -> None:
    naive = datetime(2024, 5, 1, 12, 30, 15, 250000)
    decoded = decode_model(Order, encode_model(Order(timestamp=naive)), key=KEY)
    assert decoded.timestamp == WHEN


def test_trade_time_keeps_its_kind() -> None:
    as_float = decode_model(Trade, encode_model(Trade(time=1714566600.5)), key=KEY)
    assert type(as_float.time) is float
    assert as_float.time == 1714566600.5
    as_datetime = decode_model(Trade, encode_model(Trade(time=WHEN)), key=KEY)
    assert isinstance(as_datetime.time, datetime)
    assert as_datetime.time == WHEN


def test_the_cat_exchange_relationship_travels_along() -> None:
    cat = CatExchange(cat_ex_id=2, name="kraken", ohlcv_view="kraken_ohlcv")
    decoded = decode_model(Symbol, encode_model(Symbol(**FULL[Symbol], cat_exchange=cat)), KEY)
    assert decoded.cat_exchange == cat
    assert decoded.exchange_name == "kraken"
    assert decode_model(Symbol, encode_model(Symbol(**FULL[Symbol])), KEY).cat_exchange is None


def test_a_relationship_is_only_set_on_a_model_that_has_it() -> None:
    raw = dumps({**FULL[Balance], "cat_exchange": {"name": "kraken"}})
    assert not hasattr(decode_model(Balance, raw, KEY), "cat_exchange")


def test_a_bad_timestamp_string_is_a_corrupted_value() -> None:
    with pytest.raises(CacheCorruptedValueError, match="ISO-8601") as caught:
        decode_model(Order, b'{"timestamp": "last tuesday"}', key=KEY)
    assert caught.value.key == KEY


@pytest.mark.parametrize("raw", [b"[1, 2]", b"3", b'"text"', b"null", b"true"])
def test_a_payload_that_is_not_an_object_is_a_corrupted_value(raw: bytes) -> None:
    with pytest.raises(CacheCorruptedValueError, match="expected a JSON object for Tick") as e:
        decode_model(Tick, raw, key=KEY)
    assert e.value.key == KEY


def test_a_missing_required_field_is_a_corrupted_value() -> None:
    with pytest.raises(CacheCorruptedValueError, match="does not fit Tick") as caught:
        decode_model(Tick, b'{"symbol": "BTC/USDT", "exchange": "binance"}', key=KEY)
    assert caught.value.key == KEY
    assert isinstance(caught.value.__cause__, TypeError)


def test_bad_json_in_decode_model_is_a_corrupted_value() -> None:
    with pytest.raises(CacheCorruptedValueError, match="not valid JSON"):
        decode_model(Tick, b"{", key=KEY)


def test_build_model_drops_unknown_keys_and_parses_datetime_strings() -> None:
    balance = build_model(Balance, {"currency": "BTC", "total": 1.0, "extra": 5}, key=KEY)
    assert balance == Balance(currency="BTC", total=1.0)
    order = build_model(Order, {"timestamp": "2024-05-01T12:30:15.250000Z"}, key=KEY)
    assert order.timestamp == WHEN


def test_build_model_keeps_a_datetime_that_is_already_one() -> None:
    local = datetime(2024, 5, 1, 14, 30, tzinfo=PLUS_TWO)
    order = build_model(Order, {"timestamp": local, "status": "open"}, key=KEY)
    assert order.timestamp is local
    assert order.status == "open"


# -- a SQLAlchemy model whose constructor rejects unknown keywords -------------------------


class _Base(DeclarativeBase):
    pass


class Candle(_Base):
    """A declarative model shaped like fullon_orm's: ``from_dict`` is ``cls(**data)``."""

    __tablename__ = "codec_test_candles"

    id: Mapped[int] = mapped_column(primary_key=True)
    symbol: Mapped[str] = mapped_column(String(20))
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "symbol": self.symbol, "ts": self.ts}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        return cls(**data)


def test_the_sqlalchemy_model_rejects_unknown_keywords() -> None:
    # What decode_model protects against: without filtering, this is what would happen.
    with pytest.raises(TypeError, match="extra"):
        Candle.from_dict({"id": 1, "symbol": "BTC", "ts": WHEN, "extra": 5})


def test_decode_model_drops_unknown_keys_before_the_constructor() -> None:
    raw = dumps({"id": 1, "symbol": "BTC/USDT", "ts": WHEN, "extra": 5, "other": [1]})
    candle = decode_model(Candle, raw, key=KEY)
    assert isinstance(candle, Candle)
    assert (candle.id, candle.symbol) == (1, "BTC/USDT")
    assert candle.ts == WHEN
    assert candle.ts.tzinfo is UTC


def test_encode_decode_round_trip_of_a_sqlalchemy_model() -> None:
    original = Candle(id=2, symbol="ETH/USDT", ts=datetime(2024, 5, 1, 14, 30, tzinfo=PLUS_TWO))
    decoded = decode_model(Candle, encode_model(original), key=KEY)
    assert decoded.to_dict() == original.to_dict()


# -- nothing but a Tick or a CacheCorruptedValueError comes out of arbitrary input ---------

_tick_like = st.dictionaries(
    st.sampled_from([*sorted(model_fields(Tick)), "extra"]),
    st.one_of(
        st.none(),
        st.booleans(),
        st.floats(),
        st.integers(-(2**63), 2**63 - 1),
        st.text(),
        st.lists(st.none()),
    ),
)


@given(st.one_of(st.binary(), _tick_like.map(dumps)))
def test_decode_model_of_arbitrary_bytes_is_a_tick_or_a_corrupted_value(data: bytes) -> None:
    outcome: object
    try:
        outcome = decode_model(Tick, data, key=KEY)
    except CacheCorruptedValueError as exc:
        outcome = exc
    if isinstance(outcome, CacheCorruptedValueError):
        assert outcome.key == KEY
    else:
        assert isinstance(outcome, Tick)
