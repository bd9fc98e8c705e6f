"""Monitoring hooks: per-operation counts, errors and latency of every call to Redis.

Every call the caches make to Redis is recorded under the name of the public method it
serves (``get_ticker``, ``pop_open_order``...): a method that needs several round trips
(a claim and its acknowledgement, a long blocking pop waited in chunks) records each. The
numbers are kept for this process in :data:`MONITOR`; the application can

* read them: :func:`snapshot` (calls, errors by type, mean/max and p50/p99 latency in ms);
* react to each call: :func:`add_listener` registers a callback that receives an
  :class:`OperationEvent` (name, seconds, error or None, namespace) right after the call —
  keep it fast, it runs inline; an exception in it is logged, never raised into the call;
* share them: ``await cache.publish_metrics("ticker-bot-1")`` stores the snapshot in Redis
  for ``fullon-cache inspect``, which shows what every publishing process measured.

Example::

    from fullon_cache import monitoring

    monitoring.add_listener(lambda e: e.error and alert(e.name, e.error))
    ...
    monitoring.snapshot()["get_ticker"]
    # {'calls': 1200, 'errors': 0, 'error_types': {}, 'mean_ms': 0.11, 'max_ms': 2.3,
    #  'p50_ms': 0.25, 'p99_ms': 1.0}
"""

from __future__ import annotations

import bisect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

from fullon_cache.errors import CacheError
from fullon_cache.log import get_logger

__all__ = [
    "BUCKETS_MS",
    "MONITOR",
    "Monitor",
    "OperationEvent",
    "add_listener",
    "remove_listener",
    "reset",
    "snapshot",
]

logger = get_logger("base")

BUCKETS_MS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0, 5000.0)
"""Upper bounds of the latency histogram; p50/p99 are reported as the bound reached."""

_PRIVATE_FRAMES = ("_", "<")  # helpers, lambdas and comprehensions between a method and _run


@dataclass(frozen=True, slots=True)
class OperationEvent:
    """One call to Redis, as listeners receive it."""

    name: str
    """The public cache method it served, e.g. ``get_ticker``."""
    seconds: float
    error: CacheError | None
    """The error the call raised, or None when it succeeded."""
    namespace: str


Listener = Callable[[OperationEvent], object]


class _Stats:
    __slots__ = ("buckets", "calls", "error_types", "errors", "max_s", "total_s")

    def __init__(self) -> None:
        self.calls = 0
        self.errors = 0
        self.error_types: dict[str, int] = {}
        self.total_s = 0.0
        self.max_s = 0.0
        self.buckets = [0] * (len(BUCKETS_MS) + 1)

    def add(self, seconds: float, error: CacheError | None) -> None:
        self.calls += 1
        self.total_s += seconds
        self.max_s = max(self.max_s, seconds)
        self.buckets[bisect.bisect_left(BUCKETS_MS, seconds * 1000.0)] += 1
        if error is not None:
            self.errors += 1
            kind = type(error).__name__
            self.error_types[kind] = self.error_types.get(kind, 0) + 1

    def summary(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "errors": self.errors,
            "error_types": dict(self.error_types),
            "mean_ms": round(self.total_s * 1000.0 / self.calls, 3),
            "max_ms": round(self.max_s * 1000.0, 3),
            "p50_ms": self._percentile(0.50),
            "p99_ms": self._percentile(0.99),
        }

    def _percentile(self, fraction: float) -> float:
        """The histogram bound below which ``fraction`` of the calls finished (the max for
        the calls beyond the last bound)."""
        wanted, seen = fraction * self.calls, 0
        for bound, count in zip(BUCKETS_MS, self.buckets, strict=False):
            seen += count
            if seen >= wanted:
                return bound
        return round(self.max_s * 1000.0, 3)


class Monitor:
    """Per-operation statistics of one process, and the listeners told of every call.

    Example::

        monitor = Monitor()
        monitor.record("ping", 0.0004, None, "fullon")
        monitor.snapshot()["ping"]["calls"]   # 1
    """

    def __init__(self) -> None:
        self._stats: dict[str, _Stats] = {}
        self._listeners: list[Listener] = []

    def record(self, name: str, seconds: float, error: CacheError | None, namespace: str) -> None:
        """Count one call and tell the listeners."""
        stats = self._stats.get(name)
        if stats is None:
            stats = self._stats[name] = _Stats()
        stats.add(seconds, error)
        if self._listeners:
            self._notify(OperationEvent(name, seconds, error, namespace))

    def _notify(self, event: OperationEvent) -> None:
        for listener in tuple(self._listeners):
            try:
                listener(event)
            except Exception:  # a monitoring bug must never fail a trade
                logger.exception("a monitoring listener raised", listener=repr(listener))

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Statistics per operation name, sorted by name."""
        return {name: self._stats[name].summary() for name in sorted(self._stats)}

    def reset(self) -> None:
        """Forget every statistic (listeners stay)."""
        self._stats.clear()

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(event)`` after every call to Redis."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        """Stop calling ``listener`` (a listener never added is ignored)."""
        if listener in self._listeners:
            self._listeners.remove(listener)


MONITOR = Monitor()
"""This process's monitor; the module functions below use it."""


def snapshot() -> dict[str, dict[str, Any]]:
    """Statistics per operation of this process.

    Example::

        monitoring.snapshot()["get_ticker"]["p99_ms"]   # 1.0
    """
    return MONITOR.snapshot()


def reset() -> None:
    """Forget this process's statistics.

    Example::

        monitoring.reset()
    """
    MONITOR.reset()


def add_listener(listener: Listener) -> None:
    """Call ``listener(event)`` after every call to Redis in this process.

    Example::

        monitoring.add_listener(lambda e: print(e.name, e.seconds, e.error))
    """
    MONITOR.add_listener(listener)


def remove_listener(listener: Listener) -> None:
    """Stop calling ``listener``.

    Example::

        monitoring.remove_listener(my_listener)
    """
    MONITOR.remove_listener(listener)


def operation_name(depth: int) -> str:
    """The public method on whose behalf a call runs: the first caller above ``depth`` frames
    whose name is not private (``_read_many``) nor a lambda/comprehension, without leaving
    the library (a background task's private coroutine keeps its own name). Named from the
    stack so that each of the many call sites need not repeat its own name."""
    frame = sys._getframe(depth + 1)
    while frame.f_code.co_name.startswith(_PRIVATE_FRAMES):
        caller = frame.f_back
        if caller is None or not _in_library(caller):
            break
        frame = caller
    return frame.f_code.co_name


def _in_library(frame: FrameType) -> bool:
    return str(frame.f_globals.get("__name__")).startswith("fullon_cache.")
