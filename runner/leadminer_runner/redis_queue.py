"""Self-host queues: the ``leadminer.queues.Queue`` protocol on Redis Streams.

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
  new entries. So ``claim_idle_ms`` must exceed the longest handler run, or a
  slow handler's entry is handed to a second consumer as well (harmless, since
  handlers are idempotent, but wasted work).
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

Needs Redis >= 7.0 (XAUTOCLAIM that drops deleted entries), a single instance
(not Cluster: the retry script touches two keys) and ``maxmemory-policy
noeviction`` (an evicted stream loses its messages). No threads: the caller
pumps ``receive``.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis

from leadminer.queues import Delivery

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
KEY_PREFIX = "leadminer:"

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


class RedisStreamQueue:
    """A queue on one Redis stream, consumed by a consumer group (see the module doc)."""

    def __init__(
        self,
        name: str,
        client: redis.Redis,
        *,
        group: str = "leadminer",
        consumer: str | None = None,
        max_attempts: int = 3,
        claim_idle_ms: int = 300_000,
        block_ms: int | None = None,
    ):
        """``consumer`` defaults to ``<host>-<pid>``, unique per runner process.
        ``block_ms`` makes ``receive`` wait that long for a new entry when none
        is there (None: return at once, as ``drain`` expects); the client's
        ``socket_timeout`` must then be longer."""
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
        self.dead_key = self.key + ":dead"
        self.last_exception: BaseException | None = None  # set by drain(), in this process only
        self._move = client.register_script(_MOVE)
        self._group_ready = False
        self._claim_cursor = "0-0"

    def send(self, body: Any) -> None:
        self._ensure_group()
        self.client.xadd(self.key, {"body": self._encode(body)})

    def receive(self, max_messages: int = 1) -> list[Delivery]:
        self._ensure_group()
        try:
            return self._receive(max_messages)
        except redis.ResponseError as exc:
            if not str(exc).startswith("NOGROUP"):
                raise
            self._group_ready = False  # the stream was deleted (FLUSHALL, a test's cleanup): start again
            self._ensure_group()
            return self._receive(max_messages)

    def ack(self, delivery: Delivery) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.xack(self.key, self.group, delivery.id)
        pipe.xdel(self.key, delivery.id)
        pipe.execute()

    def retry(self, delivery: Delivery, error: str) -> None:
        if delivery.attempts >= self.max_attempts:
            self._bury(delivery.id, delivery.attempts, error)
        else:
            fields = ["attempts", delivery.attempts, "error", error]
            self._move(keys=[self.key, self.key], args=[self.group, delivery.id, *fields])

    def entry_error(self, delivery: Delivery) -> str | None:
        """The error stored with a delivered entry: the last one of a retried body
        (for a consumer of a dead-letter stream: why it died)."""
        entries = self.client.xrange(self.key, delivery.id, delivery.id)
        return _field(entries[0][1], "error") if entries else None

    @property
    def dead_letters(self) -> list[tuple[Any, str]]:
        """``(body, error)`` of every dead letter, oldest first (read from Redis at each access).
        A property, not a method, so that it reads like ``InProcessQueue.dead_letters``."""
        return [
            (json.loads(_field(fields, "body")), _field(fields, "error"))
            for _id, fields in self.client.xrange(self.dead_key)
        ]

    def __len__(self) -> int:
        """Entries not acked yet (waiting or in flight): done entries are deleted at ack."""
        return self.client.xlen(self.key)

    def _receive(self, max_messages: int) -> list[Delivery]:
        out = self._claim_stuck(max_messages)
        if len(out) < max_messages:
            out += self._read_new(max_messages - len(out), block=not out)
        return out

    def _claim_stuck(self, max_messages: int) -> list[Delivery]:
        """Take over entries another consumer received and left unacked for ``claim_idle_ms``."""
        cursor, entries, *_deleted = self.client.xautoclaim(
            self.key, self.group, self.consumer, self.claim_idle_ms, self._claim_cursor, count=max_messages
        )
        self._claim_cursor = _text(cursor)  # resume the PEL scan where it stopped; "0-0" wraps around
        if not entries:
            return []
        pipe = self.client.pipeline(transaction=False)
        for entry_id, _fields in entries:
            pipe.xpending_range(self.key, self.group, entry_id, entry_id, 1)
        out = []
        for (entry_id, fields), pending in zip(entries, pipe.execute()):
            if not pending:  # acked by its first consumer in the meantime
                continue
            delivery = self._delivery(entry_id, fields, pending[0]["times_delivered"])
            if delivery.attempts > self.max_attempts:
                last = _field(fields, "error")
                self._bury(
                    delivery.id,
                    delivery.attempts - 1,
                    f"not acked after {delivery.attempts - 1} deliveries (its consumer died or hung)"
                    + (f"; last error: {last}" if last else ""),
                )
                continue
            out.append(delivery)
        return out

    def _read_new(self, count: int, *, block: bool) -> list[Delivery]:
        response = self.client.xreadgroup(
            self.group, self.consumer, {self.key: ">"}, count=count, block=self.block_ms if block else None
        )
        if isinstance(response, dict):  # RESP3: {key: [entries]}
            batches = [batch for value in response.values() for batch in value]
        else:  # RESP2: [[key, entries]]
            batches = [entries for _key, entries in response or []]
        return [self._delivery(entry_id, fields, 1) for entries in batches for entry_id, fields in entries]

    def _delivery(self, entry_id: bytes | str, fields: dict, times_delivered: int) -> Delivery:
        prior = int(_field(fields, "attempts") or 0)
        return Delivery(_text(entry_id), json.loads(_field(fields, "body")), prior + times_delivered)

    def _bury(self, entry_id: str, attempts: int, error: str) -> None:
        self._move(
            keys=[self.key, self.dead_key],
            args=[self.group, entry_id, "error", error, "attempts", attempts, "entry", entry_id],
        )

    def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            # From id 0: entries sent before the group existed are delivered too.
            self.client.xgroup_create(self.key, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if not str(exc).startswith("BUSYGROUP"):
                raise
        self._group_ready = True

    def _encode(self, body: Any) -> str:
        try:
            text = json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError) as exc:  # an object, bytes, a cycle, NaN
            raise TypeError(f"queue {self.name!r}: body is not JSON data ({exc}); send ids or plain data") from exc
        if json.loads(text) != body:
            raise TypeError(
                f"queue {self.name!r}: body would not come back equal from JSON "
                "(a tuple becomes a list, a non-str dict key a string)"
            )
        return text


def redis_url(environ: Mapping[str, str] | None = None) -> str:
    """``LEADMINER_REDIS_URL``, or the local server. Holds a password: show it through :func:`redacted`."""
    return (os.environ if environ is None else environ).get("LEADMINER_REDIS_URL") or DEFAULT_REDIS_URL


def client_from_env(environ: Mapping[str, str] | None = None, **kwargs: Any) -> redis.Redis:
    """A client for :func:`redis_url`; ``kwargs`` go to ``redis.Redis`` (timeouts...)."""
    return redis.Redis.from_url(redis_url(environ), **kwargs)


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


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _field(fields: dict, name: str) -> str | None:
    """A field of an entry, whether the client decodes responses or not."""
    value = fields.get(name.encode(), fields.get(name))
    return None if value is None else _text(value)
