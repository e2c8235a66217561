"""What the API needs from a mode, as a small interface: services to run the flow on,
the health of its dependencies, rate limits and idempotency keys kept where every API
process sees them, and a place to spool uploads. The self-host mode implements it
over PostgreSQL and Redis (:mod:`leadminer_api.selfhost`); the Cloudflare mode over
its bindings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Protocol

from leadminer.flow import MiningServices


class IdempotencyConflict(Exception):
    """The key came back with another request body."""


class MiningBackend(Protocol):
    spool_dir: Path  # uploads are written here, then read by a worker

    def services(self) -> AbstractAsyncContextManager[MiningServices]:
        """Services for the duration of one request step (checked out of a pool)."""
        ...

    async def health(self) -> dict[str, dict]:
        """Each dependency → ``{"ok": bool, "latency_ms": float, "error"?: str}``."""
        ...

    async def hit(self, key: str, limit: int, window_seconds: int) -> int | None:
        """Count one request against ``limit`` per window; None when allowed, else the
        seconds until the window ends (for ``Retry-After``)."""
        ...

    async def once(self, scope: str, key: str, fingerprint: str, create: Callable[[], Awaitable[str]]) -> str:
        """``create()`` once per ``(scope, key)``; the same key again with the same
        ``fingerprint`` returns the first result, with another raises IdempotencyConflict."""
        ...
