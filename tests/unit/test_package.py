"""The package surface: import side effects, ``__all__``, help text, docs and examples.

No Redis is needed here; the examples are run against a server in
``tests/integration/test_examples.py``.
"""

from __future__ import annotations

import importlib
import inspect
import itertools
import json
import os
import pkgutil
import pydoc
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import fullon_cache
from fullon_cache import BaseCache, docs, examples
from fullon_cache.docs import api_reference, caching_guide, migration, quickstart, testing_guide

# The cache chain of SPEC section 2, top to bottom.
CHAIN = (
    "BaseCache",
    "ProcessCache",
    "ExchangeCache",
    "SymbolCache",
    "TickCache",
    "AccountCache",
    "OrdersCache",
    "TradesCache",
    "BotCache",
    "OHLCVCache",
)

GUIDE_NAMES = (
    "QUICK_START",
    "API_REFERENCE",
    "CACHING_GUIDE",
    "RELIABILITY_GUIDE",
    "TESTING_GUIDE",
    "MIGRATION_GUIDE",
)

# Run in a fresh interpreter: records what importing the package changes in the process.
_IMPORT_PROBE = """
import asyncio, json, logging, os, sys

def loggers():
    return {
        name: [repr(h) for h in logging.getLogger(name).handlers]
        + [logging.getLogger(name).level]
        for name in ("", "fullon", "fullon.cache")
    }

env_before = dict(os.environ)
policy_before = type(asyncio.get_event_loop_policy()).__qualname__
loggers_before = loggers()

import fullon_cache
import fullon_cache.connection
import fullon_cache.models
from fullon_cache import settings

result = {
    "env_same": dict(os.environ) == env_before,
    "env_added": sorted(set(os.environ) - set(env_before)),
    "policy_before": policy_before,
    "policy_after": type(asyncio.get_event_loop_policy()).__qualname__,
    "loggers_same": loggers() == loggers_before,
    "loggers_after": loggers(),
    "eager": sorted(
        name for name in ("fullon_cache.docs", "fullon_cache.examples", "fullon_cache.cli")
        if name in sys.modules
    ),
    "dotenv_read": sorted(settings._dotenv_cache),
}
# Control: the .env in the working directory is really there for from_env() to read.
result["from_env_host"] = settings.CacheSettings.from_env().host
result["env_still_same"] = dict(os.environ) == env_before
# Lazy attributes load their submodule on first access.
guide = fullon_cache.docs.QUICK_START
names = fullon_cache.examples.EXAMPLES
result["lazy_loaded"] = sorted(
    name for name in ("fullon_cache.docs", "fullon_cache.examples") if name in sys.modules
)
print(json.dumps(result))
"""


def _public_methods(cls: type) -> dict[str, object]:
    """Public callables ``cls`` defines itself (properties and constants left out)."""
    return {
        name: member
        for name, member in vars(cls).items()
        if not name.startswith("_") and callable(member)
    }


# -- importing configures nothing ---------------------------------------------------------


def test_import_has_no_side_effects(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("REDIS_URL=redis://dotenv-host.invalid:6390/0\n")
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("REDIS_", "LOG_", "FULLON_")) and name != "DOTENV_FILE"
    }
    completed = subprocess.run(
        [sys.executable, "-W", "error", "-c", _IMPORT_PROBE],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
    result = json.loads(completed.stdout)

    assert result["env_same"], result["env_added"]
    assert result["policy_after"] == result["policy_before"]
    assert result["loggers_same"], result["loggers_after"]
    assert result["eager"] == []
    assert result["dotenv_read"] == []  # importing never parses a .env file
    # from_env() does read the .env in the cwd, yet never copies it into os.environ.
    assert result["from_env_host"] == "dotenv-host.invalid"
    assert result["env_still_same"]
    assert result["lazy_loaded"] == ["fullon_cache.docs", "fullon_cache.examples"]


# -- the public namespace -----------------------------------------------------------------


def test_all_names_exist_and_are_unique() -> None:
    assert len(set(fullon_cache.__all__)) == len(fullon_cache.__all__)
    for name in fullon_cache.__all__:
        assert getattr(fullon_cache, name) is not None, name


def test_all_is_exactly_the_public_namespace() -> None:
    public = {
        name
        for name, value in vars(fullon_cache).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }
    assert set(fullon_cache.__all__) - {"__version__"} == public


def test_version_is_a_string() -> None:
    assert isinstance(fullon_cache.__version__, str)
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", fullon_cache.__version__)


@pytest.mark.parametrize("name", ["docs", "examples"])
def test_lazy_submodules(name: str) -> None:
    module = importlib.import_module(f"fullon_cache.{name}")
    # Module __getattr__ answers even after the submodule became a plain attribute.
    assert fullon_cache.__getattr__(name) is module
    assert getattr(fullon_cache, name) is module


def test_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="'nope'"):
        _ = fullon_cache.nope  # type: ignore[attr-defined]
    assert not hasattr(fullon_cache, "nope")


