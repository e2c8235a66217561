"""The SQLite-dialect stores, apart from any driver: statements, their parameters and
what is done with the rows, over an async :class:`SqlDriver`.

:mod:`leadminer.adapters.sqlite` runs them with ``sqlite3`` (embedded mode); a
Cloudflare D1 adapter (D1 is SQLite: ``prepare(sql).bind(*params)``, an atomic
``batch([...])``) runs the same statements through a driver of its own. Writes
are handed to the driver as one list of statements applied atomically (D1 has
no interactive transactions), reads as single statements. Rows come from
:mod:`leadminer.adapters.rows`, shared with the PostgreSQL adapters.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import UTC, datetime
from typing import Protocol

from ..contracts import (
    CleanedAddress,
    FailedMessage,
    MessageRecord,
    PointOfContact,
    RawMessage,
    RefinedPerson,
    Signature,
)
from ..schemas import TEMP_MINING_IDS_SQL, TEMP_TABLES, schema_sql
from ..scoring import outlier_count
from ..storage import BatchCounts, FolderState, IndexedMessage, MiningRun, Occurrence
from . import queries, rows
from .rows import SQLITE, names

CHUNK = 500  # keeps "IN (…)" lists under SQLite's bound-parameter limit

Write = tuple[str, Sequence[Sequence]]
"""One statement and its parameter rows (executed once per row)."""


class SqlDriver(Protocol):
    """What the SQLite-dialect stores need from a driver (``sqlite3``, D1)."""

    async def rows(self, sql: str, params: Sequence = ()) -> list[tuple]:
        """Every row of one statement."""
        ...

    async def write(self, statements: Sequence[Write]) -> list[int]:
        """Apply ``statements`` atomically (all or none); the rows each one changed."""
        ...


class DialectRows:
    """:class:`leadminer.mailboxes.Rows` over a SQLite-dialect driver (``sqlite3``, D1): the
    portable SQL's ``%s`` placeholders become ``?``; a change is one atomic write."""

    def __init__(self, driver: SqlDriver):
        self.driver = driver

    async def rows(self, sql: str, params: Sequence = ()) -> list[tuple]:
        return await self.driver.rows(sql.replace("%s", "?"), params)

    async def change(self, sql: str, params: Sequence = ()) -> int:
        (changed,) = await self.driver.write([(sql.replace("%s", "?"), [tuple(params)])])
        return changed


def in_chunk(driver: SqlDriver) -> int:
    """Values per ``IN (…)`` list for ``driver``: its ``max_in`` (D1 binds at most 100
    parameters per statement), else :data:`CHUNK`."""
    return getattr(driver, "max_in", CHUNK)


def marks(n: int) -> str:
    return ",".join("?" * n)


def chunks(items: Sequence, size: int = CHUNK) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


async def _rows_in(
    driver: SqlDriver, sql: str, before: tuple, values: Iterable[str], after: tuple = ()
) -> list[tuple]:
    """Rows of ``sql`` (whose ``{in}`` is an IN list) for every chunk of ``values``."""
    found: list[tuple] = []
    for chunk in chunks(list(values), in_chunk(driver)):
        found.extend(await driver.rows(sql.format(marks=marks(len(chunk))), (*before, *chunk, *after)))
    return found


