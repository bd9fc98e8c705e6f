"""``rediss://``: calls work over TLS with the right CA; certificate verification is always on.

The bundled redis-server 6.2 has no TLS, so the fault proxy with ``tls=`` serves this
worker's private server with certificates from a PKI the test session makes with
``openssl``. The client side is exactly what fullon_cache builds in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from fullon_cache import (
    BaseCache,
    CacheError,
    CacheUnavailableError,
    OrdersCache,
    TickCache,
    close_all,
)
from fullon_cache.bench import counting_client
from fullon_cache.local_server import LocalRedisServer
from fullon_cache.models import Tick
from fullon_cache.settings import CacheSettings
from tests.security.conftest import SECRET, exception_texts, log_texts
from tests.support.proxy import FaultProxy
from tests.support.tls import Pki, make_pki, openssl_available, server_context

GUARD = 10.0


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA, an unrelated CA and server certificates, made once per worker."""
    if not openssl_available():
        pytest.skip("the openssl command line is needed to make test certificates")
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
async def tls_proxy(private_server: LocalRedisServer, pki: Pki) -> AsyncIterator[FaultProxy]:
    """TLS on 127.0.0.1 with a certificate for localhost and 127.0.0.1."""
    tls = server_context(pki.server_cert, pki.server_key)
    async with await FaultProxy.start(private_server.socket_path, tls=tls) as proxy:
        yield proxy


@pytest.fixture
async def wrong_name_proxy(private_server: LocalRedisServer, pki: Pki) -> AsyncIterator[FaultProxy]:
    """TLS on 127.0.0.1 with a certificate from the right CA, for ``redis.invalid`` only."""
    tls = server_context(pki.wrong_name_cert, pki.wrong_name_key)
    async with await FaultProxy.start(private_server.socket_path, tls=tls) as proxy:
        yield proxy


def over_tls(acl: CacheSettings, proxy: FaultProxy, ca: Path | None) -> CacheSettings:
    """The ACL user's settings, but through ``rediss://`` to ``proxy`` trusting ``ca``."""
    url = f"rediss://{acl.username}:{acl.password}@{proxy.host}:{proxy.port}/0"
    return CacheSettings.from_url(
        url, key_prefix=acl.key_prefix, ssl_ca_certs=None if ca is None else str(ca)
    )


@pytest.fixture
def captured_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.DEBUG):
        yield caplog


def assert_no_secret(error: BaseException, caplog: pytest.LogCaptureFixture) -> None:
    assert SECRET not in exception_texts(error)
    assert SECRET not in log_texts(caplog.records)


# -- with the right CA ------------------------------------------------------------------------


async def test_calls_work_over_tls_with_the_ca_configured(
    acl_settings: CacheSettings, tls_proxy: FaultProxy, pki: Pki
) -> None:
    """With ssl_ca_certs set, commands, Lua, blocking pops and pub/sub work over TLS."""
    settings = over_tls(acl_settings, tls_proxy, pki.ca_cert)
    assert settings.ssl is True
    now = time.time()
    async with asyncio.timeout(GUARD), OrdersCache(settings) as cache:
        cache.source = None
        assert await cache.ping() is True
        assert await cache.set_ticker(Tick(symbol="BTC/USDT", exchange="x", price=1.0, time=now))
        await cache.push_open_order("bot 1", "7")
        assert await cache.pop_open_order("bot 1", timeout=1) == "7"
        async with contextlib.aclosing(cache.stream_ticker_updates("x")) as ticks:
            assert (await anext(ticks)).price == 1.0
            await cache.set_ticker(Tick(symbol="BTC/USDT", exchange="x", price=2.0, time=now + 1))
            assert (await anext(ticks)).price == 2.0
    assert tls_proxy.accepted >= 2  # command and blocking pools both went through TLS


async def test_the_benchmarks_counting_client_speaks_tls_and_counts_round_trips(
    acl_settings: CacheSettings, tls_proxy: FaultProxy, pki: Pki
) -> None:
    """The benchmark's round-trip counter works against a rediss:// server too."""
    client, sends = counting_client(over_tls(acl_settings, tls_proxy, pki.ca_cert))
    try:
        async with asyncio.timeout(GUARD):
            assert await client.ping() is True
            before = sends[0]
            async with client.pipeline(transaction=False) as pipe:
                pipe.ping()
                pipe.ping()
                assert await pipe.execute() == [True, True]
        assert sends[0] - before == 1  # a pipeline is one round trip
        assert tls_proxy.accepted == 1
    finally:
        await client.aclose()


