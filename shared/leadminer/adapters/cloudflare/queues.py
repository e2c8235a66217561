"""Cloudflare Queues: the :class:`~leadminer.queues.Queue` port over a producer binding, and
the batch a consumer Worker was handed.

Bodies are JSON data checked by :func:`leadminer.queues.encode_body` before they are sent
(the binding's structured clone would take more, but every other mode only JSON). Cloudflare
delivers and retries by itself: a consumer acks or retries the messages of its batch
(:class:`BatchQueue`), and after ``max_retries`` the message goes to the queue's dead-letter
queue. Dead letters carry no error, so a retry records its error in D1 (:class:`ErrorLog`),
where the dead-letter consumer finds it.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from ...queues import Delivery, encode_body


class ErrorLog(Protocol):
    async def save_error(self, queue: str, body: str, mining_id: str, error: str, attempts: int) -> None: ...

    async def last_error(self, queue: str, body: str) -> tuple[str | None, int]: ...


def canonical(body: Any) -> str:
    """A body as the key of its errors (the same message, whatever the delivery)."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class ProducerQueue:
    """Sends to a Cloudflare queue (``env.<STAGE>_QUEUE``); receiving is Cloudflare's."""

    renew_every = None  # Cloudflare holds a delivery for the whole consumer invocation

    def __init__(self, name: str, binding: Any, max_attempts: int = 4):
        self.name = name
        self.binding = binding
        self.max_attempts = max_attempts
        self.dead = None

    async def send(self, body: Any) -> None:
        await self.binding.send(json.loads(encode_body(self.name, body)))

    async def receive(self, max_messages: int = 1) -> list[Delivery]:
        return []  # Cloudflare pushes batches to the consumer Worker

    async def ack(self, delivery: Delivery) -> None:  # pragma: no cover - producers do not consume
        raise NotImplementedError("a producer binding does not consume")

    async def retry(self, delivery: Delivery, error: str) -> None:  # pragma: no cover
        raise NotImplementedError("a producer binding does not consume")

    async def renew(self, delivery: Delivery) -> bool:
        return True

    async def waiting_since(self) -> float | None:
        return None  # Cloudflare Queues tell no age of their backlog to a Worker


class BatchQueue:
    """The messages of one consumer invocation as a :class:`~leadminer.queues.Queue` for
    :func:`leadminer.flow.deliver`: ``ack``/``retry`` act on the message; a retry first records
    its error (see :class:`ErrorLog`). ``verdicts`` tells what each delivery got."""

    renew_every = None

    def __init__(self, stage: str, messages: list[Any], max_attempts: int, errors: ErrorLog):
        self.name = stage
        self.max_attempts = max_attempts
        self.errors = errors
        self.dead = None
        self._messages = {str(m.id): m for m in messages}
        self.verdicts: dict[str, str] = {}

    def deliveries(self) -> list[Delivery]:
        return [Delivery(key, _body(m), int(m.attempts)) for key, m in self._messages.items()]

    async def ack(self, delivery: Delivery) -> None:
        self._messages[str(delivery.id)].ack()
        self.verdicts[str(delivery.id)] = "ack"

    async def retry(self, delivery: Delivery, error: str) -> None:
        body = delivery.body
        mining_id = body.get("mining_id", "") if isinstance(body, dict) else ""
        await self.errors.save_error(self.name, canonical(body), mining_id, error, delivery.attempts)
        self._messages[str(delivery.id)].retry()
        self.verdicts[str(delivery.id)] = "retry"

    async def retry_rest(self) -> None:
        """Retry what got no verdict (a handler that gave up on an unreachable store):
        a consumer that returns would ack it."""
        for key, message in self._messages.items():
            if key not in self.verdicts:
                message.retry()
                self.verdicts[key] = "retry"

    async def send(self, body: Any) -> None:  # pragma: no cover
        raise NotImplementedError("a consumer batch does not send")

    async def receive(self, max_messages: int = 1) -> list[Delivery]:
        return []

    async def renew(self, delivery: Delivery) -> bool:
        return str(delivery.id) not in self.verdicts

    async def waiting_since(self) -> float | None:
        return None


def _body(message: Any) -> Any:
    body = message.body
    if hasattr(body, "to_py"):  # a JsProxy the SDK left unconverted
        body = body.to_py()
    return body
