"""The mailboxes a user mines from the API (table ``mining_sources`` of the main database):
the IMAP server, the login it accepted and the password, encrypted at rest.

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
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from leadminer.settings import Settings

__all__ = [
    "MailboxSource",
    "MailboxSourceStore",
    "SecretBox",
    "SecretError",
    "postgres_sources",
    "sqlite_sources",
]

_COLUMNS = "email, host, port, security, login, created_at, updated_at"


class SecretError(Exception):
    """A stored password cannot be decrypted with the configured keys (worded for the user)."""


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


@dataclass(frozen=True, slots=True)
class MailboxSource:
    """A stored IMAP mailbox, without its password."""

    email: str
    host: str
    port: int
    security: str  # ssl | starttls | plain
    login: str  # the user name the server accepted (the address, or its local part)
    created_at: str | None = None  # ISO 8601 UTC, set by the store
    updated_at: str | None = None

    @property
    def label(self) -> str:
        """``imap[s]://login@host:port``: the name of its minings and its fetch-state key (the CLI's
        label for the same account, so both share the incremental state); never a secret."""
        from leadminer_fetcher.imap import ImapUrl

        return ImapUrl(self.host, self.port, self.login, self.security).label

    def to_json(self) -> dict[str, Any]:
        """What the API shows (no secret)."""
        return {
            "email": self.email, "host": self.host, "port": self.port, "security": self.security,
            "secure": self.security != "plain", "login": self.login,
            "created_at": self.created_at, "updated_at": self.updated_at,
        }  # fmt: skip


class _Rows(Protocol):
    async def rows(self, sql: str, params: Sequence = ()) -> list[tuple]: ...
    async def change(self, sql: str, params: Sequence = ()) -> int: ...


class _SqliteRows:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    async def rows(self, sql: str, params: Sequence = ()) -> list[tuple]:
        return self.conn.execute(sql.replace("%s", "?"), params).fetchall()

    async def change(self, sql: str, params: Sequence = ()) -> int:
        with self.conn:
            return self.conn.execute(sql.replace("%s", "?"), params).rowcount


class _PostgresRows:
    def __init__(self, conn: Any):  # a ReconnectingConnection or a psycopg AsyncConnection (autocommit)
        self.conn = conn

    async def rows(self, sql: str, params: Sequence = ()) -> list[tuple]:
        cur = await self.conn.execute(sql, params)
        return await cur.fetchall()

    async def change(self, sql: str, params: Sequence = ()) -> int:
        cur = await self.conn.execute(sql, params)
        return cur.rowcount


def _iso(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds")
    return value


def _source(row: Sequence) -> MailboxSource:
    email, host, port, security, login, created, updated = row[:7]
    return MailboxSource(email, host, int(port), security, login, _iso(created), _iso(updated))


def _key(email: str) -> str:
    return email.strip().lower()


class MailboxSourceStore:
    """The ``mining_sources`` table of one main database (build it with :func:`sqlite_sources`
    or :func:`postgres_sources`)."""

    def __init__(self, rows: _Rows, secrets: SecretBox):
        self._db = rows
        self._secrets = secrets

    async def save(self, user_id: str, source: MailboxSource, password: str) -> MailboxSource:
        """Store (or replace) the mailbox ``source.email`` of ``user_id``, its password encrypted."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        await self._db.change(
            f"INSERT INTO mining_sources (user_id, {_COLUMNS}, password_ciphertext) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (user_id, email) DO UPDATE SET "
            "host = excluded.host, port = excluded.port, security = excluded.security, login = excluded.login, "
            "password_ciphertext = excluded.password_ciphertext, updated_at = excluded.updated_at",
            (user_id, _key(source.email), source.host, source.port, source.security, source.login, now, now,
             self._secrets.encrypt(password)),
        )  # fmt: skip
        stored = await self._db.rows(
            f"SELECT {_COLUMNS} FROM mining_sources WHERE user_id = %s AND email = %s", (user_id, _key(source.email))
        )
        return _source(stored[0])

    async def list(self, user_id: str) -> list[MailboxSource]:
        """The user's mailboxes, by address; no secret."""
        found = await self._db.rows(f"SELECT {_COLUMNS} FROM mining_sources WHERE user_id = %s ORDER BY email", (user_id,))
        return [_source(row) for row in found]

    async def get(self, user_id: str, email: str) -> tuple[MailboxSource, str] | None:
        """The mailbox and its decrypted password (for the worker that opens it), or None."""
        found = await self._db.rows(
            f"SELECT {_COLUMNS}, password_ciphertext FROM mining_sources WHERE user_id = %s AND email = %s",
            (user_id, _key(email)),
        )
        if not found:
            return None
        return _source(found[0]), self._secrets.decrypt(found[0][7])

    async def delete(self, user_id: str, email: str) -> bool:
        """Forget one mailbox; False when there was none."""
        changed = await self._db.change("DELETE FROM mining_sources WHERE user_id = %s AND email = %s", (user_id, _key(email)))
        return changed > 0

    async def delete_user(self, user_id: str) -> int:
        """Forget every mailbox of the user; returns how many."""
        return await self._db.change("DELETE FROM mining_sources WHERE user_id = %s", (user_id,))


def sqlite_sources(conn: sqlite3.Connection, secrets: SecretBox) -> MailboxSourceStore:
    """The store over a migrated SQLite main database."""
    return MailboxSourceStore(_SqliteRows(conn), secrets)


def postgres_sources(conn: Any, secrets: SecretBox) -> MailboxSourceStore:
    """The store over the migrated main PostgreSQL (``PostgresMainStore(...).conn``)."""
    return MailboxSourceStore(_PostgresRows(conn), secrets)
