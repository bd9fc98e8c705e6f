"""A tiny asyncio TCP relay that injects network faults between a client and Redis.

The proxy runs on the test's own event loop. Every accepted client connection gets its
own upstream connection and bytes are relayed both ways. Fault controls apply at once to
existing and new connections; each decision is taken when a chunk is about to be
delivered (after any delay).

Usage::

    async with await FaultProxy.start("/tmp/redis.sock") as proxy:
        client = redis.asyncio.Redis(host=proxy.host, port=proxy.port)
        await client.ping()  # warm up: the handshake is a reply too
        proxy.drop_next_reply()  # the next reply is lost and the connection closed
        with pytest.raises(redis.exceptions.ConnectionError):
            await client.incr("counter")  # ...but the server did increment it
        await client.aclose()
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from types import TracebackType

Upstream = str | tuple[str, int]
"""A unix socket path or a ``(host, port)`` pair."""

_CHUNK = 65536


class FaultProxy:
    """Relay ``127.0.0.1:<ephemeral port>`` to ``upstream`` with injectable faults."""

    def __init__(self, upstream: Upstream) -> None:
        self._upstream = upstream
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._clients: dict[asyncio.StreamWriter, asyncio.StreamWriter | None] = {}
        self._delay = 0.0
        self._blackhole = False
        self._drops: deque[bool] = deque()
        self._request_seen = asyncio.Event()
        self.replies_dropped = 0
        self.accepted = 0
        """Client connections accepted (behind TLS: those whose handshake completed)."""
        self.requests_forwarded = 0
        """Client→server chunks relayed: one per round trip for small commands/pipelines."""

    @classmethod
    async def start(cls, upstream: Upstream, *, tls: ssl.SSLContext | None = None) -> FaultProxy:
        """Start listening on 127.0.0.1 with an ephemeral port; with ``tls``, clients must
        speak TLS (the proxy terminates it and relays plain bytes upstream)."""
        proxy = cls(upstream)
        proxy._server = await asyncio.start_server(
            proxy._accept, "127.0.0.1", 0, ssl=tls, ssl_handshake_timeout=5 if tls else None
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

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def connections(self) -> int:
        """Client connections currently open (one leaves once its cleanup has run)."""
        return len(self._clients)

    def set_delay(self, seconds: float) -> None:
        """Delay every server→client chunk by ``seconds`` (0 disables); order is kept."""
        if seconds < 0:
            raise ValueError("delay must be >= 0")
        self._delay = seconds

    def drop_next_reply(self, *, close: bool = True) -> None:
        """Discard the next server→client chunk on any connection (the command ran).

        With ``close`` the proxy then closes that client connection; without it the
        connection stays open and silent, so the client hits its socket timeout.
        """
        self._drops.append(close)

    def blackhole(self, on: bool = True) -> None:
        """Read and discard everything in both directions while ``on``; keep sockets open."""
        self._blackhole = on

    def reset_connections(self) -> None:
        """Abort every current client connection; the listener keeps accepting."""
        for writer in list(self._clients):
            writer.transport.abort()

    async def wait_for_request(self) -> None:
        """Return once the next client→server chunk has been forwarded upstream."""
        self._request_seen.clear()
        await self._request_seen.wait()

    async def stop(self) -> None:
        """Close the listener and every relayed connection (idempotent)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for client, upstream in list(self._clients.items()):
            client.transport.abort()
            if upstream is not None:
                upstream.transport.abort()
        # Every await in _serve is on an aborted transport now, so the tasks end by
        # themselves with a full cleanup; cancel only what is still stuck after 5 s.
        if self._tasks:
            _, stuck = await asyncio.wait(self._tasks, timeout=5)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*stuck, return_exceptions=True)

    async def __aenter__(self) -> FaultProxy:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Synchronous on purpose: the connection is tracked before any await, so stop()
        # can always find and close it, even if its task never got to run.
        self._clients[writer] = None
        self.accepted += 1
        task = asyncio.get_running_loop().create_task(self._serve(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _open_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if isinstance(self._upstream, str):
            return await asyncio.open_unix_connection(self._upstream)
        host, port = self._upstream
        return await asyncio.open_connection(host, port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers = [writer]
        pumps: list[asyncio.Task[None]] = []
        try:
            up_reader, up_writer = await self._open_upstream()
            writers.append(up_writer)
            self._clients[writer] = up_writer
            pumps = [
                asyncio.create_task(self._pump_requests(reader, up_writer)),
                asyncio.create_task(self._pump_replies(up_reader, writer)),
            ]
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        except OSError:
            pass  # upstream unreachable: just close the client connection
        finally:
            # Close synchronously first, so nothing leaks even if the awaits are cut short.
            self._clients.pop(writer, None)
            for each in writers:
                each.close()
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            for each in writers:
                with contextlib.suppress(OSError, ssl.SSLError):
                    await each.wait_closed()

    async def _pump_requests(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        with contextlib.suppress(OSError, ssl.SSLError):
            while chunk := await reader.read(_CHUNK):
                if self._blackhole:
                    continue
                writer.write(chunk)
                await writer.drain()
                self.requests_forwarded += 1
                self._request_seen.set()

    async def _pump_replies(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        with contextlib.suppress(OSError, ssl.SSLError):
            while chunk := await reader.read(_CHUNK):
                if self._delay:
                    await asyncio.sleep(self._delay)
                if self._blackhole:
                    continue
                if self._drops:
                    self.replies_dropped += 1
                    if self._drops.popleft():
                        return  # _serve closes both sides: the client sees EOF
                    continue
                writer.write(chunk)
                await writer.drain()
