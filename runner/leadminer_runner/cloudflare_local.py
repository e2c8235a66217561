"""The local Cloudflare stack (cloudflare/local/stack.mjs) for tests: started once per test
module or session, and CPython clients of its D1 and R2 bridges that look like the Worker
bindings (``prepare().bind().raw()``, ``batch()``; ``put/get/head/list/delete``), so the
Cloudflare adapters run unchanged against Miniflare's real local D1 and R2."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
STACK_DIR = PROJECT_ROOT / "cloudflare" / "local"


def node_available() -> bool:
    return shutil.which("node") is not None and shutil.which("npm") is not None


def install() -> None:
    """npm ci (the lock file) on first use, as scripts/cf does."""
    if not (STACK_DIR / "node_modules" / "miniflare").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=STACK_DIR, check=True, capture_output=True)


class Stack:
    """A running stack process; ``url`` is its HTTP server."""

    def __init__(self, *args: str, timeout: float = 120):
        install()
        self.process = subprocess.Popen(
            ["node", str(STACK_DIR / "stack.mjs"), "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=sys.stderr, text=True,
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
