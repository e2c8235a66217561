"""The HTTP API (``leadminer_api``) over the self-host backend, on the session's real
PostgreSQL and Redis: auth, uploads, idempotency, SSE progress, stop, exports, rate limits,
health. Workers run in the test's own event loop over their own connections."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient

from leadminer.export import render
from leadminer.flow import MiningFlow, StageWorker
from leadminer.settings import Settings
from leadminer_runner.demo import generate_demo_mailbox
from leadminer_runner.services import selfhost_services
from pg import SERVER, admin, postgres_database  # noqa: F401 - fixtures

from leadminer_api.app import create_app
from leadminer_api.backend import IdempotencyConflict

SECRET = "test-secret-of-at-least-32-bytes-for-hs256"
TIMEOUT = 30.0


def token(user: str, *, secret: str = SECRET, expires_in: int = 600, audience: str = "authenticated") -> str:
    claims = {"sub": user, "aud": audience, "exp": int(time.time()) + expires_in, "role": "authenticated"}
    return jwt.encode(claims, secret, algorithm="HS256")


def auth(user: str, **options) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(user, **options)}"}


@pytest.fixture(scope="module")
def mailbox(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("mail") / "demo.mbox"
    generate_demo_mailbox(path, seed=5, messages=80)
    return path


@pytest.fixture
def settings(postgres_database, redis_url, tmp_path) -> Iterator[Settings]:  # noqa: F811 - fixture
    schemas = [f"t_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    with admin(postgres_database) as conn:
        for schema in schemas:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    dsn = [f"{SERVER} dbname={postgres_database} options='-c search_path={s}'" for s in schemas]
    yield Settings(
        storage_mode="postgresql", temp_database_url=dsn[0], database_url=dsn[1], redis_url=redis_url,
        queue_prefix=f"t{uuid.uuid4().hex[:12]}:", supabase_jwt_secret=SECRET, spool_dir=str(tmp_path / "spool"),
        upload_limit_mb=1.0, secret_keys=(Fernet.generate_key().decode(),),
    )  # fmt: skip
    with admin(postgres_database) as conn:
        for schema in schemas:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def client(settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def work_until_ended(settings: Settings, mining_id: str) -> dict:
    """A worker (its own connections, its own event loop) until the mining ended."""

    async def run() -> dict:
        async with selfhost_services(settings, consumer=uuid.uuid4().hex) as services:
            worker = StageWorker(MiningFlow(services))
            deadline = time.monotonic() + TIMEOUT
            while (mining := await services.main.mining(mining_id)) is not None and mining["status"] == "running":
                assert time.monotonic() < deadline, "the mining did not end in time"
                await worker.step()
            while await worker.step():  # what is left queued (of an ended mining: dropped)
                pass
            return mining or {"status": None}

    return asyncio.run(run())


def upload(client: TestClient, user: str, path: Path, **headers: str):
    with path.open("rb") as handle:
        return client.post(
            f"/api/imap/mine/file/{user}", files={"file": (path.name, handle, "application/mbox")}, headers={**auth(user), **headers}
        )


def sse_events(text: str) -> list[tuple[str, object]]:
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        events.append((fields["event"], json.loads(fields["data"])))
    return events


# ------------------------------------------------------------------------------------------------
def test_health_names_each_dependency_without_auth(client):
    response = client.get("/health")
    assert response.status_code == 200
    data = response.json()["data"]
    assert set(data["dependencies"]) == {"redis", "temp_db", "main_db"} and all(d["ok"] for d in data["dependencies"].values())
    assert data["version"]


def test_an_uploaded_mailbox_is_mined_by_a_worker_and_followed_over_sse(client, settings, mailbox):
    response = upload(client, "ann", mailbox)
    assert response.status_code == 202, response.text
    data = response.json()["data"]
    mining_id = data["miningId"]
    assert data["progressUrl"] == f"/api/imap/mine/file/{mining_id}/progress"
    listed = client.get("/api/imap/mine/ann", headers=auth("ann")).json()["data"]
    assert [m["miningId"] for m in listed] == [mining_id] and listed[0]["status"] == "running"

    assert work_until_ended(settings, mining_id)["status"] == "done"
    stream = client.get(data["progressUrl"], headers=auth("ann"))
    assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
    events = sse_events(stream.text)
    assert events[-1][0] == "mining-completed" and events[-1][1]["fetched"] == 80

    exported = client.post("/api/contacts/export/json", headers=auth("ann"), json={"exportAllContacts": True})
    assert exported.status_code == 200

    async def expected() -> str:
        async with selfhost_services(settings, consumer="check") as services:
            return render(await services.main.persons("ann"), "json")

    assert exported.text == asyncio.run(expected()) and len(json.loads(exported.text)) > 5


def test_sse_sends_growing_counters_while_running_and_resumes_after_last_event_id(client, settings, mailbox):
    mining_id = upload(client, "ann", mailbox).json()["data"]["miningId"]

    async def half_mined() -> None:  # the fetch and the extract, not the later stages
        async with selfhost_services(settings, consumer=uuid.uuid4().hex) as services:
            flow = MiningFlow(services)
            await flow.handle("fetch", (await services.queues["fetch"].receive(1))[0].body)
            while deliveries := await services.queues["extract"].receive(10):
                for delivery in deliveries:
                    await flow.handle("extract", delivery.body)
                    await services.queues["extract"].ack(delivery)

    asyncio.run(half_mined())
    url = f"/api/imap/mine/file/{mining_id}/progress"
    with client.stream("GET", url, headers=auth("ann")) as stream:
        lines = []
        for line in stream.iter_lines():
            lines.append(line)
            if line.startswith("data:") and any(f"extract-finished-{mining_id}" in x for x in lines):
                break
    text = "\n".join(lines) + "\n\n"
    names = [name for name, _ in sse_events(text)]
    assert f"fetched-{mining_id}" in names and f"extracted-{mining_id}" in names and f"fetch-finished-{mining_id}" in names
    last_id = [line.split(": ", 1)[1] for line in lines if line.startswith("id: ")][-1]
    assert work_until_ended(settings, mining_id)["status"] == "done"
    with TestClient(create_app(settings)) as another_process:  # the client reconnects elsewhere
        resumed = sse_events(another_process.get(url, headers={**auth("ann"), "Last-Event-ID": last_id}).text)
    assert resumed[-1][0] == "mining-completed"
    assert f"fetched-{mining_id}" not in [name for name, _ in resumed]  # already had it


@pytest.mark.parametrize("given, expected", [(None, True), ("false", False), ("true", True), ("maybe", 422)])
def test_an_uploads_extract_signatures_field_is_kept_with_its_mining(client, settings, mailbox, given, expected):
    """Leadminer's ``extractSignatures`` form field beside the file; anything but a boolean is a 422."""
    with mailbox.open("rb") as handle:
        response = client.post(
            "/api/imap/mine/file/ann", files={"file": (mailbox.name, handle, "application/mbox")},
            data={} if given is None else {"extractSignatures": given}, headers=auth("ann"),
        )  # fmt: skip
    if expected == 422:
        assert response.status_code == 422 and "extractSignatures" in response.json()["error"]["message"]
        assert not any(Path(settings.spool_dir).iterdir())  # nothing left behind
        return
    assert response.status_code == 202, response.text
    mining_id = response.json()["data"]["miningId"]

    async def options() -> dict:
        async with selfhost_services(settings, consumer="check") as services:
            return (await services.ledger.run(mining_id)).options

    assert asyncio.run(options()) == {"extract_signatures": expected}


