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

Async (psycopg 3 ``AsyncConnection``, autocommit: each write opens its own
transaction). Columns and row encoders are :mod:`leadminer.adapters.rows`,
shared with SQLite and D1; the SQL is PostgreSQL's own. Schemas are applied
by ``migrate()`` (``leadminer db migrate``, and on first use), never by a
constructor; ``check_schema()`` refuses a database of another version
without changing it.

Speed against SQLite (docs/architecture.md, ``scripts/bench_storage.py``):
1.4× SQLite's time to add messages, 2.3× to index them.

Lives in the runner, never in the core: the core must import under Pyodide.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from leadminer.adapters import queries, rows
from leadminer.adapters.rows import Codec, Column, last_wins
from leadminer.contracts import (
    CleanedAddress,
    FailedMessage,
    MessageRecord,
    PointOfContact,
    RawMessage,
    RefinedPerson,
    Signature,
)
from leadminer.schemas import (
    SCHEMA_VERSIONS,
    TEMP_MINING_IDS_SQL,
    TEMP_TABLES,
    SchemaVersionError,
    schema_sql,
    upgradable,
    version_error,
)
from leadminer.scoring import outlier_count
from leadminer.storage import BatchCounts, FolderState, IndexedMessage, MiningRun, Occurrence

from .pg_connection import ReconnectingConnection, redact

__all__ = [
    "PostgresMainStore", "PostgresTempStore", "SchemaVersionError", "connect", "redact",
]  # fmt: skip

TEMP_DSN_ENV = "LEADMINER_TEMP_DATABASE_URL"
MAIN_DSN_ENV = "LEADMINER_DATABASE_URL"  # named in the schema errors' hints

MAIN_SCHEMA = "postgres/main.sql"
MAIN_API_SCHEMA = "postgres/main_api.sql"  # applied with MAIN_SCHEMA, after it
TEMP_SCHEMA = "postgres/temp.sql"
MAIN_SCHEMA_VERSION = SCHEMA_VERSIONS[MAIN_SCHEMA]
TEMP_SCHEMA_VERSION = SCHEMA_VERSIONS[TEMP_SCHEMA]
_MAIN_TABLES = (
    "minings", "fetch_state", "failed_messages", "user_identities", "message_index", "occurrences", "refined_persons",
    "mining_sources",
)  # fmt: skip
_PAGE = 500
# pg_advisory_xact_lock key: two runners migrating at once apply a schema only once.
_SCHEMA_LOCK = 0x1EAD_0001
# first key of the (int, int) advisory locks of one mining (the second is a hash of its id)
_MINING_LOCK_CLASS = 0x1EAD_0002


async def connect(dsn: str) -> ReconnectingConnection:
    """An autocommit connection (each store call opens its own transaction when it writes, so
    no transaction stays open between calls) that reconnects after its session died; a server
    that cannot be reached is a ``ConnectionError`` naming it, never the password."""
    return await ReconnectingConnection.open(dsn)


# NUL-safe values ---------------------------------------------------------------
_text = rows.nul_free
_scrub = rows.nul_free_json


def _json(value: Any) -> str:
    """JSON text for a jsonb parameter (jsonb rejects the escape \\u0000)."""
    text = json.dumps(value, ensure_ascii=False)
    return json.dumps(_scrub(value), ensure_ascii=False) if "\\u0000" in text else text


PG = Codec(text=_text, dump=_json, load=lambda value: value)
"""PostgreSQL: text without NUL, JSON as jsonb (sent as text, read back decoded by psycopg)."""


def _ids(values: Iterable[str]) -> tuple[list[str], dict[str, str]]:
    """Distinct ids as stored, and stored id → caller's id where they differ."""
    originals = set(values)
    stored = {o: _text(o) for o in originals}
    return list(set(stored.values())), {s: o for o, s in stored.items() if s != o}


def _columns(rows_: Iterable[tuple], width: int) -> list[list]:
    """Rows → one list per column (the arrays handed to unnest)."""
    return [list(column) for column in zip(*rows_, strict=True)] or [[] for _ in range(width)]


_PG_TYPES = {"text": "text", "int": "int", "real": "double precision", "bool": "boolean", "json": "jsonb", "bytes": "bytea"}
_MINING = Column("mining_id", "text")
_USER = Column("user_id", "text")


