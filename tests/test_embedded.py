"""End-to-end tests of the embedded mode: sources → SQLite → refined persons."""

from __future__ import annotations

import asyncio
import mailbox
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from leadminer.adapters.sqlite import SqliteMainStore, SqliteTempStore, connect
from leadminer.contracts import RawMessage
from leadminer.flow.memory import mine_in_memory
from leadminer_runner.demo import generate_demo_mailbox
from leadminer_runner.embedded import mine, temp_path
from leadminer_runner.sources import FileMessageSource
from corpora import corpus_dir


def read(db: Path, call):
    """``call(store)`` awaited on the database's main (or, for ``<db>.mining``, temp) store."""
    conn = connect(db)
    try:
        store = SqliteTempStore(conn) if db.name.endswith(".mining") else SqliteMainStore(conn)
        return asyncio.run(call(store))
    finally:
        conn.close()


def persons_of(db: Path, user: str = "local"):
    return {p.email: p for p in read(db, lambda main: main.persons(user))}


def statuses(db: Path) -> list[str]:
    return [m["status"] for m in read(db, lambda main: main.minings())]


def facts(persons) -> dict:
    return {
        e: (p.name, p.occurrence, p.sender, p.recipient, p.conversations, p.replied_conversations,
            p.first_seen, p.last_seen, tuple(p.tags), p.temperature, p.job_title, tuple(p.telephone))
        for e, p in persons.items()
    }  # fmt: skip


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return generate_demo_mailbox(tmp_path_factory.mktemp("demo") / "demo.mbox", seed=11, messages=300)


@pytest.fixture(scope="module")
def demo_db(demo, tmp_path_factory):
    db = tmp_path_factory.mktemp("db") / "demo.db"
    summary = mine(FileMessageSource(demo.path), db_path=db, identities=demo.identities)
    return db, summary


def test_demo_mailbox_mines_the_expected_contacts(demo, demo_db):
    db, summary = demo_db
    assert summary.fetched == demo.messages
    assert summary.extracted + summary.failed == demo.messages
    persons = persons_of(db)
    assert not set(demo.identities) & set(persons)  # the user is not a contact
    for email in demo.newsletters:
        assert "newsletter" in persons[email].tags, email
    for email in demo.transactional:
        assert "transactional" in persons[email].tags, email
    for email in demo.colleagues:
        p = persons[email]
        assert "newsletter" not in p.tags and "transactional" not in p.tags, email
        assert p.name == demo.names[email], email
    for email in demo.disposable:
        assert "disposable" in persons[email].tags
    for email in demo.replied:
        assert persons[email].replied_conversations >= 1, email
    warm = [persons[e].temperature for e in demo.replied if e in persons]
    cold = [persons[e].temperature for e in demo.newsletters]
    assert min(warm) > max(cold)


def test_signatures_land_on_their_sender_only(demo, demo_db):
    db, _ = demo_db
    persons = persons_of(db)
    found = 0
    for email, expected in demo.signatures.items():
        p = persons.get(email)
        if p is None or p.job_title is None:
            continue
        found += 1
        assert p.job_title == expected.job_title, email
        assert set(p.telephone) <= set(expected.telephone) | set(expected.fax), email
    assert found >= len(demo.signatures) // 2
    for email in demo.no_signature:  # quoted signatures of others must not stick to them
        if email in persons:
            assert persons[email].job_title is None, email


def test_remining_the_same_mailbox_changes_nothing(demo, demo_db, tmp_path):
    db, _ = demo_db
    copy = tmp_path / "copy.db"
    shutil.copy(db, copy)
    before = facts(persons_of(copy))
    again = mine(FileMessageSource(demo.path), db_path=copy, identities=demo.identities)
    assert again.extracted == 0 and again.already_mined > 0
    assert facts(persons_of(copy)) == before


def test_embedded_equals_in_memory_reference(demo, demo_db):
    db, _ = demo_db
    raws = list(FileMessageSource(demo.path).iter_messages("ref", None))
    messages = [r for r in raws if isinstance(r, RawMessage)]
    reference = {p.email: p for p in asyncio.run(mine_in_memory(messages, demo.identities))}
    assert facts(persons_of(db)) == facts(reference)


def _split_mbox(src: Path, first: Path, second: Path, at: int) -> None:
    box = mailbox.mbox(src)
    a, b = mailbox.mbox(first), mailbox.mbox(second)
    for i, message in enumerate(box):
        (a if i < at else b).add(message)
    a.flush(), b.flush()


