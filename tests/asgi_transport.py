"""An HttpTransport that hands each request to an ASGI app in-process (no socket):
the local PostgREST endpoint in the main store's tests."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from leadminer.adapters.http import HttpResponse


class AsgiTransport:
    def __init__(self, app):
        self.app = app

    async def request(
        self, method: str, url: str, *, headers: Mapping[str, str] | None = None, body: bytes | None = None
    ) -> HttpResponse:
        parts = urlsplit(url)
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method.upper(),
            "scheme": parts.scheme, "path": parts.path, "raw_path": parts.path.encode(), "root_path": "",
            "query_string": parts.query.encode(), "server": (parts.hostname, parts.port or 80), "client": ("127.0.0.1", 1),
            "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        }  # fmt: skip
        sent = False
        answer: dict = {"headers": {}, "body": b""}

        async def receive():
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body or b"", "more_body": False}

        async def send(message):
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                answer["headers"] = {k.decode().lower(): v.decode() for k, v in message.get("headers", [])}
            elif message["type"] == "http.response.body":
                answer["body"] += message.get("body", b"")

        await self.app(scope, receive, send)
        return HttpResponse(answer["status"], answer["headers"], answer["body"])
