"""The SQL schemas of every store: where their files are (``schemas/``, packaged as
``leadminer/schemas`` in a wheel) and the one list of their versions.

Schemas are applied by an explicit migration step (``leadminer db migrate``, and
on first use), never by a store's constructor: each adapter has ``migrate()``
(create, or recreate disposable temp tables) and ``check_schema()`` (refuse a
database of another version with :class:`SchemaVersionError`, changing nothing).
"""

from __future__ import annotations

from pathlib import Path

_CANDIDATES = (
    Path(__file__).resolve().parent / "schemas",  # wheel: force-included
    Path(__file__).resolve().parents[2] / "schemas",  # source checkout / editable install
)


class SchemaVersionError(RuntimeError):
    """The database was written by an incompatible version of leadminer (or was never migrated)."""


SCHEMA_VERSIONS = {
    "sqlite/main.sql": 2,  # kept in PRAGMA user_version; 2: mining_sources
    "sqlite/temp.sql": 5,  # 3: mining_points.position, mining_runs.total; 4: mining_runs.ended; 5: mining_runs.options_json
    "postgres/main.sql": 5,  # kept in leadminer_schema_version ('main'); 2: mining_sources; 3: main_api.sql functions;
    # 4: its mailbox functions; 5: lm_history_page for lm_history
    "postgres/temp.sql": 5,  # ('temp'); 3: mining_runs.total; 4: mining_runs.ended; 5: mining_runs.options_json
}
"""The schema version of each file of ``schemas/``: bumped whenever the file changes incompatibly.
The migration step records it in the database; the SQL files hold no version."""

SCHEMA_UPGRADES = {
    "sqlite/main.sql": frozenset({1}),
    "postgres/main.sql": frozenset({1, 2, 3, 4}),
}
"""The older versions of a permanent schema that ``migrate()`` upgrades in place, by applying
its file again: every statement of the main files is idempotent (``IF NOT EXISTS``, policies
dropped and created again) and each version since those only added tables (2: ``mining_sources``)
or functions (PostgreSQL 3: ``postgres/main_api.sql``, applied after ``main.sql``, ``CREATE OR REPLACE``;
4: its stored-mailbox functions; 5: ``lm_history_page``).
A version not listed here is refused. Temp schemas need none: their rows are disposable."""


def upgradable(schema: str, found: int | None) -> bool:
    """Whether ``migrate()`` brings a database of version ``found`` of ``schema`` up to date."""
    return found in SCHEMA_UPGRADES.get(schema, ())


def version_error(database: str, found: int | None, schema: str, hint: str) -> SchemaVersionError:
    """The one sentence for a database whose schema is not ``schema``'s version."""
    needed = SCHEMA_VERSIONS[schema]
    if upgradable(schema, found):
        return SchemaVersionError(
            f"{database} was made by an older version of leadminer (schema {found}, this one needs {needed}): "
            "run `leadminer db migrate` to upgrade it"
        )
    if not found:
        return SchemaVersionError(
            f"{database} has no leadminer schema of this version (schema 0, this one needs {needed}): "
            f"it was made by another version of leadminer or never migrated; {hint}"
        )
    return SchemaVersionError(
        f"{database} was made by another version of leadminer (schema {found}, this one needs {needed}); {hint}"
    )


TEMP_TABLES = (
    "mining_messages", "mining_points", "mining_cleaned", "mining_signatures", "mining_failures",
    "mining_runs", "mining_raw", "mining_batches", "mining_steps",
)  # fmt: skip
"""The temporary tables of ``schemas/sqlite/temp.sql`` and ``schemas/postgres/temp.sql`` (same names in
both), each keyed by ``mining_id``: what ``drop_mining`` empties and the cleanup job looks through."""

TEMP_MINING_IDS_SQL = " UNION ".join(f"SELECT mining_id FROM {table}" for table in TEMP_TABLES)
"""Every mining that still has temporary rows, in any temp table (portable SQL)."""


def schema_sql(relative: str) -> str:
    """Text of ``schemas/<relative>``, e.g. ``schema_sql("sqlite/temp.sql")``."""
    for base in _CANDIDATES:
        path = base / relative
        if path.is_file():
            return path.read_text(encoding="utf-8")
    raise FileNotFoundError(f"schema file {relative!r} not found under {[str(c) for c in _CANDIDATES]}")
