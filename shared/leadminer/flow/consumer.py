"""The ack / retry / dead-letter policy, written once around the flow's handlers.

Every mode's loop hands deliveries to :func:`deliver` (or runs a
:class:`StageWorker`): a handler that returns is acked; one that raises is
retried with its error, and after the queue's ``max_attempts`` the message is
a dead letter. Dead letters are consumed here too: each one ends its mining as
failed, with the stage's last error as the reason. Handlers are idempotent
(see :mod:`leadminer.flow.mining`), so a redelivery never doubles anything.

While a handler runs, a heartbeat (an asyncio task, no thread) renews the delivery
every ``queue.renew_every`` seconds, so a long handler (the fetch of a big
mailbox) keeps its delivery instead of having it taken over by another consumer
as if its own had died.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ..queues import Delivery, Queue
from ..storage import StoreUnavailable
from .mining import MiningFlow, describe
from .services import QUEUES

log = logging.getLogger("leadminer.flow")


class Outage:
    """Waits out a store that cannot be reached: bounded exponential back-off, one log line
    when it starts and one when it ends (not one per try)."""

    def __init__(self, first: float = 0.1, longest: float = 5.0):
        self.first, self.longest = first, longest
        self.delay = 0.0
        self.since: float | None = None

    async def wait(self, exc: BaseException) -> None:
        loop = asyncio.get_running_loop()
        if self.since is None:
            self.since = loop.time()
            self.delay = self.first
            log.warning("a store is unreachable (%s); waiting for it, then going on", describe(exc))
        await asyncio.sleep(self.delay)
        self.delay = min(self.longest, self.delay * 2)

    def over(self) -> None:
        if self.since is not None:
            log.warning("the store is reachable again after %.1f s", asyncio.get_running_loop().time() - self.since)
            self.since = None


async def _hold(queue: Queue, delivery: Delivery, done: asyncio.Event) -> None:
    """Renew ``delivery`` every ``queue.renew_every`` seconds until ``done`` is set. Never
    cancelled in the middle of a call: the handler may share its connection."""
    while True:
        try:
            await asyncio.wait_for(done.wait(), queue.renew_every)
            return
        except TimeoutError:
            pass
        try:
            held = await queue.renew(delivery)
        except StoreUnavailable:
            continue  # the handler meets the outage too, and waits it out
        if not held:
            log.warning("%s: delivery %s was taken over by another consumer while its handler ran", queue.name, delivery.id)
            return


async def deliver(
    queue: Queue,
    delivery: Delivery,
    handler: Callable[[Any], Awaitable[None]],
    *,
    stop: Callable[[], bool] = lambda: False,
    outage: Outage | None = None,
    outage_limit: float | None = None,
) -> bool:
    """Run ``handler(body)``; ack on success, retry with the error otherwise. True if it succeeded.

    A store that cannot be reached (:class:`~leadminer.storage.StoreUnavailable`) is not the
    message's fault: the handler runs again once the store is back (handlers are idempotent),
    without counting an attempt; if ``stop()`` comes first, or the store stays unreachable for
    ``outage_limit`` seconds (None: no limit), the delivery is left unacked and no longer
    renewed: another consumer (or this one) takes it over after the claim time, which counts
    an attempt, so a store that stays away fails the mining after ``max_attempts`` such
    limits instead of holding it for ever. The delivery is renewed while the handler runs."""
    outage = outage or Outage()
    if not queue.renew_every:
        return await _deliver(queue, delivery, handler, stop, outage, outage_limit)
    done = asyncio.Event()
    heartbeat = asyncio.create_task(_hold(queue, delivery, done))
    try:
        return await _deliver(queue, delivery, handler, stop, outage, outage_limit)
    finally:
        done.set()
        await heartbeat


async def _deliver(
    queue: Queue,
    delivery: Delivery,
    handler: Callable[[Any], Awaitable[None]],
    stop: Callable[[], bool],
    outage: Outage,
    outage_limit: float | None,
) -> bool:
    loop = asyncio.get_running_loop()
    unreachable_since: float | None = None  # this delivery's wait for the store
    while True:
        try:
            await handler(delivery.body)
        except StoreUnavailable as exc:
            if stop():
                return False
            unreachable_since = loop.time() if unreachable_since is None else unreachable_since
            if outage_limit is not None and loop.time() - unreachable_since >= outage_limit:
                log.warning(
                    "%s: gave delivery %s up after waiting %.0f s for the store (LEADMINER_OUTAGE_LIMIT_SECONDS); "
                    "left unacked, it is taken over after the claim time (attempt %d of %d)",
                    queue.name, delivery.id, loop.time() - unreachable_since, delivery.attempts + 1, queue.max_attempts,
                )  # fmt: skip
                return False
            await outage.wait(exc)
            continue
        except Exception as exc:  # retried, then a dead letter that fails the mining
            log.warning(
                "%s: %s (attempt %d of %d)", queue.name, describe(exc), delivery.attempts, queue.max_attempts,
                exc_info=log.isEnabledFor(logging.DEBUG),
            )  # fmt: skip
            outage.over()
            await queue.retry(delivery, describe(exc))
            return False
        outage.over()
        await queue.ack(delivery)
        await asyncio.sleep(0)  # a point where a cancellation (Ctrl-C, SIGTERM) gets in
        return True


class StageWorker:
    """Takes the messages of every stage queue, and their dead letters, to the flow."""

    def __init__(
        self,
        flow: MiningFlow,
        *,
        batch: int = 1,
        stop: Callable[[], bool] = lambda: False,
        outage_limit: float | None = None,
    ):
        self.flow = flow
        self.queues = flow.services.queues
        self.batch = batch  # deliveries taken per queue and round
        self.stop = stop  # asked while a store is unreachable
        self.outage = Outage()
        self.outage_limit = outage_limit  # seconds a delivery waits for an unreachable store (see deliver)

    async def step(self) -> int:
        """One round: dead letters first, then the stages from the last one (finishing
        minings before starting new work: refine … extract, fetch last). Returns how many
        deliveries were handled."""
        handled = 0
        stages = [stage for stage in reversed(QUEUES) if stage in self.queues]  # refine … extract, then fetch
        for stage in stages:
            dead = self.queues[stage].dead
            for delivery in await dead.receive(self.batch):
                handled += 1
                await self._deliver(dead, delivery, self._dead_letter_handler(stage, delivery))
        for stage in stages:
            queue = self.queues[stage]
            for delivery in await queue.receive(self.batch):
                handled += 1
                handler = lambda body, stage=stage: self.flow.handle(stage, body)  # noqa: E731
                await self._deliver(queue, delivery, handler)
        return handled

    async def _deliver(self, queue: Queue, delivery: Delivery, handler: Callable[[Any], Awaitable[None]]) -> bool:
        return await deliver(queue, delivery, handler, stop=self.stop, outage=self.outage, outage_limit=self.outage_limit)

    def _dead_letter_handler(self, stage: str, delivery: Delivery) -> Callable[[Any], Awaitable[None]]:
        return lambda body: self.flow.dead_letter(stage, body, delivery.error, delivery.failed_attempts)

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
        """Rounds until ``stop()`` (asked between rounds and while a store is unreachable);
        waits ``idle_wait`` seconds after a round with nothing to do (queues that block on
        receive make this wait short). ``on_round`` is awaited before each round (a mode's
        periodic chores). A queue or store that cannot be reached is waited out."""
        self.stop = stop
        handled = 0
        while not stop():
            try:
                if on_round is not None:
                    await on_round()
                done = await self.step()
            except StoreUnavailable as exc:
                await self.outage.wait(exc)
                continue
            self.outage.over()
            handled += done
            if not done and not stop():
                await asyncio.sleep(idle_wait)
        return handled
