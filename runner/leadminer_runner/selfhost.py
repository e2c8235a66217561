"""Self-host mode (``STORAGE_MODE=postgresql``): the mining flow with its stages
chained through Redis Streams, its temporary and permanent data in PostgreSQL,
and any number of worker processes on any machine.

This module is only the mode's loops: :func:`enqueue_mining` reads a source
into the queues where the mailbox is (the CLI process), :func:`run_worker`
takes messages of every stage (``leadminer selfhost worker``, one per process,
as many processes as wanted) and ends dead minings on a schedule. The flow —
fan-in, steps, finish, failure, stop — is :mod:`leadminer.flow`; the services
come from :mod:`leadminer_runner.services`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from leadminer.flow import DEFAULT_BATCH, MessageSource, MiningFlow, MiningServices, StageWorker

log = logging.getLogger(__name__)

CLEANUP_INTERVAL_SECONDS = 60.0
CLEANUP_LOCK = "leadminer:cleanup"  # taken as a mining lock: one worker cleans up at a time


async def enqueue_mining(
    services: MiningServices,
    source: MessageSource,
    *,
    user_id: str,
    identities: Iterable[str],
    batch_size: int = DEFAULT_BATCH,
) -> str:
    """Start a mining and read ``source`` into raw batches for the workers; returns the
    mining id once the fetch is over (the workers finish the mining)."""
    flow = MiningFlow(services)
    mining_id = await flow.start(user_id=user_id, source=source.label, identities=identities)
    await flow.fetch(mining_id, source, batch_size=batch_size)
    return mining_id


async def run_worker(
    services: MiningServices,
    *,
    stop: Callable[[], bool] = lambda: False,
    idle_wait: float = 0.1,
    stale_seconds: float | None = None,
    outage_limit: float | None = None,
) -> int:
    """Handle messages of every stage until ``stop()`` (asked between messages); returns
    how many were handled. With ``stale_seconds``, also ends dead minings (no activity for
    that long, nothing of theirs waiting or running: :meth:`MiningFlow.cleanup`), at most
    once every ``CLEANUP_INTERVAL_SECONDS``.
    ``outage_limit``: seconds a delivery waits for an unreachable store before it is left
    unacked for a later claim (:func:`leadminer.flow.deliver`)."""
    flow = MiningFlow(services)
    next_cleanup = 0.0

    async def cleanup_when_due() -> None:
        nonlocal next_cleanup
        if stale_seconds is None or time.monotonic() < next_cleanup:
            return
        next_cleanup = time.monotonic() + CLEANUP_INTERVAL_SECONDS
        async with services.ledger.mining_lock(CLEANUP_LOCK):  # one worker at a time
            ended = await flow.cleanup(stale_seconds=stale_seconds)
        for mining_id in ended:
            log.warning("mining %s ended as interrupted: no progress for %.0f s", mining_id, stale_seconds)

    return await StageWorker(flow, outage_limit=outage_limit).run(stop, idle_wait=idle_wait, on_round=cleanup_when_due)
