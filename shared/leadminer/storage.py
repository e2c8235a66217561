"""Storage ports the mining flow talks to (async: a Worker awaits its D1/R2
bindings, the API its pooled connections). Each deployment mode is an adapter.

Two kinds of data, kept apart:

* **temporary mining data** (messages, points of contact, cleaned addresses,
  signatures of one mining) — SQLite/D1 or a temp Postgres database, dropped
  when the mining ends;
* **permanent data** (minings, fetch state, the per-user message index and
  refined persons) — SQLite in embedded mode, Postgres/Supabase otherwise.

Four ports: :class:`TempStore` (a mining's temporary rows), :class:`RunLedger`
(run coordination and progress of queued minings), :class:`RawBatchStore`
(fetched mail waiting for extract) and :class:`MainStore` (permanent data).
Adapters live in :mod:`leadminer.adapters` (and the runner, for PostgreSQL);
every adapter passes the contract tests in ``tests/test_storage_contract.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Protocol

from .contracts import CleanedAddress, FailedMessage, MessageRecord, RawMessage, RefinedPerson, Signature


class StoreUnavailable(ConnectionError):
    """A store or queue cannot be reached for now (refused, dropped, restarting): the
    operation may succeed once it is back. Not the fault of the message being handled, so
    the flow waits and tries it again instead of counting an attempt. Adapters raise it,
    and reconnect on their next call."""


@dataclass(slots=True, frozen=True)
class FolderState:
    """Where the last mining of one folder stopped (IMAP UIDVALIDITY + highest UID)."""

    uidvalidity: int
    highest_uid: int


class FetchStateStore(Protocol):
    """What a message source with incremental state (IMAP) reads and records while it
    fetches: synchronous, answered from memory (:class:`leadminer.flow.FetchState`)
    and saved through :class:`MainStore` once the mining is done."""

    def get_folder_state(self, user_id: str, source: str, folder: str) -> FolderState | None: ...

    def save_folder_state(self, user_id: str, source: str, folder: str, state: FolderState) -> None: ...


@dataclass(slots=True)
class IndexedMessage:
    """Permanent, content-free facts about one mined message (per user).

    It is what makes re-mining idempotent (keyed by user + Message-ID) and lets
    an incremental mining thread new replies onto old messages.
    """

    message_id: str
    thread_id: str
    date: str | None
    from_key: str | None
    from_user: bool
    in_reply_to: str | None
    tags: list[str]


@dataclass(slots=True)
class Occurrence:
    """Permanent: person ``key`` appeared in ``field`` of ``message_id``."""

    message_id: str
    key: str
    email: str
    field: str
    name: str | None


@dataclass(slots=True)
class MiningRun:
    """A mining as queued runners see it: enough to pick it up from its id alone."""

    mining_id: str
    user_id: str
    source: str  # the source label
    identities: list[str]  # addresses given for this mining
    started: float  # Unix time
    updated: float  # Unix time of the last activity: a delivery started, progress written
    fetched: int = 0  # messages read so far (final once ``batches`` is set)
    fetch_failed: int = 0
    total: int | None = None  # the source's estimate of what the fetch will read
    batches: int | None = None  # raw batches sent to extract; None while fetching
    fetch_state: list[list] = field(default_factory=list)  # [user_id, source, folder, uidvalidity, highest_uid]
    steps: dict[str, int] = field(default_factory=dict)  # later stages done → their count
    options: dict = field(default_factory=dict)  # how to mine it (leadminer.flow.MiningOptions, as JSON)


@dataclass(slots=True, frozen=True)
class BatchCounts:
    """What one extract batch found (kept once per batch, whatever the deliveries)."""

    records: int  # messages parsed: new, already mined or duplicate
    already_mined: int
    failed: int
    contacts: int


class TempStore(Protocol):
    """Temporary tables of one mining: its messages, points of contact, cleaned
    addresses, signatures and failures (SQLite, D1 or a temp PostgreSQL)."""

    async def add_messages(self, mining_id: str, records: Iterable[MessageRecord]) -> int:
        """Insert extracted messages (and their points of contact); duplicates of a
        Message-ID within the mining are ignored. Returns how many were new."""
        ...

    async def add_failures(self, mining_id: str, failures: Iterable[FailedMessage]) -> None: ...

    def iter_messages(self, mining_id: str, *, with_body: bool = True) -> AsyncIterator[MessageRecord]:
        """The mining's messages in date order, a page at a time; ``with_body=False``
        leaves ``body`` None (cheaper)."""
        ...

    async def distinct_emails(self, mining_id: str) -> list[str]: ...

    async def save_cleaned(self, mining_id: str, cleaned: Iterable[CleanedAddress]) -> None: ...

    async def cleaned(self, mining_id: str) -> dict[str, CleanedAddress]: ...

    async def save_signatures(self, mining_id: str, signatures: Iterable[Signature]) -> None: ...

    async def signatures(self, mining_id: str) -> dict[str, Signature]: ...

    async def failures(self, mining_id: str) -> list[FailedMessage]: ...

    async def drop_mining(self, mining_id: str) -> None:
        """Delete every temporary row of a mining (end of mining or cleanup)."""
        ...

    async def mining_ids(self) -> list[str]:
        """Minings that still have temporary rows (for the cleanup of dead minings)."""
        ...


class RunLedger(Protocol):
    """Run coordination of queued minings: what lets any runner pick a mining up from
    its id alone, the exactly-once fan-in from extract to clean, per-stage step
    records and progress. A mining whose run is gone (``run`` answers None) has
    ended — done, failed, stopped or cleaned up — and every message of it is dropped.

    The SQL adapters keep it in the temp database beside the :class:`TempStore`
    (one object implements both); their ``drop_mining`` empties both."""

    async def start_run(
        self, mining_id: str, user_id: str, source: str, identities: Iterable[str], options: dict | None = None
    ) -> None:
        """Record a new mining and how to mine it (``options``, JSON; repeating it keeps the
        progress already made)."""
        ...

    async def run(self, mining_id: str) -> MiningRun | None:
        """The mining's context and progress; None once it ended (or never started)."""
        ...

    async def end_run(self, mining_id: str) -> bool:
        """Mark the run ended at once, without its lock (a stop while a stage holds it): ``run``
        answers None from now on, so every message of the mining is dropped; its rows stay until
        ``drop_mining``. True for the one caller that ended a run still going."""
        ...

    async def touch(self, mining_id: str) -> None:
        """Activity of the mining (a delivery of it started): ``MiningRun.updated`` becomes now.
        Every write of progress (fetch progress, batches, steps) counts as activity too."""
        ...

    async def fetch_progress(self, mining_id: str, *, fetched: int, failed: int, total: int | None) -> None:
        """Counters of a fetch still under way (``total``: the source's estimate, if any)."""
        ...

    async def end_fetch(
        self, mining_id: str, *, batches: int, fetched: int, failed: int, fetch_state: list[list]
    ) -> None:
        """The fetch is over: ``batches`` batches were sent to extract; ``fetch_state``
        ([user_id, source, folder, uidvalidity, highest_uid] rows) is saved once the mining is done."""
        ...

    async def batch_done(self, mining_id: str, batch_no: int) -> bool:
        """Whether the batch was recorded as extracted (a redelivery has nothing to do)."""
        ...

    async def finish_batch(self, mining_id: str, batch_no: int, counts: BatchCounts) -> None:
        """Record the batch as extracted; the first record wins."""
        ...

    async def claim_clean(self, mining_id: str) -> bool:
        """True for exactly one caller, once the fetch ended and every batch is extracted:
        that caller hands the mining to clean."""
        ...

    async def batch_totals(self, mining_id: str) -> dict[str, int]:
        """Sums of the extracted batches' counts (``records``, ``already_mined``, ``failed``,
        ``contacts``), and ``extracted``: distinct messages stored."""
        ...

    async def mark_step(self, mining_id: str, step: str, count: int) -> None:
        """A later stage (clean, signature, refine) is done; also counts as progress."""
        ...

    def mining_lock(self, mining_id: str, *, wait: bool = True) -> AbstractAsyncContextManager[bool]:
        """Held while a later stage of the mining runs (and while it ends), so that a
        duplicate delivery handled by another runner waits instead of running alongside.
        Yields True once held; with ``wait=False`` it does not wait and yields False
        (holding nothing) when another runner holds it."""
        ...

    async def drop_mining(self, mining_id: str) -> None:
        """Forget the run (its end: done, failed, stopped or cleaned up)."""
        ...

    async def mining_ids(self) -> list[str]: ...


