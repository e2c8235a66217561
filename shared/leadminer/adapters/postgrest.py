"""The Supabase main store: :class:`~leadminer.storage.MainStore` over PostgREST.

Each operation is one call of a PostgreSQL function of ``schemas/postgres/main_api.sql``
(``POST {base_url}/rest/v1/rpc/<function>``, named arguments as a JSON object); batch
writes send their rows as one JSON array. Rows are encoded and decoded by
:mod:`leadminer.adapters.rows` (objects keyed by the column names), as the SQL adapters do.

Pure Python over an injected :class:`~leadminer.adapters.http.HttpTransport`: a Python
Worker hands in ``FetchTransport``, a CPython process the runner's ``UrllibTransport``.
With the service role key the store reads and writes every user's rows; with a user's
access token (``token=``) row level security limits it to that user's rows, read-only
but for :meth:`delete_user`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from ..contracts import FailedMessage, RefinedPerson
from ..scoring import outlier_count
from ..storage import FolderState, IndexedMessage, Occurrence, StoreUnavailable
from . import queries, rows
from .http import HttpTransport


_nul_free = rows.nul_free
_scrub = rows.nul_free_json

JSON = rows.Codec(text=_nul_free, dump=_scrub, load=lambda value: value)
"""Rows inside a JSON body: text without NUL, JSON values as they are."""

_PERSON_NAMES = [c.name for c in rows.PERSON_COLUMNS]
_INDEX_NAMES = [c.name for c in rows.INDEX_COLUMNS]
_OCCURRENCE_NAMES = [c.name for c in rows.OCCURRENCE_COLUMNS]


def _objects(names: Sequence[str], found: Iterable[tuple]) -> list[dict]:
    return [dict(zip(names, row, strict=True)) for row in found]


def _person(found: dict) -> RefinedPerson:
    return rows.person_from_row(tuple(found[name] for name in _PERSON_NAMES), JSON)


def _indexed(found: dict) -> IndexedMessage:
    return rows.indexed_from_row(tuple(found[name] for name in _INDEX_NAMES), JSON)


def _error_text(answer) -> str:
    """PostgREST's JSON error ({code, message, details, hint}), or the start of the body."""
    try:
        error = answer.json()
    except ValueError:
        error = None
    if isinstance(error, dict) and error.get("message"):
        parts = [f"{error.get('code') or answer.status}: {error['message']}"]
        parts += [f"{k}: {error[k]}" for k in ("details", "hint") if error.get(k)]
        return "; ".join(parts)
    return answer.body[:300].decode("utf-8", "replace") or f"HTTP {answer.status}"


