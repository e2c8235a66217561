"""A backend held in this process's memory, for tests and for the Pyodide check: the
flow's in-memory services (SQLite ``:memory:`` stores, in-process queues), rate limits
and idempotency keys in dicts, uploads spooled to a temporary folder. No thread, socket
or subprocess: it runs wherever the core runs (CPython, Pyodide).

One process only, and one services object for every request (an in-memory SQLite
database lives in its connection). Stored IMAP mailboxes are not available here: their
routes answer 501. A worker drains the queues in the same process::

    async with backend.services() as services:
        await StageWorker(MiningFlow(services)).drain()
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from leadminer.flow import MiningServices
from leadminer.flow.memory import memory_services
from leadminer.flow.sources import FileMessageSource
from leadminer.sources import SourceError, remove_spooled, spooled_file

from .backend import IdempotencyConflict, MailboxError, probe

NOT_AVAILABLE = "stored mailboxes are not available in this backend (in-memory): upload a mailbox file instead"


class SpoolSourceError(ValueError):
    """A ``fetch`` message names no readable file of the spool folder (the sentence is for the user)."""


class SpoolOpener:
    """Opens ``{"kind": "file", "path": …}`` fetches inside the spool folder; nothing else."""

    def __init__(self, spool_dir: Path):
        self.spool_dir = spool_dir.resolve()

    async def open(self, user_id: str, spec: dict[str, Any]) -> FileMessageSource:
        kind = spec.get("kind") if isinstance(spec, dict) else None
        if kind != "file":
            raise SpoolSourceError(f"the in-memory backend reads uploaded files only, not {kind!r} sources")
        try:
            return FileMessageSource(spooled_file(self.spool_dir, spec.get("path")))
        except SourceError as exc:
            raise SpoolSourceError(str(exc)) from None

    async def release(self, mining_id: str) -> None:
        """The mining ended: its upload leaves the spool folder."""
        remove_spooled(self.spool_dir, mining_id)


class MemoryBackend:
    """:class:`~leadminer_api.backend.MiningBackend` in this process's memory (see the module)."""

    def __init__(self, spool_dir: str | Path | None = None, **service_options: Any):
        """``spool_dir``: where uploads go (default: a temporary folder, removed by :meth:`close`);
        ``service_options``: the rest of :class:`MiningServices` (``mx``, ``signature_extractor``…)."""
        self._own_spool = spool_dir is None
        self.spool_dir = Path(spool_dir) if spool_dir is not None else Path(tempfile.mkdtemp(prefix="leadminer-spool-"))
        self._options = service_options
        self._stack = AsyncExitStack()
        self._services: MiningServices | None = None
        self._hits: dict[tuple[str, int], int] = {}
        self._keys: dict[tuple[str, str], tuple[str, asyncio.Future[str]]] = {}

    async def open(self) -> None:
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        options = {"sources": SpoolOpener(self.spool_dir), **self._options}
        self._services = await self._stack.enter_async_context(memory_services(**options))

    async def close(self) -> None:
        self._services = None
        await self._stack.aclose()
        if self._own_spool:
            shutil.rmtree(self.spool_dir, ignore_errors=True)

    @asynccontextmanager
    async def services(self) -> AsyncIterator[MiningServices]:
        """The one services object (not a pool: an in-memory database lives in its connection)."""
        if self._services is None:
            raise RuntimeError("the backend is not open: run the app's lifespan, or await open()")
        yield self._services

    async def health(self) -> dict[str, dict]:
        async with self.services() as services:

            async def select_one(store) -> None:
                store.conn.execute("SELECT 1").fetchone()

            return {
                "temp_db": await probe(lambda: select_one(services.temp)),
                "main_db": await probe(lambda: select_one(services.main)),
            }

    async def hit(self, key: str, limit: int, window_seconds: int) -> int | None:
        """A fixed window per key, as the self-host backend's (old windows are dropped)."""
        now = time.time()
        window = int(now // window_seconds)
        for old in [k for k in self._hits if k[0] == key and k[1] != window]:
            del self._hits[old]
        count = self._hits[key, window] = self._hits.get((key, window), 0) + 1
        if count > limit:
            return max(1, (window + 1) * window_seconds - int(now))
        return None

    async def once(self, scope: str, key: str, fingerprint: str, create: Callable[[], Awaitable[str]]) -> str:
        slot = (scope, hashlib.sha256(key.encode()).hexdigest())
        if slot in self._keys:
            first, result = self._keys[slot]
            if first != fingerprint:
                raise IdempotencyConflict(key)
            return await asyncio.shield(result)  # the first request may still be creating it
        result = asyncio.get_running_loop().create_future()
        self._keys[slot] = (fingerprint, result)
        try:
            value = await create()
        except BaseException as exc:
            del self._keys[slot]
            result.set_exception(IdempotencyConflict(key) if isinstance(exc, asyncio.CancelledError) else exc)
            result.exception()  # retrieved: no "never retrieved" warning when nobody waits
            raise
        result.set_result(value)
        return value

    # stored mailboxes: not in this backend
    async def save_mailbox(self, services: MiningServices, user_id: str, account: dict, password: str) -> dict:
        raise MailboxError(501, NOT_AVAILABLE)

    async def mailboxes(self, services: MiningServices, user_id: str) -> list[dict]:
        return []  # none can be stored

    async def mailbox_tree(self, services: MiningServices, user_id: str, email: str) -> list[dict] | None:
        raise MailboxError(501, NOT_AVAILABLE)

    async def mailbox_label(self, services: MiningServices, user_id: str, email: str) -> str | None:
        return None  # none stored: the route answers 404 "add it first"

