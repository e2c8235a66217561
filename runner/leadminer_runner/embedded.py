"""Embedded mode: the mining flow in this process, SQLite storage, in-process queues.

Its loop only: read the source into batches and, after each batch, work the
queues until they are empty, as a task (two batches in flight at most, so memory
stays bounded: one in the worker processes while the one before it is written
and the fetch reads the next); once the source is read, work them until the
mining is done. Everything else — fan-in, steps,
finish, failure, cleanup — is :mod:`leadminer.flow`.

Permanent data lives in ``--db`` (``schemas/sqlite/main.sql``); the mining's
temporary tables live in a separate file beside it (``<db>.mining``), emptied
when the mining ends and by the cleanup of dead minings when an earlier run
died. One mining at a time runs on a database (an advisory file lock). Fetch
state (IMAP UIDs) is saved only once the mining's contacts are stored, so a
crash at any point is repaired by running the same command again: already
indexed messages are skipped (idempotent by user + Message-ID).
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from leadminer.flow import (
    DEFAULT_BATCH,
    MessageSource,
    MiningFlow,
    MiningProgress,
    MiningSummary,
    StageWorker,
    describe,
    interrupted,
)
from leadminer.mx import MxChecker
from leadminer.pipeline import SignatureExtractor

from .cpu_pool import ProcessCpuPool, cpu_pool
from .services import embedded_services

__all__ = ["DEFAULT_BATCH", "MiningFailed", "MiningLocked", "exclusive", "mine", "mine_async", "temp_path"]


EXTRACT_AHEAD = 2
"""Extract batches in flight in the embedded loop: one in the workers while the one before it
is written (the workers and the mining process both busy), while the fetch reads the next."""


PROGRESS_EVERY = 0.2
"""Seconds between two progress reports of the fetch (each one counts the mining's messages)."""


class MiningLocked(RuntimeError):
    """Another mining is running on the same database."""


class MiningFailed(RuntimeError):
    """The mining ended without being done; the message says why."""


def temp_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".mining")


@contextmanager
def exclusive(db_path: Path) -> Iterator[None]:
    """One mining at a time per database: an advisory lock (flock) on the database file
    itself, created empty when missing. SQLite locks with fcntl, which flock does not
    touch, and no lock file is left behind."""
    import fcntl  # POSIX only (Linux, macOS, BSD); see docs/deploy.md

    fd = os.open(db_path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise MiningLocked(f"another mining is running on {db_path}; wait for it to finish") from None
        yield
    finally:
        os.close(fd)  # closing releases the lock


@contextmanager
def unchanging(db_path: Path) -> Iterator[bool]:
    """While no mining runs on the database, keep it so (a shared lock): True when held,
    False when a mining is running (its writes may then be read as they come)."""
    import fcntl

    fd = os.open(db_path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def mine(source: MessageSource, **options) -> MiningSummary:
    """:func:`mine_async` for synchronous callers."""
    return asyncio.run(mine_async(source, **options))


async def mine_async(
    source: MessageSource,
    *,
    db_path: Path,
    identities: list[str] | tuple[str, ...] = (),
    user_id: str = "local",
    progress: Callable[[MiningProgress], None] | None = None,
    batch_size: int = DEFAULT_BATCH,
    mx: MxChecker | None = None,
    signature_extractor: SignatureExtractor | None = None,
    cores: int | None = None,
    stage_progress: Callable[[str, str, int, int | None], None] | None = None,
) -> MiningSummary:
    """Mine ``source`` into the database at ``db_path``; ``mx`` checks domains (default:
    offline, UNKNOWN); ``signature_extractor`` replaces the rule-based one (e.g. an LLM);
    ``cores``: how many to use for extract and signatures (default: every usable core);
    ``progress`` is called with the counters of the fetch and each stage's start,
    ``stage_progress(stage, phase, done, total)`` as the later stages go.
    Raises :class:`MiningFailed` when a stage keeps failing (the mining is then 'failed')."""
    db_path = Path(db_path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    pool = cpu_pool(cores)  # its workers start before the database is opened or locked
    try:
        with exclusive(db_path):
            async with embedded_services(
                db_path, temp_path(db_path), mx=mx, signature_extractor=signature_extractor, cpu=pool
            ) as services:
                on_stage = None if stage_progress is None else lambda _mining, *report: stage_progress(*report)
                flow = MiningFlow(services, on_stage_progress=on_stage)
                await flow.cleanup(stale_seconds=0)  # we hold the lock: a 'running' mining here died
                mining_id = await flow.start(user_id=user_id, source=source.label, identities=identities)
                return await _run(flow, mining_id, source, batch_size, progress or (lambda _p: None))
    finally:
        if isinstance(pool, ProcessCpuPool):
            pool.close()


async def _run(
    flow: MiningFlow, mining_id: str, source: MessageSource, batch_size: int, notify: Callable[[MiningProgress], None]
) -> MiningSummary:
    worker = StageWorker(flow, batch=16)
    extracting: deque[asyncio.Task] = deque()

    async def extract_batch(progress: MiningProgress | None) -> None:
        """The batch just read is extracted while the fetch reads the next one, and while the
        batch before it is written: ``EXTRACT_AHEAD`` batches in flight at most (memory stays
        bounded; the pool returns its maps in order, so batches are stored in order)."""
        while len(extracting) >= EXTRACT_AHEAD:
            await extracting.popleft()
        extracting.append(asyncio.create_task(worker.drain()))
        if progress is not None:
            notify(progress)

    try:
        try:
            fetched = await flow.fetch(
                mining_id, source, batch_size=batch_size, on_batch=extract_batch, progress_every=PROGRESS_EVERY
            )
            while extracting:
                await extracting.popleft()  # the last batches
        except BaseException:
            for task in extracting:
                task.cancel()
            await asyncio.gather(*extracting, return_exceptions=True)
            raise
        if fetched:
            while True:  # one stage message per round: show each stage as it starts
                if (progress := await flow.progress(mining_id)) is not None:
                    notify(progress)
                if not await worker.step():
                    break
    except BaseException as exc:
        if interrupted(exc):  # during the later stages (the fetch ends the mining itself)
            await flow.end(mining_id, "interrupted", describe(exc))
        raise
    summary = await flow.summary(mining_id)
    if summary is None:
        mining = await flow.services.main.mining(mining_id)
        raise MiningFailed(mining["stats"].get("error") or f"the mining ended as {mining['status']}")
    return summary
