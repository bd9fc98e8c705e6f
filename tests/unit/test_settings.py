"""CacheSettings: validation, URLs, the environment and ``.env``, and what it never shows."""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Any

import pytest

from fullon_cache import settings as settings_module
from fullon_cache.errors import CacheConfigError
from fullon_cache.settings import CacheSettings, server_configured


@pytest.fixture(autouse=True)
def _fresh_dotenv_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test parses ``.env`` files anew and leaves no parsed file behind."""
    monkeypatch.setattr(settings_module, "_dotenv_cache", {})


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No variable CacheSettings reads is set, and DOTENV_FILE names a file that does not exist.

    Returns the path DOTENV_FILE names, so a test can create it.
    """
    for var in settings_module._ENV_FIELDS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    dotenv = tmp_path / "test.env"
    monkeypatch.setenv("DOTENV_FILE", str(dotenv))
    return dotenv


# -- defaults and validation ---------------------------------------------------------------


def test_defaults_match_the_spec() -> None:
    settings = CacheSettings()
    assert (settings.host, settings.port, settings.db) == ("localhost", 6379, 0)
    assert settings.unix_socket_path is None
    assert settings.username is None
    assert settings.password is None
    assert settings.ssl is False
    assert settings.ssl_ca_certs is None
    assert settings.max_connections == 50
    assert settings.socket_timeout == 5.0
    assert settings.socket_connect_timeout == 5.0
    assert settings.key_prefix == "fullon"
    assert settings.cluster_mode is False
    assert settings.cluster_nodes == ()
    assert (settings.ttl_exchange, settings.ttl_symbol, settings.ttl_order) == (86400, 86400, 3600)
    assert settings.log_dir == "/tmp/fullon_log"
    assert settings.log_level == "INFO"
    assert settings.log_format == "detailed"
    assert settings.log_console is True


def test_settings_are_frozen_and_hashable() -> None:
    settings = CacheSettings(port=6380)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.port = 1  # type: ignore[misc]
    assert hash(settings) == hash(CacheSettings(port=6380))
    assert settings == CacheSettings(port=6380)
    assert settings != CacheSettings(port=6381)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"port": 0}, "port"),
        ({"port": -1}, "port"),
        ({"port": 65536}, "port"),
        ({"db": -1}, "db"),
        ({"max_connections": 0}, "max_connections"),
        ({"max_connections": -3}, "max_connections"),
        ({"socket_timeout": 0}, "socket_timeout"),
        ({"socket_timeout": -1.0}, "socket_timeout"),
        ({"socket_timeout": math.nan}, "socket_timeout"),
        ({"socket_timeout": math.inf}, "socket_timeout"),
        ({"socket_timeout": -math.inf}, "socket_timeout"),
        ({"socket_connect_timeout": 0.0}, "socket_connect_timeout"),
        ({"socket_connect_timeout": math.nan}, "socket_connect_timeout"),
        ({"socket_connect_timeout": math.inf}, "socket_connect_timeout"),
        ({"ttl_exchange": 0}, "ttl_exchange"),
        ({"ttl_symbol": -1}, "ttl_symbol"),
        ({"ttl_order": 0}, "ttl_order"),
        ({"key_prefix": ""}, "key_prefix"),
        ({"key_prefix": "a:b"}, "key_prefix"),
        ({"key_prefix": "fullon:"}, "key_prefix"),
        ({"key_prefix": "a" * 65}, "key_prefix"),
        ({"key_prefix": "a b"}, "key_prefix"),
        ({"key_prefix": "a*"}, "key_prefix"),
        ({"key_prefix": "{tag}"}, "key_prefix"),
        ({"key_prefix": "café"}, "key_prefix"),
        ({"key_prefix": "a\n"}, "key_prefix"),
        ({"cluster_mode": True}, "cluster_mode"),
        ({"circuit_threshold": -1}, "circuit_threshold"),
        (
            {"cluster_mode": True, "cluster_nodes": (("h", 1),), "sentinels": (("s", 2),)},
            "sentinels",
        ),
        ({"sentinel_master": " "}, "sentinel_master"),
        ({"circuit_cooldown": 0}, "circuit_cooldown"),
        ({"circuit_cooldown": float("inf")}, "circuit_cooldown"),
    ],
)
def test_invalid_values_raise_config_error_naming_the_field(
    changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(CacheConfigError, match=field) as caught:
        CacheSettings(**changes)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    "changes",
    [
        {"port": 1},
        {"port": 65535},
        {"db": 0},
        {"db": 15},
        {"max_connections": 1},
        {"socket_timeout": 0.001, "socket_connect_timeout": 0.001},
        {"ttl_exchange": 1, "ttl_symbol": 1, "ttl_order": 1},
        {"key_prefix": "a" * 64},
        {"key_prefix": "x"},
        {"key_prefix": "Tenant_A.prod-2"},
        {"cluster_mode": True, "cluster_nodes": (("10.0.0.1", 7000),)},
        {"circuit_threshold": 0, "circuit_cooldown": 0.001},
    ],
)
def test_boundary_values_are_accepted(changes: dict[str, Any]) -> None:
    settings = CacheSettings(**changes)
    for name, value in changes.items():
        assert getattr(settings, name) == value