async def _insert(
    cur: psycopg.AsyncCursor,
    table: str,
    columns: Sequence[Column],
    rows_: Sequence[tuple],
    conflict: Sequence[str],
    update: Sequence[str] = (),
    stamp: str | None = None,
) -> None:
    """``INSERT … SELECT FROM unnest(one array per column)``: a whole batch in one
    statement; jsonb travels as text and is cast. An existing row gets the
    ``update`` columns (and ``stamp`` = now()), else it is kept."""
    if not rows_:
        return
    arrays = sql.SQL(", ").join(
        sql.SQL("%b::{}[]").format(sql.SQL("text" if c.kind == "json" else _PG_TYPES[c.kind])) for c in columns
    )
    selected = sql.SQL(", ").join(
        sql.SQL("u.{}" + ("::jsonb" if c.kind == "json" else "")).format(sql.Identifier(c.name)) for c in columns
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
        names=sql.SQL(", ").join(sql.Identifier(c.name) for c in columns),
        selected=selected,
        arrays=arrays,
        conflict=sql.SQL(", ").join(map(sql.Identifier, conflict)),
        action=action,
    )
    await cur.execute(query, _columns(rows_, len(columns)))


async def _all(conn: psycopg.AsyncConnection, query: Any, params: Any = ()) -> list[tuple]:
    cur = await conn.execute(query, params)
    return await cur.fetchall()


async def _one(conn: psycopg.AsyncConnection, query: Any, params: Any = ()) -> tuple | None:
    cur = await conn.execute(query, params)
    return await cur.fetchone()


# schema -----------------------------------------------------------------------
async def _existing(conn: psycopg.AsyncConnection, tables: Iterable[str]) -> set[str]:
    """Which of ``tables`` exist on the search path."""
    found = await _all(conn, "SELECT t FROM unnest(%b::text[]) AS t WHERE to_regclass(t) IS NOT NULL", [list(tables)])
    return {r[0] for r in found}


async def _version(conn: psycopg.AsyncConnection, component: str) -> int | None:
    if not await _existing(conn, ["leadminer_schema_version"]):
        return None
    row = await _one(conn, "SELECT version FROM leadminer_schema_version WHERE component = %s", [component])
    return row[0] if row else None


async def _apply(conn: psycopg.AsyncConnection, schema: str, component: str) -> None:
    await conn.execute(schema_sql(schema))
    await conn.execute(
        "INSERT INTO leadminer_schema_version (component, version) VALUES (%s, %s) "
        "ON CONFLICT (component) DO UPDATE SET version = excluded.version",
        (component, SCHEMA_VERSIONS[schema]),
    )


class _Store:
    """What both stores share: the connection and the schema steps of one component."""

    _schema: str
    _component: str
    _tables: tuple[str, ...]
    _database: str
    _hint: str

    def __init__(self, conn: psycopg.AsyncConnection):
        self.conn = conn

    async def check_schema(self) -> None:
        """Raise :class:`SchemaVersionError` unless the tables are this version's (changes nothing)."""
        version = await _version(self.conn, self._component)
        if version != SCHEMA_VERSIONS[self._schema] or len(await _existing(self.conn, self._tables)) < len(self._tables):
            raise version_error(self._database, version, self._schema, self._hint)


