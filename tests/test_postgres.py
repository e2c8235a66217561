"""PostgreSQL adapters (self-host mode): what the contract tests cannot see —
schema versions, row level security, paging of big minings, NUL characters,
and the stage handlers run end to end over Postgres vs SQLite."""

from __future__ import annotations

import uuid

import pytest

from leadminer.adapters.sqlite import SchemaVersionError, SqliteMainStore, SqliteTempStore
from leadminer.adapters.sqlite import connect as sqlite_connect
from leadminer.contracts import FailedMessage, Field, MessageRecord, PointOfContact, RawMessage, RefinedPerson
from leadminer.stages import MiningContext, handle_clean, handle_extract, handle_refine, handle_signatures
from leadminer.storage import IndexedMessage
from pg import admin, postgres_database, postgres_dsn  # noqa: F401 - fixtures

psycopg = pytest.importorskip("psycopg")

from leadminer_runner.postgres import (  # noqa: E402
    MAIN_SCHEMA_VERSION,
    PostgresMainStore,
    PostgresTempStore,
    connect,
    redact,
    stores_from_env,
)

MAIN_TABLES = {
    "leadminer_schema_version", "minings", "fetch_state", "failed_messages", "user_identities", "message_index",
    "occurrences", "refined_persons",
}  # fmt: skip


@pytest.fixture
def conn(postgres_dsn):
    connection = connect(postgres_dsn)
    yield connection
    connection.close()


def record(mid: str, date: str | None, mining: str = "m1") -> MessageRecord:
    return MessageRecord(
        mining_id=mining, message_id=mid, folder="INBOX", uid=mid, date=date, subject="s", in_reply_to=None,
        references=[], points=[PointOfContact(mid, Field.FROM, f"a{mid}@x.example", "A"),
                               PointOfContact(mid, Field.TO, "b@y.example", None),
                               PointOfContact(mid, Field.CC, "c@y.example", None)],
        body="Hi",
    )  # fmt: skip


# schema versions ------------------------------------------------------------
def test_main_schema_is_applied_once_then_reopened(conn):
    PostgresMainStore(conn)
    PostgresMainStore(conn)  # reopening the current version is fine
    tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}
    assert tables == MAIN_TABLES


def test_main_schema_of_another_version_is_refused(conn):
    PostgresMainStore(conn)
    conn.execute("UPDATE leadminer_schema_version SET version = %s WHERE component = 'main'", [MAIN_SCHEMA_VERSION + 1])
    with pytest.raises(SchemaVersionError, match="another version of leadminer"):
        PostgresMainStore(conn)


def test_main_tables_without_a_version_are_refused(conn):
    conn.execute("CREATE TABLE message_index (user_id text, message_id text)")  # an older layout, version 0
    with pytest.raises(SchemaVersionError, match="schema 0, this one needs"):
        PostgresMainStore(conn)


def test_temp_tables_of_another_version_are_dropped(conn):
    conn.execute("CREATE TABLE mining_messages (mining_id text, message_id text)")
    store = PostgresTempStore(conn)
    store.add_messages("m1", [record("1", None)])
    assert [r.message_id for r in store.iter_messages("m1")] == ["1"]
    PostgresTempStore(conn)  # same version: rows are kept
    assert store.mining_ids() == ["m1"]


def test_temp_tables_are_unlogged(conn):
    PostgresTempStore(conn)
    rows = conn.execute(
        "SELECT relname, relpersistence FROM pg_class WHERE relkind = 'r' AND relname LIKE 'mining%%' "
        "AND relnamespace = current_schema()::regnamespace"
    ).fetchall()
    assert len(rows) == 9 and {p for _, p in rows} == {"u"}


# row level security -----------------------------------------------------------
def test_every_main_table_has_rls_and_a_user_sees_only_own_rows(conn):
    main = PostgresMainStore(conn)
    schema = conn.execute("SELECT current_schema()").fetchone()[0]
    rls = dict(
        conn.execute(
            "SELECT relname, relrowsecurity FROM pg_class WHERE relkind = 'r' AND relnamespace = %s::regnamespace",
            [schema],
        ).fetchall()
    )
    assert set(rls) == MAIN_TABLES and all(rls.values())
    main.start_mining("ma", "user-a", "src")
    main.start_mining("mb", "user-b", "src")
    main.upsert_persons([RefinedPerson("user-a", "x@a.example"), RefinedPerson("user-b", "y@b.example")])
    main.record_failures([FailedMessage(m, "INBOX", "1", "no header block") for m in ("ma", "mb")])
    assert len(main.persons("user-a")) == 1 and len(main.failures()) == 2  # the owner bypasses RLS

    role = f"lm_test_{uuid.uuid4().hex[:12]}"
    conn.execute(f'CREATE ROLE "{role}" NOLOGIN')
    try:
        conn.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
        conn.execute(f'GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"')
        with conn.transaction():
            conn.execute(f'SET LOCAL ROLE "{role}"')
            assert conn.execute("SELECT count(*) FROM refined_persons").fetchone()[0] == 0  # no claim: nothing
            conn.execute("SELECT set_config('request.jwt.claim.sub', 'user-a', true)")
            assert conn.execute("SELECT user_id, email FROM refined_persons").fetchall() == [("user-a", "x@a.example")]
            assert conn.execute("SELECT id FROM minings").fetchall() == [("ma",)]
            assert conn.execute("SELECT mining_id FROM failed_messages").fetchall() == [("ma",)]
            assert conn.execute("SELECT count(*) FROM leadminer_schema_version").fetchone()[0] == 0
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
                conn.execute("INSERT INTO user_identities (user_id, email) VALUES ('user-b', 'spoof@b.example')")
    finally:
        conn.execute(f'DROP OWNED BY "{role}"')
        conn.execute(f'DROP ROLE "{role}"')


