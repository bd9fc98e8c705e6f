"""ExchangeCache: exchange accounts and the exchange catalogue, read through from the database.

On a miss the cache asks its *source* (see :mod:`fullon_cache.sources`) and keeps the answer
for ``CACHE_TTL_EXCHANGE`` seconds; concurrent misses of one key load once. Collections (a
user's exchanges, the catalogue) are hashes marked complete once loaded from the source, so
an entry written by :meth:`ExchangeCache.set_exchange` alone never passes for the full list.
Also here: per-exchange websocket error queues.

Example::

    async with ExchangeCache() as cache:
        accounts = await cache.get_exchanges(user_id=7)
        cat_ex_id = await cache.get_cat_ex_id("binance")
        await cache.push_ws_error("socket closed", ex_id=3)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar, cast

from redis.asyncio import Redis
from redis.typing import EncodableT

from fullon_cache import singleflight
from fullon_cache.codecs import decode_model, encode_model, utf8
from fullon_cache.errors import CacheCorruptedValueError, CacheSourceError, InvalidTypeError
from fullon_cache.keys import COMPLETE_FIELD, identifier
from fullon_cache.log import get_logger
from fullon_cache.models import CatExchange, Exchange
from fullon_cache.process_cache import ProcessCache
from fullon_cache.sources import ReferenceSource, default_source

__all__ = ["ExchangeCache"]

logger = get_logger("exchange")
_T = TypeVar("_T")
_M = TypeVar("_M")


_USE_DEFAULT = object()


async def _asked(
    source: ReferenceSource, load: Callable[[ReferenceSource], Awaitable[_T]], key: str
) -> _T:
    """Await the source, turning its failures into CacheSourceError (nothing is cached then)."""
    try:
        return await load(source)
    except Exception as exc:
        raise CacheSourceError(f"the source failed to load {key}: {type(exc).__name__}") from exc


class ExchangeCache(ProcessCache):
    """Exchange reference data and websocket error queues; the third layer of the chain.

    Example::

        async with ExchangeCache() as cache:
            cache.source = my_source          # optional: defaults to fullon_orm when installed
            exchange = await cache.get_exchange(3)
    """

    WS_ERROR_CAP = 1000
    """Each exchange's websocket error queue keeps at most this many entries."""

    _source: object = _USE_DEFAULT

    @property
    def source(self) -> ReferenceSource | None:
        """Where misses are loaded from: this cache's own source (None: none at all), else
        the process default (fullon_orm's database when it is installed).

        Example::

            cache.source = OrmSource()
        """
        if self._source is _USE_DEFAULT:
            return default_source()
        return cast("ReferenceSource | None", self._source)

    @source.setter
    def source(self, value: ReferenceSource | None) -> None:
        self._source = value

    # -- the read-through mechanism (also used by SymbolCache) ------------------------------

    async def _load_once(self, key: str, load: Callable[[ReferenceSource], Awaitable[_T]]) -> _T:
        """Run ``load(source)`` (which also stores what it got) once per key at a time."""
        source = self.source
        assert source is not None  # callers check first
        return await singleflight.once(f"{id(source)}:{key}", lambda: load(source))

    async def _read_value(
        self,
        key: str,
        cls: type[_M],
        load: Callable[[ReferenceSource], Awaitable[_M | None]],
        ttl: int,
    ) -> _M | None:
        """One cached model, loaded from the source (and cached) on a miss."""
        raw = await self._run(lambda r: r.get(key), idempotent=True, key=key)
        if raw is not None:
            return decode_model(cls, cast("bytes", raw), key)  # type: ignore[type-var]
        if self.source is None:
            return None

        async def fill(source: ReferenceSource) -> _M | None:
            value = await _asked(source, load, key)
            if value is not None:
                data = encode_model(value)  # type: ignore[arg-type]
                await self._run(
                    lambda r: r.set(key, data, ex=ttl), idempotent=True, write=True, key=key
                )
            return value

        return await self._load_once(key, fill)

    async def _read_collection(
        self,
        key: str,
        load: Callable[[ReferenceSource], Awaitable[Mapping[str, bytes]]],
        ttl: int,
        *,
        force: bool = False,
    ) -> tuple[dict[str, bytes], bool]:
        """A cached hash (field -> JSON) and whether it was just loaded from the source.

        It is (re)loaded whole from the source when missing, incomplete, or ``force`` is
        set; without a source the cache holds all there is.
        """
        if not force or self.source is None:
            fields = await self._run(lambda r: r.hgetall(key), idempotent=True, key=key)
            cached = self._named_fields(fields, key)
            if COMPLETE_FIELD in cached or self.source is None:
                cached.pop(COMPLETE_FIELD, None)
                return cached, False

        async def fill(source: ReferenceSource) -> dict[str, bytes]:
            loaded = dict(await _asked(source, load, key))
            mapping: dict[EncodableT, EncodableT] = {COMPLETE_FIELD: b"1"}
            mapping.update(loaded)

            async def store(client: Redis) -> None:
                async with client.pipeline(transaction=True) as tx:
                    tx.delete(key)
                    tx.hset(key, mapping=mapping)
                    tx.expire(key, ttl)
                    await tx.execute()

            await self._run(store, idempotent=True, key=key)
            return loaded

        return await self._load_once(key, fill), True

    def _named_fields(self, fields: Mapping[bytes | str, Any], key: str) -> dict[str, bytes]:
        """A hash's fields by name; a name that is not UTF-8 is skipped (and counted)."""
        named = {}
        for name, value in fields.items():
            try:
                named[utf8(name, key)] = cast("bytes", value)
            except CacheCorruptedValueError as error:
                self._skip_corrupted(error)
        return named

    def _decode_all(self, cls: type[_M], fields: Mapping[str, bytes], key: str) -> list[_M]:
        """Decode every entry, in field order; a corrupted one is skipped (and counted)."""
        models = []
        for field in sorted(fields):
            try:
                models.append(decode_model(cls, fields[field], key))  # type: ignore[type-var]
            except CacheCorruptedValueError as error:
                self._skip_corrupted(error)
        return models

    # -- exchange accounts ------------------------------------------------------------------

    async def get_exchange(self, ex_id: int | str) -> Exchange | None:
        """One exchange account by id (read through; None when the source has none).

        Example::

            exchange = await cache.get_exchange(3)
        """
        ex = identifier(ex_id, "ex_id")
        return await self._read_value(
            self._keys.exchange(ex),
            Exchange,
            lambda source: source.get_exchange(ex_id),
            self._settings.ttl_exchange,
        )

    async def get_exchanges(self, user_id: int | str) -> list[Exchange]:
        """Every exchange account of a user (read through).

        Example::

            for exchange in await cache.get_exchanges(user_id=7):
                print(exchange.ex_id, exchange.name)
        """
        key = self._keys.user_exchanges(identifier(user_id, "user_id"))

        async def load(source: ReferenceSource) -> dict[str, bytes]:
            found = await source.get_user_exchanges(user_id)
            return {str(item.ex_id): encode_model(item) for item in found}

        fields, _ = await self._read_collection(key, load, self._settings.ttl_exchange)
        return self._decode_all(Exchange, fields, key)

    async def set_exchange(self, exchange: Exchange) -> None:
        """Cache an exchange account, by id and in its user's list.

        A user list that holds only such entries is not taken for the full list: with a
        source, the next ``get_exchanges`` completes it from the database.

        Example::

            await cache.set_exchange(Exchange(ex_id=3, uid=7, cat_ex_id=1, name="main"))
        """
        if not isinstance(exchange, Exchange):
            raise InvalidTypeError(f"expected an Exchange, not {type(exchange).__name__}")
        ex = identifier(exchange.ex_id, "exchange.ex_id")
        data = encode_model(exchange)
        key, ttl = self._keys.exchange(ex), self._settings.ttl_exchange
        uid = exchange.uid
        user_key = (
            None if uid is None else self._keys.user_exchanges(identifier(uid, "exchange.uid"))
        )

        async def write(client: Redis) -> None:
            # The user's list first: a full server that refuses the second write leaves the
            # exchange listed but not stored by id (read through), never stored but missing
            # from a list marked complete.
            async with client.pipeline(transaction=False) as pipe:
                if user_key is not None:
                    pipe.hset(user_key, ex, data)
                    pipe.expire(user_key, ttl)
                pipe.set(key, data, ex=ttl)
                await pipe.execute()

        await self._run(write, idempotent=True, write=True, key=key)

    async def invalidate_exchanges(
        self, ex_id: int | str | None = None, user_id: int | str | None = None
    ) -> int:
        """Forget cached exchange data; with no argument all of it (catalogue included).

        Returns how many keys were deleted; the next read goes back to the source.

        Example::

            await cache.invalidate_exchanges(user_id=7)   # 1
        """
        keys, pattern = [], self._keys.pattern("exchanges:*")
        if ex_id is not None:
            keys.append(self._keys.exchange(identifier(ex_id, "ex_id")))
            await self._forget_in_user_list(keys[0], identifier(ex_id, "ex_id"))
        if user_id is not None:
            keys.append(self._keys.user_exchanges(identifier(user_id, "user_id")))
        if not keys:
            keys = [utf8(key, pattern) async for key in self._scan(pattern)]
        if not keys:
            return 0
        return int(await self._run(lambda r: r.unlink(*keys), idempotent=True))

    async def _forget_in_user_list(self, key: str, ex: str) -> None:
        """Drop an exchange from its user's cached list too (its cached copy names the user)."""
        raw = await self._run(lambda r: r.get(key), idempotent=True, key=key)
        if raw is None:
            return
        try:
            uid = decode_model(Exchange, cast("bytes", raw), key).uid
        except CacheCorruptedValueError:
            return  # a corrupted copy is deleted anyway; it cannot name the list
        if uid is not None:
            user_key = self._keys.user_exchanges(identifier(uid, "uid"))
            await self._run(
                lambda r: r.hdel(user_key, ex), idempotent=True, write=True, key=user_key
            )

    # -- the exchange catalogue -----------------------------------------------------------------

    async def _catalog(self, *, force: bool = False) -> tuple[list[CatExchange], bool]:
        key = self._keys.exchange_catalog()

        async def load(source: ReferenceSource) -> dict[str, bytes]:
            found = await source.get_cat_exchanges()
            return {str(item.name): encode_model(item) for item in found}

        fields, fresh = await self._read_collection(
            key, load, self._settings.ttl_exchange, force=force
        )
        return self._decode_all(CatExchange, fields, key), fresh

    async def get_cat_exchanges(
        self,
        exchange_name: str = "",
        all: bool = False,  # noqa: A002 - the name older Fullon services call it with
    ) -> list[CatExchange]:
        """The exchange catalogue, or only the entry named ``exchange_name``.

        ``all`` is accepted for compatibility; the whole catalogue is always returned.

        Example::

            names = [cat.name for cat in await cache.get_cat_exchanges()]
        """
        name = identifier(exchange_name, "exchange_name") if exchange_name else None
        catalog, _ = await self._catalog()
        return [cat for cat in catalog if name is None or cat.name == name]

    async def get_exchange_by_name(self, exchange_name: str) -> CatExchange | None:
        """The catalogue entry of one exchange (refreshed from the source once on a miss).

        Example::

            binance = await cache.get_exchange_by_name("binance")
        """
        name = identifier(exchange_name, "exchange_name")
        catalog, fresh = await self._catalog()
        if not fresh and self.source is not None and all(cat.name != name for cat in catalog):
            catalog, _ = await self._catalog(force=True)
        return next((cat for cat in catalog if cat.name == name), None)

    async def get_cat_ex_id(self, exchange_name: str) -> int | None:
        """The catalogue id of an exchange name, or None.

        Example::

            await cache.get_cat_ex_id("kraken")   # 2
        """
        cat = await self.get_exchange_by_name(exchange_name)
        return None if cat is None else cat.cat_ex_id

    async def _cat_exchange_by_id(self, cat_ex_id: int | str) -> CatExchange | None:
        catalog, _ = await self._catalog()
        return next((cat for cat in catalog if str(cat.cat_ex_id) == str(cat_ex_id)), None)

    # -- websocket error queues -----------------------------------------------------------------

    async def push_ws_error(self, error: str, ex_id: int | str) -> None:
        """Queue a websocket error of one exchange (FIFO, capped at ``WS_ERROR_CAP``).

        Example::

            await cache.push_ws_error("connection reset", ex_id=3)
        """
        key = self._keys.ws_errors(identifier(ex_id, "ex_id"))
        await self._push_text(key, error, self.WS_ERROR_CAP)

    async def pop_ws_error(self, ex_id: int | str, timeout: float = 0) -> str | None:
        """Take the oldest websocket error of one exchange, waiting up to ``timeout`` seconds.

        Example::

            error = await cache.pop_ws_error(3, timeout=5)
        """
        return await self._pop_text(self._keys.ws_errors(identifier(ex_id, "ex_id")), timeout)
