"""dev.py writes the coverage the full test run measured into README.md's coverage block."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="1" failures="2" skipped="0" tests="1234"/></testsuites>
"""
COVERAGE = {
    "totals": {
        "percent_covered_display": "99.5",
        "covered_lines": 2999,
        "num_statements": 3000,
        "covered_branches": 998,
        "num_branches": 1000,
    }
}
EXPECTED = (
    "**Coverage: 99.5%** of `src/` (2,999/3,000 lines, 998/1,000 branches) over 1,234 tests, "
    "3 failed — written by the last full `python3 dev.py test`."
)


@pytest.fixture
def dev(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("dev_script", ROOT / "dev.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "README", tmp_path / "README.md")
    monkeypatch.setattr(module, "COVERAGE_JSON", tmp_path / "coverage.json")
    monkeypatch.setattr(module, "JUNIT_XML", tmp_path / "junit.xml")
    return module


def _readme(line: str) -> str:
    return f"# title\n\n<!-- coverage:start (note) -->\n{line}\n<!-- coverage:end -->\n\nmore\n"


def test_the_real_readme_has_the_block_dev_py_rewrites(dev: ModuleType) -> None:
    assert dev.COVERAGE_BLOCK.search((ROOT / "README.md").read_text(encoding="utf-8"))


def test_a_full_run_writes_its_figures_into_the_block(dev: ModuleType) -> None:
    dev.README.write_text(_readme("**Coverage:** not measured yet."), encoding="utf-8")
    dev.COVERAGE_JSON.write_text(json.dumps(COVERAGE))
    dev.JUNIT_XML.write_text(JUNIT)
    dev.update_readme_coverage()
    assert dev.README.read_text(encoding="utf-8") == _readme(EXPECTED)
    dev.update_readme_coverage()  # the same figures again: the file stays as it is
    assert dev.README.read_text(encoding="utf-8") == _readme(EXPECTED)


def test_without_a_full_run_the_readme_is_left_alone(dev: ModuleType) -> None:
    dev.README.write_text(_readme("old figure"), encoding="utf-8")
    dev.COVERAGE_JSON.write_text(json.dumps(COVERAGE))  # no JUnit XML: a partial run
    dev.update_readme_coverage()
    assert dev.README.read_text(encoding="utf-8") == _readme("old figure")
