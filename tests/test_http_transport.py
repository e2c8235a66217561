"""The runner's HTTP transport (HttpxTransport) against a real local HTTP server: the answer's
status, lower-cased headers and body come back as sent; no answer raises StoreUnavailable."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest
from leadminer.storage import StoreUnavailable
from leadminer_runner.http_transport import HttpxTransport


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """One HTTP/1.1 request → 201 with a JSON body describing it (method, path, a header, body)."""
    head = await reader.readuntil(b"\r\n\r\n")
    request_line, *header_lines = head.decode("latin-1").split("\r\n")[:-2]
    headers = dict(line.split(": ", 1) for line in header_lines)
    headers = {name.lower(): value for name, value in headers.items()}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    method, path, _ = request_line.split(" ")
    answer = json.dumps(
        {"method": method, "path": path, "apikey": headers.get("apikey"), "body": body.decode()}
    ).encode()
    writer.write(
        b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nX-Mixed-Case: Yes\r\n"
        + f"Content-Length: {len(answer)}\r\nConnection: close\r\n\r\n".encode()
        + answer
    )
    await writer.drain()
    writer.close()


async def test_a_request_gets_the_servers_answer():
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, HttpxTransport(timeout=5) as transport:
        response = await transport.request(
            "POST", f"http://127.0.0.1:{port}/rest/v1/rpc/f", headers={"apikey": "k"}, body=b'{"a": 1}'
        )
    assert response.status == 201 and response.ok
    assert response.headers["x-mixed-case"] == "Yes"
    assert response.json() == {"method": "POST", "path": "/rest/v1/rpc/f", "apikey": "k", "body": '{"a": 1}'}


async def test_a_refused_connection_is_store_unavailable_without_the_query_string():
    with socket.socket() as probe:  # a port nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with HttpxTransport(timeout=5) as transport:
        with pytest.raises(StoreUnavailable) as caught:
            await transport.request("GET", f"http://127.0.0.1:{port}/rest/v1/persons?secret=x")
    assert "secret" not in str(caught.value) and "/rest/v1/persons" in str(caught.value)
