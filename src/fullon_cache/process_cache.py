"""ProcessCache: the registry of running Fullon processes and their heartbeats.

Each process is a record (a hash that expires ``PROCESS_TTL`` seconds after its last update)
plus an entry in an index ordered by last update, all under one hash tag, so that register,
update and stop each change everything in one atomic step. A process that stops updating
drops out of ``get_active_processes(since_minutes=N)`` after N minutes, its record expires
after ``PROCESS_TTL``, and index entries of expired records are pruned: nothing accumulates.

Example::

    async with ProcessCache() as cache:
        pid = await cache.register_process(ProcessType.TICK, "ticker_binance")
        await cache.update_process(pid, status=ProcessStatus.RUNNING, params={"symbols": 42})
        for record in await cache.get_active_processes(process_type="tick"):
            print(record["component"], record["status"], record["_heartbeat_stale"])
"""

from __future__ import annotations

import enum
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any, cast

from redis.asyncio import Redis
from redis.typing import EncodableT

from fullon_cache import validation
from fullon_cache.base_cache import BaseCache
from fullon_cache.codecs import dumps, loads, utc_now, utf8
from fullon_cache.errors import CacheCorruptedValueError, InvalidInputError, raise_error_replies
from fullon_cache.keys import MAX_IDENTIFIER_LENGTH, identifier
from fullon_cache.log import get_logger
from fullon_cache.scripts import (
    HDEL_IF_EQUALS,
    REGISTER_PROCESS,
    STOP_PROCESS,
    UPDATE_PROCESS,
    run_script,
)

__all__ = ["ProcessCache", "ProcessStatus", "ProcessType"]

logger = get_logger("process")

_PARAM = "param:"
_FIELDS = ("process_id", "process_type", "component", "status", "message")
_TIMES = ("created_at", "updated_at", "heartbeat")


class ProcessType(enum.StrEnum):
    """The kinds of Fullon processes (plain strings equal to a value are accepted too).

    Example::

        ProcessType("tick") is ProcessType.TICK   # True
    """

    TICK = "tick"
    OHLCV = "ohlcv"
    BOT = "bot"
    ACCOUNT = "account"
    ORDER = "order"
    BOT_STATUS_SERVICE = "bot_status_service"
    CRAWLER = "crawler"
    USER_TRADES_SERVICE = "user_trades_service"


class ProcessStatus(enum.StrEnum):
    """The states a process reports (plain strings equal to a value are accepted too).

    Example::

        await cache.update_process(pid, status=ProcessStatus.IDLE)   # or status="idle"
    """

    STARTING = "starting"
    RUNNING = "running"
    PROCESSING = "processing"
    IDLE = "idle"
    ERROR = "error"
    STOPPED = "stopped"


def _decode_record(raw: Mapping[bytes | str, bytes | str] | Exception, key: str) -> dict[str, Any]:
    if isinstance(raw, Exception):  # a pipelined read of a key of the wrong type
        raise CacheCorruptedValueError(key, "holds a value of the wrong Redis type")
    try:
        fields = {utf8(name, key): utf8(value, key) for name, value in raw.items()}
        record: dict[str, Any] = {name: fields[name] for name in (*_FIELDS, *_TIMES)}
        record["last_seen"] = float(fields["last_seen"])
    except (KeyError, ValueError) as exc:
        raise CacheCorruptedValueError(key, "not a process record") from exc
    record["params"] = {
        name.removeprefix(_PARAM): loads(value, key)
        for name, value in fields.items()
        if name.startswith(_PARAM)
    }
    return record


def _param_fields(params: object) -> dict[EncodableT, EncodableT]:
    """Each parameter is its own hash field, so a shallow merge is a plain HSET."""
    checked = validation.optional_mapping(params, "params")
    return {f"{_PARAM}{name}": dumps(value) for name, value in checked.items()}


def _decode_broadcast(payload: bytes, channel: str) -> dict[str, Any]:
    note = loads(payload, channel)
    if not isinstance(note, dict) or not isinstance(note.get("message"), str):
        raise CacheCorruptedValueError(channel, "not a broadcast message")
    return note


