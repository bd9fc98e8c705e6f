"""The per-loop deadline watchdog: it cancels only what outlived its deadline, and a caller's
own cancellation is never taken for a deadline."""

from __future__ import annotations

import asyncio

import pytest

from fullon_cache.deadline import RESOLUTION, Deadlines

SHORT = RESOLUTION / 2


async def _watched(deadlines: Deadlines, seconds: float, sleep: float) -> str:
    watch = deadlines.watch(seconds)
    try:
        await asyncio.sleep(sleep)
        return "finished"
    except asyncio.CancelledError:
        if deadlines.expired(watch):
            return "expired"
        raise
    finally:
        deadlines.release(watch)


async def test_one_watchdog_per_loop() -> None:
    assert Deadlines.of_running_loop() is Deadlines.of_running_loop()


async def test_a_call_that_outlives_its_deadline_is_cut_and_its_task_is_whole_again() -> None:
    deadlines = Deadlines.of_running_loop()
    assert await _watched(deadlines, SHORT, 10) == "expired"
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0  # the cancellation was taken back


async def test_a_call_within_its_deadline_finishes_and_the_timer_stops() -> None:
    deadlines = Deadlines.of_running_loop()
    assert await _watched(deadlines, 10, 0) == "finished"
    await asyncio.sleep(RESOLUTION * 3)  # the timer runs out once nothing is watched
    assert deadlines._timer is None
    assert not deadlines._watches


async def test_a_callers_own_cancel_is_not_a_deadline() -> None:
    deadlines = Deadlines.of_running_loop()
    task = asyncio.create_task(_watched(deadlines, 10, 10))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not deadlines._watches


async def test_a_caller_cancel_that_meets_an_expired_deadline_stays_a_cancel() -> None:
    deadlines = Deadlines.of_running_loop()
    outcome: list[str] = []

    async def watched() -> None:
        watch = deadlines.watch(0)
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            outcome.append("expired" if deadlines.expired(watch) else "cancelled")
            raise
        finally:
            deadlines.release(watch)

    task = asyncio.create_task(watched())
    await asyncio.sleep(0)
    deadlines._check()  # the deadline fires ...
    task.cancel()  # ... and the caller cancels too
    with pytest.raises(asyncio.CancelledError):
        await task
    assert outcome == ["cancelled"]


async def test_nested_watches_each_see_their_own_deadline() -> None:
    deadlines = Deadlines.of_running_loop()
    outer = deadlines.watch(10)
    try:
        assert await _watched(deadlines, SHORT, 10) == "expired"
        assert await _watched(deadlines, 10, 0) == "finished"  # the outer one still runs
        assert not outer.fired
    finally:
        deadlines.release(outer)


async def test_the_outer_deadline_passes_through_an_inner_watch() -> None:
    deadlines = Deadlines.of_running_loop()
    outer = deadlines.watch(SHORT)
    try:
        with pytest.raises(asyncio.CancelledError):
            await _watched(deadlines, 10, 10)  # the inner watch re-raises: not its deadline
        assert deadlines.expired(outer)
    finally:
        deadlines.release(outer)


async def test_bound_raises_the_given_error_chained_to_its_cause() -> None:
    deadlines = Deadlines.of_running_loop()

    def too_slow() -> RuntimeError:
        error = RuntimeError("too slow")
        error.__cause__ = TimeoutError("the cause")
        return error

    with pytest.raises(RuntimeError, match="too slow") as caught:
        await deadlines.bound(SHORT, asyncio.sleep(10), too_slow)
    assert isinstance(caught.value.__cause__, TimeoutError)
    assert await deadlines.bound(10, asyncio.sleep(0, "done"), too_slow) == "done"
    assert not deadlines._watches


async def test_bound_lets_a_callers_cancel_through() -> None:
    deadlines = Deadlines.of_running_loop()
    task = asyncio.create_task(
        deadlines.bound(10, asyncio.sleep(10), lambda: RuntimeError("not this"))
    )
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not deadlines._watches
