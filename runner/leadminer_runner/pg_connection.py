"""A PostgreSQL connection that outlives its server's restarts and killed sessions.

The self-host stores talk to PostgreSQL through one autocommit connection each.
When that connection dies (the server restarts, ``pg_terminate_backend``, a
network cut), psycopg's connection stays broken for good; this wrapper opens a
new one at the next call, and turns the error of the call that met the dead
connection into :class:`~leadminer.storage.StoreUnavailable`, so that the flow
waits the outage out and runs the handler again (handlers are idempotent)
instead of counting a failed attempt. A session advisory lock held on the dead
connection was released by the server with it.

It offers what the stores use of a connection: ``execute``, ``transaction()``,
``cursor()`` and ``close()``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from leadminer.storage import StoreUnavailable


def redact(dsn: str) -> str:
    """The DSN without its password, for messages and logs."""
    if "://" in dsn:
        parts = urlsplit(dsn)
        if parts.password is None:
            return dsn
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return urlunsplit(parts._replace(netloc=netloc))
    return " ".join("password=***" if item.startswith("password=") else item for item in dsn.split())


def _lost(conn: psycopg.AsyncConnection | None) -> bool:
    return conn is None or conn.closed or conn.broken


class ReconnectingConnection:
    """An autocommit psycopg connection that reconnects after its session died."""

    def __init__(self, dsn: str, conn: psycopg.AsyncConnection):
        self.dsn = dsn
        self._conn: psycopg.AsyncConnection | None = conn

    @classmethod
    async def open(cls, dsn: str) -> ReconnectingConnection:
        """Connect, or raise ``ConnectionError`` naming the server (never the password)."""
        try:
            return cls(dsn, await psycopg.AsyncConnection.connect(dsn, autocommit=True))
        except psycopg.OperationalError as exc:  # libpq's message names host and port, never the password
            raise ConnectionError(f"cannot connect to PostgreSQL at {redact(dsn)}: {exc}") from None

    async def _live(self) -> psycopg.AsyncConnection:
        if _lost(self._conn):
            try:
                self._conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
            except psycopg.OperationalError as exc:
                raise StoreUnavailable(f"PostgreSQL at {redact(self.dsn)} is unreachable: {exc}") from None
        return self._conn

    def _unavailable(self, exc: BaseException) -> BaseException:
        """The error to raise for ``exc``: StoreUnavailable when the session died under it."""
        if isinstance(exc, psycopg.OperationalError) and _lost(self._conn):
            return StoreUnavailable(f"the PostgreSQL session at {redact(self.dsn)} was lost: {exc}")
        return exc

    async def execute(self, query: Any, params: Any = None, **options: Any) -> psycopg.AsyncCursor:
        conn = await self._live()
        try:
            return await conn.execute(query, params, **options)
        except psycopg.OperationalError as exc:
            raise self._unavailable(exc) from exc

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        conn = await self._live()
        try:
            async with conn.transaction():
                yield
        except psycopg.OperationalError as exc:
            raise self._unavailable(exc) from exc

    @asynccontextmanager
    async def cursor(self, *args: Any, **kwargs: Any) -> AsyncIterator[psycopg.AsyncCursor]:
        conn = await self._live()
        try:
            async with conn.cursor(*args, **kwargs) as cur:
                yield cur
        except psycopg.OperationalError as exc:
            raise self._unavailable(exc) from exc

    async def close(self) -> None:
        if self._conn is not None and not self._conn.closed:
            await self._conn.close()
