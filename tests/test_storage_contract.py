"""Contract tests of the storage ports. Every adapter must pass them (parametrise
``temp_store`` / ``main_store`` / ``raw_store`` with a new adapter to add it)."""

from __future__ import annotations

import asyncio
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


ADAPTERS = ["sqlite", "postgres", "d1"]
# postgres: runner/leadminer_runner/postgres.py, a fresh schema per test; d1: the Cloudflare adapter
# (shared/leadminer/adapters/cloudflare) on Miniflare's local D1, a fresh database per test


@pytest.fixture(scope="session")
def cloudflare_stack():
    """The local Cloudflare stack's D1 and R2 (no Python Workers: the adapters run here, on CPython)."""
    from leadminer_runner import cloudflare_local as cloudflare_stack

    if not cloudflare_stack.node_available():
        pytest.skip("node and npm are needed for the local Cloudflare stack")
    stack = cloudflare_stack.Stack("--no-python")
    yield stack
    stack.close()


def _fresh_d1(request, kind: str):
    """Each test gets an empty database: every table of the stack's D1 ``kind`` database dropped."""
    from leadminer_runner import cloudflare_local as cloudflare_stack

    stack = request.getfixturevalue("cloudflare_stack")
    db = cloudflare_stack.BridgeD1Database(stack, "MAIN_DB" if kind == "main" else "DB")
    tables = stack.call(f"d1/{db.binding}", {"statements": [["SELECT name FROM sqlite_master WHERE type = 'table' "
                                                             "AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'", []]],
                                              "mode": "raw"})["rows"]
    if tables:
        stack.call(f"d1/{db.binding}", {"statements": [[f"DROP TABLE {name}", []] for (name,) in tables], "mode": "batch"})
    return db


async def _store(request, tmp_path, kind: str):
    """A migrated store of the requested adapter, and the connection to close."""
    if request.param == "d1":
        from leadminer.adapters.cloudflare.d1 import D1MainStore, D1TempStore

        db = _fresh_d1(request, kind)
        store = D1TempStore(db) if kind == "temp" else D1MainStore(db)
        conn = None
    elif request.param == "postgrest":
        return await _postgrest_store(request.getfixturevalue("postgres_dsn"))
    elif request.param == "postgres":
        from leadminer_runner import postgres

        conn = await postgres.connect(request.getfixturevalue("postgres_dsn"))
        store = postgres.PostgresTempStore(conn) if kind == "temp" else postgres.PostgresMainStore(conn)
    else:
        conn = connect(tmp_path / f"{kind}.db")
        store = SqliteTempStore(conn) if kind == "temp" else SqliteMainStore(conn)
    await store.migrate()
    return store, conn


JWT_SECRET = "contract-test-jwt-secret-of-32-bytes!"


def jwt_for(role: str, sub: str | None = None, **claims) -> str:
    import jwt

    return jwt.encode({"role": role, **({"sub": sub} if sub else {}), **claims}, JWT_SECRET, algorithm="HS256")


class _PostgrestStack:
    """What a PostgREST store's test closes: the migrating connection and the local endpoint."""

    def __init__(self, conn, endpoint):
        self.conn, self.endpoint = conn, endpoint

    async def close(self) -> None:
        await self.endpoint.close()
        await self.conn.close()


async def _postgrest_store(dsn: str, token: str | None = None):
    """The Supabase main store (leadminer.adapters.postgrest) over the local PostgREST endpoint
    (in-process) over the test's PostgreSQL schema, migrated by the psycopg adapter; service role."""
    from asgi_transport import AsgiTransport
    from leadminer.adapters.postgrest import PostgrestMainStore
    from leadminer_runner import postgres
    from leadminer_runner.local_postgrest import LocalPostgrest

    conn = await postgres.connect(dsn)
    await postgres.PostgresMainStore(conn).migrate()
    endpoint = LocalPostgrest(dsn, JWT_SECRET)
    store = PostgrestMainStore("http://supabase.local", jwt_for("service_role"), AsgiTransport(endpoint.app), token=token)
    await store.migrate()
    return store, _PostgrestStack(conn, endpoint)


