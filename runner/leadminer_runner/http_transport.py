"""The CPython :class:`~leadminer.adapters.http.HttpTransport`: the standard library's
``urllib`` run in a worker thread (httpx is not a runtime dependency of the runner).

Any HTTP status is an answer (returned, not raised); no answer at all (DNS failure,
refused, reset, timeout) raises :class:`~leadminer.storage.StoreUnavailable`.
"""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from collections.abc import Mapping

from leadminer.adapters.http import HttpResponse
from leadminer.storage import StoreUnavailable


class UrllibTransport:
    """Sends each request with :func:`urllib.request.urlopen` in ``asyncio.to_thread``."""

    def __init__(self, *, timeout: float = 30.0) -> None:
        self.timeout = timeout

    async def request(
        self, method: str, url: str, *, headers: Mapping[str, str] | None = None, body: bytes | None = None
    ) -> HttpResponse:
        return await asyncio.to_thread(self._request, method, url, dict(headers or {}), body)

    def _request(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> HttpResponse:
        request = urllib.request.Request(url, data=body, headers=headers, method=method.upper())
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                return HttpResponse(answer.status, _lower(answer.headers.items()), answer.read())
        except urllib.error.HTTPError as error:  # a status outside 2xx is still an answer
            with error:
                return HttpResponse(error.code, _lower(error.headers.items()), error.read())
        except (urllib.error.URLError, OSError) as error:  # no answer: DNS, refused, reset, timeout
            reason = getattr(error, "reason", error)
            raise StoreUnavailable(f"{method.upper()} {_without_query(url)}: no answer ({reason})") from error


def _lower(items) -> dict[str, str]:
    return {name.lower(): value for name, value in items}


def _without_query(url: str) -> str:
    """The URL as safe to show in an error (no query string, which may carry a key)."""
    return url.split("?", 1)[0]
