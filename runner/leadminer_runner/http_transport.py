"""``HttpxTransport``: the HTTP transport port (:mod:`leadminer.adapters.http`) on CPython,
over an ``httpx2.AsyncClient`` (one connection pool per transport; close it with :meth:`aclose`
or ``async with``).

No answer (DNS, refused, reset, timeout) raises :class:`~leadminer.storage.StoreUnavailable`,
which the flow waits out or retries; any HTTP status is an answer, left to the caller.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx2
from leadminer.adapters.http import HttpResponse
from leadminer.storage import StoreUnavailable


class HttpxTransport:
    """``HttpTransport`` over httpx (``timeout``: seconds for connect, read, write and pool)."""

    def __init__(self, *, timeout: float = 30.0, client: httpx2.AsyncClient | None = None):
        self._client = client or httpx2.AsyncClient(timeout=timeout)

    async def request(
        self, method: str, url: str, *, headers: Mapping[str, str] | None = None, body: bytes | None = None
    ) -> HttpResponse:
        try:
            response = await self._client.request(method, url, headers=dict(headers or {}), content=body)
        except httpx2.TransportError as exc:  # connect/read/write errors and timeouts: no answer
            raise StoreUnavailable(f"{method} {_without_query(url)}: no answer ({type(exc).__name__})") from exc
        return HttpResponse(
            status=response.status_code,
            headers={name.lower(): value for name, value in response.headers.items()},
            body=response.content,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> HttpxTransport:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _without_query(url: str) -> str:
    """The URL for an error message, without its query string (which may carry filters or keys)."""
    return url.split("?", 1)[0]
