"""Contract tests of the storage ports. Every adapter must pass them (parametrise
``temp_store`` / ``main_store`` / ``raw_store`` with a new adapter to add it)."""

from __future__ import annotations

import os
import stat

import pytest

from leadminer.adapters.memory import MemoryRawBatchStore
from leadminer.adapters.sqlite import SqliteMainStore, SqliteTempStore, connect
from leadminer.contracts import (
    CleanedAddress,
    FailedMessage,
    Field,
    MessageRecord,
    PointOfContact,
    RawMessage,
    RefinedPerson,
    Signature,
    Status,
)
from leadminer.schemas import SCHEMA_VERSIONS, SchemaVersionError
from leadminer.storage import BatchCounts, FolderState, IndexedMessage, Occurrence
from pg import postgres_database, postgres_dsn  # noqa: F401 - fixtures


ADAPTERS = ["sqlite", "postgres"]  # postgres: runner/leadminer_runner/postgres.py, a fresh schema per test


async def _store(request, tmp_path, kind: str):
    """A migrated store of the requested adapter, and the connection to close."""
    if request.param == "postgres":
        from leadminer_runner import postgres

        conn = await postgres.connect(request.getfixturevalue("postgres_dsn"))
        store = postgres.PostgresTempStore(conn) if kind == "temp" else postgres.PostgresMainStore(conn)
    else:
        conn = connect(tmp_path / f"{kind}.db")
        store = SqliteTempStore(conn) if kind == "temp" else SqliteMainStore(conn)
    await store.migrate()
    return store, conn


async def _close(conn) -> None:
    closed = conn.close()
    if closed is not None:  # psycopg's AsyncConnection.close is a coroutine
        await closed


@pytest.fixture(params=ADAPTERS)
async def temp_store(request, tmp_path):
    store, conn = await _store(request, tmp_path, "temp")
    yield store
    await _close(conn)


@pytest.fixture(params=ADAPTERS)
async def main_store(request, tmp_path):
    store, conn = await _store(request, tmp_path, "main")
    yield store
    await _close(conn)


@pytest.fixture(params=["memory", *ADAPTERS])
async def raw_store(request, tmp_path):
    if request.param == "memory":
        yield MemoryRawBatchStore()
        return
    store, conn = await _store(request, tmp_path, "temp")
    yield store
    await _close(conn)


async def collect(messages) -> list[MessageRecord]:
    return [m async for m in messages]


def record(mid: str, date: str = "2024-01-01T00:00:00+00:00") -> MessageRecord:
    return MessageRecord(
        mining_id="m1", message_id=mid, folder="INBOX", uid=mid, date=date, subject="Ünïcode",
        in_reply_to=None, references=["r1", "r2"],
        points=[PointOfContact(mid, Field.FROM, "a@x.example", "A"), PointOfContact(mid, Field.TO, "b@y.example", None)],
        headers={"list-id": "<l.example>"}, body="Hi\n-- \nA", delivered_to=["me@x.example"], tags=["group"],
    )  # fmt: skip


async def test_messages_round_trip_and_deduplicate(temp_store):
    assert await temp_store.add_messages("m1", [record("1"), record("2", "2023-01-01T00:00:00+00:00")]) == 2
    assert await temp_store.add_messages("m1", [record("1")]) == 0
    got = await collect(temp_store.iter_messages("m1"))
    assert [r.message_id for r in got] == ["2", "1"]  # ordered by date
    assert got[1] == record("1")
    assert await temp_store.distinct_emails("m1") == ["a@x.example", "b@y.example"]
    assert await collect(temp_store.iter_messages("other")) == []


async def test_cleaned_signatures_failures_and_drop(temp_store):
    await temp_store.add_messages("m1", [record("1")])
    await temp_store.save_cleaned("m1", [CleanedAddress("a@x.example", Status.INVALID, ["role"], "bad")])
    await temp_store.save_signatures("m1", [Signature("a@x.example", "1", job_title="CTO", telephone=["+15555550100"], lines=(3, 5))])
    await temp_store.add_failures("m1", [FailedMessage("m1", "INBOX", "9", "no header block")])
    assert (await temp_store.cleaned("m1"))["a@x.example"].status is Status.INVALID
    assert (await temp_store.signatures("m1"))["a@x.example"].lines == (3, 5)
    assert (await temp_store.failures("m1"))[0].reason == "no header block"
    assert await temp_store.mining_ids() == ["m1"]
    await temp_store.drop_mining("m1")
    assert await temp_store.mining_ids() == [] and await temp_store.cleaned("m1") == {} and await temp_store.failures("m1") == []