# temp store ---------------------------------------------------------------------
class PostgresTempStore(_Store):
    """Temporary tables of minings (``schemas/postgres/temp.sql``): TempStore, RunLedger and RawBatchStore."""

    _schema, _component, _tables = TEMP_SCHEMA, "temp", TEMP_TABLES
    _database, _hint = f"the temp database ({TEMP_DSN_ENV})", "run `leadminer db migrate`"

    async def migrate(self) -> None:
        """Create the temp tables; temporary rows of another version are dropped (nothing worth keeping)."""
        async with self.conn.transaction():
            await self.conn.execute("SELECT pg_advisory_xact_lock(%s)", [_SCHEMA_LOCK])
            current = await _version(self.conn, "temp") == TEMP_SCHEMA_VERSION
            if current and len(await _existing(self.conn, TEMP_TABLES)) == len(TEMP_TABLES):
                return
            for table in TEMP_TABLES:
                await self.conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
            await _apply(self.conn, TEMP_SCHEMA, "temp")

    async def add_messages(self, mining_id: str, records: Iterable[MessageRecord]) -> int:
        messages, points = rows.message_rows(records, PG)
        if not messages:
            return 0
        async with self.conn.transaction(), self.conn.cursor() as cur:
            # one statement: new messages, then the points of the new ones only
            await cur.execute(
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
                [mining_id, *_columns(messages, 4), mining_id, *_columns(points, 5)],
            )
            return (await cur.fetchone())[0]

    async def add_failures(self, mining_id: str, failures: Iterable[FailedMessage]) -> None:
        found = last_wins(((mining_id, *rows.failure_row(f, PG)) for f in failures), 3)
        async with self.conn.transaction(), self.conn.cursor() as cur:
            await _insert(cur, "mining_failures", [_MINING, *rows.FAILURE_COLUMNS], found, ("mining_id", "folder", "uid"), ("reason",))

    async def iter_messages(
        self, mining_id: str, *, with_body: bool = True, page: int = _PAGE
    ) -> AsyncIterator[MessageRecord]:
        """Messages ordered by date, read a page at a time by keyset (memory stays bounded)."""
        last: tuple[str, str] = ("", "")
        query = sql.SQL(
            "SELECT date, message_id, record_json, {} FROM mining_messages "
            "WHERE mining_id = %s AND (date, message_id) > (%s, %s) ORDER BY date, message_id LIMIT %s"
        ).format(sql.SQL("body" if with_body else "NULL"))
        while True:
            found = await _all(self.conn, query, (mining_id, *last, page))
            if not found:
                return
            points: dict[str, list[PointOfContact]] = {}
            for row in await _all(
                self.conn,
                "SELECT message_id, field, email, name FROM mining_points "
                "WHERE mining_id = %s AND message_id = ANY(%s) ORDER BY message_id, position",
                (mining_id, [r[1] for r in found]),
            ):
                points.setdefault(row[0], []).append(rows.point_from_row(*row))
            for _date, message_id, fields, body in found:
                yield rows.message_from_row(fields, body, points.get(message_id, []), PG)
            last = (found[-1][0], found[-1][1])

    async def distinct_emails(self, mining_id: str) -> list[str]:
        found = await _all(self.conn, "SELECT DISTINCT email FROM mining_points WHERE mining_id = %s ORDER BY email", (mining_id,))
        return [r[0] for r in found]

    async def save_cleaned(self, mining_id: str, cleaned: Iterable[CleanedAddress]) -> None:
        found = last_wins(((mining_id, *rows.cleaned_row(c, PG)) for c in cleaned), 2)
        async with self.conn.transaction(), self.conn.cursor() as cur:
            await _insert(
                cur, "mining_cleaned", [_MINING, *rows.CLEANED_COLUMNS], found, ("mining_id", "email"),
                ("status", "tags_json", "reason"),
            )  # fmt: skip

    async def cleaned(self, mining_id: str) -> dict[str, CleanedAddress]:
        query = sql.SQL("SELECT {} FROM mining_cleaned WHERE mining_id = %s").format(_select(rows.CLEANED_COLUMNS))
        return {r[0]: rows.cleaned_from_row(r, PG) for r in await _all(self.conn, query, (mining_id,))}

    async def save_signatures(self, mining_id: str, signatures: Iterable[Signature]) -> None:
        found = last_wins(((mining_id, *rows.signature_row(s, PG)) for s in signatures), 2)
        async with self.conn.transaction(), self.conn.cursor() as cur:
            await _insert(
                cur, "mining_signatures", [_MINING, *rows.SIGNATURE_COLUMNS], found, ("mining_id", "email"),
                ("message_id", "signature_json"),
            )  # fmt: skip

    async def signatures(self, mining_id: str) -> dict[str, Signature]:
        query = sql.SQL("SELECT {} FROM mining_signatures WHERE mining_id = %s").format(_select(rows.SIGNATURE_COLUMNS))
        return {r[0]: rows.signature_from_row(r, PG) for r in await _all(self.conn, query, (mining_id,))}

    async def failures(self, mining_id: str) -> list[FailedMessage]:
        found = await _all(
            self.conn, "SELECT folder, uid, reason FROM mining_failures WHERE mining_id = %s ORDER BY folder, uid", (mining_id,)
        )
        return [FailedMessage(mining_id, *r) for r in found]

    async def drop_mining(self, mining_id: str) -> None:
        async with self.conn.transaction():
            for table in TEMP_TABLES:
                await self.conn.execute(
                    sql.SQL("DELETE FROM {} WHERE mining_id = %s").format(sql.Identifier(table)), (mining_id,)
                )

    async def mining_ids(self) -> list[str]:
        """Minings that still have temporary rows (for the cleanup job)."""
        return sorted(r[0] for r in await _all(self.conn, TEMP_MINING_IDS_SQL))

    # run ledger --------------------------------------------------------------------
    async def start_run(
        self, mining_id: str, user_id: str, source: str, identities: Iterable[str], options: dict | None = None
    ) -> None:
        now = time.time()
        await self.conn.execute(
            "INSERT INTO mining_runs (mining_id, user_id, source, identities_json, started, updated, options_json) "
            "VALUES (%s, %s, %s, %s::jsonb, %s, %s, %s::jsonb) ON CONFLICT (mining_id) DO NOTHING",
            (mining_id, user_id, _text(source), _json(list(identities)), now, now, _json(options or {})),
        )

    async def run(self, mining_id: str) -> MiningRun | None:
        row = await _one(
            self.conn,
            sql.SQL(
                "SELECT {}, (SELECT coalesce(jsonb_object_agg(step, count), '{{}}') FROM mining_steps s "
                "WHERE s.mining_id = r.mining_id) FROM mining_runs r WHERE mining_id = %s AND NOT ended"
            ).format(sql.SQL(", ").join(map(sql.Identifier, rows.RUN_COLUMNS))),
            (mining_id,),
        )
        return rows.run_from_row(mining_id, row[:-1], row[-1], PG) if row else None

    async def touch(self, mining_id: str) -> None:
        await self.conn.execute("UPDATE mining_runs SET updated = %s WHERE mining_id = %s", (time.time(), mining_id))

    async def end_run(self, mining_id: str) -> bool:
        row = await _one(
            self.conn,
            "UPDATE mining_runs SET ended = true, updated = %s WHERE mining_id = %s AND NOT ended RETURNING mining_id",
            (time.time(), mining_id),
        )
        return row is not None

    async def fetch_progress(self, mining_id: str, *, fetched: int, failed: int, total: int | None) -> None:
        await self.conn.execute(
            "UPDATE mining_runs SET fetched = %s, fetch_failed = %s, total = %s, updated = %s WHERE mining_id = %s",
            (fetched, failed, total, time.time(), mining_id),
        )

    async def end_fetch(
        self, mining_id: str, *, batches: int, fetched: int, failed: int, fetch_state: list[list]
    ) -> None:
        await self.conn.execute(
            "UPDATE mining_runs SET batches = %s, fetched = %s, fetch_failed = %s, fetch_state_json = %s::jsonb, "
            "updated = %s WHERE mining_id = %s AND batches IS NULL",  # the first fetch to end wins
            (batches, fetched, failed, _json(fetch_state), time.time(), mining_id),
        )

    async def _touch(self, cur: psycopg.AsyncCursor, mining_id: str) -> None:
        await cur.execute("UPDATE mining_runs SET updated = %s WHERE mining_id = %s", (time.time(), mining_id))

    async def batch_done(self, mining_id: str, batch_no: int) -> bool:
        found = await _one(
            self.conn, "SELECT 1 FROM mining_batches WHERE mining_id = %s AND batch_no = %s", (mining_id, batch_no)
        )
        return found is not None

    async def finish_batch(self, mining_id: str, batch_no: int, counts: BatchCounts) -> None:
        async with self.conn.transaction(), self.conn.cursor() as cur:
            await cur.execute(
                "INSERT INTO mining_batches (mining_id, batch_no, records, already_mined, failed, contacts) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (mining_id, batch_no, *rows.batch_row(counts)),
            )
            await self._touch(cur, mining_id)

    async def claim_clean(self, mining_id: str) -> bool:
        # Several runners may ask at once (the fetcher ending, consumers of the last
        # batches): the row lock lets one update succeed, and the later statement,
        # started after every earlier commit, sees every batch, so one of them wins.
        row = await _one(
            self.conn,
            "UPDATE mining_runs SET clean_sent = true WHERE mining_id = %s AND NOT clean_sent "
            "AND batches = (SELECT count(*) FROM mining_batches WHERE mining_id = %s) RETURNING mining_id",
            (mining_id, mining_id),
        )
        return row is not None

    async def batch_totals(self, mining_id: str) -> dict[str, int]:
        row = await _one(
            self.conn,
            "SELECT coalesce(sum(records), 0), coalesce(sum(already_mined), 0), coalesce(sum(failed), 0), "
            "coalesce(sum(contacts), 0), (SELECT count(*) FROM mining_messages WHERE mining_id = %s) "
            "FROM mining_batches WHERE mining_id = %s",
            (mining_id, mining_id),
        )
        return rows.totals_from_row(row)

    async def mark_step(self, mining_id: str, step: str, count: int) -> None:
        async with self.conn.transaction(), self.conn.cursor() as cur:
            await cur.execute(
                "INSERT INTO mining_steps (mining_id, step, count) VALUES (%s, %s, %s) "
                "ON CONFLICT (mining_id, step) DO UPDATE SET count = excluded.count",
                (mining_id, step, count),
            )
            await self._touch(cur, mining_id)

    @asynccontextmanager
    async def mining_lock(self, mining_id: str, *, wait: bool = True) -> AsyncIterator[bool]:
        """A session advisory lock: waits while another runner holds it (``wait=False``: yields
        False at once instead), and is released by the server if that runner's connection dies."""
        key = (_MINING_LOCK_CLASS, mining_id)
        if wait:
            await self.conn.execute("SELECT pg_advisory_lock(%s::int, hashtext(%s))", key)
        elif not (await _one(self.conn, "SELECT pg_try_advisory_lock(%s::int, hashtext(%s))", key))[0]:
            yield False
            return
        try:
            yield True
        finally:
            await self.conn.execute("SELECT pg_advisory_unlock(%s::int, hashtext(%s))", key)

    # raw batches ---------------------------------------------------------------------
    async def add_raw_batch(self, mining_id: str, batch_no: int, raws: list[RawMessage]) -> None:
        found = [(mining_id, *r) for r in rows.raw_rows(batch_no, raws, PG)]
        async with self.conn.transaction(), self.conn.cursor() as cur:
            await _insert(cur, "mining_raw", [_MINING, *rows.RAW_COLUMNS], found, ("mining_id", "batch_no", "position"))
            await self._touch(cur, mining_id)

    async def raw_batch(self, mining_id: str, batch_no: int) -> list[RawMessage]:
        found = await _all(
            self.conn,
            "SELECT folder, uid, flags_json, data FROM mining_raw WHERE mining_id = %s AND batch_no = %s ORDER BY position",
            (mining_id, batch_no),
        )
        return [rows.raw_from_row(mining_id, r, PG) for r in found]

    async def drop_batch(self, mining_id: str, batch_no: int) -> None:
        await self.conn.execute("DELETE FROM mining_raw WHERE mining_id = %s AND batch_no = %s", (mining_id, batch_no))


