"""Lua scripts for atomic read-modify-write, as named constants, and how they are run.

Each script lists every key it touches in ``KEYS[]`` (Cluster routing and ACL checks need
that) and documents its KEYS/ARGV/return contract. Scripts are sent by SHA1 (``EVALSHA``);
when the server does not know the script yet — first use, or after a restart or
``SCRIPT FLUSH`` — it is sent in full once (``EVAL``), which also caches it on the server.
A ``NOSCRIPT`` reply means nothing ran, so that second send can never apply a write twice.

Example::

    length = await run_script(client, PUSH_CAPPED, ["fullon:errors:global"], [b"boom", 1000])
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import NoScriptError

__all__ = [
    "ACK_TRADES",
    "ACQUIRE_LOCK",
    "ALL_SCRIPTS",
    "DELETE_TICKER",
    "EXTEND_LOCK",
    "GIVE_BACK_ORDER",
    "GIVE_BACK_TRADES",
    "HDEL_IF_EQUALS",
    "HSET_IF_FIELD_EXISTS",
    "PUSH_CAPPED",
    "REGISTER_PROCESS",
    "RELEASE_LOCK",
    "REPLACE_HASH",
    "REPLACE_HASH_WHOLE",
    "REQUEUE_STALE",
    "SAVE_ORDER",
    "SET_TICKER",
    "SREM_IF_MISSING",
    "STOP_PROCESS",
    "TAKE_TRADES",
    "UPDATE_BARS",
    "UPDATE_PROCESS",
    "Script",
    "run_pipelined",
    "run_script",
]


@dataclass(frozen=True, slots=True)
class Script:
    """A named Lua script and its SHA1.

    Example::

        Script("noop", "return 1").sha   # 'e0e1f9fabfc9d4800c877a703b823ac0578ff8db'
    """

    name: str
    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        digest = hashlib.sha1(self.source.encode(), usedforsecurity=False).hexdigest()
        object.__setattr__(self, "sha", digest)


PUSH_CAPPED = Script(
    "push_capped",
    """
    -- KEYS[1]: a list used as a FIFO queue (RPUSH in, LPOP out)
    -- ARGV[1]: the item; ARGV[2]: the cap (the oldest items beyond it are dropped)
    -- returns: the list length after the push
    redis.call('RPUSH', KEYS[1], ARGV[1])
    redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
    return redis.call('LLEN', KEYS[1])
    """,
)

_WRONG_TYPE = """
    -- wrong_type(i, kind): KEYS[i] exists and holds another Redis type than kind
    local function wrong_type(i, kind)
        local found = redis.call('TYPE', KEYS[i])['ok']
        return found ~= 'none' and found ~= kind
    end