def test_help_gives_the_overview() -> None:
    text = pydoc.render_doc(fullon_cache, renderer=pydoc.plaintext)
    for name in CHAIN:
        assert name in text, name
    for expected in ("close_all", "CacheSettings", "REDIS_URL", "fullon_cache.docs"):
        assert expected in text, expected
    assert "fullon_cache.examples" in text
    assert "get_all_docs()" in text
    assert "get_all_examples()" in text
    for name in _public_methods(BaseCache):
        assert f"{name}(" in text, f"help(fullon_cache) does not mention BaseCache.{name}()"


# -- the class chain ----------------------------------------------------------------------


TRUNK = [
    fullon_cache.BaseCache,
    fullon_cache.ProcessCache,
    fullon_cache.ExchangeCache,
    fullon_cache.SymbolCache,
    fullon_cache.TickCache,
    fullon_cache.AccountCache,
]
BRANCHES = [
    [fullon_cache.OrdersCache, fullon_cache.TradesCache],
    [fullon_cache.BotCache, fullon_cache.OHLCVCache],
]
"""SPEC section 2: one trunk, then two branches that both start from AccountCache."""
CHAINS = [TRUNK + branch for branch in BRANCHES]
LAYERS = TRUNK + [cls for branch in BRANCHES for cls in branch]


def test_mro_pin() -> None:
    for chain in CHAINS:
        for depth, cls in enumerate(chain):
            assert cls.__mro__ == (*reversed(chain[: depth + 1]), object)


def test_no_layer_silently_redefines_a_parent_method() -> None:
    for chain in CHAINS:
        for parent, child in itertools.pairwise(chain):
            inherited = {name for name in dir(parent) if not name.startswith("_")}
            redefined = inherited & {name for name in vars(child) if not name.startswith("_")}
            assert not redefined, f"{child.__name__} redefines {sorted(redefined)}"


def test_every_cache_is_importable_from_its_module() -> None:
    for cls in LAYERS:
        module = importlib.import_module(cls.__module__)
        assert module.__name__ == f"fullon_cache.{_snake(cls.__name__)}"
        assert getattr(module, cls.__name__) is cls


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def test_only_base_cache_defines_init() -> None:
    caches = [
        value
        for value in (getattr(fullon_cache, name) for name in fullon_cache.__all__)
        if isinstance(value, type) and issubclass(value, BaseCache)
    ]
    assert BaseCache in caches
    assert [cls for cls in caches if "__init__" in vars(cls)] == [BaseCache]


def test_every_public_base_cache_method_has_an_example() -> None:
    methods = _public_methods(BaseCache)
    assert {"ping", "get_keys", "pipeline", "pop_global_error"} <= set(methods)
    for name, method in methods.items():
        doc = inspect.getdoc(method) or ""
        assert "Example" in doc, f"BaseCache.{name} has no example in its docstring"


def test_every_exported_callable_has_an_example() -> None:
    for name in fullon_cache.__all__:
        value = getattr(fullon_cache, name)
        if inspect.isfunction(value):
            assert "Example" in (inspect.getdoc(value) or ""), name
        elif isinstance(value, type) and not issubclass(value, BaseException):
            assert "Example" in (inspect.getdoc(value) or ""), name
            for method_name, method in _public_methods(value).items():
                doc = inspect.getdoc(method) or ""
                assert "Example" in doc, f"{name}.{method_name} has no example"


# -- docs ---------------------------------------------------------------------------------


def test_get_all_docs() -> None:
    guides = docs.get_all_docs()
    assert list(guides) == list(GUIDE_NAMES)
    for name, text in guides.items():
        assert isinstance(text, str), name
        assert text.strip(), name
        assert text is getattr(docs, name)


