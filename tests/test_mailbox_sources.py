"""The stored mailboxes (``mining_sources``): SQLite, PostgreSQL and the Supabase functions
through PostgREST (the Cloudflare mode's), passwords encrypted at rest,
the schema upgrade 1 → 2, and the settings that key the encryption."""

from __future__ import annotations

import subprocess

import pytest
from cryptography.fernet import Fernet

from leadminer.adapters.sqlite import SqliteMainStore, connect
from leadminer.schemas import SCHEMA_VERSIONS, SchemaVersionError
from leadminer.settings import Settings, SettingsError
from leadminer_runner.mailbox_sources import MailboxSource, SecretBox, SecretError, postgres_sources, sqlite_sources
from leadminer.adapters.postgrest import PostgrestMailboxTable
from leadminer.mailboxes import MailboxSourceStore
from pg import postgres_database, postgres_dsn  # noqa: F401 - fixtures
from test_storage_contract import _postgrest_store as _postgrest_stack

PASSWORD = "S3cret-pässword-0123456789"
SOURCE = MailboxSource("Ann@Example.com", "imap.example.com", 993, "ssl", "ann@example.com")
KEY = Fernet.generate_key().decode()


@pytest.fixture(params=["sqlite", "postgres", "postgrest"])
async def backend(request, tmp_path):
    """(store, dump): a sources store over a migrated main database, and a function that
    returns every byte of that database (file, or every row of every table as text)."""
    secrets = SecretBox([KEY])
    if request.param == "sqlite":
        path = tmp_path / "main.db"
        conn = connect(path)
        await SqliteMainStore(conn).migrate()

        async def dump() -> bytes:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return path.read_bytes() + "\n".join(conn.iterdump()).encode()

        yield sqlite_sources(conn, secrets), dump
        conn.close()
    else:
        from leadminer_runner.postgres import PostgresMainStore, connect as pg_connect

        conn = await pg_connect(request.getfixturevalue("postgres_dsn"))
        await PostgresMainStore(conn).migrate()

        async def dump() -> bytes:
            cur = await conn.execute(
                "SELECT string_agg(t::text, E'\\n') FROM (SELECT row_to_json(s)::text AS t FROM mining_sources s) t"
            )
            return ((await cur.fetchone())[0] or "").encode()

        if request.param == "postgres":
            yield postgres_sources(conn, secrets), dump
        else:  # the Supabase functions (main_api.sql) through the local PostgREST endpoint, as the Workers call them
            main, endpoint = await _postgrest_stack(request.getfixturevalue("postgres_dsn"))
            yield MailboxSourceStore(PostgrestMailboxTable(main), secrets), dump
            await endpoint.close()
        await conn.close()


async def test_save_list_get_delete_without_secrets(backend):
    store, dump = backend
    saved = await store.save("u1", SOURCE, PASSWORD)
    assert saved.email == "ann@example.com" and saved.login == "ann@example.com" and saved.created_at
    await store.save("u1", MailboxSource("bob@example.org", "mail.example.org", 143, "starttls", "bob"), "other-pw")
    await store.save("u2", SOURCE, "u2-password")

    listed = await store.list("u1")
    assert [s.email for s in listed] == ["ann@example.com", "bob@example.org"]
    assert all(PASSWORD not in repr(s) and PASSWORD not in str(s.to_json()) for s in listed)
    assert listed[0].to_json()["secure"] is True and listed[1].label == "imap://bob@mail.example.org:143"

    source, password = await store.get("u1", "ANN@example.com")
    assert password == PASSWORD and source.host == "imap.example.com" and source.port == 993
    assert (await store.get("u2", "ann@example.com"))[1] == "u2-password"  # each user their own
    assert await store.get("u1", "nobody@example.com") is None

    again = await store.save("u1", MailboxSource("ann@example.com", "imap2.example.com", 993, "ssl", "ann"), "new-pw")
    assert again.created_at == saved.created_at and again.host == "imap2.example.com"
    assert (await store.get("u1", "ann@example.com"))[1] == "new-pw"

    assert await store.delete("u1", "bob@example.org") is True
    assert await store.delete("u1", "bob@example.org") is False
    assert [s.email for s in await store.list("u1")] == ["ann@example.com"]
    assert await store.delete_user("u1") == 1
    assert await store.list("u1") == [] and len(await store.list("u2")) == 1


async def test_the_password_is_in_no_row_in_clear(backend):
    store, dump = backend
    await store.save("u1", SOURCE, PASSWORD)
    data = await dump()
    assert b"imap.example.com" in data  # the dump does hold the row
    assert PASSWORD.encode() not in data and PASSWORD.encode("latin-1", "replace") not in data
    assert "pässword".encode() not in data


async def test_rotated_keys_still_decrypt_and_a_lost_key_is_a_clear_error(backend):
    store, _dump = backend
    await store.save("u1", SOURCE, PASSWORD)
    new = Fernet.generate_key().decode()
    store._secrets = SecretBox([new, KEY])  # rotation: a new key first, the old one after
    assert (await store.get("u1", SOURCE.email))[1] == PASSWORD
    store._secrets = SecretBox([new])  # the old key dropped too early
    with pytest.raises(SecretError, match="cannot be decrypted with LEADMINER_SECRET_KEY") as info:
        await store.get("u1", SOURCE.email)
    assert PASSWORD not in str(info.value)


