"""Queue port between stages, and the in-process implementation.

Semantics shared by every adapter (Redis Streams, Cloudflare Queues, in-process),
checked by ``tests/test_queue_contract.py``:

* at-least-once delivery; bodies are plain JSON data (a dict with str keys,
  lists, str, int, float, bool, None) that comes back equal — ids, never objects;
* a consumer ``ack``s a delivery once its effects are stored, or calls
  ``retry`` with the error: the body is delivered again, and after
  ``max_attempts`` it goes to the queue's dead-letter queue (``dead``), whose
  deliveries carry that error in ``Delivery.error`` and the attempts it used up in
  ``Delivery.failed_attempts``;
* a consumer whose handler runs long calls ``renew`` every ``renew_every`` seconds
  (None: never needed), so that no other consumer takes the delivery over as if its
  consumer had died; a renewal does not count an attempt;
* ports are async: a Worker awaits its Queue binding, the self-host runner its
  Redis connection. The policy around them (ack, retry, dead letters) is written
  once, in :mod:`leadminer.flow.consumer`.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Delivery:
    id: int | str  # the adapter's own id: a counter in process, a stream entry id in Redis
    body: Any
    attempts: int = 1  # deliveries of this message on this queue so far (crashes included)
    error: str | None = None  # a dead letter's last error (why it died)
    failed_attempts: int = 0  # a dead letter's attempts on the queue it died on


class Queue(Protocol):
    name: str
    max_attempts: int
    renew_every: float | None  # seconds between renewals of a delivery still being handled; None: never needed

    async def send(self, body: Any) -> None: ...

    async def receive(self, max_messages: int = 1) -> list[Delivery]: ...

    async def ack(self, delivery: Delivery) -> None: ...

    async def retry(self, delivery: Delivery, error: str) -> None:
        """Deliver again later, or bury in ``dead`` after ``max_attempts``."""
        ...

    async def waiting_since(self) -> float | None:
        """When (Unix time) the oldest message that no consumer has received yet was sent; None
        when none waits. Tells a mining whose messages wait behind a backlog from a dead one."""
        ...

    async def renew(self, delivery: Delivery) -> bool:
        """Keep holding ``delivery`` while its handler runs: no other consumer takes it over for
        another claim period, and no attempt is counted. False when it is no longer this
        consumer's (acked, retried, or already taken over)."""
        ...


def encode_body(queue_name: str, body: Any) -> str:
    """``body`` as compact JSON, or ``TypeError`` when it is not JSON data that comes
    back equal (an object, bytes, a tuple, a non-str key, NaN): raised at ``send``,
    not in the consumer."""
    try:
        text = json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:  # an object, bytes, a cycle, NaN
        raise TypeError(f"queue {queue_name!r}: body is not JSON data ({exc}); send ids or plain data") from exc
    if json.loads(text) != body:
        raise TypeError(
            f"queue {queue_name!r}: body would not come back equal from JSON "
            "(a tuple becomes a list, a non-str dict key a string)"
        )
    return text


@dataclass
class InProcessQueue:
    """A FIFO in this process (embedded mode, tests). No threads: the runner pumps it.
    Bodies go through JSON like on every other queue, so what works here works there."""

    name: str
    max_attempts: int = 3
    renew_every: float | None = None  # one consumer: nobody takes a delivery over
    dead: InProcessQueue | None = None  # dead letters; made at construction unless this is one
    _pending: deque[tuple[Delivery, str]] = field(default_factory=deque)
    _in_flight: dict[int, tuple[Delivery, str]] = field(default_factory=dict)  # id → (delivery, body as sent)
    _next_id: int = 0
    _sent_at: dict[int, float] = field(default_factory=dict)  # id → Unix time, of the pending deliveries

    def __post_init__(self) -> None:
        if self.dead is None and not self.name.endswith(":dead"):
            self.dead = InProcessQueue(self.name + ":dead", self.max_attempts)

    async def send(self, body: Any) -> None:
        self._push(encode_body(self.name, body))

    async def receive(self, max_messages: int = 1) -> list[Delivery]:
        out = []
        while self._pending and len(out) < max_messages:
            delivery, text = self._pending.popleft()
            self._sent_at.pop(delivery.id, None)
            self._in_flight[delivery.id] = (delivery, text)
            out.append(delivery)
        return out

    async def ack(self, delivery: Delivery) -> None:
        self._in_flight.pop(delivery.id, None)

    async def retry(self, delivery: Delivery, error: str) -> None:
        """Deliver the body as it was sent (not as a handler may have changed it) again, as a
        new delivery with a new id (a late ack of the old one acks nothing), or bury it."""
        taken = self._in_flight.pop(delivery.id, None)
        if taken is None:
            return  # already acked or retried
        _delivery, text = taken
        if delivery.attempts >= self.max_attempts and self.dead is not None:
            self.dead._push(text, error=error, failed_attempts=delivery.attempts)
        elif delivery.attempts >= self.max_attempts:  # a dead letter whose handling keeps failing
            log.error("%s: dropped %s after %d attempts: %s", self.name, text, delivery.attempts, error)
        else:
            self._push(text, attempts=delivery.attempts + 1, error=error)

    async def renew(self, delivery: Delivery) -> bool:
        return delivery.id in self._in_flight

    async def waiting_since(self) -> float | None:
        return self._sent_at[self._pending[0][0].id] if self._pending else None

    def _push(self, text: str, *, attempts: int = 1, error: str | None = None, failed_attempts: int = 0) -> None:
        self._next_id += 1
        self._sent_at[self._next_id] = time.time()
        self._pending.append((Delivery(self._next_id, json.loads(text), attempts, error, failed_attempts), text))

    def __len__(self) -> int:
        return len(self._pending) + len(self._in_flight)