def test_package_constants_are_the_module_constants() -> None:
    assert docs.QUICK_START is quickstart.GUIDE
    assert docs.API_REFERENCE is api_reference.API_REFERENCE
    assert docs.BASE_CACHE is api_reference.BASE_CACHE
    assert docs.CACHING_GUIDE is caching_guide.CACHING_GUIDE
    assert docs.TESTING_GUIDE is testing_guide.TESTING_GUIDE
    assert docs.MIGRATION_GUIDE is migration.MIGRATION_GUIDE
    assert docs.PROCESS_CACHE is api_reference.PROCESS_CACHE
    assert docs.EXCHANGE_CACHE is api_reference.EXCHANGE_CACHE
    assert docs.SYMBOL_CACHE is api_reference.SYMBOL_CACHE
    assert docs.TICK_CACHE is api_reference.TICK_CACHE
    assert docs.ACCOUNT_CACHE is api_reference.ACCOUNT_CACHE
    assert docs.ORDERS_CACHE is api_reference.ORDERS_CACHE
    assert docs.TRADES_CACHE is api_reference.TRADES_CACHE
    assert docs.BOT_CACHE is api_reference.BOT_CACHE
    assert docs.OHLCV_CACHE is api_reference.OHLCV_CACHE
    references = {
        "BOT_CACHE",
        "OHLCV_CACHE",
        "BASE_CACHE",
        "PROCESS_CACHE",
        "EXCHANGE_CACHE",
        "SYMBOL_CACHE",
        "TICK_CACHE",
        "ACCOUNT_CACHE",
        "ORDERS_CACHE",
        "TRADES_CACHE",
    }
    assert set(docs.__all__) == {*GUIDE_NAMES, *references, "get_all_docs"}


def test_every_docs_module_is_known() -> None:
    found = {info.name for info in pkgutil.iter_modules(docs.__path__)}
    assert found == {
        "api_reference",
        "caching_guide",
        "migration",
        "quickstart",
        "reliability",
        "testing_guide",
    }


def test_api_reference_lists_every_method_with_its_signature() -> None:
    text = api_reference.BASE_CACHE
    assert text.startswith("BaseCache(object)\n=================\n")
    for name, member in _public_methods(BaseCache).items():
        signature = inspect.signature(member, eval_str=True)  # type: ignore[arg-type]
        assert f"\n{name}{signature}\n" in text, name
    # Written out by hand, so a change in how signatures render shows up here.
    assert "\npop_global_error(self, timeout: float = 0) -> str | None\n" in text
    assert "\nget_keys(self, pattern: str = '*') -> list[str]\n" in text
    for prop in ("closed", "settings", "namespace"):
        assert f"\n{prop}  (property)\n" in text
    assert "_redis_context" not in text
    assert api_reference.BASE_CACHE in api_reference.API_REFERENCE


class Widget:
    """A thing to describe.

    Example::

        Widget().paint("red")
    """

    LIMIT = 3

    @property
    def size(self) -> int:
        """How big it is."""
        return self.LIMIT

    def spin(self, times: int = 1) -> None:
        pass

    def paint(self, color: str, *, coats: int = 2) -> str:
        """Paint it.

        Dries overnight.
        """
        return color * coats

    def _private(self) -> None:
        """Not part of the reference."""


class Gadget(Widget):
    """A widget that beeps."""

    def beep(self) -> str:
        """Beep."""
        return "beep"


def test_describe_renders_a_class() -> None:
    assert api_reference.describe(Widget) == (
        "Widget(object)\n"
        "==============\n"
        "\n"
        "A thing to describe.\n"
        "\n"
        "Example::\n"
        "\n"
        '    Widget().paint("red")\n'
        "\n"
        "size  (property)\n"
        "    How big it is.\n"
        "\n"
        "spin(self, times: int = 1) -> None\n"
        "    (undocumented)\n"
        "\n"
        "paint(self, color: str, *, coats: int = 2) -> str\n"
        "    Paint it.\n"
        "\n"
        "    Dries overnight.\n"
    )


def test_describe_lists_only_what_a_subclass_defines() -> None:
    assert api_reference.describe(Gadget) == (
        "Gadget(Widget)\n==============\n\nA widget that beeps.\n\nbeep(self) -> str\n    Beep.\n"
    )


# -- every method a guide names exists -----------------------------------------------------

_CACHE_CALL = re.compile(r"(?<![\w.])cache((?:\.\w+)+)\(")
_PACKAGE_CALL = re.compile(r"(?<![\w.])fullon_cache((?:\.\w+)+)\(")


