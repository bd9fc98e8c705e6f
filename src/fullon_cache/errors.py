"""Errors raised by fullon_cache, and the one place redis-py's errors are translated.

The tree::

    CacheError
     ├── CacheUnavailableError       the server could not be reached; the command was not sent
     │    └── CacheCircuitOpenError  failing fast: Redis was unreachable for several calls
     ├── CacheUnknownOutcomeError    the command was sent but no reply came back: it may or may
     │    │                          not have been applied (never retried by the library)
     │    └── CacheTimeoutError      the call's deadline passed before it finished
     ├── CacheCorruptedValueError    data under one of our keys cannot be decoded (``.key``)
     ├── CacheOutOfMemoryError       Redis refused a write: maxmemory reached (OOM)
     ├── CacheCommandError           Redis rejected a command (permissions, wrong arguments, ...)
     ├── CacheSourceError            the reference-data source (the Fullon database) failed
     ├── CacheClosedError            the cache instance was used after ``aclose()``
     ├── CacheLockError              a bot lock could not be had or was lost
     │    ├── LockHeldError          another bot holds it (``.holder``)
     │    └── LockLostError          a lease expired or was taken while its block ran
     ├── CacheConfigError            invalid settings (also a ``ValueError``)
     └── InvalidInputError           bad argument: nothing was written (also a ``ValueError``)
          └── InvalidTypeError       argument of the wrong type (also a ``TypeError``)

Every error raised because of a redis-py exception chains it (``raise ... from exc``); messages
never contain stored values or credentials.

Example::

    try:
        await cache.push_global_error("feed down")
    except CacheUnknownOutcomeError:
        ...  # the push may have happened: check before pushing again
    except CacheError:
        ...  # nothing was written
"""

from __future__ import annotations

from collections.abc import Sequence

import redis.exceptions as redis_errors

__all__ = [
    "CacheCircuitOpenError",
    "CacheClosedError",
    "CacheCommandError",
    "CacheConfigError",
    "CacheCorruptedValueError",
    "CacheError",
    "CacheLockError",
    "CacheOutOfMemoryError",
    "CacheSourceError",
    "CacheTimeoutError",
    "CacheUnavailableError",
    "CacheUnknownOutcomeError",
    "InvalidInputError",
    "InvalidTypeError",
    "LockHeldError",
    "LockLostError",
    "is_auth_failure",
    "raise_error_replies",
    "translate_redis_error",
]


class CacheError(Exception):
    """Root of every error fullon_cache raises."""


class CacheUnavailableError(CacheError):
    """The server could not be reached (refused, unreachable, authentication failed).

    The command was not sent, so nothing was applied.
    """


class CacheCircuitOpenError(CacheUnavailableError):
    """Redis failed several calls in a row: calls fail at once, unsent, for a cool-down
    (``REDIS_CIRCUIT_COOLDOWN``) until a probe finds it back (see :mod:`fullon_cache.breaker`).
    """


class CacheUnknownOutcomeError(CacheError):
    """The command was sent but its reply was lost: it may or may not have been applied."""


class CacheTimeoutError(CacheUnknownOutcomeError):
    """The call's deadline passed; for a write the outcome is unknown."""


class CacheCorruptedValueError(CacheError):
    """Data stored under ``key`` cannot be decoded. The value itself is never included."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"corrupted value under key {key!r}: {reason}")
        self.key = key
        self.reason = reason


class CacheOutOfMemoryError(CacheError):
    """Redis reached ``maxmemory`` and refused a write (policy ``noeviction``)."""


class CacheCommandError(CacheError):
    """Redis rejected a command (for example an ACL permission error)."""


class CacheSourceError(CacheError):
    """Loading reference data from the source (the Fullon database) failed; chained."""


class CacheClosedError(CacheError):
    """The cache instance was used after it was closed."""


class CacheLockError(CacheError):
    """A bot lock could not be acquired, or a held one was lost."""


class LockHeldError(CacheLockError):
    """Another bot holds the lock; ``.holder`` names it."""

    def __init__(self, holder: str, message: str) -> None:
        super().__init__(message)
        self.holder = holder


class LockLostError(CacheLockError):
    """The lease ran out (or was taken) while its block was running: stop trading now."""


class CacheConfigError(CacheError, ValueError):
    """Settings are invalid: a bad URL, a negative timeout, a malformed variable."""


class InvalidInputError(CacheError, ValueError):
    """An argument is invalid (empty identifier, glob character, NaN price...).

    Nothing was written.
    """


class InvalidTypeError(InvalidInputError, TypeError):
    """An argument has the wrong type (``None``, ``bool``, float id, container...)."""


_CLUSTER_UNREACHABLE = (redis_errors.RedisClusterUnreachableError, redis_errors.SlotNotCoveredError)


def is_auth_failure(exc: BaseException) -> bool:
    """True if ``exc`` (or the error it wraps: redis-py wraps them while connecting) is an
    authentication or authorization failure, which no retry can fix."""
    auth_errors = (redis_errors.AuthenticationError, redis_errors.AuthorizationError)
    return isinstance(exc, auth_errors) or isinstance(exc.__cause__, auth_errors)


def raise_error_replies(results: Sequence[object], keys: Sequence[str]) -> None:
    """Raise the first error reply of a pipeline (``execute(raise_on_error=False)``) for the
    key its command concerned (``keys[i]`` for ``results[i]``); the other commands did run."""
    for key, outcome in zip(keys, results, strict=False):
        if isinstance(outcome, redis_errors.RedisError):
            raise translate_redis_error(outcome, sent=True, key=key) from outcome


def translate_redis_error(exc: BaseException, *, sent: bool, key: str | None = None) -> CacheError:
    """Map a redis-py exception to the matching :class:`CacheError` (the caller chains it).

    ``sent`` tells whether the command may have reached the server: a connection error
    before sending means "unavailable", after sending "unknown outcome".
    """
    if is_auth_failure(exc):
        return CacheUnavailableError("authentication failed: check the username and password")
    if isinstance(exc, _CLUSTER_UNREACHABLE):
        return CacheUnavailableError(f"cannot reach the Redis Cluster ({exc})")
    if isinstance(exc, redis_errors.BusyLoadingError):  # a refusal: nothing was applied
        return CacheUnavailableError("Redis is loading its dataset; try again shortly")
    if isinstance(exc, redis_errors.TimeoutError):
        if not sent:
            return CacheUnavailableError(f"timed out connecting to Redis ({exc})")
        return CacheTimeoutError(f"no reply from Redis in time ({exc})")
    if isinstance(exc, redis_errors.ConnectionError):
        if sent:
            return CacheUnknownOutcomeError(f"connection lost before the reply ({exc})")
        return CacheUnavailableError(f"cannot reach Redis ({exc})")
    # Inside a Lua script the server's error code is embedded in the script error's text.
    if isinstance(exc, redis_errors.OutOfMemoryError) or "OOM command not allowed" in str(exc):
        return CacheOutOfMemoryError(f"Redis is out of memory ({exc})")
    if key is not None and "WRONGTYPE" in str(exc):
        return CacheCorruptedValueError(key, "holds a value of the wrong Redis type")
    return CacheCommandError(f"Redis rejected the command: {exc}")