def test_replace_changes_a_copy_and_validates_again() -> None:
    original = CacheSettings(port=6380)
    changed = original.replace(key_prefix="staging", db=2)
    assert (changed.key_prefix, changed.db, changed.port) == ("staging", 2, 6380)
    assert (original.key_prefix, original.db) == ("fullon", 0)
    with pytest.raises(CacheConfigError, match="port"):
        original.replace(port=0)
    with pytest.raises(CacheConfigError, match="key_prefix"):
        original.replace(key_prefix="a:b")


# -- derived values ------------------------------------------------------------------------


def test_deadline_is_the_socket_timeout_plus_one_second() -> None:
    assert CacheSettings().deadline == 6.0
    assert CacheSettings(socket_timeout=0.25).deadline == 1.25


# A valid alternative value for every field; cluster_nodes is set in the base settings so that
# cluster_mode=True is valid on its own.
_BASE = CacheSettings(cluster_nodes=(("10.0.0.1", 7000),))
_ALTERNATIVES: dict[str, Any] = {
    "host": "10.0.0.9",
    "port": 6380,
    "db": 3,
    "unix_socket_path": "/run/redis.sock",
    "username": "bot",
    "password": "hunter2",
    "ssl": True,
    "ssl_ca_certs": "/etc/ca.pem",
    "max_connections": 7,
    "socket_timeout": 1.5,
    "socket_connect_timeout": 2.5,
    "circuit_threshold": 5,
    "circuit_cooldown": 0.5,
    "key_prefix": "other",
    "cluster_mode": True,
    "cluster_nodes": (("10.0.0.2", 7001),),
    "sentinels": (("10.0.0.3", 26379),),
    "sentinel_master": "cache-master",
    "sentinel_password": "sentinel-secret",
    "ttl_exchange": 10,
    "ttl_symbol": 11,
    "ttl_order": 12,
    "log_dir": "/var/log/x",
    "log_level": "DEBUG",
    "log_format": "minimal",
    "log_console": False,
}
_NOT_CONNECTION = {
    "key_prefix",
    "ttl_exchange",
    "ttl_symbol",
    "ttl_order",
    "log_dir",
    "log_level",
    "log_format",
    "log_console",
}


def test_alternatives_cover_every_field() -> None:
    assert set(_ALTERNATIVES) == {f.name for f in dataclasses.fields(CacheSettings)}


