"""The Cloudflare mode's loop: what a Python Worker does with a queue batch, over the flow
(:mod:`leadminer.flow`) and the Cloudflare adapters. ``workers/<name>/entry.py`` only
hands its batch and env here.

Queue names are ``mining-<stage>-<env>`` and their dead letters ``mining-<stage>-<env>-dlq``
(wrangler/*.toml). A message of a stage goes through :func:`leadminer.flow.deliver` (the one
ack / retry policy): acked once handled, retried with its error otherwise (the error kept in
D1); after ``max_retries`` Cloudflare moves it to the dead-letter queue, whose consumer ends
the mining as failed with that error. A store that cannot be reached is not waited out in a
Worker (``outage_limit=0``): the message is retried, which counts an attempt.
"""

from __future__ import annotations

import logging
from typing import Any

from ...flow import MiningFlow, MiningServices, deliver
from ...flow.services import QUEUES
from ...storage import MainStore
from ..postgrest import PostgrestMainStore
from .d1 import D1MainStore, D1TempStore
from .fetch import FetchTransport
from .queues import BatchQueue, ProducerQueue, canonical
from .r2 import R2RawBatchStore
from .fetcher import CloudflareSourceOpener

log = logging.getLogger("leadminer.cloudflare")

DEFAULT_MAX_RETRIES = 3  # wrangler/*.toml max_retries: a message is handled at most 1 + 3 times
STALE_SECONDS = 3600.0
"""The cron cleanup ends a running mining after this long without activity (Cloudflare tells a
Worker nothing of a queue's backlog, so this must exceed the longest wait behind other minings)."""


def _binding(env: Any, name: str) -> Any:
    return getattr(env, name, None)


def main_store(env: Any) -> MainStore:
    """The main store ``LEADMINER_MAIN_STORE`` names: ``supabase`` (production: PostgREST at
    ``SUPABASE_URL`` with the secret ``SUPABASE_SERVICE_ROLE_KEY``, over the Worker's ``fetch``) or
    ``d1`` (the SQLite schema on the D1 binding ``MAIN_DB``: a local stack without PostgreSQL)."""
    mode = str(_binding(env, "LEADMINER_MAIN_STORE") or "supabase")
    if mode == "d1":
        return D1MainStore(env.MAIN_DB)
    if mode != "supabase":
        raise RuntimeError(f"LEADMINER_MAIN_STORE={mode!r}: expected 'supabase' or 'd1'")
    url, key = _binding(env, "SUPABASE_URL"), _binding(env, "SUPABASE_SERVICE_ROLE_KEY")
    if not url or not key:
        missing = [name for name, value in (("SUPABASE_URL", url), ("SUPABASE_SERVICE_ROLE_KEY", key)) if not value]
        raise RuntimeError(f"the Supabase main store needs {' and '.join(missing)} (docs/cloudflare.md, Deploy)")
    return PostgrestMainStore(str(url), str(key), FetchTransport())


def services(env: Any, max_attempts: int = DEFAULT_MAX_RETRIES + 1) -> MiningServices:
    """The flow's ports over a Worker's bindings: D1 ``DB`` (temp store + run ledger), R2 ``RAW``
    (raw batches and uploads), the main store (:func:`main_store`) and the producer bindings
    ``<STAGE>_QUEUE`` the Worker has."""
    temp = D1TempStore(env.DB)
    queues = {}
    for stage in QUEUES:
        binding = _binding(env, f"{stage.upper()}_QUEUE")
        if binding is not None:
            queues[stage] = ProducerQueue(stage, binding, max_attempts)
    main = main_store(env)
    return MiningServices(
        temp=temp, ledger=temp, raw=R2RawBatchStore(env.RAW), main=main, queues=queues,
        sources=CloudflareSourceOpener(env, main),
    )  # fmt: skip


def stage_of(queue_name: str) -> tuple[str, bool]:
    """``mining-extract-staging`` → (``extract``, False); ``…-dlq`` → (…, True)."""
    dead = queue_name.endswith("-dlq")
    name = queue_name[: -len("-dlq")] if dead else queue_name
    parts = name.split("-")
    if len(parts) < 3 or parts[0] != "mining" or parts[1] not in QUEUES:
        raise ValueError(f"not a mining queue: {queue_name!r}")
    return parts[1], dead


async def consume(batch: Any, env: Any) -> dict[str, str]:
    """Handle one queue batch; returns each message's verdict (``ack`` / ``retry``)."""
    stage, dead = stage_of(str(batch.queue))
    s = services(env)
    flow = MiningFlow(s)
    messages = list(batch.messages)
    batch_queue = BatchQueue(stage, messages, DEFAULT_MAX_RETRIES + 1, s.temp)
    for delivery in batch_queue.deliveries():
        if dead:
            await deliver(batch_queue, delivery, lambda body: _dead_letter(flow, s.temp, stage, body), outage_limit=0)
        else:
            await deliver(batch_queue, delivery, lambda body: flow.handle(stage, body), outage_limit=0)
    await batch_queue.retry_rest()
    return batch_queue.verdicts


async def _dead_letter(flow: MiningFlow, temp: D1TempStore, stage: str, body: Any) -> None:
    if not isinstance(body, dict) or "mining_id" not in body:
        log.error("dead letter of %s without a mining id dropped: %r", stage, body)
        return
    error, attempts = await temp.last_error(stage, canonical(body))
    await flow.dead_letter(stage, body, error, attempts or DEFAULT_MAX_RETRIES + 1)


async def cleanup(env: Any) -> list[str]:
    """The cron trigger: end minings that died, drop leftovers of ended ones."""
    return await MiningFlow(services(env)).cleanup(stale_seconds=STALE_SECONDS)


async def migrate(env: Any) -> None:
    """Create the D1 tables (the local stack; production runs ``wrangler d1 migrations apply``) and
    check the main store (Supabase's schema is applied by its own migration: ``scripts/cf deploy``)."""
    s = services(env)
    await s.temp.migrate()
    await s.main.migrate()
