"""The circuit breaker's states, driven by a fake clock (the real-server behaviour is proven in
tests/faults/test_breaker.py)."""

from __future__ import annotations

import asyncio

import pytest

from fullon_cache.breaker import CircuitBreaker
from fullon_cache.errors import (
    CacheCircuitOpenError,
    CacheTimeoutError,
    CacheUnavailableError,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Probe:
    """A probe that succeeds, or raises ``error``; counts its runs."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.runs = 0

    async def __call__(self) -> None:
        self.runs += 1
        if self.error is not None:
            raise self.error


def _broken(threshold: int = 3, cooldown: float = 1.0) -> tuple[CircuitBreaker, Clock]:
    clock = Clock()
    breaker = CircuitBreaker(threshold, cooldown, clock=clock)
    for _ in range(threshold):
        breaker.failed(CacheUnavailableError("refused"))
    return breaker, clock


def test_a_new_breaker_is_closed() -> None:
    breaker = CircuitBreaker(3, 1.0)
    assert (breaker.state, breaker.is_open, breaker.failures, breaker.opened) == (
        "closed",
        False,
        0,
        0,
    )


def test_it_opens_at_the_threshold_of_failures_in_a_row() -> None:
    breaker = CircuitBreaker(3, 1.0)
    breaker.failed(CacheUnavailableError("refused"))
    breaker.failed(CacheTimeoutError("silent"))
    assert not breaker.is_open
    breaker.failed(CacheUnavailableError("refused"))
    assert (breaker.state, breaker.opened) == ("open", 1)


def test_a_success_between_failures_starts_the_count_again() -> None:
    breaker = CircuitBreaker(3, 1.0)
    for _ in range(2):
        breaker.failed(CacheUnavailableError("refused"))
    breaker.succeeded()
    for _ in range(2):
        breaker.failed(CacheUnavailableError("refused"))
    assert not breaker.is_open
    assert breaker.failures == 2


def test_threshold_zero_never_opens() -> None:
    breaker = CircuitBreaker(0, 1.0)
    for _ in range(100):
        breaker.failed(CacheUnavailableError("refused"))
    assert breaker.state == "closed"


async def test_a_closed_breaker_admits_without_probing() -> None:
    breaker, probe = CircuitBreaker(3, 1.0), Probe()
    await breaker.admit(probe)
    assert probe.runs == 0


async def test_an_open_breaker_refuses_without_probing_during_the_cooldown() -> None:
    breaker, clock = _broken()
    probe = Probe()
    clock.now += 0.9
    with pytest.raises(CacheCircuitOpenError) as caught:
        await breaker.admit(probe)
    assert probe.runs == 0
    assert isinstance(caught.value, CacheUnavailableError)  # unsent: nothing was applied
    message = str(caught.value)
    assert "3 failed calls in a row" in message
    assert "CacheUnavailableError: refused" in message
    assert "next probe in 0.10 s" in message


async def test_after_the_cooldown_one_successful_probe_closes_it() -> None:
    breaker, clock = _broken()
    probe = Probe()
    clock.now += 1.0
    await breaker.admit(probe)
    assert probe.runs == 1
    assert (breaker.state, breaker.failures) == ("closed", 0)
    await breaker.admit(probe)
    assert probe.runs == 1


async def test_a_failed_probe_keeps_it_open_for_another_cooldown() -> None:
    breaker, clock = _broken()
    still_down = CacheUnavailableError("still refused")
    probe = Probe(still_down)
    clock.now += 1.0
    with pytest.raises(CacheCircuitOpenError) as caught:
        await breaker.admit(probe)
    assert caught.value.__cause__ is still_down
    assert "still refused" in str(caught.value)
    assert (breaker.state, breaker.opened) == ("open", 2)
    clock.now += 0.5
    with pytest.raises(CacheCircuitOpenError):
        await breaker.admit(probe)
    assert probe.runs == 1
    probe.error = None
    clock.now += 0.5
    await breaker.admit(probe)
    assert (breaker.state, probe.runs) == ("closed", 2)


async def test_calls_during_the_probe_fail_fast() -> None:
    breaker, clock = _broken()
    clock.now += 1.0
    release = asyncio.Event()

    async def slow_probe() -> None:
        await release.wait()

    prober = asyncio.create_task(breaker.admit(slow_probe))
    await asyncio.sleep(0)
    assert breaker.state == "probing"
    with pytest.raises(CacheCircuitOpenError):
        await breaker.admit(Probe())
    release.set()
    await prober
    assert breaker.state == "closed"


async def test_a_cancelled_probe_lets_the_next_caller_probe() -> None:
    breaker, clock = _broken()
    clock.now += 1.0
    prober = asyncio.create_task(breaker.admit(asyncio.Event().wait))
    await asyncio.sleep(0)
    prober.cancel()
    with pytest.raises(asyncio.CancelledError):
        await prober
    assert breaker.state == "open"
    probe = Probe()
    await breaker.admit(probe)
    assert (probe.runs, breaker.state) == (1, "closed")


def test_a_call_that_reached_redis_while_open_closes_it() -> None:
    breaker, _ = _broken()
    breaker.succeeded()
    assert (breaker.state, breaker.failures) == ("closed", 0)


def test_failures_while_open_do_not_reopen_it() -> None:
    breaker, _ = _broken()
    breaker.failed(CacheUnavailableError("late reply of a call sent before"))
    assert (breaker.opened, breaker.failures) == (1, 4)
