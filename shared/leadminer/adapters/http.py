"""The HTTP transport port: how a store that speaks HTTP (the Supabase main store, over
PostgREST) sends a request, whatever runs it.

The core opens no sockets: a mode hands in an :class:`HttpTransport`. A Python Worker uses
:class:`~leadminer.adapters.cloudflare.fetch.FetchTransport` (the Workers' ``fetch``); a
CPython process uses the runner's. A transport raises
:class:`~leadminer.storage.StoreUnavailable` when no answer came (DNS, refused, reset,
timeout); any HTTP status is an answer, left to the caller.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """An answer: its status, its headers (names in lower case) and its body."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        """The body as JSON (None for an empty body); ValueError when it is not JSON."""
        return json.loads(self.body) if self.body.strip() else None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class HttpTransport(Protocol):
    """Sends one request and returns its answer; :class:`~leadminer.storage.StoreUnavailable`
    when none came."""

    async def request(
        self, method: str, url: str, *, headers: Mapping[str, str] | None = None, body: bytes | None = None
    ) -> HttpResponse: ...