class PostgrestMainStore(queries.PersonReads):
    """:class:`~leadminer.storage.MainStore` calling ``main_api.sql``'s functions over PostgREST."""

    def __init__(self, base_url: str, api_key: str, transport: HttpTransport, *, token: str | None = None):
        self.base_url = base_url.rstrip("/")
        self.transport = transport
        self._headers = {
            "apikey": api_key,
            "Authorization": f"Bearer {token or api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }

    async def _call(self, function: str, **arguments: Any) -> Any:
        url = f"{self.base_url}/rest/v1/rpc/lm_{function}"
        body = json.dumps({f"p_{k}": v for k, v in arguments.items()}, ensure_ascii=False).encode()
        answer = await self.transport.request("POST", url, headers=self._headers, body=body)
        if answer.ok:
            return answer.json()
        where = f"Supabase main store, lm_{function}"
        if answer.status in (401, 403):
            raise PermissionError(f"{where}: refused (HTTP {answer.status}): {_error_text(answer)}")
        if answer.status >= 500 or answer.status in (408, 429):
            raise StoreUnavailable(f"{where}: HTTP {answer.status}: {_error_text(answer)}")
        raise ValueError(f"{where}: HTTP {answer.status}: {_error_text(answer)}")

    async def migrate(self) -> None:
        """Nothing to do from here: the schema (``main.sql`` then ``main_api.sql``) is applied to
        the Supabase database by its migration (docs/supabase.md); :meth:`check_schema` tells."""
        await self.check_schema()

    async def check_schema(self) -> None:
        await self._call("dated_count", user_id="")  # fails (404: unknown function) before main_api.sql
        # and before main schema 5 (refine would fail on its first page)
        await self._call("history_page", user_id="", keys=[], after=None, limit=1, wanted=[])

    # minings -----------------------------------------------------------------
    async def start_mining(self, mining_id: str, user_id: str, source: str) -> None:
        await self._call("start_mining", mining_id=mining_id, user_id=user_id, source=_nul_free(source))

    async def finish_mining(self, mining_id: str, status: str, stats: dict) -> None:
        await self._call("finish_mining", mining_id=mining_id, status=status, stats=_scrub(stats))

    async def minings(
        self, status: str | None = None, *, user_id: str | None = None, newest_first: bool = False, limit: int | None = None
    ) -> list[dict]:
        return await self._call("minings", status=status, user_id=user_id, newest_first=newest_first, limit=limit)

    async def mining(self, mining_id: str) -> dict | None:
        return next(iter(await self._call("minings", mining_id=mining_id)), None)

    # fetch state -------------------------------------------------------------
    async def folder_states(self, user_id: str, source: str) -> dict[str, FolderState]:
        found = await self._call("folder_states", user_id=user_id, source=_nul_free(source))
        return {folder: FolderState(uidvalidity, highest) for folder, (uidvalidity, highest) in found.items()}

    async def save_folder_state(self, user_id: str, source: str, folder: str, state: FolderState) -> None:
        await self._call(
            "save_folder_state", user_id=user_id, source=_nul_free(source), folder=_nul_free(folder),
            uidvalidity=state.uidvalidity, highest_uid=state.highest_uid,
        )  # fmt: skip

    # message index -----------------------------------------------------------
    async def known_message_ids(self, user_id: str, message_ids: Iterable[str]) -> set[str]:
        original = {_nul_free(m): m for m in set(message_ids)}
        found = await self._call("known_message_ids", user_id=user_id, message_ids=list(original))
        return {original.get(m, m) for m in found}

    async def index_messages(
        self, user_id: str, mining_id: str, messages: Iterable[IndexedMessage], occurrences: Iterable[Occurrence]
    ) -> None:
        await self._call(
            "index_messages", user_id=user_id, mining_id=mining_id,
            messages=_objects(_INDEX_NAMES, (rows.index_row(m, JSON) for m in messages)),
            occurrences=_objects(_OCCURRENCE_NAMES, (rows.occurrence_row(o, JSON) for o in occurrences)),
        )  # fmt: skip

    async def lookup_threads(self, user_id: str, message_ids: Iterable[str]) -> dict[str, IndexedMessage]:
        original = {_nul_free(m): m for m in set(message_ids)}
        found = {}
        for row in await self._call("lookup_threads", user_id=user_id, message_ids=list(original)):
            message = _indexed(row)
            found[original.get(message.message_id, message.message_id)] = message
        return found

    async def thread_sizes(self, user_id: str, thread_ids: Iterable[str]) -> dict[str, int]:
        original = {_nul_free(t): t for t in set(thread_ids)}
        found = await self._call("thread_sizes", user_id=user_id, thread_ids=list(original))
        return {original.get(t, t): n for t, n in found.items()}

    async def history_page(
        self, user_id: str, keys: Iterable[str], *, after: str | None, limit: int, occurrences_of: Iterable[str]
    ) -> tuple[list[IndexedMessage], list[Occurrence]]:
        found = await self._call(
            "history_page", user_id=user_id, keys=list({_nul_free(k) for k in keys}),
            after=None if after is None else _nul_free(after), limit=limit,
            wanted=list({_nul_free(k) for k in occurrences_of}),
        )  # fmt: skip
        occurrences = [Occurrence(*(o[name] for name in _OCCURRENCE_NAMES)) for o in found["occurrences"]]
        return [_indexed(m) for m in found["messages"]], occurrences

    async def reference_date(self, user_id: str) -> str | None:
        """See :func:`leadminer.scoring.reference_date` (its outlier rule, applied in two calls)."""
        dated = await self._call("dated_count", user_id=user_id)
        return await self._call("nth_newest_date", user_id=user_id, offset=outlier_count(dated))

    # identities and failures ---------------------------------------------------
    async def identities(self, user_id: str) -> set[str]:
        return set(await self._call("identities", user_id=user_id))

    async def add_identities(self, user_id: str, emails: Iterable[str]) -> None:
        await self._call("add_identities", user_id=user_id, emails=list({_nul_free(e) for e in emails}))

    async def record_failures(self, failures: Iterable[FailedMessage]) -> None:
        found = [
            dict(zip(("mining_id", "folder", "uid", "reason"), (f.mining_id, *rows.failure_row(f, JSON)), strict=True))
            for f in failures
        ]
        if found:
            await self._call("record_failures", failures=found)

    async def failures(self, mining_id: str | None = None) -> list[FailedMessage]:
        return [FailedMessage(*row) for row in await self._call("failures", mining_id=mining_id)]

    # refined persons ---------------------------------------------------------
    async def upsert_persons(self, persons: Iterable[RefinedPerson]) -> None:
        found = _objects(_PERSON_NAMES, (rows.person_row(p, JSON) for p in persons))
        if found:
            await self._call("upsert_persons", persons=found)

    async def update_temperatures(self, user_id: str, temperatures: dict[str, int]) -> None:
        if temperatures:
            await self._call(
                "update_temperatures", user_id=user_id, temperatures={_nul_free(e): t for e, t in temperatures.items()}
            )

    async def persons(self, user_id: str) -> list[RefinedPerson]:
        return [_person(p) for p in await self._call("persons", user_id=user_id)]

    async def persons_by_email(self, user_id: str, emails: Iterable[str]) -> dict[str, RefinedPerson]:
        original = {_nul_free(e): e for e in set(emails)}
        persons = [_person(p) for p in await self._call("persons", user_id=user_id, emails=list(original))]
        return {original.get(p.email, p.email): p for p in persons}

    async def person(self, user_id: str, email: str) -> RefinedPerson | None:
        return (await self.persons_by_email(user_id, [email])).get(email)

    async def persons_page(
        self,
        user_id: str,
        *,
        after: str | None = None,
        limit: int = 100,
        sort: str = "temperature",
        tags: Sequence[str] = (),
        min_temperature: int | None = None,
        search: str | None = None,
    ) -> tuple[list[RefinedPerson], str | None]:
        cursor = queries.check_page(after=after, limit=limit, sort=sort, tags=tags)  # ValueError before any call
        found = await self._call(
            "persons_page", user_id=user_id, sort=sort, limit=limit,
            tags=[_nul_free(t) for t in dict.fromkeys(tags)] or None,
            min_temperature=None if min_temperature is None else int(min_temperature),
            search=queries.like_pattern(_nul_free(search)) if search else None,
            after=None if cursor is None else [_nul_free(v) if isinstance(v, str) else v for v in cursor],
        )  # fmt: skip
        page = [(*(p[name] for name in _PERSON_NAMES), *p["keys"]) for p in found]
        return queries.persons_page(page, limit, sort, JSON)

    # a user's data -------------------------------------------------------------
    async def delete_user(self, user_id: str) -> dict[str, int]:
        return await self._call("delete_user", user_id=user_id)


class PostgrestMailboxTable:
    """:class:`leadminer.mailboxes.MailboxTable` through ``main_api.sql``'s mailbox functions (the
    Cloudflare mode's stored mailboxes on Supabase; the password arrives sealed)."""

    def __init__(self, main: PostgrestMainStore):
        self._main = main

    async def upsert(self, user_id: str, source: Any, ciphertext: str, now: str) -> None:
        await self._main._call(
            "save_mailbox", user_id=user_id, email=source.email, host=source.host, port=source.port,
            security=source.security, login=source.login, ciphertext=ciphertext,
        )  # fmt: skip

    async def select(self, user_id: str, email: str | None = None, *, secret: bool = False) -> list:
        return await self._main._call("mailboxes", user_id=user_id, email=email, secret=secret)

    async def delete(self, user_id: str, email: str | None = None) -> int:
        return int(await self._main._call("delete_mailboxes", user_id=user_id, email=email))
