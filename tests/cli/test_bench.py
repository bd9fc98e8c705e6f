"""``fullon-cache bench``: every row is measured on both sides and reported; timings are not
asserted (this machine is noisy), but round trips are counted on the wire, so they are."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator

import pytest
import redis

from fullon_cache.bench import BenchReport, Measurement, format_report
from fullon_cache.cli import main
from fullon_cache.local_server import LocalRedisServer

OPERATIONS = [
    "ping",
    "get_ticker",
    "get_ticker, new instance",
    "set_ticker",
    "set_tickers_batch",
    "get_position",
    "upsert_positions",
    "upsert_positions (bulk)",
    "get_order_status",
    "save_order_data",
    "order queue push + pop",
    "trade push + drain",
    "is_blocked",
    "get_latest_ohlcv_bars",
    "get_latest_ohlcv_bars 60",
    "update_ohlcv_bars",
    "update_ohlcv_bars (bulk)",
    "update_process",
]
HITS = {"ping", "get_ticker", "get_position", "get_order_status", "is_blocked",
        "get_latest_ohlcv_bars"}  # fmt: skip
ROUND_TRIPS = {"order queue push + pop": 3, "trade push + drain": 3, "set_tickers_batch": 2}
CHECKS = [
    "hits_within_1.5x_of_raw",
    "new_instance_within_1.5x_of_a_hit",
    "hits_take_one_round_trip",
    "bulk_writes_in_at_most_5_round_trips",
]


@pytest.fixture
def tcp_url() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with LocalRedisServer("--port", str(port), "--bind", "127.0.0.1"):
        yield f"redis://127.0.0.1:{port}/0"


def test_bench_prints_a_table_against_a_private_server(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--operations", "20"]) == 0
    out = capsys.readouterr().out
    assert "started a private redis-server" in out
    assert "20 calls of each kind" in out
    for name in OPERATIONS:
        assert re.search(rf"^\w+Cache +{re.escape(name)} +\d+ ", out, re.MULTILINE), name
    assert len(re.findall(r" \d+\.\d\dx$", out, re.MULTILINE)) == len(OPERATIONS)
    for check in CHECKS:
        assert re.search(rf"^ *(met|NOT MET)  {re.escape(check)}$", out, re.MULTILINE), check


def test_bench_json_over_tcp_counts_round_trips_and_leaves_no_keys(
    tcp_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_URL", tcp_url)
    assert main(["bench", "--operations", "20", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["server"] == tcp_url
    assert report["operations"] == 20
    assert report["concurrency"] == 50
    rows = {row["name"]: row for row in report["results"]}
    assert list(rows) == OPERATIONS
    for name, row in rows.items():
        assert row["p50_us"] > 0
        assert row["base_p50_us"] > 0
        assert row["p99_us"] >= row["p50_us"]
        assert row["ratio"] == round(row["p50_us"] / row["base_p50_us"], 3)
        assert row["hit"] is (name in HITS)
        bulk = "bulk" in name or name == "set_tickers_batch"
        assert row["items"] == (1000 if bulk else 1)
        assert (row["concurrent_ops_per_s"] is None) is bulk
        # Counted on the wire: every hit and single write is one round trip.
        assert row["round_trips"] == ROUND_TRIPS.get(name, 1), name
    assert rows["get_ticker, new instance"]["baseline"] == "get_ticker"
    assert list(report["checks"]) == CHECKS
    assert report["checks"]["hits_take_one_round_trip"] is True
    assert report["checks"]["bulk_writes_in_at_most_5_round_trips"] is True
    with redis.Redis.from_url(tcp_url) as client:
        assert client.dbsize() == 0


def _measurement(name: str, p50: float, base_p50: float, **changes: object) -> Measurement:
    fields: dict[str, object] = {
        "name": name, "layer": "TickCache", "baseline": "raw redis-py", "hit": True,
        "items": 1, "round_trips": 1, "p50_us": p50, "p99_us": p50 * 2,
        "concurrent_ops_per_s": 9000.0, "base_p50_us": base_p50, "base_p99_us": base_p50 * 2,
        "base_concurrent_ops_per_s": 12000.0,
    }  # fmt: skip
    return Measurement(**{**fields, **changes})  # type: ignore[arg-type]


def test_the_checks_fail_when_a_bar_is_missed() -> None:
    good = BenchReport("redis://x", 10, [_measurement("get", 150.0, 100.0)])
    assert good.results[0].ratio == 1.5
    assert all(good.checks().values())
    slow_hit = BenchReport("redis://x", 10, [_measurement("get", 151.0, 100.0)])
    assert slow_hit.checks()["hits_within_1.5x_of_raw"] is False
    slow_fresh = BenchReport(
        "redis://x", 10, [_measurement("new", 160.0, 100.0, hit=False, baseline="get_ticker")]
    )
    assert slow_fresh.checks()["new_instance_within_1.5x_of_a_hit"] is False
    two_trips = BenchReport("redis://x", 10, [_measurement("get", 100.0, 100.0, round_trips=2)])
    assert two_trips.checks()["hits_take_one_round_trip"] is False
    chatty_bulk = BenchReport(
        "redis://x", 10,
        [_measurement("batch", 9.0, 9.0, hit=False, items=1000, round_trips=6)],
    )  # fmt: skip
    assert chatty_bulk.checks()["bulk_writes_in_at_most_5_round_trips"] is False
    table = format_report(chatty_bulk)
    assert "NOT MET  bulk_writes_in_at_most_5_round_trips" in table
    assert re.search(r"batch +6 +9\.0 +18\.0 +9,000 \| raw redis-py", table)
