"""Self-host mode (``STORAGE_MODE=postgresql``): the embedded runner's stages,
chained through Redis Streams, with any number of runner processes.

fetch ─► [extract] ×N batches ─► barrier ─► [clean] ─► [signature] ─► [refine] ─► finish

* :func:`start_mining` runs where the mailbox is read (the CLI process): it
  stores each batch of raw messages in the temp database (``mining_raw``) and
  sends ``{"mining_id", "batch"}`` to ``extract``; raw mail never goes through
  Redis. The mining's context (user, source label, identities) is stored at
  start in ``mining_runs``, so any runner can pick the mining up from its id.
* :func:`run_worker` (``leadminer selfhost worker``, one per process, as many
  processes as wanted) takes messages from every stage queue in turn.
* Fan-in: an extracted batch is recorded once (``mining_batches``, keyed by
  batch number) whatever the deliveries; the fetcher records the number of
  batches when it ends. Whoever sees every batch done (the fetcher, or the
  consumer of the last batch) claims the hand-off with a conditional update,
  and only the claimer sends ``{"mining_id"}`` to ``clean``.
* clean → signature → refine: one message per stage per mining. A stage runs
  under the mining's advisory lock and is recorded (``mining_steps``) before
  the next message is sent, so a duplicate delivery waits, finds the stage
  done and only re-sends the next message (whose duplicate is skipped the
  same way, and once the mining is finished every message of it is dropped).
  After refine: fetch state saved, failures recorded, the mining ``done``
  with the same stats as the embedded runner, temp rows dropped.
* Failures: a handler's exception retries the message (3 attempts); a dead
  letter, whether buried by a retry or because its runner kept dying, is
  consumed from ``leadminer:<stage>:dead`` (consumer group
  ``leadminer-failures``) and fails its mining with the error as reason.
  A mining without progress for a long time (its fetcher died) is ended by
  :func:`cleanup_dead_minings`.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import redis

from leadminer.contracts import FailedMessage, RawMessage
from leadminer.mx import MxChecker
from leadminer.pipeline import SignatureExtractor
from leadminer.queues import Delivery
from leadminer.stages import (
    MiningContext,
    contact_tag_counts,
    handle_clean,
    handle_extract,
    handle_refine,
    handle_signatures,
    mining_identity_keys,
)
from leadminer.storage import BatchCounts, FolderState, MainStore, MiningRun, TempStore

from .embedded import DEFAULT_BATCH, DeferredStateStore, MessageSource, MiningSummary, mining_stats
from .redis_queue import RedisStreamQueue

log = logging.getLogger(__name__)

STAGES = ("extract", "clean", "signature", "refine")
NEXT = dict(zip(STAGES[1:], STAGES[2:]))  # the stage each later stage hands the mining to
FAILURES_GROUP = "leadminer-failures"
DEFAULT_CLAIM_IDLE_MS = 300_000  # must exceed the longest stage run (see redis_queue)
DEFAULT_STALE_SECONDS = 3_600.0  # a running mining without progress this long is dead

Stores = tuple[TempStore, MainStore]


@dataclass(slots=True)
class StageQueues:
    """The stage queues of one runner, and consumers of their dead-letter streams."""

    stages: dict[str, RedisStreamQueue]
    dead: dict[str, RedisStreamQueue]


def redis_queues(
    client: redis.Redis,
    *,
    prefix: str = "",
    consumer: str | None = None,
    claim_idle_ms: int = DEFAULT_CLAIM_IDLE_MS,
    max_attempts: int = 3,
) -> StageQueues:
    """Streams ``leadminer:<prefix><stage>``; ``prefix`` keeps tests (or several
    installations on one Redis) apart. ``consumer`` names this runner (default host-pid)."""
    options = {"consumer": consumer, "claim_idle_ms": claim_idle_ms, "max_attempts": max_attempts}
    stages = {name: RedisStreamQueue(prefix + name, client, **options) for name in STAGES}
    dead = {
        name: RedisStreamQueue(f"{prefix}{name}:dead", client, group=FAILURES_GROUP, **options) for name in STAGES
    }
    return StageQueues(stages, dead)


# fetch ------------------------------------------------------------------------
def start_mining(
    source: MessageSource,
    user_id: str,
    identities: Iterable[str],
    stores: Stores,
    queues: StageQueues,
    *,
    batch_size: int = DEFAULT_BATCH,
) -> str:
    """Read ``source`` into raw batches for the workers; returns the mining id.
    Returns once the fetch is over: the workers finish the mining."""
    temp, main = stores
    mining_id = uuid.uuid4().hex
    main.start_mining(mining_id, user_id, source.label)
    temp.start_run(mining_id, user_id, source.label, identities)
    state_store = DeferredStateStore(main)  # saved by the worker that finishes the mining
    fetched = failed = batches = 0
    batch: list[RawMessage] = []

    def flush() -> None:
        nonlocal batches, batch
        temp.add_raw_batch(mining_id, batches, batch)
        queues.stages["extract"].send({"mining_id": mining_id, "batch": batches})
        batches += 1
        batch = []

    try:
        for item in source.iter_messages(mining_id, state_store):
            fetched += 1
            if isinstance(item, FailedMessage):  # unreadable file or member: recorded, never dropped
                temp.add_failures(mining_id, [item])
                failed += 1
                continue
            batch.append(item)
            if len(batch) >= batch_size:
                flush()
        if batch:
            flush()
        pending = [[*key, s.uidvalidity, s.highest_uid] for key, s in state_store.pending.items()]
        temp.end_fetch(mining_id, batches=batches, fetched=fetched, failed=failed, fetch_state=pending)
        if temp.claim_clean(mining_id):  # every batch was extracted already (or there was none)
            queues.stages["clean"].send({"mining_id": mining_id})
    except BaseException as exc:
        fail_mining(stores, mining_id, f"fetch failed: {type(exc).__name__}: {exc}")
        raise
    return mining_id


# workers ----------------------------------------------------------------------
class Worker:
    """One runner: handles one message of each queue per round (:meth:`step`)."""

    def __init__(
        self,
        stores: Stores,
        queues: StageQueues,
        *,
        mx: MxChecker | None = None,
        signature_extractor: SignatureExtractor | None = None,
    ):
        self.temp, self.main = stores
        self.queues = queues
        self.runs = {
            "clean": lambda ctx: handle_clean(ctx, mx),
            "signature": lambda ctx: handle_signatures(ctx, signature_extractor),
            "refine": handle_refine,
        }

    def step(self) -> int:
        """One round: dead letters first, then the stages from the last one (finishing
        minings before starting new work). Returns how many messages were handled."""
        handled = 0
        for name in reversed(STAGES):
            dead = self.queues.dead[name]
            handled += self._take(dead, lambda d, name=name, dead=dead: self._dead_letter(name, dead, d))
        for name in reversed(STAGES):
            handled += self._take(self.queues.stages[name], lambda d, name=name: self._handle(name, d.body))
        return handled

    def run(self, stop: Callable[[], bool], poll: float = 0.1) -> int:
        """Rounds until ``stop()``; sleeps ``poll`` seconds after a round with nothing to do."""
        handled = 0
        while not stop():
            done = self.step()
            handled += done
            if not done and not stop():
                time.sleep(poll)
        return handled

    def _take(self, queue: RedisStreamQueue, handler: Callable[[Delivery], None]) -> int:
        deliveries = queue.receive(1)
        for delivery in deliveries:
            try:
                handler(delivery)
            except Exception as exc:  # retried, then a dead letter that fails the mining
                log.warning("%s: %s (attempt %d)", queue.name, exc, delivery.attempts, exc_info=True)
                queue.retry(delivery, f"{type(exc).__name__}: {exc}")
            else:
                queue.ack(delivery)
        return len(deliveries)

    def _handle(self, name: str, body: dict) -> None:
        if name == "extract":
            self._extract(body)
        else:
            self._stage(name, body)

    def _context(self, run: MiningRun) -> MiningContext:
        return MiningContext(run.mining_id, run.user_id, self.temp, self.main, list(run.identities))

    def _extract(self, body: dict) -> None:
        mining_id, batch_no = body["mining_id"], body["batch"]
        run = self.temp.run(mining_id)
        if run is None:
            return  # the mining ended (failed, cleaned up): nothing to do
        raws = self.temp.raw_batch(mining_id, batch_no)
        if raws:  # empty: an earlier delivery extracted it (finish_batch is atomic)
            result = handle_extract(self._context(run), raws)
            records = result.extracted + result.already_mined + result.duplicates
            counts = BatchCounts(records, result.already_mined, result.failed, result.contacts)
            self.temp.finish_batch(mining_id, batch_no, counts)
        if self.temp.claim_clean(mining_id):
            self.queues.stages["clean"].send({"mining_id": mining_id})

    def _stage(self, name: str, body: dict) -> None:
        mining_id = body["mining_id"]
        with self.temp.mining_lock(mining_id):
            run = self.temp.run(mining_id)
            if run is None:
                return  # finished, failed or cleaned up: a duplicate message
            ctx = self._context(run)
            if name not in run.steps:
                run.steps[name] = self.runs[name](ctx)
                self.temp.mark_step(mining_id, name, run.steps[name])
            if name == "refine":
                self._finish(ctx, run)
            else:
                self.queues.stages[NEXT[name]].send({"mining_id": mining_id})

    def _finish(self, ctx: MiningContext, run: MiningRun) -> None:
        summary = _summary(ctx, run)
        for user_id, source, folder, uidvalidity, highest_uid in run.fetch_state:
            self.main.save_folder_state(user_id, source, folder, FolderState(uidvalidity, highest_uid))
        self.main.record_failures(summary.failures)
        self.main.finish_mining(run.mining_id, "done", mining_stats(summary))
        self.temp.drop_mining(run.mining_id)

    def _dead_letter(self, stage: str, queue: RedisStreamQueue, delivery: Delivery) -> None:
        error = queue.entry_error(delivery) or "unknown error"
        fail_mining((self.temp, self.main), delivery.body["mining_id"], f"{stage} stage failed: {error}")


def _summary(ctx: MiningContext, run: MiningRun) -> MiningSummary:
    """The embedded runner's summary, from what the stages recorded."""
    totals = ctx.temp.batch_totals(run.mining_id)
    keys = mining_identity_keys(ctx)
    return MiningSummary(
        mining_id=run.mining_id,
        source=run.source,
        fetched=run.fetched,
        extracted=totals["extracted"],
        already_mined=totals["already_mined"],
        duplicates=totals["records"] - totals["already_mined"] - totals["extracted"],
        failed=run.fetch_failed + totals["failed"],
        persons=run.steps["refine"],
        signatures=run.steps["signature"],
        seconds=round(time.time() - run.started, 3),
        identities=sorted(keys),
        tags=contact_tag_counts(ctx),
        failures=ctx.temp.failures(run.mining_id),
    )


