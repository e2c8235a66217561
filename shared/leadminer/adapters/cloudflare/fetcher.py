"""Stored IMAP mailboxes in the Cloudflare mode, read by the fetcher container.

A Worker has no IMAP client, so a queued ``{"kind": "imap", "email"}`` fetch opens a
:class:`ContainerSource`: the stored mailbox (``mining_sources`` of the main store, its
password encrypted with WebCrypto, :mod:`.secrets`). The flow launches it
(:meth:`MiningFlow._queued_fetch`): a new token is registered (:mod:`.remote_fetch`) and the
Durable Object ``FETCHER`` named by the mining id starts its container with the job in the
container's environment (:func:`start_container`): the fetch-dispatch URL
(``LEADMINER_FETCH_API``), the mining id, the token, the account and its password. The fetcher
(``python -m leadminer_fetcher.remote``) posts its batches back to fetch-dispatch's fetcher
routes. A container that exits with an error before its fetch ended queues the fetch again:
the next fetcher gets a new token and resumes where the last one stopped, at most
:data:`~.remote_fetch.MAX_LAUNCHES` times.

Locally the stack (cloudflare/local/stack.mjs) gives the Durable Object a ``ctx.container`` that
starts the fetcher as a process with the same environment.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from ...mailboxes import MailboxSource, MailboxSourceStore, SqlMailboxTable, imap_spec
from ..sqlite_sql import DialectRows
from .d1 import D1Driver
from .queues import ProducerQueue
from .remote_fetch import MAX_LAUNCHES, RemoteFetches
from .secrets import WebCryptoBox
from .uploads import R2UploadOpener

log = logging.getLogger("leadminer.cloudflare")

CONTAINER_COMMAND = ["python", "-m", "leadminer_fetcher.remote"]
_watching: set = set()  # the containers watched (a task needs a reference until it is done)
_starts: dict[str, int] = {}  # mining id → how many times its Durable Object started a container (the latest)


def mailbox_store(env: Any, main: Any) -> MailboxSourceStore:
    """The stored mailboxes in the Worker's main store ``main`` (``mining_sources``: Supabase
    through ``main_api.sql``'s functions, or the main D1 database of a local stack), passwords
    sealed with the keys of the Worker secret ``LEADMINER_SECRET_KEY`` (RuntimeError when unset)."""
    from ..postgrest import PostgrestMailboxTable, PostgrestMainStore  # noqa: PLC0415

    keys = getattr(env, "LEADMINER_SECRET_KEY", None)
    if not isinstance(keys, str) or not keys:
        raise RuntimeError("stored mailboxes need the Worker secret LEADMINER_SECRET_KEY (wrangler secret put)")
    table = PostgrestMailboxTable(main) if isinstance(main, PostgrestMainStore) else SqlMailboxTable(DialectRows(main.driver))
    return MailboxSourceStore(table, WebCryptoBox(keys))


class ContainerSource:
    """A stored IMAP mailbox to be read by the fetcher container (see the module)."""

    def __init__(self, env: Any, spec: dict, mailbox: MailboxSource, password: str, folders: list[str] | None, since: Any):
        self.env, self.spec, self.mailbox = env, spec, mailbox
        self._password = password
        self._account = {
            "host": mailbox.host, "port": mailbox.port, "security": mailbox.security, "login": mailbox.login,
            "folders": folders, "since": since.isoformat() if since else None,
        }  # fmt: skip
        self.label = mailbox.label

    def __repr__(self) -> str:
        return f"ContainerSource({self.label})"

    async def launch(self, mining_id: str) -> str | None:
        """Start a fetcher for the mining; the reason the mining fails instead when fetchers of
        it died :data:`MAX_LAUNCHES` times."""
        fetches = RemoteFetches(D1Driver(self.env.DB))
        if await fetches.launches(mining_id) >= MAX_LAUNCHES:
            return f"the fetcher stopped {MAX_LAUNCHES} times before the end of the mailbox"
        token = await fetches.launch(mining_id)
        job = {
            "LEADMINER_FETCH_API": str(self.env.LEADMINER_FETCH_API).rstrip("/"),
            "LEADMINER_MINING_ID": mining_id,
            "LEADMINER_FETCH_TOKEN": token,
            "LEADMINER_IMAP": json.dumps(self._account),
            "LEADMINER_IMAP_PASSWORD": self._password,
        }
        if batch := getattr(self.env, "LEADMINER_FETCH_BATCH", None):  # messages per batch (default 500)
            job["LEADMINER_FETCH_BATCH"] = str(batch)
        body = json.dumps({"env": job, "requeue": {"mining_id": mining_id, "source": self.spec}})
        answer = await self.env.FETCHER.getByName(mining_id).fetch("http://fetcher/start", method="POST", body=body)
        if int(answer.status) != 200:
            raise RuntimeError(f"the fetcher container of mining {mining_id} did not start (HTTP {answer.status})")
        return None


class CloudflareSourceOpener:
    """:class:`~leadminer.flow.SourceOpener` of the Cloudflare mode: uploads in R2, stored IMAP
    mailboxes (in the main store ``main``) through the fetcher container."""

    def __init__(self, env: Any, main: Any):
        self.env, self.main = env, main
        self.uploads = R2UploadOpener(env.RAW)

    async def open(self, user_id: str, spec: dict[str, Any]) -> Any:
        if not (isinstance(spec, dict) and spec.get("kind") == "imap"):
            return await self.uploads.open(user_id, spec)
        email, folders, since = imap_spec(spec)
        found = await mailbox_store(self.env, self.main).get(user_id, email)
        if found is None:
            raise ValueError(f"no stored mailbox {email} for this user: add it first")
        mailbox, password = found
        return ContainerSource(self.env, spec, mailbox, password, folders, since)


async def start_container(ctx: Any, env: Any, body: dict) -> None:
    """What the ``FETCHER`` Durable Object does with a start: (re)start its container with the
    job's environment (a fetcher still running with an older token is replaced), and when the
    container exits with an error, queue the fetch again (``requeue``)."""
    import js  # noqa: PLC0415 - Workers (Pyodide) only
    from pyodide.ffi import create_proxy, to_js  # noqa: PLC0415
    from workers import wait_until  # noqa: PLC0415

    mining_id = body["env"]["LEADMINER_MINING_ID"]
    start = _starts[mining_id] = _starts.get(mining_id, 0) + 1  # before the destroy: the old watcher sees it
    container = ctx.container
    if container.running:
        await container.destroy()
    options = {"env": body["env"], "entrypoint": CONTAINER_COMMAND, "enableInternet": True}
    container.start(to_js(options, dict_converter=js.Object.fromEntries))
    requeue = body.get("requeue")

    async def watch() -> None:
        try:
            await container.monitor()  # resolves when the fetcher exits with 0, rejects otherwise
        except Exception as exc:  # noqa: BLE001 - the container died: the fetch goes again
            if _starts.get(mining_id) != start:  # destroyed by a newer start (a fetch delivered again): no crash
                log.info("the fetcher of mining %s was replaced by a newer one", mining_id)
                return
            log.warning("the fetcher of mining %s stopped (%s): fetch queued again", mining_id, exc)
            await ProducerQueue("fetch", env.FETCH_QUEUE).send(requeue)
        finally:
            if _starts.get(mining_id) == start:
                del _starts[mining_id]

    if requeue:  # watched past this request (a JS promise of the task, freed once it settles)
        task = asyncio.ensure_future(watch())
        _watching.add(task)
        proxy = create_proxy(task)
        task.add_done_callback(lambda done: (_watching.discard(done), proxy.destroy()))
        wait_until(proxy)
