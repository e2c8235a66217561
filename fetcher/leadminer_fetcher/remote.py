"""The IMAP fetcher as a process of its own: the Cloudflare mode's fetcher container
(fetcher/Dockerfile), or locally a process the stack starts (docs/cloudflare.md, "The fetcher").

``python -m leadminer_fetcher.remote`` reads its job from the environment the Durable Object
started it with, reads the stored mailbox with :class:`~leadminer_fetcher.imap.ImapSource` and
hands every batch to fetch-dispatch over HTTP (``POST <api>/internal/fetcher/<mining id>/…``,
``Authorization: Bearer <token>``), which stores it in R2 and sends it to extract:

* ``begin``: the source's label (the folder-state key), the folder states of earlier minings,
  and the cursor of a fetcher of this mining that stopped: the next batch number and the
  highest UID stored per folder with the folder's UIDVALIDITY. Messages at or under it are
  skipped, so a restarted fetcher doubles nothing and loses nothing; a folder whose UIDVALIDITY
  changed meanwhile is read again (its old UIDs name other messages now; the message ids keep
  the re-read from doubling anything).
* ``batch``: ``{"batch", "messages", "failures", "state", "total", "uidvalidity"}`` (messages as
  in R2; ``uidvalidity``: folder → UIDVALIDITY of the folders in the batch);
* ``end``: ``{"state"}`` once the mailbox is read, or ``{"error"}`` when it cannot be (the
  mining fails with that sentence).

410 (the mining was stopped or failed) or 401 (a newer fetcher replaced this one) ends the
process at once with status 0; a fetch-dispatch that cannot be reached after a few tries ends it
with status 1 (its container is then started again and resumes). The password and the token are
read once, taken out of the environment, and never logged.

Environment: ``LEADMINER_FETCH_API``, ``LEADMINER_MINING_ID``, ``LEADMINER_FETCH_TOKEN``,
``LEADMINER_IMAP`` (JSON: host, port, security, login, folders, since),
``LEADMINER_IMAP_PASSWORD``, optional ``LEADMINER_FETCH_BATCH`` (messages per batch, 500) and
``LEADMINER_FETCH_PUBLIC_ONLY`` (``1`` in the container image: an IMAP host that resolves to a
loopback, private, link-local or otherwise non-public address is refused, so a user's mailbox
settings cannot make the hosted fetcher reach into its own network; the mining fails saying so).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import MutableMapping
from datetime import date
from typing import Any

from leadminer.adapters.cloudflare.r2 import encode_messages
from leadminer.contracts import FailedMessage, RawMessage
from leadminer.flow import DEFAULT_BATCH
from leadminer.flow.sources import FetchState
from leadminer.storage import FolderState

from .imap import ImapError, ImapSource

log = logging.getLogger("leadminer_fetcher.remote")

RETRY_SECONDS = (1, 2, 4, 8, 16)  # waits between tries of a request fetch-dispatch did not answer


class Ended(Exception):
    """fetch-dispatch refuses this fetcher: the mining ended (410) or a newer fetcher took over (401)."""


class FetchApi:
    """The fetcher routes of fetch-dispatch for one mining."""

    def __init__(self, base: str, mining_id: str, token: str, *, timeout: float = 120, retries=RETRY_SECONDS):
        self.url = f"{base.rstrip('/')}/internal/fetcher/{mining_id}"
        self._token = token
        self.timeout = timeout
        self.retries = retries

    def __repr__(self) -> str:
        return f"FetchApi({self.url})"

    def post(self, step: str, body: dict) -> dict:
        data = json.dumps(body, separators=(",", ":")).encode()
        headers = {"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"}
        for attempt, wait in enumerate((*self.retries, None)):
            request = urllib.request.Request(f"{self.url}/{step}", data=data, method="POST", headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310 - the configured API
                    return json.loads(answer.read())["data"]  # the API envelope: {"error", "data"}
            except urllib.error.HTTPError as exc:
                if exc.code in (401, 410):
                    raise Ended(_message(exc)) from None
                if exc.code < 500:
                    raise RuntimeError(f"{step}: HTTP {exc.code}: {_message(exc)}") from None
                problem = f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError) as exc:
                problem = str(getattr(exc, "reason", exc))
            if wait is None:
                raise RuntimeError(f"{step}: fetch-dispatch did not answer after {attempt + 1} tries ({problem})")
            log.warning("%s: %s; trying again in %d s", step, problem, wait)
            time.sleep(wait)
        raise AssertionError("unreachable")


def _message(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read() or b"{}")
    except ValueError:
        return exc.reason
    error = body.get("error") if isinstance(body, dict) else None
    return str(error.get("message") if isinstance(error, dict) else error or body.get("detail") or exc.reason)


def refuse_non_public_host(host: str, port: int) -> None:
    """ImapError unless every address ``host`` resolves to is a public one (checked before the
    connection; a name that resolves differently a moment later is not caught)."""
    try:
        found = {info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)}
    except (OSError, UnicodeError) as exc:
        raise ImapError(f"The IMAP server {host} cannot be found ({exc}).") from None
    for text in sorted(found):
        address = ipaddress.ip_address(text.split("%")[0])
        mapped = getattr(address, "ipv4_mapped", None)
        if not (mapped or address).is_global:
            raise ImapError(
                f"The IMAP server {host} resolves to {text}, a private or reserved address: "
                "the hosted fetcher only connects to public servers."
            )


def fetch(
    api: FetchApi, mining_id: str, account: dict, password: str, batch_size: int = DEFAULT_BATCH, *, public_only: bool = False
) -> dict:
    """Read the mailbox into fetch-dispatch (see the module); returns the end's answer.
    ``public_only``: refuse a host that is not on a public address (:func:`refuse_non_public_host`)."""
    if public_only:
        try:
            refuse_non_public_host(account["host"], int(account["port"]))
        except ImapError as exc:
            log.error("mining %s: %s", mining_id, exc)
            return api.post("end", {"error": str(exc)})
    begin = api.post("begin", {})
    user_id, label, cursor = begin["user_id"], begin["source"], begin["cursor"]
    state = FetchState(user_id, label, {folder: FolderState(v, h) for folder, v, h in begin["known"]})
    for user, source, folder, uidvalidity, highest in cursor.get("state") or []:
        state.save_folder_state(user, source, folder, FolderState(uidvalidity, highest))
    stored: dict[str, int] = cursor.get("uids") or {}
    numbered: dict[str, int] = cursor.get("uidvalidity") or {}  # the UIDVALIDITY the stored UIDs belong to
    since = date.fromisoformat(account["since"]) if account.get("since") else None
    imap = ImapSource(
        account["host"], account["port"], account["login"], password, security=account["security"],
        folders=account.get("folders"), since=since, batch_size=batch_size,
    )  # fmt: skip
    next_batch = int(cursor.get("batch", 0))
    log.info("mining %s: fetching %s from batch %d", mining_id, label, next_batch)
    try:
        total = int(cursor.get("fetched", 0)) + imap.count(state, user_id, label)
        messages: list[RawMessage] = []
        failures: list[FailedMessage] = []

        def send() -> None:
            nonlocal next_batch
            folders = {item.folder for item in [*messages, *failures]}
            body = {
                "batch": next_batch, "messages": encode_messages(messages), "state": state.rows(), "total": total,
                "failures": [{"folder": f.folder, "uid": f.uid, "reason": f.reason} for f in failures],
                "uidvalidity": {f: v for f, v in imap.uidvalidities.items() if f in folders},
            }  # fmt: skip
            next_batch = int(api.post("batch", body)["next"])
            log.info("mining %s: batch handed over (%d messages, %d failures)", mining_id, len(messages), len(failures))
            messages.clear()
            failures.clear()

        for item in imap.iter_messages(mining_id, state, user_id, label):
            if (
                item.uid.isdigit() and int(item.uid) <= stored.get(item.folder, 0)
                and numbered.get(item.folder, imap.uidvalidities.get(item.folder)) == imap.uidvalidities.get(item.folder)
            ):  # fmt: skip
                continue  # stored by a fetcher of this mining before a restart (a changed UIDVALIDITY: read again)
            (failures if isinstance(item, FailedMessage) else messages).append(item)
            if len(messages) >= batch_size:
                send()
        if messages or failures:
            send()
    except ImapError as exc:  # worded for the user, without the password
        log.error("mining %s: %s", mining_id, exc)
        return api.post("end", {"error": str(exc)})
    return api.post("end", {"state": state.rows()})


def main(environ: MutableMapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    logging.basicConfig(level=logging.INFO, format="%(asctime)s fetcher %(levelname)s %(message)s", stream=sys.stderr)
    try:
        mining_id = environ["LEADMINER_MINING_ID"]
        account: dict[str, Any] = json.loads(environ["LEADMINER_IMAP"])
        api = FetchApi(environ["LEADMINER_FETCH_API"], mining_id, environ.pop("LEADMINER_FETCH_TOKEN"))
        password = environ.pop("LEADMINER_IMAP_PASSWORD")
        batch_size = int(environ.get("LEADMINER_FETCH_BATCH") or DEFAULT_BATCH)
    except (KeyError, ValueError) as exc:
        log.error("the fetcher's job is incomplete: %s", f"no {exc}" if isinstance(exc, KeyError) else "LEADMINER_IMAP or LEADMINER_FETCH_BATCH is malformed")
        return 2
    try:
        public_only = environ.get("LEADMINER_FETCH_PUBLIC_ONLY", "") not in ("", "0")
        answer = fetch(api, mining_id, account, password, batch_size, public_only=public_only)
    except Ended as exc:
        log.info("mining %s: fetch-dispatch ends this fetcher (%s)", mining_id, exc)
        return 0
    except Exception as exc:  # noqa: BLE001 - reported, and the container is started again
        log.error("mining %s: the fetcher stopped: %s", mining_id, exc)
        return 1
    log.info("mining %s: fetch over (%s)", mining_id, answer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
