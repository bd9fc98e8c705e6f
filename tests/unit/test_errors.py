"""The error tree and the one translation point from redis-py's exceptions."""

from __future__ import annotations

import builtins
import inspect
import re
from pathlib import Path

import pytest
import redis.exceptions as redis_errors

import fullon_cache
from fullon_cache import errors
from fullon_cache.errors import (
    CacheClosedError,
    CacheCommandError,
    CacheConfigError,
    CacheCorruptedValueError,
    CacheError,
    CacheOutOfMemoryError,
    CacheTimeoutError,
    CacheUnavailableError,
    CacheUnknownOutcomeError,
    InvalidInputError,
    InvalidTypeError,
    is_auth_failure,
    translate_redis_error,
)

ERROR_CLASSES: list[type[CacheError]] = [
    value for name in errors.__all__ if isinstance(value := getattr(errors, name), type)
]
SRC = Path(fullon_cache.__file__).parent


# -- the tree ------------------------------------------------------------------------------


def test_all_lists_every_error_class_of_the_module() -> None:
    defined = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type)
        and issubclass(value, BaseException)
        and value.__module__ == errors.__name__
    }
    assert defined == {cls.__name__ for cls in ERROR_CLASSES}


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_every_class_is_a_cache_error_and_shadows_no_builtin(cls: type[CacheError]) -> None:
    assert issubclass(cls, CacheError)
    assert not hasattr(builtins, cls.__name__)
    assert cls.__doc__


def test_hierarchy() -> None:
    assert issubclass(CacheTimeoutError, CacheUnknownOutcomeError)
    assert not issubclass(CacheUnknownOutcomeError, CacheTimeoutError)
    assert not issubclass(CacheUnavailableError, CacheUnknownOutcomeError)
    assert issubclass(CacheConfigError, ValueError)
    assert issubclass(InvalidInputError, ValueError)
    assert issubclass(InvalidTypeError, InvalidInputError)
    assert issubclass(InvalidTypeError, ValueError)
    assert issubclass(InvalidTypeError, TypeError)
    assert not issubclass(InvalidInputError, TypeError)
    for cls in (
        CacheUnavailableError,
        CacheUnknownOutcomeError,
        CacheCorruptedValueError,
        CacheOutOfMemoryError,
        CacheCommandError,
        CacheClosedError,
    ):
        assert not issubclass(cls, ValueError | TypeError)


def test_the_tree_is_drawn_in_the_module_docstring() -> None:
    assert errors.__doc__ is not None
    for cls in ERROR_CLASSES:
        assert cls.__name__ in errors.__doc__


def test_the_package_exports_every_error() -> None:
    for cls in ERROR_CLASSES:
        assert getattr(fullon_cache, cls.__name__) is cls


def test_corrupted_value_error_carries_the_key_and_never_a_value() -> None:
    error = CacheCorruptedValueError("fullon:tickers:binance", "not valid JSON")
    assert error.key == "fullon:tickers:binance"
    assert error.reason == "not valid JSON"
    assert "fullon:tickers:binance" in str(error)
    assert "not valid JSON" in str(error)
    assert isinstance(error, CacheError)


def _instantiations(name: str) -> list[str]:
    """Places in src that construct or raise ``name`` (its own ``class`` line excluded)."""
    used = re.compile(rf"(?<![\w.])(?:raise\s+{name}\b|{name}\()")
    definition = re.compile(rf"^\s*class\s+{name}\(")
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if used.search(line) and not definition.match(line):
                found.append(f"{path.relative_to(SRC)}:{number}")
    return found


GROUPS = {CacheError, errors.CacheLockError}
"""Classes that exist to catch a family by: their subclasses are what is raised."""


@pytest.mark.parametrize(
    "cls", [cls for cls in ERROR_CLASSES if cls not in GROUPS], ids=lambda cls: cls.__name__
)
def test_every_error_class_is_raised_somewhere(cls: type[CacheError]) -> None:
    assert _instantiations(cls.__name__), f"{cls.__name__} is never raised by fullon_cache"


@pytest.mark.parametrize("group", sorted(GROUPS, key=lambda cls: cls.__name__))
def test_every_group_has_subclasses_that_are_raised(group: type[CacheError]) -> None:
    raised = [cls for cls in ERROR_CLASSES if cls is not group and issubclass(cls, group)]
    assert raised
    assert all(_instantiations(cls.__name__) for cls in raised if cls not in GROUPS)


def test_the_scan_finds_constructions_and_ignores_definitions() -> None:
    # The check above would pass vacuously if the scan matched every class line.
    class_line = inspect.getsourcelines(CacheOutOfMemoryError)[1]
    found = _instantiations("CacheOutOfMemoryError")
    assert found
    assert f"errors.py:{class_line}" not in found
    assert any(place.startswith("codecs.py:") for place in _instantiations("InvalidTypeError"))
    assert _instantiations("NoSuchErrorClass") == []


# -- translate_redis_error -----------------------------------------------------------------


def _wrapped(cause: BaseException) -> redis_errors.ConnectionError:
    """A ConnectionError raised ``from`` ``cause``, as redis-py does while connecting."""
    try:
        raise redis_errors.ConnectionError("Error connecting") from cause
    except redis_errors.ConnectionError as exc:
        return exc