def test_settings_read_the_secret_key_and_the_spool_dir():
    second = Fernet.generate_key().decode()
    settings = Settings.from_env({"LEADMINER_SECRET_KEY": f" {KEY} ,{second}", "LEADMINER_SPOOL_DIR": "/srv/spool"})
    assert settings.secret_keys == (KEY, second) and settings.spool_dir == "/srv/spool"
    assert KEY not in repr(settings)
    assert SecretBox.from_settings(settings).decrypt(SecretBox([second]).encrypt("x")) == "x"
    with pytest.raises(SettingsError, match="LEADMINER_SECRET_KEY is needed.*Fernet.generate_key"):
        Settings.from_env({}).require_secret_keys()
    with pytest.raises(SettingsError, match="LEADMINER_SPOOL_DIR"):
        Settings.from_env({}).require_spool_dir()
    for bad in ("not-a-key", KEY[:-4], "é" * 44):
        with pytest.raises(SettingsError, match="key 2 of 2 is not a Fernet key") as info:
            Settings.from_env({"LEADMINER_SECRET_KEY": f"{KEY},{bad}"})
        assert bad not in str(info.value)


def test_the_core_does_not_import_cryptography():
    code = "import sys, leadminer.settings, leadminer.flow, leadminer.adapters.sqlite; print('cryptography' in sys.modules)"
    assert subprocess.run([__import__("sys").executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


# --------------------------------------------------------------------------- schema 1 → 2


async def test_a_version_1_sqlite_database_is_upgraded_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.db"
    conn = connect(path)
    main = SqliteMainStore(conn)
    await main.migrate()
    await main.start_mining("m1", "u1", "old.mbox")
    conn.execute("DROP TABLE mining_sources")  # what schema 1 had
    conn.execute("PRAGMA user_version = 1")
    with pytest.raises(SchemaVersionError, match=r"older version of leadminer \(schema 1.*leadminer db migrate"):
        await SqliteMainStore(conn).check_schema()
    await SqliteMainStore(conn).migrate()
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSIONS["sqlite/main.sql"] == 2
    assert (await main.mining("m1"))["source"] == "old.mbox"
    await sqlite_sources(conn, SecretBox([KEY])).save("u1", SOURCE, PASSWORD)
    conn.close()


async def test_a_version_1_postgres_database_is_upgraded_and_keeps_its_rows(postgres_dsn):  # noqa: F811
    from leadminer_runner.postgres import PostgresMainStore, connect as pg_connect

    conn = await pg_connect(postgres_dsn)
    try:
        main = PostgresMainStore(conn)
        await main.migrate()
        await main.start_mining("m1", "u1", "old.mbox")
        await conn.execute("DROP TABLE mining_sources")
        await conn.execute("DROP FUNCTION lm_history_page")  # and the whole-history read of versions 3 and 4
        await conn.execute("CREATE FUNCTION lm_history(p_user_id text, p_keys jsonb) RETURNS jsonb LANGUAGE sql AS 'SELECT null::jsonb'")
        await conn.execute("UPDATE leadminer_schema_version SET version = 1 WHERE component = 'main'")
        with pytest.raises(SchemaVersionError, match="leadminer db migrate"):
            await main.check_schema()
        await PostgresMainStore(conn).migrate()
        cur = await conn.execute("SELECT version FROM leadminer_schema_version WHERE component = 'main'")
        assert (await cur.fetchone())[0] == SCHEMA_VERSIONS["postgres/main.sql"] == 5
        cur = await conn.execute("SELECT array_agg(proname ORDER BY proname) FROM pg_proc WHERE proname LIKE 'lm_history%'")
        assert (await cur.fetchone())[0] == ["lm_history_page"]
        assert (await main.mining("m1"))["source"] == "old.mbox"
        cur = await conn.execute("SELECT relrowsecurity FROM pg_class WHERE oid = 'mining_sources'::regclass")
        assert (await cur.fetchone())[0] is True
        cur = await conn.execute("SELECT qual FROM pg_policies WHERE tablename = 'mining_sources'")
        assert "auth.uid()" in (await cur.fetchone())[0]
        await postgres_sources(conn, SecretBox([KEY])).save("u1", SOURCE, PASSWORD)
    finally:
        await conn.close()


async def test_the_services_factory_builds_the_store_and_the_workers_opener(tmp_path):
    from leadminer_runner.services import mailbox_sources, source_opener
    from leadminer_runner.sources import SourceSpecError

    conn = connect(tmp_path / "main.db")
    main = SqliteMainStore(conn)
    await main.migrate()
    settings = Settings.from_env({"LEADMINER_SECRET_KEY": KEY, "LEADMINER_SPOOL_DIR": str(tmp_path)})
    await mailbox_sources(settings, main).save("u1", SOURCE, PASSWORD)
    assert (await sqlite_sources(conn, SecretBox([KEY])).get("u1", SOURCE.email))[1] == PASSWORD
    assert source_opener(settings, main).spool_dir == tmp_path.resolve()
    with pytest.raises(SettingsError, match="LEADMINER_SECRET_KEY"):
        mailbox_sources(Settings.from_env({}), main)
    with pytest.raises(SourceSpecError, match="LEADMINER_SECRET_KEY"):  # a worker without the key
        await source_opener(Settings.from_env({}), main).open("u1", {"kind": "imap", "email": SOURCE.email})
    conn.close()