def _caches() -> list[type]:
    """Every cache class the package exports (the chain built so far)."""
    exported = (getattr(fullon_cache, name) for name in fullon_cache.__all__)
    return [value for value in exported if isinstance(value, type) and issubclass(value, BaseCache)]


def _missing_cache_methods(text: str) -> set[str]:
    """``cache.<a>.<b>(`` references that no exported cache class has."""
    return {
        chain
        for chain in _CACHE_CALL.findall(text)
        if not any(
            all(hasattr(cls, part) for part in chain.strip(".").split(".")) for cls in _caches()
        )
    }


def _missing_package_names(text: str) -> set[str]:
    """``fullon_cache.<name>(`` references the package does not export."""
    missing = set()
    for chain in _PACKAGE_CALL.findall(text):
        target: object = fullon_cache
        for part in chain.strip(".").split("."):
            target = getattr(target, part, None)
        if target is None:
            missing.add(chain)
    return missing


def test_the_method_check_notices_a_method_that_does_not_exist() -> None:
    text = "await cache.ping() ... cache.get_keys('x') ... await cache.get_tickr('BTC')"
    assert _missing_cache_methods(text) == {".get_tickr"}
    assert _missing_cache_methods("cache._cache.close() then cache._cache.nope()") == {
        "._cache.nope"
    }
    assert _missing_package_names("fullon_cache.close_all() fullon_cache.reset()") == {".reset"}


@pytest.mark.parametrize("name", GUIDE_NAMES)
def test_every_method_a_guide_names_exists(name: str) -> None:
    text = docs.get_all_docs()[name]
    assert not _missing_cache_methods(text)
    assert not _missing_package_names(text)


def test_the_guides_do_name_cache_methods() -> None:
    named = set()
    for text in docs.get_all_docs().values():
        named |= {chain.strip(".") for chain in _CACHE_CALL.findall(text)}
    assert {"ping", "prepare_cache", "pop_global_error", "get_keys"} <= named


def test_every_method_the_package_docstring_names_exists() -> None:
    text = fullon_cache.__doc__ or ""
    assert not _missing_cache_methods(text)
    assert not _missing_package_names(text)
    for name in re.findall(r"``(\w+)\(", text):
        modules = map(examples.load, examples.EXAMPLES)
        owners = (*_caches(), fullon_cache, docs, examples, *modules)
        assert any(hasattr(owner, name) for owner in owners), name


# -- examples -----------------------------------------------------------------------------


def test_every_example_module_is_registered() -> None:
    found = {info.name for info in pkgutil.iter_modules(examples.__path__)}
    assert found == set(examples.EXAMPLES)
    assert "basic_usage" in examples.EXAMPLES


@pytest.mark.parametrize("name", examples.EXAMPLES)
def test_example_module(name: str) -> None:
    module = examples.load(name)
    assert module is importlib.import_module(f"fullon_cache.examples.{name}")
    assert Path(module.__file__ or "").read_text(encoding="utf-8") == module.SOURCE
    assert inspect.iscoroutinefunction(module.main)
    assert list(inspect.signature(module.main).parameters) == ["settings"]
    assert inspect.signature(module.main).parameters["settings"].default is None
    assert module.__doc__


def test_get_all_examples() -> None:
    sources = examples.get_all_examples()
    assert tuple(sources) == examples.EXAMPLES
    for name, source in sources.items():
        assert source is examples.load(name).SOURCE


def test_an_examples_summary_is_the_first_line_of_its_docstring() -> None:
    assert examples.summary("basic_usage") == (
        "BaseCache basics: connect, check the server, use the global error queue, clean up."
    )
    for name in examples.EXAMPLES:
        assert examples.summary(name).endswith(".")
        assert "\n" not in examples.summary(name)


def test_load_unknown_example() -> None:
    with pytest.raises(KeyError, match="nope"):
        examples.load("nope")


def test_every_test_the_reliability_guide_cites_exists() -> None:
    root = Path(__file__).resolve().parents[2]
    cited = re.findall(r"(tests/[\w/]+\.py)::(test_\w+)", docs.RELIABILITY_GUIDE)
    assert len(cited) >= 40
    for path, name in cited:
        source = (root / path).read_text()
        assert re.search(rf"^(async )?def {name}\(", source, re.M), f"{path}::{name}"