# main store ---------------------------------------------------------------------
def _select(columns: Sequence[Column]) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(c.name) for c in columns)


_PERSONS = _select(rows.PERSON_COLUMNS)
_INDEX = _select(rows.INDEX_COLUMNS)


DIALECT = queries.Dialect(
    mark="%s", collate=' COLLATE "C"', like="ILIKE", codec=PG,
    all_tags=lambda tags: ("tags_json @> %s::jsonb", [_json(list(tags))]),
)  # fmt: skip
"""PostgreSQL's spelling of :mod:`leadminer.adapters.queries`."""
USER_ROLE = "authenticated"
"""The non-owner role :meth:`PostgresMainStore.as_user` reads as (Supabase's; ``main.sql`` creates it on plain PostgreSQL)."""
_USER_TABLES = queries.user_tables(schema_sql(MAIN_SCHEMA))


def _iso(moment: datetime | None) -> str | None:
    """timestamptz as the SQLite adapter writes times: ISO 8601 UTC, whole seconds."""
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment else None


class PostgresMainStore(queries.PersonReads, _Store):
    """Permanent tables (``schemas/postgres/main.sql``)."""

    _schema, _component, _tables = MAIN_SCHEMA, "main", _MAIN_TABLES
    _database, _hint = f"the database {MAIN_DSN_ENV}", f"use a new database for {MAIN_DSN_ENV}"
    dialect = DIALECT
    _mining_time = staticmethod(_iso)  # timestamptz → ISO text

    async def _read(self, query: str, params: Sequence) -> list[tuple]:
        return await _all(self.conn, query, params)

    async def migrate(self) -> None:
        """Create the tables of an empty database, upgrade one of an older version that
        :data:`~leadminer.schemas.SCHEMA_UPGRADES` names; one of another version raises
        :class:`SchemaVersionError` and is left as it was."""
        async with self.conn.transaction():
            await self.conn.execute("SELECT pg_advisory_xact_lock(%s)", [_SCHEMA_LOCK])
            version = await _version(self.conn, "main")
            empty = version is None and not await _existing(self.conn, _MAIN_TABLES)
            if empty or upgradable(MAIN_SCHEMA, version):
                await _apply(self.conn, MAIN_SCHEMA, "main")
                await self.conn.execute(schema_sql(MAIN_API_SCHEMA))  # the functions PostgREST calls
        await self.check_schema()

    # minings -----------------------------------------------------------------
    async def start_mining(self, mining_id: str, user_id: str, source: str) -> None:
        await self.conn.execute(
            "INSERT INTO minings (id, user_id, source, status) VALUES (%s, %s, %s, 'running') "
            "ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, source = excluded.source, "
            "status = excluded.status, started_at = now(), finished_at = NULL, stats_json = '{}'",
            (mining_id, user_id, _text(source)),
        )

    async def finish_mining(self, mining_id: str, status: str, stats: dict) -> None:
        await self.conn.execute(
            "UPDATE minings SET status = %s, finished_at = now(), stats_json = %s::jsonb WHERE id = %s AND status = 'running'",  # ends once
            (status, _json(stats), mining_id),
        )

    # fetch state -------------------------------------------------------------
    async def folder_states(self, user_id: str, source: str) -> dict[str, FolderState]:
        found = await _all(
            self.conn,
            "SELECT folder, uidvalidity, highest_uid FROM fetch_state WHERE user_id = %s AND source = %s",
            (user_id, _text(source)),
        )
        return {folder: FolderState(uidvalidity, highest) for folder, uidvalidity, highest in found}

    async def save_folder_state(self, user_id: str, source: str, folder: str, state: FolderState) -> None:
        await self.conn.execute(
            "INSERT INTO fetch_state (user_id, source, folder, uidvalidity, highest_uid) VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (user_id, source, folder) DO UPDATE SET uidvalidity = excluded.uidvalidity, "
            "highest_uid = excluded.highest_uid, updated_at = now()",
            (user_id, _text(source), _text(folder), state.uidvalidity, state.highest_uid),
        )

    # message index -----------------------------------------------------------
    async def known_message_ids(self, user_id: str, message_ids: Iterable[str]) -> set[str]:
        stored, original = _ids(message_ids)
        found = await _all(
            self.conn,
            "SELECT i.message_id FROM message_index i JOIN minings m ON m.id = i.mining_id "
            "WHERE i.user_id = %s AND m.status = 'done' AND i.message_id = ANY(%s)",
            (user_id, stored),
        )
        return {original.get(r[0], r[0]) for r in found}

    async def index_messages(
        self, user_id: str, mining_id: str, messages: Iterable[IndexedMessage], occurrences: Iterable[Occurrence]
    ) -> None:
        index = last_wins(((user_id, mining_id, *rows.index_row(m, PG)) for m in messages), 3)
        occurrence_rows = [(user_id, *rows.occurrence_row(o, PG)) for o in occurrences]
        async with self.conn.transaction(), self.conn.cursor() as cur:
            # A message indexed by a mining that died is re-claimed whole: its
            # facts (sender, thread, tags, user identities) and occurrences are
            # replaced by this mining's.
            await cur.execute(
                "DELETE FROM occurrences WHERE user_id = %s AND message_id = ANY(%s)", (user_id, [r[2] for r in index])
            )
            await _insert(
                cur, "message_index", [_USER, _MINING, *rows.INDEX_COLUMNS], index, ("user_id", "message_id"),
                ["mining_id", *(c.name for c in rows.INDEX_COLUMNS[1:])],
            )  # fmt: skip
            await _insert(
                cur, "occurrences", [_USER, *rows.OCCURRENCE_COLUMNS], occurrence_rows,
                ("user_id", "message_id", "key", "field"),
            )  # fmt: skip

    async def lookup_threads(self, user_id: str, message_ids: Iterable[str]) -> dict[str, IndexedMessage]:
        stored, original = _ids(message_ids)
        query = sql.SQL("SELECT {} FROM message_index WHERE user_id = %s AND message_id = ANY(%s)").format(_INDEX)
        found: dict[str, IndexedMessage] = {}
        for row in await _all(self.conn, query, (user_id, stored)):
            message = rows.indexed_from_row(row, PG)
            found[original.get(message.message_id, message.message_id)] = message
        return found

    async def thread_sizes(self, user_id: str, thread_ids: Iterable[str]) -> dict[str, int]:
        stored, original = _ids(thread_ids)
        found = await _all(
            self.conn,
            "SELECT thread_id, count(*) FROM message_index WHERE user_id = %s AND thread_id = ANY(%s) GROUP BY thread_id",
            (user_id, stored),
        )
        return {original.get(t, t): n for t, n in found}

    async def history_page(
        self, user_id: str, keys: Iterable[str], *, after: str | None, limit: int, occurrences_of: Iterable[str]
    ) -> tuple[list[IndexedMessage], list[Occurrence]]:
        params = {
            "u": user_id, "keys": _ids(keys)[0], "wanted": _ids(occurrences_of)[0],
            "after": "" if after is None else _text(after), "limit": limit,
        }  # fmt: skip
        page = sql.SQL(
            'SELECT DISTINCT message_id COLLATE "C" AS message_id FROM occurrences WHERE user_id = %(u)s '
            'AND key = ANY(%(keys)s) AND message_id COLLATE "C" > %(after)s ORDER BY 1 LIMIT %(limit)s'
        )
        found = await _all(
            self.conn,
            sql.SQL(
                'SELECT {} FROM message_index WHERE user_id = %(u)s AND message_id IN ({}) ORDER BY message_id COLLATE "C"'
            ).format(_INDEX, page),
            params,
        )
        messages = [rows.indexed_from_row(row, PG) for row in found]
        found = await _all(
            self.conn,
            sql.SQL(
                "SELECT {} FROM occurrences WHERE user_id = %(u)s AND message_id IN ({}) AND key = ANY(%(wanted)s) "
                'ORDER BY message_id COLLATE "C", key, field'
            ).format(_select(rows.OCCURRENCE_COLUMNS), page),
            params,
        )
        return messages, [Occurrence(*row) for row in found]

    async def reference_date(self, user_id: str) -> str | None:
        """See :func:`leadminer.scoring.reference_date` (same rule, in SQL)."""
        (count,) = await _one(self.conn, "SELECT count(date) FROM message_index WHERE user_id = %s", (user_id,))
        row = await _one(
            self.conn,
            "SELECT date FROM message_index WHERE user_id = %s AND date IS NOT NULL ORDER BY date DESC LIMIT 1 OFFSET %s",
            (user_id, outlier_count(count)),
        )
        return row[0] if row else None

    # identities and failures ---------------------------------------------------
    async def identities(self, user_id: str) -> set[str]:
        return {r[0] for r in await _all(self.conn, "SELECT email FROM user_identities WHERE user_id = %s", (user_id,))}

    async def add_identities(self, user_id: str, emails: Iterable[str]) -> None:
        found = [(user_id, e) for e in {_text(e) for e in emails}]
        async with self.conn.transaction(), self.conn.cursor() as cur:
            await _insert(cur, "user_identities", [_USER, Column("email", "text")], found, ("user_id", "email"))

    async def record_failures(self, failures: Iterable[FailedMessage]) -> None:
        found = last_wins(((f.mining_id, *rows.failure_row(f, PG)) for f in failures), 3)
        if not found:
            return
        # each row belongs to its mining's user ('' for an unknown mining: visible to no user)
        await self.conn.execute(
            "INSERT INTO failed_messages (user_id, mining_id, folder, uid, reason) "
            "SELECT coalesce(m.user_id, ''), u.mining_id, u.folder, u.uid, u.reason "
            "FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[]) AS u(mining_id, folder, uid, reason) "
            "LEFT JOIN minings m ON m.id = u.mining_id "
            "ON CONFLICT (mining_id, folder, uid) DO UPDATE SET reason = excluded.reason",
            _columns(found, 4),
        )

    async def failures(self, mining_id: str | None = None) -> list[FailedMessage]:
        query = "SELECT mining_id, folder, uid, reason FROM failed_messages"
        found = await _all(
            self.conn,
            query + (" WHERE mining_id = %s" if mining_id else "") + " ORDER BY mining_id, folder, uid",
            (mining_id,) if mining_id else (),
        )
        return [FailedMessage(*r) for r in found]

    # refined persons ---------------------------------------------------------
    async def upsert_persons(self, persons: Iterable[RefinedPerson]) -> None:
        found = last_wins((rows.person_row(p, PG) for p in persons), 2)
        async with self.conn.transaction(), self.conn.cursor() as cur:
            await _insert(
                cur, "refined_persons", rows.PERSON_COLUMNS, found, ("user_id", "email"),
                [c.name for c in rows.PERSON_COLUMNS[2:]], stamp="updated_at",
            )  # fmt: skip

    async def update_temperatures(self, user_id: str, temperatures: dict[str, int]) -> None:
        if not temperatures:
            return
        await self.conn.execute(
            "UPDATE refined_persons p SET temperature = u.temperature "
            "FROM unnest(%b::text[], %b::int[]) AS u(email, temperature) "
            "WHERE p.user_id = %s AND p.email = u.email",
            ([_text(e) for e in temperatures], list(temperatures.values()), user_id),
        )

    async def persons(self, user_id: str) -> list[RefinedPerson]:
        query = sql.SQL(
            "SELECT {} FROM refined_persons WHERE user_id = %s ORDER BY temperature DESC, occurrence DESC, email"
        ).format(_PERSONS)
        return [rows.person_from_row(r, PG) for r in await _all(self.conn, query, (user_id,))]

    async def persons_by_email(self, user_id: str, emails: Iterable[str]) -> dict[str, RefinedPerson]:
        stored, original = _ids(emails)
        query = sql.SQL("SELECT {} FROM refined_persons WHERE user_id = %s AND email = ANY(%s)").format(_PERSONS)
        persons = (rows.person_from_row(r, PG) for r in await _all(self.conn, query, (user_id, stored)))
        return {original.get(p.email, p.email): p for p in persons}

    async def person(self, user_id: str, email: str) -> RefinedPerson | None:
        query = sql.SQL("SELECT {} FROM refined_persons WHERE user_id = %s AND email = %s").format(_PERSONS)
        row = await _one(self.conn, query, (user_id, _text(email)))
        return rows.person_from_row(row, PG) if row else None

    # a user's data -------------------------------------------------------------
    async def delete_user(self, user_id: str) -> dict[str, int]:
        """Every table of main.sql with a user_id (failed_messages has one here), in one transaction.
        Inside :meth:`as_user`, row level security limits it to the claimed user's rows."""
        counts: dict[str, int] = {}
        async with self.conn.transaction(), self.conn.cursor() as cur:
            for table in _USER_TABLES.by_user:
                await cur.execute(sql.SQL("DELETE FROM {} WHERE user_id = %s").format(sql.Identifier(table)), (user_id,))
                counts[table] = cur.rowcount
        return counts

    @asynccontextmanager
    async def as_user(self, user_id: str, *, role: str = USER_ROLE) -> AsyncIterator[PostgresMainStore]:
        """This store, reading as ``user_id`` through row level security: the block runs in
        one transaction under ``SET LOCAL ROLE role`` (a non-owner role, so the policies
        apply) with the claims PostgREST sets (``request.jwt.claims`` and
        ``request.jwt.claim.sub``, read by ``auth.uid()``). Whatever user id the code then
        passes, only ``user_id``'s rows are seen (reads) or deleted (:meth:`delete_user`);
        writes other than deletes are refused (the role may only SELECT and DELETE).

        The connection is taken for the whole block: give each request a store (connection)
        of its own rather than sharing one across concurrent tasks."""
        claims = json.dumps({"sub": user_id, "role": role})
        async with self.conn.transaction():
            await self.conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))
            await self.conn.execute(
                "SELECT set_config('request.jwt.claims', %s, true), set_config('request.jwt.claim.sub', %s, true)",
                (claims, user_id),
            )
            yield self
