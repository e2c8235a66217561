"""PostgreSQL adapters of the storage interfaces (self-host mode, ``STORAGE_MODE=postgresql``).

Two databases: the temporary mining tables (``schemas/postgres/temp.sql``,
unlogged) in ``LEADMINER_TEMP_DATABASE_URL`` and the permanent tables
(``schemas/postgres/main.sql``, the Supabase schema) in
``LEADMINER_DATABASE_URL``. Behaviour is the SQLite adapters' (same contract
tests); only the SQL differs:

* batches go in as one ``INSERT … SELECT FROM unnest(arrays)`` statement per
  call (one round trip for thousands of rows, duplicates skipped with
  ``ON CONFLICT``), each call in its own transaction;
* reads page by keyset (``iter_messages``) and pass id lists as one array
  parameter (``= ANY(%s)``) instead of chunked ``IN (…)`` lists;
* PostgreSQL text cannot hold U+0000, which malformed mail does contain: every
  NUL is stored as U+FFFD, and id look-ups (``known_message_ids``,
  ``lookup_threads``) answer with the caller's original ids, so re-mining
  still recognises such a message.

Speed against SQLite (docs/architecture.md, ``scripts/bench_storage.py``):
1.5× SQLite's time to add messages, 3× to index them.

Lives in the runner, never in the core: the core must import under Pyodide.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from leadminer.adapters.sqlite import SchemaVersionError
from leadminer.contracts import (
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
from leadminer.schemas import TEMP_MINING_IDS_SQL, TEMP_TABLES, schema_sql
from leadminer.scoring import outlier_count
from leadminer.storage import BatchCounts, FolderState, IndexedMessage, MiningRun, Occurrence

TEMP_DSN_ENV = "LEADMINER_TEMP_DATABASE_URL"
MAIN_DSN_ENV = "LEADMINER_DATABASE_URL"

# Must equal the version each schemas/postgres/*.sql file writes into leadminer_schema_version.
MAIN_SCHEMA_VERSION = 1
TEMP_SCHEMA_VERSION = 2
_MAIN_TABLES = (
    "minings", "fetch_state", "failed_messages", "user_identities", "message_index", "occurrences", "refined_persons",
)  # fmt: skip
_PAGE = 500
# pg_advisory_xact_lock key: two runners starting at once apply a schema only once.
_SCHEMA_LOCK = 0x1EAD_0001
# first key of the (int, int) advisory locks of one mining (the second is a hash of its id)
_MINING_LOCK_CLASS = 0x1EAD_0002


def redact(dsn: str) -> str:
    """The DSN without its password, for messages and logs."""
    if "://" in dsn:
        parts = urlsplit(dsn)
        if parts.password is None:
            return dsn
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return urlunsplit(parts._replace(netloc=netloc))
    return " ".join("password=***" if item.startswith("password=") else item for item in dsn.split())


def connect(dsn: str) -> psycopg.Connection:
    """An autocommit connection: each store call opens its own transaction
    when it writes, so no transaction stays open between calls."""
    try:
        return psycopg.connect(dsn, autocommit=True)
    except psycopg.OperationalError as exc:
        # libpq's message names host and port, never the password
        raise ConnectionError(f"cannot connect to PostgreSQL at {redact(dsn)}: {exc}") from None


def stores_from_env(environ: dict[str, str] | None = None) -> tuple[PostgresTempStore, PostgresMainStore]:
    """The temp and main stores of ``LEADMINER_TEMP_DATABASE_URL`` / ``LEADMINER_DATABASE_URL``."""
    env = os.environ if environ is None else environ
    missing = [name for name in (TEMP_DSN_ENV, MAIN_DSN_ENV) if not env.get(name)]
    if missing:
        raise RuntimeError(f"STORAGE_MODE=postgresql needs {' and '.join(missing)} (see docs/env.md)")
    return PostgresTempStore(connect(env[TEMP_DSN_ENV])), PostgresMainStore(connect(env[MAIN_DSN_ENV]))


# NUL-safe values ---------------------------------------------------------------
def _text(value: str | None) -> str | None:
    return value.replace("\x00", "\ufffd") if value and "\x00" in value else value


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, dict):
        return {_text(k): _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def _json(value: Any) -> str:
    """JSON text for a jsonb parameter (jsonb rejects the escape \\u0000)."""
    text = json.dumps(value, ensure_ascii=False)
    return json.dumps(_scrub(value), ensure_ascii=False) if "\\u0000" in text else text


def _ids(values: Iterable[str]) -> tuple[list[str], dict[str, str]]:
    """Distinct ids as stored, and stored id → caller's id where they differ."""
    originals = set(values)
    stored = {o: _text(o) for o in originals}
    return list(set(stored.values())), {s: o for o, s in stored.items() if s != o}


