"""The ``fullon-cache`` command (also ``python -m fullon_cache``).

    fullon-cache demo                run every example end to end; exit 0 only if all pass
    fullon-cache doctor              show the configuration, check the server, print hints
    fullon-cache docs [NAME]         list the guides, or print one
    fullon-cache examples [NAME]     list the examples, or print one's source
    fullon-cache bench [--json]      time the cache's calls against raw redis-py
    fullon-cache inspect [--json]    a read-only look at tickers, processes, queues, locks

``demo`` and ``bench`` start a private redis-server (see :mod:`fullon_cache.local_server`)
when the environment names no server, and work in a namespace of their own, so they never
touch other data on a configured server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import time
import traceback
import uuid
from collections.abc import Callable, Sequence

from fullon_cache import docs, examples
from fullon_cache.base_cache import BaseCache
from fullon_cache.bench import format_table, run_benchmark
from fullon_cache.connection import close_all
from fullon_cache.errors import CacheError
from fullon_cache.inspection import format_state, inspect_state
from fullon_cache.local_server import LocalRedisServer
from fullon_cache.log import configure_logging
from fullon_cache.settings import CacheSettings, server_configured

__all__ = ["main"]

_PING_SAMPLES = 20


def _session_settings(stack: contextlib.ExitStack, purpose: str) -> CacheSettings:
    settings = CacheSettings.from_env()
    if not server_configured():
        server = stack.enter_context(LocalRedisServer())
        print(f"no Redis configured: started a private redis-server {server.url}")
        settings = settings.replace(
            unix_socket_path=server.socket_path, db=0, username=None, password=None, ssl=False
        )
    namespace = f"{settings.key_prefix}_{purpose}_{uuid.uuid4().hex[:8]}"
    return settings.replace(key_prefix=namespace)


def _run_example(name: str, settings: CacheSettings) -> bool:
    print(f"\n== {name} ==", flush=True)

    async def run() -> None:
        try:
            await examples.load(name).main(settings)
        finally:
            await close_all()

    try:
        asyncio.run(run())
    except Exception:  # noqa: BLE001 - the demo reports every failure and goes on
        traceback.print_exc()
        print(f"FAILED: {name}", flush=True)
        return False
    print(f"passed: {name}", flush=True)
    return True


def _demo(args: argparse.Namespace) -> int:
    unknown = sorted(set(args.names) - set(examples.EXAMPLES))
    if unknown:
        print(
            f"unknown example(s) {', '.join(unknown)}; choose from {', '.join(examples.EXAMPLES)}"
        )
        return 2
    with contextlib.ExitStack() as stack:
        settings = _session_settings(stack, "demo")
        configure_logging(settings)
        print(f"server {settings.redacted_url()}, namespace {settings.key_prefix!r}")
        names = args.names or examples.EXAMPLES
        failed = [name for name in names if not _run_example(name, settings)]
    print(f"\n{len(names) - len(failed)} passed, {len(failed)} failed", flush=True)
    return 1 if failed else 0


async def _check_server(settings: CacheSettings) -> list[str]:
    problems = []
    try:
        async with BaseCache(settings) as cache:
            info = await cache.info()
            samples = []
            for _ in range(_PING_SAMPLES):
                started = time.perf_counter()
                await cache.ping()
                samples.append((time.perf_counter() - started) * 1000)
    finally:
        await close_all()
    policy = info.get("maxmemory_policy", "?")
    print(f"  server      Redis {info.get('redis_version')} ({info.get('redis_mode')})")
    print(f"  eviction    maxmemory-policy {policy}, maxmemory {info.get('maxmemory')}")
    print(f"  latency     p50 {statistics.median(samples):.3f} ms over {_PING_SAMPLES} pings")
    if policy != "noeviction":
        problems.append(
            f"maxmemory-policy is {policy}: Redis may silently drop locks and queues; "
            "run `CONFIG SET maxmemory-policy noeviction` and put it in redis.conf"
        )
    return problems


def _doctor(_: argparse.Namespace) -> int:
    try:
        settings = CacheSettings.from_env()
    except CacheError as error:
        print(f"configuration error: {error}")
        return 2
    configure_logging(settings)
    print("configuration")
    print(f"  server      {settings.redacted_url()}")
    print(f"  namespace   {settings.key_prefix}")
    print(
        f"  timeouts    socket {settings.socket_timeout:g} s, connect "
        f"{settings.socket_connect_timeout:g} s, deadline per call {settings.deadline:g} s"
    )
    print(f"  pool        {settings.max_connections} connections")
    print("checking the server")
    try:
        problems = asyncio.run(_check_server(settings))
    except CacheError as error:
        problems = [
            f"{type(error).__name__}: {error}. Is redis-server running there? "
            "Set REDIS_URL (or REDIS_HOST/REDIS_PORT, REDIS_USERNAME/REDIS_PASSWORD)."
        ]
    for problem in problems:
        print(f"PROBLEM: {problem}")
    print("no problems found" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


def _bench(args: argparse.Namespace) -> int:
    with contextlib.ExitStack() as stack:
        settings = _session_settings(stack, "bench")
        configure_logging(settings)
        results = asyncio.run(run_benchmark(settings, operations=args.operations))
    if args.json:
        print(json.dumps([m.as_dict() for m in results], indent=2))
    else:
        print(f"{args.operations} sequential calls each, server {settings.redacted_url()}")
        print(format_table(results))
    return 0


def _inspect(args: argparse.Namespace) -> int:
    try:
        settings = CacheSettings.from_env()
        state = asyncio.run(inspect_state(settings))
    except CacheError as error:
        print(
            f"cannot inspect: {type(error).__name__}: {error}. Is REDIS_URL right? "
            "(`fullon-cache doctor` checks the configuration)"
        )
        return 1
    print(json.dumps(state, indent=2) if args.json else format_state(state))
    return 0


def _print_named(title: str, items: dict[str, str], name: str | None) -> int:
    if name is None:
        print(f"{title}: {', '.join(items)}")
        return 0
    if name not in items:
        print(f"unknown name {name!r}; choose from {', '.join(items)}")
        return 2
    print(items[name])
    return 0


def _docs(args: argparse.Namespace) -> int:
    return _print_named("guides", docs.get_all_docs(), args.name)


def _examples(args: argparse.Namespace) -> int:
    return _print_named("examples", examples.get_all_examples(), args.name)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fullon-cache", description="fullon_cache tools")
    commands = parser.add_subparsers(dest="command", required=True)
    handlers: dict[str, tuple[Callable[[argparse.Namespace], int], str]] = {
        "demo": (_demo, "run every example end to end"),
        "doctor": (_doctor, "check the configuration and the server"),
        "docs": (_docs, "list or print the bundled guides"),
        "examples": (_examples, "list or print the bundled examples"),
        "bench": (_bench, "time the cache's calls against raw redis-py"),
        "inspect": (_inspect, "a read-only look at tickers, processes, queues and locks"),
    }
    for name, (handler, help_text) in handlers.items():
        command = commands.add_parser(name, help=help_text)
        command.set_defaults(handler=handler)
        if name == "demo":
            command.add_argument("names", nargs="*", metavar="EXAMPLE")
        elif name in {"docs", "examples"}:
            command.add_argument("name", nargs="?")
        elif name == "bench":
            command.add_argument("--operations", type=int, default=5000, metavar="N")
        if name in {"bench", "inspect"}:
            command.add_argument("--json", action="store_true", help="print JSON, not a table")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``fullon-cache``; returns the exit status.

    Example::

        main(["docs", "QUICK_START"])
    """
    args = _parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)
