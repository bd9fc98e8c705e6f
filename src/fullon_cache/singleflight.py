"""One load at a time per key: concurrent cache misses share a single trip to the source.

Example::

    symbols = await once("symbols:1", lambda: source.get_symbols(1))
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

__all__ = ["once"]

_T = TypeVar("_T")
_inflight: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Future[Any]]]
_inflight = weakref.WeakKeyDictionary()


async def once(key: str, load: Callable[[], Awaitable[_T]]) -> _T:
    """Run ``load()`` unless a load of ``key`` is already running; then share its outcome.

    Callers that join a running load get its result or its exception; cancelling one of them
    does not cancel the load.

    Example::

        a, b = await asyncio.gather(once("k", fetch), once("k", fetch))   # fetch runs once
    """
    loop = asyncio.get_running_loop()
    pending = _inflight.setdefault(loop, {})
    running = pending.get(key)
    if running is not None:
        return await asyncio.shield(running)
    future: asyncio.Future[_T] = loop.create_future()
    pending[key] = future
    try:
        result = await load()
    except BaseException as exc:
        if isinstance(exc, asyncio.CancelledError):
            future.cancel()
        else:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody joined
        raise
    else:
        future.set_result(result)
        return result
    finally:
        del pending[key]
