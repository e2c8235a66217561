"""Call a few routes of the HTTP API in-process, through ASGI, over the in-memory backend.

Imported by ``mine.py`` (so it runs under CPython and under Pyodide alike): the app
``create_app(Settings(...), MemoryBackend())`` is driven by the small ASGI client below
(no httpx, no server, no socket), its lifespan included. An upload is mined by the
in-process worker between two calls. The result lists each call's status, its
envelope (``data`` and ``error``, with ids and times replaced by placeholders) and the
export's bytes, so the two runtimes can be compared key by key.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

SECRET = "pyodide-check-secret-of-at-least-32-bytes"
USER = "u1"

#: Three small messages as an mbox: three senders write to the user (who is also a sender once).
MESSAGES = (
    ("Ada Lovelace <ada@analytical.example>", "me@leadminer.example", "Notes on the engine", "Mon, 02 Mar 2026 09:00:00 +0000",
     "Here are my notes.\n\n--\nAda Lovelace\nAnalyst, Analytical Engines Ltd\n+44 20 7946 0958\n"),
    ("Grace Hopper <grace@cobol.example>", "me@leadminer.example, Ada Lovelace <ada@analytical.example>",
     "Compiler", "Tue, 03 Mar 2026 10:30:00 +0000", "The compiler works.\n"),
    ("me@leadminer.example", "Alan Turing <alan@bletchley.example>", "Re: machines", "Wed, 04 Mar 2026 14:15:00 +0000",
     "Can machines think?\n"),
)  # fmt: skip


def mbox_bytes() -> bytes:
    """The messages above as one mbox file."""
    parts = []
    for n, (sender, to, subject, date, body) in enumerate(MESSAGES, 1):
        parts.append(
            f"From check@example Mon Mar  2 09:00:00 2026\nFrom: {sender}\nTo: {to}\nSubject: {subject}\nDate: {date}\n"
            f"Message-ID: <check-{n}@leadminer.example>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n{body}\n"
        )
    return "".join(parts).encode()


def token(user: str, secret: str = SECRET) -> str:
    import jwt

    claims = {"sub": user, "aud": "authenticated", "exp": int(time.time()) + 600, "role": "authenticated"}
    return jwt.encode(claims, secret, algorithm="HS256")


def multipart(field: str, filename: str, content: bytes, content_type: str = "application/mbox") -> tuple[bytes, str]:
    """A ``multipart/form-data`` body with one file; returns it and its content type."""
    boundary = f"leadminer-{uuid.uuid4().hex}"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n").encode()  # fmt: skip
    return head + content + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


class AsgiResponse:
    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes):
        self.status, self.headers, self.body = status, headers, body

    def header(self, name: str) -> str | None:
        name_bytes = name.lower().encode()
        return next((v.decode("latin-1") for k, v in self.headers if k.lower() == name_bytes), None)

    def json(self) -> Any:
        return json.loads(self.body)


class AsgiClient:
    """The least an ASGI server does, in-process: run the lifespan, send one ``http.request``
    per call and collect ``http.response.start`` / ``http.response.body`` (streams included)."""

    def __init__(self, app: Callable[..., Awaitable[None]]):
        self.app = app
        self._lifespan: asyncio.Task | None = None
        self._to_app: asyncio.Queue[dict] = asyncio.Queue()
        self._from_app: asyncio.Queue[dict] = asyncio.Queue()

    async def __aenter__(self) -> AsgiClient:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
        self._lifespan = asyncio.ensure_future(self.app(scope, self._to_app.get, self._from_app.put))
        await self._lifespan_step("startup")
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self._lifespan_step("shutdown")
        await self._lifespan

    async def _lifespan_step(self, step: str) -> None:
        await self._to_app.put({"type": f"lifespan.{step}"})
        message = await self._from_app.get()
        if message["type"] != f"lifespan.{step}.complete":
            raise RuntimeError(f"lifespan {step} failed: {message.get('message', message['type'])}")

    async def request(self, method: str, path: str, *, headers: dict[str, str] | None = None, body: bytes = b"") -> AsgiResponse:
        path, _, query = path.partition("?")
        raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
        raw_headers += [(b"host", b"testserver"), (b"content-length", str(len(body)).encode())]
        scope = {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
            "method": method, "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
            "query_string": query.encode(), "headers": raw_headers, "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80), "state": {},
        }  # fmt: skip
        sent = False
        done = asyncio.Event()

        async def receive() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await done.wait()  # the client stays connected until the response is complete
            return {"type": "http.disconnect"}

        start: dict = {}
        chunks: list[bytes] = []

        async def send(message: dict) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    done.set()

        await self.app(scope, receive, send)
        done.set()
        return AsgiResponse(start["status"], list(start.get("headers", [])), b"".join(chunks))


_PLACEHOLDERS = (
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<uuid>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?"), "<time>"),
)


def stable(value: Any) -> Any:
    """``value`` with what differs between two runs (ids, times, latencies, the revision) replaced."""
    if isinstance(value, dict):
        return {k: "<n>" if k in ("latency_ms", "revision", "seconds") or k.endswith("_ms") else stable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [stable(v) for v in value]
    if isinstance(value, str):
        for pattern, placeholder in _PLACEHOLDERS:
            value = pattern.sub(placeholder, value)
    return value


def sse_events(text: str) -> list[dict[str, Any]]:
    """The stream's events as ``{"event", "data"}`` (ids and mining ids replaced)."""
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            events.append({"event": stable(fields["event"]), "data": stable(json.loads(fields.get("data", "null")))})
    return events