@pytest.mark.parametrize("sent", [False, True])
@pytest.mark.parametrize(
    "exc",
    [
        redis_errors.AuthenticationError("invalid username-password pair s3cret"),
        redis_errors.AuthorizationError("s3cret"),
        _wrapped(redis_errors.AuthenticationError("s3cret")),
        _wrapped(redis_errors.AuthorizationError("s3cret")),
    ],
    ids=["authentication", "authorization", "wrapped-authentication", "wrapped-authorization"],
)
def test_authentication_failures_are_unavailable_and_hide_the_message(
    exc: redis_errors.RedisError, sent: bool
) -> None:
    assert is_auth_failure(exc)
    translated = translate_redis_error(exc, sent=sent, key="fullon:k")
    assert type(translated) is CacheUnavailableError
    assert "authentication" in str(translated)
    assert "s3cret" not in str(translated)


@pytest.mark.parametrize(
    "exc",
    [
        redis_errors.ConnectionError("refused"),
        _wrapped(OSError("refused")),
        redis_errors.ResponseError("NOPERM no permissions"),
        ValueError("x"),
    ],
    ids=["connection", "wrapped-oserror", "noperm", "valueerror"],
)
def test_other_errors_are_not_auth_failures(exc: BaseException) -> None:
    assert not is_auth_failure(exc)


def test_a_redis_timeout_after_sending_is_a_cache_timeout() -> None:
    translated = translate_redis_error(redis_errors.TimeoutError("Timeout reading"), sent=True)
    assert type(translated) is CacheTimeoutError
    assert isinstance(translated, CacheUnknownOutcomeError)
    assert "Timeout reading" in str(translated)


def test_a_redis_timeout_before_sending_is_unavailable() -> None:
    # Timing out while connecting: the command never left, so nothing was applied.
    exc = redis_errors.TimeoutError("Timeout connecting to server")
    translated = translate_redis_error(exc, sent=False)
    assert type(translated) is CacheUnavailableError
    assert "Timeout connecting to server" in str(translated)


def test_a_connection_error_before_sending_is_unavailable() -> None:
    exc = redis_errors.ConnectionError("Connection refused")
    translated = translate_redis_error(exc, sent=False)
    assert type(translated) is CacheUnavailableError
    assert "Connection refused" in str(translated)


def test_a_connection_error_after_sending_is_an_unknown_outcome() -> None:
    exc = redis_errors.ConnectionError("Connection closed by server.")
    translated = translate_redis_error(exc, sent=True, key="fullon:k")
    assert type(translated) is CacheUnknownOutcomeError
    assert "Connection closed by server." in str(translated)


@pytest.mark.parametrize("sent", [False, True])
def test_busy_loading_is_unavailable_whether_or_not_the_command_was_sent(sent: bool) -> None:
    # LOADING is a reply: the server refused the command, so nothing was applied. That is
    # "unavailable", never "unknown outcome", even though the bytes were sent.
    exc = redis_errors.BusyLoadingError("Redis is loading the dataset in memory")
    translated = translate_redis_error(exc, sent=sent)
    assert type(translated) is CacheUnavailableError


@pytest.mark.parametrize("key", [None, "fullon:k"])
@pytest.mark.parametrize(
    "exc",
    [
        redis_errors.OutOfMemoryError("command not allowed when used memory > 'maxmemory'."),
        # Inside a Lua script the OOM reply arrives as a script error carrying the code.
        redis_errors.ResponseError(
            "Error in script: OOM command not allowed when used memory > 'maxmemory'."
        ),
    ],
    ids=["oom-reply", "oom-in-script"],
)
def test_out_of_memory(exc: redis_errors.RedisError, key: str | None) -> None:
    translated = translate_redis_error(exc, sent=True, key=key)
    assert type(translated) is CacheOutOfMemoryError


@pytest.mark.parametrize(
    "message",
    [
        "WRONGTYPE Operation against a key holding the wrong kind of value",
        "Error in script: WRONGTYPE Operation against a key holding the wrong kind of value",
    ],
)
def test_wrongtype_with_a_key_is_a_corrupted_value_of_that_key(message: str) -> None:
    exc = redis_errors.ResponseError(message)
    translated = translate_redis_error(exc, sent=True, key="fullon:errors:global")
    assert type(translated) is CacheCorruptedValueError
    assert isinstance(translated, CacheCorruptedValueError)
    assert translated.key == "fullon:errors:global"
    assert "wrong Redis type" in translated.reason


def test_wrongtype_without_a_key_is_a_command_error() -> None:
    exc = redis_errors.ResponseError("WRONGTYPE Operation against a key holding the wrong kind")
    translated = translate_redis_error(exc, sent=True)
    assert type(translated) is CacheCommandError
    assert "WRONGTYPE" in str(translated)


@pytest.mark.parametrize("key", [None, "fullon:k"])
@pytest.mark.parametrize(
    "exc",
    [
        redis_errors.NoPermissionError("NOPERM this user has no permissions to run the 'set'"),
        redis_errors.ResponseError("ERR wrong number of arguments for 'lpush' command"),
        redis_errors.ResponseError("ERR value is not an integer or out of range"),
        redis_errors.ExecAbortError("EXECABORT Transaction discarded"),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_other_rejections_are_command_errors(exc: redis_errors.RedisError, key: str | None) -> None:
    translated = translate_redis_error(exc, sent=True, key=key)
    assert type(translated) is CacheCommandError
    assert str(exc) in str(translated)


def test_translation_returns_the_error_for_the_caller_to_chain() -> None:
    exc = redis_errors.ConnectionError("refused")
    with pytest.raises(CacheUnavailableError) as caught:
        raise translate_redis_error(exc, sent=False) from exc
    assert caught.value.__cause__ is exc