def run_worker(
    stores: Stores,
    queues: StageQueues,
    *,
    stop: Callable[[], bool] = lambda: False,
    poll: float = 0.1,
    mx: MxChecker | None = None,
    signature_extractor: SignatureExtractor | None = None,
) -> int:
    """Handle messages of every stage until ``stop()`` (checked between messages);
    returns how many were handled. Start more processes to scale out."""
    return Worker(stores, queues, mx=mx, signature_extractor=signature_extractor).run(stop, poll)


# ends of minings ----------------------------------------------------------------
def fail_mining(stores: Stores, mining_id: str, reason: str) -> bool:
    """End a running mining as 'failed' with ``reason``; False if it had already ended."""
    temp, main = stores
    with temp.mining_lock(mining_id):
        run = temp.run(mining_id)
        if run is None:
            return False
        main.record_failures(temp.failures(mining_id))
        main.finish_mining(mining_id, "failed", {"error": reason, "fetched": run.fetched})
        temp.drop_mining(mining_id)
    log.error("mining %s failed: %s", mining_id, reason)
    return True


def cleanup_dead_minings(stores: Stores, *, stale_seconds: float = DEFAULT_STALE_SECONDS) -> list[str]:
    """Mark 'running' minings without progress for ``stale_seconds`` as interrupted and drop
    their temp rows, and the temp rows of minings that are no longer running."""
    temp, main = stores
    now = time.time()
    dead = []
    for mining in main.minings(status="running"):
        run = temp.run(mining["id"])
        last = run.updated if run else datetime.fromisoformat(mining["started_at"]).timestamp()
        if now - last > stale_seconds:
            main.finish_mining(mining["id"], "interrupted", {"error": f"no progress for {now - last:.0f} s"})
            dead.append(mining["id"])
    running = {m["id"] for m in main.minings(status="running")}
    for mining_id in temp.mining_ids():
        if mining_id not in running:
            temp.drop_mining(mining_id)
    return dead


def mining_summary(main: MainStore, mining_id: str) -> MiningSummary | None:
    """The summary of a mining that is done (as ``leadminer mine`` prints it), else None."""
    mining = main.mining(mining_id)
    if mining is None or mining["status"] != "done":
        return None
    fields = {name: mining["stats"][name] for name in MiningSummary.__slots__ if name != "failures"}
    return MiningSummary(**fields, failures=main.failures(mining_id))