@pytest.mark.parametrize("name", sorted(_ALTERNATIVES))
def test_connection_key_changes_only_with_connection_fields(name: str) -> None:
    changed = _BASE.replace(**{name: _ALTERNATIVES[name]})
    assert changed != _BASE
    if name in _NOT_CONNECTION:
        assert changed.connection_key == _BASE.connection_key
    else:
        assert changed.connection_key != _BASE.connection_key


def test_connection_key_is_shared_by_settings_differing_in_prefix_ttl_and_logging() -> None:
    a = CacheSettings(host="10.0.0.5", key_prefix="a", ttl_order=5, log_console=False)
    b = CacheSettings(host="10.0.0.5", key_prefix="b", ttl_symbol=9, log_level="DEBUG")
    assert a.connection_key == b.connection_key
    assert a.connection_key != CacheSettings(host="10.0.0.6", key_prefix="a").connection_key


# -- repr and redacted_url -----------------------------------------------------------------


def test_repr_of_defaults_is_empty() -> None:
    assert repr(CacheSettings()) == "CacheSettings()"


def test_repr_shows_non_default_fields_and_masks_the_password() -> None:
    text = repr(CacheSettings(host="10.0.0.5", port=6380, username="bot", password="hunter2"))
    assert "hunter2" not in text
    assert "password=***" in text
    assert "host='10.0.0.5'" in text
    assert "port=6380" in text
    assert "username='bot'" in text
    assert "db=" not in text  # a default is left out


def test_repr_omits_an_unset_password() -> None:
    assert "password" not in repr(CacheSettings(host="h"))


@pytest.mark.parametrize(
    ("settings", "url"),
    [
        (CacheSettings(), "redis://localhost:6379/0"),
        (CacheSettings(host="10.0.0.5", port=6380, db=2), "redis://10.0.0.5:6380/2"),
        (CacheSettings(password="hunter2"), "redis://:***@localhost:6379/0"),
        (CacheSettings(username="bot"), "redis://bot@localhost:6379/0"),
        (CacheSettings(username="bot", password="pw"), "redis://bot:***@localhost:6379/0"),
        (CacheSettings(username="a b@c", password="pw"), "redis://a%20b%40c:***@localhost:6379/0"),
        (CacheSettings(ssl=True, host="r.io", port=6380), "rediss://r.io:6380/0"),
        (CacheSettings(ssl=True, username="u", password="p"), "rediss://u:***@localhost:6379/0"),
        (CacheSettings(unix_socket_path="/run/r.sock", db=3), "unix:///run/r.sock?db=3"),
        (
            CacheSettings(unix_socket_path="/run/r.sock", username="u", password="p"),
            "unix://u:***@/run/r.sock?db=0",
        ),
        (
            CacheSettings(unix_socket_path="/run/r.sock", password="p"),
            "unix://:***@/run/r.sock?db=0",
        ),
        (
            CacheSettings(sentinels=(("s1", 26379), ("s2", 26380)), password="p", db=1),
            "redis+sentinel://:***@s1:26379,s2:26380/mymaster/1",
        ),
    ],
)
def test_redacted_url(settings: CacheSettings, url: str) -> None:
    assert settings.redacted_url() == url


def test_redacted_url_never_contains_the_password() -> None:
    settings = CacheSettings.from_url("rediss://bot:s3cret@r.io:6380/1")
    assert "s3cret" not in settings.redacted_url()
    assert "s3cret" not in repr(settings)
    assert settings.password == "s3cret"


# -- from_url ------------------------------------------------------------------------------


def test_from_url_redis_with_credentials_port_and_db() -> None:
    settings = CacheSettings.from_url("redis://us%3Aer:p%40ss%2Fw@10.0.0.5:6380/2")
    assert settings.host == "10.0.0.5"
    assert settings.port == 6380
    assert settings.db == 2
    assert settings.username == "us:er"
    assert settings.password == "p@ss/w"
    assert settings.ssl is False
    assert settings.unix_socket_path is None


