"""SQLite adapters (embedded mode; the temp schema is also valid Cloudflare D1 SQL)."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path

from ..contracts import (
    CleanedAddress,
    FailedMessage,
    Field,
    MessageRecord,
    PointOfContact,
    RawMessage,
    RefinedPerson,
    Signature,
    Status,
    to_dict,
)
from ..schemas import TEMP_MINING_IDS_SQL, TEMP_TABLES, schema_sql
from ..scoring import outlier_count
from ..storage import BatchCounts, FolderState, IndexedMessage, MiningRun, Occurrence

_CHUNK = 500  # keeps "IN (…)" lists under SQLite's/D1's bound-parameter limits

# Bumped whenever schemas/sqlite/*.sql change incompatibly (kept in PRAGMA user_version).
MAIN_SCHEMA_VERSION = 1
TEMP_SCHEMA_VERSION = 2


class SchemaVersionError(RuntimeError):
    """The database was written by an incompatible version of leadminer."""


def _user_tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    return {r[0] for r in rows}


def _schema_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def connect(path: str | Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")  # file-level setting, not part of the D1 DDL
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _chunks(items: list, size: int = _CHUNK) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _marks(n: int) -> str:
    return ",".join("?" * n)


class SqliteTempStore:
    """Temporary tables of minings (``schemas/sqlite/temp.sql``)."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        if _user_tables(conn) and _schema_version(conn) != TEMP_SCHEMA_VERSION:
            # temporary rows of another version: nothing worth keeping, start afresh
            for table in TEMP_TABLES:
                conn.execute(f"DROP TABLE IF EXISTS {table}")  # noqa: S608 - fixed names
        conn.executescript(schema_sql("sqlite/temp.sql"))
        conn.execute(f"PRAGMA user_version = {TEMP_SCHEMA_VERSION}")

    def add_messages(self, mining_id: str, records: Iterable[MessageRecord]) -> int:
        added = 0
        with self.conn:
            for record in records:
                fields = to_dict(record)
                fields.pop("points")
                text = fields.pop("body")
                cur = self.conn.execute(
                    "INSERT OR IGNORE INTO mining_messages (mining_id, message_id, date, record_json, body) "
                    "VALUES (?,?,?,?,?)",
                    (mining_id, record.message_id, record.date or "", json.dumps(fields, ensure_ascii=False), text),
                )
                if cur.rowcount:
                    added += 1
                    self.conn.executemany(
                        "INSERT OR IGNORE INTO mining_points (mining_id, message_id, field, email, name) VALUES (?,?,?,?,?)",
                        [(mining_id, p.message_id, p.field.value, p.email, p.name) for p in record.points],
                    )
        return added

    def add_failures(self, mining_id: str, failures: Iterable[FailedMessage]) -> None:
        with self.conn:
            self.conn.executemany(
                "INSERT OR REPLACE INTO mining_failures (mining_id, folder, uid, reason) VALUES (?,?,?,?)",
                [(mining_id, f.folder, f.uid, f.reason) for f in failures],
            )

    def iter_messages(
        self, mining_id: str, *, with_body: bool = True, page: int = _CHUNK
    ) -> Iterator[MessageRecord]:
        """Messages ordered by date, read a page at a time (memory stays bounded)."""
        last: tuple[str, str] = ("", "")
        body_column = "body" if with_body else "NULL"
        while True:
            rows = self.conn.execute(
                f"SELECT date, message_id, record_json, {body_column} FROM mining_messages "
                "WHERE mining_id = ? AND (date, message_id) > (?, ?) ORDER BY date, message_id LIMIT ?",
                (mining_id, *last, page),
            ).fetchall()
            if not rows:
                return
            points: dict[str, list[PointOfContact]] = {}
            ids = [r[1] for r in rows]
            for message_id, field, email, name in self.conn.execute(
                "SELECT message_id, field, email, name FROM mining_points "
                f"WHERE mining_id = ? AND message_id IN ({_marks(len(ids))}) ORDER BY rowid",
                (mining_id, *ids),
            ):
                points.setdefault(message_id, []).append(PointOfContact(message_id, Field(field), email, name))
            for _date, message_id, record_json, body in rows:
                yield MessageRecord(points=points.get(message_id, []), body=body, **json.loads(record_json))
            last = (rows[-1][0], rows[-1][1])

    def distinct_emails(self, mining_id: str) -> list[str]:
        rows = self.conn.execute(
            "SELECT DISTINCT email FROM mining_points WHERE mining_id = ? ORDER BY email", (mining_id,)
        )
        return [r[0] for r in rows]

    def save_cleaned(self, mining_id: str, cleaned: Iterable[CleanedAddress]) -> None:
        with self.conn:
            self.conn.executemany(
                "INSERT OR REPLACE INTO mining_cleaned (mining_id, email, status, tags_json, reason) VALUES (?,?,?,?,?)",
                [(mining_id, c.email, c.status.value, json.dumps(c.tags), c.reason) for c in cleaned],
            )

    def cleaned(self, mining_id: str) -> dict[str, CleanedAddress]:
        rows = self.conn.execute(
            "SELECT email, status, tags_json, reason FROM mining_cleaned WHERE mining_id = ?", (mining_id,)
        )
        return {e: CleanedAddress(e, Status(s), json.loads(t), r) for e, s, t, r in rows}

    def save_signatures(self, mining_id: str, signatures: Iterable[Signature]) -> None:
        with self.conn:
            self.conn.executemany(
                "INSERT OR REPLACE INTO mining_signatures (mining_id, email, message_id, signature_json) VALUES (?,?,?,?)",
                [(mining_id, s.email, s.message_id, json.dumps(to_dict(s), ensure_ascii=False)) for s in signatures],
            )

    def signatures(self, mining_id: str) -> dict[str, Signature]:
        rows = self.conn.execute("SELECT email, signature_json FROM mining_signatures WHERE mining_id = ?", (mining_id,))
        return {email: Signature.from_json(json.loads(data)) for email, data in rows}

    def failures(self, mining_id: str) -> list[FailedMessage]:
        rows = self.conn.execute(
            "SELECT folder, uid, reason FROM mining_failures WHERE mining_id = ? ORDER BY folder, uid", (mining_id,)
        )
        return [FailedMessage(mining_id, f, u, r) for f, u, r in rows]

    def drop_mining(self, mining_id: str) -> None:
        with self.conn:
            for table in TEMP_TABLES:
                self.conn.execute(f"DELETE FROM {table} WHERE mining_id = ?", (mining_id,))  # noqa: S608 - fixed names

    def mining_ids(self) -> list[str]:
        """Minings that still have temporary rows (for the cleanup job)."""
        return sorted(r[0] for r in self.conn.execute(TEMP_MINING_IDS_SQL))

    # queued modes ------------------------------------------------------------
    def start_run(self, mining_id: str, user_id: str, source: str, identities: Iterable[str]) -> None:
        now = time.time()
        with self.conn:
            self.conn.execute(
                "INSERT OR IGNORE INTO mining_runs (mining_id, user_id, source, identities_json, started, updated) "
                "VALUES (?,?,?,?,?,?)",
                (mining_id, user_id, source, json.dumps(list(identities), ensure_ascii=False), now, now),
            )

    def run(self, mining_id: str) -> MiningRun | None:
        row = self.conn.execute(
            "SELECT user_id, source, identities_json, started, updated, fetched, fetch_failed, batches, "
            "fetch_state_json FROM mining_runs WHERE mining_id = ?",
            (mining_id,),
        ).fetchone()
        if row is None:
            return None
        user_id, source, identities, started, updated, fetched, failed, batches, state = row
        steps = dict(self.conn.execute("SELECT step, count FROM mining_steps WHERE mining_id = ?", (mining_id,)))
        return MiningRun(
            mining_id, user_id, source, json.loads(identities), started, updated, fetched, failed, batches,
            json.loads(state), steps,
        )  # fmt: skip

    def _touch(self, mining_id: str) -> None:
        self.conn.execute("UPDATE mining_runs SET updated = ? WHERE mining_id = ?", (time.time(), mining_id))

    def add_raw_batch(self, mining_id: str, batch_no: int, raws: list[RawMessage]) -> None:
        with self.conn:
            self.conn.executemany(
                "INSERT OR IGNORE INTO mining_raw (mining_id, batch_no, position, folder, uid, flags_json, data) "
                "VALUES (?,?,?,?,?,?,?)",
                [
                    (mining_id, batch_no, position, r.folder, r.uid, json.dumps(list(r.flags)), r.data)
                    for position, r in enumerate(raws)
                ],
            )
            self._touch(mining_id)

    def raw_batch(self, mining_id: str, batch_no: int) -> list[RawMessage]:
        rows = self.conn.execute(
            "SELECT folder, uid, flags_json, data FROM mining_raw WHERE mining_id = ? AND batch_no = ? ORDER BY position",
            (mining_id, batch_no),
        )
        return [RawMessage(mining_id, f, u, bytes(d), tuple(json.loads(fl))) for f, u, fl, d in rows]

    def finish_batch(self, mining_id: str, batch_no: int, counts: BatchCounts) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT OR IGNORE INTO mining_batches (mining_id, batch_no, records, already_mined, failed, contacts) "
                "VALUES (?,?,?,?,?,?)",
                (mining_id, batch_no, counts.records, counts.already_mined, counts.failed, counts.contacts),
            )
            self.conn.execute("DELETE FROM mining_raw WHERE mining_id = ? AND batch_no = ?", (mining_id, batch_no))
            self._touch(mining_id)

    def end_fetch(self, mining_id: str, *, batches: int, fetched: int, failed: int, fetch_state: list[list]) -> None:
        with self.conn:
            self.conn.execute(
                "UPDATE mining_runs SET batches = ?, fetched = ?, fetch_failed = ?, fetch_state_json = ?, updated = ? "
                "WHERE mining_id = ?",
                (batches, fetched, failed, json.dumps(fetch_state, ensure_ascii=False), time.time(), mining_id),
            )

    def claim_clean(self, mining_id: str) -> bool:
        with self.conn:
            cur = self.conn.execute(
                "UPDATE mining_runs SET clean_sent = 1 WHERE mining_id = ? AND NOT clean_sent AND batches IS NOT NULL "
                "AND batches = (SELECT count(*) FROM mining_batches WHERE mining_id = ?)",
                (mining_id, mining_id),
            )
            return cur.rowcount == 1

    def batch_totals(self, mining_id: str) -> dict[str, int]:
        records, already, failed, contacts = self.conn.execute(
            "SELECT coalesce(sum(records), 0), coalesce(sum(already_mined), 0), coalesce(sum(failed), 0), "
            "coalesce(sum(contacts), 0) FROM mining_batches WHERE mining_id = ?",
            (mining_id,),
        ).fetchone()
        (extracted,) = self.conn.execute(
            "SELECT count(*) FROM mining_messages WHERE mining_id = ?", (mining_id,)
        ).fetchone()
        return {"records": records, "already_mined": already, "failed": failed, "contacts": contacts, "extracted": extracted}

    def mark_step(self, mining_id: str, step: str, count: int) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO mining_steps (mining_id, step, count) VALUES (?,?,?)", (mining_id, step, count)
            )
            self._touch(mining_id)

    def mining_lock(self, mining_id: str) -> nullcontext:
        """Nothing to serialise: one process owns a SQLite mining database (see ``embedded.exclusive``)."""
        return nullcontext()


