"""The performance benchmark behind ``fullon-cache bench`` (SPEC §9).

Each operation of :mod:`fullon_cache.bench_cases` runs through fullon_cache and, in the same
process against the same server, as its raw redis-py baseline, so the ratio between the two
is what the machine's noise cannot fake. For each side it reports the p50/p99 latency of
sequential calls, the ops/s of 50 concurrent tasks, and for the library side the round trips
one call takes (counted on the wire by a client that counts what it sends).

Example::

    report = asyncio.run(run_benchmark(settings, operations=2000))
    print(format_report(report))
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection

from fullon_cache.bench_cases import Caches, Call, Case, build_cases, prepare
from fullon_cache.connection import close_all, connection_class, server_kwargs
from fullon_cache.ohlcv_cache import OHLCVCache
from fullon_cache.settings import CacheSettings
from fullon_cache.trades_cache import TradesCache

__all__ = [
    "CONCURRENCY",
    "BenchReport",
    "Measurement",
    "counting_client",
    "format_report",
    "run_benchmark",
]

CONCURRENCY = 50
_SLICES = 10
HIT_RATIO_BAR = 1.5


@dataclass(frozen=True, slots=True)
class Measurement:
    """One operation through fullon_cache and through its baseline (µs, ops/s)."""

    name: str
    layer: str
    baseline: str
    hit: bool
    items: int
    round_trips: int
    p50_us: float
    p99_us: float
    concurrent_ops_per_s: float | None
    base_p50_us: float
    base_p99_us: float
    base_concurrent_ops_per_s: float | None

    @property
    def ratio(self) -> float:
        """fullon_cache's p50 divided by the baseline's (1.0 = no overhead)."""
        return self.p50_us / self.base_p50_us

    def as_dict(self) -> dict[str, Any]:
        """The numbers as a JSON-ready dict, ratio included."""
        return {**asdict(self), "ratio": round(self.ratio, 3)}


@dataclass(frozen=True, slots=True)
class BenchReport:
    """Every measurement of one run, and the SPEC §9 checks they pass or fail."""

    server: str
    operations: int
    results: list[Measurement] = field(default_factory=list)

    def checks(self) -> dict[str, bool]:
        """Hits within 1.5x of raw; the new-instance pattern within 1.5x of a plain hit;
        every hit one round trip; 1,000-item writes in a handful (≤ 5) of round trips."""
        hits = [m for m in self.results if m.hit]
        fresh = [m for m in self.results if m.baseline != "raw redis-py"]
        bulk = [m for m in self.results if m.items > 1]
        return {
            "hits_within_1.5x_of_raw": all(m.ratio <= HIT_RATIO_BAR for m in hits),
            "new_instance_within_1.5x_of_a_hit": all(m.ratio <= HIT_RATIO_BAR for m in fresh),
            "hits_take_one_round_trip": all(m.round_trips == 1 for m in hits),
            "bulk_writes_in_at_most_5_round_trips": all(m.round_trips <= 5 for m in bulk),
        }

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (what ``bench --json`` prints).

        Example::

            json.dumps(report.as_dict())
        """
        return {
            "server": self.server,
            "operations": self.operations,
            "concurrency": CONCURRENCY,
            "results": [m.as_dict() for m in self.results],
            "checks": self.checks(),
        }


def counting_client(settings: CacheSettings) -> tuple[Redis, list[int]]:
    """A real redis-py client whose connections count what they send: one send is one round
    trip (a pipeline is packed and sent whole, then its replies are read).

    Example::

        client, sends = counting_client(settings)
        await client.ping(); sends[0]   # 1
    """
    sends = [0]

    class Counting(connection_class(settings)):  # type: ignore[misc]
        async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            sends[0] += 1
            await super().send_packed_command(command, check_health)

    return _client(Counting, settings), sends


def raw_client(settings: CacheSettings) -> Redis:
    """A plain redis-py client on the server of ``settings``: redis-py's defaults, with no
    socket timeout (like the library's own pools), so the baseline is redis-py's fastest path.

    Example::

        await raw_client(settings).ping()
    """
    return _client(connection_class(settings), settings)


def _client(cls: type[AbstractConnection], settings: CacheSettings) -> Redis:
    # redis-py's connections default to a 5 s socket timeout, which costs ~40 µs a command.
    pool = ConnectionPool(connection_class=cls, socket_timeout=None, **server_kwargs(settings))
    return Redis.from_pool(pool)


async def _timed(call: Call, calls: int, samples: list[float]) -> None:
    for _ in range(calls):
        started = time.perf_counter_ns()
        await call()
        samples.append((time.perf_counter_ns() - started) / 1000)