# temp tables ------------------------------------------------------------------------
INSERT_MESSAGE = f"INSERT OR IGNORE INTO mining_messages (mining_id, {names(rows.MESSAGE_COLUMNS)}) VALUES (?,?,?,?,?)"
INSERT_POINT = f"INSERT OR IGNORE INTO mining_points (mining_id, {names(rows.POINT_COLUMNS)}) VALUES (?,?,?,?,?,?)"
EXISTING_MESSAGES = "SELECT message_id FROM mining_messages WHERE mining_id = ? AND message_id IN ({marks})"
INSERT_FAILURE = f"INSERT OR REPLACE INTO mining_failures (mining_id, {names(rows.FAILURE_COLUMNS)}) VALUES (?,?,?,?)"
MESSAGE_PAGE = (
    "SELECT date, message_id, record_json, {body} FROM mining_messages "
    "WHERE mining_id = ? AND (date, message_id) > (?, ?) ORDER BY date, message_id LIMIT ?"
)
PAGE_POINTS = (
    "SELECT message_id, field, email, name FROM mining_points "
    "WHERE mining_id = ? AND message_id IN ({marks}) ORDER BY message_id, position"
)
DISTINCT_EMAILS = "SELECT DISTINCT email FROM mining_points WHERE mining_id = ? ORDER BY email"
INSERT_CLEANED = f"INSERT OR REPLACE INTO mining_cleaned (mining_id, {names(rows.CLEANED_COLUMNS)}) VALUES (?,?,?,?,?)"
CLEANED = f"SELECT {names(rows.CLEANED_COLUMNS)} FROM mining_cleaned WHERE mining_id = ?"
INSERT_SIGNATURE = f"INSERT OR REPLACE INTO mining_signatures (mining_id, {names(rows.SIGNATURE_COLUMNS)}) VALUES (?,?,?,?)"
SIGNATURES = f"SELECT {names(rows.SIGNATURE_COLUMNS)} FROM mining_signatures WHERE mining_id = ?"
FAILURES = f"SELECT {names(rows.FAILURE_COLUMNS)} FROM mining_failures WHERE mining_id = ? ORDER BY folder, uid"
DROP_MINING = tuple(f"DELETE FROM {table} WHERE mining_id = ?" for table in TEMP_TABLES)  # noqa: S608 - fixed names

START_RUN = (
    "INSERT OR IGNORE INTO mining_runs (mining_id, user_id, source, identities_json, started, updated, options_json) "
    "VALUES (?,?,?,?,?,?,?)"
)
RUN = f"SELECT {', '.join(rows.RUN_COLUMNS)} FROM mining_runs WHERE mining_id = ? AND NOT ended"
END_RUN = "UPDATE mining_runs SET ended = 1, updated = ? WHERE mining_id = ? AND NOT ended"
STEPS = "SELECT step, count FROM mining_steps WHERE mining_id = ?"
TOUCH = "UPDATE mining_runs SET updated = ? WHERE mining_id = ?"
FETCH_PROGRESS = "UPDATE mining_runs SET fetched = ?, fetch_failed = ?, total = ?, updated = ? WHERE mining_id = ?"
END_FETCH = (
    "UPDATE mining_runs SET batches = ?, fetched = ?, fetch_failed = ?, fetch_state_json = ?, updated = ? "
    "WHERE mining_id = ? AND batches IS NULL"  # the first fetch to end wins (a duplicate fetch changes nothing)
)
INSERT_RAW = f"INSERT OR IGNORE INTO mining_raw (mining_id, {names(rows.RAW_COLUMNS)}) VALUES (?,?,?,?,?,?,?)"
RAW_BATCH = "SELECT folder, uid, flags_json, data FROM mining_raw WHERE mining_id = ? AND batch_no = ? ORDER BY position"
DROP_BATCH = "DELETE FROM mining_raw WHERE mining_id = ? AND batch_no = ?"
DROP_RAW = "DELETE FROM mining_raw WHERE mining_id = ?"
BATCH_DONE = "SELECT 1 FROM mining_batches WHERE mining_id = ? AND batch_no = ?"
FINISH_BATCH = (
    f"INSERT OR IGNORE INTO mining_batches (mining_id, batch_no, {', '.join(rows.BATCH_COLUMNS)}) VALUES (?,?,?,?,?,?)"
)
CLAIM_CLEAN = (
    "UPDATE mining_runs SET clean_sent = 1 WHERE mining_id = ? AND NOT clean_sent AND batches IS NOT NULL "
    "AND batches = (SELECT count(*) FROM mining_batches WHERE mining_id = ?)"
)
BATCH_TOTALS = (
    "SELECT coalesce(sum(records), 0), coalesce(sum(already_mined), 0), coalesce(sum(failed), 0), "
    "coalesce(sum(contacts), 0), (SELECT count(*) FROM mining_messages WHERE mining_id = ?) "
    "FROM mining_batches WHERE mining_id = ?"
)
MARK_STEP = "INSERT OR REPLACE INTO mining_steps (mining_id, step, count) VALUES (?,?,?)"


