"""Cloudflare R2: raw batches waiting for extract (:class:`~leadminer.storage.RawBatchStore`).

Layout (docs/cloudflare.md, "R2 layout"): one object per batch,
``minings/<mining_id>/batches/<batch_no, 6 digits>.json``, a JSON list of
``{"folder", "uid", "flags", "data"}`` (``data``: the raw message, base64). Everything of a
mining is under ``minings/<mining_id>/``, so a stop or the cleanup deletes that prefix.
A repeated batch keeps its first copy (as the SQL tables' ``INSERT OR IGNORE``): a
redelivered fetch never changes a batch extract may be reading.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from ...contracts import RawMessage

DELETE_CHUNK = 1000  # keys per R2 delete call


def mining_prefix(mining_id: str) -> str:
    return f"minings/{mining_id}/"


def batch_key(mining_id: str, batch_no: int) -> str:
    return f"{mining_prefix(mining_id)}batches/{batch_no:06d}.json"


def encode_messages(raws: list[RawMessage]) -> list[dict]:
    """Raw messages as JSON data (``data`` in base64): an R2 batch, or the body the fetcher posts."""
    return [
        {"folder": r.folder, "uid": r.uid, "flags": list(r.flags), "data": base64.b64encode(r.data).decode("ascii")}
        for r in raws
    ]


def decode_messages(mining_id: str, items: list[dict]) -> list[RawMessage]:
    return [RawMessage(mining_id, m["folder"], m["uid"], base64.b64decode(m["data"]), tuple(m["flags"])) for m in items]


def encode_batch(raws: list[RawMessage]) -> str:
    return json.dumps(encode_messages(raws), separators=(",", ":"))


def decode_batch(mining_id: str, text: str) -> list[RawMessage]:
    return decode_messages(mining_id, json.loads(text))


class R2RawBatchStore:
    """:class:`leadminer.storage.RawBatchStore` over an R2 binding (``env.RAW``)."""

    def __init__(self, bucket: Any):
        self.bucket = bucket

    async def add_raw_batch(self, mining_id: str, batch_no: int, raws: list[RawMessage]) -> None:
        key = batch_key(mining_id, batch_no)
        if await self.bucket.head(key) is None:
            await self.bucket.put(key, encode_batch(raws))

    async def raw_batch(self, mining_id: str, batch_no: int) -> list[RawMessage]:
        found = await self.bucket.get(batch_key(mining_id, batch_no))
        return [] if found is None else decode_batch(mining_id, await found.text())

    async def drop_batch(self, mining_id: str, batch_no: int) -> None:
        await self.bucket.delete(batch_key(mining_id, batch_no))

    async def keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        cursor = None
        while True:
            page = await self.bucket.list({"prefix": prefix, **({"cursor": cursor} if cursor else {})})
            keys.extend(_key(obj) for obj in page["objects"])
            if not page.get("truncated"):
                return keys
            cursor = page["cursor"]

    async def drop_mining(self, mining_id: str) -> None:
        keys = await self.keys(mining_prefix(mining_id))
        for start in range(0, len(keys), DELETE_CHUNK):
            await self.bucket.delete(keys[start : start + DELETE_CHUNK])


def _key(obj: Any) -> str:
    return obj["key"] if isinstance(obj, dict) else obj.key
