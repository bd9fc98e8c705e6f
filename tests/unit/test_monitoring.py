"""Monitoring statistics and listeners (real calls are recorded in
tests/integration/test_monitoring.py)."""

from __future__ import annotations

import logging

import pytest

from fullon_cache.errors import CacheOutOfMemoryError, CacheTimeoutError
from fullon_cache.monitoring import BUCKETS_MS, Monitor, OperationEvent, operation_name


def test_an_unused_monitor_has_no_statistics() -> None:
    assert Monitor().snapshot() == {}


def test_calls_errors_and_latency_are_summed_per_operation() -> None:
    monitor = Monitor()
    monitor.record("get_ticker", 0.0002, None, "ns")
    monitor.record("get_ticker", 0.0040, CacheTimeoutError("late"), "ns")
    monitor.record("get_ticker", 0.0006, CacheTimeoutError("late"), "ns")
    monitor.record("set_ticker", 0.0300, CacheOutOfMemoryError("full"), "ns")
    snapshot = monitor.snapshot()
    assert list(snapshot) == ["get_ticker", "set_ticker"]
    assert snapshot["get_ticker"] == {
        "calls": 3,
        "errors": 2,
        "error_types": {"CacheTimeoutError": 2},
        "mean_ms": 1.6,
        "max_ms": 4.0,
        "p50_ms": 1.0,  # the middle call (0.6 ms) is in the bucket up to 1 ms
        "p99_ms": 5.0,
    }
    assert snapshot["set_ticker"]["error_types"] == {"CacheOutOfMemoryError": 1}


def test_percentiles_are_bucket_bounds_and_the_max_beyond_the_last() -> None:
    monitor = Monitor()
    for _ in range(99):
        monitor.record("ping", 0.00005, None, "ns")
    monitor.record("ping", 9.0, None, "ns")  # beyond the last bound
    stats = monitor.snapshot()["ping"]
    assert (stats["p50_ms"], stats["p99_ms"]) == (BUCKETS_MS[0], BUCKETS_MS[0])
    monitor.record("ping", 9.5, None, "ns")
    stats = monitor.snapshot()["ping"]
    assert (stats["p99_ms"], stats["max_ms"]) == (9500.0, 9500.0)


def test_a_snapshot_is_a_copy() -> None:
    monitor = Monitor()
    monitor.record("ping", 0.001, CacheTimeoutError("late"), "ns")
    monitor.snapshot()["ping"]["error_types"]["CacheTimeoutError"] = 99
    assert monitor.snapshot()["ping"]["error_types"] == {"CacheTimeoutError": 1}


def test_reset_forgets_statistics_but_keeps_listeners() -> None:
    monitor, events = Monitor(), []
    monitor.add_listener(events.append)
    monitor.record("ping", 0.001, None, "ns")
    monitor.reset()
    assert monitor.snapshot() == {}
    monitor.record("ping", 0.001, None, "ns")
    assert len(events) == 2


def test_listeners_receive_each_call() -> None:
    monitor, events = Monitor(), []
    monitor.add_listener(events.append)
    error = CacheTimeoutError("late")
    monitor.record("get_order_status", 0.25, error, "tenant_a")
    assert events == [OperationEvent("get_order_status", 0.25, error, "tenant_a")]


def test_a_removed_listener_is_not_called_and_removing_twice_is_harmless() -> None:
    monitor, events = Monitor(), []
    monitor.add_listener(events.append)
    monitor.remove_listener(events.append)
    monitor.remove_listener(events.append)
    monitor.record("ping", 0.001, None, "ns")
    assert events == []


def test_a_failing_listener_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    monitor, events = Monitor(), []

    def broken(event: OperationEvent) -> None:
        raise RuntimeError("listener bug")

    monitor.add_listener(broken)
    monitor.add_listener(events.append)
    with caplog.at_level(logging.ERROR, logger="fullon.cache.base"):
        monitor.record("ping", 0.001, None, "ns")
    assert len(events) == 1
    [record] = [r for r in caplog.records if "monitoring listener raised" in r.getMessage()]
    assert record.exc_info is not None
    assert "listener bug" in str(record.exc_info[1])


def _outside_the_library() -> str:
    return operation_name(0)


def test_a_private_caller_outside_the_library_keeps_its_name() -> None:
    # Inside the library the walk goes on to the public method (see the integration tests);
    # it never climbs into the application's or the event loop's frames.
    assert _outside_the_library() == "_outside_the_library"
    assert (lambda: operation_name(0))() == "<lambda>"


def test_operation_name_is_the_direct_caller_when_it_is_public() -> None:
    def get_ticker() -> str:
        return operation_name(0)

    assert get_ticker() == "get_ticker"
