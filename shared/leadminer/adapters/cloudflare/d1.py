"""Cloudflare D1: the SQLite-dialect stores of :mod:`leadminer.adapters.sqlite_sql` over a
D1 binding (``env.DB``).

Reads are one prepared statement (``.raw()``: rows as lists); writes are one
``db.batch([...])``, which D1 applies atomically, the only transaction D1 has. The
exactly-once fan-in from extract to clean is the same guarded ``UPDATE`` as in SQLite
(``claim_clean``: one caller sees ``changes == 1``), and every insert of a redelivered
message is ``INSERT OR IGNORE``/``OR REPLACE`` on its key, so nothing doubles.

D1 has no interactive locks: :meth:`D1TempStore.mining_lock` is a lease row
(``mining_leases``) taken by one atomic upsert that only succeeds on a free or expired
lease. The lease outlives any Worker invocation (15 min of wall time for a queue
consumer), so a holder that died frees it at the latest after :data:`LEASE_SECONDS`.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from ...schemas import SCHEMA_VERSIONS, TEMP_TABLES, SchemaVersionError, schema_sql, version_error
from ..sqlite_sql import SqlMainStore, SqlTempStore, Write

LEASE_SECONDS = 900.0
"""How long a mining lock is held at most (a queue consumer's wall-time limit)."""
LOCK_POLL_SECONDS = 0.2

CLOUDFLARE_SQL_REVISION = 2
"""Bumped whenever :data:`CLOUDFLARE_SQL` changes (1: leases, queue errors, API hits and keys;
2: remote_fetches): a D1 migration is named by the temp schema version and this revision."""
CLOUDFLARE_SQL = """
CREATE TABLE IF NOT EXISTS mining_leases (   -- mining locks (D1 has no interactive transactions)
    name    TEXT PRIMARY KEY,                -- a mining id, or '<mining id>:fetch'
    holder  TEXT NOT NULL,
    expires REAL NOT NULL                    -- Unix time
);
CREATE TABLE IF NOT EXISTS queue_errors (    -- the last error of a retried message, for its dead letter
    queue     TEXT NOT NULL,                 -- the stage
    body      TEXT NOT NULL,                 -- the message body as canonical JSON
    mining_id TEXT NOT NULL,
    error     TEXT NOT NULL,
    attempts  INTEGER NOT NULL,
    PRIMARY KEY (queue, body)
);
CREATE TABLE IF NOT EXISTS remote_fetches (  -- fetches read by the fetcher container (remote_fetch.py)
    mining_id   TEXT PRIMARY KEY,
    token_hash  TEXT NOT NULL,               -- sha256 of the running fetcher's token (never the token)
    launches    INTEGER NOT NULL,            -- fetchers started for the mining (restarts included)
    cursor_json TEXT NOT NULL DEFAULT '{}'   -- how far it got: the next batch, counters, UIDs stored
);
CREATE TABLE IF NOT EXISTS api_hits (        -- the API's rate limits: requests per key and fixed window
    key    TEXT NOT NULL,
    window INTEGER NOT NULL,
    count  INTEGER NOT NULL,
    PRIMARY KEY (key, window)
);
CREATE TABLE IF NOT EXISTS api_keys (        -- the API's idempotency keys
    slot        TEXT PRIMARY KEY,            -- scope + sha256 of the key
    fingerprint TEXT NOT NULL,
    result      TEXT,                        -- NULL while the first request creates it
    created     REAL NOT NULL
);
"""
"""Tables of the Cloudflare mode beside ``schemas/sqlite/temp.sql`` in the temp D1 database."""
VERSIONS_SQL = """
CREATE TABLE IF NOT EXISTS schema_versions ( -- the version of each schema applied (instead of PRAGMA user_version)
    name    TEXT PRIMARY KEY,
    version INTEGER NOT NULL
);
"""

TAKE_LEASE = (
    "INSERT INTO mining_leases (name, holder, expires) VALUES (?,?,?) "
    "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires = excluded.expires "
    "WHERE mining_leases.expires < ?"
)
FREE_LEASE = "DELETE FROM mining_leases WHERE name = ? AND holder = ?"
DROP_LEASES = "DELETE FROM mining_leases WHERE name = ? OR name = ?"
SAVE_ERROR = "INSERT OR REPLACE INTO queue_errors (queue, body, mining_id, error, attempts) VALUES (?,?,?,?,?)"
LAST_ERROR = "SELECT error, attempts FROM queue_errors WHERE queue = ? AND body = ?"
DROP_ERRORS = "DELETE FROM queue_errors WHERE mining_id = ?"
DROP_REMOTE_FETCH = "DELETE FROM remote_fetches WHERE mining_id = ?"
CLOUDFLARE_TABLES = tuple(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", CLOUDFLARE_SQL))
"""The Cloudflare mode's own tables beside the temp schema (leases, errors, fetches, API state)."""
VERSION = "SELECT version FROM schema_versions WHERE name = ?"
SET_VERSION = "INSERT OR REPLACE INTO schema_versions (name, version) VALUES (?,?)"


def statements(script: str) -> list[str]:
    """The statements of a DDL script (no ``;`` inside literals in our schemas), comments removed."""
    text = re.sub(r"--[^\n]*", "", script)
    return [s.strip() for s in text.split(";") if s.strip()]


class D1Driver:
    """:class:`~leadminer.adapters.sqlite_sql.SqlDriver` over a D1 binding: ``prepare(sql)
    .bind(*params)``, ``.raw()`` for rows, ``batch([...])`` for atomic writes."""

    max_in = 90  # D1 binds at most 100 parameters per statement (a few go before the IN list)

    def __init__(self, db: Any):
        self.db = db

    async def rows(self, sql: str, params: Sequence = ()) -> list[tuple]:
        return [tuple(row) for row in await self.db.prepare(sql).bind(*params).raw()]

    async def write(self, statements: Sequence[Write]) -> list[int]:
        prepared, owners = [], []
        for index, (sql, param_rows) in enumerate(statements):
            for params in param_rows:
                prepared.append(self.db.prepare(sql).bind(*params))
                owners.append(index)
        changed = [0] * len(statements)
        if prepared:
            for index, result in zip(owners, await self.db.batch(prepared), strict=True):
                changed[index] += int(result["meta"]["changes"])
        return changed


class _D1Schema:
    """Migrations of one D1 database (``wrangler d1 migrations apply`` runs the same SQL in production)."""

    driver: D1Driver
    _schema: str
    _extra = ""  # the mode's own tables beside the schema

    async def _version(self) -> int:
        try:
            found = await self.driver.rows(VERSION, (self._schema,))
        except Exception:  # noqa: BLE001 - no schema_versions table yet: an empty database
            return 0
        return int(found[0][0]) if found else 0

    async def migrate(self) -> None:
        script = schema_sql(self._schema) + self._extra + VERSIONS_SQL
        ddl: list[Write] = [(sql, [()]) for sql in statements(script)]
        await self.driver.write([*ddl, (SET_VERSION, [(self._schema, SCHEMA_VERSIONS[self._schema])])])

    async def check_schema(self) -> None:
        found = await self._version()
        if found != SCHEMA_VERSIONS[self._schema]:
            raise version_error("this D1 database", found, self._schema, "run `scripts/cf deploy` (migrations)")


class D1TempStore(_D1Schema, SqlTempStore):
    """TempStore + RunLedger (and the SQL raw-batch tables, unused: raw mail lives in R2) on D1."""

    _schema = "sqlite/temp.sql"
    _extra = CLOUDFLARE_SQL

    def __init__(self, db: Any):
        super().__init__(D1Driver(db))

    @asynccontextmanager
    async def mining_lock(self, mining_id: str, *, wait: bool = True) -> AsyncIterator[bool]:
        holder = uuid.uuid4().hex
        while True:
            now = time.time()
            (taken,) = await self.driver.write([(TAKE_LEASE, [(mining_id, holder, now + LEASE_SECONDS, now)])])
            if taken or not wait:
                break
            await asyncio.sleep(LOCK_POLL_SECONDS)
        try:
            yield bool(taken)
        finally:
            if taken:
                await self.driver.write([(FREE_LEASE, [(mining_id, holder)])])

    async def mining_ids(self) -> list[str]:
        """As in SQLite, one query per table: D1 allows at most 5 terms in a compound SELECT."""
        found: set[str] = set()
        for table in TEMP_TABLES:
            found.update(r[0] for r in await self.driver.rows(f"SELECT DISTINCT mining_id FROM {table}"))  # noqa: S608
        return sorted(found)

    async def drop_mining(self, mining_id: str) -> None:
        await super().drop_mining(mining_id)
        await self.driver.write([(DROP_ERRORS, [(mining_id,)]), (DROP_REMOTE_FETCH, [(mining_id,)])])

    # the last error of a retried message (Cloudflare's dead letters carry none) ----------
    async def save_error(self, queue: str, body: str, mining_id: str, error: str, attempts: int) -> None:
        await self.driver.write([(SAVE_ERROR, [(queue, body, mining_id, error, attempts)])])

    async def last_error(self, queue: str, body: str) -> tuple[str | None, int]:
        found = await self.driver.rows(LAST_ERROR, (queue, body))
        return (found[0][0], int(found[0][1])) if found else (None, 0)


class D1MainStore(_D1Schema, SqlMainStore):
    """The main store on D1 (``schemas/sqlite/main.sql``, ``LEADMINER_MAIN_STORE = "d1"``): a local
    stack without PostgreSQL; deployed Workers keep their main store on Supabase."""

    _schema = "sqlite/main.sql"

    def __init__(self, db: Any):
        super().__init__(D1Driver(db))


__all__ = ["D1Driver", "D1MainStore", "D1TempStore", "SchemaVersionError", "statements"]
