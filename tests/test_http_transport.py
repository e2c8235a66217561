"""The runner's CPython HTTP transport against a real local HTTP server."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from leadminer.storage import StoreUnavailable
from leadminer_runner.http_transport import UrllibTransport


class _Echo(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status = 200 if self.path == "/ok" else 404
        answer = json.dumps({"path": self.path, "body": body.decode(), "auth": self.headers.get("Authorization")})
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Echo", "yes")
        self.end_headers()
        self.wfile.write(answer.encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_answers_with_status_lowercase_headers_and_body(server):
    transport = UrllibTransport()
    answer = asyncio.run(transport.request("POST", f"{server}/ok", headers={"Authorization": "Bearer t"}, body=b"hi"))
    assert answer.status == 200 and answer.ok
    assert answer.headers["x-echo"] == "yes"
    assert answer.json() == {"path": "/ok", "body": "hi", "auth": "Bearer t"}


def test_an_error_status_is_an_answer_not_an_exception(server):
    answer = asyncio.run(UrllibTransport().request("POST", f"{server}/missing", body=b"{}"))
    assert answer.status == 404 and not answer.ok
    assert answer.json()["path"] == "/missing"


def test_no_answer_raises_store_unavailable_without_the_query():
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(StoreUnavailable) as caught:
        asyncio.run(UrllibTransport(timeout=5).request("POST", f"http://127.0.0.1:{port}/x?apikey=secret"))
    assert "secret" not in str(caught.value)
