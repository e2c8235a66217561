"""What the fetch reads: a message source, and the incremental fetch state it keeps."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

from ..contracts import FailedMessage, RawMessage
from ..sources import open_source, printable_path
from ..storage import FolderState


class MessageSource(Protocol):
    """A mailbox to mine: files (mbox, Maildir, .eml, archives) or an IMAP account."""

    label: str  # shown and stored; never holds a secret

    def count(self, state_store: FetchState) -> int | None:
        """How many messages ``iter_messages`` will yield (an estimate is fine), for progress."""
        ...

    def iter_messages(
        self, mining_id: str, state_store: FetchState
    ) -> Iterable[RawMessage | FailedMessage] | AsyncIterable[RawMessage | FailedMessage]:
        """Raw messages (or failures with a reason); sources with incremental state
        (IMAP) read and record it in ``state_store``."""
        ...


class FileMessageSource:
    """A mailbox file or folder (mbox, Maildir, .eml, archives: :mod:`leadminer.sources`) as a
    message source: its messages, then the files passed over with their reason. Opening it
    raises :class:`~leadminer.sources.SourceError` for a path that is not a mailbox."""

    def __init__(self, path: Path, *, body_cap: int | None = None, label: str | None = None):
        self._source = open_source(path)
        self.label = label if label is not None else printable_path(path)
        self.body_cap = body_cap  # None: whole bodies (extract caps them)

    def count(self, _state: Any = None) -> int | None:
        return self._source.count()

    def iter_messages(self, mining_id: str, _state: Any = None) -> Iterator[RawMessage | FailedMessage]:
        return self._source.iter_records(mining_id, body_cap=self.body_cap)


class FetchState:
    """Folder states of one source, answered from memory while a fetch runs.

    Loaded from the main store before the fetch (``known``); what the source
    records stays ``pending`` until the mining's contacts are stored, so a
    mining that dies re-reads the same mail next time (nothing is skipped)."""

    def __init__(self, user_id: str, source: str, known: dict[str, FolderState] | None = None):
        self.user_id, self.source = user_id, source
        self.known = dict(known or {})  # folder → state, of (user_id, source)
        self.pending: dict[tuple[str, str, str], FolderState] = {}

    def get_folder_state(self, user_id: str, source: str, folder: str) -> FolderState | None:
        if (pending := self.pending.get((user_id, source, folder))) is not None:
            return pending
        return self.known.get(folder) if (user_id, source) == (self.user_id, self.source) else None

    def save_folder_state(self, user_id: str, source: str, folder: str, state: FolderState) -> None:
        self.pending[(user_id, source, folder)] = state

    def rows(self) -> list[list]:
        """``[user_id, source, folder, uidvalidity, highest_uid]`` of every pending state (JSON data)."""
        return [[*key, s.uidvalidity, s.highest_uid] for key, s in self.pending.items()]


async def aiter_items(items: Iterable | AsyncIterable) -> AsyncIterator:
    """Iterate a sync or an async iterable alike."""
    if hasattr(items, "__aiter__"):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item
