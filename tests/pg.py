"""PostgreSQL for the self-host adapters' tests: the session's server (``postgres_server``
in ``tests/conftest.py``: a throw-away one from ``runner/leadminer_runner/local_servers.py``, or yours at
``LEADMINER_TEST_DATABASE_URL``), user ``postgres``.

One throw-away database per test session (uuid name, dropped at the end, so
the ``auth`` schema that ``main.sql`` creates goes with it) and one fresh
schema per test, reached through ``search_path``: isolated, and far cheaper
than a database per test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from leadminer_runner import local_servers as servers


def server_dsn() -> str:
    """libpq keywords (no dbname) of the session's PostgreSQL; append `` dbname=…``."""
    server = servers.ACTIVE.get("PostgreSQL")
    if server is None:
        raise RuntimeError("no PostgreSQL server yet: request the postgres_database (or postgres_server) fixture first")
    return server.url


class _ServerDSN:
    """``SERVER``: formats as :func:`server_dsn` at the time of use (the server starts with the session fixture)."""

    def __str__(self) -> str:
        return server_dsn()

    def __format__(self, spec: str) -> str:
        return format(server_dsn(), spec)


SERVER = _ServerDSN()


def admin(dbname: str | None = None):
    """An autocommit superuser connection to ``dbname`` (default: the server's admin database)."""
    import psycopg

    server = servers.ACTIVE.get("PostgreSQL")
    return psycopg.connect(f"{server_dsn()} dbname={dbname or server.admin_dbname}", autocommit=True)


@pytest.fixture(scope="session")
def postgres_database(postgres_server) -> Iterator[str]:
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
    yield f"{server_dsn()} dbname={postgres_database} options='-c search_path={schema}'"
    with admin(postgres_database) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