def test_auth_is_required_checked_and_scoped_to_the_user(client, mailbox):
    assert client.get("/api/imap/mine/ann").status_code == 401
    expired = client.get("/api/imap/mine/ann", headers=auth("ann", expires_in=-10))
    assert expired.status_code == 401 and expired.json()["error"]["code"] == "token_expired"
    forged = client.get("/api/imap/mine/ann", headers=auth("ann", secret="another-secret-of-at-least-32-bytes!!"))
    assert forged.status_code == 401 and forged.json()["data"] is None
    wrong_audience = client.get("/api/imap/mine/ann", headers=auth("ann", audience="anon"))
    assert wrong_audience.status_code == 401
    assert client.get("/api/imap/mine/ann", headers=auth("bob")).status_code == 403
    mining_id = upload(client, "ann", mailbox).json()["data"]["miningId"]
    for path in (f"/api/imap/mine/file/{mining_id}", f"/api/imap/mine/file/{mining_id}/progress"):
        response = client.get(path, headers=auth("bob"))
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_an_upload_that_is_not_mail_or_too_large_is_refused_and_nothing_is_queued(client, settings, tmp_path):
    junk = tmp_path / "photo.jpg"
    junk.write_bytes(b"\xff\xd8\xff\xe0" + bytes(2000))
    response = upload(client, "ann", junk)
    assert response.status_code == 415 and "not a mailbox" in response.json()["error"]["message"]
    big = tmp_path / "big.mbox"
    big.write_bytes(b"From a@b Mon Jan  1 00:00:00 2024\nFrom: a@b.example\n\n" + b"x" * (2 * 1024 * 1024))
    response = upload(client, "ann", big)
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"
    assert client.get("/api/imap/mine/ann", headers=auth("ann")).json()["data"] == []
    assert list(Path(settings.spool_dir).iterdir()) == []  # nothing left in the spool


