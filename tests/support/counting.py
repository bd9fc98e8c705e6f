"""A redis-py client that counts its round trips, for tests that pin how many a call costs."""

from __future__ import annotations

from typing import Any

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import Connection, UnixDomainSocketConnection

from fullon_cache.settings import CacheSettings


def counting_client(settings: CacheSettings) -> tuple[Redis, list[int]]:
    """A real redis-py client whose connections count what they send: one send per round
    trip (a pipeline is packed and sent whole, then its replies are read)."""
    sends = [0]
    base: type[Connection] = UnixDomainSocketConnection if settings.unix_socket_path else Connection

    class Counting(base):  # type: ignore[valid-type,misc]
        async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            sends[0] += 1
            await super().send_packed_command(command, check_health)

    where: dict[str, Any] = (
        {"path": settings.unix_socket_path}
        if settings.unix_socket_path
        else {"host": settings.host, "port": settings.port}
    )
    pool = ConnectionPool(connection_class=Counting, db=settings.db, **where)
    return Redis.from_pool(pool), sends
