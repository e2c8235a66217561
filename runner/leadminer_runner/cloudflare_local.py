"""The local Cloudflare stack (cloudflare/local/stack.mjs) from CPython (scripts/cf, tests):
installed on first use and started as a process, CPython clients of its D1 and R2 bridges that look like the Worker
bindings (``prepare().bind().raw()``, ``batch()``; ``put/get/head/list/delete``), so the
Cloudflare adapters run unchanged against Miniflare's real local D1 and R2."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .local_supabase import LocalSupabase

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
STACK_DIR = PROJECT_ROOT / "cloudflare" / "local"
WHEELS = (PROJECT_ROOT / ".cache" / "pyodide-wheels", PROJECT_ROOT / ".cache" / "cf-wheels")
SDK = "workers-runtime-sdk==1.9.5"


def node_available() -> bool:
    return shutil.which("node") is not None and shutil.which("npm") is not None


def install(python: bool = True) -> None:
    """On first use: npm ci (the lock file), and for the Python Workers the core's Pyodide wheels
    (scripts/pyodide_wheels.py) and the `workers` SDK wheel (pip download)."""
    if not (STACK_DIR / "node_modules" / "miniflare").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=STACK_DIR, check=True, capture_output=True)
    if not python:
        return
    script = PROJECT_ROOT / "scripts" / "pyodide_wheels.py"
    if subprocess.run([sys.executable, str(script), "--check"], capture_output=True).returncode != 0:
        subprocess.run([sys.executable, str(script)], check=True, capture_output=True)
    if not list(WHEELS[1].glob("workers_runtime_sdk-*.whl")):
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(WHEELS[1]), SDK],
            check=True, capture_output=True,
        )  # fmt: skip


class Stack:
    """A running stack process; ``url`` is its HTTP server."""

    def __init__(self, *args: str, port: int = 0, timeout: float = 120, env: dict[str, str] | None = None,
                 supabase: LocalSupabase | None = None):  # fmt: skip
        """``supabase``: the Workers' main store (its URL and keys reach them as vars and secrets);
        None: ``LEADMINER_MAIN_STORE=d1``, the main store on the local D1 ``MAIN_DB``."""
        python = "--no-python" not in args
        install(python)
        self.supabase = supabase
        env = {**(supabase.worker_env() if supabase else {"LEADMINER_MAIN_STORE": "d1"}), **(env or {})}
        wheels = [a for w in WHEELS for a in ("--wheels", str(w))] if python else []
        self.process = subprocess.Popen(
            ["node", str(STACK_DIR / "stack.mjs"), "--port", str(port), "--exit-with-stdin", *wheels, *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=sys.stderr, text=True,
            env={**os.environ, "LEADMINER_FETCHER_PYTHON": sys.executable, **env},  # the fetcher process: this venv
        )  # fmt: skip
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the stack did not start (exit {self.process.wait(timeout)})")
        self.url = f"http://127.0.0.1:{json.loads(line)['port']}"

    def call(self, route: str, payload: Any) -> Any:
        data = json.dumps(payload).encode()
        request = urllib.request.Request(f"{self.url}/__stack/{route}", data=data, method="POST")
        with urllib.request.urlopen(request, timeout=120) as answer:  # noqa: S310 - local stack
            result = json.loads(answer.read())
        if isinstance(result, dict) and "error" in result and len(result) == 1:
            raise RuntimeError(result["error"])
        return result

    async def acall(self, route: str, payload: Any) -> Any:
        return await asyncio.to_thread(self.call, route, payload)

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _param(value: Any) -> Any:
    """bytes cross the bridge as {"$bytes": base64} (a Worker passes a Uint8Array)."""
    return {"$bytes": base64.b64encode(value).decode()} if isinstance(value, bytes | bytearray | memoryview) else value


class BridgeStatement:
    def __init__(self, db: BridgeD1Database, sql: str, params: tuple = ()):
        self.db, self.sql, self.params = db, sql, tuple(_param(v) for v in params)

    def bind(self, *params: Any) -> BridgeStatement:
        return BridgeStatement(self.db, self.sql, params)

    async def raw(self) -> list[list]:
        answer = await self.db.stack.acall(f"d1/{self.db.binding}", {"statements": [[self.sql, list(self.params)]], "mode": "raw"})
        return answer["rows"]


class BridgeD1Database:
    """A D1 binding of the stack, reached from CPython."""

    def __init__(self, stack: Stack, binding: str):
        self.stack, self.binding = stack, binding

    def prepare(self, sql: str) -> BridgeStatement:
        return BridgeStatement(self, sql)

    async def batch(self, statements: list[BridgeStatement]) -> list[dict]:
        payload = {"statements": [[s.sql, list(s.params)] for s in statements], "mode": "batch"}
        answer = await self.stack.acall(f"d1/{self.binding}", payload)
        return [{"meta": {"changes": c}} for c in answer["changes"]]


class BridgeR2Bucket:
    """An R2 binding of the stack, reached from CPython (text objects)."""

    def __init__(self, stack: Stack, binding: str):
        self.stack, self.binding = stack, binding

    async def _op(self, **op: Any) -> dict:
        return await self.stack.acall(f"r2/{self.binding}", op)

    async def put(self, key: str, value: str) -> None:
        await self._op(op="put", key=key, base64=base64.b64encode(value.encode()).decode())

    async def get(self, key: str) -> Any:
        found = (await self._op(op="get", key=key))["base64"]
        if found is None:
            return None
        text = base64.b64decode(found).decode()

        async def read() -> str:
            return text

        return SimpleNamespace(text=read)

    async def head(self, key: str) -> Any:
        return await self.get(key)

    async def delete(self, keys: str | list[str]) -> None:
        await self._op(op="delete", keys=keys)

    async def list(self, options: dict) -> dict:
        keys = (await self._op(op="list", prefix=options.get("prefix", "")))["keys"]
        return {"objects": [{"key": k} for k in keys], "truncated": False}


class BridgeQueue:
    """A queue producer binding of the stack, reached from CPython."""

    def __init__(self, stack: Stack, queue: str):
        self.stack, self.queue = stack, queue

    async def send(self, body: Any) -> None:
        await self.stack.acall(f"queue/{self.queue}", body)


def services(stack: Stack, env: str = "dev"):
    """The Cloudflare mode's ports over the stack's bridges (what the Workers use, from CPython),
    the main store being the one the Workers have (the local Supabase, or D1 ``MAIN_DB``)."""
    from leadminer.adapters.cloudflare.d1 import D1MainStore, D1TempStore
    from leadminer.adapters.cloudflare.queues import ProducerQueue
    from leadminer.adapters.cloudflare.r2 import R2RawBatchStore
    from leadminer.adapters.postgrest import PostgrestMainStore
    from leadminer.flow import QUEUES, MiningServices

    from .http_transport import HttpxTransport

    temp = D1TempStore(BridgeD1Database(stack, "DB"))
    queues = {stage: ProducerQueue(stage, BridgeQueue(stack, f"mining-{stage}-{env}")) for stage in QUEUES}
    if stack.supabase is not None:
        main = PostgrestMainStore(stack.supabase.url, stack.supabase.service_role_key, HttpxTransport())
    else:
        main = D1MainStore(BridgeD1Database(stack, "MAIN_DB"))
    return MiningServices(
        temp=temp, ledger=temp, raw=R2RawBatchStore(BridgeR2Bucket(stack, "RAW")), main=main, queues=queues,
    )  # fmt: skip