def test_the_same_idempotency_key_returns_the_same_mining_and_another_body_conflicts(client, mailbox, tmp_path):
    first = upload(client, "ann", mailbox, **{"Idempotency-Key": "k1"})
    again = upload(client, "ann", mailbox, **{"Idempotency-Key": "k1"})
    assert first.status_code == again.status_code == 202
    assert first.json()["data"]["miningId"] == again.json()["data"]["miningId"]
    other = tmp_path / "other.mbox"
    other.write_bytes(mailbox.read_bytes()[: len(mailbox.read_bytes()) // 2])
    conflict = upload(client, "ann", other, **{"Idempotency-Key": "k1"})
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "idempotency_conflict"
    assert len(client.get("/api/imap/mine/ann", headers=auth("ann")).json()["data"]) == 1


def test_stop_cancels_the_mining_and_its_queued_work(client, settings, mailbox):
    mining_id = upload(client, "ann", mailbox).json()["data"]["miningId"]
    stop = client.post(f"/api/imap/mine/file/ann/{mining_id}", headers=auth("ann"), json={"endEntireTask": True})
    assert stop.status_code == 200 and stop.json()["data"]["status"] == "canceled"
    again = client.post(f"/api/imap/mine/file/ann/{mining_id}", headers=auth("ann"), json={})
    assert again.status_code == 409
    assert work_until_ended(settings, mining_id)["status"] == "canceled"  # the queued fetch does nothing
    events = sse_events(client.get(f"/api/imap/mine/file/{mining_id}/progress", headers=auth("ann")).text)
    assert events == [("mining-failed", {"miningId": mining_id, "status": "canceled", "reason": "stopped by the user"})]


def test_rate_limits_hold_across_app_processes(settings, mailbox):
    limited = dataclasses.replace(settings, mining_rate=(2, 60))
    with TestClient(create_app(limited)) as one, TestClient(create_app(limited)) as two:
        assert one.get("/api/imap/mine/ann", headers=auth("ann")).status_code == 200
        assert two.get("/api/imap/mine/ann", headers=auth("ann")).status_code == 200
        refused = one.get("/api/imap/mine/ann", headers=auth("ann"))
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        assert two.get("/api/imap/mine/bob", headers=auth("bob")).status_code == 200  # per user


def test_errors_are_json_in_the_envelope(client):
    response = client.post("/api/contacts/export/xlsx", headers=auth("ann"), json={})
    assert response.status_code == 400 and response.json() == {
        "error": {"message": "unknown format 'xlsx'; choose one of json, csv, vcard, vcf", "code": "bad_request"},
        "data": None,
    }
    missing = client.post("/api/imap/mine/file/ann", headers=auth("ann"))
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "invalid"
    assert client.get("/nowhere").json()["error"]["code"] == "not_found"


# mailboxes (the session's Dovecot) -------------------------------------------------------------------
def account_body(account, password: str | None = None, port: int | None = None) -> dict:
    return {"email": f"{account.user}@example.com", "host": account.host, "port": port or account.port,
            "secure": "plain", "password": password or account.password}  # fmt: skip


def test_a_mailbox_is_checked_stored_without_its_password_listed_and_mined(client, settings, dovecot_account, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    box = generate_demo_mailbox(tmp_path / "box.mbox", seed=3, messages=60)
    import mailbox as mailboxes

    for message in mailboxes.mbox(box.path):
        dovecot_account.append("INBOX", message.as_bytes())
    wrong = client.post("/api/imap/mine/sources/imap", headers=auth("ann"), json=account_body(dovecot_account, "nope-xyz"))
    assert wrong.status_code == 401 and "nope-xyz" not in wrong.text
    saved = client.post("/api/imap/mine/sources/imap", headers=auth("ann"), json=account_body(dovecot_account))
    assert saved.status_code == 201, saved.text
    assert saved.json()["data"]["login"] == dovecot_account.user  # the local part, after the full address was refused
    listed = client.get("/api/imap/mine/sources", headers=auth("ann")).json()["data"]
    assert [s["email"] for s in listed] == [f"{dovecot_account.user}@example.com"]
    assert dovecot_account.password not in json.dumps(listed)
    assert client.get("/api/imap/mine/sources", headers=auth("bob")).json()["data"] == []
    tree = client.post("/api/imap/boxes", headers=auth("ann"), json={"email": f"{dovecot_account.user}@example.com"})
    assert tree.status_code == 200 and tree.json()["data"][0]["path"] == "INBOX" and tree.json()["data"][0]["messages"] == 60

    started = client.post(
        "/api/imap/mine/email/ann", headers=auth("ann"),
        json={"miningSource": {"email": f"{dovecot_account.user}@example.com"}, "extractSignatures": True},
    )  # fmt: skip
    assert started.status_code == 202, started.text
    mining = work_until_ended(settings, started.json()["data"]["miningId"])
    assert mining["status"] == "done" and mining["stats"]["fetched"] == 60
    page = client.get("/api/contacts/ann", headers=auth("ann"), params={"limit": 5}).json()["data"]
    assert len(page["contacts"]) == 5 and page["next"]

    async def stored() -> str:
        async with selfhost_services(settings, consumer="check") as services:
            return json.dumps([p.email for p in await services.main.persons("ann")])

    paged, after = [], None
    while True:
        data = client.get("/api/contacts/ann", headers=auth("ann"), params={"limit": 7, **({"after": after} if after else {})}).json()["data"]
        paged += [c["email"] for c in data["contacts"]]
        if not (after := data["next"]):
            break
    assert json.dumps(paged) == asyncio.run(stored())  # every contact once, in order
    assert dovecot_account.password not in asyncio.run(dump_everything(settings))
    redis_dump = b"".join(asyncio.run(redis_values(settings.redis_url)))
    assert dovecot_account.password.encode() not in redis_dump  # queues, rate limits, idempotency keys
    assert dovecot_account.password not in caplog.text and "eyJ" not in caplog.text  # no password, no JWT in logs


async def redis_values(url: str) -> list[bytes]:
    """Every key and value in Redis, streams included."""
    import redis.asyncio as aredis

    client = aredis.Redis.from_url(url)
    out = []
    async for key in client.scan_iter():
        kind = (await client.type(key)).decode()
        value = await (client.xrange(key) if kind == "stream" else client.dump(key))
        out += [key, repr(value).encode()]
    await client.aclose()
    return out


async def dump_everything(settings: Settings) -> str:
    """Every row of every table of both databases, as text (for secrets that must not be there)."""
    import psycopg

    texts = []
    for dsn in (settings.temp_database_url, settings.database_url):
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            tables = await (await conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")).fetchall()
            for (table,) in tables:
                rows = await (await conn.execute(f'SELECT * FROM "{table}"')).fetchall()
                texts.append(repr(rows))
    return "\n".join(texts)


def test_unreachable_mail_servers_and_unknown_mailboxes_are_clear_errors(client, dovecot_account):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    refused = client.post("/api/imap/mine/sources/imap", headers=auth("ann"), json=account_body(dovecot_account, port=closed))
    assert refused.status_code == 502 and refused.json()["error"]["code"] == "unreachable"
    unknown = client.post("/api/imap/mine/email/ann", headers=auth("ann"), json={"miningSource": {"email": "no@where.example"}})
    assert unknown.status_code == 404
    assert client.post("/api/imap/boxes", headers=auth("ann"), json={"email": "no@where.example"}).status_code == 404


def test_contacts_pages_filter_and_refuse_bad_cursors(client, settings, mailbox):
    mining_id = upload(client, "ann", mailbox).json()["data"]["miningId"]
    assert work_until_ended(settings, mining_id)["status"] == "done"
    everyone = client.get("/api/contacts/ann", headers=auth("ann"), params={"limit": 1000}).json()["data"]["contacts"]
    threshold = sorted(c["temperature"] for c in everyone)[len(everyone) // 2] + 1
    warm = client.get("/api/contacts/ann", headers=auth("ann"), params={"limit": 1000, "minTemperature": threshold}).json()
    warm = warm["data"]["contacts"]
    assert len(warm) == sum(c["temperature"] >= threshold for c in everyone) < len(everyone)
    tag = next(t for c in everyone for t in c["tags"] if t != "professional")
    tagged = client.get("/api/contacts/ann", headers=auth("ann"), params={"tags": tag, "limit": 1000}).json()["data"]["contacts"]
    assert tagged and all(tag in c["tags"] for c in tagged) and len(tagged) == sum(tag in c["tags"] for c in everyone)
    bad = client.get("/api/contacts/ann", headers=auth("ann"), params={"after": "not-a-cursor"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"
    assert client.get("/api/contacts/ann", headers=auth("bob")).status_code == 403


def test_deleting_a_user_removes_all_their_data_and_only_theirs(client, settings, mailbox):
    for user in ("ann", "bob"):
        mining_id = upload(client, user, mailbox).json()["data"]["miningId"]
        assert work_until_ended(settings, mining_id)["status"] == "done"
    running = upload(client, "ann", mailbox).json()["data"]["miningId"]  # queued, not mined yet
    response = client.delete("/api/auth/users", headers=auth("ann"))
    assert response.status_code == 200 and response.json()["data"]["deleted"]["refined_persons"] > 0
    assert client.get("/api/imap/mine/ann", headers=auth("ann")).json()["data"] == []
    assert client.get("/api/contacts/ann", headers=auth("ann")).json()["data"]["contacts"] == []
    assert client.get("/api/contacts/bob", headers=auth("bob")).json()["data"]["contacts"]
    assert work_until_ended(settings, running)["status"] is None  # deleted; its queued fetch does nothing
    assert client.get("/api/contacts/ann", headers=auth("ann")).json()["data"]["contacts"] == []


def test_an_outlook_file_is_accepted_and_mined(client, settings):
    from corpora import CORPORA_SOURCE

    pst = CORPORA_SOURCE / "outlook.pst"
    if not pst.exists():
        pytest.skip(f"{pst} is absent (../shared/corpora)")
    response = upload(client, "ann", pst)
    assert response.status_code == 202, response.text
    mining = work_until_ended(settings, response.json()["data"]["miningId"])
    assert mining["status"] == "done" and mining["stats"]["extracted"] == 2


def test_stops_during_a_long_stage_answer_at_once_and_leave_the_api_free(client, settings, mailbox, monkeypatch):
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import leadminer.flow.mining as flow_mining

    in_clean, release = threading.Event(), threading.Event()
    clean = flow_mining.handle_clean

    async def long_clean(ctx, mx=None):  # holds the mining's lock until released
        in_clean.set()
        while not release.is_set():
            await asyncio.sleep(0.05)
        return await clean(ctx, mx)

    monkeypatch.setattr(flow_mining, "handle_clean", long_clean)
    mining_id = upload(client, "ann", mailbox).json()["data"]["miningId"]
    ended: dict = {}
    worker = threading.Thread(target=lambda: ended.update(work_until_ended(settings, mining_id)))
    worker.start()
    timer = threading.Timer(8, release.set)  # without it a stop that waits for the lock would never answer
    try:
        assert in_clean.wait(TIMEOUT)
        timer.start()
        started = time.monotonic()
        with ThreadPoolExecutor(6) as pool:  # more stops than the API's pool of services
            stops = list(pool.map(lambda _: client.post(f"/api/imap/mine/file/ann/{mining_id}", headers=auth("ann"), json={}), range(6)))
        health = client.get("/health")
        elapsed = time.monotonic() - started
    finally:
        release.set()
        timer.cancel()
        worker.join(TIMEOUT)
    assert elapsed < 4, f"stops waited {elapsed:.1f} s for the stage"
    assert sorted(r.status_code for r in stops) == [200] + [409] * 5 and health.status_code == 200
    assert [r.json()["data"]["status"] for r in stops if r.status_code == 200] == ["canceled"]
    assert ended["status"] == "canceled"

    async def leftovers() -> list[str]:
        async with selfhost_services(settings, consumer="check") as services:
            return await services.temp.mining_ids()

    assert asyncio.run(leftovers()) == []  # dropped by the stage that held the lock


# idempotency keys: reservations with a lease ------------------------------------------------------
RESERVE_AND_HANG = """
import asyncio, json, sys
from leadminer.settings import Settings
from leadminer_api.selfhost import SelfHostBackend

async def main():
    backend = SelfHostBackend(Settings(**json.loads(sys.argv[1])), pool_size=1, idempotency_lease=1.0)
    await backend.open()

    async def create():
        print("creating", flush=True)
        await asyncio.sleep(3600)  # killed here

    await backend.once("start:ann", "k-died", "fp", create)

asyncio.run(main())
"""


@pytest.fixture
async def backend(settings):
    from leadminer_api.selfhost import SelfHostBackend

    opened = SelfHostBackend(settings, pool_size=1, idempotency_lease=1.0)
    await opened.open()
    yield opened
    await opened.close()


async def test_a_key_whose_first_request_died_is_free_again_after_its_lease(backend, settings):
    import signal
    import subprocess
    import sys

    fields = ("storage_mode", "temp_database_url", "database_url", "redis_url", "queue_prefix", "spool_dir")
    first = subprocess.Popen(
        [sys.executable, "-c", RESERVE_AND_HANG, json.dumps({f: getattr(settings, f) for f in fields})],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert first.stdout.readline().strip() == "creating"  # the key is reserved, then the process dies
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    created = []

    async def create() -> str:
        created.append(1)
        return "mining-2"

    started = time.monotonic()
    assert await backend.once("start:ann", "k-died", "fp", create) == "mining-2"  # the retry starts the mining
    assert created == [1] and time.monotonic() - started < 3  # within about the lease, not a day
    assert await backend.once("start:ann", "k-died", "fp", create) == "mining-2" and created == [1]


async def test_a_concurrent_request_waits_for_a_slow_first_one_past_its_lease(backend):
    created = []

    async def slow_create() -> str:  # five leases, and longer than the 5 s a waiter used to wait
        created.append(1)
        await asyncio.sleep(5.5)
        return "mining-1"

    first = asyncio.create_task(backend.once("start:ann", "k-slow", "fp", slow_create))
    await asyncio.sleep(0.2)
    assert await backend.once("start:ann", "k-slow", "fp", slow_create) == "mining-1"
    assert await first == "mining-1" and created == [1]
    with pytest.raises(IdempotencyConflict):
        await backend.once("start:ann", "k-slow", "another body", slow_create)


def test_deleting_a_user_during_a_long_refine_leaves_nothing_of_theirs(client, settings, mailbox, monkeypatch):
    import threading

    import leadminer.flow.mining as flow_mining

    in_refine, release = threading.Event(), threading.Event()
    refine = flow_mining.handle_refine

    async def long_refine(ctx):  # writes the contacts after the deletion was asked for
        in_refine.set()
        while not release.is_set():
            await asyncio.sleep(0.05)
        return await refine(ctx)

    monkeypatch.setattr(flow_mining, "handle_refine", long_refine)
    mining_id = upload(client, "ann", mailbox).json()["data"]["miningId"]
    worker = threading.Thread(target=lambda: work_until_ended(settings, mining_id))
    worker.start()
    try:
        assert in_refine.wait(TIMEOUT)
        threading.Timer(1.0, release.set).start()
        response = client.delete("/api/auth/users", headers=auth("ann"))
    finally:
        release.set()
        worker.join(TIMEOUT)
    assert response.status_code == 200

    async def left() -> tuple:
        async with selfhost_services(settings, consumer="check") as services:
            return await services.main.persons("ann"), await services.main.minings(user_id="ann"), await services.temp.mining_ids()

    assert asyncio.run(left()) == ([], [], [])


# uploads: authenticated before a byte is read, limited on the bytes received -------------------------
async def test_an_unauthenticated_upload_is_refused_before_its_body_is_read(settings):
    from asgi import FILE_PART, MULTIPART, Body, post

    app = create_app(settings)
    huge = Body(chunks=200, prefix=FILE_PART)  # 200 MB announced and offered
    refused = await post(app, "/api/imap/mine/file/ann", huge, {"content-type": MULTIPART}, content_length=200 << 20)
    assert refused.status == 401 and refused.json()["error"]["code"] == "unauthorized"
    assert refused.chunks_read == 0
    forged = await post(app, "/api/imap/mine/file/ann", Body(chunks=200, prefix=FILE_PART),
                        {"content-type": MULTIPART, **auth("ann", secret="another-secret-of-at-least-32-bytes!!")})  # fmt: skip
    assert forged.status == 401 and forged.chunks_read == 0
    announced = await post(app, "/api/imap/mine/file/ann", Body(chunks=200, prefix=FILE_PART),
                           {"content-type": MULTIPART, **auth("ann")}, content_length=200 << 20)  # fmt: skip
    assert announced.status == 413 and announced.chunks_read == 0  # refused on its Content-Length
    assert list(Path(settings.spool_dir).iterdir()) == []


async def test_a_chunked_upload_is_cut_off_at_the_limit_and_leaves_nothing_in_the_spool(settings):
    from asgi import FILE_PART, MULTIPART, Body, post

    app = create_app(settings)  # upload limit: 1 MB
    endless = Body(chunks=200, size=64 * 1024, prefix=FILE_PART)  # no Content-Length: chunked
    refused = await post(app, "/api/imap/mine/file/ann", endless, {"content-type": MULTIPART, **auth("ann")})
    assert refused.status == 413 and refused.json()["error"]["code"] == "too_large"
    assert refused.bytes_read <= (1 << 20) + 2 * 64 * 1024 + len(FILE_PART)  # read up to the limit, not on
    assert list(Path(settings.spool_dir).iterdir()) == []
    async with selfhost_services(settings, consumer="check") as services:
        assert await services.main.minings(user_id="ann") == []


# the spooled upload goes when its mining ends ---------------------------------------------------------
def spooled(settings: Settings) -> list[Path]:
    return sorted(p for p in Path(settings.spool_dir).rglob("*") if p.is_file())


def test_a_spooled_upload_is_deleted_when_its_mining_ends_whatever_the_end(client, settings, mailbox, tmp_path):
    done = upload(client, "ann", mailbox).json()["data"]["miningId"]
    assert [p.parent.name for p in spooled(settings)] == [done]  # in the mining's own folder
    assert work_until_ended(settings, done)["status"] == "done"
    assert spooled(settings) == []

    canceled = upload(client, "ann", mailbox).json()["data"]["miningId"]
    assert client.post(f"/api/imap/mine/file/ann/{canceled}", headers=auth("ann"), json={}).status_code == 200
    assert spooled(settings) == []  # the API's stop released it

    failed = upload(client, "ann", mailbox).json()["data"]["miningId"]

    async def fail_it() -> None:
        async with selfhost_services(settings, consumer="check") as services:
            await MiningFlow(services).dead_letter("extract", {"mining_id": failed}, "boom", 3)

    asyncio.run(fail_it())
    assert spooled(settings) == []
    assert work_until_ended(settings, failed)["status"] == "failed"

    interrupted = upload(client, "ann", mailbox).json()["data"]["miningId"]

    async def worker_died() -> list[str]:  # nothing happened for longer than the stale time
        async with selfhost_services(settings, consumer="check") as services:
            await services.queues["fetch"].receive(10)  # taken by a worker that then died
            await asyncio.sleep(1.2)
            return await MiningFlow(services).cleanup(stale_seconds=1.0)

    assert asyncio.run(worker_died()) == [interrupted]
    assert spooled(settings) == []


def test_a_start_that_fails_and_a_deleted_user_leave_no_upload_behind(client, settings, mailbox, monkeypatch):
    async def broken(self, mining_id, source):
        raise ConnectionError("queue down")

    with monkeypatch.context() as patched:
        patched.setattr(MiningFlow, "enqueue_fetch", broken)
        with pytest.raises(ConnectionError):
            upload(client, "ann", mailbox)
    assert spooled(settings) == [] and list(Path(settings.spool_dir).iterdir()) == []
    [mining] = client.get("/api/imap/mine/ann", headers=auth("ann")).json()["data"]
    assert mining["status"] == "failed" and "could not be queued" in mining["error"]

    queued = upload(client, "ann", mailbox).json()["data"]["miningId"]
    assert [p.parent.name for p in spooled(settings)] == [queued]
    assert client.delete("/api/auth/users", headers=auth("ann")).status_code == 200
    assert spooled(settings) == [] and list(Path(settings.spool_dir).iterdir()) == []


def test_since_fetches_only_mail_received_on_or_after_that_day(client, settings, dovecot_account):
    from datetime import UTC, datetime

    for n, received in enumerate((datetime(2020, 1, 5, tzinfo=UTC), datetime(2024, 6, 1, 8, tzinfo=UTC), datetime(2024, 6, 2, tzinfo=UTC))):
        message = (f"From: Sender {n} <s{n}@sender{n}.example>\r\nTo: me@example.com\r\nSubject: n{n}\r\n"
                   f"Message-ID: <since-{n}@example.com>\r\nDate: {received:%a, %d %b %Y %H:%M:%S +0000}\r\n\r\nHello.\r\n")  # fmt: skip
        dovecot_account.append("INBOX", message.encode(), received=received)
    email = f"{dovecot_account.user}@example.com"
    assert client.post("/api/imap/mine/sources/imap", headers=auth("ann"), json=account_body(dovecot_account)).status_code == 201

    def start(since: object) -> object:
        return client.post("/api/imap/mine/email/ann", headers=auth("ann"), json={"miningSource": {"email": email}, "since": since})

    for bad in ("yesterday", "2024-13-01", "2024-06-01T25:00"):
        refused = start(bad)
        assert refused.status_code == 422 and "since" in refused.json()["error"]["message"], refused.text
    assert client.get("/api/imap/mine/ann", headers=auth("ann")).json()["data"] == []  # nothing started

    recent = start("2024-06-01T00:00:00.000Z")  # Leadminer's web app sends a date-time: its day counts
    assert recent.status_code == 202, recent.text
    mining = work_until_ended(settings, recent.json()["data"]["miningId"])
    assert mining["status"] == "done" and mining["stats"]["fetched"] == 2
    contacts = {c["email"] for c in client.get("/api/contacts/ann", headers=auth("ann")).json()["data"]["contacts"]}
    assert {"s1@sender1.example", "s2@sender2.example"} <= contacts and "s0@sender0.example" not in contacts

    everything = start(None)  # a mining with since saved no fetch state: the older mail is read later
    mining = work_until_ended(settings, everything.json()["data"]["miningId"])
    assert mining["status"] == "done" and mining["stats"]["fetched"] == 3


# Leadminer's contacts import (JSON on the upload route) ----------------------------------------------
def test_imported_contacts_are_cleaned_refined_and_merged_with_mined_ones(client, settings, mailbox):
    mined = upload(client, "ann", mailbox).json()["data"]["miningId"]
    assert work_until_ended(settings, mined)["status"] == "done"
    known = client.get("/api/contacts/ann", headers=auth("ann"), params={"limit": 1}).json()["data"]["contacts"][0]
    rows = [
        {"email": known["email"].upper(), "job_title": "Chief Imported Officer", "works_for": "Import & Co"},
        {"email": "new.person@imported.example", "name": "New Person", "same_as": "https://example.org/new"},
        {"email": "postmaster@imported.example"},
    ]
    started = client.post("/api/imap/mine/file/ann", headers={**auth("ann"), "Idempotency-Key": "imp-1"}, json={"name": "leads.csv", "contacts": rows})
    assert started.status_code == 202, started.text
    again = client.post("/api/imap/mine/file/ann", headers={**auth("ann"), "Idempotency-Key": "imp-1"}, json={"name": "leads.csv", "contacts": rows})
    assert again.json()["data"]["miningId"] == started.json()["data"]["miningId"]
    mining = work_until_ended(settings, started.json()["data"]["miningId"])
    assert mining["status"] == "done" and mining["stats"]["persons"] == 3 and mining["stats"]["fetched"] == 3

    contacts = {c["email"]: c for c in client.get("/api/contacts/ann", headers=auth("ann"), params={"limit": 1000}).json()["data"]["contacts"]}
    merged = contacts[known["email"]]
    assert (merged["job_title"], merged["organization"]) == ("Chief Imported Officer", "Import & Co")
    assert (merged["occurrence"], merged["temperature"], merged["name"]) == (known["occurrence"], known["temperature"], known["name"])
    assert contacts["new.person@imported.example"]["name"] == "New Person"
    assert contacts["new.person@imported.example"]["same_as"] == ["https://example.org/new"]
    assert "role" in contacts["postmaster@imported.example"]["tags"]  # cleaned like a mined address
    events = sse_events(client.get(f"/api/imap/mine/file/{mining['id']}/progress", headers=auth("ann")).text)
    assert events[-1][0] == "mining-completed"

    refused = client.post("/api/imap/mine/file/ann", headers=auth("ann"), json={"name": "x.csv", "contacts": [{"email": "ok@a.example"}, {"email": "@"}]})
    assert refused.status_code == 422 and "contacts.1.email" in refused.json()["error"]["message"]
