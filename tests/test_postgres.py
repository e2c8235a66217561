"""PostgreSQL adapters (self-host mode): what the contract tests cannot see —
schema versions and migrations, the mining lock across connections, row level
security, paging of big minings, NUL characters, and the mining flow end to end over Postgres vs SQLite."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from leadminer.contracts import FailedMessage, Field, MessageRecord, PointOfContact, RawMessage, RefinedPerson
from leadminer.flow import MiningFlow, MiningServices, StageWorker
from leadminer.flow.memory import ListSource, in_process_queues, memory_services
from leadminer.schemas import SchemaVersionError
from leadminer.settings import Settings, SettingsError
from leadminer.storage import StoreUnavailable
from leadminer.storage import IndexedMessage
from asyncutil import collect
from pg import admin, postgres_database, postgres_dsn  # noqa: F401 - fixtures

psycopg = pytest.importorskip("psycopg")

from leadminer_runner.postgres import (  # noqa: E402
    MAIN_SCHEMA_VERSION,
    PostgresMainStore,
    PostgresTempStore,
    connect,
    redact,
)
from leadminer_runner.services import postgres_stores  # noqa: E402

MAIN_TABLES = {
    "leadminer_schema_version", "minings", "fetch_state", "failed_messages", "user_identities", "message_index",
    "occurrences", "refined_persons", "mining_sources",
}  # fmt: skip


@pytest.fixture
async def conn(postgres_dsn):
    connection = await connect(postgres_dsn)
    yield connection
    await connection.close()


async def fetchall(conn, query, params=()):
    return await (await conn.execute(query, params)).fetchall()


async def migrated(store):
    await store.migrate()
    return store


def record(mid: str, date: str | None, mining: str = "m1") -> MessageRecord:
    return MessageRecord(
        mining_id=mining, message_id=mid, folder="INBOX", uid=mid, date=date, subject="s", in_reply_to=None,
        references=[], points=[PointOfContact(mid, Field.FROM, f"a{mid}@x.example", "A"),
                               PointOfContact(mid, Field.TO, "b@y.example", None),
                               PointOfContact(mid, Field.CC, "c@y.example", None)],
        body="Hi",
    )  # fmt: skip


async def tables(conn) -> set[str]:
    return {r[0] for r in await fetchall(conn, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}


# schema versions ------------------------------------------------------------
async def test_stores_create_nothing_until_migrated(conn):
    PostgresMainStore(conn), PostgresTempStore(conn)
    assert await tables(conn) == set()
    with pytest.raises(SchemaVersionError, match="never migrated"):
        await PostgresMainStore(conn).check_schema()
    with pytest.raises(SchemaVersionError, match="leadminer db migrate"):
        await PostgresTempStore(conn).check_schema()
    assert await tables(conn) == set()


async def test_main_schema_is_applied_once_then_reopened(conn):
    await PostgresMainStore(conn).migrate()
    await PostgresMainStore(conn).migrate()  # reopening the current version is fine
    await PostgresMainStore(conn).check_schema()
    assert await tables(conn) == MAIN_TABLES
    assert await fetchall(conn, "SELECT component, version FROM leadminer_schema_version") == [("main", MAIN_SCHEMA_VERSION)]


async def test_main_schema_of_another_version_is_refused(conn):
    await PostgresMainStore(conn).migrate()
    await conn.execute("UPDATE leadminer_schema_version SET version = %s WHERE component = 'main'", [MAIN_SCHEMA_VERSION + 1])
    with pytest.raises(SchemaVersionError, match="another version of leadminer"):
        await PostgresMainStore(conn).migrate()
    with pytest.raises(SchemaVersionError, match="another version of leadminer"):
        await PostgresMainStore(conn).check_schema()
    assert await fetchall(conn, "SELECT version FROM leadminer_schema_version") == [(MAIN_SCHEMA_VERSION + 1,)]


async def test_main_tables_without_a_version_are_refused(conn):
    await conn.execute("CREATE TABLE message_index (user_id text, message_id text)")  # an older layout, version 0
    with pytest.raises(SchemaVersionError, match="schema 0, this one needs"):
        await PostgresMainStore(conn).migrate()
    assert await tables(conn) == {"message_index"}  # left as it was


async def test_temp_tables_of_another_version_are_dropped(conn):
    await conn.execute("CREATE TABLE mining_messages (mining_id text, message_id text)")
    store = PostgresTempStore(conn)
    with pytest.raises(SchemaVersionError, match="leadminer db migrate"):
        await store.check_schema()
    await store.migrate()
    await store.add_messages("m1", [record("1", None)])
    assert [r.message_id for r in await collect(store.iter_messages("m1"))] == ["1"]
    await PostgresTempStore(conn).migrate()  # same version: rows are kept
    assert await store.mining_ids() == ["m1"]
    await conn.execute("UPDATE leadminer_schema_version SET version = 2 WHERE component = 'temp'")  # an older one
    await store.migrate()
    assert await store.mining_ids() == []


async def test_temp_tables_are_unlogged(conn):
    await PostgresTempStore(conn).migrate()
    found = await fetchall(
        conn,
        "SELECT relname, relpersistence FROM pg_class WHERE relkind = 'r' AND relname LIKE 'mining%%' "
        "AND relnamespace = current_schema()::regnamespace",
    )
    assert len(found) == 9 and {p for _, p in found} == {"u"}


async def test_mining_lock_makes_a_second_runner_wait(postgres_dsn):
    import asyncio

    first, second = await connect(postgres_dsn), await connect(postgres_dsn)
    try:
        a, b = await migrated(PostgresTempStore(first)), PostgresTempStore(second)
        order: list[str] = []

        async def hold() -> None:
            async with a.mining_lock("m1"):
                order.append("a in")
                await asyncio.sleep(0.3)
                order.append("a out")

        async def wait() -> None:
            await asyncio.sleep(0.1)
            async with b.mining_lock("m1"):
                order.append("b in")
            async with b.mining_lock("m2"):  # another mining is not held up
                order.append("b m2")

        await asyncio.gather(hold(), wait())
        assert order == ["a in", "a out", "b in", "b m2"]
    finally:
        await first.close()
        await second.close()


# row level security -----------------------------------------------------------
async def test_every_main_table_has_rls_and_a_user_sees_only_own_rows(conn):
    main = await migrated(PostgresMainStore(conn))
    ((schema,),) = await fetchall(conn, "SELECT current_schema()")
    rls = dict(
        await fetchall(
            conn,
            "SELECT relname, relrowsecurity FROM pg_class WHERE relkind = 'r' AND relnamespace = %s::regnamespace",
            [schema],
        )
    )
    assert set(rls) == MAIN_TABLES and all(rls.values())
    await main.start_mining("ma", "user-a", "src")
    await main.start_mining("mb", "user-b", "src")
    await main.upsert_persons([RefinedPerson("user-a", "x@a.example"), RefinedPerson("user-b", "y@b.example")])
    await main.record_failures([FailedMessage(m, "INBOX", "1", "no header block") for m in ("ma", "mb")])
    assert len(await main.persons("user-a")) == 1 and len(await main.failures()) == 2  # the owner bypasses RLS

    role = f"lm_test_{uuid.uuid4().hex[:12]}"
    await conn.execute(f'CREATE ROLE "{role}" NOLOGIN')
    try:
        await conn.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
        await conn.execute(f'GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"')
        async with conn.transaction():
            await conn.execute(f'SET LOCAL ROLE "{role}"')
            assert await fetchall(conn, "SELECT count(*) FROM refined_persons") == [(0,)]  # no claim: nothing
            await conn.execute("SELECT set_config('request.jwt.claim.sub', 'user-a', true)")
            assert await fetchall(conn, "SELECT user_id, email FROM refined_persons") == [("user-a", "x@a.example")]
            assert await fetchall(conn, "SELECT id FROM minings") == [("ma",)]
            assert await fetchall(conn, "SELECT mining_id FROM failed_messages") == [("ma",)]
            assert await fetchall(conn, "SELECT count(*) FROM leadminer_schema_version") == [(0,)]
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
                await conn.execute("INSERT INTO user_identities (user_id, email) VALUES ('user-b', 'spoof@b.example')")
    finally:
        await conn.execute(f'DROP OWNED BY "{role}"')
        await conn.execute(f'DROP ROLE "{role}"')


async def _two_users(main) -> None:
    for user in ("user-a", "user-b"):
        await main.start_mining(f"m-{user}", user, "src")
        await main.upsert_persons([RefinedPerson(user, f"{n}@{user}.example", name=n, tags=["professional"]) for n in "xyz"])
        await main.record_failures([FailedMessage(f"m-{user}", "INBOX", "1", "no header block")])
        await main.add_identities(user, [f"me@{user}.example"])


async def test_as_user_reads_and_deletes_only_that_users_rows_whatever_id_is_passed(conn):
    main = await migrated(PostgresMainStore(conn))
    await _two_users(main)
    ((owner,),) = await fetchall(conn, "SELECT current_user")
    async with main.as_user("user-a") as store:
        assert await fetchall(conn, "SELECT current_user, auth.uid()") == [("authenticated", "user-a")]
        assert await store.persons_page("user-b") == ([], None)
        assert await store.persons_page("user-b", tags=["professional"], search="x") == ([], None)
        page, cursor = await store.persons_page("user-a", limit=2)
        assert [p.email for p in page] == ["x@user-a.example", "y@user-a.example"] and cursor
        assert [p.email for p in (await store.persons_page("user-a", after=cursor))[0]] == ["z@user-a.example"]
        assert await store.person("user-b", "x@user-b.example") is None
        assert await store.person("user-a", "x@user-a.example") is not None
        assert await store.persons("user-b") == [] and await store.persons_for_export("user-b") == []
        assert await store.persons_for_export("user-b", ["x@user-b.example"]) == []
        assert [m["id"] for m in await store.minings()] == ["m-user-a"]
        assert await store.minings(user_id="user-b") == [] and await store.mining("m-user-b") is None
        assert [f.mining_id for f in await store.failures()] == ["m-user-a"]
        assert await store.identities("user-b") == set()
        assert set((await store.delete_user("user-b")).values()) == {0}
    assert await fetchall(conn, "SELECT current_user, auth.uid()") == [(owner, None)]  # the role ended with the block
    assert len(await main.persons("user-b")) == 3 and len(await main.minings()) == 2  # nothing of B's went

    with pytest.raises(psycopg.errors.InsufficientPrivilege):  # reads and deletes only
        async with main.as_user("user-a") as store:
            await store.upsert_persons([RefinedPerson("user-a", "new@user-a.example")])
    assert await main.person("user-a", "new@user-a.example") is None

    async with main.as_user("user-a") as store:
        counts = await store.delete_user("user-a")
    assert counts["refined_persons"] == 3 and counts["minings"] == 1 and counts["failed_messages"] == 1
    assert await main.persons("user-a") == [] and await main.minings(user_id="user-a") == []
    assert len(await main.persons("user-b")) == 3 and [m["id"] for m in await main.minings()] == ["m-user-b"]


async def test_a_non_owner_login_role_sees_only_the_rows_of_its_claims(conn, postgres_dsn):
    main = await migrated(PostgresMainStore(conn))
    await _two_users(main)
    role = f"lm_test_{uuid.uuid4().hex[:12]}"
    await conn.execute(f"CREATE ROLE \"{role}\" LOGIN PASSWORD 'lm-test' IN ROLE authenticated")
    try:
        other = await connect(f"{postgres_dsn} user={role} password=lm-test")
        try:
            store = PostgresMainStore(other)
            assert await store.persons("user-a") == [] and await store.minings() == []  # no claims: nothing
            await other.execute("SELECT set_config('request.jwt.claim.sub', 'user-b', false)")
            assert await store.persons_page("user-a") == ([], None)
            assert [p.email for p in (await store.persons_page("user-b"))[0]] == [f"{n}@user-b.example" for n in "xyz"]
            assert [m["id"] for m in await store.minings()] == ["m-user-b"]
            async with store.as_user("user-a") as as_a:  # claims are trusted: the API sets them from a checked JWT
                assert [m["id"] for m in await as_a.minings()] == ["m-user-a"]
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                await store.add_identities("user-b", ["spoof@user-b.example"])
        finally:
            await other.close()
    finally:
        await conn.execute(f'DROP OWNED BY "{role}"')
        await conn.execute(f'DROP ROLE "{role}"')


# big minings, odd text ------------------------------------------------------------
async def test_iter_messages_pages_through_a_big_mining_in_date_order(conn):
    store = await migrated(PostgresTempStore(conn))
    records = [record(f"id{i:05d}", f"2024-01-{1 + (i * 7919) % 28:02d}T{i % 24:02d}:00:00+00:00") for i in range(2_500)]
    records.append(record("nodate", None))
    assert await store.add_messages("big", records) == 2_501
    got = await collect(store.iter_messages("big", with_body=False, page=400))
    assert len(got) == 2_501 and len({r.message_id for r in got}) == 2_501
    assert got[0].message_id == "nodate"
    keys = [(r.date or "", r.message_id) for r in got]
    assert keys == sorted(keys)
    assert all([p.field for p in r.points] == [Field.FROM, Field.TO, Field.CC] for r in got)


async def test_nul_characters_are_stored_as_replacement_and_ids_still_match(conn):
    temp, main = await migrated(PostgresTempStore(conn)), await migrated(PostgresMainStore(conn))
    odd = record("x\x00y@e", "2024-01-01T00:00:00+00:00")
    odd.subject, odd.body, odd.headers = "hi\x00there", "body\x00", {"list-id": "<a\x00b>"}
    assert await temp.add_messages("m1", [odd]) == 1
    (back,) = await collect(temp.iter_messages("m1"))
    assert (back.message_id, back.subject, back.body, back.headers) == (
        "x\ufffdy@e", "hi\ufffdthere", "body\ufffd", {"list-id": "<a\ufffdb>"},
    )  # fmt: skip
    await main.start_mining("m1", "u", "src")
    await main.index_messages("u", "m1", [IndexedMessage(back.message_id, back.message_id, None, None, False, None, [])], [])
    await main.finish_mining("m1", "done", {})
    # the next mining extracts the original id again: it is recognised as mined
    assert await main.known_message_ids("u", ["x\x00y@e"]) == {"x\x00y@e"}
    assert set(await main.lookup_threads("u", ["x\x00y@e"])) == {"x\x00y@e"}


async def test_dsn_password_is_redacted_and_settings_are_required():
    assert redact("postgresql://lm:s3cret@db:5432/leadminer") == "postgresql://lm:***@db:5432/leadminer"
    assert redact("host=db user=lm password=s3cret dbname=x") == "host=db user=lm password=*** dbname=x"
    assert redact("postgresql://db/leadminer") == "postgresql://db/leadminer"
    with pytest.raises(SettingsError, match="LEADMINER_TEMP_DATABASE_URL and LEADMINER_DATABASE_URL"):
        async with postgres_stores(Settings(storage_mode="postgresql")):
            pass


async def test_postgres_stores_migrate_or_only_check(postgres_dsn):
    settings = Settings(storage_mode="postgresql", temp_database_url=postgres_dsn, database_url=postgres_dsn)
    with pytest.raises(SchemaVersionError, match="never migrated"):
        async with postgres_stores(settings, migrate=False):
            pass
    async with postgres_stores(settings) as (temp, main):
        await temp.check_schema()
        await main.check_schema()
        await main.start_mining("m1", "u", "src")
        assert await temp.mining_ids() == [] and (await main.mining("m1"))["status"] == "running"


async def test_a_killed_session_is_waited_out_and_the_store_goes_on(postgres_dsn):
    """pg_terminate_backend (what a restart or a network cut does): the call that meets the dead
    session is StoreUnavailable, and the next one reconnects."""
    settings = Settings(storage_mode="postgresql", temp_database_url=postgres_dsn, database_url=postgres_dsn)
    async with postgres_stores(settings) as (temp, main):
        await main.start_mining("m1", "u", "src")
        pid = (await (await main.conn.execute("SELECT pg_backend_pid()")).fetchone())[0]
        with admin() as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", [pid])
        with pytest.raises(StoreUnavailable, match="lost"):
            await main.mining("m1")
        assert (await main.mining("m1"))["status"] == "running"  # reconnected


async def test_connection_errors_never_show_the_password():
    with pytest.raises(ConnectionError) as caught:
        await connect("postgresql://lm:s3cret@127.0.0.1:1/leadminer?connect_timeout=2")
    assert "s3cret" not in str(caught.value) and "***" in str(caught.value)


# the flow end to end ------------------------------------------------------------
ME = "me@home.example"


def mail(n: int, sender: str, to: str, date: str, body: str, *, reply_to_n: int | None = None, extra: str = "") -> bytes:
    headers = [
        f"From: {sender}",
        f"To: {to}",
        f"Date: {date}",
        f"Message-ID: <{n}@mail.example>",
        f"Subject: message {n}",
    ]
    if reply_to_n is not None:
        headers += [f"In-Reply-To: <{reply_to_n}@mail.example>", f"References: <{reply_to_n}@mail.example>"]
    if extra:
        headers.append(extra)
    return ("\r\n".join(headers) + "\r\n\r\n" + body.replace("\n", "\r\n")).encode()


MAILS = [
    mail(1, "Ann Lee <ann@acme.example>", f"Me <{ME}>", "Mon, 01 Apr 2024 09:00:00 +0000",
         "Hello,\nshall we meet?\n\n--\nAnn Lee\nCTO, Acme Corp\n+1 555 555 0100\n"),
    mail(2, f"Me <{ME}>", "Ann Lee <ann@acme.example>, bob@acme.example", "Mon, 01 Apr 2024 10:00:00 +0000",
         "Yes, Tuesday.\n", reply_to_n=1),
    mail(3, "Bob Stone <bob@acme.example>", f"{ME}", "Tue, 02 Apr 2024 08:00:00 +0000",
         "Count me in.\n\nBob Stone\nSales Director\n", reply_to_n=2),
    mail(4, "Deals <news@shop.example>", f"{ME}", "Wed, 03 Apr 2024 08:00:00 +0000",
         "Big sale!\n", extra="List-Unsubscribe: <mailto:unsub@shop.example>\r\nPrecedence: bulk"),
    mail(5, "noreply@bank.example", f"{ME}", "Thu, 04 Apr 2024 08:00:00 +0000", "Your statement is ready.\n"),
    mail(6, "Ann Lee <ann+work@acme.example>", f"{ME}, Carol <carol@partner.example>", "Fri, 05 Apr 2024 08:00:00 +0000",
         "Minutes attached.\n\n--\nAnn Lee\nCTO, Acme Corp\n", reply_to_n=3),
]  # fmt: skip



async def mine_twice(services) -> list[RefinedPerson]:
    """Two minings through the flow: the first half of the mail, then all of it (incremental,
    re-mined mail skipped)."""
    flow = MiningFlow(services)
    worker = StageWorker(flow, batch=16)
    for mails in (MAILS[:3], MAILS):
        mining_id = await flow.start(user_id="local", source="test", identities=[ME])
        raws = [RawMessage("", "INBOX", str(i), data) for i, data in enumerate(mails)]
        await flow.fetch(mining_id, ListSource(raws), on_batch=lambda _p: worker.drain())
        await worker.drain()
        assert (await services.main.mining(mining_id))["status"] == "done"
    return await services.main.persons("local")


async def test_the_flow_over_postgres_gives_the_same_persons_as_over_sqlite(postgres_dsn):
    async with memory_services() as services:
        expected = await mine_twice(services)
    conn = await connect(postgres_dsn)
    try:
        temp, main = PostgresTempStore(conn), PostgresMainStore(conn)
        for store in (temp, main):
            await store.migrate()
        got = await mine_twice(MiningServices(temp=temp, ledger=temp, raw=temp, main=main, queues=in_process_queues()))
    finally:
        await conn.close()
    assert {p.email for p in expected} >= {"ann@acme.example", "bob@acme.example", "carol@partner.example"}
    assert any(p.job_title for p in expected)  # the signature stage found something to compare
    assert got == expected
