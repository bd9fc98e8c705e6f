"""Fault tests: each test gets its own private server (they restart, pause and fill it)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from fullon_cache import CacheSettings
from fullon_cache.connection import close_all
from fullon_cache.local_server import LocalRedisServer
from tests.support.proxy import FaultProxy

SOCKET_TIMEOUT = 0.5  # so a call's deadline is 1.5 s


@pytest.fixture
def server() -> Iterator[LocalRedisServer]:
    with LocalRedisServer() as server:
        yield server


@pytest.fixture
def fast_settings(server: LocalRedisServer, namespace: str) -> CacheSettings:
    """Settings for the private server with short timeouts."""
    return CacheSettings.from_url(
        server.url,
        key_prefix=namespace,
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=SOCKET_TIMEOUT,
    )


@pytest.fixture
async def proxy(server: LocalRedisServer) -> AsyncIterator[FaultProxy]:
    async with await FaultProxy.start(server.socket_path) as proxy:
        yield proxy


@pytest.fixture
def proxied_settings(proxy: FaultProxy, fast_settings: CacheSettings) -> CacheSettings:
    """The same server, reached over TCP through the fault proxy."""
    return fast_settings.replace(unix_socket_path=None, host=proxy.host, port=proxy.port)


@pytest.fixture(autouse=True)
async def _close_shared_pools() -> AsyncIterator[None]:
    yield
    await close_all()
