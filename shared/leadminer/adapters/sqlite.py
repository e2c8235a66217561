"""SQLite adapters (embedded mode): the statements of :mod:`leadminer.adapters.sqlite_sql`
run with ``sqlite3``, synchronously inside the async methods (one process owns the file).

Schemas are applied by :meth:`migrate` (``leadminer db migrate``, and on first use),
never by a constructor; :meth:`check_schema` refuses a database of another version
without touching it. ``connect(path, readonly=True)`` opens a file for reading
(export, listing) without changing it; only :meth:`migrate` switches a database
to WAL.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from ..schemas import TEMP_TABLES, SchemaVersionError, SCHEMA_VERSIONS, schema_sql, upgradable, version_error
from .sqlite_sql import DROP_MINING, SqlMainStore, SqlTempStore, Write

__all__ = ["SchemaVersionError", "SqliteMainStore", "SqliteTempStore", "connect"]

MAIN_SCHEMA = "sqlite/main.sql"
TEMP_SCHEMA = "sqlite/temp.sql"
MAIN_SCHEMA_VERSION = SCHEMA_VERSIONS[MAIN_SCHEMA]
TEMP_SCHEMA_VERSION = SCHEMA_VERSIONS[TEMP_SCHEMA]


def connect(path: str | Path, *, readonly: bool = False, unchanging: bool = False) -> sqlite3.Connection:
    """A connection to the database file ``path``; ``readonly`` opens it with ``mode=ro``:
    it must exist and is never written (SQLite may still create its WAL index files
    beside a WAL database). ``unchanging`` (the caller knows no writer can be using it:
    it holds the file's lock, or the folder is read-only and has no WAL index) opens it
    ``immutable``: nothing at all is created beside it."""
    if readonly:
        file = Path(path).resolve()
        uri = f"file:{quote(str(file))}?mode=ro"
        no_writer_here = not os.access(file.parent, os.W_OK) and not file.with_name(file.name + "-shm").exists()
        if unchanging or no_writer_here:
            uri += "&immutable=1"
        return sqlite3.connect(uri, uri=True, timeout=30)
    conn = sqlite3.connect(str(path), timeout=30)
    conn.execute("PRAGMA synchronous=NORMAL")  # this connection only; WAL is set once, by migrate
    return conn


class SqliteDriver:
    """:class:`~leadminer.adapters.sqlite_sql.SqlDriver` over a ``sqlite3`` connection."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    async def rows(self, sql: str, params: Sequence = ()) -> list[tuple]:
        return self.conn.execute(sql, params).fetchall()

    async def write(self, statements: Sequence[Write]) -> list[int]:
        changed = []
        with self.conn:  # one transaction: committed, or rolled back on an error
            for sql, params in statements:
                if len(params) == 1:
                    changed.append(self.conn.execute(sql, params[0]).rowcount)
                else:
                    changed.append(self.conn.executemany(sql, params).rowcount if params else 0)
        return changed


def _tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    return {r[0] for r in rows}


def _version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def _apply(conn: sqlite3.Connection, schema: str) -> None:
    conn.execute("PRAGMA journal_mode=WAL")  # file-level setting, not part of the D1 DDL
    conn.executescript(schema_sql(schema))
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSIONS[schema]}")


class _Schema:
    """The schema steps of one SQLite database (set by the store classes below)."""

    conn: sqlite3.Connection
    _schema: str
    _database: str
    _hint: str

    def __init__(self, conn: sqlite3.Connection):
        super().__init__(SqliteDriver(conn))  # the store class that follows in the MRO
        self.conn = conn

    def _current(self) -> bool:
        return bool(_tables(self.conn)) and _version(self.conn) == SCHEMA_VERSIONS[self._schema]

    async def check_schema(self) -> None:
        """Raise :class:`SchemaVersionError` unless the database is this version's (changes nothing)."""
        if not self._current():
            found = _version(self.conn) if _tables(self.conn) else 0
            raise version_error(self._database, found, self._schema, self._hint)


class SqliteTempStore(_Schema, SqlTempStore):
    """Temporary tables of minings (``schemas/sqlite/temp.sql``): TempStore, RunLedger and RawBatchStore."""

    _schema, _database, _hint = TEMP_SCHEMA, "this mining database", "run `leadminer db migrate`"

    async def drop_mining(self, mining_id: str) -> None:
        """As :class:`SqlTempStore`'s; a table that holds rows of this mining only is emptied
        whole (SQLite's truncation: no index maintenance row by row), in the same transaction."""
        with self.conn:
            for table, delete in zip(TEMP_TABLES, DROP_MINING, strict=True):
                if self._only(table, mining_id):
                    self.conn.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names
                else:
                    self.conn.execute(delete, (mining_id,))

    def _only(self, table: str, mining_id: str) -> bool:
        """Whether every row of ``table`` (none, maybe) is of ``mining_id``: its first and
        last mining ids by the primary key."""
        for order in ("ASC", "DESC"):
            row = self.conn.execute(f"SELECT mining_id FROM {table} ORDER BY mining_id {order} LIMIT 1").fetchone()  # noqa: S608
            if row is not None and row[0] != mining_id:
                return False
        return True

    async def migrate(self) -> None:
        """Create the temp tables; temporary rows of another version are dropped (nothing worth keeping)."""
        if self._current():
            return
        for table in TEMP_TABLES:
            self.conn.execute(f"DROP TABLE IF EXISTS {table}")  # noqa: S608 - fixed names
        _apply(self.conn, TEMP_SCHEMA)


class SqliteMainStore(_Schema, SqlMainStore):
    """Permanent tables (``schemas/sqlite/main.sql``)."""

    _schema, _database = MAIN_SCHEMA, "this database"
    _hint = "mine into a new --db (`leadminer db migrate` prepares one)"

    async def migrate(self) -> None:
        """Create the tables of an empty database, upgrade one of an older version that
        :data:`~leadminer.schemas.SCHEMA_UPGRADES` names; one of another version raises
        :class:`SchemaVersionError` and is left as it was."""
        if not _tables(self.conn) or upgradable(MAIN_SCHEMA, _version(self.conn)):
            _apply(self.conn, MAIN_SCHEMA)
        await self.check_schema()