def _process_id(value: object) -> str:
    # Ids are "<type>:<component>:<12 hex>", so they may be longer than a component.
    return identifier(value, "process_id", MAX_IDENTIFIER_LENGTH + 40)


def _optional_type(value: ProcessType | str | None) -> ProcessType | None:
    return None if value is None else validation.member(value, ProcessType, "process_type")


class ProcessCache(BaseCache):
    """Process registry and heartbeats; the second layer of the chain.

    Example::

        async with ProcessCache() as cache:
            pid = await cache.register_process("bot", "bot_17", params={"symbol": "BTC/USDT"})
            await cache.update_process(pid, message="tick processed")   # also a heartbeat
            health = await cache.get_system_health()
    """

    PROCESS_TTL = 86400
    """Seconds a process record lives after its last update (stopped ones included)."""

    # -- writes ---------------------------------------------------------------------------

    @staticmethod
    def _script_outcome(reply: object, keys: list[str]) -> int:
        """A script's reply; ``-i`` says that ``KEYS[i]`` holds a value of another Redis type
        (the script wrote nothing), raised as corruption of that key."""
        outcome = int(cast("int", reply))
        if outcome < 0:
            raise CacheCorruptedValueError(
                keys[-outcome - 1], "holds a value of the wrong Redis type"
            )
        return outcome

    async def register_process(
        self,
        process_type: ProcessType | str,
        component: str,
        params: Mapping[str, Any] | None = None,
        message: str | None = None,
        status: ProcessStatus | str = ProcessStatus.STARTING,
    ) -> str:
        """Register a process and return its id; it becomes the component's latest process.

        Example::

            pid = await cache.register_process(ProcessType.TICK, "ticker_kraken",
                                               params={"symbols": 120})
        """
        kind = validation.member(process_type, ProcessType, "process_type")
        name = identifier(component, "component")
        fields = _param_fields(params)
        text = validation.optional_text(message, "message")
        state = validation.member(status, ProcessStatus, "status")
        process_id = f"{kind}:{name}:{uuid.uuid4().hex[:12]}"
        now, epoch = utc_now().isoformat(), time.time()
        record: dict[EncodableT, EncodableT] = {
            "process_id": process_id,
            "process_type": kind.value,
            "component": name,
            "status": state.value,
            "message": text if text is not None else f"Process {name} registered",
            "created_at": now,
            "updated_at": now,
            "heartbeat": now,
            "last_seen": repr(epoch),
            **fields,
        }

        keys = [
            self._keys.process(process_id),
            self._keys.active_processes(),
            self._keys.process_components(),
        ]
        args = [process_id, name, repr(epoch), self.PROCESS_TTL, repr(epoch - self.PROCESS_TTL)]
        fields_and_values = [part for pair in record.items() for part in pair]
        # The id and timestamps are fixed before sending, so resending changes nothing.
        registered = await self._run(
            lambda r: run_script(r, REGISTER_PROCESS, keys, [*args, *fields_and_values]),
            idempotent=True,
            write=True,
            key=keys[0],
        )
        self._script_outcome(registered, keys)
        logger.debug("process registered", process_type=kind.value, component=name)
        return process_id

    async def update_process(
        self,
        process_id: str,
        status: ProcessStatus | str | None = None,
        message: str | None = None,
        params: Mapping[str, Any] | None = None,
        heartbeat: bool = True,
    ) -> bool:
        """Update a process atomically (params merge shallowly); False if it is unknown.

        Every update counts as activity; ``heartbeat=True`` also records a heartbeat. An
        update of a stopped process puts it back on the active list (a process that
        ``cleanup_stale_processes`` stopped but that is alive after all); its status stays
        ``stopped`` unless the update gives one.

        Example::

            await cache.update_process(pid, status="processing", params={"batch": 3})
        """
        pid = _process_id(process_id)
        changes: list[EncodableT] = []
        if status is not None:
            changes += ["status", validation.member(status, ProcessStatus, "status").value]
        text = validation.optional_text(message, "message")
        if text is not None:
            changes += ["message", text]
        for field, value in _param_fields(params).items():
            changes += [field, value]
        keys = [self._keys.process(pid), self._keys.active_processes()]
        args = [pid, utc_now().isoformat(), repr(time.time()), "1" if heartbeat else "0"]
        updated = await self._run(
            lambda r: run_script(r, UPDATE_PROCESS, keys, [*args, self.PROCESS_TTL, *changes]),
            idempotent=True,
            write=True,  # every value is fixed before sending
            key=keys[0],
        )
        return bool(self._script_outcome(updated, keys))

    async def stop_process(self, process_id: str, message: str | None = None) -> bool:
        """Mark a process stopped and take it off the active list; False if it is unknown.

        Example::

            await cache.stop_process(pid, "shutting down")
        """
        text = validation.optional_text(message, "message")
        return await self._stop(_process_id(process_id), text, unless_updated_after="")

    async def _stop(self, pid: str, message: str | None, unless_updated_after: str) -> bool:
        keys = [
            self._keys.process(pid),
            self._keys.active_processes(),
            self._keys.process_components(),
        ]
        text = "Process stopped" if message is None else message
        args = [pid, utc_now().isoformat(), text, self.PROCESS_TTL, unless_updated_after]
        stopped = await self._run(
            lambda r: run_script(r, STOP_PROCESS, keys, args),
            idempotent=True,
            write=True,
            key=keys[0],
        )
        return bool(self._script_outcome(stopped, keys))

    async def cleanup_stale_processes(self, stale_minutes: float = 30) -> int:
        """Stop every process not updated for ``stale_minutes``; returns how many.

        Example::

            await cache.cleanup_stale_processes(stale_minutes=10)   # 2
        """
        minutes = validation.seconds(stale_minutes, "stale_minutes", "minutes")
        cutoff = time.time() - minutes * 60
        message = f"Process stale for {minutes:g} minutes"
        stale = [
            record["process_id"]
            for record in await self._records(await self._indexed("-inf", cutoff))
        ]
        # A process that sends a heartbeat meanwhile is left alone (checked in the script).
        stopped = [await self._stop(pid, message, repr(cutoff)) for pid in stale]
        await self._prune_components()
        return sum(stopped)

    async def _prune_components(self) -> None:
        """Drop component entries whose latest process record has expired."""
        components = self._keys.process_components()
        entries = await self._run(lambda r: r.hgetall(components), idempotent=True, key=components)
        for name, pid in entries.items():
            try:
                key = self._keys.process(_process_id(utf8(pid, components)))
            except (CacheCorruptedValueError, InvalidInputError):  # garbage: points nowhere
                await self._forget_component(name, pid)
                continue
            if not await self._run(lambda r: r.exists(key), idempotent=True):  # noqa: B023
                await self._forget_component(name, pid)

    async def _forget_component(self, name: bytes | str, pid: bytes | str) -> None:
        components = self._keys.process_components()
        await self._run(
            lambda r: run_script(r, HDEL_IF_EQUALS, [components], [name, pid]),
            idempotent=True,
            key=components,
        )

    # -- reads ----------------------------------------------------------------------------

    async def get_process(self, process_id: str) -> dict[str, Any] | None:
        """The process record, or None when unknown (or expired).

        Example::

            record = await cache.get_process(pid)
            record["status"], record["params"], record["last_seen"]
        """
        key = self._keys.process(_process_id(process_id))
        raw = await self._run(lambda r: r.hgetall(key), idempotent=True, key=key)
        return _decode_record(raw, key) if raw else None

    async def _indexed(self, oldest: float | str, newest: float | str) -> list[bytes]:
        """Index members (process ids) last updated between two epoch times, newest first."""
        active = self._keys.active_processes()
        ids = await self._run(
            lambda r: r.zrevrangebyscore(active, newest, oldest), idempotent=True, key=active
        )
        return cast("list[bytes]", ids)

    def _valid_ids(self, members: list[bytes]) -> tuple[list[str], list[bytes]]:
        """Split index members into usable ids and undecodable ones (skipped, counted)."""
        ids, bad = [], []
        for member in members:
            try:
                ids.append(_process_id(utf8(member, self._keys.active_processes())))
            except (CacheCorruptedValueError, InvalidInputError) as exc:
                bad.append(member)
                self._skip_corrupted(
                    CacheCorruptedValueError(self._keys.active_processes(), f"bad member: {exc}")
                )
        return ids, bad

    async def _records(self, members: list[bytes]) -> list[dict[str, Any]]:
        """Read the records of index members in one round trip; entries of expired or
        undecodable records leave the index; corrupted records are skipped and counted."""
        ids, stale = self._valid_ids(members)
        keys = [self._keys.process(pid) for pid in ids]
        records = []
        for pid, key, raw in zip(ids, keys, await self._read_many("hgetall", keys), strict=True):
            if not raw:
                stale.append(pid.encode())
                continue
            try:
                records.append(_decode_record(raw, key))
            except CacheCorruptedValueError as error:
                self._skip_corrupted(error)
        if stale:
            active = self._keys.active_processes()
            await self._run(
                lambda r: r.zrem(active, *stale), idempotent=True, write=True, key=active
            )
        return records

    async def get_active_processes(
        self,
        process_type: ProcessType | str | None = None,
        component: str | None = None,
        since_minutes: float = 5,
        include_heartbeat_check: bool = True,
    ) -> list[dict[str, Any]]:
        """Processes updated in the last ``since_minutes``, newest first.

        With ``include_heartbeat_check`` each record gets ``_heartbeat_stale``: True when its
        last heartbeat is older than the window (updated, but without a heartbeat).

        Example::

            bots = await cache.get_active_processes(process_type="bot", since_minutes=2)
        """
        kind = _optional_type(process_type)
        name = None if component is None else identifier(component, "component")
        cutoff = time.time() - validation.seconds(since_minutes, "since_minutes", "minutes") * 60
        found = []
        for record in await self._records(await self._indexed(cutoff, "+inf")):
            if (kind and record["process_type"] != kind) or (name and record["component"] != name):
                continue
            if include_heartbeat_check:
                record["_heartbeat_stale"] = record["last_seen"] < cutoff
            found.append(record)
        return found

    async def get_component_status(self, component: str) -> dict[str, Any] | None:
        """The latest registered process of ``component`` (None if none is registered).

        Example::

            status = await cache.get_component_status("ticker_binance")
        """
        name = identifier(component, "component")
        components = self._keys.process_components()
        raw = await self._run(lambda r: r.hget(components, name), idempotent=True, key=components)
        if raw is None:
            return None
        try:
            pid = _process_id(utf8(cast("bytes", raw), components))
        except (CacheCorruptedValueError, InvalidInputError) as exc:
            raise CacheCorruptedValueError(components, f"bad entry for {name!r}") from exc
        record = await self.get_process(pid)
        if record is None:  # its process expired: the entry must not outlive it
            await self._forget_component(name, pid)
        return record

    async def get_system_health(self) -> dict[str, Any]:
        """A health summary of the processes active in the last hour.

        ``healthy`` is False when any of them reports ``error`` or has a stale heartbeat.

        Example::

            health = await cache.get_system_health()
            health["healthy"], health["by_type"], health["stale_processes"]
        """
        processes = await self.get_active_processes(since_minutes=60)
        stale = sum(1 for record in processes if record["_heartbeat_stale"])
        errors = sum(1 for record in processes if record["status"] == ProcessStatus.ERROR)
        return {
            "healthy": stale == 0 and errors == 0,
            "total_processes": len(processes),
            "by_type": dict(Counter(record["process_type"] for record in processes)),
            "by_status": dict(Counter(record["status"] for record in processes)),
            "stale_processes": stale,
            "error_processes": errors,
        }

    async def get_metrics(self) -> dict[str, Any]:
        """Counters of the registry: indexed processes, components, skipped corrupt records.

        Example::

            await cache.get_metrics()   # {'active_processes': 3, 'components': 3, ...}
        """
        active, components = self._keys.active_processes(), self._keys.process_components()

        async def count(client: Redis) -> list[Any]:
            async with client.pipeline(transaction=False) as pipe:
                pipe.zcard(active)
                pipe.hlen(components)
                return await pipe.execute(raise_on_error=False)

        counts = await self._run(count, idempotent=True)
        raise_error_replies(counts, [active, components])
        indexed, named = counts
        return {
            "active_processes": indexed,
            "components": named,
            "corrupted_records_skipped": self.corrupted_skipped,
        }

    # -- broadcasts -----------------------------------------------------------------------

    async def broadcast_message(
        self, process_type: ProcessType | str, message: str, data: Mapping[str, Any] | None = None
    ) -> int:
        """Publish ``message`` to the processes of one type; returns how many listeners got it.

        Delivery is best-effort (pub/sub): a process that is not subscribed right now misses it.

        Example::

            await cache.broadcast_message(ProcessType.BOT, "reload", {"strategy": "v2"})
        """
        kind = validation.member(process_type, ProcessType, "process_type")
        payload = dumps(
            {
                "message": validation.text(message, "message"),
                "data": validation.optional_mapping(data, "data"),
                "timestamp": utc_now(),
            }
        )
        channel = self._keys.process_broadcasts(kind.value)

        def publish(r: Redis) -> Awaitable[int]:
            sharded = self._connections().sharded_pubsub  # known once the server was checked
            return r.spublish(channel, payload) if sharded else r.publish(channel, payload)

        return int(await self._run(publish, idempotent=False))

    @asynccontextmanager
    async def broadcasts(
        self, process_type: ProcessType | str
    ) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        """Subscribe to the broadcasts of one process type.

        Yields an async iterator of ``{"message", "data", "timestamp"}`` dicts; undecodable
        messages are skipped (and counted), never fatal.

        Example::

            async with cache.broadcasts("bot") as messages:
                async for note in messages:
                    print(note["message"], note["data"])
        """
        kind = validation.member(process_type, ProcessType, "process_type")
        channel = self._keys.process_broadcasts(kind.value)
        async with self._subscription(channel) as payloads:
            yield self._broadcasts(channel, payloads)

    async def _broadcasts(
        self, channel: str, payloads: AsyncIterator[bytes]
    ) -> AsyncIterator[dict[str, Any]]:
        async for payload in payloads:
            try:
                yield _decode_broadcast(payload, channel)
            except CacheCorruptedValueError as error:
                self._skip_corrupted(error)

    # -- compat with the older fullon_cache -------------------------------------------------

    async def delete_from_top(self, component: str | None = None) -> int:
        """Compat: stop every active process of ``component``; returns how many (0 if none).

        Example::

            await cache.delete_from_top(component="ticker_binance")   # 1
        """
        if component is None:
            return 0
        processes = await self.get_active_processes(
            component=component, since_minutes=self.PROCESS_TTL / 60
        )
        return sum([await self.stop_process(record["process_id"]) for record in processes])

    async def get_top(
        self, deltatime: float | None = None, comp: ProcessType | str | None = None
    ) -> list[dict[str, Any]]:
        """Compat: rows ``{type, key, params, message, timestamp}`` of the active processes.

        ``deltatime`` (seconds, default one day) bounds the last update; ``comp`` is a process
        type.

        Example::

            rows = await cache.get_top(deltatime=300, comp="tick")
        """
        window = (
            timedelta(days=1)
            if deltatime is None
            else timedelta(seconds=validation.seconds(deltatime, "deltatime"))
        )
        processes = await self.get_active_processes(
            process_type=comp,
            since_minutes=window.total_seconds() / 60,
            include_heartbeat_check=False,
        )
        return [
            {
                "type": record["process_type"],
                "key": record["component"],
                "params": record["params"],
                "message": record["message"],
                "timestamp": record["updated_at"],
            }
            for record in processes
        ]
