"""singleflight.once: concurrent loads of one key share a single call (no Redis needed)."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

from fullon_cache import singleflight
from fullon_cache.singleflight import once


class Loader:
    """A load that counts its calls and finishes only when the test releases it."""

    def __init__(self, result: Any = "value") -> None:
        self.calls = 0
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.result = result
        self.error: BaseException | None = None
        self.cancelled = False

    async def __call__(self) -> Any:
        self.calls += 1
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        if self.error is not None:
            raise self.error
        return self.result


async def joined(count: int) -> None:
    """Let ``count`` freshly created tasks run up to their first await."""
    for _ in range(count + 2):
        await asyncio.sleep(0)


def pending_keys() -> set[str]:
    return set(singleflight._inflight.get(asyncio.get_running_loop(), {}))


async def test_concurrent_calls_of_one_key_share_one_load() -> None:
    load = Loader(result=["shared"])
    tasks = [asyncio.create_task(once("k", load)) for _ in range(20)]
    await load.started.wait()
    await joined(20)
    assert pending_keys() == {"k"}
    load.release.set()
    results = await asyncio.gather(*tasks)
    assert load.calls == 1
    assert all(result == ["shared"] for result in results)
    assert all(result is results[0] for result in results)  # the very same object
    assert pending_keys() == set()


async def test_different_keys_load_independently() -> None:
    first, second = Loader(result=1), Loader(result=2)
    a = asyncio.create_task(once("a", first))
    b = asyncio.create_task(once("b", second))
    await first.started.wait()
    await second.started.wait()
    assert pending_keys() == {"a", "b"}
    first.release.set()
    second.release.set()
    assert await asyncio.gather(a, b) == [1, 2]
    assert (first.calls, second.calls) == (1, 1)


async def test_a_call_after_completion_loads_again() -> None:
    load = Loader()
    load.release.set()
    assert await once("k", load) == "value"
    load.result = "newer"
    assert await once("k", load) == "newer"
    assert load.calls == 2


async def test_a_failure_reaches_every_waiter() -> None:
    load = Loader()
    load.error = LookupError("database down")
    tasks = [asyncio.create_task(once("k", load)) for _ in range(5)]
    await load.started.wait()
    await joined(5)
    load.release.set()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert load.calls == 1
    assert all(outcome is load.error for outcome in outcomes)
    assert pending_keys() == set()
    # ...and the key is free again: the next call loads afresh.
    load.error = None
    assert await once("k", load) == "value"
    assert load.calls == 2


async def test_a_failure_nobody_joined_is_not_logged_as_never_retrieved() -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:

        async def fails() -> None:
            raise LookupError("database down")

        for _ in range(3):
            with pytest.raises(LookupError):
                await once("k", fails)
        gc.collect()  # the shared future sits in a reference cycle with its exception
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(None)
    assert reported == []


async def test_a_future_left_unretrieved_is_reported_by_this_loop() -> None:
    """The check above can fail: an unretrieved failed future *is* reported here."""
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        future: asyncio.Future[None] = loop.create_future()
        future.set_exception(LookupError("never looked at"))
        del future
        gc.collect()
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(None)
    assert any("never retrieved" in context["message"] for context in reported)


async def test_cancelling_a_joiner_does_not_cancel_the_load() -> None:
    load = Loader()
    leader = asyncio.create_task(once("k", load))
    await load.started.wait()
    joiner = asyncio.create_task(once("k", load))
    other = asyncio.create_task(once("k", load))
    await joined(2)
    joiner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await joiner
    assert not load.cancelled
    assert pending_keys() == {"k"}
    load.release.set()
    assert await leader == "value"
    assert await other == "value"
    assert load.calls == 1


async def test_cancelling_the_leader_cancels_the_joiners_shared_wait() -> None:
    load = Loader()
    leader = asyncio.create_task(once("k", load))
    await load.started.wait()
    joiners = [asyncio.create_task(once("k", load)) for _ in range(3)]
    await joined(3)
    leader.cancel()
    outcomes = await asyncio.gather(leader, *joiners, return_exceptions=True)
    assert load.cancelled
    assert all(isinstance(outcome, asyncio.CancelledError) for outcome in outcomes)
    assert pending_keys() == set()
    # The key is not stuck: the next call runs a load of its own.
    load.release.set()
    assert await once("k", load) == "value"
    assert load.calls == 2


async def test_a_load_on_another_event_loop_is_not_joined() -> None:
    load = Loader()
    leader = asyncio.create_task(once("k", load))
    await load.started.wait()

    async def elsewhere() -> str:
        return await once("k", lambda: asyncio.sleep(0, result="other loop"))

    # A second loop in a thread: it must run its own load, not wait on this loop's future.
    assert await asyncio.to_thread(asyncio.run, elsewhere()) == "other loop"
    assert pending_keys() == {"k"}
    load.release.set()
    assert await leader == "value"
    assert load.calls == 1