async def test_fetch_state(main_store):
    assert await main_store.folder_states("u", "imap://a@h") == {}
    await main_store.save_folder_state("u", "imap://a@h", "INBOX", FolderState(7, 42))
    await main_store.save_folder_state("u", "imap://a@h", "INBOX", FolderState(7, 50))
    await main_store.save_folder_state("u", "imap://a@h", "Sent", FolderState(3, 9))
    await main_store.save_folder_state("u", "imap://b@h", "INBOX", FolderState(1, 1))
    assert await main_store.folder_states("u", "imap://a@h") == {"INBOX": FolderState(7, 50), "Sent": FolderState(3, 9)}
    assert await main_store.folder_states("other", "imap://a@h") == {}


async def test_index_history_threads(main_store):
    msgs = [
        IndexedMessage("1", "1", "2024-01-01T00:00:00+00:00", "a@x", False, None, ["group"]),
        IndexedMessage("2", "1", "2024-02-01T00:00:00+00:00", "me@x", True, "1", []),
        IndexedMessage("3", "3", None, "c@x", False, None, []),
    ]
    occ = [Occurrence("1", "a@x", "a@x", "from", "A"), Occurrence("2", "a@x", "a+t@x", "to", None), Occurrence("3", "c@x", "c@x", "from", None)]
    await main_store.start_mining("m1", "u", "src")
    await main_store.index_messages("u", "m1", msgs, occ)
    ids = [f"x{i}" for i in range(1200)]  # more than one parameter chunk
    assert await main_store.known_message_ids("u", ["1", "3", *ids]) == set()  # m1 is not done yet
    await main_store.finish_mining("m1", "done", {})
    await main_store.index_messages("u", "m1", msgs, occ)  # idempotent
    assert await main_store.known_message_ids("u", ["1", "3", *ids]) == {"1", "3"}
    assert await main_store.known_message_ids("v", ["1"]) == set()
    assert await main_store.thread_sizes("u", ["1", "3"]) == {"1": 2, "3": 1}
    history, occurrences = await main_store.history("u", ["a@x"])
    assert sorted(m.message_id for m in history) == ["1", "2"]
    assert len(occurrences) == 2
    assert (await main_store.lookup_threads("u", ["2"]))["2"].from_user is True


async def test_a_crashed_mining_does_not_count_as_mined_until_reclaimed(main_store):
    msg = IndexedMessage("1", "1", "2024-01-01T00:00:00+00:00", "a@x", False, None, [])
    await main_store.start_mining("dead", "u", "src")
    await main_store.index_messages("u", "dead", [msg], [])
    await main_store.finish_mining("dead", "failed", {})
    assert await main_store.known_message_ids("u", ["1"]) == set()
    await main_store.start_mining("retry", "u", "src")
    await main_store.index_messages("u", "retry", [msg], [])
    await main_store.finish_mining("retry", "done", {})
    assert await main_store.known_message_ids("u", ["1"]) == {"1"}


async def test_reference_date_matches_the_core_rule(main_store):
    from leadminer.scoring import reference_date

    received = [IndexedMessage(f"r{i}", f"r{i}", f"2002-01-{i + 1:02d}T00:00:00+00:00", "a@x", False, None, []) for i in range(28)]
    future_spam = IndexedMessage("s", "s", "2030-01-01T00:00:00+00:00", "spam@x", False, None, [])
    await main_store.index_messages("u", "m", [*received, future_spam], [])
    assert await main_store.reference_date("u") == reference_date([*received, future_spam]) == "2002-01-28T00:00:00+00:00"
    # neither an old Sent folder nor a spam forging the user's From moves "now"
    old_sent = IndexedMessage("me", "me", "1999-01-10T00:00:00+00:00", "me@x", True, None, [])
    await main_store.index_messages("u", "m", [old_sent], [])
    assert await main_store.reference_date("u") == reference_date([*received, future_spam, old_sent]) == "2002-01-28T00:00:00+00:00"
    assert await main_store.reference_date("nobody") is None and reference_date([]) is None


async def test_identities_and_failures(main_store):
    await main_store.add_identities("u", ["me@x", "alias@y"])
    await main_store.add_identities("u", ["me@x"])
    assert await main_store.identities("u") == {"me@x", "alias@y"} and await main_store.identities("v") == set()
    await main_store.record_failures([FailedMessage("m1", "INBOX", "7", "empty message"), FailedMessage("m2", "A", "1", "x")])
    assert [f.uid for f in await main_store.failures("m1")] == ["7"]
    assert len(await main_store.failures()) == 2


