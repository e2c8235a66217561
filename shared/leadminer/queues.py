"""Queue interface between stages, and the in-process implementation.

Semantics shared by every adapter (Redis Streams, Cloudflare Queues, in-process):
at-least-once delivery; a consumer ``ack``s a message once its effects are
stored, or it is delivered again (``retry``), and after ``max_attempts`` it goes
to the dead-letter list with the last error.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(slots=True)
class Delivery:
    id: int | str  # the adapter's own id: a counter in process, a stream entry id in Redis
    body: Any
    attempts: int = 1


class Queue(Protocol):
    name: str

    def send(self, body: Any) -> None: ...

    def receive(self, max_messages: int = 1) -> list[Delivery]: ...

    def ack(self, delivery: Delivery) -> None: ...

    def retry(self, delivery: Delivery, error: str) -> None: ...

    @property
    def dead_letters(self) -> list[tuple[Any, str]]:
        """``(body, error)`` of every message that used up its attempts, oldest first."""
        ...


@dataclass
class InProcessQueue:
    """A FIFO in this process (embedded mode). No threads: the runner pumps it."""

    name: str
    max_attempts: int = 3
    _pending: deque[Delivery] = field(default_factory=deque)
    _in_flight: dict[int, Delivery] = field(default_factory=dict)
    dead_letters: list[tuple[Any, str]] = field(default_factory=list)
    last_exception: BaseException | None = None  # of the latest failed delivery, for the traceback
    _next_id: int = 0

    def send(self, body: Any) -> None:
        self._next_id += 1
        self._pending.append(Delivery(self._next_id, body))

    def receive(self, max_messages: int = 1) -> list[Delivery]:
        out = []
        while self._pending and len(out) < max_messages:
            delivery = self._pending.popleft()
            self._in_flight[delivery.id] = delivery
            out.append(delivery)
        return out

    def ack(self, delivery: Delivery) -> None:
        self._in_flight.pop(delivery.id, None)

    def retry(self, delivery: Delivery, error: str) -> None:
        self._in_flight.pop(delivery.id, None)
        if delivery.attempts >= self.max_attempts:
            self.dead_letters.append((delivery.body, error))
        else:
            delivery.attempts += 1
            self._pending.append(delivery)

    def __len__(self) -> int:
        return len(self._pending) + len(self._in_flight)


def drain(queue: Queue, handler: Callable[[Any], None]) -> int:
    """Deliver every pending message to ``handler``; ack on success, retry on error."""
    handled = 0
    while batch := queue.receive(16):
        for delivery in batch:
            try:
                handler(delivery.body)
            except Exception as exc:  # recorded on the delivery, never swallowed silently
                if hasattr(queue, "last_exception"):  # this process's latest failure, for the traceback
                    queue.last_exception = exc
                queue.retry(delivery, f"{type(exc).__name__}: {exc}")
            else:
                queue.ack(delivery)
                handled += 1
    return handled
