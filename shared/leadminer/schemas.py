"""Find the SQL files of ``schemas/`` (packaged as ``leadminer/schemas`` in a wheel)."""

from __future__ import annotations

from pathlib import Path

_CANDIDATES = (
    Path(__file__).resolve().parent / "schemas",  # wheel: force-included
    Path(__file__).resolve().parents[2] / "schemas",  # source checkout / editable install
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