async def test_persons_and_minings(main_store):
    p = RefinedPerson("u", "a@x", name="Ä", tags=["professional"], telephone=["+1"], same_as=["https://l.example/a"], temperature=40)
    await main_store.upsert_persons([p, RefinedPerson("u", "b@x", temperature=90)])
    await main_store.upsert_persons([p])
    assert [q.email for q in await main_store.persons("u")] == ["b@x", "a@x"]
    assert await main_store.person("u", "a@x") == p
    assert await main_store.person("u", "zz") is None
    many = [f"p{i}@x" for i in range(1200)]  # more than one chunk of bound parameters
    await main_store.upsert_persons([RefinedPerson("u", e) for e in many[::2]] + [RefinedPerson("other", "c@x")])
    found = await main_store.persons_by_email("u", [*many, "a@x", "c@x", "zz"])
    assert set(found) == {*many[::2], "a@x"} and found["a@x"] == p
    assert await main_store.persons_by_email("u", []) == {}
    await main_store.start_mining("m1", "u", "/mail")
    assert (await main_store.minings("running"))[0]["id"] == "m1"
    await main_store.finish_mining("m1", "done", {"fetched": 3})
    assert (await main_store.minings())[0]["stats"] == {"fetched": 3} and await main_store.minings("running") == []


async def test_messages_without_bodies_on_request(temp_store):
    await temp_store.add_messages("m1", [record("1")])
    (full,) = await collect(temp_store.iter_messages("m1"))
    (light,) = await collect(temp_store.iter_messages("m1", with_body=False))
    assert full.body == "Hi\n-- \nA" and light.body is None
    light.body = full.body
    assert light == full


def _file_state(path) -> tuple[bytes, bytes]:
    """Every byte of a database file and of its write-ahead log (reading may create the
    log's and its index's empty files beside a WAL database: SQLite's doing, no data)."""
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes(), wal.read_bytes() if wal.exists() else b""


async def test_schema_versions(tmp_path):
    conn = connect(tmp_path / "old.db")
    conn.execute("CREATE TABLE message_index (user_id TEXT, message_id TEXT)")  # an older layout, version 0
    conn.commit()
    before = _file_state(tmp_path / "old.db")
    with pytest.raises(SchemaVersionError, match="another version of leadminer"):
        await SqliteMainStore(conn).migrate()
    with pytest.raises(SchemaVersionError, match="schema 0, this one needs"):
        await SqliteMainStore(conn).check_schema()
    conn.close()
    assert _file_state(tmp_path / "old.db") == before  # refused: nothing modified (not even switched to WAL)
    conn = connect(tmp_path / "old.mining")
    conn.execute("CREATE TABLE mining_messages (mining_id TEXT, message_id TEXT)")
    store = SqliteTempStore(conn)
    with pytest.raises(SchemaVersionError, match="leadminer db migrate"):
        await store.check_schema()
    await store.migrate()  # temporary data of another version is simply dropped
    await store.check_schema()
    await store.add_messages("m1", [record("1")])
    assert [r.message_id for r in await collect(store.iter_messages("m1"))] == ["1"]
    await store.migrate()  # the current version: rows are kept
    assert await store.mining_ids() == ["m1"]
    conn.close()
    conn = connect(tmp_path / "new.db")
    await SqliteMainStore(conn).migrate()
    await SqliteMainStore(conn).migrate()  # reopening the current version is fine
    await SqliteMainStore(conn).check_schema()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


async def test_sqlite_stores_change_no_schema_until_migrated(tmp_path):
    conn = connect(tmp_path / "fresh.db")
    SqliteMainStore(conn), SqliteTempStore(conn)  # constructors create nothing
    assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)
    assert conn.execute("PRAGMA user_version").fetchone() == (0,)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    with pytest.raises(SchemaVersionError, match="never migrated"):
        await SqliteMainStore(conn).check_schema()
    conn.close()


@pytest.mark.parametrize("schema", ["main", "temp"])
async def test_a_newer_sqlite_database_is_refused_on_reading_and_left_as_it_was(tmp_path, schema):
    path = tmp_path / f"{schema}.db"
    conn = connect(path)
    store = SqliteMainStore(conn) if schema == "main" else SqliteTempStore(conn)
    await store.migrate()
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSIONS[f'sqlite/{schema}.sql'] + 1}")
    conn.close()
    before = _file_state(path)
    conn = connect(path, readonly=True)
    store = SqliteMainStore(conn) if schema == "main" else SqliteTempStore(conn)
    with pytest.raises(SchemaVersionError, match=r"another version of leadminer \(schema \d+, this one needs \d+\)"):
        await store.check_schema()
    conn.close()
    assert _file_state(path) == before