async def test_tls_settings_come_from_the_environment(
    acl_settings: CacheSettings, tls_proxy: FaultProxy, pki: Pki
) -> None:
    """rediss:// settings from REDIS_URL or REDIS_HOST/REDIS_SSL + REDIS_SSL_CA_CERTS work."""
    url = f"rediss://{acl_settings.username}:{acl_settings.password}@127.0.0.1:{tls_proxy.port}/0"
    from_url = CacheSettings.from_env(
        {
            "REDIS_URL": url,
            "REDIS_SSL_CA_CERTS": str(pki.ca_cert),
            "REDIS_KEY_PREFIX": acl_settings.key_prefix,
        }
    )
    split = CacheSettings.from_env(
        {
            "REDIS_HOST": "127.0.0.1",
            "REDIS_PORT": str(tls_proxy.port),
            "REDIS_SSL": "true",
            "REDIS_SSL_CA_CERTS": str(pki.ca_cert),
            "REDIS_USERNAME": acl_settings.username or "",
            "REDIS_PASSWORD": acl_settings.password or "",
            "REDIS_KEY_PREFIX": acl_settings.key_prefix,
        }
    )
    for settings in (from_url, split):
        assert settings.ssl is True
        async with BaseCache(settings) as cache:
            await cache.push_global_error("over tls")
            assert await cache.pop_global_error() == "over tls"
        await close_all()


# -- verification is always on ----------------------------------------------------------------


@pytest.mark.parametrize("ca", ["none", "other"])
async def test_a_server_certificate_from_an_untrusted_ca_is_refused(
    acl_settings: CacheSettings,
    tls_proxy: FaultProxy,
    pki: Pki,
    ca: str,
    captured_logs: pytest.LogCaptureFixture,
) -> None:
    """An untrusted server certificate is refused: CacheUnavailableError, no secret shown."""
    settings = over_tls(acl_settings, tls_proxy, None if ca == "none" else pki.other_ca_cert)
    async with asyncio.timeout(GUARD), TickCache(settings) as cache:
        cache.source = None
        with pytest.raises(CacheUnavailableError, match="CERTIFICATE_VERIFY_FAILED") as caught:
            await cache.get_ticker("BTC/USDT", "x")
        assert await cache.test() is False
    assert tls_proxy.accepted == 0
    assert_no_secret(caught.value, captured_logs)


async def test_a_certificate_for_another_host_name_is_refused(
    acl_settings: CacheSettings,
    wrong_name_proxy: FaultProxy,
    pki: Pki,
    captured_logs: pytest.LogCaptureFixture,
) -> None:
    """A trusted certificate for another host name is refused: hostname checking is on."""
    settings = over_tls(acl_settings, wrong_name_proxy, pki.ca_cert)
    async with asyncio.timeout(GUARD), BaseCache(settings) as cache:
        with pytest.raises(CacheUnavailableError, match=r"(?i)mismatch|not valid for") as caught:
            await cache.push_global_error("never sent")
    assert wrong_name_proxy.accepted == 0
    assert_no_secret(caught.value, captured_logs)


async def test_a_plain_client_on_the_tls_port_gets_a_typed_error(
    acl_settings: CacheSettings, tls_proxy: FaultProxy, captured_logs: pytest.LogCaptureFixture
) -> None:
    """``redis://`` against a TLS endpoint fails with a CacheError (no hang, no secret)."""
    settings = acl_settings.replace(unix_socket_path=None, host=tls_proxy.host, port=tls_proxy.port)
    async with asyncio.timeout(GUARD), BaseCache(settings) as cache:
        with pytest.raises(CacheError) as caught:
            await cache.ping()
    assert_no_secret(caught.value, captured_logs)


async def test_a_refused_certificate_is_unavailable_even_after_earlier_calls(
    acl_settings: CacheSettings, tls_proxy: FaultProxy, pki: Pki
) -> None:
    """A refused certificate is CacheUnavailableError even after earlier calls in the task."""
    async with BaseCache(over_tls(acl_settings, tls_proxy, pki.ca_cert)) as cache:
        assert await cache.ping() is True
    async with BaseCache(over_tls(acl_settings, tls_proxy, None)) as cache:
        with pytest.raises(CacheUnavailableError):
            await cache.ping()
