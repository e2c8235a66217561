"""In-memory adapters: raw batches kept in a dict (embedded mode, Pyodide), for one process."""

from __future__ import annotations

from ..contracts import RawMessage


class MemoryRawBatchStore:
    """:class:`leadminer.storage.RawBatchStore` in a dict: fetched mail waiting for extract
    lives only as long as the process (a mining that dies is fetched again)."""

    def __init__(self) -> None:
        self._batches: dict[tuple[str, int], list[RawMessage]] = {}

    async def add_raw_batch(self, mining_id: str, batch_no: int, raws: list[RawMessage]) -> None:
        # a repeated batch keeps its first copy, as the SQL tables do (INSERT OR IGNORE)
        self._batches.setdefault((mining_id, batch_no), list(raws))

    async def raw_batch(self, mining_id: str, batch_no: int) -> list[RawMessage]:
        return list(self._batches.get((mining_id, batch_no), ()))

    async def drop_batch(self, mining_id: str, batch_no: int) -> None:
        self._batches.pop((mining_id, batch_no), None)

    async def drop_mining(self, mining_id: str) -> None:
        for key in [key for key in self._batches if key[0] == mining_id]:
            del self._batches[key]
