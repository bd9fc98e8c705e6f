"""Security tests: a private redis-server per xdist worker, ACL users, a distinctive secret.

The server is always private (never ``FULLON_TEST_REDIS_URL``): the tests create and delete
ACL users and flush the script cache, which must not touch a shared server.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import redis

from fullon_cache.connection import close_all
from fullon_cache.local_server import LocalRedisServer
from fullon_cache.settings import CacheSettings

SECRET = "Zs3cr3t-7fq9-PW"
"""A password / API secret no test output could contain by chance."""

ACL_PASSWORD = SECRET


def recommended_acl(prefix: str, password: str, version: tuple[int, ...] = (6, 2)) -> list[str]:
    """The ACL rules recommended for a fullon_cache user of namespace ``prefix``.

    ``ACL SETUSER <user> reset on ><password> ~<prefix>:* resetchannels &<prefix>:*
    +@all -@dangerous +info +client|setname -script``

    * ``~<prefix>:*`` / ``&<prefix>:*``: only this namespace's keys and channels;
      ``resetchannels`` is needed on Redis 6.2, whose ``reset`` allows every channel;
    * ``-@dangerous``: no KEYS, FLUSHDB/FLUSHALL, CONFIG, DEBUG, CLIENT KILL, MONITOR, ACL...;
    * ``+info``: the start-up ``maxmemory-policy`` check and ``fullon-cache doctor``;
    * ``+client|setname``: redis-py names its connections ``fullon_cache`` when connecting
      (on Redis 6.2 all of CLIENT is @dangerous; on 7.x SETNAME is not, and this is a no-op);
    * ``-script``: no SCRIPT FLUSH/KILL/LOAD, which act on every tenant's scripts (the library
      only uses EVALSHA and EVAL);
    * ``-function`` on Redis 7 (``version``), for the same reason: FUNCTION FLUSH/DELETE are
      not @dangerous there. Redis 6.2 has no FUNCTION command and rejects the rule.
    """
    rules = [
        "reset", "on", f">{password}",
        f"~{prefix}:*", "resetchannels", f"&{prefix}:*",
        "+@all", "-@dangerous", "+info", "+client|setname", "-script",
    ]  # fmt: skip
    return [*rules, "-function"] if version >= (7,) else rules


@pytest.fixture(scope="session")
def private_server() -> Iterator[LocalRedisServer]:
    """This worker's own redis-server (unix socket), shared by the security tests."""
    with LocalRedisServer() as server:
        yield server


def admin_client(server: LocalRedisServer) -> redis.Redis:
    """A synchronous client of the ``default`` user (every permission)."""
    return redis.Redis(unix_socket_path=server.socket_path)


def user_url(server: LocalRedisServer, user: str, password: str) -> str:
    return f"unix://{user}:{password}@{server.socket_path}?db=0"


@pytest.fixture
def make_user(private_server: LocalRedisServer) -> Iterator[Callable[..., str]]:
    """``make_user(name, *rules)`` creates an ACL user for this test (deleted afterwards)."""
    made: list[str] = []

    def make(name: str, *rules: str) -> str:
        with admin_client(private_server) as admin:
            admin.execute_command("ACL", "SETUSER", name, *rules)
        made.append(name)
        return name

    yield make
    with admin_client(private_server) as admin:
        for name in made:
            admin.acl_deluser(name)


@pytest.fixture
def acl_settings(
    private_server: LocalRedisServer, namespace: str, make_user: Callable[..., str]
) -> CacheSettings:
    """Settings for a user restricted to this test's namespace by the recommended ACL line.

    The server's script cache is flushed first, so the library's first use of each Lua
    script goes through EVAL and later ones through EVALSHA: both are exercised.
    """
    rules = recommended_acl(namespace, ACL_PASSWORD, private_server.version)
    user = make_user(f"app_{namespace}", *rules)
    with admin_client(private_server) as admin:
        admin.script_flush()
    return CacheSettings.from_url(
        user_url(private_server, user, ACL_PASSWORD), key_prefix=namespace
    )


@pytest.fixture(autouse=True)
async def _close_shared_pools() -> AsyncIterator[None]:
    """Close the shared pools of the test's event loop when it ends."""
    yield
    await close_all()


@pytest.fixture
def quiet_cli_logging(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """For tests of the command: log into a fresh directory (returned), undo its handlers."""
    log_dir = tmp_path / "log"
    monkeypatch.setenv("FULLON_CACHE_LOG_DIR", str(log_dir))
    monkeypatch.setenv("LOG_CONSOLE", "false")
    logger = logging.getLogger("fullon")
    handlers, level = list(logger.handlers), logger.level
    yield log_dir
    for handler in [h for h in logger.handlers if h not in handlers]:
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(level)


def exception_texts(exc: BaseException) -> str:
    """Everything a caller or a log could show of ``exc``: str, repr and args of it and of
    every exception chained to it (``__cause__`` / ``__context__``), and its traceback."""
    parts: list[str] = []
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        parts += [str(current), repr(current), repr(current.args)]
        todo += [current.__cause__, current.__context__]
    parts.append("".join(traceback.format_exception(exc)))
    return "\n".join(parts)


def log_texts(records: list[logging.LogRecord]) -> str:
    """Every captured record as a handler would format it, with its args and exception."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(f"{formatter.format(r)} {r.args!r}" for r in records)
