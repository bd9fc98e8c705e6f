"""OrdersCache: order status per exchange, and order queues that never lose an order.

Each order is its own hash (field -> JSON value) under the exchange's hash tag, next to a set
of the exchange's order ids: a merge is one atomic script that sets only the given fields, and
a canceled order expires on its own after ``CACHE_TTL_ORDER`` seconds without touching the
others.

Queues are reliable: a consumer's take moves the item from the pending list onto a processing
list in the same step (BLMOVE), so a crash or a lost reply leaves it there instead of losing
it; an acknowledgement removes it, and :meth:`OrdersCache.requeue_stale_orders` puts items
nobody acknowledged back at the head of the queue. Delivery is at-least-once.

Example::

    async with OrdersCache() as cache:
        await cache.save_order_data("binance", Order(ex_order_id="A1", status="open"))
        await cache.push_open_order("bot_17", Order(order_id=7, symbol="BTC/USDT"))
        async with cache.claim_open_order("bot_17", timeout=5) as order:
            ...  # acknowledged only if this block exits cleanly
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, cast

from redis.asyncio import Redis
from redis.typing import EncodableT

from fullon_cache import validation
from fullon_cache.account_cache import AccountCache
from fullon_cache.codecs import build_model, dumps, loads, to_utc, utf8
from fullon_cache.errors import (
    CacheCorruptedValueError,
    CacheError,
    InvalidInputError,
    InvalidTypeError,
    raise_error_replies,
)
from fullon_cache.keys import identifier
from fullon_cache.log import get_logger
from fullon_cache.models import Order
from fullon_cache.scripts import (
    GIVE_BACK_ORDER,
    REQUEUE_STALE,
    SAVE_ORDER,
    SREM_IF_MISSING,
    run_script,
)

__all__ = ["OrdersCache"]

logger = get_logger("orders")

_CANCELED = frozenset({"canceled", "cancelled"})
_LIST_OR_NONE = frozenset({b"list", b"none"})


def _checked_order(order: object) -> Order:
    """The order, with its timestamp as an aware UTC datetime (epoch floats converted)."""
    if not isinstance(order, Order):
        raise InvalidTypeError(f"expected an Order, not {type(order).__name__}")
    for name in ("volume", "final_volume", "price", "plimit", "tick", "leverage"):
        if getattr(order, name, None) is not None:
            validation.number(getattr(order, name), f"order.{name}")
    stamp = _timestamp(order.timestamp)
    if stamp == order.timestamp:
        return order
    return Order.from_dict({**order.to_dict(), "timestamp": stamp})  # a copy: never the caller's


def _order_id(order: Order) -> str:
    found = order.ex_order_id if order.ex_order_id is not None else order.order_id
    if found is None:
        raise InvalidInputError("an order needs an ex_order_id or an order_id")
    return identifier(found, "order id")


def _timestamp(value: object) -> datetime | None:
    """Orders keep their own timestamp, as an aware UTC datetime (floats are epoch seconds)."""
    if value is None or isinstance(value, datetime):
        return None if value is None else to_utc(value)
    seconds = validation.number(value, "order.timestamp")
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise InvalidInputError("order.timestamp is out of range") from exc


def _order_fields(order: Order) -> list[EncodableT]:
    """The (checked) order's non-None fields as HSET pairs (each value JSON)."""
    pairs: list[EncodableT] = []
    for name, value in order.to_dict().items():
        if value is not None:
            pairs += [name, dumps(value)]
    return pairs


def _expiry(order: Order) -> str:
    if order.status is None:
        return ""
    return "expire" if str(order.status).lower() in _CANCELED else "persist"


def _decode_order(fields: Mapping[Any, Any] | Exception, key: str) -> Order:
    if isinstance(fields, Exception):  # a pipelined read of a key of the wrong type
        raise CacheCorruptedValueError(key, "holds a value of the wrong Redis type")
    values = {utf8(name, key): loads(raw, key) for name, raw in fields.items()}
    return build_model(Order, values, key)


def _envelope(item: Order | str) -> bytes:
    """A queue item: "<unique id>:<JSON>", so equal orders stay distinct in the lists."""
    payload: dict[str, Any]
    if isinstance(item, Order):
        payload = {"order": _checked_order(item).to_dict()}
    elif isinstance(item, str):
        payload = {"id": identifier(item, "item")}
    else:
        raise InvalidTypeError(f"expected an Order or an order id, not {type(item).__name__}")
    return uuid.uuid4().hex.encode() + b":" + dumps(payload)


