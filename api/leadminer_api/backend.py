"""What the API needs from a mode, as a small interface: services to run the flow on,
the health of its dependencies, rate limits and idempotency keys kept where every API
process sees them, and a place to spool uploads. The self-host mode implements it
over PostgreSQL and Redis (:mod:`leadminer_api.selfhost`); the Cloudflare mode over
its bindings."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Protocol

from leadminer.flow import MiningServices


class IdempotencyConflict(Exception):
    """The key came back with another request body."""


class IdempotencyPending(Exception):
    """The first request with the key is still being handled (a retry may come back later)."""


class MailboxError(Exception):
    """A mailbox check that failed: ``status`` (401 wrong credentials, 502 unreachable,
    504 timed out) and a sentence without the password."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class MiningBackend(Protocol):
    spool_dir: Path  # uploads are written here, then read by a worker

    async def save_mailbox(self, services: MiningServices, user_id: str, account: dict, password: str) -> dict:
        """Check the login against the server (the full address, else its local part), then
        store the mailbox with its password encrypted; returns it without secrets. Raises
        :class:`MailboxError`."""
        ...

    async def mailboxes(self, services: MiningServices, user_id: str) -> list[dict]:
        """The user's stored mailboxes, without secrets."""
        ...

    async def mailbox_tree(self, services: MiningServices, user_id: str, email: str) -> list[dict] | None:
        """The stored mailbox's folder tree with counts and special-use flags; None when the
        user has no such mailbox. Raises :class:`MailboxError`."""
        ...

    async def mailbox_label(self, services: MiningServices, user_id: str, email: str) -> str | None:
        """The label minings of the stored mailbox carry (its fetch-state key); None when unknown."""
        ...

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
        ``fingerprint`` returns the first result, with another raises IdempotencyConflict. A
        request that comes while the first is still creating waits for its result (or raises
        IdempotencyPending after a bound); a first request that dies leaves no result, and
        the key is free again soon after."""
        ...


async def probe(check: Callable[[], Awaitable[object]], timeout: float = 5) -> dict:
    """One dependency's line of ``/health``: ``check()`` awaited within ``timeout`` seconds →
    ``{"ok", "latency_ms"}`` (and ``"error"`` when it failed: reported, never raised)."""
    started = time.perf_counter()
    try:
        await asyncio.wait_for(check(), timeout)
    except Exception as exc:  # noqa: BLE001 - any failure is the dependency's state
        return {"ok": False, "latency_ms": _ms(started), "error": str(exc) or type(exc).__name__}
    return {"ok": True, "latency_ms": _ms(started)}


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
