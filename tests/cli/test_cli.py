"""The ``fullon-cache`` command: docs, examples, demo and doctor, against real servers.

Sync tests: the command runs ``asyncio.run`` itself. Logging goes to ``tmp_path`` (never to
/tmp/fullon_log or the console) and the handlers the command adds are removed afterwards.
"""

from __future__ import annotations

import json
import logging
import os
import re
import runpy
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

import fullon_cache
from fullon_cache import docs, examples
from fullon_cache.cli import main
from fullon_cache.local_server import LocalRedisServer

GUIDES = ", ".join(docs.get_all_docs())
SUMMARY = re.compile(r"\n(\d+) passed, (\d+) failed in \d+\.\d s$")


@pytest.fixture
def closed_tcp_port() -> Iterator[int]:
    """A TCP port on 127.0.0.1 that is bound but not listening: connections are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def _summary(out: str) -> tuple[int, int]:
    match = SUMMARY.search(out.rstrip())
    assert match, out
    return int(match.group(1)), int(match.group(2))


def _namespace(out: str) -> str:
    match = re.search(r"namespace '([^']+)'", out)
    assert match, out
    return match.group(1)


# -- docs and examples --------------------------------------------------------------------


def test_docs_lists_the_guides(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["docs"]) == 0
    assert capsys.readouterr().out == f"guides: {GUIDES}\n"


def test_docs_prints_a_guide(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["docs", "QUICK_START"]) == 0
    assert capsys.readouterr().out == docs.QUICK_START + "\n"


def test_docs_unknown_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["docs", "nope"]) == 2
    out = capsys.readouterr().out
    assert "unknown name 'nope'" in out
    assert "QUICK_START" in out


def test_examples_lists_the_examples(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["examples"]) == 0
    assert capsys.readouterr().out == f"examples: {', '.join(examples.EXAMPLES)}\n"


def test_examples_prints_the_source(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["examples", "basic_usage"]) == 0
    assert capsys.readouterr().out == examples.load("basic_usage").SOURCE + "\n"


def test_examples_unknown_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["examples", "nope"]) == 2
    out = capsys.readouterr().out
    assert "unknown name 'nope'" in out
    assert "basic_usage" in out


def test_no_subcommand_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2
    assert "usage: fullon-cache" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command",
    sorted(
        {
            name
            for text in [*docs.get_all_docs().values(), fullon_cache.__doc__ or ""]
            for name in re.findall(r"fullon-cache (\w+)", text)
        }
    ),
)
def test_every_command_the_guides_mention_exists(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0, capsys.readouterr().err
    assert capsys.readouterr().out.startswith(f"usage: fullon-cache {command}")


def test_the_guides_mention_the_commands() -> None:
    text = "\n".join(docs.get_all_docs().values())
    for command in ("demo", "doctor", "docs", "examples", "bench", "inspect"):
        assert f"fullon-cache {command}" in text


# -- python -m fullon_cache ---------------------------------------------------------------


def test_python_dash_m(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "fullon_cache", "docs"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == f"guides: {GUIDES}\n"


def test_main_module_in_process(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["fullon-cache", "docs"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module("fullon_cache", run_name="__main__")
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"guides: {GUIDES}\n"


def test_main_module_passes_the_exit_status(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["fullon-cache", "docs", "nope"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module("fullon_cache", run_name="__main__")
    assert exit_info.value.code == 2
    assert "unknown name" in capsys.readouterr().out


# -- demo ---------------------------------------------------------------------------------


def test_demo_starts_a_private_server(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    match = re.search(r"started a private redis-server unix://(\S+)\?db=0", out)
    assert match, out
    for name in examples.EXAMPLES:
        assert re.search(rf"^    passed: {name} \(\d+\.\d\d s\)$", out, re.MULTILINE), name
        assert re.search(rf"^{name} +passed +\d+\.\d\d$", out, re.MULTILINE), name
    assert "FAILED" not in out
    assert _summary(out) == (len(examples.EXAMPLES), 0)
    assert _namespace(out).startswith("fullon_demo_")
    assert not Path(match.group(1)).parent.exists()  # the private server is gone


def test_demo_with_a_private_server_keeps_the_log_settings(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["demo"]) == 0
    assert _summary(capsys.readouterr().out) == (len(examples.EXAMPLES), 0)
    assert (tmp_path / "fullon_cache.log").is_file()  # FULLON_CACHE_LOG_DIR, not /tmp/fullon_log
    assert not [h for h in logging.getLogger("fullon").handlers if type(h) is logging.StreamHandler]


def test_demo_against_a_configured_server(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    redis_url: str,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    assert main(["demo", "basic_usage"]) == 0
    out = capsys.readouterr().out
    assert "started a private redis-server" not in out
    assert f"server {redis_url}," in out
    assert "passed: basic_usage" in out
    assert _summary(out) == (1, 0)
    namespace = _namespace(out)
    assert re.fullmatch(r"fullon_demo_[0-9a-f]{8}", namespace)
    with redis.Redis.from_url(redis_url) as client:
        assert list(client.scan_iter(match=f"{namespace}*")) == []
    assert (tmp_path / "fullon_cache.log").is_file()


def test_demo_numbers_each_example_and_nests_its_output(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], redis_url: str
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    assert main(["demo", "basic_usage", "reference_data"]) == 0
    lines = capsys.readouterr().out.splitlines()
    first = lines.index("[1/2] basic_usage: " + examples.summary("basic_usage"))
    second = lines.index("[2/2] reference_data: " + examples.summary("reference_data"))
    between = lines[first + 1 : second - 1]  # the example's own output, then its result
    assert between[0].startswith("    connected to Redis ")
    assert all(line.startswith("    ") for line in between), between
    assert re.fullmatch(r"    passed: basic_usage \(\d+\.\d\d s\)", between[-1])
    assert lines[second - 1] == ""
    table = lines.index(f"{'example':<{len('reference_data')}}  result  seconds")
    assert [line.split()[:2] for line in lines[table + 1 : table + 3]] == [
        ["basic_usage", "passed"],
        ["reference_data", "passed"],
    ]


def test_demo_keeps_a_configured_prefix(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], redis_url: str
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("REDIS_KEY_PREFIX", "tenant-a")
    assert main(["demo", "basic_usage"]) == 0
    assert _namespace(capsys.readouterr().out).startswith("tenant-a_demo_")


def test_demo_unknown_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "basic_usage", "nope"]) == 2
    out = capsys.readouterr().out
    assert "unknown example(s) nope" in out
    assert "passed" not in out


def test_demo_reports_a_failing_example(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("REDIS_URL", f"unix://{tmp_path / 'none.sock'}?db=0")
    monkeypatch.setenv("REDIS_SOCKET_TIMEOUT", "0.5")
    assert main(["demo"]) == 1
    captured = capsys.readouterr()
    for name in examples.EXAMPLES:
        assert f"FAILED: {name}" in captured.out
        assert re.search(rf"^{name} +FAILED +\d+\.\d\d$", captured.out, re.MULTILINE), name
    assert _summary(captured.out) == (0, len(examples.EXAMPLES))
    assert "CacheUnavailableError" in captured.err  # the traceback of the failure


# -- doctor -------------------------------------------------------------------------------


def test_doctor_healthy_server(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], redis_url: str
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("REDIS_SOCKET_TIMEOUT", "3")
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert f"server      {redis_url}" in out
    assert "namespace   fullon" in out
    assert "socket 3 s" in out
    assert "deadline per call 4 s" in out
    assert re.search(r"server      Redis \d+\.\d+\.\d+ \(standalone\)", out), out
    assert "pub/sub     classic (SUBSCRIBE/PUBLISH)" in out
    assert "maxmemory-policy noeviction" in out
    assert re.search(r"latency     p50 \d+\.\d{3} ms over 20 pings", out), out
    assert "PROBLEM" not in out
    assert out.rstrip().endswith("no problems found")


def test_doctor_flags_an_evicting_server(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with LocalRedisServer("--maxmemory-policy", "allkeys-lru") as server:
        monkeypatch.setenv("REDIS_URL", server.url)
        assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "maxmemory-policy allkeys-lru" in out
    problems = [line for line in out.splitlines() if line.startswith("PROBLEM: ")]
    assert len(problems) == 1
    assert "maxmemory-policy is allkeys-lru" in problems[0]
    assert "noeviction" in problems[0]
    assert out.rstrip().endswith("1 problem(s)")


def test_doctor_logs_where_the_log_settings_say(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # The library warns about an evicting server; with LOG_CONSOLE=false the warning belongs
    # in FULLON_CACHE_LOG_DIR/fullon_cache.log, not on stderr.
    with LocalRedisServer("--maxmemory-policy", "allkeys-lru") as server:
        monkeypatch.setenv("REDIS_URL", server.url)
        assert main(["doctor"]) == 1
    assert "allkeys-lru" not in capsys.readouterr().err
    log = tmp_path / "fullon_cache.log"
    assert log.is_file()
    assert "allkeys-lru" in log.read_text(encoding="utf-8")


def test_doctor_unreachable_server(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("REDIS_URL", f"unix://{tmp_path / 'none.sock'}?db=0")
    monkeypatch.setenv("REDIS_SOCKET_TIMEOUT", "0.5")
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    problems = [line for line in out.splitlines() if line.startswith("PROBLEM: ")]
    assert len(problems) == 1
    assert "CacheUnavailableError" in problems[0]
    assert "REDIS_URL" in problems[0]
    assert "no problems found" not in out


def test_doctor_configuration_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_PORT", "notanumber")
    assert main(["doctor"]) == 2
    out = capsys.readouterr().out
    assert out.startswith("configuration error: ")
    assert "REDIS_PORT" in out  # names the variable to fix...
    assert "notanumber" not in out  # ...never its value, which could be a secret
    assert "checking the server" not in out


def test_doctor_configuration_error_hides_the_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://user:s3cretpw@127.0.0.1:notaport/0")
    assert main(["doctor"]) == 2
    captured = capsys.readouterr()
    assert captured.out.startswith("configuration error: ")
    assert "port" in captured.out
    assert "s3cretpw" not in captured.out + captured.err


def test_doctor_never_shows_the_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], closed_tcp_port: int
) -> None:
    monkeypatch.setenv("REDIS_URL", f"redis://user:s3cretpw@127.0.0.1:{closed_tcp_port}/0")
    monkeypatch.setenv("REDIS_SOCKET_CONNECT_TIMEOUT", "0.5")
    monkeypatch.setenv("REDIS_SOCKET_TIMEOUT", "0.5")
    assert main(["doctor"]) == 1
    captured = capsys.readouterr()
    assert f"redis://user:***@127.0.0.1:{closed_tcp_port}/0" in captured.out
    assert "PROBLEM: " in captured.out
    assert "s3cretpw" not in captured.out + captured.err


def test_doctor_json_of_a_healthy_server(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], redis_url: str
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("REDIS_SOCKET_TIMEOUT", "3")
    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True
    assert report["problems"] == []
    assert report["configuration"] == {
        "server": redis_url,
        "namespace": "fullon",
        "socket_timeout_s": 3.0,
        "connect_timeout_s": 5.0,
        "deadline_s": 4.0,
        "max_connections": 50,
    }
    server = report["server"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", server["version"])
    assert server["mode"] == "standalone"
    assert server["pubsub"] == "classic (SUBSCRIBE/PUBLISH)"
    assert server["maxmemory_policy"] == "noeviction"
    assert server["ping_p50_ms"] > 0


def test_doctor_json_of_an_evicting_server(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with LocalRedisServer("--maxmemory-policy", "allkeys-lru") as server:
        monkeypatch.setenv("REDIS_URL", server.url)
        assert main(["doctor", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert report["server"]["maxmemory_policy"] == "allkeys-lru"
    assert len(report["problems"]) == 1
    assert "noeviction" in report["problems"][0]


def test_doctor_json_of_an_unreachable_server_has_a_hint_and_no_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], closed_tcp_port: int
) -> None:
    monkeypatch.setenv("REDIS_URL", f"redis://user:s3cretpw@127.0.0.1:{closed_tcp_port}/0")
    monkeypatch.setenv("REDIS_SOCKET_CONNECT_TIMEOUT", "0.5")
    monkeypatch.setenv("REDIS_SOCKET_TIMEOUT", "0.5")
    assert main(["doctor", "--json"]) == 1
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["ok"] is False
    assert report["server"] is None
    assert report["configuration"]["server"] == f"redis://user:***@127.0.0.1:{closed_tcp_port}/0"
    [problem] = report["problems"]
    assert problem.startswith("CacheUnavailableError: ")
    assert "REDIS_URL" in problem
    assert "s3cretpw" not in captured.out + captured.err


def test_doctor_json_of_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://user:s3cretpw@127.0.0.1:notaport/0")
    assert main(["doctor", "--json"]) == 2
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["ok"] is False
    assert report["configuration"] is None
    assert report["server"] is None
    [problem] = report["problems"]
    assert problem.startswith("configuration error: ")
    assert "s3cretpw" not in captured.out + captured.err


def test_doctor_from_a_directory_holding_the_default_log_dir(tmp_path: Path) -> None:
    # Run from /tmp, `python -m` puts /tmp on sys.path, and the default log directory
    # /tmp/fullon_log then imports as a namespace package named fullon_log. That directory
    # is not the fullon_log library: logging must fall back to the standard module.
    (tmp_path / "fullon_log").mkdir()
    with LocalRedisServer("--maxmemory-policy", "allkeys-lru") as server:
        completed = subprocess.run(
            [sys.executable, "-m", "fullon_cache", "doctor"],
            cwd=tmp_path,
            env={**os.environ, "REDIS_URL": server.url, "LOG_CONSOLE": "false"},
            capture_output=True,
            text=True,
            check=False,
        )
    assert "Traceback" not in completed.stderr, completed.stderr
    assert completed.returncode == 1
    assert "PROBLEM: maxmemory-policy is allkeys-lru" in completed.stdout
