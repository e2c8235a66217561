"""The mailboxes a user mines from the API (table ``mining_sources`` of the main database): the
IMAP server, the login it accepted and the password, encrypted at rest by a :class:`SecretBox`
of the mode (the self-host and embedded modes: Fernet, ``leadminer_runner.mailbox_sources``; the
Cloudflare mode: WebCrypto AES-GCM, ``leadminer.adapters.cloudflare.secrets``). Listings never
carry a secret; only :meth:`MailboxSourceStore.get` returns the decrypted password, for what
opens the mailbox. The same SQL runs on SQLite, D1 and PostgreSQL (``%s`` placeholders; the
SQLite-dialect adapters turn them into ``?``)."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol
from urllib.parse import quote

__all__ = ["MailboxSource", "MailboxSourceStore", "MailboxTable", "Rows", "SqlMailboxTable", "SecretBox", "SecretError", "imap_label", "imap_spec", "security_mode"]

_COLUMNS = "email, host, port, security, login, created_at, updated_at"
SECURITY_MODES = ("ssl", "starttls", "plain")
"""How an IMAP connection is secured: implicit TLS, STARTTLS (required), or none (test servers)."""


class SecretError(Exception):
    """A stored password cannot be decrypted with the configured keys (worded for the user)."""


class SecretBox(Protocol):
    """Encrypts and decrypts short secrets (either method may be a coroutine: WebCrypto is async)."""

    def encrypt(self, secret: str) -> Any: ...

    def decrypt(self, token: str) -> Any: ...


def imap_label(host: str, port: int, user: str, security: str, folder: str | None = None) -> str:
    """``imap[s]://user@host:port[/folder]``: an IMAP account's name for display and its fetch-state
    key; never holds a secret."""
    scheme = "imaps" if security == "ssl" else "imap"
    path = f"/{quote(folder)}" if folder else ""
    return f"{scheme}://{quote(user, safe='')}@{host}:{port}{path}"


def security_mode(secure: bool | str | None, port: int | None = None) -> str:
    """The fetcher's security mode for the API's ``secure``: ``True`` → implicit TLS (``ssl``),
    ``False`` → ``starttls`` (TLS still required: never a silent fall back to cleartext), or a
    mode by name (``ssl``, ``starttls``, ``plain``); ``None`` → ``ssl`` unless the port is 143."""
    if secure is None:
        return "starttls" if port == 143 else "ssl"
    if isinstance(secure, bool):
        return "ssl" if secure else "starttls"
    mode = str(secure).strip().lower()
    if mode not in SECURITY_MODES:
        raise ValueError(f"secure must be true, false or one of {', '.join(SECURITY_MODES)}, not {secure!r}")
    return mode


def imap_spec(spec: dict[str, Any]) -> tuple[str, list[str] | None, date | None]:
    """The stored mailbox a queued fetch ``{"kind": "imap", "email", "folders"?, "since"?}`` names:
    its address, folders (None: all but Junk, Trash, Drafts) and day; ValueError with a sentence
    for the user when the spec is wrong."""
    email = spec.get("email")
    if not isinstance(email, str) or not email.strip():
        raise ValueError("an IMAP source needs the email of a stored mailbox")
    folders = spec.get("folders")
    if folders is not None and (not isinstance(folders, list) or not all(isinstance(f, str) for f in folders)):
        raise ValueError("folders must be a list of folder names")
    since = spec.get("since")
    try:
        since = date.fromisoformat(since) if since is not None else None
    except (TypeError, ValueError):
        raise ValueError(f"since must be a date (YYYY-MM-DD), not {since!r}") from None
    return email.strip(), folders, since


async def _value(result: Any) -> Any:
    return await result if inspect.isawaitable(result) else result


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
        return imap_label(self.host, self.port, self.login, self.security)

    def to_json(self) -> dict[str, Any]:
        """What the API shows (no secret)."""
        return {
            "email": self.email, "host": self.host, "port": self.port, "security": self.security,
            "secure": self.security != "plain", "login": self.login,
            "created_at": self.created_at, "updated_at": self.updated_at,
        }  # fmt: skip


class Rows(Protocol):
    """A SQL main database as :class:`SqlMailboxTable` reads it (``%s`` placeholders)."""

    async def rows(self, sql: str, params: Sequence = ()) -> list[tuple]: ...
    async def change(self, sql: str, params: Sequence = ()) -> int: ...


class MailboxTable(Protocol):
    """The ``mining_sources`` rows of one main database: SQL (:class:`SqlMailboxTable`) or the
    Supabase functions (``leadminer.adapters.postgrest.PostgrestMailboxTable``). A row is
    ``(email, host, port, security, login, created_at, updated_at[, password_ciphertext])``."""

    async def upsert(self, user_id: str, source: MailboxSource, ciphertext: str, now: str) -> None: ...
    async def select(self, user_id: str, email: str | None = None, *, secret: bool = False) -> list[Sequence]: ...
    async def delete(self, user_id: str, email: str | None = None) -> int: ...


class SqlMailboxTable:
    """:class:`MailboxTable` in SQL: SQLite, D1 and PostgreSQL alike."""

    def __init__(self, rows: Rows):
        self._db = rows

    async def upsert(self, user_id: str, source: MailboxSource, ciphertext: str, now: str) -> None:
        await self._db.change(
            f"INSERT INTO mining_sources (user_id, {_COLUMNS}, password_ciphertext) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (user_id, email) DO UPDATE SET "
            "host = excluded.host, port = excluded.port, security = excluded.security, login = excluded.login, "
            "password_ciphertext = excluded.password_ciphertext, updated_at = excluded.updated_at",
            (user_id, source.email, source.host, source.port, source.security, source.login, now, now, ciphertext),
        )  # fmt: skip

    async def select(self, user_id: str, email: str | None = None, *, secret: bool = False) -> list[Sequence]:
        columns = f"{_COLUMNS}, password_ciphertext" if secret else _COLUMNS
        if email is None:
            return await self._db.rows(f"SELECT {columns} FROM mining_sources WHERE user_id = %s ORDER BY email", (user_id,))
        return await self._db.rows(f"SELECT {columns} FROM mining_sources WHERE user_id = %s AND email = %s", (user_id, email))

    async def delete(self, user_id: str, email: str | None = None) -> int:
        if email is None:
            return await self._db.change("DELETE FROM mining_sources WHERE user_id = %s", (user_id,))
        return await self._db.change("DELETE FROM mining_sources WHERE user_id = %s AND email = %s", (user_id, email))


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
    """The stored mailboxes of one main database (its :class:`MailboxTable`), passwords sealed by
    the mode's :class:`SecretBox`."""

    def __init__(self, table: MailboxTable, secrets: SecretBox):
        self._table = table
        self._secrets = secrets

    async def save(self, user_id: str, source: MailboxSource, password: str) -> MailboxSource:
        """Store (or replace) the mailbox ``source.email`` of ``user_id``, its password encrypted."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        keyed = MailboxSource(_key(source.email), source.host, source.port, source.security, source.login)
        await self._table.upsert(user_id, keyed, await _value(self._secrets.encrypt(password)), now)
        return _source((await self._table.select(user_id, keyed.email))[0])

    async def list(self, user_id: str) -> list[MailboxSource]:
        """The user's mailboxes, by address; no secret."""
        return [_source(row) for row in await self._table.select(user_id)]

    async def get(self, user_id: str, email: str) -> tuple[MailboxSource, str] | None:
        """The mailbox and its decrypted password (for the worker that opens it), or None."""
        found = await self._table.select(user_id, _key(email), secret=True)
        if not found:
            return None
        return _source(found[0]), await _value(self._secrets.decrypt(found[0][7]))

    async def delete(self, user_id: str, email: str) -> bool:
        """Forget one mailbox; False when there was none."""
        return await self._table.delete(user_id, _key(email)) > 0

    async def delete_user(self, user_id: str) -> int:
        """Forget every mailbox of the user; returns how many."""
        return await self._table.delete(user_id)