"""

REGISTER_PROCESS = Script(
    "register_process",
    _WRONG_TYPE
    + """
    -- KEYS[1]: the process record (hash); KEYS[2]: the active index (zset);
    -- KEYS[3]: component -> latest process id (hash)
    -- ARGV[1]: process id; ARGV[2]: component; ARGV[3]: now, epoch seconds; ARGV[4]: record
    -- TTL, seconds; ARGV[5]: prune index entries older than this; ARGV[6..]: field, value pairs
    -- returns: 1; -i (nothing written) when KEYS[i] (i = 2, 3) holds another Redis type.
    -- The first write adds memory (HSET), so a full server refuses it all.
    if wrong_type(2, 'zset') then return -2 end
    if wrong_type(3, 'hash') then return -3 end
    redis.call('HSET', KEYS[1], unpack(ARGV, 6))
    redis.call('EXPIRE', KEYS[1], ARGV[4])
    redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
    redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[5])
    redis.call('HSET', KEYS[3], ARGV[2], ARGV[1])
    return 1
    """,
)

UPDATE_PROCESS = Script(
    "update_process",
    _WRONG_TYPE
    + """
    -- KEYS[1]: the process record (hash); KEYS[2]: the active index (zset)
    -- ARGV[1]: process id; ARGV[2]: now, ISO-8601; ARGV[3]: now, epoch seconds;
    -- ARGV[4]: '1' to record a heartbeat; ARGV[5]: record TTL, seconds;
    -- ARGV[6..]: field, value pairs to set (status, message, param:<name>)
    -- returns: 1, or 0 when the process is unknown, or -2 when KEYS[2] is not a sorted set
    -- (nothing is written then)
    if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
    if wrong_type(2, 'zset') then return -2 end
    redis.call('HSET', KEYS[1], 'updated_at', ARGV[2])
    if ARGV[4] == '1' then
        redis.call('HSET', KEYS[1], 'heartbeat', ARGV[2], 'last_seen', ARGV[3])
    end
    if #ARGV > 5 then redis.call('HSET', KEYS[1], unpack(ARGV, 6)) end
    redis.call('EXPIRE', KEYS[1], ARGV[5])
    redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
    return 1
    """,
)

STOP_PROCESS = Script(
    "stop_process",
    _WRONG_TYPE
    + """
    -- KEYS[1]: the process record; KEYS[2]: the active index; KEYS[3]: component -> id hash
    -- ARGV[1]: process id; ARGV[2]: now, ISO-8601; ARGV[3]: message; ARGV[4]: record TTL;
    -- ARGV[5]: '' or an epoch time: then stop only if not updated since (stale cleanup)
    -- returns: 1, or 0 when the process is unknown (or was updated after ARGV[5]), or -i
    -- when KEYS[i] (i = 2, 3) holds another Redis type (nothing is written then)
    if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
    if wrong_type(2, 'zset') then return -2 end
    if wrong_type(3, 'hash') then return -3 end
    if ARGV[5] ~= '' then
        local updated = redis.call('ZSCORE', KEYS[2], ARGV[1])
        if updated and tonumber(updated) > tonumber(ARGV[5]) then return 0 end
    end
    redis.call('HSET', KEYS[1], 'status', 'stopped', 'message', ARGV[3], 'updated_at', ARGV[2])
    redis.call('EXPIRE', KEYS[1], ARGV[4])
    redis.call('ZREM', KEYS[2], ARGV[1])
    local component = redis.call('HGET', KEYS[1], 'component')
    if component and redis.call('HGET', KEYS[3], component) == ARGV[1] then
        redis.call('HDEL', KEYS[3], component)
    end
    return 1
    """,
)

HSET_IF_FIELD_EXISTS = Script(
    "hset_if_field_exists",
    """
    -- KEYS[1]: a hash; ARGV[1]: field; ARGV[2]: value
    -- returns: 1 after replacing the field's value, 0 (nothing written) when it is absent
    if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
    redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
    return 1
    """,
)

HDEL_IF_EQUALS = Script(
    "hdel_if_equals",
    """
    -- KEYS[1]: a hash; ARGV[1]: field; ARGV[2]: the value it must still hold
    -- returns: 1 when the field was deleted, 0 when it holds something else (kept)
    if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
    return redis.call('HDEL', KEYS[1], ARGV[1])
    """,
)

SET_TICKER = Script(
    "set_ticker",
    """
    -- KEYS[1]: an exchange's latest-ticker hash; KEYS[2]: the hash of their times
    -- ARGV[1]: symbol; ARGV[2]: the tick's time (epoch seconds); ARGV[3]: the tick (JSON);
    -- ARGV[4]: the exchange's update channel; ARGV[5]: PUBLISH or SPUBLISH (a sharded cluster)
    -- returns: 1 when stored and published; 0 (nothing changes) when a newer tick is stored;
    -- -2 (nothing changes) when KEYS[2] is not a hash
    local stored = redis.pcall('HGET', KEYS[2], ARGV[1])
    if type(stored) == 'table' then return -2 end
    stored = tonumber(stored)
    if stored and stored > tonumber(ARGV[2]) then return 0 end
    redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
    redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
    redis.call(ARGV[5] == 'SPUBLISH' and 'SPUBLISH' or 'PUBLISH', ARGV[4], ARGV[3])
    return 1
    """,
)

DELETE_TICKER = Script(
    "delete_ticker",
    _WRONG_TYPE
    + """
    -- KEYS[1]: an exchange's latest-ticker hash; KEYS[2]: the hash of their times
    -- ARGV[1]: symbol
    -- returns: 1 when a ticker was deleted, 0 when none was stored; -i (nothing deleted)
    -- when KEYS[i] is not a hash
    if wrong_type(1, 'hash') then return -1 end
    if wrong_type(2, 'hash') then return -2 end
    redis.call('HDEL', KEYS[2], ARGV[1])
    return redis.call('HDEL', KEYS[1], ARGV[1])
    """,
)

REPLACE_HASH = Script(
    "replace_hash",
    """
    -- KEYS[1]: a hash; ARGV: field, value pairs (none: the hash is deleted)
    -- returns: the number of fields it holds now
    redis.call('DEL', KEYS[1])
    if #ARGV > 0 then redis.call('HSET', KEYS[1], unpack(ARGV)) end
    return #ARGV / 2
    """,
)

REPLACE_HASH_WHOLE = Script(
    "replace_hash_whole",
    """
    -- KEYS[1]: a hash; ARGV: field, value pairs (none: the hash is deleted)
    -- Like replace_hash, but all or nothing on a full server: its first write is the HSET of
    -- the new fields, which Redis refuses (OOM) before anything is written; once a script
    -- has written, Redis lets it finish, so the stale fields are dropped after it.
    -- returns: the number of fields it holds now
    if #ARGV == 0 then
        redis.call('DEL', KEYS[1])
        return 0
    end
    local fresh = {}
    for i = 1, #ARGV, 2 do fresh[ARGV[i]] = true end
    local stale = {}
    for _, name in ipairs(redis.call('HKEYS', KEYS[1])) do
        if not fresh[name] then stale[#stale + 1] = name end
    end
    redis.call('HSET', KEYS[1], unpack(ARGV))
    for _, name in ipairs(stale) do redis.call('HDEL', KEYS[1], name) end
    return redis.call('HLEN', KEYS[1])
    """,
)

SAVE_ORDER = Script(
    "save_order",
    _WRONG_TYPE
    + """
    -- KEYS[1]: the order hash; KEYS[2]: the exchange's order-id set
    -- ARGV[1]: order id; ARGV[2]: 'merge', 'update' (only if stored) or 'replace';
    -- ARGV[3]: 'expire', 'persist' or '' (keep the TTL); ARGV[4]: TTL seconds;
    -- ARGV[5..]: field, value pairs
    -- returns: 1, or 0 for 'update' of an order that is not stored, or -i when KEYS[i] holds
    -- another Redis type (nothing written then)
    if wrong_type(1, 'hash') then return -1 end
    if wrong_type(2, 'set') then return -2 end
    if ARGV[2] == 'update' and redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
    if ARGV[2] == 'replace' then redis.call('DEL', KEYS[1]) end
    if #ARGV > 4 then redis.call('HSET', KEYS[1], unpack(ARGV, 5)) end
    if ARGV[3] == 'expire' then
        redis.call('EXPIRE', KEYS[1], ARGV[4])
    elseif ARGV[3] == 'persist' then
        redis.call('PERSIST', KEYS[1])
    end
    redis.call('SADD', KEYS[2], ARGV[1])
    return 1
    """,
)

REQUEUE_STALE = Script(
    "requeue_stale",
    _WRONG_TYPE
    + """
    -- KEYS[1]: a queue's pending list; KEYS[2]: its processing list; KEYS[3]: its claims hash
    -- ARGV[1]: now (epoch seconds); ARGV[2]: age (seconds) from which a claim is stale
    -- Items are "<id>:<payload>"; an item seen without a claim time is claimed as of now.
    -- returns: how many items went back to the head of the pending list (oldest first), or
    -- -i when KEYS[i] holds another Redis type (nothing moved then)
    if wrong_type(1, 'list') then return -1 end
    if wrong_type(2, 'list') then return -2 end
    if wrong_type(3, 'hash') then return -3 end
    local now, age = tonumber(ARGV[1]), tonumber(ARGV[2])
    local items = redis.call('LRANGE', KEYS[2], 0, -1)
    local moved = 0
    for i = #items, 1, -1 do
        local item = items[i]
        local id = string.match(item, '^([^:]+):') or item
        local claimed = tonumber(redis.call('HGET', KEYS[3], id))
        if not claimed then
            claimed = now
            redis.call('HSET', KEYS[3], id, ARGV[1])
        end
        if now - claimed >= age then
            redis.call('LREM', KEYS[2], 1, item)
            redis.call('LPUSH', KEYS[1], item)
            redis.call('HDEL', KEYS[3], id)
            moved = moved + 1
        end
    end
    return moved
    """,
)

GIVE_BACK_ORDER = Script(
    "give_back_order",
    _WRONG_TYPE
    + """
    -- KEYS[1]: a queue's pending list; KEYS[2]: its processing list
    -- ARGV[1]: an item whose consumer was cancelled before the item reached it
    -- Puts it back at the head of the pending list and drops it from the processing list
    -- if it is still there (its acknowledgement may have run or not). The LPUSH goes first:
    -- a full server refuses the script before anything is written.
    -- returns: 1; -i (nothing written) when KEYS[i] holds another Redis type
    if wrong_type(1, 'list') then return -1 end
    if wrong_type(2, 'list') then return -2 end
    redis.call('LPUSH', KEYS[1], ARGV[1])
    redis.call('LREM', KEYS[2], 1, ARGV[1])
    return 1
    """,
)

TAKE_TRADES = Script(
    "take_trades",
    _WRONG_TYPE
    + """
    -- KEYS[1]: a trade queue (a list of trades); KEYS[2]: its processing list
    -- ARGV[1]: this take's token (hex); ARGV[2]: how many trades to take, 0 for all;
    -- ARGV[3]: age (seconds) from which a take nobody acknowledged is stale;
    -- ARGV[4..]: tokens of takes the caller abandoned (cancelled, or their reply lost)
    -- A take waits on the processing list as one entry, "<token>:<server time>:<msgpack list
    -- of its trades>", until ACK_TRADES drops it. Abandoned and stale takes go back to the
    -- head of the queue first, in their order; an entry that is no take goes back whole.
    -- On a full server a pop still runs (its first write, LPOP, frees memory) and a drain is
    -- refused before it writes anything (its first write, the entry, adds memory).
    -- returns: the trades taken, oldest first; -i (nothing written) when KEYS[i] holds
    -- another Redis type
    if wrong_type(1, 'list') then return -1 end
    if wrong_type(2, 'list') then return -2 end
    local clock = redis.call('TIME')
    local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
    local abandoned = {}
    for i = 4, #ARGV do abandoned[ARGV[i]] = true end
    local entries = redis.call('LRANGE', KEYS[2], 0, -1)
    for i = #entries, 1, -1 do
        local entry = entries[i]
        local token, since, start = string.match(entry, '^(%x+):([%d.]+):()')
        local ok, trades = false, nil
        if token and tonumber(since) then
            ok, trades = pcall(cmsgpack.unpack, string.sub(entry, start))
        end
        if not ok or type(trades) ~= 'table' then
            redis.call('LREM', KEYS[2], 1, entry)
            redis.call('LPUSH', KEYS[1], entry)
        elseif abandoned[token] or now - tonumber(since) >= tonumber(ARGV[3]) then
            redis.call('LREM', KEYS[2], 1, entry)
            for j = #trades, 1, -1 do redis.call('LPUSH', KEYS[1], trades[j]) end
        end
    end
    local count = tonumber(ARGV[2])
    local taken
    if count > 0 then
        taken = redis.call('LPOP', KEYS[1], count)
        if not taken then return {} end
    else
        taken = redis.call('LRANGE', KEYS[1], 0, -1)
        if #taken == 0 then return taken end
    end
    redis.call('RPUSH', KEYS[2], ARGV[1] .. ':' .. now .. ':' .. cmsgpack.pack(taken))
    if count == 0 then redis.call('DEL', KEYS[1]) end
    return taken
    """,
)

ACK_TRADES = Script(
    "ack_trades",
    _WRONG_TYPE
    + """
    -- KEYS[1]: a trade queue's processing list; ARGV[1]: the token of a take (TAKE_TRADES)
    -- Drops that take's entry: its trades were delivered.
    -- returns: 1; 0 when it is not there (acknowledged already, or given back); -1 when
    -- KEYS[1] holds another Redis type
    if wrong_type(1, 'list') then return -1 end
    local prefix = ARGV[1] .. ':'
    for _, entry in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
        if string.sub(entry, 1, #prefix) == prefix then
            return redis.call('LREM', KEYS[1], 1, entry)
        end
    end
    return 0
    """,
)

GIVE_BACK_TRADES = Script(
    "give_back_trades",
    _WRONG_TYPE
    + """
    -- KEYS[1]: a trade queue; KEYS[2]: its processing list
    -- ARGV[1]: the token of a take whose trades never reached the caller (it was cancelled
    -- while acknowledging them); ARGV[2..]: those trades, oldest first
    -- Drops the take's entry if it is still there (the acknowledgement may have run or not)
    -- and puts the trades back at the head of the queue, in order.
    -- returns: how many trades went back; -i (nothing written) when KEYS[i] holds another
    -- Redis type
    if wrong_type(1, 'list') then return -1 end
    if wrong_type(2, 'list') then return -2 end
    local prefix = ARGV[1] .. ':'
    for _, entry in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
        if string.sub(entry, 1, #prefix) == prefix then
            redis.call('LREM', KEYS[2], 1, entry)
            break
        end
    end
    for i = #ARGV, 2, -1 do redis.call('LPUSH', KEYS[1], ARGV[i]) end
    return #ARGV - 1
    """,
)

SREM_IF_MISSING = Script(
    "srem_if_missing",
    """
    -- KEYS[1]: an index set; KEYS[2..]: the keys its members stand for
    -- ARGV[i]: the member standing for KEYS[i + 1]
    -- Drops a member only while its key does not exist (a key written meanwhile keeps it).
    -- returns: how many members were dropped
    local dropped = 0
    for i = 1, #ARGV do
        if redis.call('EXISTS', KEYS[i + 1]) == 0 then
            dropped = dropped + redis.call('SREM', KEYS[1], ARGV[i])
        end
    end
    return dropped
    """,
)

ACQUIRE_LOCK = Script(
    "acquire_lock",
    """
    -- KEYS[1]: the lock; KEYS[2]: its fencing counter
    -- ARGV[1]: the owner (bot id); ARGV[2]: TTL in milliseconds, 0 for none
    -- returns: {1, fence} when the owner holds the lock now (a new acquisition increments
    --          the fence; the owner re-acquiring refreshes the TTL and keeps it),
    --          {0, holder} when somebody else holds it (nothing changes)
    -- Everything is checked before the first write: a fencing counter that is not a
    -- non-negative integer INCR can increment is an error reply and nothing is written.
    local holder = redis.call('GET', KEYS[1])
    if holder and holder ~= ARGV[1] then return {0, holder} end
    local fence_type = redis.call('TYPE', KEYS[2])['ok']
    local fence = '0'
    if fence_type == 'string' then fence = redis.call('GET', KEYS[2]) end
    local counter = fence == '0' or (#fence < 19 and string.match(fence, '^[1-9]%d*$'))
    if (fence_type ~= 'none' and fence_type ~= 'string') or not counter then
        return redis.error_reply('WRONGTYPE the fencing counter is not an integer')
    end
    local ttl = tonumber(ARGV[2])
    if ttl > 0 then
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
    else
        redis.call('SET', KEYS[1], ARGV[1])
    end
    if holder then return {1, tonumber(fence)} end
    return {1, redis.call('INCR', KEYS[2])}
    """,
)

RELEASE_LOCK = Script(
    "release_lock",
    """
    -- KEYS[1]: the lock; ARGV[1]: the owner ('' releases whoever holds it)
    -- returns: 1 when released, 0 when not held (by that owner)
    local holder = redis.call('GET', KEYS[1])
    if not holder or (ARGV[1] ~= '' and holder ~= ARGV[1]) then return 0 end
    return redis.call('DEL', KEYS[1])
    """,
)

EXTEND_LOCK = Script(
    "extend_lock",
    """
    -- KEYS[1]: the lock; ARGV[1]: the owner; ARGV[2]: new TTL in milliseconds
    -- returns: 1 when extended, 0 when the owner no longer holds it
    if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
    """,
)

UPDATE_BARS = Script(
    "update_bars",
    """
    -- KEYS[1]: a series (sorted set by timestamp)
    -- ARGV[1]: cap (bars kept, the newest); ARGV[2]: the update channel; ARGV[3]: PUBLISH or
    -- SPUBLISH (a sharded cluster); ARGV[4]: the bars as one JSON list (published);
    -- ARGV[5..]: timestamp, bar pairs
    -- A bar replaces any stored bar with the same timestamp. The first write is a ZADD, so a
    -- full server refuses the script before anything is written (once a script has written,
    -- Redis lets it finish). returns: bars written
    for i = 5, #ARGV, 2 do
        local replaced = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[i], ARGV[i])
        redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1])
        for _, old in ipairs(replaced) do
            if old ~= ARGV[i + 1] then redis.call('ZREM', KEYS[1], old) end
        end
    end
    redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -tonumber(ARGV[1]) - 1)
    redis.call(ARGV[3] == 'SPUBLISH' and 'SPUBLISH' or 'PUBLISH', ARGV[2], ARGV[4])
    return (#ARGV - 4) / 2
    """,
)

ALL_SCRIPTS: tuple[Script, ...] = (
    ACQUIRE_LOCK,
    RELEASE_LOCK,
    EXTEND_LOCK,
    UPDATE_BARS,
    SREM_IF_MISSING,
    SAVE_ORDER,
    REQUEUE_STALE,
    GIVE_BACK_ORDER,
    TAKE_TRADES,
    ACK_TRADES,
    GIVE_BACK_TRADES,
    REPLACE_HASH,
    REPLACE_HASH_WHOLE,
    SET_TICKER,
    DELETE_TICKER,
    PUSH_CAPPED,
    REGISTER_PROCESS,
    UPDATE_PROCESS,
    STOP_PROCESS,
    HSET_IF_FIELD_EXISTS,
    HDEL_IF_EQUALS,
)


ScriptCall = Callable[[Script, Sequence[str], Sequence[Any]], None]


def _script_caller(pipe: Pipeline, *, by_sha: bool) -> ScriptCall:
    def call(script: Script, keys: Sequence[str], args: Sequence[Any]) -> None:
        if by_sha:
            pipe.evalsha(script.sha, len(keys), *keys, *args)
        else:
            pipe.eval(script.source, len(keys), *keys, *args)

    return call


async def run_pipelined(client: Redis, build: Callable[[Pipeline, ScriptCall], None]) -> list[Any]:
    """One pipeline (one round trip) in which ``build`` queues commands and scripts.

    Scripts go by SHA1; if the server lacks one, nothing of it ran and the whole pipeline is
    sent once more with the sources, so ``build`` may only queue idempotent commands besides
    its scripts. Error replies come back in the results, in their command's place (the
    other commands ran), for the caller to map to the key they concern.

    Example::

        await run_pipelined(client, lambda pipe, call: (pipe.sadd(index, "binance"),
                                                        call(SET_TICKER, keys, args)))
    """
    results = await _execute(client, build, by_sha=True)
    if any(isinstance(result, NoScriptError) for result in results):
        results = await _execute(client, build, by_sha=False)
    return results


async def _execute(
    client: Redis, build: Callable[[Pipeline, ScriptCall], None], *, by_sha: bool
) -> list[Any]:
    async with client.pipeline(transaction=False) as pipe:
        build(pipe, _script_caller(pipe, by_sha=by_sha))
        return await pipe.execute(raise_on_error=False)


async def run_script(
    client: Redis, script: Script, keys: Sequence[str], args: Sequence[Any]
) -> Any:
    """Run ``script`` atomically; sends the source only when the server lacks it.

    Example::

        await run_script(client, PUSH_CAPPED, [key], [b"item", 100])
    """
    try:
        return await client.evalsha(script.sha, len(keys), *keys, *args)
    except NoScriptError:
        return await client.eval(script.source, len(keys), *keys, *args)
