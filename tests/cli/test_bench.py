"""``fullon-cache bench``: both sides are measured and reported (values are not asserted)."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator

import pytest

from fullon_cache.bench import Measurement, format_table
from fullon_cache.cli import main
from fullon_cache.local_server import LocalRedisServer

OPERATIONS = [
    "ping",
    "ping, new instance",
    "pop (empty queue)",
    "push + pop",
    "set_ticker",
    "get_ticker (hit)",
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
    assert "20 sequential calls each" in out
    for name in OPERATIONS:
        assert name in out
    assert len(re.findall(r" \d+\.\d\dx$", out, re.MULTILINE)) == len(OPERATIONS)


def test_bench_json_over_tcp_leaves_no_keys(
    tcp_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_URL", tcp_url)
    assert main(["bench", "--operations", "20", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["name"] for row in rows] == OPERATIONS
    for row in rows:
        assert row["p50_us"] > 0
        assert row["raw_p50_us"] > 0
        assert row["p99_us"] >= row["p50_us"]
        assert row["ratio"] == round(row["p50_us"] / row["raw_p50_us"], 3)
    import redis

    client = redis.Redis.from_url(tcp_url)
    assert client.dbsize() == 0
    client.close()


def test_measurement_ratio_and_table() -> None:
    m = Measurement("get", 150.0, 300.0, 6000.0, 100.0, 200.0, 9000.0)
    assert m.ratio == 1.5
    assert m.as_dict()["ratio"] == 1.5
    table = format_table([m])
    assert "get" in table
    assert "1.50x" in table