def _unwrap(envelope: bytes, key: str) -> Order | str:
    _, _, data = envelope.partition(b":")
    payload = loads(data, key)
    if isinstance(payload, dict) and isinstance(payload.get("order"), dict):
        return build_model(Order, payload["order"], key)
    if isinstance(payload, dict) and isinstance(payload.get("id"), str):
        return cast(str, payload["id"])
    raise CacheCorruptedValueError(key, "not an order queue item")


class OrdersCache(AccountCache):
    """Order status and order queues; the seventh layer of the chain.

    Example::

        async with OrdersCache() as cache:
            order = await cache.get_order_status("binance", "A1")
    """

    # -- order status -----------------------------------------------------------------------

    async def _save(self, exchange: str, order: Order, mode: str) -> bool:
        ex = identifier(exchange, "exchange")
        checked = _checked_order(order)
        oid = _order_id(checked)
        keys = [self._keys.order(ex, oid), self._keys.order_ids(ex)]
        args = [oid, mode, _expiry(checked), self._settings.ttl_order, *_order_fields(checked)]
        saved = await self._run(
            lambda r: run_script(r, SAVE_ORDER, keys, args),
            idempotent=True,
            write=True,
            key=keys[0],
        )
        return bool(self._script_outcome(saved, keys))

    async def save_order_data(self, exchange: str, order: Order) -> None:
        """Merge the order's non-None fields into the stored order (atomic; created if new).

        A "canceled" order expires ``CACHE_TTL_ORDER`` seconds later, alone; the order's own
        timestamp is kept (epoch floats become aware UTC datetimes).

        Example::

            await cache.save_order_data("binance", Order(ex_order_id="A1", status="canceled"))
        """
        await self._save(exchange, order, "merge")

    async def update_order(self, exchange: str, order: Order) -> bool:
        """Merge into a stored order; False (nothing written) when it is not stored.

        Example::

            await cache.update_order("binance", Order(ex_order_id="A1", final_volume=0.5))
        """
        return await self._save(exchange, order, "update")

    async def save_order(self, exchange: str, order: Order) -> bool:
        """Store an order, replacing whatever was stored under its id.

        Example::

            await cache.save_order("binance", Order(ex_order_id="A1", symbol="BTC/USDT"))
        """
        return await self._save(exchange, order, "replace")

    async def get_order_status(self, exchange: str, order_id: int | str) -> Order | None:
        """The stored order, or None (also once a canceled order expired).

        Example::

            order = await cache.get_order_status("binance", "A1")
        """
        key = self._keys.order(identifier(exchange, "exchange"), identifier(order_id, "order_id"))
        fields = await self._run(lambda r: r.hgetall(key), idempotent=True, key=key)
        return _decode_order(fields, key) if fields else None

    async def get_order(self, exchange: str, order_id: int | str) -> Order | None:
        """Alias of :meth:`get_order_status`.

        Example::

            order = await cache.get_order("binance", 7)
        """
        return await self.get_order_status(exchange, order_id)

    async def get_orders(self, exchange: str) -> list[Order]:
        """Every stored order of an exchange (expired ids are pruned, corrupted ones skipped).

        Example::

            open_orders = [o for o in await cache.get_orders("binance") if o.status == "open"]
        """
        ex = identifier(exchange, "exchange")
        index = self._keys.order_ids(ex)
        members = await self._run(lambda r: r.smembers(index), idempotent=True, key=index)
        ids = self._order_ids(index, cast("set[bytes]", members))
        keys = [self._keys.order(ex, oid) for oid in ids]
        orders, expired = [], []
        for oid, key, fields in zip(ids, keys, await self._read_many("hgetall", keys), strict=True):
            if not fields:
                expired.append((key, oid))
                continue
            try:
                orders.append(_decode_order(fields, key))
            except CacheCorruptedValueError as error:
                self._skip_corrupted(error)
        if expired:
            # Only ids whose order is still missing: one saved meanwhile stays indexed.
            gone_keys, gone_ids = [index, *(k for k, _ in expired)], [oid for _, oid in expired]
            await self._run(
                lambda r: run_script(r, SREM_IF_MISSING, gone_keys, gone_ids),
                idempotent=True,
                key=index,
            )
        return orders

    def _order_ids(self, index: str, members: set[bytes]) -> list[str]:
        ids = []
        for member in sorted(members):
            try:
                ids.append(identifier(utf8(member, index), "order id"))
            except (CacheCorruptedValueError, InvalidInputError) as exc:
                self._skip_corrupted(CacheCorruptedValueError(index, f"bad order id: {exc}"))
        return ids

    async def delete_order(self, exchange: str, order_id: int | str) -> bool:
        """Delete a stored order; False when there was none.

        Example::

            await cache.delete_order("binance", "A1")
        """
        ex, oid = identifier(exchange, "exchange"), identifier(order_id, "order_id")
        key, index = self._keys.order(ex, oid), self._keys.order_ids(ex)

        async def delete(client: Redis) -> list[Any]:
            async with client.pipeline(transaction=True) as tx:
                tx.delete(key)
                tx.srem(index, oid)
                return await tx.execute()

        # Not resent after a lost reply: a second DEL would report "there was none".
        return bool((await self._run(delete, idempotent=False, key=key))[0])

    # -- order queues -----------------------------------------------------------------------

    async def push_open_order(self, queue: str, item: Order | str) -> None:
        """Append an Order (or an order id) to a FIFO order queue.

        A push whose reply was lost raises CacheUnknownOutcomeError and is never resent by
        the library (the item may be queued).

        Example::

            await cache.push_open_order("bot_17", Order(order_id=7, symbol="BTC/USDT"))
        """
        key = self._keys.queue_pending(identifier(queue, "queue"))
        data = _envelope(item)
        await self._run(lambda r: r.rpush(key, data), idempotent=False, key=key)

    async def _take(
        self, queue: str, seconds: float, *, note_claim: bool
    ) -> tuple[bytes, Order | str] | None:
        """Move the next decodable item onto the processing list (and note its claim time
        when asked); undecodable items go to the queue's dead list (counted)."""
        pending, processing = self._keys.queue_pending(queue), self._keys.queue_processing(queue)
        loop = asyncio.get_running_loop()
        ends = loop.time() + seconds
        while True:
            envelope = await self._move_head(pending, processing, max(0.0, ends - loop.time()))
            if envelope is None:
                return None
            try:
                item = _unwrap(envelope, pending)
            except CacheCorruptedValueError as error:
                self._skip_corrupted(error)
                await self._bury(queue, envelope)
                continue
            if note_claim:
                await self._note_claim(queue, envelope)
            return envelope, item

    async def _move_head(self, pending: str, processing: str, seconds: float) -> bytes | None:
        """LMOVE (or BLMOVE, waiting ``seconds``) the head of ``pending`` onto ``processing``.

        Redis's WRONGTYPE does not say which of the two lists it means: the error names the
        one that is not a list."""
        try:
            if seconds < 0.01:
                moved = await self._run(
                    lambda r: r.lmove(pending, processing, "LEFT", "RIGHT"),
                    idempotent=False,
                    key=pending,
                )
                return cast("bytes | None", moved)
            return await self._blocking_pop(pending, seconds, into=processing)
        except CacheCorruptedValueError as error:
            raise await self._naming_the_wrong_list(error, [pending, processing]) from error

    async def _naming_the_wrong_list(
        self, error: CacheCorruptedValueError, keys: list[str]
    ) -> CacheCorruptedValueError:
        """``error`` naming the first of ``keys`` that holds something other than a list."""
        kinds = await self._read_many("type", keys)
        wrong = [key for key, kind in zip(keys, kinds, strict=True) if kind not in _LIST_OR_NONE]
        return CacheCorruptedValueError(wrong[0], error.reason) if wrong else error

    async def _note_claim(self, queue: str, envelope: bytes) -> None:
        claims, item_id = self._keys.queue_claims(queue), envelope.partition(b":")[0]
        try:
            await self._run(
                lambda r: r.hset(claims, item_id, repr(time.time())), idempotent=True, write=True
            )
        except CacheError as error:  # the requeue dates unclaimed items itself
            logger.warning("could not note a claim time", queue=queue, error=str(error))

    async def _bury(self, queue: str, envelope: bytes) -> None:
        processing, dead = self._keys.queue_processing(queue), self._keys.queue_dead(queue)

        async def move(client: Redis) -> None:
            async with client.pipeline(transaction=True) as tx:
                tx.lrem(processing, 1, envelope)  # type: ignore[arg-type]
                tx.rpush(dead, envelope)
                raise_error_replies(await tx.execute(raise_on_error=False), [processing, dead])

        await self._run(move, idempotent=False, key=processing)

    async def _acknowledge(self, queue: str, envelope: bytes, *, claimed: bool) -> None:
        """Take the item off the processing list (and its claim time, if one was noted)."""
        processing, claims = self._keys.queue_processing(queue), self._keys.queue_claims(queue)

        async def ack(client: Redis) -> None:
            if not claimed:
                await client.lrem(processing, 1, envelope)  # type: ignore[arg-type]
                return
            async with client.pipeline(transaction=True) as tx:
                tx.lrem(processing, 1, envelope)  # type: ignore[arg-type]
                tx.hdel(claims, envelope.partition(b":")[0])
                raise_error_replies(await tx.execute(raise_on_error=False), [processing, claims])

        await self._run(ack, idempotent=True, key=processing)

    async def pop_open_order(self, queue: str, timeout: float = 1.0) -> Order | str | None:
        """Take the next item of an order queue (what was pushed), waiting up to ``timeout``
        seconds; None when the queue stays empty.

        The item is acknowledged right after it arrives (two round trips in all). If the
        reply is lost, the call raises CacheUnknownOutcomeError and the item waits on the
        processing list for :meth:`requeue_stale_orders`, which dates it at its first sweep:
        it is never lost. Cancelled while acknowledging, the call puts the item back at the
        head of the queue. For work that must finish before the item is gone, use
        :meth:`claim_open_order`.

        Example::

            item = await cache.pop_open_order("bot_17", timeout=5)
        """
        name = identifier(queue, "queue")
        taken = await self._take(name, validation.seconds(timeout, "timeout"), note_claim=False)
        if taken is None:
            return None
        envelope, item = taken
        try:
            await self._acknowledge(name, envelope, claimed=False)
        except CacheError as error:  # delivered anyway; a requeue may deliver it again
            logger.warning("could not acknowledge an order", queue=name, error=str(error))
        except BaseException:
            # Cancelled: the item never reaches the caller, so it goes back to the head of
            # the queue, whether the acknowledgement ran or not. Should that fail too, a
            # requeue finds it unless the acknowledgement ran.
            with contextlib.suppress(CacheError):  # the cancellation is what goes on
                await self._give_back_order(name, envelope)
            raise
        return item

    async def _give_back_order(self, queue: str, envelope: bytes) -> None:
        """Put a taken item back at the head of its queue (never resent: a second give-back
        would queue it twice)."""
        keys = [self._keys.queue_pending(queue), self._keys.queue_processing(queue)]
        # One statement: it runs in a task being cancelled, whose resumed frames lose their
        # line events under coverage.py on CPython 3.11 (see subscription._Link).
        self._script_outcome(
            await self._run(
                lambda r: run_script(r, GIVE_BACK_ORDER, keys, [envelope]),
                idempotent=False,
                key=keys[0],
            ),
            keys,
        )

    @asynccontextmanager
    async def claim_open_order(
        self, queue: str, timeout: float = 1.0
    ) -> AsyncIterator[Order | str | None]:
        """Take the next item and acknowledge it only if the block exits without an error.

        Yields None when the queue stays empty for ``timeout`` seconds. An item whose block
        raised, or whose consumer died, stays claimed until :meth:`requeue_stale_orders`
        puts it back at the head of the queue.

        Example::

            async with cache.claim_open_order("bot_17", timeout=5) as order:
                if order is not None:
                    await place(order)
        """
        name = identifier(queue, "queue")
        taken = await self._take(name, validation.seconds(timeout, "timeout"), note_claim=True)
        if taken is None:
            yield None
            return
        envelope, item = taken
        yield item
        await self._acknowledge(name, envelope, claimed=True)  # on failure it may come again

    async def requeue_stale_orders(self, queue: str, older_than: float) -> int:
        """Put items claimed at least ``older_than`` seconds ago (never acknowledged) back
        at the head of the queue, oldest first; returns how many.

        ``older_than=0`` is for recovery when no consumer runs: it also takes back an item a
        live consumer claimed a moment ago (which is then delivered twice).

        Example::

            await cache.requeue_stale_orders("bot_17", older_than=60)   # 1
        """
        name = identifier(queue, "queue")
        age = validation.seconds(older_than, "older_than")
        keys = [
            self._keys.queue_pending(name),
            self._keys.queue_processing(name),
            self._keys.queue_claims(name),
        ]
        moved = await self._run(
            lambda r: run_script(r, REQUEUE_STALE, keys, [repr(time.time()), repr(age)]),
            idempotent=False,
            key=keys[1],
        )
        return self._script_outcome(moved, keys)

    async def get_queue_length(self, queue: str) -> int:
        """How many items wait in an order queue (claimed ones not included).

        Example::

            await cache.get_queue_length("bot_17")   # 3
        """
        key = self._keys.queue_pending(identifier(queue, "queue"))
        return int(await self._run(lambda r: r.llen(key), idempotent=True, key=key))