def _last_wins(rows: Iterable[tuple], key_len: int) -> list[tuple]:
    """One row per key (its first ``key_len`` values), the last one given: what
    successive INSERT OR REPLACE do, which one ON CONFLICT DO UPDATE statement refuses."""
    return list({row[:key_len]: row for row in rows}.values())


def _columns(rows: Iterable[tuple], width: int) -> list[list]:
    """Rows → one list per column (the arrays handed to unnest)."""
    return [list(column) for column in zip(*rows, strict=True)] or [[] for _ in range(width)]


def _insert(
    cur: psycopg.Cursor,
    table: str,
    columns: Sequence[tuple[str, str]],
    rows: Sequence[tuple],
    conflict: Sequence[str],
    update: Sequence[str] = (),
    stamp: str | None = None,
) -> None:
    """``INSERT … SELECT FROM unnest(one array per column)``: a whole batch in one
    statement. ``columns`` are (name, type); jsonb travels as text and is cast.
    An existing row gets the ``update`` columns (and ``stamp`` = now()), else it is kept."""
    if not rows:
        return
    names = [name for name, _ in columns]
    arrays = sql.SQL(", ").join(
        sql.SQL("%b::{}[]").format(sql.SQL("text" if kind == "jsonb" else kind)) for _, kind in columns
    )
    selected = sql.SQL(", ").join(
        sql.SQL("u.{}::jsonb").format(sql.Identifier(name)) if kind == "jsonb" else sql.SQL("u.{}").format(sql.Identifier(name))
        for name, kind in columns
    )
    assignments = [sql.SQL("{0} = excluded.{0}").format(sql.Identifier(c)) for c in update]
    if stamp:
        assignments.append(sql.SQL("{} = now()").format(sql.Identifier(stamp)))
    action = sql.SQL("DO UPDATE SET ") + sql.SQL(", ").join(assignments) if assignments else sql.SQL("DO NOTHING")
    query = sql.SQL(
        "INSERT INTO {table} ({names}) SELECT {selected} FROM unnest({arrays}) AS u({names}) "
        "ON CONFLICT ({conflict}) {action}"
    ).format(
        table=sql.Identifier(table),
        names=sql.SQL(", ").join(map(sql.Identifier, names)),
        selected=selected,
        arrays=arrays,
        conflict=sql.SQL(", ").join(map(sql.Identifier, conflict)),
        action=action,
    )
    cur.execute(query, _columns(rows, len(columns)))


# schema -----------------------------------------------------------------------
def _existing(conn: psycopg.Connection, tables: Iterable[str]) -> set[str]:
    """Which of ``tables`` exist on the search path."""
    rows = conn.execute("SELECT t FROM unnest(%b::text[]) AS t WHERE to_regclass(t) IS NOT NULL", [list(tables)])
    return {r[0] for r in rows}


def _version(conn: psycopg.Connection, component: str) -> int | None:
    if not _existing(conn, ["leadminer_schema_version"]):
        return None
    row = conn.execute("SELECT version FROM leadminer_schema_version WHERE component = %s", [component]).fetchone()
    return row[0] if row else None


# temp store ---------------------------------------------------------------------
_MESSAGE_COLUMNS = (("message_id", "text"), ("date", "text"), ("record_json", "jsonb"), ("body", "text"))