def test_from_url_password_only_leaves_username_unset() -> None:
    settings = CacheSettings.from_url("redis://:pw@h")
    assert (settings.username, settings.password) == (None, "pw")


def test_from_url_defaults_for_missing_parts() -> None:
    settings = CacheSettings.from_url("redis://")
    assert (settings.host, settings.port, settings.db) == ("localhost", 6379, 0)
    assert (settings.username, settings.password) == (None, None)
    assert CacheSettings.from_url("redis:///4").host == "localhost"
    assert CacheSettings.from_url("redis:///4").db == 4
    assert CacheSettings.from_url("redis://h:6390").db == 0


def test_from_url_ipv6_host() -> None:
    settings = CacheSettings.from_url("redis://[::1]:6380/1")
    assert (settings.host, settings.port, settings.db) == ("::1", 6380, 1)


def test_from_url_rediss_turns_ssl_on() -> None:
    settings = CacheSettings.from_url("rediss://r.io:6380/0")
    assert settings.ssl is True
    assert (settings.host, settings.port) == ("r.io", 6380)


def test_from_url_unix_socket_with_db() -> None:
    settings = CacheSettings.from_url("unix:///run/redis/redis.sock?db=3")
    assert settings.unix_socket_path == "/run/redis/redis.sock"
    assert settings.db == 3
    assert settings.ssl is False
    assert CacheSettings.from_url("unix:///run/redis/redis.sock").db == 0


def test_from_url_db_query_wins_over_the_path() -> None:
    assert CacheSettings.from_url("redis://h/?db=5").db == 5
    assert CacheSettings.from_url("redis://h/1?db=4").db == 4


def test_from_url_overrides_win() -> None:
    settings = CacheSettings.from_url("redis://h:6380/1", db=5, key_prefix="prod")
    assert (settings.host, settings.port, settings.db, settings.key_prefix) == (
        "h",
        6380,
        5,
        "prod",
    )
    with pytest.raises(CacheConfigError):
        CacheSettings.from_url("redis://h", socket_timeout=0)


@pytest.mark.parametrize(
    "url",
    [
        "http://user:hunter2@h:6379/0",
        "redis+sentinel://user:hunter2@h:26379",
        "h:6379",
        "//user:hunter2@h/0",
    ],
)
def test_from_url_rejects_other_schemes_without_showing_the_password(url: str) -> None:
    with pytest.raises(CacheConfigError, match="scheme") as caught:
        CacheSettings.from_url(url)
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "redis://user:hunter2@h:notaport/0",
        "redis://user:hunter2@h:99999/0",
        "redis://user:hunter2@h:6379/notadb",
        "redis://user:hunter2@h:6379/0?db=x",
        "unix:///run/r.sock?db=x",
    ],
)
def test_from_url_rejects_a_bad_port_or_db_without_showing_the_url(url: str) -> None:
    with pytest.raises(CacheConfigError, match="invalid port or database") as caught:
        CacheSettings.from_url(url)
    assert "hunter2" not in str(caught.value)


def test_from_url_negative_db_fails_validation() -> None:
    with pytest.raises(CacheConfigError, match="db"):
        CacheSettings.from_url("redis://h/-1")


@pytest.mark.parametrize("url", ["unix://", "unix://?db=2", "unix://host"])
def test_from_url_unix_without_a_path(url: str) -> None:
    with pytest.raises(CacheConfigError, match="socket path"):
        CacheSettings.from_url(url)


# -- from_env with an explicit mapping -----------------------------------------------------