class RawBatchStore(Protocol):
    """Fetched raw messages waiting for extract, by batch (temp SQL table, R2, or memory):
    queues carry batch numbers only, never mail."""

    async def add_raw_batch(self, mining_id: str, batch_no: int, raws: list[RawMessage]) -> None: ...

    async def raw_batch(self, mining_id: str, batch_no: int) -> list[RawMessage]:
        """The batch in fetch order; empty once it was dropped."""
        ...

    async def drop_batch(self, mining_id: str, batch_no: int) -> None: ...

    async def drop_mining(self, mining_id: str) -> None: ...


class MainStore(Protocol):
    """Permanent tables (same schema as the Supabase/Postgres main database)."""

    async def start_mining(self, mining_id: str, user_id: str, source: str) -> None: ...

    async def finish_mining(self, mining_id: str, status: str, stats: dict) -> None: ...

    async def minings(
        self, status: str | None = None, *, user_id: str | None = None, newest_first: bool = False, limit: int | None = None
    ) -> list[dict]:
        """Minings (id, user_id, source, status, started_at, finished_at, stats), oldest first
        (``newest_first``: the other way), of one ``user_id`` and ``status`` when given, at most
        ``limit``. A user's active and recent minings: ``minings(user_id=u, newest_first=True, limit=n)``."""
        ...

    async def mining(self, mining_id: str) -> dict | None: ...

    async def folder_states(self, user_id: str, source: str) -> dict[str, FolderState]:
        """Where the last mining of each folder of ``source`` stopped (IMAP UIDVALIDITY + highest UID)."""
        ...

    async def save_folder_state(self, user_id: str, source: str, folder: str, state: FolderState) -> None: ...

    async def known_message_ids(self, user_id: str, message_ids: Iterable[str]) -> set[str]:
        """Message-IDs already mined for this user by a mining that finished."""
        ...

    async def index_messages(
        self, user_id: str, mining_id: str, messages: Iterable[IndexedMessage], occurrences: Iterable[Occurrence]
    ) -> None:
        """Add messages to the permanent index (existing ones are re-claimed by ``mining_id``)."""
        ...

    async def lookup_threads(self, user_id: str, message_ids: Iterable[str]) -> dict[str, IndexedMessage]: ...

    async def thread_sizes(self, user_id: str, thread_ids: Iterable[str]) -> dict[str, int]:
        """How many indexed messages each thread has."""
        ...

    async def history_page(
        self, user_id: str, keys: Iterable[str], *, after: str | None, limit: int, occurrences_of: Iterable[str]
    ) -> tuple[list[IndexedMessage], list[Occurrence]]:
        """One page of the history of persons ``keys``: the first ``limit`` indexed messages (by Message-ID, in
        code-point order) after ``after`` (None: from the first) in which one of ``keys``
        appears, and their occurrences of the keys ``occurrences_of``. Refine folds a person's
        history a page at a time, so a list address on most of the mailbox never sits in memory
        whole; the next page starts after the last Message-ID of this one, and a page shorter
        than ``limit`` is the last."""
        ...

    async def reference_date(self, user_id: str) -> str | None:
        """"Now" for recency scores: :func:`leadminer.scoring.reference_date`."""
        ...

    async def identities(self, user_id: str) -> set[str]:
        """The user's own addresses (canonical keys) remembered from earlier minings."""
        ...

    async def add_identities(self, user_id: str, emails: Iterable[str]) -> None: ...

    async def record_failures(self, failures: Iterable[FailedMessage]) -> None:
        """Keep every failed message of a mining, with its reason."""
        ...

    async def failures(self, mining_id: str | None = None) -> list[FailedMessage]: ...

    async def upsert_persons(self, persons: Iterable[RefinedPerson]) -> None: ...

    async def update_temperatures(self, user_id: str, temperatures: dict[str, int]) -> None:
        """Set new temperatures (email → 0–100) of existing persons."""
        ...

    async def persons(self, user_id: str) -> list[RefinedPerson]: ...

    async def person(self, user_id: str, email: str) -> RefinedPerson | None: ...

    async def persons_by_email(self, user_id: str, emails: Iterable[str]) -> dict[str, RefinedPerson]:
        """The stored persons among ``emails``, by email (one query per chunk, not per person)."""
        ...

    async def persons_page(
        self,
        user_id: str,
        *,
        after: str | None = None,
        limit: int = 100,
        sort: str = "temperature",
        tags: Sequence[str] = (),
        min_temperature: int | None = None,
        search: str | None = None,
    ) -> tuple[list[RefinedPerson], str | None]:
        """One page of the user's persons (keyset pagination, no OFFSET) and the cursor of
        the next page, None on the last one; ``after`` takes such a cursor back (an opaque
        string: a cursor that is not one of ``sort``'s raises ``ValueError``).

        ``sort``: ``temperature`` (descending, then occurrence descending, then email: the
        order of :meth:`persons`), ``last_seen`` (descending, never seen last, then email),
        ``name`` (ASCII case-insensitive, persons without a name last, then email) or
        ``email``; text compares in byte order. Filters: persons carrying every tag of
        ``tags``, with a temperature of at least ``min_temperature``, and whose email, name,
        organization or job title holds ``search`` (case-insensitive; SQLite folds ASCII
        letters only). An unknown ``sort`` or a ``limit`` below 1 raises ``ValueError``."""
        ...

    async def persons_for_export(self, user_id: str, emails: Sequence[str] | None = None) -> list[RefinedPerson]:
        """The persons to export in the order of :meth:`persons` (that of ``leadminer export``):
        every one (``emails`` None) or the stored ones among ``emails``."""
        ...

    async def delete_user(self, user_id: str) -> dict[str, int]:
        """Delete every row of the user in every main table (minings and their failed messages,
        fetch state, identities, message index, occurrences, persons, and any table of the
        main schema with a user_id), atomically; how many rows went, by table."""
        ...