class SqlTempStore:
    """TempStore + RunLedger + RawBatchStore in SQLite-dialect tables (``schemas/sqlite/temp.sql``)."""

    def __init__(self, driver: SqlDriver):
        self.driver = driver

    async def add_messages(self, mining_id: str, records: Iterable[MessageRecord]) -> int:
        messages, points = rows.message_rows(records, SQLITE)
        if not messages:
            return 0
        existing = {r[0] for r in await _rows_in(self.driver, EXISTING_MESSAGES, (mining_id,), [m[0] for m in messages])}
        if existing:  # a message already stored keeps its points
            messages = [m for m in messages if m[0] not in existing]
            points = [p for p in points if p[0] not in existing]
        added, _ = await self.driver.write(
            [(INSERT_MESSAGE, [(mining_id, *m) for m in messages]), (INSERT_POINT, [(mining_id, *p) for p in points])]
        )
        return added

    async def add_failures(self, mining_id: str, failures: Iterable[FailedMessage]) -> None:
        await self.driver.write([(INSERT_FAILURE, [(mining_id, *rows.failure_row(f, SQLITE)) for f in failures])])

    async def iter_messages(
        self, mining_id: str, *, with_body: bool = True, page: int = CHUNK
    ) -> AsyncIterator[MessageRecord]:
        """Messages ordered by date, read a page at a time by keyset (memory stays bounded)."""
        last: tuple[str, str] = ("", "")
        query = MESSAGE_PAGE.format(body="body" if with_body else "NULL")
        while True:
            found = await self.driver.rows(query, (mining_id, *last, page))
            if not found:
                return
            points: dict[str, list[PointOfContact]] = {}
            for row in await _rows_in(self.driver, PAGE_POINTS, (mining_id,), [r[1] for r in found]):
                points.setdefault(row[0], []).append(rows.point_from_row(*row))
            for _date, message_id, fields, body in found:
                yield rows.message_from_row(fields, body, points.get(message_id, []), SQLITE)
            last = (found[-1][0], found[-1][1])

    async def distinct_emails(self, mining_id: str) -> list[str]:
        return [r[0] for r in await self.driver.rows(DISTINCT_EMAILS, (mining_id,))]

    async def save_cleaned(self, mining_id: str, cleaned: Iterable[CleanedAddress]) -> None:
        await self.driver.write([(INSERT_CLEANED, [(mining_id, *rows.cleaned_row(c, SQLITE)) for c in cleaned])])

    async def cleaned(self, mining_id: str) -> dict[str, CleanedAddress]:
        return {r[0]: rows.cleaned_from_row(r, SQLITE) for r in await self.driver.rows(CLEANED, (mining_id,))}

    async def save_signatures(self, mining_id: str, signatures: Iterable[Signature]) -> None:
        await self.driver.write(
            [(INSERT_SIGNATURE, [(mining_id, *rows.signature_row(s, SQLITE)) for s in signatures])]
        )

    async def signatures(self, mining_id: str) -> dict[str, Signature]:
        return {r[0]: rows.signature_from_row(r, SQLITE) for r in await self.driver.rows(SIGNATURES, (mining_id,))}

    async def failures(self, mining_id: str) -> list[FailedMessage]:
        return [FailedMessage(mining_id, *r) for r in await self.driver.rows(FAILURES, (mining_id,))]

    async def drop_mining(self, mining_id: str) -> None:
        await self.driver.write([(sql, [(mining_id,)]) for sql in DROP_MINING])

    async def mining_ids(self) -> list[str]:
        """Minings that still have temporary rows (for the cleanup job)."""
        return sorted(r[0] for r in await self.driver.rows(TEMP_MINING_IDS_SQL))

    # run ledger --------------------------------------------------------------------
    async def start_run(
        self, mining_id: str, user_id: str, source: str, identities: Iterable[str], options: dict | None = None
    ) -> None:
        now = time.time()
        await self.driver.write(
            [(START_RUN, [(mining_id, user_id, source, SQLITE.dump(list(identities)), now, now, SQLITE.dump(options or {}))])]
        )

    async def run(self, mining_id: str) -> MiningRun | None:
        found = await self.driver.rows(RUN, (mining_id,))
        if not found:
            return None
        steps = dict(await self.driver.rows(STEPS, (mining_id,)))
        return rows.run_from_row(mining_id, found[0], steps, SQLITE)

    async def touch(self, mining_id: str) -> None:
        await self.driver.write([(TOUCH, [(time.time(), mining_id)])])

    async def end_run(self, mining_id: str) -> bool:
        (ended,) = await self.driver.write([(END_RUN, [(time.time(), mining_id)])])
        return ended == 1

    async def fetch_progress(self, mining_id: str, *, fetched: int, failed: int, total: int | None) -> None:
        await self.driver.write([(FETCH_PROGRESS, [(fetched, failed, total, time.time(), mining_id)])])

    async def end_fetch(
        self, mining_id: str, *, batches: int, fetched: int, failed: int, fetch_state: list[list]
    ) -> None:
        await self.driver.write(
            [(END_FETCH, [(batches, fetched, failed, SQLITE.dump(fetch_state), time.time(), mining_id)])]
        )

    async def batch_done(self, mining_id: str, batch_no: int) -> bool:
        return bool(await self.driver.rows(BATCH_DONE, (mining_id, batch_no)))

    async def finish_batch(self, mining_id: str, batch_no: int, counts: BatchCounts) -> None:
        await self.driver.write(
            [(FINISH_BATCH, [(mining_id, batch_no, *rows.batch_row(counts))]), (TOUCH, [(time.time(), mining_id)])]
        )

    async def claim_clean(self, mining_id: str) -> bool:
        (claimed,) = await self.driver.write([(CLAIM_CLEAN, [(mining_id, mining_id)])])
        return claimed == 1

    async def batch_totals(self, mining_id: str) -> dict[str, int]:
        (row,) = await self.driver.rows(BATCH_TOTALS, (mining_id, mining_id))
        return rows.totals_from_row(row)

    async def mark_step(self, mining_id: str, step: str, count: int) -> None:
        await self.driver.write([(MARK_STEP, [(mining_id, step, count)]), (TOUCH, [(time.time(), mining_id)])])

    def mining_lock(self, mining_id: str, *, wait: bool = True) -> AbstractAsyncContextManager[bool]:
        """Nothing to serialise: one process owns a SQLite mining database (see ``embedded.exclusive``)."""
        return nullcontext(True)

    # raw batches ---------------------------------------------------------------------
    async def add_raw_batch(self, mining_id: str, batch_no: int, raws: list[RawMessage]) -> None:
        await self.driver.write(
            [
                (INSERT_RAW, [(mining_id, *r) for r in rows.raw_rows(batch_no, raws, SQLITE)]),
                (TOUCH, [(time.time(), mining_id)]),
            ]
        )

    async def raw_batch(self, mining_id: str, batch_no: int) -> list[RawMessage]:
        found = await self.driver.rows(RAW_BATCH, (mining_id, batch_no))
        return [rows.raw_from_row(mining_id, r, SQLITE) for r in found]

    async def drop_batch(self, mining_id: str, batch_no: int) -> None:
        await self.driver.write([(DROP_BATCH, [(mining_id, batch_no)])])