async def test_a_read_only_database_file_can_be_read(tmp_path):
    path = tmp_path / "main.db"
    conn = connect(path)
    main = SqliteMainStore(conn)
    await main.migrate()
    await main.upsert_persons([RefinedPerson("u", "a@x", name="A")])
    conn.close()
    os.chmod(path, stat.S_IRUSR | stat.S_IRGRP)
    before = _file_state(path)
    try:
        conn = connect(path, readonly=True)
        main = SqliteMainStore(conn)
        await main.check_schema()
        assert [p.email for p in await main.persons("u")] == ["a@x"]
        with pytest.raises(Exception, match="readonly"):
            await main.upsert_persons([RefinedPerson("u", "b@x")])
        conn.close()
    finally:
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    assert _file_state(path) == before


@pytest.mark.parametrize("page", [1, 2, 3, 7, 500])
async def test_paged_reading_returns_every_message_once_in_date_order(temp_store, page):
    dates = ["2024-01-02T00:00:00+00:00", None, "2024-01-01T00:00:00+00:00", "2024-01-02T00:00:00+00:00", None]
    records = [record(f"id{i}", d) for i, d in enumerate(dates)]
    await temp_store.add_messages("m1", records)
    got = await collect(temp_store.iter_messages("m1", page=page))
    assert sorted(r.message_id for r in got) == sorted(r.message_id for r in records)
    assert [r.date or "" for r in got] == sorted(d or "" for d in dates)
    assert all(len(r.points) == 2 and r.points[0].message_id == r.message_id for r in got)


# queued modes: a mining picked up by id, raw batches, the fan-in barrier ------------
async def test_run_context_and_progress(temp_store):
    assert await temp_store.run("m1") is None
    await temp_store.start_run("m1", "u1", "/mail/a.mbox", ["me@x.example"])
    run = await temp_store.run("m1")
    assert (run.user_id, run.source, run.identities, run.batches, run.steps) == (
        "u1", "/mail/a.mbox", ["me@x.example"], None, {}
    )
    await temp_store.end_fetch("m1", batches=0, fetched=3, failed=1, fetch_state=[["u1", "imap://a@h", "INBOX", 7, 42]])
    await temp_store.mark_step("m1", "clean", 5)
    await temp_store.mark_step("m1", "clean", 5)  # a second delivery
    run = await temp_store.run("m1")
    assert (run.fetched, run.fetch_failed, run.batches, run.steps) == (3, 1, 0, {"clean": 5})
    await temp_store.start_run("m1", "other", "/elsewhere", [])  # a repeated start keeps the run's progress
    assert ((await temp_store.run("m1")).user_id, (await temp_store.run("m1")).batches) == ("u1", 0)
    assert run.fetch_state == [["u1", "imap://a@h", "INBOX", 7, 42]] and run.updated >= run.started
    async with temp_store.mining_lock("m1"), temp_store.mining_lock("m2"):
        pass
    assert await temp_store.mining_ids() == ["m1"]
    await temp_store.drop_mining("m1")
    assert await temp_store.run("m1") is None and await temp_store.mining_ids() == []
    # leftovers in any temp table are found by the cleanup job, not only messages and runs
    await temp_store.save_signatures("m3", [Signature("a@x.example", "1")])
    await temp_store.save_cleaned("m4", [CleanedAddress("a@x.example", Status.VALID, [], "MX")])
    assert await temp_store.mining_ids() == ["m3", "m4"]


RAWS = [RawMessage("m1", "INBOX", str(i), b"Subject: \xff\x00 bytes\r\n\r\nbody", ("\\Seen",) * (i % 2)) for i in range(3)]