async def _close(conn) -> None:
    if conn is None:  # D1: nothing to close
        return
    closed = conn.close()
    if closed is not None:  # psycopg's AsyncConnection.close is a coroutine
        await closed


@pytest.fixture(params=ADAPTERS)
async def temp_store(request, tmp_path):
    store, conn = await _store(request, tmp_path, "temp")
    yield store
    await _close(conn)


@pytest.fixture(params=[*ADAPTERS, "postgrest"])
async def main_store(request, tmp_path):
    store, conn = await _store(request, tmp_path, "main")
    yield store
    await _close(conn)


@pytest.fixture(params=["memory", "r2", *ADAPTERS])
async def raw_store(request, tmp_path):
    if request.param == "memory":
        yield MemoryRawBatchStore()
        return
    if request.param == "r2":
        from leadminer_runner import cloudflare_local as cloudflare_stack
        from leadminer.adapters.cloudflare.r2 import R2RawBatchStore

        yield R2RawBatchStore(cloudflare_stack.BridgeR2Bucket(request.getfixturevalue("cloudflare_stack"), "RAW"))
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
    history, occurrences = await main_store.history_page("u", ["a@x"], after=None, limit=10, occurrences_of=["a@x"])
    assert [m.message_id for m in history] == ["1", "2"]
    assert len(occurrences) == 2
    assert (await main_store.lookup_threads("u", ["2"]))["2"].from_user is True


async def test_history_keeps_the_occurrences_asked_for(main_store):
    msgs = [
        IndexedMessage("1", "1", "2024-01-01T00:00:00+00:00", "a@x", False, None, []),
        IndexedMessage("2", "2", "2024-01-02T00:00:00+00:00", "b@x", False, None, []),
    ]
    occ = [
        Occurrence("1", "a@x", "a@x", "from", "A"), Occurrence("1", "b@x", "b@x", "to", None),
        Occurrence("1", "me@x", "me@x", "cc", None), Occurrence("2", "b@x", "b@x", "from", None),
    ]  # fmt: skip
    await main_store.start_mining("m1", "u", "src")
    await main_store.index_messages("u", "m1", msgs, occ)
    everyone = ["a@x", "b@x", "me@x"]
    everything = await main_store.history_page("u", ["a@x"], after=None, limit=10, occurrences_of=everyone)
    assert [m.message_id for m in everything[0]] == ["1"]
    assert sorted((o.key, o.field) for o in everything[1]) == [("a@x", "from"), ("b@x", "to"), ("me@x", "cc")]
    messages, some = await main_store.history_page("u", ["a@x"], after=None, limit=10, occurrences_of=["a@x", "me@x"])
    assert messages == everything[0]  # the messages do not change
    assert sorted((o.key, o.field) for o in some) == [("a@x", "from"), ("me@x", "cc")]
    assert (await main_store.history_page("u", ["a@x"], after=None, limit=10, occurrences_of=[]))[1] == []


async def test_history_pages_in_message_id_order(main_store):
    # ids whose order differs between code points and a locale's collation (case, accents, punctuation)
    ids = ["B-1", "a-2", "a.1", "é-3", "Z", "b_4", "a-10", "e-5"]
    msgs = [
        IndexedMessage(m, m, f"2024-01-0{n % 9 + 1}T00:00:00+00:00", "a@x", False, None, []) for n, m in enumerate(ids)
    ]
    occ = [Occurrence(m, "a@x", "a@x", "from", None) for m in ids[:-1]]
    occ += [Occurrence(m, "me@x", "me@x", "to", None) for m in ids] + [Occurrence("e-5", "c@x", "c@x", "to", None)]
    occ += [Occurrence(m, "b@x", "b@x", "cc", None) for m in ids[::2]]
    keys = ["a@x", "c@x", *(f"k{i}@x" for i in range(1200))]  # more than one parameter chunk of keys
    await main_store.start_mining("m1", "u", "src")
    await main_store.index_messages("u", "m1", msgs, occ)
    pages, after = [], None
    while True:
        messages, occurrences = await main_store.history_page(
            "u", keys, after=after, limit=3, occurrences_of=["a@x", "c@x", "me@x"]
        )
        pages.append([m.message_id for m in messages])
        assert {o.message_id for o in occurrences} == set(pages[-1])
        assert {o.key for o in occurrences} <= {"a@x", "c@x", "me@x"}  # b@x left out
        assert len(occurrences) == len(messages) * 2
        if len(messages) < 3:
            break
        after = messages[-1].message_id
    assert pages == [sorted(ids)[:3], sorted(ids)[3:6], sorted(ids)[6:]]  # code-point order, each message once
    messages, occurrences = await main_store.history_page("u", ["b@x"], after="a.1", limit=10, occurrences_of=[])
    assert [m.message_id for m in messages] == [m for m in sorted(ids[::2]) if m > "a.1"] and occurrences == []
    assert await main_store.history_page("v", keys, after=None, limit=3, occurrences_of=keys) == ([], [])


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