# main tables ------------------------------------------------------------------------
_PERSONS = names(rows.PERSON_COLUMNS)
_INDEX = names(rows.INDEX_COLUMNS)
START_MINING = "INSERT OR REPLACE INTO minings (id, user_id, source, status, started_at) VALUES (?,?,?,'running',?)"
FINISH_MINING = "UPDATE minings SET status = ?, finished_at = ?, stats_json = ? WHERE id = ? AND status = 'running'"  # ends once
FOLDER_STATES = "SELECT folder, uidvalidity, highest_uid FROM fetch_state WHERE user_id = ? AND source = ?"
SAVE_FOLDER_STATE = (
    "INSERT OR REPLACE INTO fetch_state (user_id, source, folder, uidvalidity, highest_uid, updated_at) "
    "VALUES (?,?,?,?,?,?)"
)
KNOWN_MESSAGE_IDS = (
    "SELECT i.message_id FROM message_index i JOIN minings m ON m.id = i.mining_id "
    "WHERE i.user_id = ? AND m.status = 'done' AND i.message_id IN ({marks})"
)
DELETE_OCCURRENCES = "DELETE FROM occurrences WHERE user_id = ? AND message_id IN ({marks})"
INDEX_MESSAGE = (
    f"INSERT INTO message_index (user_id, mining_id, {_INDEX}) VALUES (?,?,?,?,?,?,?,?,?) "
    "ON CONFLICT (user_id, message_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in ("mining_id", *(c.name for c in rows.INDEX_COLUMNS[1:])))
)
INSERT_OCCURRENCE = f"INSERT OR IGNORE INTO occurrences (user_id, {names(rows.OCCURRENCE_COLUMNS)}) VALUES (?,?,?,?,?,?)"
LOOKUP_THREADS = f"SELECT {_INDEX} FROM message_index WHERE user_id = ? AND message_id IN ({{marks}})"
THREAD_SIZES = (
    "SELECT thread_id, count(*) FROM message_index WHERE user_id = ? AND thread_id IN ({marks}) GROUP BY thread_id"
)
TOUCHED_PAGE = (  # by the key index: the primary key's order would walk every row of the user for rare keys
    "SELECT DISTINCT message_id FROM occurrences INDEXED BY occurrences_key "
    "WHERE user_id = ? AND key IN ({marks}) AND message_id > ? ORDER BY message_id LIMIT ?"
)
OCCURRENCES = f"SELECT {names(rows.OCCURRENCE_COLUMNS)} FROM occurrences WHERE user_id = ? AND message_id IN ({{marks}})"
DATED_COUNT = "SELECT count(date) FROM message_index WHERE user_id = ?"
REFERENCE_DATE = (
    "SELECT date FROM message_index WHERE user_id = ? AND date IS NOT NULL ORDER BY date DESC LIMIT 1 OFFSET ?"
)
IDENTITIES = "SELECT email FROM user_identities WHERE user_id = ?"
ADD_IDENTITY = "INSERT OR IGNORE INTO user_identities (user_id, email, added_at) VALUES (?,?,?)"
RECORD_FAILURE = "INSERT OR REPLACE INTO failed_messages (mining_id, folder, uid, reason) VALUES (?,?,?,?)"
MAIN_FAILURES = "SELECT mining_id, folder, uid, reason FROM failed_messages {where} ORDER BY mining_id, folder, uid"
UPSERT_PERSON = (
    f"INSERT OR REPLACE INTO refined_persons ({_PERSONS}, updated_at) VALUES ({marks(len(rows.PERSON_COLUMNS) + 1)})"
)
UPDATE_TEMPERATURE = "UPDATE refined_persons SET temperature = ? WHERE user_id = ? AND email = ?"
PERSONS = f"SELECT {_PERSONS} FROM refined_persons WHERE user_id = ? ORDER BY temperature DESC, occurrence DESC, email"
PERSONS_BY_EMAIL = f"SELECT {_PERSONS} FROM refined_persons WHERE user_id = ? AND email IN ({{marks}})"
PERSON = f"SELECT {_PERSONS} FROM refined_persons WHERE user_id = ? AND email = ?"
DIALECT = queries.Dialect(
    mark="?", collate="", like="LIKE", codec=SQLITE,
    all_tags=lambda tags: (
        " AND ".join("EXISTS (SELECT 1 FROM json_each(tags_json) WHERE value = ?)" for _ in tags), list(tags)
    ),
)  # fmt: skip
"""SQLite's spelling of :mod:`leadminer.adapters.queries` (LIKE folds ASCII letters only)."""
USER_TABLES = queries.user_tables(schema_sql("sqlite/main.sql"))
DELETE_USER = {
    **{t: f"DELETE FROM {t} WHERE mining_id IN (SELECT id FROM minings WHERE user_id = ?)" for t in USER_TABLES.by_mining},
    **{t: f"DELETE FROM {t} WHERE user_id = ?" for t in USER_TABLES.by_user},
}  # noqa: S608 - table names from our schema


