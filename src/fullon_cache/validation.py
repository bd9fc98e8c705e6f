"""Checks for caller input that is not a key component (those live in :mod:`fullon_cache.keys`).

Each check returns the cleaned value or raises :class:`~fullon_cache.errors.InvalidTypeError`
/ :class:`~fullon_cache.errors.InvalidInputError` before anything is sent to Redis.

Example::

    seconds(2.5, "timeout")                         # 2.5
    member("running", ProcessStatus, "status")      # ProcessStatus.RUNNING
    optional_text(None, "message")                  # None
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from typing import Any, TypeVar

from fullon_cache.errors import InvalidInputError, InvalidTypeError

__all__ = ["member", "number", "optional_mapping", "optional_text", "seconds", "text"]

_E = TypeVar("_E", bound=enum.Enum)


def seconds(value: object, name: str, unit: str = "seconds") -> float:
    """A finite, non-negative number (of seconds, or of ``unit``); ``bool`` is not a number here.

    Example::

        seconds(0, "timeout")                      # 0.0
        seconds(5, "since_minutes", "minutes")     # 5.0
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidTypeError(f"{name} must be a number of {unit}, not {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise InvalidInputError(f"{name} must be a finite number >= 0")
    return float(value)


def number(value: object, name: str) -> float:
    """A finite ``int`` or ``float`` (not ``bool``, not NaN or infinity).

    Example::

        number(50000.5, "price")   # 50000.5
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidTypeError(f"{name} must be a number, not {type(value).__name__}")
    if not math.isfinite(value):
        raise InvalidInputError(f"{name} must be a finite number")
    return value


def plainly_finite(model: object, required: tuple[str, ...], optional: tuple[str, ...]) -> bool:
    """True when ``model``'s ``required`` attributes are floats and its ``optional`` ones
    floats or None, all finite: the common case of a stored model, checked fast on a hit's
    hot path. False only means "check it fully" (ints are valid numbers too).

    Example::

        plainly_finite(tick, ("price", "time"), ("bid", "ask"))   # True
    """
    total = 0.0  # NaN or infinity anywhere makes the sum non-finite
    for name in required:
        value = getattr(model, name)
        if type(value) is not float:
            return False
        total += value
    for name in optional:
        value = getattr(model, name, None)
        if value is not None:
            if type(value) is not float:
                return False
            total += value
    return math.isfinite(total)


def member(value: object, kind: type[_E], name: str) -> _E:
    """A member of the str enum ``kind``, given as the member or as its value.

    Example::

        member("bot", ProcessType, "process_type")   # ProcessType.BOT
    """
    if isinstance(value, kind):
        return value
    if not isinstance(value, str):
        got = type(value).__name__
        raise InvalidTypeError(f"{name} must be a {kind.__name__} or str, not {got}")
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(str(item.value) for item in kind)
        raise InvalidInputError(f"{name} {value!r} is not one of: {choices}") from None


def text(value: object, name: str) -> str:
    """A ``str`` with something other than whitespace in it.

    Example::

        text("feed down", "error")   # 'feed down'
    """
    if not isinstance(value, str):
        raise InvalidTypeError(f"{name} must be a str, not {type(value).__name__}")
    if not value.strip():
        raise InvalidInputError(f"{name} must not be empty")
    return value


def optional_text(value: object, name: str) -> str | None:
    """``None`` or a ``str``.

    Example::

        optional_text("started", "message")   # 'started'
    """
    if value is not None and not isinstance(value, str):
        raise InvalidTypeError(f"{name} must be a str or None, not {type(value).__name__}")
    return value


def optional_mapping(value: object, name: str) -> dict[str, Any]:
    """``None`` (an empty dict) or a mapping with ``str`` keys, copied.

    Example::

        optional_mapping({"symbol": "BTC/USDT"}, "params")   # {'symbol': 'BTC/USDT'}
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidTypeError(f"{name} must be a dict or None, not {type(value).__name__}")
    if not all(isinstance(key, str) and key for key in value):
        raise InvalidInputError(f"the keys of {name} must be non-empty strings")
    return dict(value)
