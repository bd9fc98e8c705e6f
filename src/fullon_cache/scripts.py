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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

__all__ = ["ALL_SCRIPTS", "PUSH_CAPPED", "Script", "run_script"]


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

ALL_SCRIPTS: tuple[Script, ...] = (PUSH_CAPPED,)


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
