"""Logging: one logger per component, through fullon_log when it is installed.

Library code calls ``get_logger("tick")`` and logs with keywords::

    logger = get_logger("tick")
    logger.debug("ticker stored", exchange="binance", symbol="BTC/USDT")

The backend is chosen at the first log call, not at import: ``fullon_log``'s
``get_component_logger("fullon.cache.tick")`` when that package is importable, otherwise the
standard ``logging`` module (keywords are appended as ``key=value``). The library never adds
handlers; :func:`configure_logging` is for the CLI and the examples.
"""

from __future__ import annotations

import importlib
import logging
import logging.handlers
from pathlib import Path
from types import ModuleType
from typing import Any

from fullon_cache.settings import CacheSettings

__all__ = ["COMPONENTS", "ComponentLogger", "configure_logging", "get_logger"]

COMPONENTS = (
    "base",
    "process",
    "exchange",
    "symbol",
    "tick",
    "account",
    "orders",
    "trades",
    "bot",
    "ohlcv",
    "connection",
    "cli",
)
_FORMATS = {
    "minimal": "%(levelname)s %(message)s",
    "detailed": "%(asctime)s %(levelname)-7s %(name)s: %(message)s",
}
_MARK = "_fullon_cache_handler"
_LOG_FILE_BYTES = 10 * 1024 * 1024
_LOG_FILE_BACKUPS = 7


def _import_fullon_log() -> ModuleType | None:
    try:
        module = importlib.import_module("fullon_log")
    except ImportError:
        return None
    # A stray folder named fullon_log (such as the default log directory /tmp/fullon_log,
    # when /tmp is on sys.path) imports as an empty namespace package: not the library.
    return module if callable(getattr(module, "get_component_logger", None)) else None


class ComponentLogger:
    """A logger for ``fullon.cache.<component>`` that accepts ``key=value`` fields.

    Example::

        log = ComponentLogger("fullon.cache.base")
        log.warning("eviction policy is not noeviction", policy="allkeys-lru")
    """

    __slots__ = ("_target", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._target: Any = None  # resolved at the first log call, never at import

    def _resolve(self) -> Any:
        backend = _import_fullon_log()
        if backend is not None:
            return backend.get_component_logger(self.name)
        return logging.getLogger(self.name)

    def _log(self, level: int, msg: str, fields: dict[str, Any], exc_info: bool) -> None:
        if self._target is None:
            self._target = self._resolve()
        target = self._target
        if not isinstance(target, logging.Logger):
            getattr(target, logging.getLevelName(level).lower())(msg, **fields)
        elif target.isEnabledFor(level):
            text = " ".join([msg, *(f"{key}={value!r}" for key, value in fields.items())])
            target.log(level, text, exc_info=exc_info, stacklevel=3)

    def debug(self, msg: str, **fields: Any) -> None:
        """Log at DEBUG (the only level hot paths use)."""
        self._log(logging.DEBUG, msg, fields, False)

    def info(self, msg: str, **fields: Any) -> None:
        """Log at INFO."""
        self._log(logging.INFO, msg, fields, False)

    def warning(self, msg: str, **fields: Any) -> None:
        """Log at WARNING."""
        self._log(logging.WARNING, msg, fields, False)

    def error(self, msg: str, **fields: Any) -> None:
        """Log at ERROR."""
        self._log(logging.ERROR, msg, fields, False)

    def exception(self, msg: str, **fields: Any) -> None:
        """Log at ERROR with the exception being handled."""
        self._log(logging.ERROR, msg, fields, True)


def get_logger(component: str) -> ComponentLogger:
    """The logger of one component (``base``, ``tick``, ``connection``...).

    Example::

        logger = get_logger("orders")
        logger.info("order queued", queue="binance")
    """
    if component not in COMPONENTS:
        raise ValueError(f"unknown logging component {component!r}")
    return ComponentLogger(f"fullon.cache.{component}")


def configure_logging(settings: CacheSettings) -> None:
    """Set up the ``fullon`` loggers for the CLI and the examples (never called by the library).

    Uses ``LOG_LEVEL``, ``LOG_FORMAT`` (``minimal`` or ``detailed``), ``LOG_CONSOLE`` and
    ``FULLON_CACHE_LOG_DIR`` (file ``fullon_cache.log``, rotated at 10 MB, 7 files kept).
    Calling it again replaces the handlers it added before. When fullon_log is installed it
    configures itself from the same variables, and this function leaves it alone.

    Example::

        configure_logging(CacheSettings.from_env())
    """
    if _import_fullon_log() is not None:
        return
    root = logging.getLogger("fullon")
    for handler in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(handler)
        handler.close()
    formatter = logging.Formatter(_FORMATS.get(settings.log_format, _FORMATS["detailed"]))
    handlers: list[logging.Handler] = []
    if settings.log_console:
        handlers.append(logging.StreamHandler())
    log_dir = Path(settings.log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    handlers.append(
        logging.handlers.RotatingFileHandler(
            log_dir / "fullon_cache.log",
            maxBytes=_LOG_FILE_BYTES,
            backupCount=_LOG_FILE_BACKUPS,
            encoding="utf-8",
        )
    )
    for handler in handlers:
        setattr(handler, _MARK, True)
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
