"""Contract tests of the storage interfaces. Every adapter must pass them
(parametrise ``temp_store`` / ``main_store`` with a new adapter to add it)."""

from __future__ import annotations

import pytest

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
from leadminer.storage import BatchCounts, FolderState, IndexedMessage, Occurrence
from pg import postgres_database, postgres_dsn  # noqa: F401 - fixtures


ADAPTERS = ["sqlite", "postgres"]  # postgres: runner/leadminer_runner/postgres.py, a fresh schema per test


@pytest.fixture(params=ADAPTERS)
def temp_store(request, tmp_path):
    if request.param == "postgres":
        from leadminer_runner.postgres import PostgresTempStore
        from leadminer_runner.postgres import connect as pg_connect

        conn = pg_connect(request.getfixturevalue("postgres_dsn"))
        yield PostgresTempStore(conn)
    else:
        conn = connect(tmp_path / "temp.db")
        yield SqliteTempStore(conn)
    conn.close()


@pytest.fixture(params=ADAPTERS)
def main_store(request, tmp_path):
    if request.param == "postgres":
        from leadminer_runner.postgres import PostgresMainStore
        from leadminer_runner.postgres import connect as pg_connect

        conn = pg_connect(request.getfixturevalue("postgres_dsn"))
        yield PostgresMainStore(conn)
    else:
        conn = connect(tmp_path / "main.db")
        yield SqliteMainStore(conn)
    conn.close()


def record(mid: str, date: str = "2024-01-01T00:00:00+00:00") -> MessageRecord:
    return MessageRecord(
        mining_id="m1", message_id=mid, folder="INBOX", uid=mid, date=date, subject="Ünïcode",
        in_reply_to=None, references=["r1", "r2"],
        points=[PointOfContact(mid, Field.FROM, "a@x.example", "A"), PointOfContact(mid, Field.TO, "b@y.example", None)],
        headers={"list-id": "<l.example>"}, body="Hi\n-- \nA", delivered_to=["me@x.example"], tags=["group"],
    )  # fmt: skip


def test_messages_round_trip_and_deduplicate(temp_store):
    assert temp_store.add_messages("m1", [record("1"), record("2", "2023-01-01T00:00:00+00:00")]) == 2
    assert temp_store.add_messages("m1", [record("1")]) == 0
    got = list(temp_store.iter_messages("m1"))
    assert [r.message_id for r in got] == ["2", "1"]  # ordered by date
    assert got[1] == record("1")
    assert temp_store.distinct_emails("m1") == ["a@x.example", "b@y.example"]
    assert list(temp_store.iter_messages("other")) == []


def test_cleaned_signatures_failures_and_drop(temp_store):
    temp_store.add_messages("m1", [record("1")])
    temp_store.save_cleaned("m1", [CleanedAddress("a@x.example", Status.INVALID, ["role"], "bad")])
    temp_store.save_signatures("m1", [Signature("a@x.example", "1", job_title="CTO", telephone=["+15555550100"], lines=(3, 5))])
    temp_store.add_failures("m1", [FailedMessage("m1", "INBOX", "9", "no header block")])
    assert temp_store.cleaned("m1")["a@x.example"].status is Status.INVALID
    assert temp_store.signatures("m1")["a@x.example"].lines == (3, 5)
    assert temp_store.failures("m1")[0].reason == "no header block"
    assert temp_store.mining_ids() == ["m1"]
    temp_store.drop_mining("m1")
    assert temp_store.mining_ids() == [] and temp_store.cleaned("m1") == {} and temp_store.failures("m1") == []


def test_fetch_state(main_store):
    assert main_store.get_folder_state("u", "imap://a@h", "INBOX") is None
    main_store.save_folder_state("u", "imap://a@h", "INBOX", FolderState(7, 42))
    main_store.save_folder_state("u", "imap://a@h", "INBOX", FolderState(7, 50))
    assert main_store.get_folder_state("u", "imap://a@h", "INBOX") == FolderState(7, 50)
    assert main_store.get_folder_state("other", "imap://a@h", "INBOX") is None


def test_index_history_threads(main_store):
    msgs = [
        IndexedMessage("1", "1", "2024-01-01T00:00:00+00:00", "a@x", False, None, ["group"]),
        IndexedMessage("2", "1", "2024-02-01T00:00:00+00:00", "me@x", True, "1", []),
        IndexedMessage("3", "3", None, "c@x", False, None, []),
    ]
    occ = [Occurrence("1", "a@x", "a@x", "from", "A"), Occurrence("2", "a@x", "a+t@x", "to", None), Occurrence("3", "c@x", "c@x", "from", None)]
    main_store.start_mining("m1", "u", "src")
    main_store.index_messages("u", "m1", msgs, occ)
    ids = [f"x{i}" for i in range(1200)]  # more than one parameter chunk
    assert main_store.known_message_ids("u", ["1", "3", *ids]) == set()  # m1 is not done yet
    main_store.finish_mining("m1", "done", {})
    main_store.index_messages("u", "m1", msgs, occ)  # idempotent
    assert main_store.known_message_ids("u", ["1", "3", *ids]) == {"1", "3"}
    assert main_store.known_message_ids("v", ["1"]) == set()
    assert main_store.thread_sizes("u", ["1", "3"]) == {"1": 2, "3": 1}
    history, occurrences = main_store.history("u", ["a@x"])
    assert sorted(m.message_id for m in history) == ["1", "2"]
    assert len(occurrences) == 2
    assert main_store.lookup_threads("u", ["2"])["2"].from_user is True


