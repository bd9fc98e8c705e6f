"""A throw-away Sentinel deployment on loopback TCP: a master, a replica and one sentinel.

Example::

    with SentinelSetup() as setup:
        settings = CacheSettings(sentinels=setup.sentinels, sentinel_master=setup.name)
        setup.failover()   # the replica is the master when it returns
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from redis import Redis

from fullon_cache.local_server import LocalRedisServer, find_redis_server
from tests.support.lifecycle import Deployment

_WAIT = 20.0  # seconds any set-up step may take on a loaded machine


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + _WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"sentinel set-up: {what} did not happen in {_WAIT:g} s")
        time.sleep(0.05)


class SentinelSetup(Deployment):
    """A master and its replica on TCP ports, watched by one sentinel (quorum 1) that asks
    its clients for ``sentinel_password`` when one is given."""

    name = "fullon-test"

    def __init__(self, sentinel_password: str | None = None) -> None:
        self.sentinel_password = sentinel_password
        self.master_port, self.replica_port, self.sentinel_port = (free_port() for _ in "abc")
        tcp = ("--bind", "127.0.0.1")
        self.master = LocalRedisServer("--port", str(self.master_port), *tcp)
        self.replica = LocalRedisServer(
            "--port", str(self.replica_port), *tcp,
            "--replicaof", "127.0.0.1", str(self.master_port),
        )  # fmt: skip
        self._dir = Path(tempfile.mkdtemp(prefix="fullon-sentinel-"))
        self._sentinel: subprocess.Popen[bytes] | None = None

    @property
    def sentinels(self) -> tuple[tuple[str, int], ...]:
        """Where the sentinel listens, as ``CacheSettings.sentinels`` takes it."""
        return (("127.0.0.1", self.sentinel_port),)

    def client(self, port: int) -> Redis:
        """A plain client of one of the processes (master, replica or sentinel port)."""
        password = self.sentinel_password if port == self.sentinel_port else None
        return Redis(host="127.0.0.1", port=port, socket_timeout=2, password=password)

    def master_address(self) -> tuple[str, int]:
        """The master's address according to the sentinel."""
        with self.client(self.sentinel_port) as sentinel:
            host, port = sentinel.sentinel_get_master_addr_by_name(self.name)
        return host.decode() if isinstance(host, bytes) else str(host), int(port)

    def start(self) -> SentinelSetup:
        self.master.start()
        self.replica.start()
        _eventually(self._replica_in_sync, "the replica's first sync")
        config = self._dir / "sentinel.conf"
        config.write_text(
            f"port {self.sentinel_port}\nbind 127.0.0.1\ndir {self._dir}\n"
            f"sentinel monitor {self.name} 127.0.0.1 {self.master_port} 1\n"
            f"sentinel down-after-milliseconds {self.name} 1000\n"
            f"sentinel failover-timeout {self.name} 5000\n"
            + (f"requirepass {self.sentinel_password}\n" if self.sentinel_password else "")
        )
        with open(self._dir / "sentinel.log", "ab") as log:  # the child keeps its own copy
            self._sentinel = subprocess.Popen(
                [find_redis_server(), str(config), "--sentinel"], stdout=log, stderr=log
            )
        _eventually(self._replica_known, "the sentinel discovering the replica")
        return self

    def failover(self) -> None:
        """Promote the replica (SENTINEL FAILOVER) and wait until the sentinel names it."""
        with self.client(self.master_port) as master:
            master.execute_command("WAIT", 1, 2000)  # everything written so far is replicated
        with self.client(self.sentinel_port) as sentinel:
            sentinel.execute_command("SENTINEL", "FAILOVER", self.name)
        _eventually(lambda: self.master_address()[1] == self.replica_port, "the failover")
        _eventually(lambda: self._role(self.replica_port) == b"master", "the promotion")

    def _role(self, port: int) -> bytes:
        with self.client(port) as client:
            return bytes(client.execute_command("ROLE")[0])

    def _replica_in_sync(self) -> bool:
        with self.client(self.replica_port) as replica:
            return replica.info("replication").get("master_link_status") == "up"

    def _replica_known(self) -> bool:
        try:
            with self.client(self.sentinel_port) as sentinel:
                replicas = sentinel.sentinel_slaves(self.name)
        except Exception:  # the sentinel is still starting (connection refused, LOADING)
            return False
        return any(not replica["is_disconnected"] for replica in replicas)

    def stop(self) -> None:
        if self._sentinel is not None:
            self._sentinel.kill()
            self._sentinel.wait()
            self._sentinel = None
        self.replica.stop()
        self.master.stop()
        shutil.rmtree(self._dir, ignore_errors=True)