# Every variable of _ENV_FIELDS: (raw value, field, expected value).
_ENV_CASES: dict[str, tuple[str, str, Any]] = {
    "REDIS_HOST": ("10.0.0.5", "host", "10.0.0.5"),
    "REDIS_PORT": ("6390", "port", 6390),
    "REDIS_DB": ("4", "db", 4),
    "REDIS_USERNAME": ("bot", "username", "bot"),
    "REDIS_PASSWORD": ("s3cret", "password", "s3cret"),
    "REDIS_SSL": ("true", "ssl", True),
    "REDIS_SSL_CA_CERTS": ("/etc/ca.pem", "ssl_ca_certs", "/etc/ca.pem"),
    "REDIS_MAX_CONNECTIONS": ("12", "max_connections", 12),
    "REDIS_SOCKET_TIMEOUT": ("2.5", "socket_timeout", 2.5),
    "REDIS_SOCKET_CONNECT_TIMEOUT": ("1", "socket_connect_timeout", 1.0),
    "REDIS_CIRCUIT_THRESHOLD": ("0", "circuit_threshold", 0),
    "REDIS_CIRCUIT_COOLDOWN": ("2.5", "circuit_cooldown", 2.5),
    "REDIS_KEY_PREFIX": ("tenant_a", "key_prefix", "tenant_a"),
    "REDIS_CLUSTER_MODE": ("yes", "cluster_mode", True),
    "REDIS_CLUSTER_NODES": ("h1:7000", "cluster_nodes", (("h1", 7000),)),
    "REDIS_SENTINELS": ("s1:26379,s2:26380", "sentinels", (("s1", 26379), ("s2", 26380))),
    "REDIS_SENTINEL_MASTER": ("cache-master", "sentinel_master", "cache-master"),
    "REDIS_SENTINEL_PASSWORD": ("s3cret", "sentinel_password", "s3cret"),
    "CACHE_TTL_EXCHANGE": ("60", "ttl_exchange", 60),
    "CACHE_TTL_SYMBOL": ("61", "ttl_symbol", 61),
    "CACHE_TTL_ORDER": ("62", "ttl_order", 62),
    "FULLON_CACHE_LOG_DIR": ("/var/log/fc", "log_dir", "/var/log/fc"),
    "LOG_LEVEL": ("DEBUG", "log_level", "DEBUG"),
    "LOG_FORMAT": ("minimal", "log_format", "minimal"),
    "LOG_CONSOLE": ("off", "log_console", False),
}


def test_env_cases_cover_every_variable() -> None:
    assert set(_ENV_CASES) == set(settings_module._ENV_FIELDS)


@pytest.mark.parametrize("var", sorted(_ENV_CASES))
def test_from_env_reads_each_variable(var: str) -> None:
    raw, field, expected = _ENV_CASES[var]
    environ = {var: raw}
    if var == "REDIS_CLUSTER_MODE":
        environ["REDIS_CLUSTER_NODES"] = "h1:7000"
    settings = CacheSettings.from_env(environ)
    assert getattr(settings, field) == expected
    assert getattr(CacheSettings.from_env({}), field) != expected


def test_from_env_reads_every_variable_together() -> None:
    # Sentinels and cluster mode exclude each other: REDIS_SENTINELS is read on its own.
    cases = {var: case for var, case in _ENV_CASES.items() if var != "REDIS_SENTINELS"}
    settings = CacheSettings.from_env({var: raw for var, (raw, _, _) in cases.items()})
    for raw, field, expected in cases.values():
        assert getattr(settings, field) == expected, raw


def test_from_env_of_an_empty_mapping_gives_the_defaults() -> None:
    assert CacheSettings.from_env({}) == CacheSettings()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("yes", True),
        ("Yes", True),
        ("on", True),
        ("1", True),
        (" 1 ", True),
        ("false", False),
        ("False", False),
        ("no", False),
        ("off", False),
        ("OFF", False),
        ("0", False),
    ],
)
@pytest.mark.parametrize(("var", "field"), [("REDIS_SSL", "ssl"), ("LOG_CONSOLE", "log_console")])
def test_boolean_variables(var: str, field: str, raw: str, expected: bool) -> None:
    assert getattr(CacheSettings.from_env({var: raw}), field) is expected