# the API's reads -----------------------------------------------------------------------
NAMES = ["Alice", "alice", "Bob", "Émile", "Zoë", "bob", "Carol Ann", None, None]
TAGS = [[], ["professional"], ["professional", "newsletter"], ["newsletter"], ["group", "professional"]]


def crowd(user: str, n: int) -> list[RefinedPerson]:
    """``n`` persons with ties on every sort key (temperature, occurrence, last_seen, name)."""
    return [
        RefinedPerson(
            user, f"p{(i * 7919) % n:05d}@{'xy'[i % 2]}.example", name=NAMES[i % len(NAMES)], temperature=(i * 37) % 101,
            occurrence=i % 5, last_seen=None if i % 11 == 0 else f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T00:00:00+00:00",
            tags=TAGS[i % len(TAGS)], organization="ACME_Corp" if i % 13 == 0 else None,
            job_title="CTO" if i % 17 == 0 else None,
        )  # fmt: skip
        for i in range(n)
    ]


def _ascii_lower(text: str) -> str:
    return "".join(c.lower() if c.isascii() else c for c in text)


EXPECTED_ORDER = {
    "temperature": lambda p: (-p.temperature, -p.occurrence, p.email),
    "last_seen": None,  # descending date, then ascending email: two stable sorts below
    "name": lambda p: (p.name is None, _ascii_lower(p.name or ""), p.email),
    "email": lambda p: p.email,
}


def expected(persons: list[RefinedPerson], sort: str) -> list[str]:
    if sort == "last_seen":
        by_email = sorted(persons, key=lambda p: p.email)
        return [p.email for p in sorted(by_email, key=lambda p: p.last_seen or "", reverse=True)]
    return [p.email for p in sorted(persons, key=EXPECTED_ORDER[sort])]


async def all_pages(store, user: str, limit: int = 100, **options) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        page, cursor = await store.persons_page(user, after=cursor, limit=limit, **options)
        pages.append([p.email for p in page])
        if cursor is None:
            return pages
        assert isinstance(cursor, str) and len(pages) < 10_000


@pytest.mark.parametrize("sort", ["temperature", "last_seen", "name", "email"])
async def test_pages_of_persons_come_back_once_each_in_order(main_store, sort):
    persons = crowd("u", 2_501)
    await main_store.upsert_persons([*persons, *crowd("other", 50)])
    pages = await all_pages(main_store, "u", sort=sort)
    assert [len(p) for p in pages] == [100] * 25 + [1]
    emails = [e for page in pages for e in page]
    assert emails == expected(persons, sort) and len(set(emails)) == 2_501
    if sort == "temperature":  # the order of persons() and of the export
        assert emails == [p.email for p in await main_store.persons("u")]
    page, cursor = await main_store.persons_page("u", sort=sort, limit=2_501)
    assert len(page) == 2_501 and cursor is None
    assert (await main_store.persons_page("u", sort=sort, limit=1))[0][0] == next(p for p in persons if p.email == emails[0])
    assert await main_store.persons_page("nobody", sort=sort) == ([], None)


