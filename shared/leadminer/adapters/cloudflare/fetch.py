"""``FetchTransport``: the HTTP transport port (:mod:`leadminer.adapters.http`, the Supabase
writer's) over the Workers' ``fetch`` (``js.fetch`` in a Python Worker, Node's in the local stack).

``js`` and ``pyodide`` are imported at call time, so the core still imports on CPython. A request
that cannot reach the server (DNS, refused, reset: ``fetch`` rejects) raises
:class:`~leadminer.storage.StoreUnavailable`, which the flow waits out or retries; any HTTP status
is an answer, left to the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...storage import StoreUnavailable


class FetchTransport:
    """``HttpTransport`` over ``fetch`` (``fetch``: another function with its signature, e.g. a
    service binding's ``fetch``; default ``js.fetch``)."""

    def __init__(self, fetch: Any = None):
        self._fetch = fetch

    async def request(
        self, method: str, url: str, *, headers: Mapping[str, str] | None = None, body: bytes | None = None
    ):
        import js  # noqa: PLC0415 - Pyodide only
        from pyodide.ffi import JsException, to_js  # noqa: PLC0415

        from ..http import HttpResponse  # noqa: PLC0415 - the port, by the Supabase writer

        init: dict[str, Any] = {"method": method, "headers": dict(headers or {})}
        if body is not None:
            init["body"] = to_js(bytes(body))  # a Uint8Array
        fetch = self._fetch or js.fetch
        try:
            response = await fetch(url, to_js(init, dict_converter=js.Object.fromEntries))
            data = (await response.arrayBuffer()).to_bytes()
        except JsException as exc:  # fetch rejects only when no answer came
            raise StoreUnavailable(f"{method} {url.split('?')[0]}: {exc}") from None
        answer_headers = {str(pair[0]).lower(): str(pair[1]) for pair in response.headers.entries()}
        return HttpResponse(int(response.status), answer_headers, data)
