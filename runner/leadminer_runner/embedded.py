"""Embedded mode: every stage in this process, SQLite storage, in-process queues.

fetch → [extract queue] → extract → (fetch done) → [clean] → [signature] → [refine]

Permanent data lives in ``--db`` (``schemas/sqlite/main.sql``); the mining's
temporary tables live in a separate file beside it (``<db>.mining``), which is
emptied when the mining ends and by :func:`cleanup_dead_minings` when an earlier
run died. One mining at a time runs on a database (an advisory file lock). Fetch state (IMAP UIDs) is committed only once the mining's contacts
are stored, so a crash at any point is repaired by running the same command
again: already indexed messages are skipped (idempotent by user + Message-ID).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from leadminer.adapters.sqlite import SqliteMainStore, SqliteTempStore, connect
from leadminer.mx import MxChecker
from leadminer.pipeline import SignatureExtractor
from leadminer.contracts import FailedMessage, RawMessage
from leadminer.queues import InProcessQueue, drain
from leadminer.stages import (
    MiningContext,
    contact_tag_counts,
    handle_clean,
    handle_extract,
    handle_refine,
    handle_signatures,
    mining_identity_keys,
)
from leadminer.storage import FolderState

DEFAULT_BATCH = 500


class MessageSource(Protocol):
    label: str  # shown and stored; never holds a secret

    def count(self, state_store: DeferredStateStore) -> int | None:
        """How many messages ``iter_messages`` will yield (an estimate is fine), for progress."""
        ...

    def iter_messages(self, mining_id: str, state_store: DeferredStateStore) -> Iterator[RawMessage | FailedMessage]:
        """Yield raw messages (or failures with a reason); sources with incremental
        state (IMAP) record it in ``state_store``."""
        ...


@dataclass(slots=True)
class Progress:
    stage: str
    fetched: int = 0
    extracted: int = 0
    already_mined: int = 0
    duplicates: int = 0
    failed: int = 0
    contacts: int = 0
    total: int | None = None
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        """Messages fetched per second."""
        return self.fetched / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        if not self.total or not self.rate:
            return None
        return max(0.0, (self.total - self.fetched) / self.rate)


@dataclass(slots=True)
class MiningSummary:
    mining_id: str
    source: str
    fetched: int
    extracted: int
    already_mined: int
    duplicates: int  # same Message-ID seen again in this mining (another folder, a copy)
    failed: int
    persons: int
    signatures: int
    seconds: float
    identities: list[str]  # the user's addresses: given, implied by the source, or found in Delivered-To
    tags: dict[str, int]
    failures: list[FailedMessage]


class DeferredStateStore:
    """Buffers fetch-state writes until the mining's results are stored."""

    def __init__(self, main: SqliteMainStore):
        self.main = main
        self.pending: dict[tuple[str, str, str], FolderState] = {}

    def get_folder_state(self, user_id: str, source: str, folder: str) -> FolderState | None:
        return self.main.get_folder_state(user_id, source, folder)

    def save_folder_state(self, user_id: str, source: str, folder: str, state: FolderState) -> None:
        self.pending[(user_id, source, folder)] = state

    def commit(self) -> None:
        for (user_id, source, folder), state in self.pending.items():
            self.main.save_folder_state(user_id, source, folder, state)
        self.pending.clear()


def temp_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".mining")


def cleanup_dead_minings(main: SqliteMainStore, temp: SqliteTempStore) -> list[str]:
    """Mark minings left 'running' by a dead process as interrupted and drop their temp rows."""
    dead = [m["id"] for m in main.minings(status="running")]
    for mining_id in dead:
        main.finish_mining(mining_id, "interrupted", {})
    for mining_id in set(dead) | set(temp.mining_ids()):
        temp.drop_mining(mining_id)
    return dead


class MiningLocked(RuntimeError):
    """Another mining is running on the same database."""


@contextmanager
def exclusive(db_path: Path) -> Iterator[None]:
    """One mining at a time per database: an advisory lock on ``<db>.lock``."""
    import fcntl  # POSIX only (Linux, macOS, BSD); see docs/deploy.md

    lock_path = db_path.with_name(db_path.name + ".lock")
    fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise MiningLocked(f"another mining is running on {db_path}; wait for it to finish") from None
        yield
    finally:
        os.close(fd)  # closing releases the lock


