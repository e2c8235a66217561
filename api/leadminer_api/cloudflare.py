"""The API's backend in the Cloudflare mode (the fetch-dispatch Worker): the flow over the
Cloudflare adapters (:mod:`leadminer.adapters.cloudflare`), rate limits and idempotency keys
in D1 (every isolate sees them), uploads spooled to the isolate's in-memory /tmp and copied to
R2 (``uploads/<folder>/<name>``) as the fetch is queued, so the fetch-dispatch consumer, in
whatever isolate, reads them from R2. Stored IMAP mailboxes are kept in the main store
(``mining_sources``: Supabase, or D1 on a local stack), their passwords sealed with WebCrypto (:mod:`leadminer.adapters.cloudflare.fetcher`), and read
by the fetcher container, which hands its batches over through the fetcher routes
(:mod:`leadminer_api.fetcher_routes`). A Worker has no IMAP client: a mailbox is stored without
a login check (its first mining fails with the server's answer when the password is wrong), and
its folder tree answers 501.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from leadminer.adapters.cloudflare.d1 import D1Driver
from leadminer.adapters.cloudflare.fetcher import mailbox_store
from leadminer.adapters.cloudflare.worker import main_store
from leadminer.adapters.cloudflare.worker import services as cloudflare_services
from leadminer.adapters.cloudflare.uploads import upload_key
from leadminer.flow import MiningServices
from leadminer.mailboxes import MailboxSource, security_mode

from .backend import IdempotencyConflict, IdempotencyPending, MailboxError, probe

NO_TREE = "the folder tree of a mailbox needs an IMAP client, which the Cloudflare mode's API has not: mine all folders or name them (boxes)"
SPOOL = Path(tempfile.gettempdir()) / "leadminer-spool"
HIT = (
    "INSERT INTO api_hits (key, window, count) VALUES (?,?,1) "
    "ON CONFLICT (key, window) DO UPDATE SET count = count + 1 RETURNING count"
)
OLD_HITS = "DELETE FROM api_hits WHERE key = ? AND window < ?"
RESERVE = "INSERT OR IGNORE INTO api_keys (slot, fingerprint, result, created) VALUES (?,?,NULL,?)"
KEY = "SELECT fingerprint, result, created FROM api_keys WHERE slot = ?"
SET_RESULT = "UPDATE api_keys SET result = ? WHERE slot = ?"
FREE_KEY = "DELETE FROM api_keys WHERE slot = ? AND result IS NULL"
PENDING_SECONDS = 120.0  # a first request that died frees its key after this long


class UploadingFetchQueue:
    """The ``fetch`` producer, copying a spooled upload to R2 before the fetch message goes."""

    def __init__(self, queue: Any, bucket: Any):
        self.queue, self.bucket = queue, bucket
        self.name, self.max_attempts, self.renew_every, self.dead = queue.name, queue.max_attempts, None, None

    async def send(self, body: Any) -> None:
        source = body.get("source") if isinstance(body, dict) else None
        if isinstance(source, dict) and source.get("kind") == "file" and str(source.get("path", "")).startswith(str(SPOOL)):
            path = Path(source["path"])
            key = upload_key(body["mining_id"], path.name)
            await self.bucket.put(key, path.read_bytes())
            path.unlink(missing_ok=True)
            try:
                path.parent.rmdir()  # the upload's spool folder, when nothing else is in it
            except OSError:
                pass
            body = {**body, "source": {"kind": "r2", "key": key}}
        await self.queue.send(body)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.queue, name)


class CloudflareBackend:
    """:class:`~leadminer_api.backend.MiningBackend` over a Worker's env (see the module)."""

    spool_dir = SPOOL

    def __init__(self, env: Any):
        self.env = env
        self.driver = D1Driver(env.DB)

    async def open(self) -> None:  # the SDK's ASGI bridge runs the lifespan around each request
        self.spool_dir.mkdir(parents=True, exist_ok=True)

    async def close(self) -> None:
        pass

    @asynccontextmanager
    async def services(self) -> AsyncIterator[MiningServices]:
        s = cloudflare_services(self.env)
        if "fetch" in s.queues:
            s.queues = {**s.queues, "fetch": UploadingFetchQueue(s.queues["fetch"], self.env.RAW)}
        yield s

    async def health(self) -> dict[str, dict]:
        return {
            "temp_db": await probe(lambda: D1Driver(self.env.DB).rows("SELECT 1")),
            "main_db": await probe(lambda: main_store(self.env).mining("")),  # one read, Supabase or D1
        }

    async def hit(self, key: str, limit: int, window_seconds: int) -> int | None:
        """A fixed window per key in D1 (one atomic upsert counts the request)."""
        now = time.time()
        window = int(now // window_seconds)
        ((count,),) = await self.driver.rows(HIT, (key, window))
        if count == 1:
            await self.driver.write([(OLD_HITS, [(key, window)])])
        if count > limit:
            return max(1, (window + 1) * window_seconds - int(now))
        return None

    async def once(self, scope: str, key: str, fingerprint: str, create: Callable[[], Awaitable[str]]) -> str:
        slot = f"{scope}:{hashlib.sha256(key.encode()).hexdigest()}"
        (reserved,) = await self.driver.write([(RESERVE, [(slot, fingerprint, time.time())])])
        if not reserved:
            found = await self.driver.rows(KEY, (slot,))
            if found:
                first, result, created = found[0]
                if first != fingerprint:
                    raise IdempotencyConflict(key)
                if result is not None:
                    return result
                if time.time() - created < PENDING_SECONDS:
                    raise IdempotencyPending(key)
                await self.driver.write([(FREE_KEY, [(slot,)])])  # its first request died
            return await self.once(scope, key, fingerprint, create)
        try:
            value = await create()
        except BaseException:
            await self.driver.write([(FREE_KEY, [(slot,)])])
            raise
        await self.driver.write([(SET_RESULT, [(value, slot)])])
        return value

    async def save_mailbox(self, services: MiningServices, user_id: str, account: dict, password: str) -> dict:
        """Stored without a login check (no IMAP client in a Worker): the login is the address."""
        try:
            security = security_mode(account["secure"], account["port"])
        except ValueError as exc:
            raise MailboxError(422, str(exc)) from None
        source = MailboxSource(account["email"].strip(), account["host"].strip(), account["port"], security, account["email"].strip())
        return (await mailbox_store(self.env, services.main).save(user_id, source, password)).to_json()

    async def mailboxes(self, services: MiningServices, user_id: str) -> list[dict]:
        return [source.to_json() for source in await mailbox_store(self.env, services.main).list(user_id)]

    async def mailbox_tree(self, services: MiningServices, user_id: str, email: str) -> list[dict] | None:
        if await self.mailbox_label(services, user_id, email) is None:
            return None  # not stored: a 404, as on the self-host API
        raise MailboxError(501, NO_TREE)

    async def mailbox_label(self, services: MiningServices, user_id: str, email: str) -> str | None:
        found = [m for m in await mailbox_store(self.env, services.main).list(user_id) if m.email == email.strip().lower()]
        return found[0].label if found else None


SETTINGS_VARS = (
    "SUPABASE_JWT_SECRET", "LEADMINER_UPLOAD_LIMIT_MB", "LEADMINER_MINING_RATE", "LEADMINER_CONTACTS_RATE",
    "LEADMINER_STALE_MINUTES",
)  # fmt: skip
"""Worker vars and secrets (``wrangler secret put SUPABASE_JWT_SECRET``) the API reads."""


def app_for(env: Any):
    """The API app of :func:`leadminer_api.app.create_app` over this Worker's env."""
    from leadminer.settings import Settings

    from .app import create_app

    values = {"STORAGE_MODE": "cloudflare"}
    for name in SETTINGS_VARS:
        value = getattr(env, name, None)
        if isinstance(value, str) and value:
            values[name] = value
    from .fetcher_routes import fetcher_router

    backend = CloudflareBackend(env)
    app = create_app(Settings.from_env(values), backend)
    app.include_router(fetcher_router(backend))
    return app
