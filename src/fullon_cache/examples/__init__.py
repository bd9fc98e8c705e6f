"""Runnable examples: each module has an async ``main(settings=None)`` that asserts what it shows.

``main()`` with no settings uses the environment (``REDIS_URL`` ...) and the namespace
``fullon_examples``; it deletes only that namespace's keys. Each module's own source is its
``SOURCE`` constant.

Example::

    import asyncio
    from fullon_cache.examples import basic_usage

    asyncio.run(basic_usage.main())
    print(get_all_examples()["basic_usage"])
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["EXAMPLES", "get_all_examples", "load", "summary"]

EXAMPLES: tuple[str, ...] = (
    "basic_usage",
    "process_monitoring",
    "reference_data",
    "pubsub_example",
    "queue_patterns",
    "bot_coordination",
    "performance_test",
)


def load(name: str) -> ModuleType:
    """Import the example module ``name`` (one of :data:`EXAMPLES`).

    Example::

        await load("basic_usage").main(settings)
    """
    if name not in EXAMPLES:
        raise KeyError(f"unknown example {name!r}; choose from {', '.join(EXAMPLES)}")
    return importlib.import_module(f"fullon_cache.examples.{name}")


def summary(name: str) -> str:
    """What the example ``name`` shows: the first line of its docstring.

    Example::

        summary("basic_usage")   # 'BaseCache basics: connect, check the server, ...'
    """
    return (load(name).__doc__ or "").strip().splitlines()[0]


def get_all_examples() -> dict[str, str]:
    """The source code of every example, by name.

    Example::

        print(get_all_examples()["basic_usage"])
    """
    return {name: load(name).SOURCE for name in EXAMPLES}