class PostgresTempStore:
    """Temporary tables of minings (``schemas/postgres/temp.sql``)."""

    def __init__(self, conn: psycopg.Connection):
        self.conn = conn
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [_SCHEMA_LOCK])
            if _existing(conn, TEMP_TABLES) and _version(conn, "temp") != TEMP_SCHEMA_VERSION:
                # temporary rows of another version: nothing worth keeping, start afresh
                for table in TEMP_TABLES:
                    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
            if _version(conn, "temp") != TEMP_SCHEMA_VERSION or len(_existing(conn, TEMP_TABLES)) < len(TEMP_TABLES):
                conn.execute(schema_sql("postgres/temp.sql"))

    def add_messages(self, mining_id: str, records: Iterable[MessageRecord]) -> int:
        messages: dict[str, tuple] = {}
        points: list[tuple] = []
        for record in records:
            message_id = _text(record.message_id)
            if message_id in messages:
                continue  # the first copy wins, as with INSERT OR IGNORE
            fields = to_dict(record)
            fields.pop("points")
            body = fields.pop("body")
            messages[message_id] = (message_id, _text(record.date) or "", _json(fields), _text(body))
            points.extend(
                (message_id, position, p.field.value, _text(p.email), _text(p.name)) for position, p in enumerate(record.points)
            )
        if not messages:
            return 0
        with self.conn.transaction(), self.conn.cursor() as cur:
            # one statement: new messages, then the points of the new ones only
            cur.execute(
                "WITH new AS ("
                "  INSERT INTO mining_messages (mining_id, message_id, date, record_json, body)"
                "  SELECT %s, u.message_id, u.date, u.record::jsonb, u.body"
                "  FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[]) AS u(message_id, date, record, body)"
                "  ON CONFLICT DO NOTHING RETURNING message_id"
                "), points AS ("
                "  INSERT INTO mining_points (mining_id, message_id, position, field, email, name)"
                "  SELECT %s, p.message_id, p.position, p.field, p.email, p.name"
                "  FROM unnest(%b::text[], %b::int[], %b::text[], %b::text[], %b::text[])"
                "    AS p(message_id, position, field, email, name)"
                "  JOIN new USING (message_id)"
                "  ON CONFLICT DO NOTHING"
                ") SELECT count(*) FROM new",
                [
                    mining_id, *_columns(messages.values(), 4),
                    mining_id, *_columns(points, 5),
                ],  # fmt: skip
            )
            return cur.fetchone()[0]

    def add_failures(self, mining_id: str, failures: Iterable[FailedMessage]) -> None:
        rows = _last_wins(((mining_id, _text(f.folder), _text(f.uid), _text(f.reason)) for f in failures), 3)
        with self.conn.transaction(), self.conn.cursor() as cur:
            _insert(
                cur, "mining_failures", [("mining_id", "text"), ("folder", "text"), ("uid", "text"), ("reason", "text")],
                rows, ("mining_id", "folder", "uid"), ("reason",),
            )  # fmt: skip

    def iter_messages(self, mining_id: str, *, with_body: bool = True, page: int = _PAGE) -> Iterator[MessageRecord]:
        """Messages ordered by date, read a page at a time by keyset (memory stays bounded)."""
        last: tuple[str, str] = ("", "")
        body_column = sql.SQL("body" if with_body else "NULL")
        query = sql.SQL(
            "SELECT date, message_id, record_json, {} FROM mining_messages "
            "WHERE mining_id = %s AND (date, message_id) > (%s, %s) ORDER BY date, message_id LIMIT %s"
        ).format(body_column)
        while True:
            rows = self.conn.execute(query, (mining_id, *last, page)).fetchall()
            if not rows:
                return
            points: dict[str, list[PointOfContact]] = {}
            for message_id, field, email, name in self.conn.execute(
                "SELECT message_id, field, email, name FROM mining_points "
                "WHERE mining_id = %s AND message_id = ANY(%s) ORDER BY message_id, position",
                (mining_id, [r[1] for r in rows]),
            ):
                points.setdefault(message_id, []).append(PointOfContact(message_id, Field(field), email, name))
            for _date, message_id, fields, body in rows:
                yield MessageRecord(points=points.get(message_id, []), body=body, **fields)
            last = (rows[-1][0], rows[-1][1])

    def distinct_emails(self, mining_id: str) -> list[str]:
        rows = self.conn.execute(
            "SELECT DISTINCT email FROM mining_points WHERE mining_id = %s ORDER BY email", (mining_id,)
        )
        return [r[0] for r in rows]

    def save_cleaned(self, mining_id: str, cleaned: Iterable[CleanedAddress]) -> None:
        rows = _last_wins(
            ((mining_id, _text(c.email), c.status.value, _json(c.tags), _text(c.reason)) for c in cleaned), 2
        )
        with self.conn.transaction(), self.conn.cursor() as cur:
            _insert(
                cur, "mining_cleaned",
                [("mining_id", "text"), ("email", "text"), ("status", "text"), ("tags_json", "jsonb"), ("reason", "text")],
                rows, ("mining_id", "email"), ("status", "tags_json", "reason"),
            )  # fmt: skip

    def cleaned(self, mining_id: str) -> dict[str, CleanedAddress]:
        rows = self.conn.execute(
            "SELECT email, status, tags_json, reason FROM mining_cleaned WHERE mining_id = %s", (mining_id,)
        )
        return {e: CleanedAddress(e, Status(s), t, r) for e, s, t, r in rows}

    def save_signatures(self, mining_id: str, signatures: Iterable[Signature]) -> None:
        rows = _last_wins(
            ((mining_id, _text(s.email), _text(s.message_id), _json(to_dict(s))) for s in signatures), 2
        )
        with self.conn.transaction(), self.conn.cursor() as cur:
            _insert(
                cur, "mining_signatures",
                [("mining_id", "text"), ("email", "text"), ("message_id", "text"), ("signature_json", "jsonb")],
                rows, ("mining_id", "email"), ("message_id", "signature_json"),
            )  # fmt: skip

    def signatures(self, mining_id: str) -> dict[str, Signature]:
        rows = self.conn.execute(
            "SELECT email, signature_json FROM mining_signatures WHERE mining_id = %s", (mining_id,)
        )
        return {email: Signature.from_json(fields) for email, fields in rows}

    def failures(self, mining_id: str) -> list[FailedMessage]:
        rows = self.conn.execute(
            "SELECT folder, uid, reason FROM mining_failures WHERE mining_id = %s ORDER BY folder, uid", (mining_id,)
        )
        return [FailedMessage(mining_id, f, u, r) for f, u, r in rows]

    def drop_mining(self, mining_id: str) -> None:
        with self.conn.transaction():
            for table in TEMP_TABLES:
                self.conn.execute(
                    sql.SQL("DELETE FROM {} WHERE mining_id = %s").format(sql.Identifier(table)), (mining_id,)
                )

    def mining_ids(self) -> list[str]:
        """Minings that still have temporary rows (for the cleanup job)."""
        return sorted(r[0] for r in self.conn.execute(TEMP_MINING_IDS_SQL))

    # queued modes ------------------------------------------------------------
    def start_run(self, mining_id: str, user_id: str, source: str, identities: Iterable[str]) -> None:
        now = time.time()
        with self.conn.transaction():
            self.conn.execute(
                "INSERT INTO mining_runs (mining_id, user_id, source, identities_json, started, updated) "
                "VALUES (%s, %s, %s, %s::jsonb, %s, %s) ON CONFLICT (mining_id) DO NOTHING",
                (mining_id, user_id, _text(source), _json(list(identities)), now, now),
            )

    def run(self, mining_id: str) -> MiningRun | None:
        row = self.conn.execute(
            "SELECT user_id, source, identities_json, started, updated, fetched, fetch_failed, batches, "
            "fetch_state_json, (SELECT coalesce(jsonb_object_agg(step, count), '{}') FROM mining_steps s "
            "WHERE s.mining_id = r.mining_id) FROM mining_runs r WHERE mining_id = %s",
            (mining_id,),
        ).fetchone()
        return MiningRun(mining_id, *row) if row else None

    def _touch(self, cur: psycopg.Cursor, mining_id: str) -> None:
        cur.execute("UPDATE mining_runs SET updated = %s WHERE mining_id = %s", (time.time(), mining_id))

    def add_raw_batch(self, mining_id: str, batch_no: int, raws: list[RawMessage]) -> None:
        rows = [
            (mining_id, batch_no, position, _text(r.folder), _text(r.uid), _json(list(r.flags)), r.data)
            for position, r in enumerate(raws)
        ]
        with self.conn.transaction(), self.conn.cursor() as cur:
            _insert(
                cur, "mining_raw",
                [("mining_id", "text"), ("batch_no", "int"), ("position", "int"), ("folder", "text"), ("uid", "text"),
                 ("flags_json", "jsonb"), ("data", "bytea")],
                rows, ("mining_id", "batch_no", "position"),
            )  # fmt: skip
            self._touch(cur, mining_id)

    def raw_batch(self, mining_id: str, batch_no: int) -> list[RawMessage]:
        rows = self.conn.execute(
            "SELECT folder, uid, flags_json, data FROM mining_raw WHERE mining_id = %s AND batch_no = %s "
            "ORDER BY position",
            (mining_id, batch_no),
        )
        return [RawMessage(mining_id, f, u, bytes(d), tuple(flags)) for f, u, flags, d in rows]

    def finish_batch(self, mining_id: str, batch_no: int, counts: BatchCounts) -> None:
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute(
                "INSERT INTO mining_batches (mining_id, batch_no, records, already_mined, failed, contacts) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (mining_id, batch_no, counts.records, counts.already_mined, counts.failed, counts.contacts),
            )
            cur.execute("DELETE FROM mining_raw WHERE mining_id = %s AND batch_no = %s", (mining_id, batch_no))
            self._touch(cur, mining_id)

    def end_fetch(self, mining_id: str, *, batches: int, fetched: int, failed: int, fetch_state: list[list]) -> None:
        with self.conn.transaction():
            self.conn.execute(
                "UPDATE mining_runs SET batches = %s, fetched = %s, fetch_failed = %s, fetch_state_json = %s::jsonb, "
                "updated = %s WHERE mining_id = %s",
                (batches, fetched, failed, _json(fetch_state), time.time(), mining_id),
            )

    def claim_clean(self, mining_id: str) -> bool:
        # Several runners may ask at once (the fetcher ending, consumers of the last
        # batches): the row lock lets one update succeed, and the later statement,
        # started after every earlier commit, sees every batch, so one of them wins.
        with self.conn.transaction():
            row = self.conn.execute(
                "UPDATE mining_runs SET clean_sent = true WHERE mining_id = %s AND NOT clean_sent "
                "AND batches = (SELECT count(*) FROM mining_batches WHERE mining_id = %s) RETURNING mining_id",
                (mining_id, mining_id),
            ).fetchone()
        return row is not None

    def batch_totals(self, mining_id: str) -> dict[str, int]:
        row = self.conn.execute(
            "SELECT coalesce(sum(records), 0), coalesce(sum(already_mined), 0), coalesce(sum(failed), 0), "
            "coalesce(sum(contacts), 0), (SELECT count(*) FROM mining_messages WHERE mining_id = %s) "
            "FROM mining_batches WHERE mining_id = %s",
            (mining_id, mining_id),
        ).fetchone()
        return dict(zip(("records", "already_mined", "failed", "contacts", "extracted"), map(int, row), strict=True))

    def mark_step(self, mining_id: str, step: str, count: int) -> None:
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute(
                "INSERT INTO mining_steps (mining_id, step, count) VALUES (%s, %s, %s) "
                "ON CONFLICT (mining_id, step) DO UPDATE SET count = excluded.count",
                (mining_id, step, count),
            )
            self._touch(cur, mining_id)

    @contextmanager
    def mining_lock(self, mining_id: str) -> Iterator[None]:
        """A session advisory lock: waits while another runner holds it, and is
        released by the server if that runner's connection dies."""
        key = (_MINING_LOCK_CLASS, mining_id)
        self.conn.execute("SELECT pg_advisory_lock(%s::int, hashtext(%s))", key)
        try:
            yield
        finally:
            self.conn.execute("SELECT pg_advisory_unlock(%s::int, hashtext(%s))", key)


