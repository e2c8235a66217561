"""An ASGI request made by hand, to see how much of a request body an app reads (the
TestClient reads the whole body before the app runs)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass


BOUNDARY = "leadminer-test-boundary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
FILE_PART = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.mbox"\r\n\r\n'.encode()


@dataclass
class RawResponse:
    status: int = 0
    body: bytes = b""
    chunks_read: int = 0  # body messages the app asked for
    bytes_read: int = 0

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Body:
    """``prefix``, then ``chunks`` chunks of ``size`` bytes (a body that does not end there)."""

    chunks: int
    size: int = 1 << 20
    prefix: bytes = b""

    def __iter__(self) -> Iterator[bytes]:
        yield self.prefix
        for _ in range(self.chunks):
            yield b"x" * self.size


async def post(app, path: str, body: Body, headers: dict[str, str], *, content_length: int | None = None) -> RawResponse:
    """POST ``body`` to ``app`` (whose lifespan runs) and record how much of it the app read."""
    out = RawResponse()
    parts = iter(body)
    sent_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    if content_length is not None:
        sent_headers.append((b"content-length", str(content_length).encode()))
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": sent_headers,
        "client": ("127.0.0.1", 1), "server": ("testserver", 80),
    }  # fmt: skip

    async def receive() -> dict:
        chunk = next(parts, None)
        if chunk is None:
            return {"type": "http.disconnect"}
        out.chunks_read += 1
        out.bytes_read += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            out.status = message["status"]
        elif message["type"] == "http.response.body":
            out.body += message.get("body", b"")

    async with app.router.lifespan_context(app):
        await app(scope, receive, send)
    return out
