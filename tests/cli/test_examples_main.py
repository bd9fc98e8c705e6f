"""``python -m fullon_cache.examples.<name>`` runs the example against REDIS_URL."""

from __future__ import annotations

import runpy
import sys

import pytest

from fullon_cache import examples


@pytest.mark.parametrize("name", examples.EXAMPLES)
def test_python_m_runs_the_example(
    name: str, redis_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    module = f"fullon_cache.examples.{name}"
    monkeypatch.delitem(sys.modules, module, raising=False)  # run it fresh, as `-m` does
    runpy.run_module(module, run_name="__main__")
    assert capsys.readouterr().out.strip()
