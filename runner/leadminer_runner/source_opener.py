"""The :class:`~leadminer.flow.services.SourceOpener` of the self-host workers: opens the
source a queued ``fetch`` names.

* ``{"kind": "imap", "email": …, "folders": [...]?, "since": "YYYY-MM-DD"?}``: the user's stored mailbox
  (:mod:`leadminer_runner.mailbox_sources`), its password decrypted here, in the worker;
* ``{"kind": "file", "path": …}``: a file the API spooled into ``LEADMINER_SPOOL_DIR``
  (a path outside it is refused), in a folder named by the mining's id, deleted by
  :meth:`StoredSourceOpener.release` when the mining ends.

IMAP is read through a thread (imap-tools is synchronous): the worker's event loop keeps
serving its queues while a mailbox is fetched. Errors are :class:`SourceSpecError`
with a sentence for the user; the flow fails the mining with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from leadminer.contracts import FailedMessage, RawMessage
from leadminer.sources import SourceError, remove_spooled, spooled_file
from leadminer.mailboxes import MailboxSourceStore, SecretError, imap_spec
from leadminer.storage import FetchStateStore

from .sources import FileMessageSource, ImapMessageSource, SourceSpecError, open_file_source

__all__ = ["StoredSourceOpener", "ThreadedSource"]

_END = object()


class ThreadedSource:
    """A synchronous message source read in a worker thread, one item at a time."""

    def __init__(self, source: Any):
        self._source = source
        self.label = source.label

    def count(self, state_store: FetchStateStore | None = None) -> int | None:
        return self._source.count(state_store)

    async def iter_messages(self, mining_id: str, state_store: FetchStateStore) -> AsyncIterator[RawMessage | FailedMessage]:
        items = iter(self._source.iter_messages(mining_id, state_store))
        while (item := await asyncio.to_thread(next, items, _END)) is not _END:
            yield item


class StoredSourceOpener:
    """Opens stored IMAP mailboxes (``sources``) and spooled files (under ``spool_dir``)."""

    def __init__(self, sources: MailboxSourceStore | None, spool_dir: str | Path | None = None):
        self.sources = sources
        self.spool_dir = Path(spool_dir).resolve() if spool_dir else None

    async def open(self, user_id: str, spec: dict[str, Any]) -> ThreadedSource | FileMessageSource:
        kind = spec.get("kind") if isinstance(spec, dict) else None
        if kind == "imap":
            return await self._imap(user_id, spec)
        if kind == "file":
            return self._file(spec)
        raise SourceSpecError(f"unknown source kind {kind!r} (expected 'imap' or 'file')")

    async def _imap(self, user_id: str, spec: dict[str, Any]) -> ThreadedSource:
        from leadminer_fetcher.imap import ImapUrl

        try:
            email, folders, since = imap_spec(spec)
        except ValueError as exc:
            raise SourceSpecError(str(exc)) from None
        if self.sources is None:
            raise SourceSpecError("this worker has no mailbox store (LEADMINER_SECRET_KEY unset?)")
        try:
            found = await self.sources.get(user_id, email)
        except SecretError as exc:
            raise SourceSpecError(f"{email}: {exc}") from None
        if found is None:
            raise SourceSpecError(f"no stored mailbox {email} for this user: add it first")
        source, password = found
        url = ImapUrl(source.host, source.port, source.login, source.security)
        return ThreadedSource(ImapMessageSource(url, user_id, password=password, folders=folders, since=since))

    async def release(self, mining_id: str) -> None:
        """The mining ended: its upload leaves the spool folder (a file being read stays
        readable until closed)."""
        if self.spool_dir is not None:
            remove_spooled(self.spool_dir, mining_id)

    def _file(self, spec: dict[str, Any]) -> FileMessageSource:
        if self.spool_dir is None:
            raise SourceSpecError("this worker has no spool folder: set LEADMINER_SPOOL_DIR")
        try:
            return open_file_source(spooled_file(self.spool_dir, spec.get("path")))
        except SourceError as exc:
            raise SourceSpecError(f"{exc} (LEADMINER_SPOOL_DIR)") from None
