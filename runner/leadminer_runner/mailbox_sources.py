"""The stored mailboxes (:mod:`leadminer.mailboxes`) of the embedded and self-host modes.

Passwords are Fernet tokens (AES-128-CBC + HMAC-SHA256) made with the keys of
``LEADMINER_SECRET_KEY`` (:class:`SecretBox`, a ``MultiFernet``: the first key
encrypts, every key decrypts, so keys can be rotated). Listings never carry a
secret; only :meth:`MailboxSourceStore.get` returns the decrypted password, for the
worker that opens the mailbox. The same SQL runs on SQLite (embedded, tests) and
PostgreSQL (self-host); the table is created by the main store's ``migrate()``.

Runner side only: the core does not depend on ``cryptography``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from leadminer.adapters.sqlite import SqliteDriver
from leadminer.adapters.sqlite_sql import DialectRows
from leadminer.mailboxes import MailboxSource, MailboxSourceStore, SecretError, SqlMailboxTable
from leadminer.settings import Settings

__all__ = [
    "MailboxSource",
    "MailboxSourceStore",
    "SecretBox",
    "SecretError",
    "postgres_sources",
    "sqlite_sources",
]

class SecretBox:
    """Encrypts and decrypts short secrets with the Fernet keys of ``LEADMINER_SECRET_KEY``."""

    def __init__(self, keys: Iterable[str]):
        keys = list(keys)
        if not keys:
            raise ValueError("at least one Fernet key is needed")
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        """The box of ``LEADMINER_SECRET_KEY``; ``SettingsError`` when it is unset."""
        return cls(settings.require_secret_keys())

    def __repr__(self) -> str:
        return "SecretBox(***)"

    def encrypt(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise SecretError(
                "a stored mailbox password cannot be decrypted with LEADMINER_SECRET_KEY: the key was changed "
                "(keep the old key after the new one, comma-separated) or the row was altered; "
                "add the mailbox again"
            ) from None


class _PostgresRows:
    def __init__(self, conn: Any):  # a ReconnectingConnection or a psycopg AsyncConnection (autocommit)
        self.conn = conn

    async def rows(self, sql: str, params: Sequence = ()) -> list[tuple]:
        cur = await self.conn.execute(sql, params)
        return await cur.fetchall()

    async def change(self, sql: str, params: Sequence = ()) -> int:
        cur = await self.conn.execute(sql, params)
        return cur.rowcount


def sqlite_sources(conn: sqlite3.Connection, secrets: SecretBox) -> MailboxSourceStore:
    """The store over a migrated SQLite main database."""
    return MailboxSourceStore(SqlMailboxTable(DialectRows(SqliteDriver(conn))), secrets)


def postgres_sources(conn: Any, secrets: SecretBox) -> MailboxSourceStore:
    """The store over the migrated main PostgreSQL (``PostgresMainStore(...).conn``)."""
    return MailboxSourceStore(SqlMailboxTable(_PostgresRows(conn)), secrets)
