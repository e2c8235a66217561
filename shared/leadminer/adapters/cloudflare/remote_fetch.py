"""A fetch read outside the Workers: the IMAP fetcher (a Cloudflare Container in production, a
plain process locally) hands what it reads to fetch-dispatch over HTTP, and this module turns
each request into the flow's own fetch bookkeeping (:meth:`MiningFlow.store_batch`,
:meth:`MiningFlow.end_fetch`: R2 raw batch, extract message, ledger counters, fan-in).

Per mining, D1 keeps (``remote_fetches``, dropped with the mining's other rows):

* the sha256 of the running fetcher's token, never the token: each launch makes a new token
  (:meth:`RemoteFetches.launch`), so a fetcher replaced by a restart is refused from then on;
* how many fetchers were launched (a fetcher that keeps dying fails the mining after
  :data:`MAX_LAUNCHES`);
* the cursor: the next batch number, the counters, the highest UID stored per folder (with the
  folder's UIDVALIDITY: a new one starts the folder's count again) and the folder states the
  fetcher last reported. A restarted fetcher begins there: it skips what was
  stored, and numbers its batches on, so nothing is doubled or lost.

Answers (:class:`RemoteFetchError`): 400 a malformed batch, 401 a wrong token, 409 a batch out
of order, 410 the mining has ended (stopped, failed): the fetcher quits.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

from ...contracts import FailedMessage
from ...flow import MiningFlow
from .d1 import D1Driver
from .r2 import batch_key, decode_messages

MAX_LAUNCHES = 5
"""Fetchers launched for one mining (restarts included) before it fails."""

LAUNCH = (
    "INSERT INTO remote_fetches (mining_id, token_hash, launches, cursor_json) VALUES (?,?,1,'{}') "
    "ON CONFLICT (mining_id) DO UPDATE SET token_hash = excluded.token_hash, launches = launches + 1 "
    "RETURNING launches"
)
LAUNCHES = "SELECT launches FROM remote_fetches WHERE mining_id = ?"
FIND = "SELECT token_hash, cursor_json FROM remote_fetches WHERE mining_id = ?"
ADVANCE = "UPDATE remote_fetches SET cursor_json = ? WHERE mining_id = ? AND token_hash = ?"


class RemoteFetchError(Exception):
    """What a fetcher's request gets instead of an answer: ``status`` and a sentence (no secret)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(slots=True)
class Cursor:
    """How far the remote fetch of a mining got (JSON in ``remote_fetches.cursor_json``)."""

    batch: int = 0  # the next batch number
    fetched: int = 0
    failed: int = 0
    total: int | None = None
    uids: dict[str, int] = field(default_factory=dict)  # folder → highest UID stored
    uidvalidity: dict[str, int] = field(default_factory=dict)  # folder → the UIDVALIDITY of its stored UIDs
    state: list[list] = field(default_factory=list)  # the fetcher's folder states, as it last reported them
    pending: dict | None = None  # {"batch": n, "after": cursor JSON}: batch n being stored (see RemoteFetch.batch)

    @classmethod
    def from_json(cls, text: str) -> Cursor:
        return cls.from_dict(json.loads(text or "{}"))

    @classmethod
    def from_dict(cls, data: dict) -> Cursor:
        return cls(**{k: v for k, v in data.items() if k in cls.__slots__})

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class RemoteFetches:
    """The ``remote_fetches`` rows of the temp D1 database."""

    def __init__(self, driver: D1Driver):
        self.driver = driver

    async def launches(self, mining_id: str) -> int:
        found = await self.driver.rows(LAUNCHES, (mining_id,))
        return int(found[0][0]) if found else 0

    async def launch(self, mining_id: str) -> str:
        """A new token for a fetcher about to start (the previous one's is forgotten)."""
        token = secrets.token_urlsafe(32)
        await self.driver.rows(LAUNCH, (mining_id, token_hash(token)))
        return token

    async def cursor(self, mining_id: str, token: str) -> Cursor:
        """The mining's cursor for the fetcher holding ``token``; 401 for any other token, 410 once
        the mining has ended (its row is gone)."""
        found = await self.driver.rows(FIND, (mining_id,))
        if not found:  # dropped with the mining's other rows when it ended
            raise RemoteFetchError(410, "the mining has ended")
        if not hmac.compare_digest(found[0][0], token_hash(token or "")):
            raise RemoteFetchError(401, "unknown fetcher: a wrong token, or a fetcher replaced by a restart")
        return Cursor.from_json(found[0][1])

    async def advance(self, mining_id: str, token: str, cursor: Cursor) -> None:
        await self.driver.write([(ADVANCE, [(cursor.to_json(), mining_id, token_hash(token))])])