async def check_api() -> dict[str, Any]:
    """Build the app over the in-memory backend and call a few routes; returns what they answered."""
    from leadminer.flow import MiningFlow, StageWorker
    from leadminer.settings import Settings

    from leadminer_api.app import create_app
    from leadminer_api.memory import MemoryBackend

    backend = MemoryBackend()
    app = create_app(Settings(supabase_jwt_secret=SECRET), backend)
    calls: dict[str, Any] = {}

    def record(name: str, response: AsgiResponse, **extra: Any) -> Any:
        try:
            body = response.json()
        except ValueError:
            body = None
        calls[name] = {"status": response.status, "body": stable(body), **extra}
        return body

    bearer = {"Authorization": f"Bearer {token(USER)}"}
    async with AsgiClient(app) as client:
        record("health", await client.request("GET", "/health"))
        record("minings_without_token", await client.request("GET", f"/api/imap/mine/{USER}"))
        record("minings_empty", await client.request("GET", f"/api/imap/mine/{USER}", headers=bearer))
        record("minings_of_another_user", await client.request("GET", "/api/imap/mine/u2", headers=bearer))
        record("mailbox_not_available", await client.request(
            "POST", "/api/imap/boxes", headers={**bearer, "Content-Type": "application/json"},
            body=json.dumps({"email": "me@leadminer.example"}).encode(),
        ))  # fmt: skip

        body, content_type = multipart("file", "check.mbox", mbox_bytes())
        upload = record("upload", await client.request(
            "POST", f"/api/imap/mine/file/{USER}", headers={**bearer, "Content-Type": content_type}, body=body
        ))  # fmt: skip
        mining_id = (upload or {}).get("data", {}).get("miningId")
        if mining_id is None:
            return {"calls": calls}

        async with backend.services() as services:
            calls["drained"] = await StageWorker(MiningFlow(services)).drain()

        progress = await client.request("GET", f"/api/imap/mine/file/{mining_id}/progress", headers=bearer)
        calls["progress"] = {
            "status": progress.status,
            "content_type": progress.header("content-type"),
            "events": sse_events(progress.body.decode()),
        }
        record("status", await client.request("GET", f"/api/imap/mine/file/{mining_id}", headers=bearer))
        export = await client.request(
            "POST", "/api/contacts/export/json", headers={**bearer, "Content-Type": "application/json"},
            body=json.dumps({"exportAllContacts": True}).encode(),
        )  # fmt: skip
        calls["export"] = {
            "status": export.status,
            "content_type": export.header("content-type"),
            "text": export.body.decode(),
        }
    calls["spool_removed"] = not backend.spool_dir.exists()
    return {"calls": json.loads(json.dumps(calls).replace(mining_id, "<mining>"))}
