"""Self-host queues: the async ``leadminer.queues.Queue`` port on Redis Streams (redis.asyncio).

One stream per queue, ``leadminer:<name>``, read by one consumer group
(``leadminer``); every runner process is one consumer of that group, so the
runners compete for entries and each entry goes to one of them. Dead letters
go to the stream ``leadminer:<name>:dead``.

- ``send``: XADD of the body as JSON. Bodies must be plain JSON data (dict with
  str keys, list, str, int, float, bool, None) that comes back equal: a body
  that does not (an object, bytes, a tuple, an int dict key, NaN) raises
  ``TypeError`` at ``send``, not in the consumer. Nothing is pickled; send ids
  (a mining id) rather than objects.
- ``receive``: first XAUTOCLAIM of entries delivered to a consumer but not acked
  for ``claim_idle_ms`` (their runner died or hangs), then XREADGROUP ``>`` for
  new entries. A handler that runs longer than ``claim_idle_ms`` keeps its entry
  through ``renew`` (the consumer calls it every ``claim_idle_ms / 3``): an XCLAIM
  of its own entry with JUSTID, which resets the entry's idle time without counting
  a delivery, so only the entries of a consumer that died or hangs are taken over.
- ``ack``: XACK and XDEL in one transaction. Deleting the done entry keeps the
  stream as long as the work left; MAXLEN trimming was not chosen because on
  Redis 7 it drops the oldest entries whether they were delivered or not, so a
  backlog longer than the limit would lose messages.
- ``retry``: atomically (a Lua script) ack and delete the entry and add its body
  again at the end of the stream with the attempts so far and the error, or,
  after ``max_attempts``, to the dead-letter stream.

Attempts: a consumer that dies never calls ``retry``, so a count kept only in
the entry would let a message that kills its runner be delivered forever. Redis
counts deliveries itself (the PEL's delivery counter, raised by every
XREADGROUP/XAUTOCLAIM), but only per entry, and ``retry`` makes a new entry. So
``Delivery.attempts`` = attempts carried in the entry (those of the entries it
replaced) + this entry's delivery count, which counts crashes too; a claimed
entry already delivered ``max_attempts`` times without an ack goes to the dead
letters instead of being delivered again.

Dead letters: ``queue.dead`` is a queue on ``leadminer:<name>:dead`` read by its
own consumer group (``leadminer-failures``); its deliveries carry the error.

Outages: every call that cannot reach Redis raises
:class:`~leadminer.storage.StoreUnavailable` (the flow waits it out, logging once,
and the client reconnects at the next call); a Redis restarted without its data
has lost the streams and groups, which are made again (``NOGROUP``). A consumer
whose round finds nothing new while another consumer holds unacked entries
says so once per entry: they are taken over after ``claim_idle_ms``.

Needs Redis >= 7.0 (XAUTOCLAIM that drops deleted entries), a single instance
(not Cluster: the retry script touches two keys) and ``maxmemory-policy
noeviction`` (an evicted stream loses its messages). No threads: the caller
pumps ``receive`` (or blocks in it with ``block_ms``).
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
import redis.asyncio as aredis

from leadminer.flow import QUEUES
from leadminer.queues import Delivery, encode_body
from leadminer.settings import DEFAULT_REDIS_URL, Settings
from leadminer.storage import StoreUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

KEY_PREFIX = "leadminer:"
GROUP = "leadminer"
FAILURES_GROUP = "leadminer-failures"
_UNREACHABLE = (redis.ConnectionError, redis.TimeoutError, ConnectionError, OSError)

# Move one delivered entry out of KEYS[1] into KEYS[2] (the same stream for a
# retry, the dead-letter stream otherwise), keeping its stored body.
# ARGV: group, entry id, then field/value pairs written beside the body.
# Returns 0 and moves nothing when the entry was already acked (another
# consumer claimed it and finished), so a late retry does not duplicate it.
_MOVE = """
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
local entry = redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])[1]
redis.call('XDEL', KEYS[1], ARGV[2])
if not entry then return 0 end
local body
for i = 1, #entry[2], 2 do
  if entry[2][i] == 'body' then body = entry[2][i + 1] end
