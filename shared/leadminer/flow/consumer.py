"""The ack / retry / dead-letter policy, written once around the flow's handlers.

Every mode's loop hands deliveries to :func:`deliver` (or runs a
:class:`StageWorker`): a handler that returns is acked; one that raises is
retried with its error, and after the queue's ``max_attempts`` the message is
a dead letter. Dead letters are consumed here too: each one ends its mining as
failed, with the stage's last error as the reason. Handlers are idempotent
(see :mod:`leadminer.flow.mining`), so a redelivery never doubles anything.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ..queues import Delivery, Queue
from .mining import MiningFlow, describe
from .services import STAGES

log = logging.getLogger("leadminer.flow")


async def deliver(queue: Queue, delivery: Delivery, handler: Callable[[Any], Awaitable[None]]) -> bool:
    """Run ``handler(body)``; ack on success, retry with the error otherwise. True if it succeeded."""
    try:
        await handler(delivery.body)
    except Exception as exc:  # retried, then a dead letter that fails the mining
        log.warning(
            "%s: %s (attempt %d of %d)", queue.name, describe(exc), delivery.attempts, queue.max_attempts,
            exc_info=log.isEnabledFor(logging.DEBUG),
        )  # fmt: skip
        await queue.retry(delivery, describe(exc))
        return False
    await queue.ack(delivery)
    return True


class StageWorker:
    """Takes the messages of every stage queue, and their dead letters, to the flow."""

    def __init__(self, flow: MiningFlow, *, batch: int = 1):
        self.flow = flow
        self.queues = flow.services.queues
        self.batch = batch  # deliveries taken per queue and round

    async def step(self) -> int:
        """One round: dead letters first, then the stages from the last one (finishing
        minings before starting new work). Returns how many deliveries were handled."""
        handled = 0
        for stage in reversed(STAGES):
            dead = self.queues[stage].dead
            for delivery in await dead.receive(self.batch):
                handled += 1
                await deliver(dead, delivery, self._dead_letter_handler(stage, delivery))
        for stage in reversed(STAGES):
            queue = self.queues[stage]
            for delivery in await queue.receive(self.batch):
                handled += 1
                await deliver(queue, delivery, lambda body, stage=stage: self.flow.handle(stage, body))
        return handled

    def _dead_letter_handler(self, stage: str, delivery: Delivery) -> Callable[[Any], Awaitable[None]]:
        return lambda body: self.flow.dead_letter(stage, body, delivery.error, delivery.attempts)

    async def drain(self) -> int:
        """Rounds until every queue is empty (the embedded and in-memory loops)."""
        handled = 0
        while done := await self.step():
            handled += done
        return handled

    async def run(
        self,
        stop: Callable[[], bool],
        *,
        idle_wait: float = 0.1,
        on_round: Callable[[], Awaitable[None]] | None = None,
    ) -> int:
        """Rounds until ``stop()`` (asked between rounds); waits ``idle_wait`` seconds after a
        round with nothing to do (queues that block on receive make this wait short).
        ``on_round`` is awaited before each round (a mode's periodic chores)."""
        handled = 0
        while not stop():
            if on_round is not None:
                await on_round()
            done = await self.step()
            handled += done
            if not done and not stop():
                await asyncio.sleep(idle_wait)
        return handled
