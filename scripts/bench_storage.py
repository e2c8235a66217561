#!/usr/bin/env python3
"""Storage adapters side by side in one run: SQLite (embedded) vs PostgreSQL (self-host).

    .venv/bin/python scripts/bench_storage.py [--messages 10000] [--repeat 3] [--server "host=127.0.0.1 user=postgres"]

Synthetic data, no corpus: ``--messages`` messages with 3 points of contact
each (from, to, cc; 2,000 distinct senders), added to the temp store in
batches of 500 (the extract stage's batch) and then indexed in the main store
in chunks of 1,000 with their 3 occurrences each (refine's chunk). The
PostgreSQL side runs in a throw-away database created and dropped here.
Reports the best of ``--repeat`` runs and the Postgres/SQLite time ratio
(the async adapters; schemas are migrated before the clock starts).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import psycopg

from leadminer.adapters.sqlite import SqliteMainStore, SqliteTempStore
from leadminer.adapters.sqlite import connect as sqlite_connect
from leadminer.contracts import Field, MessageRecord, PointOfContact
from leadminer.storage import IndexedMessage, Occurrence
from leadminer_runner.postgres import PostgresMainStore, PostgresTempStore
from leadminer_runner.postgres import connect as pg_connect


def messages(n: int) -> list[MessageRecord]:
    out = []
    for i in range(n):
        mid = f"{i}@bench.example"
        sender = f"person{i % 2000}@org{i % 97}.example"
        out.append(
            MessageRecord(
                mining_id="bench", message_id=mid, folder="INBOX", uid=str(i),
                date=f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:00:00+00:00", subject=f"subject {i}",
                in_reply_to=f"{i - 1}@bench.example" if i % 3 else None, references=[],
                points=[PointOfContact(mid, Field.FROM, sender, "Some Person"),
                        PointOfContact(mid, Field.TO, "me@home.example", "Me"),
                        PointOfContact(mid, Field.CC, f"cc{i % 500}@org.example", None)],
                headers={"list-id": "<l.example>"} if i % 10 == 0 else {}, body="Hello\n-- \nSome Person\n" * 20,
            )
        )  # fmt: skip
    return out


def index_rows(records: list[MessageRecord]) -> list[tuple[list[IndexedMessage], list[Occurrence]]]:
    chunks = []
    for start in range(0, len(records), 1_000):
        chunk = records[start : start + 1_000]
        indexed = [IndexedMessage(r.message_id, r.message_id, r.date, r.points[0].email, False, r.in_reply_to, []) for r in chunk]
        occurrences = [Occurrence(p.message_id, p.email, p.email, p.field.value, p.name) for r in chunk for p in r.points]
        chunks.append((indexed, occurrences))
    return chunks


async def run(temp, main, records, chunks) -> tuple[float, float]:
    await temp.migrate()
    await main.migrate()
    started = time.perf_counter()
    for start in range(0, len(records), 500):
        await temp.add_messages("bench", records[start : start + 500])
    added = time.perf_counter()
    await main.start_mining("bench", "u", "bench")
    for indexed, occurrences in chunks:
        await main.index_messages("u", "bench", indexed, occurrences)
    return added - started, time.perf_counter() - added


async def best(repeat: int, once: Callable[[], Awaitable[tuple[float, float]]]) -> tuple[float, float]:
    runs = [await once() for _ in range(repeat)]
    return min(r[0] for r in runs), min(r[1] for r in runs)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--server", default="host=127.0.0.1 port=5432 user=postgres", help="libpq keywords, no dbname")
    args = parser.parse_args()
    records = messages(args.messages)
    chunks = index_rows(records)

    async def sqlite_once() -> tuple[float, float]:
        with tempfile.TemporaryDirectory() as tmp:
            temp_conn, main_conn = sqlite_connect(Path(tmp) / "x.db.mining"), sqlite_connect(Path(tmp) / "x.db")
            try:
                return await run(SqliteTempStore(temp_conn), SqliteMainStore(main_conn), records, chunks)
            finally:
                temp_conn.close()
                main_conn.close()

    name = f"leadminer_bench_{uuid.uuid4().hex[:12]}"

    async def postgres_once() -> tuple[float, float]:
        with psycopg.connect(f"{args.server} dbname=postgres", autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            conn = await pg_connect(f"{args.server} dbname={name}")
            try:
                return await run(PostgresTempStore(conn), PostgresMainStore(conn), records, chunks)
            finally:
                await conn.close()
        finally:
            with psycopg.connect(f"{args.server} dbname=postgres", autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    sqlite_add, sqlite_index = await best(args.repeat, sqlite_once)
    pg_add, pg_index = await best(args.repeat, postgres_once)
    n = args.messages
    print(f"{n} messages x 3 points, best of {args.repeat}")
    print(f"{'':10} {'add_messages':>14} {'index_messages':>16}")
    print(f"{'sqlite':10} {sqlite_add:>13.2f}s {sqlite_index:>15.2f}s")
    print(f"{'postgres':10} {pg_add:>13.2f}s {pg_index:>15.2f}s")
    print(f"{'pg/sqlite':10} {pg_add / sqlite_add:>13.2f}x {pg_index / sqlite_index:>15.2f}x")
    sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main())
