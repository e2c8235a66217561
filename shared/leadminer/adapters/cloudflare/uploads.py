"""Uploaded mailboxes in R2 (the Cloudflare mode's queued sources).

The API (fetch-dispatch) spools an upload in its isolate, and as it queues the fetch copies it
to ``minings/<mining_id>/upload/<name>`` (under the mining's prefix: it goes with the mining's
other objects); the fetch consumer, in whatever isolate, copies it back to its in-memory /tmp and
reads it like any mailbox file. A Worker's memory (128 MB) bounds the size of an upload.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from ...flow.sources import FileMessageSource
from ...sources import SourceError
from .r2 import mining_prefix


class UploadError(ValueError):
    """A fetch message names no readable upload (the sentence is for the user)."""


def upload_key(mining_id: str, name: str) -> str:
    return f"{mining_prefix(mining_id)}upload/{Path(name).name}"


class R2UploadOpener:
    """:class:`~leadminer.flow.SourceOpener` of ``{"kind": "r2", "key": …}`` fetches."""

    def __init__(self, bucket: Any):
        self.bucket = bucket

    async def open(self, user_id: str, spec: dict[str, Any]) -> FileMessageSource:
        key = str(spec.get("key", "")) if isinstance(spec, dict) and spec.get("kind") == "r2" else ""
        if not key.startswith("minings/") or "/upload/" not in key:
            raise UploadError("the Cloudflare mode reads uploaded files only")
        found = await self.bucket.get(key)
        if found is None:
            raise UploadError("the uploaded file is gone")
        data = await found.arrayBuffer()
        path = Path(tempfile.mkdtemp(prefix="leadminer-fetch-")) / key.rsplit("/", 1)[-1]
        path.write_bytes(data.to_bytes() if hasattr(data, "to_bytes") else bytes(data))  # a JS ArrayBuffer in a Worker
        try:
            return FileMessageSource(path)
        except SourceError as exc:
            raise UploadError(str(exc)) from None