def mine(
    source: MessageSource,
    *,
    db_path: Path,
    identities: list[str] | tuple[str, ...] = (),
    user_id: str = "local",
    progress: Callable[[Progress], None] | None = None,
    batch_size: int = DEFAULT_BATCH,
    mx: MxChecker | None = None,
    signature_extractor: SignatureExtractor | None = None,
) -> MiningSummary:
    """Mine ``source`` into the database at ``db_path``; ``mx`` checks domains (default:
    offline, UNKNOWN); ``signature_extractor`` replaces the rule-based one (e.g. an LLM)."""
    db_path = Path(db_path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(db_path):
        main_conn, temp_conn = connect(db_path), connect(temp_path(db_path))
        try:
            main, temp = SqliteMainStore(main_conn), SqliteTempStore(temp_conn)
            return _mine(source, main, temp, identities, user_id, progress, batch_size, mx, signature_extractor)
        finally:
            main_conn.close()
            temp_conn.close()


def _mine(
    source: MessageSource,
    main: SqliteMainStore,
    temp: SqliteTempStore,
    identities: list[str] | tuple[str, ...],
    user_id: str,
    progress: Callable[[Progress], None] | None,
    batch_size: int,
    mx: MxChecker | None,
    signature_extractor: SignatureExtractor | None,
) -> MiningSummary:
    cleanup_dead_minings(main, temp)
    mining_id = uuid.uuid4().hex
    ctx = MiningContext(mining_id, user_id, temp, main, list(identities))
    main.start_mining(mining_id, user_id, source.label)
    state = Progress("fetch")
    notify = progress or (lambda _p: None)
    state_store = DeferredStateStore(main)
    try:
        state.total = source.count(state_store)
        summary = _run(ctx, source, state_store, state, notify, batch_size, mx, signature_extractor)
    except BaseException:
        main.record_failures(temp.failures(mining_id))
        main.finish_mining(mining_id, "failed", {"fetched": state.fetched})
        temp.drop_mining(mining_id)
        raise
    state_store.commit()
    main.record_failures(summary.failures)
    main.finish_mining(mining_id, "done", mining_stats(summary))
    temp.drop_mining(mining_id)
    return summary


def mining_stats(summary: MiningSummary) -> dict:
    """What the minings table keeps: counts and tags (failures go to failed_messages)."""
    return {name: getattr(summary, name) for name in summary.__slots__ if name != "failures"}


def _run(
    ctx: MiningContext,
    source: MessageSource,
    state_store: DeferredStateStore,
    state: Progress,
    notify: Callable[[Progress], None],
    batch_size: int,
    mx: MxChecker | None,
    signature_extractor: SignatureExtractor | None,
) -> MiningSummary:
    # One queue per stage, as in the other modes: each consumer, once done,
    # hands the mining to the next stage's queue. No threads: this loop pumps them.
    queues = {name: InProcessQueue(name) for name in ("extract", "clean", "signature", "refine")}
    counts: dict[str, int] = {}

    def on_extract(raws: list[RawMessage]) -> None:
        result = handle_extract(ctx, raws)
        state.extracted += result.extracted
        state.already_mined += result.already_mined
        state.duplicates += result.duplicates
        state.failed += result.failed
        state.contacts += result.contacts

    def stage(name: str, run: Callable[[], int], following: str | None) -> Callable[[str], None]:
        def consume(_mining_id: str) -> None:
            state.stage = name
            notify(state)
            counts[name] = run()
            if following:
                queues[following].send(ctx.mining_id)

        return consume

    consumers: dict[str, Callable] = {
        "extract": on_extract,
        "clean": stage("clean", lambda: handle_clean(ctx, mx), "signature"),
        "signature": stage("signature", lambda: handle_signatures(ctx, signature_extractor), "refine"),
        "refine": stage("refine", lambda: handle_refine(ctx), None),
    }

    def pump(name: str) -> None:
        drain(queues[name], consumers[name])
        if queues[name].dead_letters:
            body, error = queues[name].dead_letters[0]
            raise RuntimeError(
                f"{name} stage failed after {queues[name].max_attempts} attempts: {error}"
            ) from queues[name].last_exception

    batch: list[RawMessage] = []
    for item in source.iter_messages(ctx.mining_id, state_store):
        state.fetched += 1
        if isinstance(item, FailedMessage):  # unreadable file or member: recorded, never dropped
            ctx.temp.add_failures(ctx.mining_id, [item])
            state.failed += 1
            continue
        batch.append(item)
        if len(batch) >= batch_size:
            queues["extract"].send(batch)
            batch = []
            pump("extract")
            notify(state)
    if batch:
        queues["extract"].send(batch)
        pump("extract")
    queues["clean"].send(ctx.mining_id)  # fetch is done: the mining moves on
    for name in ("clean", "signature", "refine"):
        pump(name)
    state.stage = "done"
    notify(state)

    keys = mining_identity_keys(ctx)
    return MiningSummary(
        mining_id=ctx.mining_id,
        source=source.label,
        fetched=state.fetched,
        extracted=state.extracted,
        already_mined=state.already_mined,
        duplicates=state.duplicates,
        failed=state.failed,
        persons=counts["refine"],
        signatures=counts["signature"],
        seconds=round(state.elapsed, 3),
        identities=sorted(keys),
        tags=contact_tag_counts(ctx),
        failures=ctx.temp.failures(ctx.mining_id),
    )
