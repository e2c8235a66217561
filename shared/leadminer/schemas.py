"""Find the SQL files of ``schemas/`` (packaged as ``leadminer/schemas`` in a wheel)."""

from __future__ import annotations

from pathlib import Path

_CANDIDATES = (
    Path(__file__).resolve().parent / "schemas",  # wheel: force-included
    Path(__file__).resolve().parents[2] / "schemas",  # source checkout / editable install
)


def schema_sql(relative: str) -> str:
    """Text of ``schemas/<relative>``, e.g. ``schema_sql("sqlite/temp.sql")``."""
    for base in _CANDIDATES:
        path = base / relative
        if path.is_file():
            return path.read_text(encoding="utf-8")
    raise FileNotFoundError(f"schema file {relative!r} not found under {[str(c) for c in _CANDIDATES]}")
