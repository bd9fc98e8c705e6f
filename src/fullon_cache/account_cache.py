"""AccountCache: account snapshots, balances and positions of each exchange account.

Accounts are one hash (ex_id -> snapshot); balances and positions are one hash per exchange
account (currency -> balance, symbol -> position), so that one symbol's position changes
atomically without touching the others, and ``get_positions(ex_id)`` reads only that
account's. A set lists the accounts that have positions. Caller dicts are never changed.

Example::

    async with AccountCache() as cache:
        await cache.set_user_balances(3, {"USDT": {"total": 1000.0, "free": 800.0, "used": 200.0}})
        await cache.upsert_position(Position(symbol="BTC/USDT", ex_id="3", volume=0.1))
        position = await cache.get_position("BTC/USDT", 3)
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.typing import EncodableT

from fullon_cache import validation
from fullon_cache.codecs import decode_model, dumps, encode_model, loads_object, utc_now, utf8
from fullon_cache.errors import (
    CacheCorruptedValueError,
    InvalidInputError,
    InvalidTypeError,
    raise_error_replies,
)
from fullon_cache.keys import identifier
from fullon_cache.log import get_logger
from fullon_cache.models import Position
from fullon_cache.scripts import REPLACE_HASH, REPLACE_HASH_WHOLE, ScriptCall, run_pipelined
from fullon_cache.tick_cache import TickCache

__all__ = ["AccountCache"]

logger = get_logger("account")

_POSITION_NUMBERS = ("cost", "volume", "fee", "count", "price")
_OPTIONAL_POSITION_NUMBERS = ("timestamp", "realized_pnl", "unrealized_pnl")


def _mapping_of_mappings(value: object, name: str) -> dict[str, dict[str, Any]]:
    """``{currency: {...}}``: str keys, dict values (copied, never the caller's objects)."""
    if value is None:
        raise InvalidTypeError(f"{name} must be a dict, not None")
    outer = validation.optional_mapping(value, name)
    for key, inner in outer.items():
        if not isinstance(inner, Mapping):
            raise InvalidTypeError(f"{name}[{key!r}] must be a dict, not {type(inner).__name__}")
        outer[key] = dict(inner)
    return outer


def _checked_position(position: object) -> Position:
    if not isinstance(position, Position):
        raise InvalidTypeError(f"expected a Position, not {type(position).__name__}")
    if not isinstance(position.symbol, str):
        raise InvalidTypeError("position.symbol must be a str")
    identifier(position.symbol, "position.symbol")
    for name in _POSITION_NUMBERS:
        validation.number(getattr(position, name), f"position.{name}")
    for name in _OPTIONAL_POSITION_NUMBERS:
        if getattr(position, name, None) is not None:
            validation.number(getattr(position, name), f"position.{name}")
    return position


class AccountCache(TickCache):
    """Balances and positions; the sixth layer of the chain.

    Example::

        async with AccountCache() as cache:
            balances = await cache.get_user_balances(3)
            positions = await cache.get_positions(3)
    """

    # -- account snapshots ------------------------------------------------------------------

    async def upsert_user_account(
        self, ex_id: int | str, account: Mapping[str, Any], update_date: str = ""
    ) -> bool:
        """Store the account snapshot of an exchange account, stamped with ``date``.

        ``update_date`` (text) is stored as given; empty means now (ISO, UTC). The caller's
        dict is not changed.

        Example::

            await cache.upsert_user_account(3, {"USDT": {"total": 1000.0, "free": 1000.0}})
        """
        ex = identifier(ex_id, "ex_id")
        if account is None:
            raise InvalidTypeError("account must be a dict, not None")
        snapshot = validation.optional_mapping(account, "account")
        if not isinstance(update_date, str):
            raise InvalidTypeError("update_date must be a str")
        data = dumps({**snapshot, "date": update_date or utc_now().isoformat()})
        key = self._keys.accounts()
        await self._run(lambda r: r.hset(key, ex, data), idempotent=True, write=True, key=key)
        return True

    async def get_full_account(self, ex_id: int | str, currency: str) -> dict[str, Any]:
        """One currency's entry of an account snapshot ({} when there is none).

        Example::

            await cache.get_full_account(3, "USDT")   # {'total': 1000.0, 'free': 1000.0}
        """
        ex, name = identifier(ex_id, "ex_id"), identifier(currency, "currency")
        key = self._keys.accounts()
        raw = await self._run(lambda r: r.hget(key, ex), idempotent=True, key=key)
        if raw is None:
            return {}
        entry = loads_object(cast("bytes", raw), key).get(name, {})
        return entry if isinstance(entry, dict) else {}  # "date" and the like: no currency

    async def get_all_accounts(self) -> dict[str, dict[str, Any]]:
        """Every account snapshot, keyed by ``str(ex_id)`` (corrupted ones skipped).

        Example::

            for ex_id, account in (await cache.get_all_accounts()).items():
                print(ex_id, account["date"])
        """
        key = self._keys.accounts()
        fields = await self._run(lambda r: r.hgetall(key), idempotent=True, key=key)
        return self._decoded_mappings(fields, key)

    def _decoded_mappings(self, fields: Mapping[Any, Any], key: str) -> dict[str, dict[str, Any]]:
        found = {}
        for name in sorted(fields):
            try:
                found[utf8(name, key)] = loads_object(fields[name], key)
            except CacheCorruptedValueError as error:
                self._skip_corrupted(error)
        return found

    # -- balances ---------------------------------------------------------------------------

    async def set_user_balances(self, ex_id: int | str, balances: Mapping[str, Any]) -> bool:
        """Replace the balances of an exchange account: ``{currency: {"total", "free",
        "used", ...}}`` (other keys are kept as given; the caller's dict is not changed).

        Example::

            await cache.set_user_balances(3, {"BTC": {"total": 1.5, "free": 1.2, "used": 0.3}})
        """
        key = self._keys.balances(identifier(ex_id, "ex_id"))
        args: list[EncodableT] = []
        for currency, balance in _mapping_of_mappings(balances, "balances").items():
            args += [identifier(currency, "currency"), dumps(balance)]
        results = await self._run(
            lambda r: run_pipelined(r, lambda _, call: call(REPLACE_HASH, [key], args)),
            idempotent=True,
            write=True,
            key=key,
        )
        raise_error_replies(results, [key])
        return True

    async def get_user_balance(self, ex_id: int | str, currency: str) -> dict[str, Any] | None:
        """One currency's balance of an exchange account, or None.

        Example::

            await cache.get_user_balance(3, "BTC")   # {'total': 1.5, 'free': 1.2, 'used': 0.3}
        """
        key = self._keys.balances(identifier(ex_id, "ex_id"))
        name = identifier(currency, "currency")
        raw = await self._run(lambda r: r.hget(key, name), idempotent=True, key=key)
        return None if raw is None else loads_object(cast("bytes", raw), key)

    async def get_user_balances(self, ex_id: int | str) -> dict[str, dict[str, Any]]:
        """Every balance of an exchange account ({} when none is stored).

        Example::

            balances = await cache.get_user_balances(3)
        """
        key = self._keys.balances(identifier(ex_id, "ex_id"))
        fields = await self._run(lambda r: r.hgetall(key), idempotent=True, key=key)
        return self._decoded_mappings(fields, key)

    # -- positions --------------------------------------------------------------------------

    async def upsert_positions(
        self, ex_id: int | str, positions: Iterable[Position], update_date: bool = False
    ) -> bool:
        """Replace all positions of an exchange account (an empty list deletes them).

        ``update_date`` stamps each stored position with the current time; the caller's
        positions are not changed. On a full server (maxmemory) it raises
        :class:`~fullon_cache.errors.CacheOutOfMemoryError` and writes nothing.

        Example::

            await cache.upsert_positions(3, [Position(symbol="BTC/USDT", volume=0.1)])
        """
        ex = identifier(ex_id, "ex_id")
        if not isinstance(positions, Iterable) or isinstance(positions, str | bytes | Mapping):
            raise InvalidTypeError(f"expected Positions, not {type(positions).__name__}")
        stamp = time.time() if update_date else None
        args: list[EncodableT] = []
        for position in positions:
            stored = self._stored_position(_checked_position(position), ex, stamp)
            args += [stored.symbol, encode_model(stored)]
        key, index = self._keys.positions(ex), self._keys.position_exchanges()

        def build(pipe: Pipeline, call: ScriptCall) -> None:
            # The index may list an account without positions (readers skip it), never the
            # reverse: so it is only ever added to, whatever other writers do meanwhile, and
            # before the positions. On a full server Redis refuses both: the SADD, and the
            # script at its first write (it writes nothing else before that one).
            if args:
                pipe.sadd(index, ex)
            call(REPLACE_HASH_WHOLE, [key], args)

        results = await self._run(
            lambda r: run_pipelined(r, build), idempotent=True, write=True, key=key
        )
        raise_error_replies(results, [index, key] if args else [key])
        return True

    @staticmethod
    def _stored_position(position: Position, ex: str, stamp: float | None) -> Position:
        # A copy through the model's own from_dict: works for fullon_orm's class too.
        changes: dict[str, Any] = {"ex_id": ex}
        if stamp is not None:
            changes["timestamp"] = stamp
        return Position.from_dict({**position.to_dict(), **changes})

    async def upsert_position(self, position: Position) -> bool:
        """Store one position under its own ``ex_id`` (atomic; other symbols untouched).

        Example::

            await cache.upsert_position(Position(symbol="ETH/USDT", ex_id="3", volume=2.0))
        """
        checked = _checked_position(position)
        if checked.ex_id is None:
            raise InvalidInputError("position.ex_id is needed to store a position")
        return await self.set_position(checked.ex_id, checked)

    async def set_position(self, ex_id: int | str, position: Position) -> bool:
        """Store one position under exchange account ``ex_id`` (other symbols untouched).

        Example::

            await cache.set_position(3, Position(symbol="ETH/USDT", volume=2.0, price=3000.0))
        """
        ex = identifier(ex_id, "ex_id")
        stored = self._stored_position(_checked_position(position), ex, None)
        data = encode_model(stored)
        key, index = self._keys.positions(ex), self._keys.position_exchanges()

        async def write(client: Redis) -> None:
            async with client.pipeline(transaction=False) as pipe:
                pipe.hset(key, stored.symbol, data)
                pipe.sadd(index, ex)
                await pipe.execute()

        await self._run(write, idempotent=True, write=True, key=key)
        return True

    async def get_position(self, symbol: str, ex_id: int | str) -> Position:
        """The position of a symbol; an empty one (volume 0.0) when there is none.

        Example::

            (await cache.get_position("BTC/USDT", 3)).volume   # 0.1
        """
        name, ex = identifier(symbol, "symbol"), identifier(ex_id, "ex_id")
        key = self._keys.positions(ex)
        raw = await self._run(lambda r: r.hget(key, name), idempotent=True, key=key)
        if raw is None:
            return Position(symbol=name, ex_id=ex)
        return _checked_stored(decode_model(Position, cast("bytes", raw), key), key)

    def _positions_of(self, fields: Mapping[Any, Any], key: str) -> list[Position]:
        positions = []
        for name in sorted(fields):
            try:
                positions.append(_checked_stored(decode_model(Position, fields[name], key), key))
            except CacheCorruptedValueError as error:
                self._skip_corrupted(error)
        return positions

    async def get_positions(self, ex_id: int | str) -> list[Position]:
        """The positions of one exchange account only, by symbol.

        Example::

            for position in await cache.get_positions(3):
                print(position.symbol, position.volume)
        """
        key = self._keys.positions(identifier(ex_id, "ex_id"))
        fields = await self._run(lambda r: r.hgetall(key), idempotent=True, key=key)
        return self._positions_of(fields, key)

    async def _position_accounts(self) -> list[str]:
        """The accounts in the position index; an undecodable member is skipped, counted."""
        index = self._keys.position_exchanges()
        members = await self._run(lambda r: r.smembers(index), idempotent=True, key=index)
        accounts = []
        for member in members:
            try:
                accounts.append(utf8(member, index))
            except CacheCorruptedValueError as error:
                self._skip_corrupted(error)
        return sorted(accounts)

    async def get_all_positions(self) -> list[Position]:
        """The positions of every exchange account (corrupted entries skipped).

        Example::

            total = sum(p.cost for p in await cache.get_all_positions())
        """
        keys = [self._keys.positions(ex) for ex in await self._position_accounts()]
        positions = []
        for key, fields in zip(keys, await self._read_many("hgetall", keys), strict=True):
            if isinstance(fields, Exception):
                self._skip_corrupted(CacheCorruptedValueError(key, "not a hash of positions"))
            else:
                positions += self._positions_of(fields, key)
        return positions

    async def delete_position(self, ex_id: int | str, symbol: str) -> bool:
        """Delete one position; False when there was none.

        A delete whose reply was lost raises
        :class:`~fullon_cache.errors.CacheUnknownOutcomeError` (it may have deleted it).

        Example::

            await cache.delete_position(3, "BTC/USDT")
        """
        key = self._keys.positions(identifier(ex_id, "ex_id"))
        name = identifier(symbol, "symbol")
        # Not resent after a lost reply: a second HDEL would report "there was none".
        return bool(await self._run(lambda r: r.hdel(key, name), idempotent=False, key=key))

    async def clean_positions(self) -> int:
        """Delete every position of every exchange account; returns how many there were.

        Example::

            await cache.clean_positions()   # 7
        """
        index = self._keys.position_exchanges()
        keys = [self._keys.positions(ex) for ex in await self._position_accounts()]
        counts = await self._read_many("hlen", keys)

        async def delete(client: Redis) -> None:
            async with client.pipeline(transaction=False) as pipe:
                if keys:
                    pipe.delete(*keys)
                pipe.delete(index)
                await pipe.execute()

        await self._run(delete, idempotent=True, key=index)
        return sum(count for count in counts if isinstance(count, int))


def _checked_stored(position: Position, key: str) -> Position:
    """A stored position, validated like one being written (nonsense numbers are corruption)."""
    try:
        if type(position.symbol) is str and validation.plainly_finite(
            position, _POSITION_NUMBERS, _OPTIONAL_POSITION_NUMBERS
        ):  # the common case, checked fast
            identifier(position.symbol, "position.symbol")
            return position
        return _checked_position(position)
    except InvalidInputError as exc:
        raise CacheCorruptedValueError(key, f"not a valid position ({exc})") from exc
