"""The Supabase main store through the local PostgREST endpoint: row level security by token,
refused tokens, PostgREST's errors, and the same persons as the psycopg adapter."""

from __future__ import annotations

import dataclasses
import time

import pytest

from asgi_transport import AsgiTransport
from leadminer.adapters.postgrest import PostgrestMainStore
from leadminer.contracts import RefinedPerson
from leadminer.storage import StoreUnavailable
from leadminer_runner import postgres
from leadminer_runner.local_postgrest import LocalPostgrest
from pg import postgres_database, postgres_dsn  # noqa: F401 - fixtures
from test_storage_contract import JWT_SECRET, _postgrest_store, crowd, jwt_for


@pytest.fixture
async def stack(postgres_dsn):
    """A service-role store with two users' rows, and a maker of stores for other tokens."""
    store, closing = await _postgrest_store(postgres_dsn)
    for user in ("alice", "bob"):
        await store.start_mining(f"m-{user}", user, f"{user}.mbox")
        await store.upsert_persons(crowd(user, 5))
    endpoints = []

    def as_token(token: str) -> PostgrestMainStore:
        endpoint = LocalPostgrest(postgres_dsn, JWT_SECRET)
        endpoints.append(endpoint)
        return PostgrestMainStore("http://supabase.local", jwt_for("anon"), AsgiTransport(endpoint.app), token=token)

    yield store, as_token
    for endpoint in endpoints:
        await endpoint.close()
    await closing.close()


async def test_a_user_token_reads_only_its_own_rows(stack):
    _, as_token = stack
    alice = as_token(jwt_for("authenticated", "alice"))
    assert {p.user_id for p in await alice.persons("alice")} == {"alice"}
    assert len(await alice.persons("alice")) == 5
    assert await alice.persons("bob") == []  # asked for, but not alice's: invisible
    assert [m["id"] for m in await alice.minings()] == ["m-alice"]
    assert await alice.mining("m-bob") is None


async def test_a_user_token_cannot_write_nor_delete_another_users_rows(stack):
    service, as_token = stack
    alice = as_token(jwt_for("authenticated", "alice"))
    with pytest.raises(PermissionError, match="42501|permission denied|row-level security"):
        await alice.upsert_persons([RefinedPerson("bob", "x@example.com")])
    with pytest.raises(PermissionError):
        await alice.start_mining("m2", "bob", "evil")
    assert (await alice.delete_user("bob"))["refined_persons"] == 0
    assert len(await service.persons("bob")) == 5
    assert (await alice.delete_user("alice"))["refined_persons"] == 5
    assert await service.persons("alice") == []


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda: jwt_for("service_role").rsplit(".", 1)[0] + ".forged", id="forged"),
        pytest.param(lambda: jwt_for("service_role", exp=int(time.time()) - 60), id="expired"),
        pytest.param(lambda: __import__("jwt").encode({"role": "service_role"}, "another secret of 32 bytes!!!!!!"), id="other-secret"),
        pytest.param(lambda: jwt_for("postgres"), id="unknown-role"),
    ],
)
async def test_a_bad_token_is_refused_with_401(stack, token):
    _, as_token = stack
    with pytest.raises(PermissionError, match="HTTP 401.*JWT"):
        await as_token(token()).persons("alice")


async def test_postgrest_errors_are_shown_and_a_dead_database_is_unavailable(stack, postgres_dsn):
    service, _ = stack
    answer = await service.transport.request("POST", "http://supabase.local/rest/v1/rpc/pg_sleep", body=b"{}")
    assert answer.status == 404 and answer.json()["code"] == "PGRST202"
    answer = await service.transport.request(
        "POST", "http://supabase.local/rest/v1/rpc/lm_persons", body=b'{"p_nope": 1}',
        headers={"Authorization": f"Bearer {jwt_for('service_role')}"},
    )  # fmt: skip
    assert answer.status == 404 and "arguments" in answer.json()["message"]
    dead = LocalPostgrest("host=127.0.0.1 port=1 dbname=none connect_timeout=2", JWT_SECRET)
    store = PostgrestMainStore("http://supabase.local", jwt_for("service_role"), AsgiTransport(dead.app))
    with pytest.raises(StoreUnavailable, match="HTTP 503"):
        await store.persons("alice")


async def test_the_same_persons_as_through_psycopg(postgres_dsn):
    """Parity: the same writes through PostgREST and through the psycopg adapter read back the same."""
    rest, closing = await _postgrest_store(postgres_dsn)
    direct = postgres.PostgresMainStore(await postgres.connect(postgres_dsn))
    try:
        people = crowd("u", 60)
        people[3].name = "Nul\x00Name"  # scrubbed the same way by both
        await rest.upsert_persons(people)  # user "u"
        await direct.upsert_persons([dataclasses.replace(p, user_id="direct") for p in people])
        await rest.update_temperatures("u", {people[0].email: 99})
        await direct.update_temperatures("direct", {people[0].email: 99})
        via_rest = await rest.persons_for_export("u")
        via_direct = await direct.persons_for_export("direct")
        assert len(via_rest) == 60
        assert [(p.email, p.temperature, p.name, p.tags) for p in via_rest] == [
            (p.email, p.temperature, p.name, p.tags) for p in via_direct
        ]
        assert await rest.persons_for_export("direct") == via_direct
    finally:
        await direct.conn.close()
        await closing.close()


async def test_a_user_token_never_reads_a_sealed_password_nor_another_users_mailboxes(stack, postgres_dsn):  # noqa: F811
    """The stored mailboxes (main_api.sql's lm_mailboxes): a user lists their own, never another's,
    and the sealed password leaves the database only for the service role, neither through the
    function nor through the table (which Supabase's PostgREST serves to a user's token)."""
    from leadminer.adapters.postgrest import PostgrestMailboxTable
    from leadminer.mailboxes import MailboxSource

    service, as_token = stack
    for user in ("alice", "bob"):
        source = MailboxSource(f"{user}@example.com", "imap.example.com", 993, "ssl", user)
        await PostgrestMailboxTable(service).upsert(user, source, f"v1.sealed-{user}", "2026-01-01T00:00:00+00:00")
    alice = PostgrestMailboxTable(as_token(jwt_for("authenticated", "alice")))
    assert [row[0] for row in await alice.select("alice")] == ["alice@example.com"]
    assert await alice.select("bob") == [] and await alice.select("bob", "bob@example.com") == []
    with pytest.raises(PermissionError, match="permission denied"):
        await alice.select("alice", secret=True)
    assert (await PostgrestMailboxTable(service).select("alice", secret=True))[0][7] == "v1.sealed-alice"

    conn = await postgres.connect(postgres_dsn)
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL ROLE authenticated")
            await conn.execute("SELECT set_config('request.jwt.claim.sub', 'alice', true)")
            cur = await conn.execute("SELECT email FROM mining_sources")
            assert [row[0] for row in await cur.fetchall()] == ["alice@example.com"]
        with pytest.raises(Exception, match="permission denied"):
            async with conn.transaction():
                await conn.execute("SET LOCAL ROLE authenticated")
                await conn.execute("SELECT password_ciphertext FROM mining_sources")
    finally:
        await conn.close()