# main store ---------------------------------------------------------------------
_PERSON_COLUMNS = (
    ("user_id", "text"), ("email", "text"), ("name", "text"), ("given_name", "text"), ("family_name", "text"),
    ("alternate_names_json", "jsonb"), ("alternate_emails_json", "jsonb"), ("occurrence", "int"), ("sender", "int"),
    ("recipient", "int"), ("conversations", "int"), ("replied_conversations", "int"), ("first_seen", "text"),
    ("last_seen", "text"), ("tags_json", "jsonb"), ("status", "text"), ("temperature", "int"),
    ("direct_messages", "int"), ("direct_first", "text"), ("direct_last", "text"), ("signature_date", "text"),
    ("job_title", "text"), ("organization", "text"), ("telephone_json", "jsonb"), ("fax_json", "jsonb"),
    ("address", "text"), ("url", "text"), ("same_as_json", "jsonb"),
)  # fmt: skip
_PERSON_SELECT = sql.SQL(", ").join(sql.Identifier(name) for name, _ in _PERSON_COLUMNS)


def _person_row(p: RefinedPerson) -> tuple:
    values = []
    for column, kind in _PERSON_COLUMNS:
        if kind == "jsonb":
            values.append(_json(getattr(p, column[:-5])))
        elif kind == "text":
            values.append(_text(getattr(p, column)))
        else:
            values.append(getattr(p, column))
    return tuple(values)


