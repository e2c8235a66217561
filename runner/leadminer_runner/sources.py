"""Turn a SOURCE argument (a path or an imap:// URL) into a message source for the runner."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from leadminer.contracts import FailedMessage, RawMessage
from leadminer.flow import sources as flow_sources
from leadminer.pipeline import DEFAULT_BODY_CAP
from leadminer.sources import SourceError, printable_path
from leadminer.storage import FetchStateStore

if TYPE_CHECKING:
    from leadminer_fetcher.imap import ImapUrl

if TYPE_CHECKING:
    from .pst import PstMessageSource

PASSWORD_VARIABLE = "IMAP_PASSWORD"
OAUTH2_VARIABLE = "IMAP_OAUTH2_TOKEN"


class SourceSpecError(Exception):
    """A SOURCE argument that cannot be opened; the message is meant for the user."""


class FileMessageSource(flow_sources.FileMessageSource):
    """mbox / Maildir / .eml folder / archive given on the command line: bodies capped as
    extract reads them, labelled by the absolute path (stable across runs, whatever the
    name's bytes); a path that is not a mailbox is a :class:`SourceSpecError`."""

    def __init__(self, path: str | Path, body_cap: int = DEFAULT_BODY_CAP):
        try:
            super().__init__(Path(path), body_cap=body_cap, label=printable_path(Path(path).resolve()))
        except SourceError as exc:
            raise SourceSpecError(str(exc)) from None


class ImapMessageSource:
    """An IMAP account; remembers UIDVALIDITY + highest UID per folder through the state store."""

    def __init__(
        self,
        url: str | ImapUrl,
        user_id: str,
        *,
        password: str | None = None,
        oauth2_token: str | None = None,
        folders: list[str] | None = None,
        since: date | None = None,
    ):
        """``url``: an ``imap[s]://`` URL, or its parsed form (a stored mailbox: host, port,
        security and login without a URL); ``folders`` restricts the mining to these folders,
        ``since`` to the messages received on or after that day (IMAP SEARCH SINCE)."""
        from leadminer_fetcher.imap import ImapSource, parse_imap_url

        try:
            parsed = url if not isinstance(url, str) else parse_imap_url(url)
        except ValueError as exc:
            raise SourceSpecError(str(exc)) from None
        options: dict = {"folders": folders} if folders is not None else {}
        if since is not None:
            options["since"] = since
        self._imap = ImapSource.from_url(parsed, password, oauth2_token=oauth2_token, **options)
        self.label = parsed.label  # imap[s]://user@host:port[/folder] — never a secret
        self.user = parsed.user
        self.user_id = user_id

    def _guard(self, call):
        from leadminer_fetcher.imap import ImapError

        try:
            return call()
        except ImapError as exc:
            raise SourceSpecError(str(exc)) from None

    def count(self, state_store: FetchStateStore | None = None) -> int | None:
        """Messages to read: only those above the saved highest UID of each folder."""
        return self._guard(lambda: self._imap.count(state_store, self.user_id, self.label))

    def iter_messages(self, mining_id: str, state_store: FetchStateStore) -> Iterator[RawMessage | FailedMessage]:
        messages = self._imap.iter_messages(mining_id, state_store, self.user_id, self.label)
        while True:
            item = self._guard(lambda: next(messages, None))
            if item is None:
                return
            yield item


def open_message_source(
    spec: str, *, user_id: str, password_prompt: Callable[[str], str]
) -> tuple[FileMessageSource | ImapMessageSource, list[str]]:
    """Open SOURCE; returns the source and the identities it implies (the IMAP login).

    An IMAP URL is checked before any password is asked for; a password inside it is
    refused (it would stay in the shell's history): it comes from ``IMAP_PASSWORD``,
    ``IMAP_OAUTH2_TOKEN`` or the prompt."""
    if spec.startswith(("imap://", "imaps://")):
        from leadminer_fetcher.imap import parse_imap_url

        try:
            parsed = parse_imap_url(spec)
        except ValueError as exc:
            raise SourceSpecError(str(exc)) from None
        if parsed.password is not None:
            raise SourceSpecError(
                f"remove the password from the IMAP URL (it would stay in your shell history): "
                f"set {PASSWORD_VARIABLE} or let the command ask for it ({parsed.label})"
            )
        token = os.environ.get(OAUTH2_VARIABLE)
        password = None if token else os.environ.get(PASSWORD_VARIABLE) or password_prompt("IMAP password: ")
        source = ImapMessageSource(spec, user_id, password=password, oauth2_token=token)
        implied = [source.user] if "@" in source.user else []
        return source, implied
    return open_file_source(spec), []


def open_file_source(path: str | Path) -> FileMessageSource | PstMessageSource:
    """A mailbox file or folder: an Outlook ``.pst`` / ``.ost`` through libpff, anything else
    (mbox, Maildir, .eml, archives) through :mod:`leadminer.sources`."""
    from .pst import PstMessageSource, is_pst

    if Path(path).is_file() and is_pst(Path(path)):
        try:
            return PstMessageSource(path)
        except (OSError, ImportError) as exc:
            raise SourceSpecError(f"cannot read the Outlook file {printable_path(path)}: {exc}") from None
    return FileMessageSource(path)