class RemoteFetch:
    """The handlers of fetch-dispatch's fetcher routes (``api/leadminer_api/fetcher_routes.py``)."""

    def __init__(self, flow: MiningFlow, fetches: RemoteFetches):
        self.flow = flow
        self.fetches = fetches

    async def _running(self, mining_id: str, token: str) -> tuple[Any, Cursor]:
        cursor = await self.fetches.cursor(mining_id, token)
        run = await self.flow.services.ledger.run(mining_id)
        if run is None:
            raise RemoteFetchError(410, "the mining has ended")
        if cursor.pending is not None:
            cursor = await self._settle(mining_id, token, cursor)
        return run, cursor

    async def _settle(self, mining_id: str, token: str, cursor: Cursor) -> Cursor:
        """A batch whose storing was cut short (the Worker died between recording it as pending
        and advancing the cursor): when its first copy reached R2 (or was extracted already) it is
        what extract reads, so the cursor moves past exactly that copy's messages and its extract
        message is sent again (extract does a batch once); otherwise it never was, and the cursor
        stays. Without this, a fetcher restarted on a changed mailbox could send a different batch
        under the same number: R2 would keep the first copy and the cursor would skip the second's."""
        s = self.flow.services
        number = cursor.pending["batch"]
        stored = await s.ledger.batch_done(mining_id, number) or bool(await s.raw.keys(batch_key(mining_id, number)))
        if stored:
            after = Cursor.from_dict(cursor.pending["after"])
            await s.queues["extract"].send({"mining_id": mining_id, "batch": number})
            await s.ledger.fetch_progress(mining_id, fetched=after.fetched, failed=after.failed, total=after.total)
        else:
            after = cursor
            after.pending = None
        await self.fetches.advance(mining_id, token, after)
        return after

    async def begin(self, mining_id: str, token: str) -> dict:
        """Where to start: the source's label and user (the folder-state key), the folder states
        of earlier minings of it, and the cursor (what a previous fetcher of this mining stored)."""
        run, cursor = await self._running(mining_id, token)
        await self.flow.services.ledger.touch(mining_id)
        known = await self.flow.services.main.folder_states(run.user_id, run.source)
        return {
            "user_id": run.user_id, "source": run.source, "cursor": asdict(cursor),
            "known": [[folder, s.uidvalidity, s.highest_uid] for folder, s in known.items()],
        }  # fmt: skip

    async def batch(self, mining_id: str, token: str, body: dict) -> dict:
        """Batch ``body["batch"]``: messages (R2 JSON), failures, the fetcher's folder states and
        total. A batch stored already (a retried request) is answered again, never stored twice."""
        run, cursor = await self._running(mining_id, token)
        number = body.get("batch")
        if not isinstance(number, int) or number > cursor.batch:
            raise RemoteFetchError(409, f"batch {number!r} out of order: the next batch is {cursor.batch}")
        if number < cursor.batch:
            return {"next": cursor.batch}
        try:
            raws = decode_messages(mining_id, body.get("messages") or [])
            failures = [FailedMessage(mining_id, str(f["folder"]), str(f["uid"]), str(f["reason"])) for f in body.get("failures") or []]
        except (KeyError, TypeError, ValueError) as exc:  # a malformed batch: refused, nothing stored
            raise RemoteFetchError(400, f"batch {number}: malformed messages or failures ({type(exc).__name__})") from None
        before = asdict(cursor)
        if failures:
            await self.flow.services.temp.add_failures(mining_id, failures)
        counted = [f for f in failures if not f.skipped]
        cursor.fetched += len(raws) + len(counted)
        cursor.failed += len(counted)
        if isinstance(body.get("total"), int):
            cursor.total = body["total"]
        validities = body.get("uidvalidity")
        for folder, validity in (validities.items() if isinstance(validities, dict) else ()):
            if isinstance(validity, int) and cursor.uidvalidity.get(folder) != validity:
                cursor.uidvalidity[folder] = validity  # a new numbering: the old highest UID means nothing now
                cursor.uids.pop(folder, None)
        for item in [*raws, *failures]:
            if item.uid.isdigit():
                cursor.uids[item.folder] = max(cursor.uids.get(item.folder, 0), int(item.uid))
        if isinstance(body.get("state"), list):
            cursor.state = _own_states(run, body["state"])
        cursor.batch += 1
        # recorded as pending first, with the cursor it leads to: a Worker dying while it stores the
        # batch leaves the next request to settle it (_settle), whatever a restarted fetcher sends
        pending = Cursor.from_dict({**before, "pending": {"batch": number, "after": asdict(cursor)}})
        await self.fetches.advance(mining_id, token, pending)
        # stored even without messages (only failures): every number is a batch extract records
        await self.flow.store_batch(mining_id, number, raws, fetched=cursor.fetched, failed=cursor.failed, total=cursor.total)
        await self.fetches.advance(mining_id, token, cursor)
        if await self.flow.services.ledger.run(mining_id) is None:  # stopped meanwhile: what it added goes
            await self.flow.abandon_fetch(mining_id)
            raise RemoteFetchError(410, "the mining has ended")
        return {"next": cursor.batch}

    async def end(self, mining_id: str, token: str, body: dict) -> dict:
        """The fetcher is done: the source was read (``state``: its folder states), or it failed
        (``error``: the mining fails with it)."""
        run, cursor = await self._running(mining_id, token)
        if run.batches is not None:
            return {"batches": run.batches}  # a retried request
        if body.get("error"):
            await self.flow.end(mining_id, "failed", f"fetch: {body['error']}")
            return {"failed": True}
        state = _own_states(run, body["state"]) if isinstance(body.get("state"), list) else cursor.state
        await self.flow.end_fetch(mining_id, batches=cursor.batch, fetched=cursor.fetched, failed=cursor.failed, fetch_state=state)
        return {"batches": cursor.batch}


def _own_states(run: Any, rows: list) -> list[list]:
    """The fetcher's folder states ``[user_id, source, folder, uidvalidity, highest_uid]`` that
    belong to its mining's user and source: the token is good for its own mining only, so it
    never writes another user's (or another source's) folder states; malformed rows are dropped."""
    return [
        [user_id, source, folder, uidvalidity, highest]
        for row in rows if isinstance(row, list) and len(row) == 5
        for user_id, source, folder, uidvalidity, highest in [row]
        if (user_id, source) == (run.user_id, run.source) and isinstance(folder, str)
        and isinstance(uidvalidity, int) and isinstance(highest, int)
    ]  # fmt: skip