# big minings, odd text ------------------------------------------------------------
def test_iter_messages_pages_through_a_big_mining_in_date_order(conn):
    store = PostgresTempStore(conn)
    records = [record(f"id{i:05d}", f"2024-01-{1 + (i * 7919) % 28:02d}T{i % 24:02d}:00:00+00:00") for i in range(2_500)]
    records.append(record("nodate", None))
    assert store.add_messages("big", records) == 2_501
    got = list(store.iter_messages("big", with_body=False, page=400))
    assert len(got) == 2_501 and len({r.message_id for r in got}) == 2_501
    assert got[0].message_id == "nodate"
    keys = [(r.date or "", r.message_id) for r in got]
    assert keys == sorted(keys)
    assert all([p.field for p in r.points] == [Field.FROM, Field.TO, Field.CC] for r in got)


def test_nul_characters_are_stored_as_replacement_and_ids_still_match(conn):
    temp, main = PostgresTempStore(conn), PostgresMainStore(conn)
    odd = record("x\x00y@e", "2024-01-01T00:00:00+00:00")
    odd.subject, odd.body, odd.headers = "hi\x00there", "body\x00", {"list-id": "<a\x00b>"}
    assert temp.add_messages("m1", [odd]) == 1
    (back,) = temp.iter_messages("m1")
    assert (back.message_id, back.subject, back.body, back.headers) == (
        "x\ufffdy@e", "hi\ufffdthere", "body\ufffd", {"list-id": "<a\ufffdb>"},
    )  # fmt: skip
    main.start_mining("m1", "u", "src")
    main.index_messages("u", "m1", [IndexedMessage(back.message_id, back.message_id, None, None, False, None, [])], [])
    main.finish_mining("m1", "done", {})
    # the next mining extracts the original id again: it is recognised as mined
    assert main.known_message_ids("u", ["x\x00y@e"]) == {"x\x00y@e"}
    assert set(main.lookup_threads("u", ["x\x00y@e"])) == {"x\x00y@e"}


def test_dsn_password_is_redacted_and_env_is_required():
    assert redact("postgresql://lm:s3cret@db:5432/leadminer") == "postgresql://lm:***@db:5432/leadminer"
    assert redact("host=db user=lm password=s3cret dbname=x") == "host=db user=lm password=*** dbname=x"
    assert redact("postgresql://db/leadminer") == "postgresql://db/leadminer"
    with pytest.raises(RuntimeError, match="LEADMINER_TEMP_DATABASE_URL and LEADMINER_DATABASE_URL"):
        stores_from_env({})


def test_connection_errors_never_show_the_password():
    with pytest.raises(ConnectionError) as caught:
        connect("postgresql://lm:s3cret@127.0.0.1:1/leadminer?connect_timeout=2")
    assert "s3cret" not in str(caught.value) and "***" in str(caught.value)


# the stages end to end ------------------------------------------------------------
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


def mine_twice(temp, main) -> list[RefinedPerson]:
    """Two minings: the first half of the mail, then all of it (incremental, re-mined mail skipped)."""
    for mining_id, mails in (("m1", MAILS[:3]), ("m2", MAILS)):
        ctx = MiningContext(mining_id, "local", temp, main, [ME])
        main.start_mining(mining_id, "local", "test")
        raws = [RawMessage(mining_id, "INBOX", str(i), data) for i, data in enumerate(mails)]
        handle_extract(ctx, raws)
        handle_clean(ctx)
        handle_signatures(ctx)
        handle_refine(ctx)
        main.finish_mining(mining_id, "done", {})
        temp.drop_mining(mining_id)
    return main.persons("local")


def test_stages_over_postgres_give_the_same_persons_as_over_sqlite(conn, tmp_path):
    sqlite_main, sqlite_temp = sqlite_connect(tmp_path / "main.db"), sqlite_connect(tmp_path / "temp.db")
    expected = mine_twice(SqliteTempStore(sqlite_temp), SqliteMainStore(sqlite_main))
    sqlite_main.close()
    sqlite_temp.close()
    got = mine_twice(PostgresTempStore(conn), PostgresMainStore(conn))
    assert {p.email for p in expected} >= {"ann@acme.example", "bob@acme.example", "carol@partner.example"}
    assert any(p.job_title for p in expected)  # the signature stage found something to compare
    assert got == expected