def test_a_crashed_mining_does_not_count_as_mined_until_reclaimed(main_store):
    msg = IndexedMessage("1", "1", "2024-01-01T00:00:00+00:00", "a@x", False, None, [])
    main_store.start_mining("dead", "u", "src")
    main_store.index_messages("u", "dead", [msg], [])
    main_store.finish_mining("dead", "failed", {})
    assert main_store.known_message_ids("u", ["1"]) == set()
    main_store.start_mining("retry", "u", "src")
    main_store.index_messages("u", "retry", [msg], [])
    main_store.finish_mining("retry", "done", {})
    assert main_store.known_message_ids("u", ["1"]) == {"1"}


def test_reference_date_matches_the_core_rule(main_store):
    from leadminer.scoring import reference_date

    received = [IndexedMessage(f"r{i}", f"r{i}", f"2002-01-{i + 1:02d}T00:00:00+00:00", "a@x", False, None, []) for i in range(28)]
    future_spam = IndexedMessage("s", "s", "2030-01-01T00:00:00+00:00", "spam@x", False, None, [])
    main_store.index_messages("u", "m", [*received, future_spam], [])
    assert main_store.reference_date("u") == reference_date([*received, future_spam]) == "2002-01-28T00:00:00+00:00"
    # neither an old Sent folder nor a spam forging the user's From moves "now"
    old_sent = IndexedMessage("me", "me", "1999-01-10T00:00:00+00:00", "me@x", True, None, [])
    main_store.index_messages("u", "m", [old_sent], [])
    assert main_store.reference_date("u") == reference_date([*received, future_spam, old_sent]) == "2002-01-28T00:00:00+00:00"
    assert main_store.reference_date("nobody") is None and reference_date([]) is None


def test_identities_and_failures(main_store):
    main_store.add_identities("u", ["me@x", "alias@y"])
    main_store.add_identities("u", ["me@x"])
    assert main_store.identities("u") == {"me@x", "alias@y"} and main_store.identities("v") == set()
    main_store.record_failures([FailedMessage("m1", "INBOX", "7", "empty message"), FailedMessage("m2", "A", "1", "x")])
    assert [f.uid for f in main_store.failures("m1")] == ["7"]
    assert len(main_store.failures()) == 2


def test_persons_and_minings(main_store):
    p = RefinedPerson("u", "a@x", name="Ä", tags=["professional"], telephone=["+1"], same_as=["https://l.example/a"], temperature=40)
    main_store.upsert_persons([p, RefinedPerson("u", "b@x", temperature=90)])
    main_store.upsert_persons([p])
    assert [q.email for q in main_store.persons("u")] == ["b@x", "a@x"]
    assert main_store.person("u", "a@x") == p
    assert main_store.person("u", "zz") is None
    many = [f"p{i}@x" for i in range(1200)]  # more than one chunk of bound parameters
    main_store.upsert_persons([RefinedPerson("u", e) for e in many[::2]] + [RefinedPerson("other", "c@x")])
    found = main_store.persons_by_email("u", [*many, "a@x", "c@x", "zz"])
    assert set(found) == {*many[::2], "a@x"} and found["a@x"] == p
    assert main_store.persons_by_email("u", []) == {}
    main_store.start_mining("m1", "u", "/mail")
    assert main_store.minings("running")[0]["id"] == "m1"
    main_store.finish_mining("m1", "done", {"fetched": 3})
    assert main_store.minings()[0]["stats"] == {"fetched": 3} and main_store.minings("running") == []


def test_messages_without_bodies_on_request(temp_store):
    temp_store.add_messages("m1", [record("1")])
    (full,) = temp_store.iter_messages("m1")
    (light,) = temp_store.iter_messages("m1", with_body=False)
    assert full.body == "Hi\n-- \nA" and light.body is None
    light.body = full.body
    assert light == full


def test_schema_versions(tmp_path):
    from leadminer.adapters.sqlite import SchemaVersionError

    conn = connect(tmp_path / "old.db")
    conn.execute("CREATE TABLE message_index (user_id TEXT, message_id TEXT)")  # an older layout, version 0
    with pytest.raises(SchemaVersionError, match="another version of leadminer"):
        SqliteMainStore(conn)
    conn.close()
    conn = connect(tmp_path / "old.mining")
    conn.execute("CREATE TABLE mining_messages (mining_id TEXT, message_id TEXT)")
    store = SqliteTempStore(conn)  # temporary data of another version is simply dropped
    store.add_messages("m1", [record("1")])
    assert [r.message_id for r in store.iter_messages("m1")] == ["1"]
    conn.close()
    conn = connect(tmp_path / "new.db")
    SqliteMainStore(conn)
    SqliteMainStore(conn)  # reopening the current version is fine
    conn.close()


