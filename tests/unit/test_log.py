"""Component loggers (stdlib or fullon_log backend) and configure_logging for the CLI."""

from __future__ import annotations

import importlib.util
import logging
import logging.handlers
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fullon_cache import log as log_module
from fullon_cache.log import COMPONENTS, ComponentLogger, configure_logging, get_logger
from fullon_cache.settings import CacheSettings

SPEC_COMPONENTS = {
    "base", "process", "exchange", "symbol", "tick", "account",
    "orders", "trades", "bot", "ohlcv", "connection",
}  # fmt: skip
MARK = "_fullon_cache_handler"


class _Recorder:
    """Stands in for the object fullon_log's get_component_logger returns."""

    def __init__(self, name: str, calls: list[tuple[str, str, str, dict[str, Any]]]) -> None:
        self._name = name
        self._calls = calls

    def __getattr__(self, level: str) -> Any:
        def method(msg: str, **fields: Any) -> None:
            self._calls.append((self._name, level, msg, fields))

        return method


def _fake_fullon_log(calls: list[tuple[str, str, str, dict[str, Any]]]) -> types.ModuleType:
    module = types.ModuleType("fake_log")
    module.get_component_logger = lambda name: _Recorder(name, calls)  # type: ignore[attr-defined]
    return module


@pytest.fixture
def stdlib_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """fullon_log is absent, whatever is installed."""
    monkeypatch.setattr(log_module, "_import_fullon_log", lambda: None)


@pytest.fixture
def fake_backend(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str, dict[str, Any]]]:
    """fullon_log is 'installed': the calls its loggers receive are recorded."""
    calls: list[tuple[str, str, str, dict[str, Any]]] = []
    module = _fake_fullon_log(calls)
    monkeypatch.setattr(log_module, "_import_fullon_log", lambda: module)
    return calls


@pytest.fixture
def fullon_root() -> Iterator[logging.Logger]:
    """The 'fullon' logger, with the handlers and level it had before the test restored."""
    root = logging.getLogger("fullon")
    handlers, level = list(root.handlers), root.level
    yield root
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)


# -- get_logger ----------------------------------------------------------------------------


def test_every_spec_component_has_a_logger() -> None:
    assert set(COMPONENTS) >= SPEC_COMPONENTS
    for component in COMPONENTS:
        logger = get_logger(component)
        assert isinstance(logger, ComponentLogger)
        assert logger.name == f"fullon.cache.{component}"


@pytest.mark.parametrize("component", ["nope", "", "Tick", "fullon.cache.tick"])
def test_an_unknown_component_is_a_value_error(component: str) -> None:
    with pytest.raises(ValueError, match="unknown logging component"):
        get_logger(component)


def test_without_fullon_log_installed_the_import_gives_none() -> None:
    if importlib.util.find_spec("fullon_log") is not None:
        pytest.skip("fullon_log is installed here")
    assert log_module._import_fullon_log() is None
    assert "fullon_log" not in sys.modules