@pytest.mark.parametrize("raw", ["", "   ", "\t"])
def test_empty_or_blank_values_are_ignored(raw: str) -> None:
    environ = dict.fromkeys(settings_module._ENV_FIELDS, raw)
    environ["REDIS_URL"] = raw
    assert CacheSettings.from_env(environ) == CacheSettings()


def test_values_are_stripped() -> None:
    settings = CacheSettings.from_env({"REDIS_HOST": "  h1  ", "REDIS_PORT": " 6390\n"})
    assert (settings.host, settings.port) == ("h1", 6390)


@pytest.mark.parametrize("var", ["REDIS_SSL", "REDIS_CLUSTER_MODE", "LOG_CONSOLE"])
def test_a_bad_boolean_names_the_variable_not_the_value(var: str) -> None:
    with pytest.raises(CacheConfigError, match=var) as caught:
        CacheSettings.from_env({var: "s3cret"})
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize(
    "var",
    [
        "REDIS_PORT",
        "REDIS_DB",
        "REDIS_MAX_CONNECTIONS",
        "REDIS_SOCKET_TIMEOUT",
        "REDIS_SOCKET_CONNECT_TIMEOUT",
        "REDIS_CIRCUIT_THRESHOLD",
        "REDIS_CIRCUIT_COOLDOWN",
        "CACHE_TTL_EXCHANGE",
        "CACHE_TTL_SYMBOL",
        "CACHE_TTL_ORDER",
    ],
)
def test_a_bad_number_names_the_variable_not_the_value(var: str) -> None:
    # Someone who pastes a password into the wrong variable must not see it in a log.
    with pytest.raises(CacheConfigError, match=var) as caught:
        CacheSettings.from_env({var: "s3cret"})
    assert "s3cret" not in str(caught.value)


def test_numbers_that_fail_validation_raise_config_error() -> None:
    with pytest.raises(CacheConfigError, match="socket_timeout"):
        CacheSettings.from_env({"REDIS_SOCKET_TIMEOUT": "nan"})
    with pytest.raises(CacheConfigError, match="port"):
        CacheSettings.from_env({"REDIS_PORT": "70000"})


def test_redis_url_wins_over_the_parts() -> None:
    settings = CacheSettings.from_env(
        {
            "REDIS_URL": "redis://bot:pw@10.0.0.9:7000/3",
            "REDIS_HOST": "10.0.0.1",
            "REDIS_PORT": "6390",
            "REDIS_DB": "1",
            "REDIS_USERNAME": "other",
            "REDIS_PASSWORD": "other-pw",
            "REDIS_KEY_PREFIX": "tenant",
        }
    )
    assert (settings.host, settings.port, settings.db) == ("10.0.0.9", 7000, 3)
    assert (settings.username, settings.password) == ("bot", "pw")
    assert settings.key_prefix == "tenant"  # not a part of the URL: still read


def test_redis_url_of_a_unix_socket() -> None:
    settings = CacheSettings.from_env({"REDIS_URL": " unix:///run/r.sock?db=2 "})
    assert (settings.unix_socket_path, settings.db) == ("/run/r.sock", 2)


def test_a_bad_redis_url_raises_config_error() -> None:
    with pytest.raises(CacheConfigError, match="scheme") as caught:
        CacheSettings.from_env({"REDIS_URL": "http://u:hunter2@h"})
    assert "hunter2" not in str(caught.value)


def test_cluster_nodes_parsing() -> None:
    settings = CacheSettings.from_env(
        {"REDIS_CLUSTER_MODE": "true", "REDIS_CLUSTER_NODES": "h1:7000, h2:7001 ,10.0.0.3:7002"}
    )
    assert settings.cluster_mode is True
    assert settings.cluster_nodes == (("h1", 7000), ("h2", 7001), ("10.0.0.3", 7002))


