"""A real PostgreSQL for the self-host adapters' tests (127.0.0.1:5432, user postgres).

One throw-away database per test session (uuid name, dropped at the end, so
the ``auth`` schema that ``main.sql`` creates goes with it) and one fresh
schema per test, reached through ``search_path``: isolated, and far cheaper
than a database per test. Tests skip, with the reason, when the server is
unreachable.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

SERVER = "host=127.0.0.1 port=5432 user=postgres connect_timeout=3"


def admin(dbname: str = "postgres"):
    """An autocommit superuser connection, or a skip when PostgreSQL is unreachable."""
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - psycopg is a pinned dependency
        pytest.skip(f"psycopg is not installed: {exc}")
    try:
        return psycopg.connect(f"{SERVER} dbname={dbname}", autocommit=True)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL unreachable at 127.0.0.1:5432 as user postgres: {str(exc).strip()}")


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """Name of a fresh database for this test session."""
    name = f"leadminer_test_{uuid.uuid4().hex[:12]}"
    with admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield name
    with admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_dsn(postgres_database: str) -> Iterator[str]:
    """DSN of a fresh, empty schema (first on the search path) in the session's database."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with admin(postgres_database) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    yield f"{SERVER} dbname={postgres_database} options='-c search_path={schema}'"
    with admin(postgres_database) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
