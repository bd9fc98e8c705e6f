"""The configuration and server check behind ``fullon-cache doctor``.

The report is a plain dict (what ``doctor --json`` prints); :func:`format_report` renders it
for a terminal. Secrets never enter it: the server is shown as :meth:`CacheSettings.redacted_url`
and errors by their type and message, which the library keeps free of secrets.

Example::

    report = asyncio.run(diagnose(CacheSettings.from_env()))
    print(format_report(report))      # report["ok"] is False when a problem was found
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from fullon_cache.base_cache import BaseCache
from fullon_cache.connection import close_all
from fullon_cache.errors import CacheError
from fullon_cache.settings import CacheSettings

__all__ = ["PING_SAMPLES", "configuration_error_report", "diagnose", "format_report"]

PING_SAMPLES = 20

_UNREACHABLE_HINT = (
    "Is redis-server running there? "
    "Set REDIS_URL (or REDIS_HOST/REDIS_PORT, REDIS_USERNAME/REDIS_PASSWORD)."
)


def _configuration(settings: CacheSettings) -> dict[str, Any]:
    return {
        "server": settings.redacted_url(),
        "namespace": settings.key_prefix,
        "socket_timeout_s": settings.socket_timeout,
        "connect_timeout_s": settings.socket_connect_timeout,
        "deadline_s": settings.deadline,
        "max_connections": settings.max_connections,
    }


async def _server(settings: CacheSettings) -> dict[str, Any]:
    try:
        async with BaseCache(settings) as cache:
            info = await cache.info()
            samples = []
            for _ in range(PING_SAMPLES):
                started = time.perf_counter()
                await cache.ping()
                samples.append((time.perf_counter() - started) * 1000)
            sharded = cache._connections().sharded_pubsub  # known after the first call
    finally:
        await close_all()
    return {
        "version": info.get("redis_version"),
        "mode": info.get("redis_mode", info.get("server_mode")),  # Valkey 8+: server_mode
        "pubsub": "sharded (SSUBSCRIBE/SPUBLISH)" if sharded else "classic (SUBSCRIBE/PUBLISH)",
        "maxmemory_policy": info.get("maxmemory_policy", "?"),
        "maxmemory": info.get("maxmemory"),
        "ping_p50_ms": round(statistics.median(samples), 3),
    }


def _server_problems(server: dict[str, Any]) -> list[str]:
    policy = server["maxmemory_policy"]
    if policy == "noeviction":
        return []
    return [
        f"maxmemory-policy is {policy}: Redis may silently drop locks and queues; "
        "run `CONFIG SET maxmemory-policy noeviction` and put it in redis.conf"
    ]


async def diagnose(settings: CacheSettings) -> dict[str, Any]:
    """Check ``settings`` against its server: configuration, server facts, problems with hints.

    Example::

        report = await diagnose(settings)
        report["server"]["ping_p50_ms"], report["problems"]
    """
    report: dict[str, Any] = {"configuration": _configuration(settings), "server": None}
    try:
        report["server"] = await _server(settings)
        report["problems"] = _server_problems(report["server"])
    except CacheError as error:
        report["problems"] = [f"{type(error).__name__}: {error}. {_UNREACHABLE_HINT}"]
    report["ok"] = not report["problems"]
    return report


def configuration_error_report(error: CacheError) -> dict[str, Any]:
    """The report when the settings themselves cannot be read (no server was contacted).

    Example::

        configuration_error_report(CacheConfigError("REDIS_PORT must be an integer"))
    """
    return {
        "configuration": None,
        "server": None,
        "problems": [f"configuration error: {error}"],
        "ok": False,
    }


def _configuration_lines(config: dict[str, Any]) -> list[str]:
    return [
        "configuration",
        f"  server      {config['server']}",
        f"  namespace   {config['namespace']}",
        f"  timeouts    socket {config['socket_timeout_s']:g} s, connect "
        f"{config['connect_timeout_s']:g} s, deadline per call {config['deadline_s']:g} s",
        f"  pool        {config['max_connections']} connections",
    ]


def _server_lines(server: dict[str, Any]) -> list[str]:
    return [
        f"  server      Redis {server['version']} ({server['mode']})",
        f"  pub/sub     {server['pubsub']}",
        f"  eviction    maxmemory-policy {server['maxmemory_policy']}, "
        f"maxmemory {server['maxmemory']}",
        f"  latency     p50 {server['ping_p50_ms']:.3f} ms over {PING_SAMPLES} pings",
    ]


def format_report(report: dict[str, Any]) -> str:
    """The report as terminal text: configuration, server, then each problem with its hint.

    Example::

        print(format_report(await diagnose(settings)))
    """
    if report["configuration"] is None:
        return "\n".join(report["problems"])
    lines = [*_configuration_lines(report["configuration"]), "checking the server"]
    if report["server"] is not None:
        lines += _server_lines(report["server"])
    lines += [f"PROBLEM: {problem}" for problem in report["problems"]]
    problems = len(report["problems"])
    lines.append(f"{problems} problem(s)" if problems else "no problems found")
    return "\n".join(lines)