end
redis.call('XADD', KEYS[2], '*', 'body', body, unpack(ARGV, 3))
return 1
"""


# Reset the idle time of an entry that this consumer still holds (KEYS[1]: stream;
# ARGV: group, entry id, consumer). JUSTID: the delivery counter is left alone.
# Returns 0 when the entry is acked or another consumer holds it (nothing changed).
_RENEW = """
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)[1]
if not pending or pending[2] ~= ARGV[3] then return 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0, ARGV[2], 'JUSTID')
return 1
"""


class RedisStreamQueue:
    """A queue on one Redis stream, consumed by a consumer group (see the module doc)."""

    def __init__(
        self,
        name: str,
        client: aredis.Redis,
        *,
        group: str = GROUP,
        consumer: str | None = None,
        max_attempts: int = 3,
        claim_idle_ms: int = 300_000,
        block_ms: int | None = None,
        dead: RedisStreamQueue | None = None,
    ):
        """``consumer`` defaults to ``<host>-<pid>``, unique per runner process.
        ``block_ms`` makes ``receive`` wait that long for a new entry when none
        is there (None: return at once); the client's ``socket_timeout`` must then
        be longer. ``dead`` is made unless this queue is itself a dead-letter queue."""
        if block_ms is not None and block_ms <= 0:
            raise ValueError("block_ms must be positive (Redis reads 0 as 'block forever') or None")
        self.name = name
        self.client = client
        self.group = group
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self.max_attempts = max_attempts
        self.claim_idle_ms = claim_idle_ms
        self.block_ms = block_ms
        self.key = KEY_PREFIX + name
        self._move = client.register_script(_MOVE)
        self._renew = client.register_script(_RENEW)
        self._group_ready = False
        self._claim_cursor = "0-0"
        self._told_waiting: set[str] = set()
        if dead is None and not name.endswith(":dead"):
            dead = RedisStreamQueue(
                name + ":dead", client, group=FAILURES_GROUP, consumer=self.consumer,
                max_attempts=max_attempts, claim_idle_ms=claim_idle_ms,
            )  # fmt: skip
        self.dead = dead

    async def _call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run a Redis operation; an unreachable server is StoreUnavailable, a stream or group
        that vanished (a restart without data, FLUSHALL) is made again and the call repeated."""
        try:
            try:
                await self._ensure_group()
                return await operation()
            except redis.ResponseError as exc:
                if not str(exc).startswith("NOGROUP"):
                    raise
                self._group_ready = False
                await self._ensure_group()
                return await operation()
        except _UNREACHABLE as exc:
            self._group_ready = False  # a restarted server may have lost it
            raise StoreUnavailable(f"Redis at {redacted(_client_url(self.client))} is unreachable: {exc}") from None

    async def send(self, body: Any) -> None:
        text = encode_body(self.name, body)
        await self._call(lambda: self.client.xadd(self.key, {"body": text}))

    async def receive(self, max_messages: int = 1) -> list[Delivery]:
        return await self._call(lambda: self._receive(max_messages))

    async def ack(self, delivery: Delivery) -> None:
        async def ack() -> None:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.xack(self.key, self.group, delivery.id)
                pipe.xdel(self.key, delivery.id)
                await pipe.execute()

        await self._call(ack)

    async def retry(self, delivery: Delivery, error: str) -> None:
        if delivery.attempts >= self.max_attempts and self.dead is not None:
            await self._call(lambda: self._bury(delivery.id, delivery.attempts, error))
        elif delivery.attempts >= self.max_attempts:  # a dead letter whose handling keeps failing
            log.error("%s: dropped %s after %d attempts: %s", self.name, delivery.body, delivery.attempts, error)
            await self.ack(delivery)
        else:
            fields = ["attempts", delivery.attempts, "error", error]
            await self._call(lambda: self._move(keys=[self.key, self.key], args=[self.group, delivery.id, *fields]))

    @property
    def renew_every(self) -> float:
        """A third of the claim time: two renewals may fail (a slow round trip) before another
        consumer could take the delivery over."""
        return self.claim_idle_ms / 3000

    async def renew(self, delivery: Delivery) -> bool:
        renewed = await self._call(lambda: self._renew(keys=[self.key], args=[self.group, delivery.id, self.consumer]))
        return bool(renewed)

    async def waiting_since(self) -> float | None:
        """The time of the first entry after the group's last delivered one (stream ids are the
        Redis server's clock in ms), or None."""
        return await self._call(self._waiting_since)

    async def _waiting_since(self) -> float | None:
        try:
            groups = await self.client.xinfo_groups(self.key)
        except redis.ResponseError as exc:
            if "no such key" in str(exc).lower():
                return None  # the stream is gone (a restart without data), and its entries with it
            raise
        last = next((g.get("last-delivered-id") for g in groups if _text(g.get("name")) == self.group), None)
        entries = await self.client.xrange(self.key, min=f"({_text(last)}" if last else "-", max="+", count=1)
        return int(_text(entries[0][0]).split("-")[0]) / 1000 if entries else None

    async def size(self) -> int:
        """Entries not acked yet (waiting or in flight): done entries are deleted at ack."""
        return await self._call(lambda: self.client.xlen(self.key))

    async def _receive(self, max_messages: int) -> list[Delivery]:
        out = await self._claim_stuck(max_messages)
        if len(out) < max_messages:
            out += await self._read_new(max_messages - len(out), block=not out)
        if not out:
            await self._tell_waiting()
        return out

    async def _claim_stuck(self, max_messages: int) -> list[Delivery]:
        """Take over entries another consumer received and left unacked for ``claim_idle_ms``."""
        cursor, entries, *_deleted = await self.client.xautoclaim(
            self.key, self.group, self.consumer, self.claim_idle_ms, self._claim_cursor, count=max_messages
        )
        self._claim_cursor = _text(cursor)  # resume the PEL scan where it stopped; "0-0" wraps around
        if not entries:
            return []
        async with self.client.pipeline(transaction=False) as pipe:
            for entry_id, _fields in entries:
                pipe.xpending_range(self.key, self.group, entry_id, entry_id, 1)
            pendings = await pipe.execute()
        out = []
        for (entry_id, fields), pending in zip(entries, pendings):
            if not pending:  # acked by its first consumer in the meantime
                continue
            delivery = self._delivery(entry_id, fields, pending[0]["times_delivered"])
            log.warning(
                "%s: took over entry %s, left unacked by %s (delivery %d)",
                self.name, delivery.id, _text(pending[0]["consumer"]), delivery.attempts,
            )  # fmt: skip
            if delivery.attempts > self.max_attempts and self.dead is not None:
                last = _field(fields, "error")
                await self._bury(
                    delivery.id,
                    delivery.attempts - 1,
                    f"not acked after {delivery.attempts - 1} deliveries (its consumer died or hung)"
                    + (f"; last error: {last}" if last else ""),
                )
                continue
            out.append(delivery)
        return out

    async def _read_new(self, count: int, *, block: bool) -> list[Delivery]:
        response = await self.client.xreadgroup(
            self.group, self.consumer, {self.key: ">"}, count=count, block=self.block_ms if block else None
        )
        if isinstance(response, dict):  # RESP3: {key: [entries]}
            batches = [batch for value in response.values() for batch in value]
        else:  # RESP2: [[key, entries]]
            batches = [entries for _key, entries in response or []]
        return [self._delivery(entry_id, fields, 1) for entries in batches for entry_id, fields in entries]

    async def _tell_waiting(self) -> None:
        """Log, once per entry, the entries another consumer holds and that are not claimable yet."""
        summary = await self.client.xpending(self.key, self.group)
        if not summary or not summary.get("pending"):
            return
        held = await self.client.xpending_range(self.key, self.group, "-", "+", 10)
        for entry in held:
            entry_id, owner = _text(entry["message_id"]), _text(entry["consumer"])
            if owner == self.consumer or entry_id in self._told_waiting:
                continue
            self._told_waiting.add(entry_id)
            log.warning(
                "%s: entry %s is held by %s (unacked for %.0f s); if that worker died, another takes it "
                "over after %.0f s (LEADMINER_CLAIM_IDLE_SECONDS)",
                self.name, entry_id, owner, entry["time_since_delivered"] / 1000, self.claim_idle_ms / 1000,
            )  # fmt: skip

    def _delivery(self, entry_id: bytes | str, fields: dict, times_delivered: int) -> Delivery:
        prior = int(_field(fields, "attempts") or 0)
        failed = int(_field(fields, "failed_attempts") or 0)
        body = json.loads(_field(fields, "body"))
        return Delivery(_text(entry_id), body, prior + times_delivered, _field(fields, "error"), failed)

    async def _bury(self, entry_id: str, attempts: int, error: str) -> None:
        await self._move(
            keys=[self.key, self.dead.key],
            args=[self.group, entry_id, "error", error, "failed_attempts", attempts, "entry", entry_id],
        )

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            # From id 0: entries sent before the group existed are delivered too.
            await self.client.xgroup_create(self.key, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if not str(exc).startswith("BUSYGROUP"):
                raise
        self._group_ready = True


def redis_client(url: str, **options: Any) -> aredis.Redis:
    """An async client of ``url`` that tries a failed command once more at once and then
    raises: waiting out an outage (and saying so once) is the flow's job, not redis-py's
    retries with their own back-off."""
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    return aredis.Redis.from_url(url, retry=Retry(NoBackoff(), 1), **options)


@asynccontextmanager
async def redis_queues(
    settings: Settings, *, consumer: str | None = None, block_ms: int | None = None
) -> AsyncIterator[dict[str, RedisStreamQueue]]:
    """One queue per stage (and ``fetch``), streams ``leadminer:<prefix><stage>``, on the
    Redis of ``settings``; refuses, with the URL's password hidden, a Redis that does not answer."""
    timeout = 30 + (block_ms or 0) / 1000
    client = redis_client(settings.redis_url, socket_connect_timeout=3, socket_timeout=timeout)
    try:
        try:
            await client.ping()
        except _UNREACHABLE as exc:
            raise ConnectionError(f"cannot connect to Redis at {redacted(settings.redis_url)} (LEADMINER_REDIS_URL): {exc}") from None
        options = {
            "consumer": consumer, "max_attempts": settings.queue_max_attempts,
            "claim_idle_ms": settings.claim_idle_ms, "block_ms": block_ms,
        }  # fmt: skip
        yield {stage: RedisStreamQueue(settings.queue_prefix + stage, client, **options) for stage in QUEUES}
    finally:
        await client.aclose()


def redis_url(environ: Mapping[str, str] | None = None) -> str:
    """``LEADMINER_REDIS_URL``, or the local server. Holds a password: show it through :func:`redacted`."""
    return (os.environ if environ is None else environ).get("LEADMINER_REDIS_URL") or DEFAULT_REDIS_URL


def redacted(url: str) -> str:
    """``url`` safe to show or log: the password (in the user part or a ``password=`` parameter) is ``***``."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}:***@{host}"
    params = parse_qsl(parts.query, keep_blank_values=True)
    query = urlencode([(k, "***" if k == "password" else v) for k, v in params], safe="*")
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _client_url(client: aredis.Redis) -> str:
    kwargs = client.connection_pool.connection_kwargs
    return f"redis://{kwargs.get('host', '?')}:{kwargs.get('port', '?')}/{kwargs.get('db', 0)}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _field(fields: dict, name: str) -> str | None:
    """A field of an entry, whether the client decodes responses or not."""
    value = fields.get(name.encode(), fields.get(name))
    return None if value is None else _text(value)