async def test_pages_of_persons_filter_by_tags_temperature_and_text(main_store):
    persons = crowd("u", 300)
    await main_store.upsert_persons([*persons, *[RefinedPerson("other", p.email, name=p.name, tags=p.tags) for p in persons]])

    async def emails(**options) -> list[str]:
        found = [e for page in await all_pages(main_store, "u", limit=7, **options) for e in page]
        assert found == expected([p for p in persons if p.email in set(found)], options.get("sort", "temperature"))
        return sorted(found)

    def where(test) -> list[str]:
        return sorted(p.email for p in persons if test(p))

    both = where(lambda p: {"professional", "newsletter"} <= set(p.tags))
    assert both and await emails(tags=["professional", "newsletter"]) == both
    assert await emails(tags=["newsletter", "professional", "newsletter"]) == both
    assert await emails(tags=["professional"]) == where(lambda p: "professional" in p.tags) != both
    assert await emails(tags=["nobody-has-it"]) == []
    assert await emails(min_temperature=90) == where(lambda p: p.temperature >= 90) != []
    assert await emails(search="ALICE") == where(lambda p: (p.name or "").lower() == "alice") != []
    assert await emails(search="ÉMI") == where(lambda p: p.name == "Émile") != []  # non-ASCII: same case in every adapter
    assert await emails(search="p0001") == where(lambda p: "p0001" in p.email) != []
    assert await emails(search="@Y.EXAMPLE") == where(lambda p: p.email.endswith("@y.example")) != []
    assert await emails(search="acme_") == where(lambda p: p.organization) != []  # "_" is no wildcard
    assert await emails(search="acme%corp") == [] and await emails(search="%") == []
    assert await emails(search="cto") == where(lambda p: p.job_title) != []
    combined = await emails(tags=["professional"], min_temperature=50, search="bob")
    assert combined == where(lambda p: "professional" in p.tags and p.temperature >= 50 and p.name in ("Bob", "bob")) != []
    fields = ("email", "name", "organization", "job_title")
    assert await emails(sort="name", search="o") == where(lambda p: any("o" in (getattr(p, f) or "").lower() for f in fields))


async def test_a_bad_cursor_sort_or_limit_is_refused(main_store):
    await main_store.upsert_persons(crowd("u", 30))
    _, cursor = await main_store.persons_page("u", limit=10)
    _, by_name = await main_store.persons_page("u", limit=10, sort="name")
    assert cursor and by_name
    for bad in ("", "not a cursor!", "eyJh", cursor[:-3], by_name):
        with pytest.raises(ValueError, match="invalid cursor"):
            await main_store.persons_page("u", after=bad, limit=10)
    import base64, json

    forged = base64.urlsafe_b64encode(json.dumps(["temperature", "90", 1, "a"]).encode()).decode()
    with pytest.raises(ValueError, match="invalid cursor"):
        await main_store.persons_page("u", after=forged)
    with pytest.raises(ValueError, match="unknown sort"):
        await main_store.persons_page("u", sort="temperature; DROP TABLE refined_persons")
    with pytest.raises(ValueError, match="limit"):
        await main_store.persons_page("u", limit=0)
    assert len((await main_store.persons_page("u", after=cursor, limit=10))[0]) == 10  # still readable


async def test_persons_for_export_keep_the_order_of_persons(main_store):
    persons = crowd("u", 40)
    await main_store.upsert_persons([*persons, RefinedPerson("other", "secret@z.example", temperature=100)])
    everyone = await main_store.persons("u")
    assert await main_store.persons_for_export("u") == everyone == await main_store.persons_for_export("u", None)
    chosen = [p.email for p in persons[::3]][::-1]
    assert await main_store.persons_for_export("u", [*chosen, chosen[0], "secret@z.example", "zz"]) == [
        p for p in everyone if p.email in chosen
    ]
    assert await main_store.persons_for_export("u", []) == []


async def test_minings_of_one_user_newest_first(main_store):
    for mining, user in (("m1", "u"), ("m2", "v"), ("m3", "u"), ("m4", "u")):
        await main_store.start_mining(mining, user, "src")
    await main_store.finish_mining("m1", "done", {})
    assert [m["id"] for m in await main_store.minings()] == ["m1", "m2", "m3", "m4"]
    assert [m["id"] for m in await main_store.minings(user_id="u")] == ["m1", "m3", "m4"]
    assert [m["id"] for m in await main_store.minings("running", user_id="u")] == ["m3", "m4"]
    assert [m["id"] for m in await main_store.minings(user_id="u", newest_first=True, limit=2)] == ["m4", "m3"]
    assert [m["id"] for m in await main_store.minings("done")] == ["m1"]
    assert await main_store.minings(user_id="nobody") == []