_PERSON_COLUMNS = (
    "user_id", "email", "name", "given_name", "family_name", "alternate_names_json", "alternate_emails_json",
    "occurrence", "sender", "recipient", "conversations", "replied_conversations", "first_seen", "last_seen",
    "tags_json", "status", "temperature", "direct_messages", "direct_first", "direct_last", "signature_date", "job_title", "organization", "telephone_json", "fax_json", "address", "url",
    "same_as_json",
)  # fmt: skip


def _person_row(p: RefinedPerson) -> tuple:
    values = []
    for column in _PERSON_COLUMNS:
        if column.endswith("_json"):
            values.append(json.dumps(getattr(p, column[:-5]), ensure_ascii=False))
        else:
            values.append(getattr(p, column))
    return tuple(values)


def _person_from_row(row: tuple) -> RefinedPerson:
    kwargs = {}
    for column, value in zip(_PERSON_COLUMNS, row, strict=True):
        if column.endswith("_json"):
            kwargs[column[:-5]] = json.loads(value)
        else:
            kwargs[column] = value
    return RefinedPerson(**kwargs)


class SqliteMainStore:
    """Permanent tables (``schemas/sqlite/main.sql``)."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        if _user_tables(conn) and _schema_version(conn) != MAIN_SCHEMA_VERSION:
            raise SchemaVersionError(
                f"this database was made by another version of leadminer (schema {_schema_version(conn)}, "
                f"this one needs {MAIN_SCHEMA_VERSION}); mine into a new --db"
            )
        conn.executescript(schema_sql("sqlite/main.sql"))
        conn.execute(f"PRAGMA user_version = {MAIN_SCHEMA_VERSION}")

    # minings -----------------------------------------------------------------
    def start_mining(self, mining_id: str, user_id: str, source: str) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO minings (id, user_id, source, status, started_at) VALUES (?,?,?,?,?)",
                (mining_id, user_id, source, "running", _now()),
            )

    def finish_mining(self, mining_id: str, status: str, stats: dict) -> None:
        with self.conn:
            self.conn.execute(
                "UPDATE minings SET status = ?, finished_at = ?, stats_json = ? WHERE id = ?",
                (status, _now(), json.dumps(stats), mining_id),
            )

    def minings(self, status: str | None = None) -> list[dict]:
        return self._minings("WHERE status = ?" if status else "", (status,) if status else ())

    def mining(self, mining_id: str) -> dict | None:
        """One mining as :meth:`minings` lists it, or None."""
        return next(iter(self._minings("WHERE id = ?", (mining_id,))), None)

    def _minings(self, where: str, params: tuple) -> list[dict]:
        sql = f"SELECT id, user_id, source, status, started_at, finished_at, stats_json FROM minings {where} ORDER BY started_at"
        keys = ("id", "user_id", "source", "status", "started_at", "finished_at", "stats")
        return [dict(zip(keys, r[:-1] + (json.loads(r[-1]),), strict=True)) for r in self.conn.execute(sql, params)]

    # fetch state -------------------------------------------------------------
    def get_folder_state(self, user_id: str, source: str, folder: str) -> FolderState | None:
        row = self.conn.execute(
            "SELECT uidvalidity, highest_uid FROM fetch_state WHERE user_id = ? AND source = ? AND folder = ?",
            (user_id, source, folder),
        ).fetchone()
        return FolderState(*row) if row else None

    def save_folder_state(self, user_id: str, source: str, folder: str, state: FolderState) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO fetch_state (user_id, source, folder, uidvalidity, highest_uid, updated_at) "
                "VALUES (?,?,?,?,?,?)",
                (user_id, source, folder, state.uidvalidity, state.highest_uid, _now()),
            )

    # message index -----------------------------------------------------------
    def known_message_ids(self, user_id: str, message_ids: Iterable[str]) -> set[str]:
        known: set[str] = set()
        for chunk in _chunks(list(message_ids)):
            rows = self.conn.execute(
                "SELECT i.message_id FROM message_index i JOIN minings m ON m.id = i.mining_id "
                f"WHERE i.user_id = ? AND m.status = 'done' AND i.message_id IN ({_marks(len(chunk))})",
                (user_id, *chunk),
            )
            known.update(r[0] for r in rows)
        return known

    def index_messages(
        self, user_id: str, mining_id: str, messages: Iterable[IndexedMessage], occurrences: Iterable[Occurrence]
    ) -> None:
        messages = list(messages)
        with self.conn:
            # A message indexed by a mining that died is re-claimed whole: its
            # facts (sender, thread, tags, user identities) and occurrences are
            # replaced by this mining's.
            for chunk in _chunks([m.message_id for m in messages]):
                self.conn.execute(
                    f"DELETE FROM occurrences WHERE user_id = ? AND message_id IN ({_marks(len(chunk))})",
                    (user_id, *chunk),
                )
            self.conn.executemany(
                "INSERT INTO message_index "
                "(user_id, message_id, mining_id, thread_id, date, from_key, from_user, in_reply_to, tags_json) "
                "VALUES (?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT (user_id, message_id) DO UPDATE SET mining_id = excluded.mining_id, "
                "thread_id = excluded.thread_id, date = excluded.date, from_key = excluded.from_key, "
                "from_user = excluded.from_user, in_reply_to = excluded.in_reply_to, tags_json = excluded.tags_json",
                [
                    (user_id, m.message_id, mining_id, m.thread_id, m.date, m.from_key, int(m.from_user), m.in_reply_to,
                     json.dumps(m.tags))
                    for m in messages
                ],  # fmt: skip
            )
            self.conn.executemany(
                "INSERT OR IGNORE INTO occurrences (user_id, message_id, key, email, field, name) VALUES (?,?,?,?,?,?)",
                [(user_id, o.message_id, o.key, o.email, o.field, o.name) for o in occurrences],
            )

    _INDEX_COLUMNS = "message_id, thread_id, date, from_key, from_user, in_reply_to, tags_json"

    @staticmethod
    def _indexed(row: tuple) -> IndexedMessage:
        message_id, thread_id, date, from_key, from_user, in_reply_to, tags = row
        return IndexedMessage(message_id, thread_id, date, from_key, bool(from_user), in_reply_to, json.loads(tags))

    def lookup_threads(self, user_id: str, message_ids: Iterable[str]) -> dict[str, IndexedMessage]:
        found: dict[str, IndexedMessage] = {}
        for chunk in _chunks(list(set(message_ids))):
            rows = self.conn.execute(
                f"SELECT {self._INDEX_COLUMNS} FROM message_index WHERE user_id = ? AND message_id IN ({_marks(len(chunk))})",
                (user_id, *chunk),
            )
            for row in rows:
                found[row[0]] = self._indexed(row)
        return found

    def thread_sizes(self, user_id: str, thread_ids: Iterable[str]) -> dict[str, int]:
        sizes: dict[str, int] = {}
        for chunk in _chunks(list(set(thread_ids))):
            rows = self.conn.execute(
                f"SELECT thread_id, COUNT(*) FROM message_index WHERE user_id = ? AND thread_id IN ({_marks(len(chunk))}) "
                "GROUP BY thread_id",
                (user_id, *chunk),
            )
            sizes.update(rows)
        return sizes

    def history(self, user_id: str, keys: Iterable[str]) -> tuple[list[IndexedMessage], list[Occurrence]]:
        message_ids: set[str] = set()
        for chunk in _chunks(list(set(keys))):
            rows = self.conn.execute(
                f"SELECT DISTINCT message_id FROM occurrences WHERE user_id = ? AND key IN ({_marks(len(chunk))})",
                (user_id, *chunk),
            )
            message_ids.update(r[0] for r in rows)
        messages = list(self.lookup_threads(user_id, message_ids).values())
        occurrences: list[Occurrence] = []
        for chunk in _chunks(sorted(message_ids)):
            rows = self.conn.execute(
                "SELECT message_id, key, email, field, name FROM occurrences "
                f"WHERE user_id = ? AND message_id IN ({_marks(len(chunk))})",
                (user_id, *chunk),
            )
            occurrences.extend(Occurrence(*r) for r in rows)
        return messages, occurrences

    def reference_date(self, user_id: str) -> str | None:
        """See :func:`leadminer.scoring.reference_date` (same rule, in SQL)."""
        (count,) = self.conn.execute(
            "SELECT COUNT(date) FROM message_index WHERE user_id = ?", (user_id,)
        ).fetchone()
        row = self.conn.execute(
            "SELECT date FROM message_index WHERE user_id = ? AND date IS NOT NULL ORDER BY date DESC LIMIT 1 OFFSET ?",
            (user_id, outlier_count(count)),
        ).fetchone()
        return row[0] if row else None

    # identities and failures ---------------------------------------------------
    def identities(self, user_id: str) -> set[str]:
        rows = self.conn.execute("SELECT email FROM user_identities WHERE user_id = ?", (user_id,))
        return {r[0] for r in rows}

    def add_identities(self, user_id: str, emails: Iterable[str]) -> None:
        with self.conn:
            self.conn.executemany(
                "INSERT OR IGNORE INTO user_identities (user_id, email, added_at) VALUES (?,?,?)",
                [(user_id, e, _now()) for e in emails],
            )

    def record_failures(self, failures: Iterable[FailedMessage]) -> None:
        with self.conn:
            self.conn.executemany(
                "INSERT OR REPLACE INTO failed_messages (mining_id, folder, uid, reason) VALUES (?,?,?,?)",
                [(f.mining_id, f.folder, f.uid, f.reason) for f in failures],
            )

    def failures(self, mining_id: str | None = None) -> list[FailedMessage]:
        sql = "SELECT mining_id, folder, uid, reason FROM failed_messages"
        rows = self.conn.execute(
            sql + (" WHERE mining_id = ?" if mining_id else "") + " ORDER BY mining_id, folder, uid",
            (mining_id,) if mining_id else (),
        )
        return [FailedMessage(*r) for r in rows]

    # refined persons ---------------------------------------------------------
    def upsert_persons(self, persons: Iterable[RefinedPerson]) -> None:
        columns = ", ".join(_PERSON_COLUMNS) + ", updated_at"
        now = _now()
        with self.conn:
            self.conn.executemany(
                f"INSERT OR REPLACE INTO refined_persons ({columns}) VALUES ({_marks(len(_PERSON_COLUMNS) + 1)})",
                [(*_person_row(p), now) for p in persons],
            )

    def update_temperatures(self, user_id: str, temperatures: dict[str, int]) -> None:
        with self.conn:
            self.conn.executemany(
                "UPDATE refined_persons SET temperature = ? WHERE user_id = ? AND email = ?",
                [(t, user_id, email) for email, t in temperatures.items()],
            )

    def persons(self, user_id: str) -> list[RefinedPerson]:
        rows = self.conn.execute(
            f"SELECT {', '.join(_PERSON_COLUMNS)} FROM refined_persons WHERE user_id = ? "
            "ORDER BY temperature DESC, occurrence DESC, email",
            (user_id,),
        )
        return [_person_from_row(r) for r in rows]

    def persons_by_email(self, user_id: str, emails: Iterable[str]) -> dict[str, RefinedPerson]:
        found: dict[str, RefinedPerson] = {}
        for chunk in _chunks(list(emails)):
            rows = self.conn.execute(
                f"SELECT {', '.join(_PERSON_COLUMNS)} FROM refined_persons "
                f"WHERE user_id = ? AND email IN ({_marks(len(chunk))})",
                (user_id, *chunk),
            )
            for row in rows:
                person = _person_from_row(row)
                found[person.email] = person
        return found

    def person(self, user_id: str, email: str) -> RefinedPerson | None:
        row = self.conn.execute(
            f"SELECT {', '.join(_PERSON_COLUMNS)} FROM refined_persons WHERE user_id = ? AND email = ?", (user_id, email)
        ).fetchone()
        return _person_from_row(row) if row else None
