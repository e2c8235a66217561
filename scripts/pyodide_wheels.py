#!/usr/bin/env python3
"""Download the wheels the leadminer core needs under Pyodide 314 (Cloudflare Python Workers).

The npm ``pyodide`` package ships the interpreter and the stdlib but none of the
packages listed in its ``pyodide-lock.json``; those normally come from a CDN.
To run the core fully offline, this script fetches every runtime dependency from
PyPI once into ``.cache/pyodide-wheels/`` (git-ignored):

* pure-Python wheels (``py3-none-any``) for the core's dependencies and the HTTP
  API's (FastAPI, Starlette, anyio, python-multipart, PyJWT…), and
* the WebAssembly wheel of ``pydantic-core`` built for Pyodide's ABI
  (``cp314-cp314-pyemscripten_2026_0_wasm32``).

It is idempotent: wheels already in the cache are kept, and only missing ones are
downloaded. A ``manifest.json`` lists the files the harness must load.

    python scripts/pyodide_wheels.py            # fill the cache
    python scripts/pyodide_wheels.py --check    # exit 1 when something is missing
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CACHE = PROJECT_ROOT / ".cache" / "pyodide-wheels"

#: Pyodide 314's wheel ABI (``abi_version`` in the npm package's pyodide-lock.json).
PYODIDE_PLATFORM = "pyemscripten_2026_0_wasm32"
PYODIDE_PYTHON = "314"

#: pydantic 2.13.x (the CPython pin) has no pydantic-core wheel for this ABI on
#: PyPI; 2.14.x is the nearest release line whose core ships one. The two must be
#: an exact pair (pydantic refuses to import with any other core version).
PYDANTIC_VERSION = "2.14.4"
PYDANTIC_CORE_VERSION = "2.50.5"

#: Pure-Python runtime dependencies of the core, pinned like pyproject.toml.
PURE_REQUIREMENTS = (
    f"pydantic=={PYDANTIC_VERSION}",
    "typing-extensions==4.16.0",
    "typing-inspection==0.4.5",
    "annotated-types==0.8.0",
    "email-validator==2.4.0",
    "idna==3.20",
    "dnspython==2.9.2",
    "phonenumbers==9.0.43",
    "nameparser==2.6.0",
    "disposable-email-domains==0.0.293",
)
#: Pure-Python dependencies of the HTTP API (api/leadminer_api), pinned to what pip resolves
#: for pyproject.toml on CPython (``pip freeze`` in .venv): FastAPI and what it requires
#: (opentelemetry-api included), multipart uploads, Supabase tokens.
API_REQUIREMENTS = (
    "fastapi==0.165.0",
    "starlette==1.10.0",
    "anyio==4.16.0",
    "annotated-doc==0.0.7",
    "opentelemetry-api==1.45.2",
    "python-multipart==0.0.34",
    "pyjwt==2.15.1",
)
WASM_REQUIREMENTS = (f"pydantic-core=={PYDANTIC_CORE_VERSION}",)


def wheel_prefix(requirement: str) -> str:
    """File-name prefix of a requirement's wheel: ``pydantic-core==2.50.5`` → ``pydantic_core-2.50.5-``."""
    name, _, version = requirement.partition("==")
    return f"{name.replace('-', '_').lower()}-{version}-"


def find_wheel(cache: Path, requirement: str) -> Path | None:
    """The cached wheel for a pinned requirement, if any."""
    prefix = wheel_prefix(requirement)
    for path in sorted(cache.glob("*.whl")):
        if path.name.lower().startswith(prefix):
            return path
    return None


def pip_download(requirements: list[str], cache: Path, *, wasm: bool) -> None:
    """Run ``pip download`` for wheels only, without dependency resolution."""
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", "--dest", str(cache)]
    if wasm:
        command += ["--platform", PYODIDE_PLATFORM, "--python-version", PYODIDE_PYTHON, "--implementation", "cp"]
    subprocess.run(command + requirements, check=True)


def ensure_wheels(cache: Path = DEFAULT_CACHE) -> list[Path]:
    """Make sure every wheel is in ``cache``; return their paths in load order and write the manifest."""
    cache.mkdir(parents=True, exist_ok=True)
    for requirements, wasm in ((PURE_REQUIREMENTS + API_REQUIREMENTS, False), (WASM_REQUIREMENTS, True)):
        missing = [r for r in requirements if find_wheel(cache, r) is None]
        if missing:
            pip_download(missing, cache, wasm=wasm)
    wheels = []
    for requirement in (*WASM_REQUIREMENTS, *PURE_REQUIREMENTS, *API_REQUIREMENTS):
        wheel = find_wheel(cache, requirement)
        if wheel is None:
            raise SystemExit(f"pip reported success but no wheel for {requirement} is in {cache}")
        wheels.append(wheel)
    manifest = {"platform": PYODIDE_PLATFORM, "wheels": [w.name for w in wheels]}
    (cache / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return wheels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="wheel folder (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="only report missing wheels; download nothing")
    args = parser.parse_args(argv)
    if args.check:
        missing = [r for r in (*PURE_REQUIREMENTS, *API_REQUIREMENTS, *WASM_REQUIREMENTS) if find_wheel(args.cache, r) is None]
        for requirement in missing:
            print(f"missing: {requirement}", file=sys.stderr)
        return 1 if missing else 0
    for wheel in ensure_wheels(args.cache):
        print(wheel.name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
