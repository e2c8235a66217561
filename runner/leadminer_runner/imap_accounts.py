"""What the API asks an IMAP server before storing a mailbox: does this login work (and with
which user name), and what folders are there. Over :mod:`leadminer_fetcher.imap`
(connection, security modes, errors), run in a thread: imap-tools is synchronous.

Errors are meant for the user and map to HTTP statuses (``status``):
:class:`WrongCredentials` 401, :class:`Unreachable` 502, :class:`TimedOut` 504.
None of them ever holds the password.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from leadminer.mailboxes import security_mode
from leadminer_fetcher.imap import (
    DEFAULT_PORTS,
    ImapAuthError,
    ImapError,
    ImapFolder,
    ImapSource,
    ImapTimeoutError,
)

from .mailbox_sources import MailboxSource

__all__ = [
    "MailboxCheckError",
    "TimedOut",
    "Unreachable",
    "WrongCredentials",
    "check_login",
    "folder_tree",
    "security_mode",
]

DEFAULT_TIMEOUT = 20.0


class MailboxCheckError(Exception):
    """The mailbox could not be checked; ``status`` is the HTTP status the API answers with."""

    status = 502


class WrongCredentials(MailboxCheckError):
    """The server refused the address (and its local part) with this password."""

    status = 401


class Unreachable(MailboxCheckError):
    """No IMAP server answers there (DNS failure, connection refused, TLS failure, dropped)."""

    status = 502


class TimedOut(MailboxCheckError):
    """The server did not answer in time."""

    status = 504


def _imap(host: str, port: int | None, security: str, login: str, password: str, **options: Any) -> ImapSource:
    return ImapSource(host, port or DEFAULT_PORTS[security], login, password, security=security, **options)


def _translated(exc: ImapError, email: str) -> MailboxCheckError:
    if isinstance(exc, ImapAuthError):
        return WrongCredentials(f"The IMAP server refused the login for {email}: check the address and the password ({exc})")
    if isinstance(exc, ImapTimeoutError):
        return TimedOut(f"The IMAP server did not answer in time: {exc}")
    return Unreachable(f"The IMAP server cannot be reached: {exc}")


def _candidates(email: str) -> list[str]:
    """The full address first, then its local part (servers that log users in by name)."""
    local = email.rpartition("@")[0] if "@" in email else ""
    return [email, local] if local else [email]


def _check_login(email: str, host: str, port: int | None, security: str, password: str, **options: Any) -> str:
    refused: ImapError | None = None
    for login in _candidates(email):
        try:
            _imap(host, port, security, login, password, **options).check()
            return login
        except ImapAuthError as exc:
            refused = exc
        except ImapError as exc:
            raise _translated(exc, email) from None
    raise _translated(refused, email) from None  # type: ignore[arg-type]


async def check_login(
    email: str,
    host: str,
    port: int | None,
    secure: bool | str | None,
    password: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    ssl_context: ssl.SSLContext | None = None,
) -> str:
    """Log in as ``email``, else as its local part when the server refuses the full address;
    returns the user name it accepted. Raises :class:`WrongCredentials`, :class:`Unreachable`
    or :class:`TimedOut` (never with the password in them)."""
    security = security_mode(secure, port)
    return await asyncio.to_thread(
        _check_login, email.strip(), host.strip(), port, security, password, timeout=timeout, ssl_context=ssl_context
    )


def _node(folder: ImapFolder | None, path: str, name: str, count: int | None, skipped: bool) -> dict[str, Any]:
    return {
        "name": name,
        "path": path,
        "delimiter": folder.delimiter if folder else None,
        "flags": list(folder.flags) if folder else ["\\Noselect"],
        "special_use": folder.special_use if folder else None,
        "selectable": folder.selectable if folder else False,
        "messages": count,
        "total": count or 0,  # with every folder below it, set once the tree is built
        "skipped": skipped,  # a mining without a folder list leaves it out
        "children": [],
    }


def _add_totals(node: dict[str, Any]) -> int:
    node["total"] = (node["messages"] or 0) + sum(_add_totals(child) for child in node["children"])
    return node["total"]


def build_tree(counted: list[tuple[ImapFolder, int | None]], skips) -> list[dict[str, Any]]:
    """Nest LISTed folders by their delimiter; a parent the server did not list becomes a
    non-selectable node. ``skips(folder)`` says whether a mining leaves the folder out."""
    nodes: dict[str, dict[str, Any]] = {}
    roots: list[dict[str, Any]] = []

    def attach(path: str, delimiter: str | None, node: dict[str, Any]) -> None:
        parent_path = path.rpartition(delimiter)[0] if delimiter and delimiter in path else ""
        if not parent_path:
            roots.append(node)
            return
        parent = nodes.get(parent_path)
        if parent is None:  # e.g. "Archive/2024" LISTed without "Archive"
            parent = nodes[parent_path] = _node(None, parent_path, parent_path.rpartition(delimiter)[2], None, True)
            parent["delimiter"] = delimiter
            attach(parent_path, delimiter, parent)
        parent["children"].append(node)

    for folder, count in sorted(counted, key=lambda item: (item[0].name.upper() != "INBOX", item[0].name)):
        name = folder.name.rpartition(folder.delimiter)[2] if folder.delimiter else folder.name
        node = nodes.get(folder.name)
        if node is None:
            node = nodes[folder.name] = _node(folder, folder.name, name, count, skips(folder))
            attach(folder.name, folder.delimiter, node)
        else:  # a placeholder made for a child listed first: the real folder replaces its fields
            node.update({k: v for k, v in _node(folder, folder.name, name, count, skips(folder)).items() if k != "children"})
    for root in roots:
        _add_totals(root)
    return roots


def _folder_tree(source: MailboxSource, password: str, **options: Any) -> list[dict[str, Any]]:
    imap = _imap(source.host, source.port, source.security, source.login, password, **options)
    try:
        counted = imap.folder_counts()
    except ImapError as exc:
        raise _translated(exc, source.email) from None
    return build_tree(counted, imap.skips)


async def folder_tree(
    source: MailboxSource,
    password: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    ssl_context: ssl.SSLContext | None = None,
) -> list[dict[str, Any]]:
    """The mailbox's folders as a tree (INBOX first): each node has ``name`` (its last level),
    ``path`` (the full IMAP name), ``delimiter``, ``flags``, ``special_use`` (``\\Sent``,
    ``\\Junk`` …, from the server or guessed from the name), ``selectable``, ``messages``
    (STATUS MESSAGES, None when unknown), ``total`` (with the folders below), ``skipped``
    (a mining without a folder list leaves it out: Junk, Trash, Drafts) and ``children``.
    Same errors as :func:`check_login`."""
    return await asyncio.to_thread(_folder_tree, source, password, timeout=timeout, ssl_context=ssl_context)