@pytest.mark.parametrize("page", [1, 2, 3, 7, 500])
def test_paged_reading_returns_every_message_once_in_date_order(temp_store, page):
    dates = ["2024-01-02T00:00:00+00:00", None, "2024-01-01T00:00:00+00:00", "2024-01-02T00:00:00+00:00", None]
    records = [record(f"id{i}", d) for i, d in enumerate(dates)]
    temp_store.add_messages("m1", records)
    got = list(temp_store.iter_messages("m1", page=page))
    assert sorted(r.message_id for r in got) == sorted(r.message_id for r in records)
    assert [r.date or "" for r in got] == sorted(d or "" for d in dates)
    assert all(len(r.points) == 2 and r.points[0].message_id == r.message_id for r in got)


# queued modes: a mining picked up by id, raw batches, the fan-in barrier ------------
def test_run_context_and_progress(temp_store):
    assert temp_store.run("m1") is None
    temp_store.start_run("m1", "u1", "/mail/a.mbox", ["me@x.example"])
    run = temp_store.run("m1")
    assert (run.user_id, run.source, run.identities, run.batches, run.steps) == (
        "u1", "/mail/a.mbox", ["me@x.example"], None, {}
    )
    temp_store.end_fetch("m1", batches=0, fetched=3, failed=1, fetch_state=[["u1", "imap://a@h", "INBOX", 7, 42]])
    temp_store.mark_step("m1", "clean", 5)
    temp_store.mark_step("m1", "clean", 5)  # a second delivery
    run = temp_store.run("m1")
    assert (run.fetched, run.fetch_failed, run.batches, run.steps) == (3, 1, 0, {"clean": 5})
    temp_store.start_run("m1", "other", "/elsewhere", [])  # a repeated start keeps the run's progress
    assert (temp_store.run("m1").user_id, temp_store.run("m1").batches) == ("u1", 0)
    assert run.fetch_state == [["u1", "imap://a@h", "INBOX", 7, 42]] and run.updated >= run.started
    with temp_store.mining_lock("m1"), temp_store.mining_lock("m2"):
        pass
    assert temp_store.mining_ids() == ["m1"]
    temp_store.drop_mining("m1")
    assert temp_store.run("m1") is None and temp_store.mining_ids() == []
    # leftovers in any temp table are found by the cleanup job, not only messages and runs
    temp_store.save_signatures("m3", [Signature("a@x.example", "1")])
    temp_store.save_cleaned("m4", [CleanedAddress("a@x.example", Status.VALID, [], "MX")])
    assert temp_store.mining_ids() == ["m3", "m4"]


def test_raw_batches_round_trip_and_are_deleted_once_extracted(temp_store):
    temp_store.start_run("m1", "u1", "src", [])
    raws = [RawMessage("m1", "INBOX", str(i), b"Subject: \xff\x00 bytes\r\n\r\nbody", ("\\Seen",) * (i % 2)) for i in range(3)]
    temp_store.add_raw_batch("m1", 0, raws)
    temp_store.add_raw_batch("m1", 1, raws[:1])
    assert temp_store.raw_batch("m1", 0) == raws and temp_store.raw_batch("m1", 1) == raws[:1]
    temp_store.finish_batch("m1", 0, BatchCounts(3, 1, 0, 6))
    temp_store.finish_batch("m1", 0, BatchCounts(3, 0, 0, 0))  # redelivered: the first record wins
    assert temp_store.raw_batch("m1", 0) == []
    totals = temp_store.batch_totals("m1")
    assert totals == {"records": 3, "already_mined": 1, "failed": 0, "contacts": 6, "extracted": 0}
    temp_store.drop_mining("m1")
    assert temp_store.raw_batch("m1", 1) == [] and temp_store.mining_ids() == []


def test_clean_is_claimed_once_when_the_fetch_ended_and_every_batch_is_extracted(temp_store):
    temp_store.start_run("m1", "u1", "src", [])
    counts = BatchCounts(1, 0, 0, 1)
    temp_store.finish_batch("m1", 0, counts)
    assert not temp_store.claim_clean("m1")  # still fetching
    temp_store.end_fetch("m1", batches=2, fetched=2, failed=0, fetch_state=[])
    assert not temp_store.claim_clean("m1")  # batch 1 is not extracted
    temp_store.finish_batch("m1", 0, counts)  # batch 0 delivered twice: still one batch
    assert not temp_store.claim_clean("m1")
    temp_store.finish_batch("m1", 1, counts)
    assert [temp_store.claim_clean("m1") for _ in range(3)] == [True, False, False]
    temp_store.start_run("m2", "u1", "src", [])
    temp_store.end_fetch("m2", batches=0, fetched=0, failed=0, fetch_state=[])
    assert temp_store.claim_clean("m2")  # an empty source goes straight on