def _person_from_row(row: tuple) -> RefinedPerson:
    return RefinedPerson(
        **{
            (column[:-5] if kind == "jsonb" else column): value
            for (column, kind), value in zip(_PERSON_COLUMNS, row, strict=True)
        }
    )


def _iso(moment: datetime | None) -> str | None:
    """timestamptz as the SQLite adapter writes times: ISO 8601 UTC, whole seconds."""
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment else None


class PostgresMainStore:
    """Permanent tables (``schemas/postgres/main.sql``)."""

    def __init__(self, conn: psycopg.Connection):
        self.conn = conn
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [_SCHEMA_LOCK])
            version = _version(conn, "main")
            if version is None and not _existing(conn, _MAIN_TABLES):
                conn.execute(schema_sql("postgres/main.sql"))
                version = _version(conn, "main")
            if version != MAIN_SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"this database was made by another version of leadminer (schema {version or 0}, "
                    f"this one needs {MAIN_SCHEMA_VERSION}); use a new database for {MAIN_DSN_ENV}"
                )

    # minings -----------------------------------------------------------------
    def start_mining(self, mining_id: str, user_id: str, source: str) -> None:
        with self.conn.transaction():
            self.conn.execute(
                "INSERT INTO minings (id, user_id, source, status) VALUES (%s, %s, %s, 'running') "
                "ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, source = excluded.source, "
                "status = excluded.status, started_at = now(), finished_at = NULL, stats_json = '{}'",
                (mining_id, user_id, _text(source)),
            )

    def finish_mining(self, mining_id: str, status: str, stats: dict) -> None:
        with self.conn.transaction():
            self.conn.execute(
                "UPDATE minings SET status = %s, finished_at = now(), stats_json = %s::jsonb WHERE id = %s",
                (status, _json(stats), mining_id),
            )

    def minings(self, status: str | None = None) -> list[dict]:
        return self._minings(sql.SQL("WHERE status = %s" if status else ""), (status,) if status else ())

    def mining(self, mining_id: str) -> dict | None:
        """One mining as :meth:`minings` lists it, or None."""
        return next(iter(self._minings(sql.SQL("WHERE id = %s"), (mining_id,))), None)

    def _minings(self, where: sql.SQL, params: tuple) -> list[dict]:
        query = sql.SQL(
            "SELECT id, user_id, source, status, started_at, finished_at, stats_json FROM minings {} ORDER BY started_at, id"
        ).format(where)
        keys = ("id", "user_id", "source", "status", "started_at", "finished_at", "stats")
        return [
            dict(zip(keys, (i, u, s, st, _iso(started), _iso(finished), stats), strict=True))
            for i, u, s, st, started, finished, stats in self.conn.execute(query, params)
        ]

    # fetch state -------------------------------------------------------------
    def get_folder_state(self, user_id: str, source: str, folder: str) -> FolderState | None:
        row = self.conn.execute(
            "SELECT uidvalidity, highest_uid FROM fetch_state WHERE user_id = %s AND source = %s AND folder = %s",
            (user_id, _text(source), _text(folder)),
        ).fetchone()
        return FolderState(*row) if row else None

    def save_folder_state(self, user_id: str, source: str, folder: str, state: FolderState) -> None:
        with self.conn.transaction():
            self.conn.execute(
                "INSERT INTO fetch_state (user_id, source, folder, uidvalidity, highest_uid) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (user_id, source, folder) DO UPDATE SET uidvalidity = excluded.uidvalidity, "
                "highest_uid = excluded.highest_uid, updated_at = now()",
                (user_id, _text(source), _text(folder), state.uidvalidity, state.highest_uid),
            )

    # message index -----------------------------------------------------------
    def known_message_ids(self, user_id: str, message_ids: Iterable[str]) -> set[str]:
        stored, original = _ids(message_ids)
        rows = self.conn.execute(
            "SELECT i.message_id FROM message_index i JOIN minings m ON m.id = i.mining_id "
            "WHERE i.user_id = %s AND m.status = 'done' AND i.message_id = ANY(%s)",
            (user_id, stored),
        )
        return {original.get(r[0], r[0]) for r in rows}

    def index_messages(
        self, user_id: str, mining_id: str, messages: Iterable[IndexedMessage], occurrences: Iterable[Occurrence]
    ) -> None:
        rows = _last_wins(
            (
                (_text(m.message_id), mining_id, _text(m.thread_id), _text(m.date), _text(m.from_key), m.from_user,
                 _text(m.in_reply_to), _json(m.tags))
                for m in messages
            ),
            1,
        )  # fmt: skip
        occurrence_rows = [
            (_text(o.message_id), _text(o.key), _text(o.email), o.field, _text(o.name)) for o in occurrences
        ]
        with self.conn.transaction(), self.conn.cursor() as cur:
            # A message indexed by a mining that died is re-claimed whole: its
            # facts (sender, thread, tags, user identities) and occurrences are
            # replaced by this mining's.
            cur.execute(
                "DELETE FROM occurrences WHERE user_id = %s AND message_id = ANY(%s)", (user_id, [r[0] for r in rows])
            )
            columns = [("message_id", "text"), ("mining_id", "text"), ("thread_id", "text"), ("date", "text"),
                       ("from_key", "text"), ("from_user", "boolean"), ("in_reply_to", "text"), ("tags_json", "jsonb")]  # fmt: skip
            _insert(
                cur, "message_index", [("user_id", "text"), *columns], [(user_id, *r) for r in rows],
                ("user_id", "message_id"), [name for name, _ in columns[1:]],
            )  # fmt: skip
            _insert(
                cur, "occurrences",
                [("user_id", "text"), ("message_id", "text"), ("key", "text"), ("email", "text"), ("field", "text"),
                 ("name", "text")],
                [(user_id, *r) for r in occurrence_rows], ("user_id", "message_id", "key", "field"),
            )  # fmt: skip

    _INDEX_COLUMNS = "message_id, thread_id, date, from_key, from_user, in_reply_to, tags_json"

    def lookup_threads(self, user_id: str, message_ids: Iterable[str]) -> dict[str, IndexedMessage]:
        stored, original = _ids(message_ids)
        rows = self.conn.execute(
            f"SELECT {self._INDEX_COLUMNS} FROM message_index WHERE user_id = %s AND message_id = ANY(%s)",
            (user_id, stored),
        )
        found: dict[str, IndexedMessage] = {}
        for row in rows:
            message = IndexedMessage(*row)
            found[original.get(message.message_id, message.message_id)] = message
        return found

    def thread_sizes(self, user_id: str, thread_ids: Iterable[str]) -> dict[str, int]:
        stored, original = _ids(thread_ids)
        rows = self.conn.execute(
            "SELECT thread_id, count(*) FROM message_index WHERE user_id = %s AND thread_id = ANY(%s) GROUP BY thread_id",
            (user_id, stored),
        )
        return {original.get(t, t): n for t, n in rows}

    def history(self, user_id: str, keys: Iterable[str]) -> tuple[list[IndexedMessage], list[Occurrence]]:
        stored, _ = _ids(keys)
        touched = "SELECT message_id FROM occurrences WHERE user_id = %(u)s AND key = ANY(%(keys)s)"
        params = {"u": user_id, "keys": stored}
        rows = self.conn.execute(
            f"SELECT {self._INDEX_COLUMNS} FROM message_index "
            f"WHERE user_id = %(u)s AND message_id IN ({touched}) ORDER BY message_id",
            params,
        )
        messages = [IndexedMessage(*row) for row in rows]
        rows = self.conn.execute(
            "SELECT message_id, key, email, field, name FROM occurrences "
            f"WHERE user_id = %(u)s AND message_id IN ({touched}) ORDER BY message_id, key, field",
            params,
        )
        return messages, [Occurrence(*row) for row in rows]

    def reference_date(self, user_id: str) -> str | None:
        """See :func:`leadminer.scoring.reference_date` (same rule, in SQL)."""
        (count,) = self.conn.execute("SELECT count(date) FROM message_index WHERE user_id = %s", (user_id,)).fetchone()
        row = self.conn.execute(
            "SELECT date FROM message_index WHERE user_id = %s AND date IS NOT NULL ORDER BY date DESC LIMIT 1 OFFSET %s",
            (user_id, outlier_count(count)),
        ).fetchone()
        return row[0] if row else None

    # identities and failures ---------------------------------------------------
    def identities(self, user_id: str) -> set[str]:
        rows = self.conn.execute("SELECT email FROM user_identities WHERE user_id = %s", (user_id,))
        return {r[0] for r in rows}

    def add_identities(self, user_id: str, emails: Iterable[str]) -> None:
        rows = [(user_id, e) for e in {_text(e) for e in emails}]
        with self.conn.transaction(), self.conn.cursor() as cur:
            _insert(cur, "user_identities", [("user_id", "text"), ("email", "text")], rows, ("user_id", "email"))

    def record_failures(self, failures: Iterable[FailedMessage]) -> None:
        rows = _last_wins(((f.mining_id, _text(f.folder), _text(f.uid), _text(f.reason)) for f in failures), 3)
        if not rows:
            return
        with self.conn.transaction():
            # each row belongs to its mining's user ('' for an unknown mining: visible to no user)
            self.conn.execute(
                "INSERT INTO failed_messages (user_id, mining_id, folder, uid, reason) "
                "SELECT coalesce(m.user_id, ''), u.mining_id, u.folder, u.uid, u.reason "
                "FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[]) AS u(mining_id, folder, uid, reason) "
                "LEFT JOIN minings m ON m.id = u.mining_id "
                "ON CONFLICT (mining_id, folder, uid) DO UPDATE SET reason = excluded.reason",
                _columns(rows, 4),
            )

    def failures(self, mining_id: str | None = None) -> list[FailedMessage]:
        query = "SELECT mining_id, folder, uid, reason FROM failed_messages"
        rows = self.conn.execute(
            query + (" WHERE mining_id = %s" if mining_id else "") + " ORDER BY mining_id, folder, uid",
            (mining_id,) if mining_id else (),
        )
        return [FailedMessage(*r) for r in rows]

    # refined persons ---------------------------------------------------------
    def upsert_persons(self, persons: Iterable[RefinedPerson]) -> None:
        rows = _last_wins((_person_row(p) for p in persons), 2)
        with self.conn.transaction(), self.conn.cursor() as cur:
            _insert(
                cur, "refined_persons", _PERSON_COLUMNS, rows, ("user_id", "email"),
                [name for name, _ in _PERSON_COLUMNS[2:]], stamp="updated_at",
            )  # fmt: skip

    def update_temperatures(self, user_id: str, temperatures: dict[str, int]) -> None:
        if not temperatures:
            return
        with self.conn.transaction():
            self.conn.execute(
                "UPDATE refined_persons p SET temperature = u.temperature "
                "FROM unnest(%b::text[], %b::int[]) AS u(email, temperature) "
                "WHERE p.user_id = %s AND p.email = u.email",
                ([_text(e) for e in temperatures], list(temperatures.values()), user_id),
            )

    def persons(self, user_id: str) -> list[RefinedPerson]:
        rows = self.conn.execute(
            sql.SQL(
                "SELECT {} FROM refined_persons WHERE user_id = %s ORDER BY temperature DESC, occurrence DESC, email"
            ).format(_PERSON_SELECT),
            (user_id,),
        )
        return [_person_from_row(r) for r in rows]

    def persons_by_email(self, user_id: str, emails: Iterable[str]) -> dict[str, RefinedPerson]:
        stored, original = _ids(emails)
        rows = self.conn.execute(
            sql.SQL("SELECT {} FROM refined_persons WHERE user_id = %s AND email = ANY(%s)").format(_PERSON_SELECT),
            (user_id, stored),
        )
        return {original.get(p.email, p.email): p for p in map(_person_from_row, rows)}

    def person(self, user_id: str, email: str) -> RefinedPerson | None:
        row = self.conn.execute(
            sql.SQL("SELECT {} FROM refined_persons WHERE user_id = %s AND email = %s").format(_PERSON_SELECT),
            (user_id, _text(email)),
        ).fetchone()
        return _person_from_row(row) if row else None
