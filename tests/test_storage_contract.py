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
    RefinedPerson,
    Signature,
    Status,
)
from leadminer.storage import FolderState, IndexedMessage, Occurrence


@pytest.fixture(params=["sqlite"])
def temp_store(request, tmp_path):
    conn = connect(tmp_path / "temp.db")
    yield SqliteTempStore(conn)
    conn.close()


@pytest.fixture(params=["sqlite"])
def main_store(request, tmp_path):
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
    main_store.index_messages("u", msgs, occ)
    main_store.index_messages("u", msgs, occ)  # idempotent
    ids = [f"x{i}" for i in range(1200)]  # more than one parameter chunk
    assert main_store.known_message_ids("u", ["1", "3", *ids]) == {"1", "3"}
    assert main_store.known_message_ids("v", ["1"]) == set()
    assert main_store.thread_sizes("u", ["1", "3"]) == {"1": 2, "3": 1}
    history, occurrences = main_store.history("u", ["a@x"])
    assert sorted(m.message_id for m in history) == ["1", "2"]
    assert len(occurrences) == 2
    assert main_store.lookup_threads("u", ["2"])["2"].from_user is True
    assert main_store.latest_message_date("u") == "2024-02-01T00:00:00+00:00"


def test_persons_and_minings(main_store):
    p = RefinedPerson("u", "a@x", name="Ä", tags=["professional"], telephone=["+1"], same_as=["https://l.example/a"], temperature=40)
    main_store.upsert_persons([p, RefinedPerson("u", "b@x", temperature=90)])
    main_store.upsert_persons([p])
    assert [q.email for q in main_store.persons("u")] == ["b@x", "a@x"]
    assert main_store.person("u", "a@x") == p
    assert main_store.person("u", "zz") is None
    main_store.start_mining("m1", "u", "/mail")
    assert main_store.minings("running")[0]["id"] == "m1"
    main_store.finish_mining("m1", "done", {"fetched": 3})
    assert main_store.minings()[0]["stats"] == {"fetched": 3} and main_store.minings("running") == []
