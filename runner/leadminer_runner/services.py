"""One factory for the services of a mode: stores, queues, MX checker and signature
extractor, built from :class:`leadminer.settings.Settings` (the CLI, the self-host workers
and the API use it). The Cloudflare mode is to build its own from Worker bindings.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from leadminer.adapters.memory import MemoryRawBatchStore
from leadminer.adapters.sqlite import SqliteMainStore, SqliteTempStore, connect
from leadminer.flow import MiningServices
from leadminer.flow.services import SourceOpener
from leadminer.flow.memory import in_process_queues
from leadminer.mx import DnsMxChecker, MxChecker
from leadminer.parallel import CpuPool, InProcess
from leadminer.pipeline import SignatureExtractor
from leadminer.settings import Settings, SettingsError
from leadminer.storage import MainStore

if TYPE_CHECKING:
    from .mailbox_sources import MailboxSourceStore


def mx_checker(check_mx: bool) -> MxChecker | None:
    """DNS look-ups of MX records when asked (network), else None: offline, status 'unknown'."""
    return DnsMxChecker() if check_mx else None


def signature_extractor(settings: Settings, llm_signatures: bool) -> SignatureExtractor | None:
    """The LLM extractor when asked (configured by the settings), else None: the rules."""
    return settings.llm_extractor() if llm_signatures else None


@asynccontextmanager
async def embedded_services(
    db_path: Path,
    temp_db_path: Path,
    *,
    mx: MxChecker | None = None,
    signature_extractor: SignatureExtractor | None = None,
    cpu: CpuPool | None = None,
) -> AsyncIterator[MiningServices]:
    """SQLite main and temp databases (migrated on first use), raw batches in memory,
    in-process queues; ``cpu`` runs the CPU-bound stage work (default: in this process). The main database is checked first: a file that is not this
    project's database is refused before anything is created beside it."""
    main_conn = connect(db_path)
    try:
        main = SqliteMainStore(main_conn)
        await main.migrate()
        temp_conn = connect(temp_db_path)
        # The mining's rows are disposable (a mining the process did not finish is mined again
        # from its source): the temp file is never synced to the disk, only written to the system.
        temp_conn.execute("PRAGMA synchronous=OFF")
        try:
            temp = SqliteTempStore(temp_conn)
            await temp.migrate()
            yield MiningServices(
                temp=temp, ledger=temp, raw=MemoryRawBatchStore(), main=main, queues=in_process_queues(),
                mx=mx, signature_extractor=signature_extractor, cpu=cpu or InProcess(),
            )  # fmt: skip
        finally:
            temp_conn.close()
    finally:
        main_conn.close()


@asynccontextmanager
async def selfhost_services(
    settings: Settings,
    *,
    mx: MxChecker | None = None,
    signature_extractor: SignatureExtractor | None = None,
    consumer: str | None = None,
    block_ms: int | None = None,
) -> AsyncIterator[MiningServices]:
    """PostgreSQL temp and main databases (migrated on first use), raw batches in the temp
    database, Redis Streams queues (``consumer`` names this process in their groups)."""
    from .redis_queue import redis_queues

    async with postgres_stores(settings) as (temp, main):
        async with redis_queues(settings, consumer=consumer, block_ms=block_ms) as queues:
            yield MiningServices(
                temp=temp, ledger=temp, raw=temp, main=main, queues=queues,
                mx=mx, signature_extractor=signature_extractor, sources=source_opener(settings, main),
            )  # fmt: skip


def mailbox_sources(settings: Settings, main: MainStore) -> MailboxSourceStore:
    """The stored mailboxes (``mining_sources``) in the database of ``main`` (a migrated SQLite
    or PostgreSQL main store), passwords encrypted with ``LEADMINER_SECRET_KEY`` (SettingsError
    when it is unset)."""
    from .mailbox_sources import SecretBox, postgres_sources, sqlite_sources

    secrets = SecretBox.from_settings(settings)
    if isinstance(main, SqliteMainStore):
        return sqlite_sources(main.conn, secrets)
    return postgres_sources(main.conn, secrets)


def source_opener(settings: Settings, main: MainStore) -> SourceOpener:
    """What a worker opens queued ``fetch`` sources with: the stored mailboxes (when
    ``LEADMINER_SECRET_KEY`` is set) and the files spooled into ``LEADMINER_SPOOL_DIR``."""
    from .source_opener import StoredSourceOpener

    sources = mailbox_sources(settings, main) if settings.secret_keys else None
    return StoredSourceOpener(sources, settings.spool_dir)


@asynccontextmanager
async def postgres_stores(settings: Settings, *, migrate: bool = True) -> AsyncIterator[tuple]:
    """The temp and main PostgreSQL stores (each on a connection that reconnects after an
    outage), migrated on first use, or only checked (``migrate=False``: SchemaVersionError)."""
    from .pg_connection import ReconnectingConnection
    from .postgres import PostgresMainStore, PostgresTempStore

    temp_url, main_url = settings.require_postgresql()
    temp_conn = await ReconnectingConnection.open(temp_url)
    try:
        main_conn = await ReconnectingConnection.open(main_url)
        try:
            temp, main = PostgresTempStore(temp_conn), PostgresMainStore(main_conn)
            for store in (temp, main):
                await (store.migrate() if migrate else store.check_schema())
            yield temp, main
        finally:
            await main_conn.close()
    finally:
        await temp_conn.close()


@asynccontextmanager
async def main_store(settings: Settings, db_path: Path) -> AsyncIterator[MainStore]:
    """The permanent store of the mode, for reading (export, minings, failures): a SQLite
    database opened read-only (never modified, not even its journal mode), or the main
    PostgreSQL database."""
    if settings.storage_mode == "sqlite":
        from .embedded import unchanging

        with unchanging(db_path) as no_mining_runs:
            conn: sqlite3.Connection = connect(db_path, readonly=True, unchanging=no_mining_runs)
            try:
                store = SqliteMainStore(conn)
                await store.check_schema()
                yield store
            finally:
                conn.close()
    elif settings.storage_mode == "postgresql":
        async with postgres_stores(settings, migrate=False) as (_temp, main):
            yield main
    else:
        raise SettingsError("STORAGE_MODE=cloudflare keeps contacts in Supabase: read them through the API")