async def _sequential(ours: Call, raw: Call, calls: int) -> tuple[list[float], list[float]]:
    """Latencies of both sides, measured in alternating slices so that a change in the
    machine's load falls on both alike."""
    for _ in range(max(3, calls // 10)):  # warm-up: connections, scripts, caches
        await ours()
        await raw()
    ours_samples: list[float] = []
    raw_samples: list[float] = []
    for slice_calls in _slices(calls):
        await _timed(ours, slice_calls, ours_samples)
        await _timed(raw, slice_calls, raw_samples)
    return sorted(ours_samples), sorted(raw_samples)


def _slices(calls: int) -> list[int]:
    count = min(_SLICES, calls)
    return [calls // count + (1 if index < calls % count else 0) for index in range(count)]


async def _concurrent(call: Call, calls: int) -> float:
    async def worker(count: int) -> None:
        for _ in range(count):
            await call()

    per_task = max(1, calls // CONCURRENCY)
    started = time.perf_counter()
    await asyncio.gather(*(worker(per_task) for _ in range(CONCURRENCY)))
    return per_task * CONCURRENCY / (time.perf_counter() - started)


def _p50_p99(samples: list[float]) -> tuple[float, float]:
    return statistics.median(samples), samples[round(0.99 * (len(samples) - 1))]


async def _round_trips(call: Call, sends: list[int]) -> int:
    await call()  # the first call may load a script
    before = sends[0]
    await call()
    return sends[0] - before


async def _measure(case: Case, counted: Case, sends: list[int], operations: int) -> Measurement:
    calls = operations if case.items == 1 else max(3, operations // 100)
    round_trips = await _round_trips(counted.ours, sends)
    ours, raw = await _sequential(case.ours, case.raw, calls)
    (p50, p99), (base_p50, base_p99) = _p50_p99(ours), _p50_p99(raw)
    single = case.items == 1
    return Measurement(
        case.name, case.layer, case.baseline, case.hit, case.items, round_trips, p50, p99,
        await _concurrent(case.ours, calls) if single else None, base_p50, base_p99,
        await _concurrent(case.raw, calls) if single else None,
    )  # fmt: skip


def _caches(settings: CacheSettings, client: Redis | None) -> Caches:
    caches = Caches(OHLCVCache(settings, redis=client), TradesCache(settings, redis=client))
    caches.bots.source = caches.trades.source = None  # reference data is not measured here
    return caches


async def run_benchmark(settings: CacheSettings, operations: int = 2000) -> BenchReport:
    """Time every case against its baseline; deletes its namespace's keys afterwards.

    Example::

        report = await run_benchmark(settings, operations=1000)
        report.checks()["hits_within_1.5x_of_raw"]
    """
    raw = raw_client(settings)
    counting, sends = counting_client(settings)
    caches = _caches(settings, None)
    counted_caches = _caches(settings, counting)
    try:
        process_id = await prepare(caches)
        cases = build_cases(caches, raw, process_id)
        counted = build_cases(counted_caches, raw, process_id, borrowed=counting)
        report = BenchReport(settings.redacted_url(), operations)
        for case, counted_case in zip(cases, counted, strict=True):
            report.results.append(await _measure(case, counted_case, sends, operations))
        return report
    finally:
        await caches.bots.prepare_cache()
        await caches.aclose()
        await counted_caches.aclose()
        await counting.aclose()
        await raw.aclose()
        await close_all()


def _ops(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def format_report(report: BenchReport) -> str:
    """The measurements as a fixed-width table, followed by the SPEC §9 checks.

    Example::

        print(format_report(await run_benchmark(settings)))
    """
    header = (
        f"{'layer':<12} {'operation':<25} {'RTs':>3} {'p50 µs':>8} {'p99 µs':>8} "
        f"{'x50 ops/s':>9} | {'baseline':<12} {'p50 µs':>8} {'p99 µs':>8} {'x50 ops/s':>9} "
        f"| {'ratio':>6}"
    )
    rows = [
        f"{m.layer:<12} {m.name:<25} {m.round_trips:>3} {m.p50_us:>8.1f} {m.p99_us:>8.1f} "
        f"{_ops(m.concurrent_ops_per_s):>9} | {m.baseline:<12} {m.base_p50_us:>8.1f} "
        f"{m.base_p99_us:>8.1f} {_ops(m.base_concurrent_ops_per_s):>9} | {m.ratio:>5.2f}x"
        for m in report.results
    ]
    checks = [f"{'met' if met else 'NOT MET':>7}  {name}" for name, met in report.checks().items()]
    return "\n".join([header, "-" * len(header), *rows, "", *checks])