def test_cluster_mode_without_nodes_is_rejected() -> None:
    with pytest.raises(CacheConfigError, match="cluster_mode needs nodes"):
        CacheSettings.from_env({"REDIS_CLUSTER_MODE": "on"})


@pytest.mark.parametrize("raw", ["h1", "h1:7000,", ":7000", "h1:7000,h2", "h1:notaport"])
def test_malformed_cluster_nodes_name_the_variable(raw: str) -> None:
    with pytest.raises(CacheConfigError, match="REDIS_CLUSTER_NODES"):
        CacheSettings.from_env({"REDIS_CLUSTER_NODES": raw})


def test_from_env_does_not_read_the_process_environment_when_given_a_mapping(
    clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_HOST", "10.0.0.77")
    clean_environment.write_text("REDIS_PORT=6391\n")
    assert CacheSettings.from_env({}) == CacheSettings()


# -- from_env with the process environment and .env ----------------------------------------


def test_from_env_reads_dotenv_under_the_real_environment(
    clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean_environment.write_text("REDIS_PORT=6390\nREDIS_DB=2\nREDIS_PASSWORD=from-file\n")
    monkeypatch.setenv("REDIS_PORT", "6391")
    before = dict(os.environ)
    settings = CacheSettings.from_env()
    assert settings.port == 6391  # the real variable wins
    assert settings.db == 2  # the file fills in the rest
    assert settings.password == "from-file"
    assert dict(os.environ) == before  # nothing was copied into os.environ


def test_dotenv_is_parsed_once_per_path(
    clean_environment: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clean_environment.write_text("REDIS_DB=2\n")
    assert CacheSettings.from_env().db == 2
    clean_environment.write_text("REDIS_DB=5\n")
    assert CacheSettings.from_env().db == 2  # the first parse is kept
    other = tmp_path / "other.env"
    other.write_text("REDIS_DB=7\n")
    monkeypatch.setenv("DOTENV_FILE", str(other))
    assert CacheSettings.from_env().db == 7  # another path is parsed on its own


def test_a_missing_dotenv_file_gives_the_defaults(clean_environment: Path) -> None:
    assert not clean_environment.exists()
    assert CacheSettings.from_env() == CacheSettings()
    clean_environment.write_text("REDIS_DB=3\n")  # appearing later changes nothing
    assert CacheSettings.from_env() == CacheSettings()


def test_dotenv_defaults_to_dot_env_in_the_working_directory(
    clean_environment: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("DOTENV_FILE")
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("REDIS_HOST=from-dot-env\nREDIS_KEY_PREFIX\n")
    settings = CacheSettings.from_env()
    assert settings.host == "from-dot-env"
    assert settings.key_prefix == "fullon"  # a variable without a value is skipped


# -- server_configured ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, False),
        ({"REDIS_URL": "redis://10.0.0.5:6379/0"}, True),
        ({"REDIS_HOST": "10.0.0.5"}, True),
        ({"REDIS_PORT": "6390"}, True),
        ({"REDIS_CLUSTER_NODES": "h1:7000"}, True),
        ({"REDIS_SENTINELS": "s1:26379"}, True),
        ({"REDIS_URL": "   ", "REDIS_HOST": ""}, False),
        ({"REDIS_DB": "2", "REDIS_PASSWORD": "pw", "REDIS_KEY_PREFIX": "x"}, False),
    ],
)
def test_server_configured_with_a_mapping(environ: dict[str, str], expected: bool) -> None:
    assert server_configured(environ) is expected


def test_server_configured_with_the_real_environment(
    clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert server_configured() is False
    monkeypatch.setenv("REDIS_HOST", "10.0.0.5")
    assert server_configured() is True


def test_server_configured_by_the_dotenv_file(clean_environment: Path) -> None:
    clean_environment.write_text("REDIS_URL=redis://10.0.0.5:6379/0\n")
    before = dict(os.environ)
    assert server_configured() is True
    assert dict(os.environ) == before