async def _fill_user(store, user: str) -> None:
    mining = f"{user}-m"
    await store.start_mining(mining, user, "src")
    await store.save_folder_state(user, "src", "INBOX", FolderState(1, 5))
    await store.add_identities(user, [f"{user}@me.example", f"{user}@alias.example"])
    await store.index_messages(
        user, mining,
        [IndexedMessage(f"{user}-1", "t", "2024-01-01T00:00:00+00:00", "a@x", False, None, [])],
        [Occurrence(f"{user}-1", "a@x", "a@x", "from", "A"), Occurrence(f"{user}-1", "b@x", "b@x", "to", None)],
    )  # fmt: skip
    await store.record_failures([FailedMessage(mining, "INBOX", "9", "no header block")])
    await store.upsert_persons(crowd(user, 3))
    await store.finish_mining(mining, "done", {})


async def _user_rows(store, user: str) -> tuple:
    return (
        await store.minings(user_id=user), await store.folder_states(user, "src"), await store.identities(user),
        await store.lookup_threads(user, [f"{user}-1"]),
        await store.history_page(user, ["a@x"], after=None, limit=10, occurrences_of=["a@x"]),
        await store.failures(f"{user}-m"), await store.persons(user),
    )  # fmt: skip


async def test_delete_user_removes_every_row_of_the_user_only(main_store):
    await _fill_user(main_store, "a")
    await _fill_user(main_store, "b")
    kept = await _user_rows(main_store, "b")
    counts = await main_store.delete_user("a")
    assert counts == {
        "failed_messages": 1, "minings": 1, "fetch_state": 1, "user_identities": 2, "message_index": 1,
        "occurrences": 2, "refined_persons": 3, "mining_sources": 0,
    }  # fmt: skip
    assert await _user_rows(main_store, "a") == ([], {}, set(), {}, ([], []), [], [])
    assert await _user_rows(main_store, "b") == kept
    assert all(kept)
    assert set((await main_store.delete_user("a")).values()) == {0}


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
    assert run.options == {}  # started without options
    await temp_store.start_run("m9", "u1", "src", [], {"extract_signatures": False})
    assert (await temp_store.run("m9")).options == {"extract_signatures": False}
    await temp_store.drop_mining("m9")
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


async def test_an_ended_run_is_over_at_once_and_its_rows_stay_until_dropped(temp_store):
    await temp_store.start_run("m1", "u1", "src", [])
    await temp_store.add_failures("m1", [FailedMessage("m1", "INBOX", "7", "unreadable")])
    assert await temp_store.end_run("m1") is True
    assert await temp_store.end_run("m1") is False  # one caller ends it
    assert await temp_store.run("m1") is None  # its messages are dropped from now on
    assert await temp_store.mining_ids() == ["m1"] and len(await temp_store.failures("m1")) == 1
    await temp_store.drop_mining("m1")
    assert await temp_store.mining_ids() == [] and await temp_store.end_run("m1") is False
    async with temp_store.mining_lock("m1", wait=False) as held:
        assert held is True


async def test_touch_is_activity(temp_store):
    await temp_store.start_run("m1", "u1", "src", [])
    before = (await temp_store.run("m1")).updated
    await asyncio.sleep(0.01)
    await temp_store.touch("m1")
    assert (await temp_store.run("m1")).updated > before


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


@pytest.mark.parametrize("schema", ["sqlite/main.sql", "postgres/main.sql"])
def test_delete_user_finds_every_table_of_the_schema_with_a_user_id(schema):
    from leadminer.adapters.queries import user_tables
    from leadminer.schemas import schema_sql

    text = schema_sql(schema)
    found = user_tables(text)
    assert {*found.by_user, *found.by_mining} >= {"minings", "failed_messages", "refined_persons", "occurrences"}
    assert found.by_user[-1] == "minings" and "leadminer_schema_version" not in found.by_user
    added = user_tables(text + "\nCREATE TABLE IF NOT EXISTS sources (\n    user_id text NOT NULL, -- owner\n    id text\n);\n")
    assert added.by_user == ("sources", *found.by_user)  # declared last: emptied first
