"""(De)serialization: the only module that turns Python values into bytes for Redis and back.

JSON (orjson) only, never pickle. Datetimes are written as ISO-8601 in UTC (naive datetimes
are taken to be UTC) and read back as timezone-aware UTC datetimes. Anything that cannot be
decoded raises :class:`~fullon_cache.errors.CacheCorruptedValueError` naming the key, never
showing the value.

Example::

    raw = dumps({"price": 1.5, "at": utc_now()})
    loads(raw, key="fullon:x")                        # {'price': 1.5, 'at': '2026-...+00:00'}
    order = decode_model(Order, encode_model(order), key="fullon:orders:binance")
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol, Self, TypeVar

import orjson

from fullon_cache.errors import CacheCorruptedValueError, InvalidTypeError
from fullon_cache.models import CatExchange, built_from_fields, datetime_fields, model_fields

__all__ = [
    "decode_model",
    "decode_text",
    "dumps",
    "encode_model",
    "loads",
    "loads_object",
    "parse_datetime",
    "to_utc",
    "utc_now",
    "utf8",
]

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS
_RELATED = "cat_exchange"  # the one relationship the cached models carry


class _Model(Protocol):
    def to_dict(self) -> dict[str, Any]: ...

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self: ...


_M = TypeVar("_M", bound=_Model)


def utc_now() -> datetime:
    """The current time as an aware UTC datetime.

    Example::

        utc_now().tzinfo   # datetime.timezone.utc
    """
    return datetime.now(UTC)


def to_utc(value: datetime) -> datetime:
    """Return ``value`` in UTC; a naive datetime is taken to be UTC already.

    Example::

        to_utc(datetime(2026, 1, 1))   # datetime(2026, 1, 1, tzinfo=UTC)
    """
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_datetime(text: str, key: str) -> datetime:
    """Parse an ISO-8601 string read from ``key`` into an aware UTC datetime.

    Example::

        parse_datetime("2026-01-01T00:00:00+00:00", key="fullon:x")
    """
    try:
        return to_utc(datetime.fromisoformat(text))
    except ValueError as exc:
        raise CacheCorruptedValueError(key, "invalid ISO-8601 timestamp") from exc


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return to_utc(value).isoformat()
    raise TypeError(type(value).__name__)


def dumps(value: Any) -> bytes:
    """Serialize ``value`` to JSON bytes (datetimes as UTC ISO-8601).

    Raises :class:`~fullon_cache.errors.InvalidTypeError` for values JSON cannot hold.

    Example::

        dumps({"a": 1})   # b'{"a":1}'
    """
    try:
        return orjson.dumps(value, default=_default, option=_OPTIONS)
    except TypeError as exc:
        raise InvalidTypeError(f"cannot store a value of this type as JSON: {exc}") from exc


def loads(data: bytes | str, key: str) -> Any:
    """Parse JSON read from ``key``.

    Example::

        loads(b'{"a":1}', key="fullon:x")   # {'a': 1}
    """
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise CacheCorruptedValueError(key, "not valid JSON") from exc


def utf8(value: bytes | str, key: str) -> str:
    """Text of a name Redis returned from ``key`` (ids, fields, members); the library writes
    names as UTF-8, so other bytes are corrupted data (CacheCorruptedValueError naming ``key``).

    Example::

        utf8(b"bot:bot_1:1a2b", key="fullon:{lk:kraken}:lock:BTC/USD")   # 'bot:bot_1:1a2b'
    """
    return value if isinstance(value, str) else decode_text(value, key)


def loads_object(data: bytes | str, key: str) -> dict[str, Any]:
    """Parse a JSON object read from ``key`` (anything else is corrupted).

    Example::

        loads_object(b'{"a": 1}', key="fullon:x")   # {'a': 1}
    """
    value = loads(data, key)
    if not isinstance(value, dict):
        raise CacheCorruptedValueError(key, "expected a JSON object")
    return value


def decode_text(data: bytes, key: str) -> str:
    """Decode UTF-8 text read from ``key``.

    Example::

        decode_text(b"feed down", key="fullon:errors:global")   # 'feed down'
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CacheCorruptedValueError(key, "not valid UTF-8 text") from exc


def encode_model(model: _Model) -> bytes:
    """Serialize a model (anything with ``to_dict()``) to JSON bytes.

    A ``cat_exchange`` relationship (Symbol, Exchange) travels along, so that
    ``symbol.exchange_name`` still works after a round trip.

    Example::

        encode_model(Balance(currency="BTC", total=1.0))
    """
    payload = model.to_dict()
    related = getattr(model, _RELATED, None)
    if related is not None:
        payload[_RELATED] = related.to_dict()
    return dumps(payload)


def decode_model(cls: type[_M], data: bytes | str, key: str) -> _M:
    """Build a ``cls`` instance from JSON read from ``key``.

    Only ``cls``'s own fields are passed on (fullon_orm's models reject unknown keywords);
    ISO strings in datetime fields become aware UTC datetimes.

    Example::

        tick = decode_model(Tick, raw, key="fullon:tickers:binance")
    """
    payload = loads(data, key)
    if not isinstance(payload, dict):
        raise CacheCorruptedValueError(key, f"expected a JSON object for {cls.__name__}")
    return build_model(cls, payload, key)


def build_model(cls: type[_M], payload: Mapping[str, Any], key: str) -> _M:
    """Build a ``cls`` instance from an already decoded mapping read from ``key``.

    Example::

        build_model(Balance, {"currency": "BTC", "total": 1.0, "extra": 5}, key="fullon:x")
    """
    fields = model_fields(cls)
    known = {name: value for name, value in payload.items() if name in fields}
    dates = datetime_fields(cls)
    if dates:  # most models have none: skip the set work on their hot reads
        for name in dates.intersection(known):
            if isinstance(known[name], str):
                known[name] = parse_datetime(known[name], key)
    try:
        model = cls(**known) if built_from_fields(cls) else cls.from_dict(known)
    except (TypeError, ValueError) as exc:
        raise CacheCorruptedValueError(key, f"does not fit {cls.__name__}") from exc
    if _RELATED in payload:
        related = payload[_RELATED]
        if isinstance(related, Mapping) and hasattr(model, _RELATED):
            setattr(model, _RELATED, build_model(CatExchange, related, key))
    return model
