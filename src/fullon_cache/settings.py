"""Configuration: an immutable :class:`CacheSettings`, built only when asked for.

Nothing is read at import. ``CacheSettings.from_env()`` reads the process environment, with a
``.env`` file underneath it (python-dotenv; real variables win; ``DOTENV_FILE`` names another
file). The file is parsed once per path and never copied into ``os.environ``.

Example::

    settings = CacheSettings.from_env()                       # REDIS_URL / REDIS_HOST ...
    settings = CacheSettings.from_url("rediss://bot:s3cret@redis.internal:6380/2")
    settings = CacheSettings(host="127.0.0.1", port=6380, key_prefix="staging")
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qs, quote, unquote, urlsplit

from dotenv import dotenv_values

from fullon_cache.errors import CacheConfigError

__all__ = ["CacheSettings", "server_configured"]

_T = TypeVar("_T")
_PREFIX_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_SERVER_VARIABLES = (
    "REDIS_URL",
    "REDIS_HOST",
    "REDIS_PORT",
    "REDIS_CLUSTER_NODES",
    "REDIS_SENTINELS",
)
_dotenv_cache: dict[str, dict[str, str]] = {}
_SECRETS = frozenset({"password", "sentinel_password"})  # masked in repr()


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheSettings:
    """Everything fullon_cache needs to know to connect, name keys and log.

    Immutable and hashable: caches built from equal settings on one event loop share one
    connection pool. ``repr()`` never shows the passwords.

    Example::

        settings = CacheSettings(host="127.0.0.1", key_prefix="tenant_a", socket_timeout=2)
        async with BaseCache(settings) as cache:
            await cache.ping()
    """

    host: str = "localhost"
    port: int = 6379
    db: int = 0
    unix_socket_path: str | None = None
    username: str | None = None
    password: str | None = None
    ssl: bool = False
    ssl_ca_certs: str | None = None
    max_connections: int = 50
    socket_timeout: float = 5.0
    socket_connect_timeout: float = 5.0
    circuit_threshold: int = 3
    circuit_cooldown: float = 1.0
    key_prefix: str = "fullon"
    cluster_mode: bool = False
    cluster_nodes: tuple[tuple[str, int], ...] = ()
    sentinels: tuple[tuple[str, int], ...] = ()
    sentinel_master: str = "mymaster"
    sentinel_password: str | None = None
    ttl_exchange: int = 86400
    ttl_symbol: int = 86400
    ttl_order: int = 3600
    log_dir: str = "/tmp/fullon_log"  # noqa: S108 - the documented default of the Fullon system
    log_level: str = "INFO"
    log_format: str = "detailed"
    log_console: bool = True

    def __post_init__(self) -> None:
        _require(0 < self.port < 65536, "port must be between 1 and 65535")
        _require(self.db >= 0, "db must be >= 0")
        _require(self.max_connections >= 1, "max_connections must be >= 1")
        for name in ("socket_timeout", "socket_connect_timeout"):
            value = getattr(self, name)
            _require(math.isfinite(value) and value > 0, f"{name} must be a positive number")
        _require(self.circuit_threshold >= 0, "circuit_threshold must be >= 0 (0: no breaker)")
        _require(
            math.isfinite(self.circuit_cooldown) and self.circuit_cooldown > 0,
            "circuit_cooldown must be a positive number of seconds",
        )
        for name in ("ttl_exchange", "ttl_symbol", "ttl_order"):
            _require(getattr(self, name) > 0, f"{name} must be a positive number of seconds")
        _require(
            _PREFIX_RE.fullmatch(self.key_prefix) is not None,
            "key_prefix must be 1-64 characters of letters, digits, '_', '.' or '-'",
        )
        _require(not self.cluster_mode or bool(self.cluster_nodes), "cluster_mode needs nodes")
        _require(
            not (self.cluster_mode and self.sentinels),
            "sentinels and cluster_mode exclude each other",
        )
        _require(bool(self.sentinel_master.strip()), "sentinel_master must name the master")
        _require(
            isinstance(logging.getLevelName(self.log_level.upper()), int),
            "log_level must be DEBUG, INFO, WARNING, ERROR or CRITICAL",
        )

    def __repr__(self) -> str:
        shown = [
            f"{field.name}={'***' if field.name in _SECRETS else repr(getattr(self, field.name))}"
            for field in dataclasses.fields(self)
            if getattr(self, field.name) != field.default
        ]
        return f"CacheSettings({', '.join(shown)})"

    @property
    def deadline(self) -> float:
        """Seconds any single call may take, retries included (socket timeout + 1 s)."""
        return self.socket_timeout + 1.0

    @property
    def connection_key(self) -> tuple[Any, ...]:
        """The fields that identify a server connection (pools are shared per this key)."""
        return (
            self.host,
            self.port,
            self.db,
            self.unix_socket_path,
            self.username,
            self.password,
            self.ssl,
            self.ssl_ca_certs,
            self.max_connections,
            self.socket_timeout,
            self.socket_connect_timeout,
            self.circuit_threshold,
            self.circuit_cooldown,
            self.cluster_mode,
            self.cluster_nodes,
            self.sentinels,
            self.sentinel_master,
            self.sentinel_password,
        )

    def redacted_url(self) -> str:
        """The connection as a URL with the password masked, safe for logs and output.

        Example::

            CacheSettings(password="x").redacted_url()   # 'redis://:***@localhost:6379/0'
        """
        auth = ""
        if self.username or self.password:
            auth = f"{quote(self.username or '')}{':***' if self.password else ''}@"
        if self.sentinels:
            nodes = ",".join(f"{host}:{port}" for host, port in self.sentinels)
            return f"redis+sentinel://{auth}{nodes}/{self.sentinel_master}/{self.db}"
        if self.unix_socket_path:
            return f"unix://{auth}{self.unix_socket_path}?db={self.db}"
        scheme = "rediss" if self.ssl else "redis"
        return f"{scheme}://{auth}{self.host}:{self.port}/{self.db}"

    def replace(self, **changes: Any) -> CacheSettings:
        """Return a copy with some fields changed (validated again).

        Example::

            staging = settings.replace(key_prefix="staging")
        """
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_url(cls, url: str, **overrides: Any) -> CacheSettings:
        """Build settings from a ``redis://``, ``rediss://`` or ``unix://`` URL.

        Example::

            CacheSettings.from_url("redis://user:pw@10.0.0.5:6380/1", key_prefix="prod")
            CacheSettings.from_url("unix:///run/redis/redis.sock?db=2")
        """
        return cls(**{**_parse_url(url), **overrides})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> CacheSettings:
        """Build settings from environment variables, over a ``.env`` file.

        ``REDIS_URL`` wins over ``REDIS_HOST``/``REDIS_PORT``/``REDIS_DB``/credentials.
        Passing ``environ`` uses that mapping instead of ``os.environ`` and ``.env``.

        Example::

            settings = CacheSettings.from_env()
            settings = CacheSettings.from_env({"REDIS_URL": "redis://127.0.0.1:6390/0"})
        """
        env = dict(environ) if environ is not None else _environment()
        values: dict[str, Any] = {}
        for var, (name, parse) in _ENV_FIELDS.items():
            raw = env.get(var)
            if raw is not None and raw.strip() != "":
                values[name] = _parse_var(var, raw.strip(), parse)
        url = env.get("REDIS_URL", "").strip()
        if url:
            values.update(_parse_url(url))
        return cls(**values)


def server_configured(environ: Mapping[str, str] | None = None) -> bool:
    """True when the environment (or ``.env``) names a Redis server to use.

    Example::

        server_configured({"REDIS_URL": "redis://10.0.0.5:6379/0"})   # True
        server_configured({})                                          # False
    """
    env = dict(environ) if environ is not None else _environment()
    return any(env.get(name, "").strip() for name in _SERVER_VARIABLES)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise CacheConfigError(message)


def _environment() -> dict[str, str]:
    path = os.path.abspath(os.environ.get("DOTENV_FILE", ".env"))
    if path not in _dotenv_cache:
        loaded = dotenv_values(path) if os.path.isfile(path) else {}
        _dotenv_cache[path] = {k: v for k, v in loaded.items() if v is not None}
    return {**_dotenv_cache[path], **os.environ}


def _parse_bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("expected true/false")


def _parse_nodes(raw: str) -> tuple[tuple[str, int], ...]:
    nodes = []
    for item in raw.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host:
            raise ValueError("expected host:port[,host:port...]")
        nodes.append((host, int(port)))
    return tuple(nodes)


def _parse_var(var: str, raw: str, parse: Callable[[str], _T]) -> _T:
    try:
        return parse(raw)
    except ValueError:
        # Neither the value nor the parser's message (which quotes it) is shown: a variable
        # set by mistake may hold a password. `from None` keeps it out of the traceback too.
        expected = _EXPECTED.get(parse, "a valid value")
        raise CacheConfigError(f"environment variable {var} must be {expected}") from None


def _parse_url(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    if parts.scheme not in {"redis", "rediss", "unix"}:
        raise CacheConfigError(
            f"unsupported Redis URL scheme {parts.scheme!r}: use redis://, rediss:// or unix://"
        )
    query = parse_qs(parts.query)
    values: dict[str, Any] = {
        "username": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
        "ssl": parts.scheme == "rediss",
    }
    try:
        db = query.get("db", [parts.path.strip("/") if parts.scheme != "unix" else ""])[0]
        values["db"] = int(db) if db else 0
        if parts.scheme == "unix":
            values["unix_socket_path"] = parts.path
        else:
            values["host"] = parts.hostname or "localhost"
            values["port"] = 6379 if parts.port is None else parts.port
    except ValueError as exc:
        raise CacheConfigError("the Redis URL has an invalid port or database number") from exc
    if parts.scheme == "unix" and not parts.path:
        raise CacheConfigError("a unix:// Redis URL needs a socket path")
    return values


_EXPECTED: dict[Callable[[str], Any], str] = {
    int: "an integer",
    float: "a number",
    _parse_bool: "true or false",
    _parse_nodes: "a list host:port[,host:port...]",
}

_ENV_FIELDS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "REDIS_HOST": ("host", str),
    "REDIS_PORT": ("port", int),
    "REDIS_DB": ("db", int),
    "REDIS_USERNAME": ("username", str),
    "REDIS_PASSWORD": ("password", str),
    "REDIS_SSL": ("ssl", _parse_bool),
    "REDIS_SSL_CA_CERTS": ("ssl_ca_certs", str),
    "REDIS_MAX_CONNECTIONS": ("max_connections", int),
    "REDIS_SOCKET_TIMEOUT": ("socket_timeout", float),
    "REDIS_SOCKET_CONNECT_TIMEOUT": ("socket_connect_timeout", float),
    "REDIS_CIRCUIT_THRESHOLD": ("circuit_threshold", int),
    "REDIS_CIRCUIT_COOLDOWN": ("circuit_cooldown", float),
    "REDIS_KEY_PREFIX": ("key_prefix", str),
    "REDIS_CLUSTER_MODE": ("cluster_mode", _parse_bool),
    "REDIS_CLUSTER_NODES": ("cluster_nodes", _parse_nodes),
    "REDIS_SENTINELS": ("sentinels", _parse_nodes),
    "REDIS_SENTINEL_MASTER": ("sentinel_master", str),
    "REDIS_SENTINEL_PASSWORD": ("sentinel_password", str),
    "CACHE_TTL_EXCHANGE": ("ttl_exchange", int),
    "CACHE_TTL_SYMBOL": ("ttl_symbol", int),
    "CACHE_TTL_ORDER": ("ttl_order", int),
    "FULLON_CACHE_LOG_DIR": ("log_dir", str),
    "LOG_LEVEL": ("log_level", str),
    "LOG_FORMAT": ("log_format", str),
    "LOG_CONSOLE": ("log_console", _parse_bool),
}
