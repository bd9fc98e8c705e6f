"""Performance: time the cache's calls against raw redis-py on the same server, in one run.

Ratios are what to look at (the same machine, the same moment): a cache hit should cost one
round trip plus decoding, within 1.5x of the raw command. The full benchmark is
``fullon-cache bench``; this example runs a short one.

Run it: ``python -m fullon_cache.examples.performance_test`` (uses REDIS_URL and the namespace
``fullon_examples``), ``asyncio.run(performance_test.main(settings))`` or ``fullon-cache demo``.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

from fullon_cache import CacheSettings
from fullon_cache.bench import format_report, run_benchmark

SOURCE = Path(__file__).read_text(encoding="utf-8")
OPERATIONS = 300  # calls of each kind: enough for a p50, quick enough for the demo


async def main(settings: CacheSettings | None = None) -> None:
    """Measure a few hundred calls of each kind and print them next to raw redis-py."""
    settings = settings or CacheSettings.from_env().replace(key_prefix="fullon_examples")
    report = await run_benchmark(settings, operations=OPERATIONS)
    print(format_report(report))
    # Timings vary with the machine and are not asserted; round trips are counted on the
    # wire, so they are: every cache hit is one, a 1,000-item write a handful.
    assert {m.name for m in report.results} >= {"get_ticker", "set_ticker", "is_blocked"}
    assert all(math.isfinite(m.ratio) and m.ratio > 0 for m in report.results)
    assert report.checks()["hits_take_one_round_trip"]
    assert report.checks()["bulk_writes_in_at_most_5_round_trips"]


if __name__ == "__main__":
    asyncio.run(main())