class SqlMainStore(queries.PersonReads):
    """MainStore in SQLite-dialect tables (``schemas/sqlite/main.sql``)."""

    dialect = DIALECT

    async def _read(self, query: str, params: Sequence) -> list[tuple]:
        return await self.driver.rows(query, params)

    def __init__(self, driver: SqlDriver):
        self.driver = driver

    # minings -----------------------------------------------------------------
    async def start_mining(self, mining_id: str, user_id: str, source: str) -> None:
        await self.driver.write([(START_MINING, [(mining_id, user_id, source, now_iso())])])

    async def finish_mining(self, mining_id: str, status: str, stats: dict) -> None:
        await self.driver.write([(FINISH_MINING, [(status, now_iso(), SQLITE.dump(stats), mining_id)])])

    # fetch state -------------------------------------------------------------
    async def folder_states(self, user_id: str, source: str) -> dict[str, FolderState]:
        found = await self.driver.rows(FOLDER_STATES, (user_id, source))
        return {folder: FolderState(uidvalidity, highest) for folder, uidvalidity, highest in found}

    async def save_folder_state(self, user_id: str, source: str, folder: str, state: FolderState) -> None:
        await self.driver.write(
            [(SAVE_FOLDER_STATE, [(user_id, source, folder, state.uidvalidity, state.highest_uid, now_iso())])]
        )

    # message index -----------------------------------------------------------
    async def known_message_ids(self, user_id: str, message_ids: Iterable[str]) -> set[str]:
        return {r[0] for r in await _rows_in(self.driver, KNOWN_MESSAGE_IDS, (user_id,), set(message_ids))}

    async def index_messages(
        self, user_id: str, mining_id: str, messages: Iterable[IndexedMessage], occurrences: Iterable[Occurrence]
    ) -> None:
        index = [(user_id, mining_id, *rows.index_row(m, SQLITE)) for m in messages]
        # A message indexed by a mining that died is re-claimed whole: its facts
        # (sender, thread, tags, user identities) and occurrences are replaced by this mining's.
        deletes: list[Write] = [
            (DELETE_OCCURRENCES.format(marks=marks(len(chunk))), [(user_id, *chunk)])
            for chunk in chunks([row[2] for row in index], in_chunk(self.driver))
        ]
        await self.driver.write(
            [
                *deletes,
                (INDEX_MESSAGE, index),
                (INSERT_OCCURRENCE, [(user_id, *rows.occurrence_row(o, SQLITE)) for o in occurrences]),
            ]
        )

    async def lookup_threads(self, user_id: str, message_ids: Iterable[str]) -> dict[str, IndexedMessage]:
        found = await _rows_in(self.driver, LOOKUP_THREADS, (user_id,), set(message_ids))
        return {r[0]: rows.indexed_from_row(r, SQLITE) for r in found}

    async def thread_sizes(self, user_id: str, thread_ids: Iterable[str]) -> dict[str, int]:
        return dict(await _rows_in(self.driver, THREAD_SIZES, (user_id,), set(thread_ids)))

    async def history_page(
        self, user_id: str, keys: Iterable[str], *, after: str | None, limit: int, occurrences_of: Iterable[str]
    ) -> tuple[list[IndexedMessage], list[Occurrence]]:
        # each IN list of keys gives its first ``limit`` ids: the page's are the first of their union
        found = await _rows_in(self.driver, TOUCHED_PAGE, (user_id,), set(keys), (after or "", limit))
        page = sorted({r[0] for r in found})[:limit]
        messages = sorted((await self.lookup_threads(user_id, page)).values(), key=lambda m: m.message_id)
        wanted = set(occurrences_of)
        occurrences = []
        for chunk in chunks(page, in_chunk(self.driver)):
            found = await self.driver.rows(OCCURRENCES.format(marks=marks(len(chunk))), (user_id, *chunk))
            occurrences.extend(Occurrence(*r) for r in found if r[1] in wanted)
        return messages, occurrences

    async def reference_date(self, user_id: str) -> str | None:
        """See :func:`leadminer.scoring.reference_date` (same rule, in SQL)."""
        ((count,),) = await self.driver.rows(DATED_COUNT, (user_id,))
        found = await self.driver.rows(REFERENCE_DATE, (user_id, outlier_count(count)))
        return found[0][0] if found else None

    # identities and failures ---------------------------------------------------
    async def identities(self, user_id: str) -> set[str]:
        return {r[0] for r in await self.driver.rows(IDENTITIES, (user_id,))}

    async def add_identities(self, user_id: str, emails: Iterable[str]) -> None:
        now = now_iso()
        await self.driver.write([(ADD_IDENTITY, [(user_id, e, now) for e in emails])])

    async def record_failures(self, failures: Iterable[FailedMessage]) -> None:
        await self.driver.write(
            [(RECORD_FAILURE, [(f.mining_id, *rows.failure_row(f, SQLITE)) for f in failures])]
        )

    async def failures(self, mining_id: str | None = None) -> list[FailedMessage]:
        where, params = ("WHERE mining_id = ?", (mining_id,)) if mining_id else ("", ())
        return [FailedMessage(*r) for r in await self.driver.rows(MAIN_FAILURES.format(where=where), params)]

    # refined persons ---------------------------------------------------------
    async def upsert_persons(self, persons: Iterable[RefinedPerson]) -> None:
        now = now_iso()
        await self.driver.write([(UPSERT_PERSON, [(*rows.person_row(p, SQLITE), now) for p in persons])])

    async def update_temperatures(self, user_id: str, temperatures: dict[str, int]) -> None:
        await self.driver.write(
            [(UPDATE_TEMPERATURE, [(t, user_id, email) for email, t in temperatures.items()])]
        )

    async def persons(self, user_id: str) -> list[RefinedPerson]:
        return [rows.person_from_row(r, SQLITE) for r in await self.driver.rows(PERSONS, (user_id,))]

    async def persons_by_email(self, user_id: str, emails: Iterable[str]) -> dict[str, RefinedPerson]:
        found = await _rows_in(self.driver, PERSONS_BY_EMAIL, (user_id,), set(emails))
        return {p.email: p for p in (rows.person_from_row(r, SQLITE) for r in found)}

    async def person(self, user_id: str, email: str) -> RefinedPerson | None:
        found = await self.driver.rows(PERSON, (user_id, email))
        return rows.person_from_row(found[0], SQLITE) if found else None

    # a user's data -------------------------------------------------------------
    async def delete_user(self, user_id: str) -> dict[str, int]:
        counts = await self.driver.write([(sql, [(user_id,)]) for sql in DELETE_USER.values()])
        return dict(zip(DELETE_USER, counts, strict=True))