async def test_raw_batches_round_trip_until_dropped(raw_store):
    raws = RAWS
    other = [RawMessage("m2", "Sent", "7", b"\r\n", ())]
    await raw_store.add_raw_batch("m1", 0, raws)
    await raw_store.add_raw_batch("m1", 1, raws[:1])
    await raw_store.add_raw_batch("m2", 0, other)
    assert await raw_store.raw_batch("m1", 0) == raws and await raw_store.raw_batch("m1", 1) == raws[:1]
    await raw_store.add_raw_batch("m1", 0, raws)  # sent twice: still one copy
    assert await raw_store.raw_batch("m1", 0) == raws
    await raw_store.drop_batch("m1", 0)
    assert await raw_store.raw_batch("m1", 0) == [] and await raw_store.raw_batch("m1", 1) == raws[:1]
    await raw_store.drop_batch("m1", 0)  # dropping twice is harmless
    await raw_store.drop_mining("m1")
    assert await raw_store.raw_batch("m1", 1) == [] and await raw_store.raw_batch("m2", 0) == other
    assert await raw_store.raw_batch("nobody", 0) == []


async def test_extracted_batches_are_recorded_once_and_keep_their_raw_rows_until_dropped(temp_store):
    await temp_store.start_run("m1", "u1", "src", [])
    raws = RAWS
    await temp_store.add_raw_batch("m1", 0, raws)
    await temp_store.add_raw_batch("m1", 1, raws[:1])
    assert await temp_store.raw_batch("m1", 0) == raws and await temp_store.raw_batch("m1", 1) == raws[:1]
    assert not await temp_store.batch_done("m1", 0)
    await temp_store.finish_batch("m1", 0, BatchCounts(3, 1, 0, 6))
    assert await temp_store.batch_done("m1", 0) and not await temp_store.batch_done("m1", 1)
    assert not await temp_store.batch_done("m2", 0)
    await temp_store.finish_batch("m1", 0, BatchCounts(3, 0, 0, 0))  # redelivered: the first record wins
    assert await temp_store.raw_batch("m1", 0) == raws  # finish_batch leaves the raw rows to drop_batch
    await temp_store.drop_batch("m1", 0)
    assert await temp_store.raw_batch("m1", 0) == []
    assert await temp_store.batch_done("m1", 0)  # the record outlives its raw rows
    totals = await temp_store.batch_totals("m1")
    assert totals == {"records": 3, "already_mined": 1, "failed": 0, "contacts": 6, "extracted": 0}
    await temp_store.add_messages("m1", [record("1"), record("2")])
    assert (await temp_store.batch_totals("m1"))["extracted"] == 2
    await temp_store.drop_mining("m1")
    assert await temp_store.raw_batch("m1", 1) == [] and await temp_store.mining_ids() == []
    assert not await temp_store.batch_done("m1", 0)


async def test_fetch_progress_is_seen_by_run(temp_store):
    await temp_store.start_run("m1", "u1", "src", [])
    run = await temp_store.run("m1")
    assert (run.fetched, run.fetch_failed, run.total, run.batches) == (0, 0, None, None)
    await temp_store.fetch_progress("m1", fetched=40, failed=2, total=1000)
    await temp_store.fetch_progress("m1", fetched=90, failed=3, total=1200)
    later = await temp_store.run("m1")
    assert (later.fetched, later.fetch_failed, later.total, later.batches) == (90, 3, 1200, None)
    assert later.updated >= run.updated
    await temp_store.fetch_progress("m1", fetched=95, failed=3, total=None)  # no estimate
    await temp_store.end_fetch("m1", batches=1, fetched=100, failed=3, fetch_state=[])
    done = await temp_store.run("m1")
    assert (done.fetched, done.fetch_failed, done.total, done.batches) == (100, 3, None, 1)
    await temp_store.fetch_progress("nobody", fetched=1, failed=0, total=1)  # an ended mining: nothing happens
    assert await temp_store.run("nobody") is None


async def test_clean_is_claimed_once_when_the_fetch_ended_and_every_batch_is_extracted(temp_store):
    await temp_store.start_run("m1", "u1", "src", [])
    counts = BatchCounts(1, 0, 0, 1)
    await temp_store.finish_batch("m1", 0, counts)
    assert not await temp_store.claim_clean("m1")  # still fetching
    await temp_store.end_fetch("m1", batches=2, fetched=2, failed=0, fetch_state=[])
    assert not await temp_store.claim_clean("m1")  # batch 1 is not extracted
    await temp_store.finish_batch("m1", 0, counts)  # batch 0 delivered twice: still one batch
    assert not await temp_store.claim_clean("m1")
    await temp_store.finish_batch("m1", 1, counts)
    assert [await temp_store.claim_clean("m1") for _ in range(3)] == [True, False, False]
    await temp_store.start_run("m2", "u1", "src", [])
    await temp_store.end_fetch("m2", batches=0, fetched=0, failed=0, fetch_state=[])
    assert await temp_store.claim_clean("m2")  # an empty source goes straight on