def test_incremental_mining_merges_exactly(demo, demo_db, tmp_path):
    db, _ = demo_db
    first, second = tmp_path / "first.mbox", tmp_path / "second.mbox"
    _split_mbox(demo.path, first, second, at=demo.messages // 2)
    split_db = tmp_path / "split.db"
    mine(FileMessageSource(first), db_path=split_db, identities=demo.identities)
    mine(FileMessageSource(second), db_path=split_db, identities=demo.identities)
    assert facts(persons_of(split_db)) == facts(persons_of(db))


class CrashingSource(FileMessageSource):
    """Dies after ``limit`` messages, like a killed process mid-mining."""

    def __init__(self, path, limit):
        super().__init__(path)
        self.limit = limit

    def iter_messages(self, mining_id, state_store) -> Iterator:
        for i, item in enumerate(super().iter_messages(mining_id, state_store)):
            if i == self.limit:
                raise KeyboardInterrupt("killed")
            yield item


def test_crash_mid_mining_then_rerun_loses_and_doubles_nothing(demo, demo_db, tmp_path):
    db, _ = demo_db
    crashed = tmp_path / "crashed.db"
    with pytest.raises(KeyboardInterrupt):
        mine(CrashingSource(demo.path, limit=120), db_path=crashed, identities=demo.identities, batch_size=50)
    assert statuses(crashed) == ["interrupted"]
    assert read(temp_path(crashed), lambda temp: temp.mining_ids()) == []  # temp rows were dropped
    mine(FileMessageSource(demo.path), db_path=crashed, identities=demo.identities)
    assert facts(persons_of(crashed)) == facts(persons_of(db))


def test_malformed_corpus_mines_without_crash_and_every_failure_has_a_reason(tmp_path):
    folder = corpus_dir("malformed")
    summary = mine(FileMessageSource(folder), db_path=tmp_path / "m.db")
    assert summary.fetched >= 70
    assert summary.extracted + summary.failed + summary.already_mined + summary.duplicates == summary.fetched
    assert len(summary.failures) == summary.failed
    assert all(f.reason.strip() and not f.reason.startswith("internal error") for f in summary.failures)
    assert summary.persons > 0


def test_lkml_maildir_threads_and_list_address(tmp_path):
    summary = mine(FileMessageSource(corpus_dir("lkml")), db_path=tmp_path / "l.db")
    persons = persons_of(tmp_path / "l.db")
    assert summary.failed == 0
    assert summary.extracted == 176 and summary.duplicates == 210 - 176
    assert "group" in persons["linux-kernel@vger.kernel.org"].tags
    posters = [p for p in persons.values() if p.sender > 0 and p.conversations > 0]
    assert posters and all("newsletter" not in p.tags for p in posters)


def test_crash_inside_refine_then_rerun_restores_every_contact(demo, demo_db, tmp_path, monkeypatch):
    db, _ = demo_db
    crashed = tmp_path / "refine-crash.db"
    real_upsert = SqliteMainStore.upsert_persons

    async def dying_upsert(self, persons):  # the process dies after the index was written
        raise KeyboardInterrupt("killed during refine")

    monkeypatch.setattr(SqliteMainStore, "upsert_persons", dying_upsert)
    with pytest.raises(KeyboardInterrupt):  # and this run forgot --identity: its index rows are wrong
        mine(FileMessageSource(demo.path), db_path=crashed)
    monkeypatch.setattr(SqliteMainStore, "upsert_persons", real_upsert)
    rerun = mine(FileMessageSource(demo.path), db_path=crashed, identities=demo.identities)
    assert rerun.already_mined == 0  # nothing of the dead mining counts as mined
    assert facts(persons_of(crashed)) == facts(persons_of(db))


def test_one_mining_at_a_time_per_database(demo, tmp_path):
    from leadminer_runner.embedded import MiningLocked, exclusive

    db = tmp_path / "busy.db"
    with exclusive(db), pytest.raises(MiningLocked, match="another mining is running"):
        mine(FileMessageSource(demo.path), db_path=db)


def test_identities_are_remembered_by_later_minings(demo, demo_db, tmp_path):
    db, _ = demo_db
    first, second = tmp_path / "first.mbox", tmp_path / "second.mbox"
    _split_mbox(demo.path, first, second, at=demo.messages // 2)
    split_db = tmp_path / "split.db"
    mine(FileMessageSource(first), db_path=split_db, identities=demo.identities)
    summary = mine(FileMessageSource(second), db_path=split_db)  # no --identity this time
    assert set(demo.identities) <= set(summary.identities)
    assert facts(persons_of(split_db)) == facts(persons_of(db))


def _message(sender: str, date: str, mid: str, phone: str) -> bytes:
    return (
        f"From: Pat Lee <{sender}>\nTo: me@home.example\nDate: {date}\nMessage-ID: <{mid}>\nSubject: hi\n\n"
        f"See you.\n\nBest regards,\nPat Lee\nHead of Research, Quill Labs Inc.\nPhone: {phone}\n"
    ).encode()


def test_older_mail_mined_later_does_not_overwrite_a_newer_signature(tmp_path):
    new_dir, old_dir = tmp_path / "new", tmp_path / "old"
    new_dir.mkdir(), old_dir.mkdir()
    (new_dir / "1.eml").write_bytes(_message("pat@quill.example", "Mon, 1 Jul 2024 10:00:00 +0000", "n@x", "+1 415 555 0199"))
    (old_dir / "2.eml").write_bytes(_message("pat@quill.example", "Mon, 1 Jul 2019 10:00:00 +0000", "o@x", "+1 212 555 0199"))
    db = tmp_path / "s.db"
    mine(FileMessageSource(new_dir), db_path=db, identities=["me@home.example"])
    mine(FileMessageSource(old_dir), db_path=db, identities=["me@home.example"])
    pat = persons_of(db)["pat@quill.example"]
    assert pat.telephone == ["+14155550199"]
    assert pat.signature_date.startswith("2024-07-01")


def test_a_stage_that_keeps_failing_is_retried_then_fails_the_mining(demo, tmp_path, monkeypatch):
    import leadminer.flow.mining as flow_mining

    calls = []

    async def broken(ctx, extractor=None):
        calls.append(ctx.mining_id)
        raise OSError("disk full")

    monkeypatch.setattr(flow_mining, "handle_signatures", broken)
    db = tmp_path / "f.db"
    with pytest.raises(RuntimeError, match="signature stage failed after 3 attempts: OSError: disk full"):
        mine(FileMessageSource(demo.path), db_path=db)
    assert len(calls) == 3
    assert statuses(db) == ["failed"]
