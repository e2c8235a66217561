"""The self-host backend of the API: a small pool of services (PostgreSQL stores and
Redis Streams queues from :mod:`leadminer_runner.services`) and Redis for the rate
limits and idempotency keys, so they hold across API processes. No mining state in
process memory: any number of API processes can serve the same clients."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from leadminer.flow import MiningServices
from leadminer.settings import Settings

from .backend import IdempotencyConflict, IdempotencyPending, MailboxError, probe

KEY_PREFIX = "leadminer:api:"
IDEMPOTENCY_SECONDS = 86_400  # a key answers with its mining for a day
IDEMPOTENCY_LEASE_SECONDS = 30.0  # a reservation whose request died frees the key after this
IDEMPOTENCY_WAIT_SECONDS = 60.0  # a concurrent request waits this long for the first one's result

# Replace KEYS[1] by ARGV[2] (with a lifetime of ARGV[3] ms), or delete it when ARGV[2] is
# empty, only while it still holds ARGV[1]: a request touches its own reservation only.
_SWAP = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then return redis.call('DEL', KEYS[1]) end
return redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) and 1
"""


class SelfHostBackend:
    def __init__(
        self,
        settings: Settings,
        *,
        pool_size: int = 4,
        idempotency_lease: float = IDEMPOTENCY_LEASE_SECONDS,
        idempotency_wait: float = IDEMPOTENCY_WAIT_SECONDS,
    ):
        self.settings = settings
        self.pool_size = pool_size
        self.idempotency_lease = idempotency_lease
        self.idempotency_wait = idempotency_wait
        self.spool_dir = Path(settings.require_spool_dir())
        self._stack = AsyncExitStack()
        self._pool: asyncio.Queue[MiningServices] = asyncio.Queue()
        self._redis = None
        self._prefix = f"{KEY_PREFIX}{settings.queue_prefix}"  # installations apart, as their queues

    async def open(self) -> None:
        from leadminer_runner.redis_queue import redis_client
        from leadminer_runner.services import selfhost_services

        self.spool_dir.mkdir(parents=True, exist_ok=True)
        consumer = f"api-{uuid.uuid4().hex[:8]}"  # the API only sends; it never consumes
        for n in range(self.pool_size):
            services = await self._stack.enter_async_context(selfhost_services(self.settings, consumer=f"{consumer}-{n}"))
            self._pool.put_nowait(services)
        self._redis = redis_client(self.settings.redis_url, socket_connect_timeout=3, socket_timeout=10)
        self._swap = self._redis.register_script(_SWAP)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
        await self._stack.aclose()

    @asynccontextmanager
    async def services(self) -> AsyncIterator[MiningServices]:
        services = await self._pool.get()
        try:
            yield services
        finally:
            self._pool.put_nowait(services)

    async def health(self) -> dict[str, dict]:
        async with self.services() as services:
            return {
                "redis": await probe(lambda: self._redis.ping()),
                "temp_db": await probe(lambda: services.temp.conn.execute("SELECT 1")),
                "main_db": await probe(lambda: services.main.conn.execute("SELECT 1")),
            }

    async def hit(self, key: str, limit: int, window_seconds: int) -> int | None:
        """A fixed window per key: INCR, with the expiry set by the first hit."""
        window = int(time.time() // window_seconds)
        redis_key = f"{self._prefix}rate:{key}:{window}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(redis_key)
            pipe.expire(redis_key, window_seconds + 1)
            count, _ = await pipe.execute()
        if count > limit:
            return max(1, (window + 1) * window_seconds - int(time.time()))
        return None

    async def once(self, scope: str, key: str, fingerprint: str, create: Callable[[], Awaitable[str]]) -> str:
        """The first request reserves the key for a short lease (``idempotency_lease`` seconds)
        that it renews while ``create()`` runs, then stores the result for a day; a request
        that dies leaves a reservation that expires with its lease, and a retry then creates.
        A concurrent request waits for the result as long as the reservation lives, at most
        ``idempotency_wait`` seconds (then IdempotencyPending)."""
        redis_key = f"{self._prefix}idem:{scope}:{hashlib.sha256(key.encode()).hexdigest()}"
        reservation = json.dumps({"fingerprint": fingerprint, "owner": uuid.uuid4().hex})
        lease_ms = int(self.idempotency_lease * 1000)
        deadline = time.monotonic() + self.idempotency_wait
        while not await self._redis.set(redis_key, reservation, nx=True, px=lease_ms):
            stored = await self._redis.get(redis_key)
            if stored is not None:  # else it expired or was given up just now: try to reserve it again
                entry = _idempotency_entry(stored)
                if entry.get("fingerprint") != fingerprint:
                    raise IdempotencyConflict(key)
                if "result" in entry:
                    return entry["result"]
            if time.monotonic() > deadline:
                raise IdempotencyPending(key)
            await asyncio.sleep(0.05)
        done = asyncio.Event()
        renewing = asyncio.create_task(self._renew_reservation(redis_key, reservation, lease_ms, done))
        try:
            result = await create()
        except BaseException:
            done.set()
            await renewing
            await self._swap(keys=[redis_key], args=[reservation, "", 0])  # free the key at once
            raise
        done.set()
        await renewing
        stored = json.dumps({"fingerprint": fingerprint, "result": result})
        await self._swap(keys=[redis_key], args=[reservation, stored, IDEMPOTENCY_SECONDS * 1000])
        return result

    async def _renew_reservation(self, redis_key: str, reservation: str, lease_ms: int, done: asyncio.Event) -> None:
        """Extend the reservation every third of its lease until ``done``."""
        while True:
            try:
                await asyncio.wait_for(done.wait(), lease_ms / 3000)
                return
            except TimeoutError:
                await self._swap(keys=[redis_key], args=[reservation, reservation, lease_ms])

    # stored mailboxes (IMAP; network calls run in threads of this process, never in the core)
    def _store(self, services: MiningServices):
        from leadminer_runner.services import mailbox_sources

        return mailbox_sources(self.settings, services.main)

    async def save_mailbox(self, services: MiningServices, user_id: str, account: dict, password: str) -> dict:
        from leadminer_runner.imap_accounts import MailboxCheckError, check_login, security_mode
        from leadminer_runner.mailbox_sources import MailboxSource

        try:
            login = await check_login(account["email"], account["host"], account["port"], account["secure"], password)
        except MailboxCheckError as exc:
            raise MailboxError(exc.status, str(exc)) from None
        source = MailboxSource(
            account["email"], account["host"], account["port"], security_mode(account["secure"], account["port"]), login
        )
        return (await self._store(services).save(user_id, source, password)).to_json()

    async def mailboxes(self, services: MiningServices, user_id: str) -> list[dict]:
        return [source.to_json() for source in await self._store(services).list(user_id)]

    async def mailbox_tree(self, services: MiningServices, user_id: str, email: str) -> list[dict] | None:
        from leadminer_runner.imap_accounts import MailboxCheckError, folder_tree

        found = await self._store(services).get(user_id, email)
        if found is None:
            return None
        try:
            return await folder_tree(*found)
        except MailboxCheckError as exc:
            raise MailboxError(exc.status, str(exc)) from None

    async def mailbox_label(self, services: MiningServices, user_id: str, email: str) -> str | None:
        found = await self._store(services).get(user_id, email)
        return found[0].label if found else None


def _idempotency_entry(stored: bytes) -> dict:
    """A stored key: ``{"fingerprint", "owner"}`` while reserved, ``{"fingerprint", "result"}`` once
    done; also the older ``fingerprint\nresult`` text (keys live a day)."""
    text = stored.decode()
    try:
        return json.loads(text)
    except ValueError:
        fingerprint, _, result = text.partition("\n")
        return {"fingerprint": fingerprint, **({"result": result} if result else {})}
