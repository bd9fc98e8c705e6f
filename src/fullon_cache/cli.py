"""The ``fullon-cache`` command (also ``python -m fullon_cache``).

    fullon-cache demo [EXAMPLE...]   run the examples end to end; exit 0 only if all pass
    fullon-cache doctor [--json]     show the configuration, check the server, print hints
    fullon-cache docs [NAME]         list the guides, or print one
    fullon-cache examples [NAME]     list the examples, or print one's source
    fullon-cache bench [--json]      time the cache's calls against raw redis-py
    fullon-cache inspect [--json]    a read-only look at tickers, processes, queues, locks, metrics

``demo`` and ``bench`` start a private redis-server (see :mod:`fullon_cache.local_server`)
when the environment names no server, and work in a namespace of their own, so they never
touch other data on a configured server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from typing import TextIO

from fullon_cache import bench, docs, examples
from fullon_cache.bench_cases import BULK_ITEMS
from fullon_cache.connection import close_all
from fullon_cache.doctor import configuration_error_report, diagnose, format_report
from fullon_cache.errors import CacheError
from fullon_cache.inspection import format_state, inspect_state
from fullon_cache.local_server import LocalRedisServer
from fullon_cache.log import configure_logging
from fullon_cache.settings import CacheSettings, server_configured

__all__ = ["main"]

_INDENT = "    "


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


class _Indented(io.TextIOBase):
    """Writes to ``target`` with every line indented, so an example's output nests under it."""

    def __init__(self, target: TextIO) -> None:
        self._target = target
        self._at_line_start = True

    def write(self, text: str) -> int:
        for line in text.splitlines(keepends=True):
            if self._at_line_start:
                self._target.write(_INDENT)
            self._target.write(line)
            self._at_line_start = line.endswith("\n")
        self._target.flush()
        return len(text)


def _run_example(name: str, settings: CacheSettings) -> bool:
    async def run() -> None:
        try:
            await examples.load(name).main(settings)
        finally:
            await close_all()

    try:
        with contextlib.redirect_stdout(_Indented(sys.stdout)):
            asyncio.run(run())
    except Exception:  # noqa: BLE001 - the demo reports every failure and goes on
        traceback.print_exc()
        return False
    return True


def _summary_table(outcomes: list[tuple[str, bool, float]]) -> str:
    width = max(len("example"), *(len(name) for name, _, _ in outcomes))
    rows = [f"{'example':<{width}}  result  seconds"]
    rows += [
        f"{name:<{width}}  {'passed' if passed else 'FAILED':<6}  {seconds:>7.2f}"
        for name, passed, seconds in outcomes
    ]
    return "\n".join(rows)


def _run_examples(names: Sequence[str], settings: CacheSettings) -> list[tuple[str, bool, float]]:
    outcomes = []
    for number, name in enumerate(names, start=1):
        print(f"\n[{number}/{len(names)}] {name}: {examples.summary(name)}", flush=True)
        started = time.perf_counter()
        passed = _run_example(name, settings)
        seconds = time.perf_counter() - started
        print(f"{_INDENT}{'passed' if passed else 'FAILED'}: {name} ({seconds:.2f} s)", flush=True)
        outcomes.append((name, passed, seconds))
    return outcomes


def _demo(args: argparse.Namespace) -> int:
    unknown = sorted(set(args.names) - set(examples.EXAMPLES))
    if unknown:
        print(
            f"unknown example(s) {', '.join(unknown)}; choose from {', '.join(examples.EXAMPLES)}"
        )
        return 2
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        settings = _session_settings(stack, "demo")
        configure_logging(settings)
        print(f"server {settings.redacted_url()}, namespace {settings.key_prefix!r}")
        outcomes = _run_examples(args.names or examples.EXAMPLES, settings)
    failed = sum(not passed for _, passed, _ in outcomes)
    print(f"\n{_summary_table(outcomes)}")
    print(
        f"\n{len(outcomes) - failed} passed, {failed} failed "
        f"in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    return 1 if failed else 0


def _doctor(args: argparse.Namespace) -> int:
    try:
        settings = CacheSettings.from_env()
    except CacheError as error:
        report = configuration_error_report(error)
        status = 2
    else:
        configure_logging(settings)
        report = asyncio.run(diagnose(settings))
        status = 0 if report["ok"] else 1
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return status


def _bench(args: argparse.Namespace) -> int:
    with contextlib.ExitStack() as stack:
        settings = _session_settings(stack, "bench")
        configure_logging(settings)
        report = asyncio.run(bench.run_benchmark(settings, operations=args.operations))
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(f"{args.operations} calls of each kind ({BULK_ITEMS:,}-item writes: 1 in 100), "
              f"{bench.CONCURRENCY} tasks for x50, server {report.server}")  # fmt: skip
        print(bench.format_report(report))
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
        "inspect": (_inspect, "a read-only look at tickers, processes, queues, locks and metrics"),
    }
    for name, (handler, help_text) in handlers.items():
        command = commands.add_parser(name, help=help_text)
        command.set_defaults(handler=handler)
        if name == "demo":
            command.add_argument("names", nargs="*", metavar="EXAMPLE")
        elif name in {"docs", "examples"}:
            command.add_argument("name", nargs="?")
        elif name == "bench":
            command.add_argument("--operations", type=int, default=2000, metavar="N")
        if name in {"bench", "doctor", "inspect"}:
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