def test_a_log_directory_named_fullon_log_is_not_taken_for_the_library(
    fullon_root: logging.Logger,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The default log directory is /tmp/fullon_log: with /tmp on sys.path that folder imports
    # as an empty namespace package. No module is written here, only the log directory.
    if importlib.util.find_spec("fullon_log") is not None:
        pytest.skip("fullon_log is installed here")
    configure_logging(CacheSettings(log_dir=str(tmp_path / "fullon_log"), log_console=False))
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert importlib.util.find_spec("fullon_log") is not None  # it does import...
        assert log_module._import_fullon_log() is None  # ...but is not fullon_log
        caplog.set_level(logging.INFO, logger="fullon.cache.cli")
        get_logger("cli").info("still logged")
        assert [r.getMessage() for r in caplog.records] == ["still logged"]
    finally:
        sys.modules.pop("fullon_log", None)


# -- the stdlib backend --------------------------------------------------------------------


def test_fields_are_appended_as_key_repr_pairs(
    stdlib_backend: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="fullon.cache.tick")
    get_logger("tick").info("msg", a=1, b="x")
    [record] = [r for r in caplog.records if r.name == "fullon.cache.tick"]
    assert record.getMessage() == "msg a=1 b='x'"
    assert record.levelno == logging.INFO


def test_a_message_without_fields_is_left_alone(
    stdlib_backend: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="fullon.cache.orders")
    get_logger("orders").debug("100% done {not a format}")
    assert [r.getMessage() for r in caplog.records] == ["100% done {not a format}"]


@pytest.mark.parametrize(
    ("method", "level"),
    [
        ("debug", logging.DEBUG),
        ("info", logging.INFO),
        ("warning", logging.WARNING),
        ("error", logging.ERROR),
    ],
)
def test_each_level(
    stdlib_backend: None, caplog: pytest.LogCaptureFixture, method: str, level: int
) -> None:
    caplog.set_level(logging.DEBUG, logger="fullon.cache.bot")
    getattr(get_logger("bot"), method)("event", bot_id=7)
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [(level, "event bot_id=7")]


def test_the_record_points_at_the_caller(
    stdlib_backend: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="fullon.cache.base")
    get_logger("base").warning("here")
    [record] = caplog.records
    assert record.funcName == "test_the_record_points_at_the_caller"
    assert record.pathname == __file__


class _Spy:
    def __init__(self) -> None:
        self.formatted = 0

    def __repr__(self) -> str:
        self.formatted += 1
        return "<spy>"


def test_a_disabled_level_emits_nothing_and_formats_nothing(
    stdlib_backend: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="fullon.cache.tick")
    spy = _Spy()
    logger = get_logger("tick")
    logger.debug("hot path", value=spy)
    assert caplog.records == []
    assert spy.formatted == 0
    logger.info("enabled", value=spy)
    assert spy.formatted == 1
    assert caplog.records[0].getMessage() == "enabled value=<spy>"


# -- the fullon_log backend ----------------------------------------------------------------


@pytest.mark.parametrize("method", ["debug", "info", "warning", "error"])
def test_calls_are_forwarded_to_fullon_log_with_their_keywords(
    fake_backend: list[tuple[str, str, str, dict[str, Any]]], method: str
) -> None:
    getattr(get_logger("tick"), method)("msg", a=1, b="x")
    assert fake_backend == [("fullon.cache.tick", method, "msg", {"a": 1, "b": "x"})]


def test_fullon_log_gets_every_call_whatever_the_stdlib_level(
    fake_backend: list[tuple[str, str, str, dict[str, Any]]],
) -> None:
    # Filtering is fullon_log's business: a disabled stdlib level must not drop the call.
    logging.getLogger("fullon.cache.orders").setLevel(logging.CRITICAL)
    try:
        get_logger("orders").debug("queued", queue="binance")
    finally:
        logging.getLogger("fullon.cache.orders").setLevel(logging.NOTSET)
    assert fake_backend == [("fullon.cache.orders", "debug", "queued", {"queue": "binance"})]


def test_the_backend_is_chosen_at_the_first_log_call_and_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lookups: list[int] = []
    calls: list[tuple[str, str, str, dict[str, Any]]] = []
    module = _fake_fullon_log(calls)

    def counting_import() -> types.ModuleType:
        lookups.append(1)
        return module

    monkeypatch.setattr(log_module, "_import_fullon_log", lambda: None)
    logger = get_logger("process")  # built while fullon_log is "absent"
    monkeypatch.setattr(log_module, "_import_fullon_log", counting_import)
    assert lookups == []
    logger.info("first")
    logger.info("second", n=2)
    assert len(lookups) == 1
    assert calls == [
        ("fullon.cache.process", "info", "first", {}),
        ("fullon.cache.process", "info", "second", {"n": 2}),
    ]


def test_a_stdlib_logger_returned_by_fullon_log_gets_formatted_text(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    module = types.ModuleType("fake_log")
    module.get_component_logger = logging.getLogger  # type: ignore[attr-defined]
    monkeypatch.setattr(log_module, "_import_fullon_log", lambda: module)
    caplog.set_level(logging.INFO, logger="fullon.cache.symbol")
    get_logger("symbol").info("loaded", count=3)
    assert [r.getMessage() for r in caplog.records] == ["loaded count=3"]


# -- configure_logging ---------------------------------------------------------------------


def _marked(root: logging.Logger) -> list[logging.Handler]:
    return [h for h in root.handlers if getattr(h, MARK, False)]


def _console(root: logging.Logger) -> list[logging.Handler]:
    return [h for h in _marked(root) if type(h) is logging.StreamHandler]


def _files(root: logging.Logger) -> list[logging.handlers.RotatingFileHandler]:
    return [h for h in _marked(root) if isinstance(h, logging.handlers.RotatingFileHandler)]


def _flush(root: logging.Logger) -> None:
    for handler in root.handlers:
        handler.flush()


def test_configure_logging_writes_records_to_the_log_file(
    stdlib_backend: None, fullon_root: logging.Logger, tmp_path: Path
) -> None:
    log_dir = tmp_path / "nested" / "logs"
    configure_logging(CacheSettings(log_dir=str(log_dir), log_console=False, log_level="info"))
    log_file = log_dir / "fullon_cache.log"
    assert log_file.is_file()
    get_logger("tick").info("ticker stored", exchange="binance")
    get_logger("tick").debug("below the level")
    _flush(fullon_root)
    text = log_file.read_text()
    assert "fullon.cache.tick: ticker stored exchange='binance'" in text
    assert "below the level" not in text
    assert fullon_root.level == logging.INFO


def test_the_log_file_rotates_at_10_mb_keeping_7_files(
    stdlib_backend: None, fullon_root: logging.Logger, tmp_path: Path
) -> None:
    configure_logging(CacheSettings(log_dir=str(tmp_path), log_console=False))
    [handler] = _files(fullon_root)
    assert handler.maxBytes == 10 * 1024 * 1024
    assert handler.backupCount == 7
    assert Path(handler.baseFilename) == tmp_path / "fullon_cache.log"


@pytest.mark.parametrize("console", [True, False])
def test_a_console_handler_is_added_only_when_asked(
    stdlib_backend: None, fullon_root: logging.Logger, tmp_path: Path, console: bool
) -> None:
    configure_logging(CacheSettings(log_dir=str(tmp_path), log_console=console))
    assert len(_console(fullon_root)) == (1 if console else 0)
    assert len(_files(fullon_root)) == 1


def test_configuring_twice_replaces_the_handlers(
    stdlib_backend: None, fullon_root: logging.Logger, tmp_path: Path
) -> None:
    configure_logging(CacheSettings(log_dir=str(tmp_path / "a")))
    first = _marked(fullon_root)
    configure_logging(CacheSettings(log_dir=str(tmp_path / "b"), log_level="DEBUG"))
    second = _marked(fullon_root)
    assert len(first) == len(second) == 2
    assert not set(first) & set(second)
    assert fullon_root.level == logging.DEBUG
    [file_handler] = _files(fullon_root)
    assert Path(file_handler.baseFilename).parent == tmp_path / "b"


def test_configure_logging_leaves_foreign_handlers_alone(
    stdlib_backend: None, fullon_root: logging.Logger, tmp_path: Path
) -> None:
    foreign = logging.NullHandler()
    fullon_root.addHandler(foreign)
    configure_logging(CacheSettings(log_dir=str(tmp_path)))
    configure_logging(CacheSettings(log_dir=str(tmp_path)))
    assert foreign in fullon_root.handlers


@pytest.mark.parametrize(
    ("log_format", "expected"),
    [
        ("minimal", "WARNING careful n=1\n"),
        ("detailed", " WARNING fullon.cache.bot: careful n=1\n"),
        ("unknown-format", " WARNING fullon.cache.bot: careful n=1\n"),
    ],
)
def test_minimal_and_detailed_formats(
    stdlib_backend: None,
    fullon_root: logging.Logger,
    tmp_path: Path,
    log_format: str,
    expected: str,
) -> None:
    configure_logging(
        CacheSettings(log_dir=str(tmp_path), log_format=log_format, log_console=False)
    )
    get_logger("bot").warning("careful", n=1)
    _flush(fullon_root)
    line = (tmp_path / "fullon_cache.log").read_text()
    if log_format == "minimal":
        assert line == expected
    else:
        assert line.endswith(expected)
        assert line[:4].isdigit()  # starts with the date


def test_configure_logging_does_nothing_when_fullon_log_is_installed(
    fake_backend: list[tuple[str, str, str, dict[str, Any]]],
    fullon_root: logging.Logger,
    tmp_path: Path,
) -> None:
    before = list(fullon_root.handlers)
    log_dir = tmp_path / "logs"
    configure_logging(CacheSettings(log_dir=str(log_dir), log_level="DEBUG"))
    assert fullon_root.handlers == before
    assert not log_dir.exists()
