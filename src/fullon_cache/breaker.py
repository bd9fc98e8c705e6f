"""The circuit breaker: fail fast while Redis is unreachable, instead of waiting each time.

Without it, every call against a dead server waits out its connect timeout and retries (up
to the deadline, seconds) — a bot's loop stalls for that long on every call. One breaker
belongs to each set of connections (one server, one event loop) and counts the calls that
failed to reach Redis (:class:`~fullon_cache.errors.CacheUnavailableError` or an unknown
outcome such as a timeout). After ``threshold`` such failures in a row it *opens*: calls
raise :class:`~fullon_cache.errors.CacheCircuitOpenError` at once, without touching the
network. Once ``cooldown`` seconds have passed, the next call sends one ``PING`` as a probe:
a reply closes the breaker and the call goes on; a failure keeps it open for another
cooldown. Calls arriving while the probe is out fail fast too. Any call that reached Redis
(even one Redis rejected) resets the count.

Example::

    breaker = CircuitBreaker(threshold=3, cooldown=1.0)
    breaker.failed(CacheUnavailableError("refused"))   # three times: breaker.is_open
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Literal

from fullon_cache.errors import CacheCircuitOpenError, CacheError
from fullon_cache.log import get_logger

__all__ = ["CircuitBreaker"]

logger = get_logger("connection")

State = Literal["closed", "open", "probing"]


class CircuitBreaker:
    """Counts consecutive unreachable-server failures and fails fast past ``threshold``.

    ``threshold=0`` disables it (never opens).

    Example::

        breaker = CircuitBreaker(threshold=3, cooldown=1.0)
        await breaker.admit(probe=lambda: client.ping())   # raises while open
    """

    def __init__(
        self,
        threshold: int,
        cooldown: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.failures = 0
        """Calls in a row that could not reach Redis."""
        self.opened = 0
        """How many times the breaker opened since it was made."""
        self._clock = clock
        self._state: State = "closed"
        self._retry_at = 0.0
        self._last_error = ""

    @property
    def state(self) -> State:
        """``closed`` (calls go through), ``open`` (they fail fast) or ``probing``."""
        return self._state

    @property
    def is_open(self) -> bool:
        """True while calls are refused without being sent (open or probing)."""
        return self._state != "closed"

    def succeeded(self) -> None:
        """A call reached Redis: the failure count starts again (a call sent before the
        breaker opened that succeeds closes it; a probe decides for itself)."""
        self.failures = 0
        if self._state == "open":
            self._state = "closed"

    def failed(self, error: CacheError) -> None:
        """A call could not reach Redis; the ``threshold``-th failure in a row opens it."""
        self.failures += 1
        self._last_error = f"{type(error).__name__}: {error}"
        if self.threshold and self.failures >= self.threshold and self._state == "closed":
            self._open()

    async def admit(self, probe: Callable[[], Awaitable[object]]) -> None:
        """Let a call through, or raise CacheCircuitOpenError. After the cooldown the first
        caller runs ``probe`` (which must raise CacheError when Redis is still out)."""
        if self._state == "closed":
            return
        if self._state == "probing" or self._clock() < self._retry_at:
            raise self._refusal()
        self._state = "probing"
        try:
            await probe()
        except CacheError as exc:
            self._last_error = f"{type(exc).__name__}: {exc}"
            self._open()
            raise self._refusal() from exc
        except BaseException:  # cancelled mid-probe: let the next caller probe again
            self._state = "open"
            raise
        self._state = "closed"
        self.failures = 0
        logger.warning("Redis is reachable again: circuit breaker closed")

    def _open(self) -> None:
        self._state = "open"
        self._retry_at = self._clock() + self.cooldown
        self.opened += 1
        logger.warning(
            "Redis unreachable: circuit breaker open, calls fail fast",
            failures=self.failures,
            cooldown_s=self.cooldown,
            last_error=self._last_error,
        )

    def _refusal(self) -> CacheCircuitOpenError:
        wait = max(0.0, self._retry_at - self._clock())
        return CacheCircuitOpenError(
            f"Redis unreachable after {self.failures} failed calls in a row (last: "
            f"{self._last_error}); failing fast, next probe in {wait:.2f} s"
        )
