"""The in-memory reference: one whole mining of messages held in memory, through
the same flow as every mode (SQLite ``:memory:`` stores, in-process queues).

Tests use it as the reference result; the Pyodide test runs it to prove the
core, flow included, runs unchanged where Cloudflare runs it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from ..adapters.memory import MemoryRawBatchStore
from ..adapters.sqlite import SqliteMainStore, SqliteTempStore
from ..contracts import RawMessage, RefinedPerson
from ..queues import InProcessQueue
from .consumer import StageWorker
from .mining import MiningFlow
from .services import QUEUES, MiningServices


class ListSource:
    """Messages already in memory, as a message source."""

    def __init__(self, raws: Iterable[RawMessage], label: str = "memory"):
        self.raws = list(raws)
        self.label = label

    def count(self, _state) -> int:
        return len(self.raws)

    def iter_messages(self, mining_id: str, _state) -> list[RawMessage]:
        return [RawMessage(mining_id, r.folder, r.uid, r.data, r.flags) for r in self.raws]


def in_process_queues(max_attempts: int = 3) -> dict[str, InProcessQueue]:
    """One in-process queue per stage, and ``fetch`` (each with its dead letters)."""
    return {stage: InProcessQueue(stage, max_attempts) for stage in QUEUES}


@asynccontextmanager
async def memory_services(**options) -> AsyncIterator[MiningServices]:
    """Services held in memory: SQLite ``:memory:`` stores, raw batches in memory, in-process
    queues (``options``: the rest of :class:`MiningServices`)."""
    main_conn, temp_conn = sqlite3.connect(":memory:"), sqlite3.connect(":memory:")
    try:
        main, temp = SqliteMainStore(main_conn), SqliteTempStore(temp_conn)
        await main.migrate()
        await temp.migrate()
        yield MiningServices(
            temp=temp, ledger=temp, raw=MemoryRawBatchStore(), main=main, queues=in_process_queues(), **options
        )
    finally:
        main_conn.close()
        temp_conn.close()


async def mine_in_memory(
    raws: Iterable[RawMessage], identities: Iterable[str] = (), *, user_id: str = "local"
) -> list[RefinedPerson]:
    """Mine ``raws`` with nothing stored outside this call; returns the refined persons."""
    async with memory_services() as services:
        flow = MiningFlow(services)
        worker = StageWorker(flow, batch=16)
        mining_id = await flow.start(user_id=user_id, source="memory", identities=identities)
        await flow.fetch(mining_id, ListSource(raws), on_batch=lambda _progress: worker.drain())
        await worker.drain()
        mining = await services.main.mining(mining_id)
        if mining["status"] != "done":
            raise RuntimeError(f"mining {mining['status']}: {mining['stats'].get('error')}")
        return await services.main.persons(user_id)
