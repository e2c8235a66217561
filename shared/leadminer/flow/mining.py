"""The mining flow, written once for every mode.

fetch ─► [extract] ×N batches ─► fan-in ─► [clean] ─► [signature] ─► [refine] ─► finish

* :meth:`MiningFlow.start` records a mining (main store: ``running``; run
  ledger: its context, so any runner can pick it up from its id alone).
* :meth:`MiningFlow.fetch` reads a source into raw batches (raw-batch store)
  and sends ``{"mining_id", "batch"}`` to ``extract`` for each; raw mail never
  goes through a queue. When the source is read it records the number of
  batches and the fetch state (IMAP UIDs, saved only once the mining is done).
* Fan-in, exactly once: an extracted batch is recorded once in the ledger,
  whatever the deliveries; whoever sees every batch done (the fetch, or the
  consumer of the last batch) wins ``claim_clean`` and alone sends
  ``{"mining_id"}`` to ``clean``.
* clean → signature → refine: one message per stage per mining. A stage runs
  under the mining's lock and is recorded (a step) before the next message is
  sent, so a duplicate delivery finds the step done and only re-sends the next
  message; once the mining has ended its messages are dropped.
* After refine: fetch state saved, failures recorded, the mining ``done`` with
  its summary as stats, temporary rows dropped.
* An import of contacts (:meth:`MiningFlow.start_import`) has no fetch and no extract:
  its rows wait as raw batch 0 and its clean and refine steps run the import handlers
  (:mod:`leadminer.imports`).
* Whatever the end, the mining's temporary rows go with what its source left (the
  opener's optional ``release``: an uploaded file in the spool folder).
* A stop (:meth:`stop`), a dead letter (:meth:`dead_letter`, the stage's error
  as reason) or a failed fetch ends the mining the same way (:meth:`end`): the
  run is marked ended (every later message of it is dropped), the mining gets
  its status, and its temporary rows go under its lock. A stop does not wait
  for that lock: when a stage holds it, that stage drops the rows once it sees
  the end. :meth:`cleanup` ends minings whose runner died (no activity, nothing
  waiting in a queue, nothing running).

The ack / retry / dead-letter policy around these handlers is in
:mod:`leadminer.flow.consumer`; a mode writes only its loop and its adapters.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from functools import partial

from ..contracts import FailedMessage, RawMessage
from ..imports import (
    IMPORT_PREFIX,
    ImportedContact,
    from_raw,
    handle_import_clean,
    handle_import_refine,
    is_import,
    merged_rows,
    to_raw,
)
from ..stages import (
    MiningContext,
    contact_tag_counts,
    handle_clean,
    handle_extract,
    handle_refine,
    handle_signatures,
    mining_identity_keys,
)
from ..storage import BatchCounts, FolderState, MiningRun, StoreUnavailable
from .services import DEFAULT_BATCH, NEXT_STAGE, MiningServices
from .sources import FetchState, MessageSource, aiter_items
from .summary import MiningProgress, MiningSummary

log = logging.getLogger("leadminer.flow")

_IDENTITY_CACHE_SIZE = 64
QUEUE_CLOCK_SLACK_SECONDS = 60.0
"""How far the queue server's clock (which dates the messages) may be from a runner's (which
dates a mining's activity) without the cleanup taking a waiting mining for a dead one."""
OnBatch = Callable[[MiningProgress | None], Awaitable[None]]
OnStageProgress = Callable[[str, str, str, int, "int | None"], None]
"""``(mining_id, stage, phase, done, total)``: see :data:`leadminer.stages.StageProgress`."""


def interrupted(exc: BaseException) -> bool:
    """Ctrl-C: a KeyboardInterrupt, or the cancellation ``asyncio.run`` turns it into."""
    return isinstance(exc, KeyboardInterrupt | asyncio.CancelledError)


def describe(exc: BaseException) -> str:
    """An exception as one line for a user: its type and message."""
    if interrupted(exc):
        return "interrupted by the user"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def fetch_lease(mining_id: str) -> str:
    """The name of the lock a worker holds while it reads the mining's source (taken with
    :meth:`~leadminer.storage.RunLedger.mining_lock`)."""
    return f"{mining_id}:fetch"


@dataclass(frozen=True, slots=True)
class MiningOptions:
    """How a mining is mined, chosen when it starts and kept in the run ledger with it
    (so any process running a later stage honours it)."""

    extract_signatures: bool = True  # False: the signature stage reads nothing (Leadminer's extractSignatures)

    def to_json(self) -> dict:
        return {"extract_signatures": self.extract_signatures}

    @classmethod
    def from_json(cls, data: dict | None) -> MiningOptions:
        data = data or {}
        return cls(extract_signatures=bool(data.get("extract_signatures", True)))


class MiningFlow:
    """The handlers of every step of a mining, over the ports of ``services``.

    Keeps no mining state of its own: everything a step needs is in the ports,
    so any process (a CLI, a worker, a Worker isolate) can run any step."""

    def __init__(self, services: MiningServices, *, on_stage_progress: OnStageProgress | None = None):
        self.services = services
        self.on_stage_progress = on_stage_progress  # how far a later stage run here is (the CLI's display)
        # identity keys per mining: recomputable from the ports, kept to avoid reading
        # the mining's messages once per stage when one process runs several stages
        self._identities: dict[str, set[str]] = {}

    # start and fetch ---------------------------------------------------------------
    async def start(
        self, *, user_id: str, source: str, identities: Iterable[str] = (), options: MiningOptions | None = None
    ) -> str:
        """Record a new mining of ``source`` (a label, never a secret), mined as ``options``
        say (default: everything); returns its id."""
        s = self.services
        mining_id = uuid.uuid4().hex
        await s.main.start_mining(mining_id, user_id, source)
        await s.ledger.start_run(mining_id, user_id, source, list(identities), (options or MiningOptions()).to_json())
        return mining_id

    async def fetch(
        self,
        mining_id: str,
        source: MessageSource,
        *,
        batch_size: int = DEFAULT_BATCH,
        on_batch: OnBatch | None = None,
        progress_every: float = 0.0,
    ) -> bool:
        """Read ``source`` into raw batches for extract. ``on_batch`` is awaited after
        each batch is handed over (the embedded loop extracts it there), with the mining's
        progress, or None when the last progress given is less than ``progress_every``
        seconds old (counting the mining's messages costs more as they grow). Returns False
        when the mining ended meanwhile (stopped, failed), True once the fetch is over.
        Any exception ends the mining, with the reason, and is raised: 'interrupted' for Ctrl-C
        or SIGTERM, 'failed' otherwise."""
        s = self.services
        run = await s.ledger.run(mining_id)
        if run is None:
            return await self.abandon_fetch(mining_id)
        state = FetchState(run.user_id, run.source, await s.main.folder_states(run.user_id, run.source))
        fetched = failed = batches = 0
        batch: list[RawMessage] = []
        progress_given = float("-inf")  # time.monotonic() of the last progress given to on_batch
        try:
            total = source.count(state)
            await s.ledger.fetch_progress(mining_id, fetched=0, failed=0, total=total)

            async def hand_over() -> bool:
                nonlocal batches, batch, progress_given
                await self.store_batch(mining_id, batches, batch, fetched=fetched, failed=failed, total=total)
                batches += 1
                batch = []
                if on_batch is not None:
                    progress = None
                    if time.monotonic() - progress_given >= progress_every:
                        progress, progress_given = await self.progress(mining_id), time.monotonic()
                    await on_batch(progress)
                await asyncio.sleep(0)  # a point where a cancellation (Ctrl-C, SIGTERM) gets in
                return await s.ledger.run(mining_id) is not None

            async for item in aiter_items(source.iter_messages(mining_id, state)):
                if isinstance(item, FailedMessage):  # unreadable, or not mail: recorded, never dropped
                    await s.temp.add_failures(mining_id, [item])
                    if item.skipped:  # a file passed over is not a message read
                        continue
                    failed += 1
                    fetched += 1
                    continue
                fetched += 1
                batch.append(item)
                if len(batch) >= batch_size and not await hand_over():
                    return await self.abandon_fetch(mining_id)
            if batch and not await hand_over():
                return await self.abandon_fetch(mining_id)
            await self.end_fetch(mining_id, batches=batches, fetched=fetched, failed=failed, fetch_state=state.rows())
        except StoreUnavailable:
            raise  # not the source's fault: the worker waits the outage out and fetches again
        except BaseException as exc:
            if interrupted(exc):
                await self.end(mining_id, "interrupted", describe(exc))
            else:
                await self.end(mining_id, "failed", f"fetch: {describe(exc)}")
            raise
        return True

    async def store_batch(
        self, mining_id: str, batch_no: int, raws: list[RawMessage], *, fetched: int, failed: int, total: int | None
    ) -> None:
        """Hand raw batch ``batch_no`` over to extract: stored (a repeated batch keeps its first
        copy), ``{"mining_id", "batch"}`` sent, the fetch's counters written. The one hand-over of
        every fetch: :meth:`fetch` here, or a fetcher in another process through its mode's routes
        (the Cloudflare fetcher container)."""
        s = self.services
        await s.raw.add_raw_batch(mining_id, batch_no, raws)
        await s.queues["extract"].send({"mining_id": mining_id, "batch": batch_no})
        await s.ledger.fetch_progress(mining_id, fetched=fetched, failed=failed, total=total)

    async def end_fetch(self, mining_id: str, *, batches: int, fetched: int, failed: int, fetch_state: list[list]) -> None:
        """The source is read: ``batches`` raw batches were handed over; ``fetch_state`` (folder
        states, saved once the mining is done) recorded; clean is sent when every batch is
        already extracted (or there was none)."""
        s = self.services
        await s.ledger.end_fetch(mining_id, batches=batches, fetched=fetched, failed=failed, fetch_state=fetch_state)
        if await s.ledger.claim_clean(mining_id):
            await s.queues["clean"].send({"mining_id": mining_id})

    async def start_import(self, *, user_id: str, name: str, contacts: Iterable[ImportedContact]) -> str:
        """Start a mining of contacts imported from a file (``name``; see :mod:`leadminer.imports`):
        its rows are kept as one raw batch (counted as fetched: ``fetched`` and ``total`` are
        the rows), its fetch and that batch recorded as done, and the mining goes straight to
        clean (then refine), in whichever process serves the queues. Rows
        with the same address are merged; a row without an address raises ValueError."""
        rows = merged_rows(contacts)
        s = self.services
        mining_id = await self.start(user_id=user_id, source=f"{IMPORT_PREFIX}{name}")
        try:
            await s.raw.add_raw_batch(mining_id, 0, to_raw(mining_id, rows))
            await s.ledger.fetch_progress(mining_id, fetched=len(rows), failed=0, total=len(rows))
            await s.ledger.finish_batch(mining_id, 0, BatchCounts(len(rows), 0, 0, len(rows)))
            await self.end_fetch(mining_id, batches=1, fetched=len(rows), failed=0, fetch_state=[])
        except BaseException as exc:
            await self.end(mining_id, "failed", f"import: {describe(exc)}")
            raise
        return mining_id

    async def enqueue_fetch(self, mining_id: str, source: dict) -> None:
        """Queue the fetch of a started mining for a worker: ``source`` is the JSON spec the
        mode's :class:`~leadminer.flow.services.SourceOpener` opens (never a secret)."""
        await self.services.queues["fetch"].send({"mining_id": mining_id, "source": source})

    # queued stages -----------------------------------------------------------------
    async def handle(self, stage: str, body: dict) -> None:
        """One queue message of ``stage``: a fetch, an extract batch, or a later stage of a mining."""
        await self.services.ledger.touch(body["mining_id"])  # activity: the mining is not dead (cleanup)
        if stage == "fetch":
            await self._queued_fetch(body["mining_id"], body["source"])
        elif stage == "extract":
            await self._extract(body["mining_id"], body["batch"])
        else:
            await self._later_stage(stage, body["mining_id"])

    async def _queued_fetch(self, mining_id: str, spec: dict) -> None:
        """A worker reads the source, under the mining's fetch lease (a lock apart from the
        mining's lock, which ending a mining takes): a second delivery of the same fetch (its
        first worker hung past the claim timeout) waits for the first to end, then finds the
        fetch done and does nothing; if the first worker died, the lease went with it and the
        second fetches again (raw batches and extract messages keep their numbers, so nothing
        is doubled). Two workers never read the same mining at once.

        A source with a ``launch(mining_id)`` coroutine is read by a fetcher outside this process
        (the Cloudflare mode's fetcher container): launched, it hands its batches over through
        :meth:`store_batch` and :meth:`end_fetch` (its mode's routes), and the message is done;
        ``launch`` answers None, or the reason the mining fails instead."""
        s = self.services
        async with s.ledger.mining_lock(fetch_lease(mining_id)):
            async with s.ledger.mining_lock(mining_id):
                run = await s.ledger.run(mining_id)
                if run is None or run.batches is not None:
                    return  # ended, or already fetched
                if s.sources is None:
                    raise RuntimeError("this mode opens no queued sources (no SourceOpener)")
                try:
                    source = await s.sources.open(run.user_id, spec)
                except Exception as exc:  # the source cannot be opened: the mining fails with why
                    await self._end_locked(mining_id, run, "failed", f"fetch: {describe(exc)}")
                    return
                if (launch := getattr(source, "launch", None)) is not None:  # read by a fetcher outside
                    if (refused := await launch(mining_id)) is not None:
                        await self._end_locked(mining_id, run, "failed", f"fetch: {refused}")
                    return
            await self.fetch(mining_id, source)

    def _context(self, run: MiningRun) -> MiningContext:
        s = self.services
        ctx = MiningContext(run.mining_id, run.user_id, s.temp, s.main, list(run.identities), s.body_cap, cpu=s.cpu)
        ctx.identity_cache = self._identities.get(run.mining_id)
        if self.on_stage_progress is not None:
            ctx.on_progress = partial(self.on_stage_progress, run.mining_id)
        return ctx

    def _remember_identities(self, ctx: MiningContext) -> None:
        if ctx.identity_cache is not None and ctx.mining_id not in self._identities:
            if len(self._identities) >= _IDENTITY_CACHE_SIZE:  # minings ended by other processes
                del self._identities[next(iter(self._identities))]
            self._identities[ctx.mining_id] = ctx.identity_cache

    async def _extract(self, mining_id: str, batch_no: int) -> None:
        s = self.services
        run = await s.ledger.run(mining_id)
        if run is None:
            return  # the mining ended (done, failed, stopped, cleaned up): nothing to do
        if not await s.ledger.batch_done(mining_id, batch_no):
            result = await handle_extract(self._context(run), await s.raw.raw_batch(mining_id, batch_no))
            counts = BatchCounts(result.records, result.already_mined, result.failed, result.contacts)
            await s.ledger.finish_batch(mining_id, batch_no, counts)
        await s.raw.drop_batch(mining_id, batch_no)
        if await s.ledger.claim_clean(mining_id):
            await s.queues["clean"].send({"mining_id": mining_id})

    async def _later_stage(self, stage: str, mining_id: str) -> None:
        s = self.services
        async with s.ledger.mining_lock(mining_id):
            run = await s.ledger.run(mining_id)
            if run is None:
                await self._release(mining_id)  # ended (a late message), maybe by a stop that found the lock held
                return
            ctx = self._context(run)
            if stage not in run.steps:
                if stage == "signature" and not MiningOptions.from_json(run.options).extract_signatures:
                    run.steps[stage] = 0  # asked for no signatures: the stage reads nothing
                else:
                    handler = self._import_stage if is_import(run.source) else self._run_stage
                    run.steps[stage] = await handler(stage, ctx)
                self._remember_identities(ctx)
                await s.ledger.mark_step(mining_id, stage, run.steps[stage])
                if await s.ledger.run(mining_id) is None:  # stopped while the stage ran: its rows go now
                    await self._release(mining_id)
                    return
            if stage in NEXT_STAGE:
                await s.queues[NEXT_STAGE[stage]].send({"mining_id": mining_id})
            else:
                await self._finish(ctx, run)

    async def _run_stage(self, stage: str, ctx: MiningContext) -> int:
        s = self.services
        if stage == "clean":
            return await handle_clean(ctx, s.mx)
        if stage == "signature":
            return await handle_signatures(ctx, s.signature_extractor)
        if stage == "refine":
            return await handle_refine(ctx)
        raise ValueError(f"unknown stage {stage!r}")

    async def _import_stage(self, stage: str, ctx: MiningContext) -> int:
        """A stage of an imported mining: its rows are cleaned and refined; it has no mail to sign."""
        if stage == "signature":
            return 0
        contacts = from_raw(await self.services.raw.raw_batch(ctx.mining_id, 0))
        if stage == "clean":
            return await handle_import_clean(ctx, contacts, self.services.mx)
        return await handle_import_refine(ctx, contacts)

    async def _finish(self, ctx: MiningContext, run: MiningRun) -> None:
        s = self.services
        summary = await self._summary(ctx, run)
        for user_id, source, folder, uidvalidity, highest_uid in run.fetch_state:
            await s.main.save_folder_state(user_id, source, folder, FolderState(uidvalidity, highest_uid))
        await s.main.record_failures(summary.failures)
        await s.main.finish_mining(run.mining_id, "done", summary.stats())
        await self._drop(run.mining_id)

    async def _summary(self, ctx: MiningContext, run: MiningRun) -> MiningSummary:
        progress = MiningProgress.from_run(run, await self.services.ledger.batch_totals(run.mining_id))
        failures = await self.services.temp.failures(run.mining_id)
        skipped = sum(f.skipped for f in failures)
        return MiningSummary(
            mining_id=run.mining_id,
            source=run.source,
            fetched=progress.fetched,
            extracted=progress.extracted,
            already_mined=progress.already_mined,
            duplicates=progress.duplicates,
            failed=progress.failed,
            skipped=skipped,
            persons=run.steps["refine"],
            signatures=run.steps["signature"],
            seconds=round(time.time() - run.started, 3),
            identities=sorted(await mining_identity_keys(ctx)),
            tags=await contact_tag_counts(ctx),
            failures=failures,
        )

    # ends ----------------------------------------------------------------------------
    async def dead_letter(self, stage: str, body: dict, error: str | None, attempts: int) -> None:
        """A message that used up its attempts: its mining fails with the stage's error."""
        reason = f"{stage} stage failed after {attempts} attempts: {error or 'unknown error'}"
        await self.end(body["mining_id"], "failed", reason)

    async def stop(self, mining_id: str) -> bool:
        """Cancel a running mining at once, without waiting for a stage in progress: its queued
        work is dropped (every message of an ended mining is), its temporary rows go now, or
        when the stage holding the mining's lock sees the end; contacts already refined stay.
        False if it had ended."""
        return await self.end(mining_id, "canceled", "stopped by the user", wait=False)

    async def end(self, mining_id: str, status: str, reason: str, *, wait: bool = True) -> bool:
        """End a running mining as ``status`` (failed, interrupted, canceled) with ``reason``;
        False if it had already ended. ``wait=False``: when a stage holds the mining's lock,
        the mining ends without it (the run is marked ended) and that stage drops the rows."""
        s = self.services
        async with s.ledger.mining_lock(mining_id, wait=wait) as held:
            run = await s.ledger.run(mining_id)
            if run is None:
                return False
            if held:
                return await self._end_locked(mining_id, run, status, reason)
            if not await s.ledger.end_run(mining_id):
                return False
            await self._record_end(mining_id, run, status, reason)
        return True

    async def _end_locked(self, mining_id: str, run: MiningRun, status: str, reason: str) -> bool:
        ended = await self.services.ledger.end_run(mining_id)  # False: a stop ended it meanwhile, without the lock
        if ended:
            await self._record_end(mining_id, run, status, reason)
        await self._release(mining_id)
        return ended

    async def _record_end(self, mining_id: str, run: MiningRun, status: str, reason: str) -> None:
        await self.services.main.finish_mining(mining_id, status, {"error": reason, "fetched": run.fetched})
        log.log(logging.INFO if status == "canceled" else logging.ERROR, "mining %s %s: %s", mining_id, status, reason)

    async def _release(self, mining_id: str) -> None:
        """Under the mining's lock, once it ended: its failures kept, its temporary rows dropped."""
        s = self.services
        await s.main.record_failures(await s.temp.failures(mining_id))
        await self._drop(mining_id)

    async def settled(self, mining_id: str) -> bool:
        """For an ended mining, and a caller that must not wait on its lock (the API): False
        while a stage of it still holds the lock (and may still write); else its temporary
        rows are dropped, so no later message writes anything of it, and True."""
        async with self.services.ledger.mining_lock(mining_id, wait=False) as held:
            if held:
                await self._drop(mining_id)
            return held

    async def abandon_fetch(self, mining_id: str) -> bool:
        """A fetch (here, or a fetcher's hand-over) that finds its mining ended: what it added
        since goes. Returns False."""
        async with self.services.ledger.mining_lock(mining_id):
            if await self.services.ledger.run(mining_id) is None:
                await self._release(mining_id)
        return False

    async def _drop(self, mining_id: str) -> None:
        s = self.services
        self._identities.pop(mining_id, None)
        for store in {id(x): x for x in (s.temp, s.ledger, s.raw)}.values():  # one call per distinct adapter
            await store.drop_mining(mining_id)
        if (release := getattr(s.sources, "release", None)) is not None:  # an uploaded file's spool
            await release(mining_id)

    async def cleanup(self, *, stale_seconds: float) -> list[str]:
        """End 'running' minings whose runner died as interrupted, and drop the temporary rows of
        minings that are no longer running; returns the ids of the minings it ended.

        A mining is dead when it had no activity (a delivery of it started, progress written)
        for ``stale_seconds``, none of its messages can still be waiting in a queue (every
        queue's oldest waiting message was sent after its last activity), and no runner holds
        its lock or its fetch lease (tried, never waited for). Each is ended under its lock, so
        a stage in progress is never raced. ``stale_seconds`` must exceed the queues' claim
        time: a message held by a worker that died waits that long before another takes it."""
        s = self.services
        waiting = [await q.waiting_since() for queue in s.queues.values() for q in (queue, getattr(queue, "dead", None)) if q]
        oldest_waiting = min((t for t in waiting if t is not None), default=None)
        dead = []
        for mining in await s.main.minings(status="running"):
            mining_id = mining["id"]
            started = datetime.fromisoformat(mining["started_at"]).timestamp()
            run = await s.ledger.run(mining_id)
            last = run.updated if run else started
            if time.time() - last < stale_seconds:
                continue
            if oldest_waiting is not None and oldest_waiting <= last + QUEUE_CLOCK_SLACK_SECONDS:
                continue  # its messages may be waiting behind other minings' work
            async with s.ledger.mining_lock(mining_id, wait=False) as held:
                async with s.ledger.mining_lock(fetch_lease(mining_id), wait=False) as not_fetching:
                    if not (held and not_fetching):
                        continue  # a stage or the fetch of it is running
                    run = await s.ledger.run(mining_id)  # again, under the lock
                    idle = time.time() - (run.updated if run else started)
                    if idle < stale_seconds:
                        continue
                    reason = f"no progress for {idle:.0f} s"
                    if run is not None:
                        if await self._end_locked(mining_id, run, "interrupted", reason):
                            dead.append(mining_id)
                    elif (await s.main.mining(mining_id) or {}).get("status") == "running":  # no run: ended half-way
                        await s.main.finish_mining(mining_id, "interrupted", {"error": reason})
                        await self._release(mining_id)
                        dead.append(mining_id)
        # leftovers first, then the running set: a mining started in between (main row, then
        # its run) is in the running set, never taken for a leftover
        leftovers = set(await s.temp.mining_ids()) | set(await s.ledger.mining_ids())
        running = {m["id"] for m in await s.main.minings(status="running")}
        for mining_id in sorted(leftovers - running):
            async with s.ledger.mining_lock(mining_id, wait=False) as held:
                if held:  # else a stage of it still runs, and drops them when it sees the end
                    await self._drop(mining_id)
        return dead

    # reading ---------------------------------------------------------------------------
    async def progress(self, mining_id: str) -> MiningProgress | None:
        """Live counters of a running mining; None once it ended."""
        run = await self.services.ledger.run(mining_id)
        if run is None:
            return None
        return MiningProgress.from_run(run, await self.services.ledger.batch_totals(mining_id))

    async def summary(self, mining_id: str) -> MiningSummary | None:
        """The summary of a mining that is done, else None."""
        mining = await self.services.main.mining(mining_id)
        if mining is None or mining["status"] != "done":
            return None
        return MiningSummary.from_stats(mining["stats"], await self.services.main.failures(mining_id))
