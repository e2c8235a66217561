"""The Cloudflare mode on the local stack (cloudflare/local/stack.mjs): Miniflare's real local
Queues, R2 and D1, the five Python Workers under Node's Pyodide with the `workers` SDK, the main
store on the local Supabase (PostgREST stand-in over the session's PostgreSQL). The fetch runs
here (a plain process, like the fetcher) through the stack's bridges; the Workers do extract →
clean → signature → refine through the queues. One stack for the module."""

from __future__ import annotations

import asyncio
import base64
import http.server
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pg
import pytest
from corpora import corpus_dir

from leadminer.adapters.sqlite import SqliteMainStore
from leadminer.contracts import RawMessage
from leadminer.adapters.sqlite import connect as sqlite_connect
from leadminer.export import write_export
from leadminer.flow import MiningFlow
from leadminer_runner import cloudflare_local
from leadminer_runner.selfhost import enqueue_mining
from leadminer_runner.embedded import mine as embedded_mine
from leadminer_runner.local_supabase import LocalSupabase
from leadminer_runner.sources import ImapMessageSource, open_message_source

PROJECT_ROOT = Path(__file__).resolve().parent.parent

if not cloudflare_local.node_available():
    pytest.skip("node and npm are needed for the local Cloudflare stack", allow_module_level=True)


JWT_SECRET = "test-secret-of-the-local-cloudflare-stack-32b"
SECRET_KEY = base64.urlsafe_b64encode(os.urandom(32)).decode()  # LEADMINER_SECRET_KEY: stored mailbox passwords
FETCH_BATCH = 5  # the fetcher's batch size in this stack: several batches from a small mailbox


@pytest.fixture(scope="module")
def supabase_database(postgres_server) -> str:
    """A database of the session's PostgreSQL for the module's local Supabase."""
    name = f"leadminer_cf_{uuid.uuid4().hex[:12]}"
    with pg.admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"{pg.server_dsn()} dbname={name}"
    with pg.admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def stack(supabase_database):
    """The stack whose Workers keep the main store on the local Supabase (the PostgREST stand-in
    over PostgreSQL, main.sql + main_api.sql: the SQL production runs)."""
    supabase = LocalSupabase.start(supabase_database, JWT_SECRET)
    running = cloudflare_local.Stack(supabase=supabase, env={"LEADMINER_SECRET_KEY": SECRET_KEY, "LEADMINER_FETCH_BATCH": str(FETCH_BATCH)})
    yield running
    running.close()
    supabase.close()


def _refined_rows(database_url: str, user_id: str) -> int:
    """Refined persons of a user in the Supabase database itself (not through the store)."""
    import psycopg

    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT count(*) FROM refined_persons WHERE user_id = %s", (user_id,)).fetchone()[0]


@pytest.fixture(scope="module")
def mailbox(tmp_path_factory) -> Path:
    box = tmp_path_factory.mktemp("cf") / "box" / "cur"
    box.mkdir(parents=True)
    for path in sorted(p for p in corpus_dir("lkml").rglob("*") if p.is_file())[:12]:
        shutil.copy(path, box / path.name)
    return box.parent


async def _until_ended(services, mining_id: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while (mining := await services.main.mining(mining_id))["status"] == "running":
        assert time.monotonic() < deadline, f"mining {mining_id} still running"
        await asyncio.sleep(0.2)
    return mining


async def _start(services, box: Path, user: str) -> str:
    source, _ = open_message_source(str(box), user_id=user, password_prompt=lambda prompt: "")
    return await enqueue_mining(services, source, user_id=user, identities=[])


@pytest.fixture(scope="module")
def embedded_export(mailbox, tmp_path_factory) -> list:
    """``leadminer mine`` + ``leadminer export --format json`` of the mailbox (the embedded mode)."""
    folder = tmp_path_factory.mktemp("embedded")
    leadminer = [sys.executable, "-m", "leadminer_runner.cli"]
    db, out = folder / "embedded.db", folder / "embedded.json"
    subprocess.run([*leadminer, "mine", str(mailbox), "--db", str(db), "--quiet"], check=True, capture_output=True)
    subprocess.run([*leadminer, "export", "--db", str(db), "--format", "json", "-o", str(out)], check=True, capture_output=True)
    return json.loads(out.read_text())


@pytest.mark.parametrize("main_store", ["supabase", "d1"])
def test_scripts_cf_mine_exports_what_the_embedded_mode_exports(main_store, mailbox, embedded_export, tmp_path, postgres_server):
    """As a developer runs it: the default starts its own local Supabase (a throwaway PostgreSQL
    unless LEADMINER_MAIN_DATABASE_URL names one); ``--main-store d1`` needs no PostgreSQL."""
    out = tmp_path / "cf.json"
    command = [str(PROJECT_ROOT / "scripts" / "cf"), "mine", str(mailbox), "--out", str(out), "--main-store", main_store]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["status"] == "done" and report["fetched"] == 12 and report["main_store"] == main_store
    cf = json.loads(out.read_text())
    assert cf and cf == embedded_export


class _Api:
    """A small HTTP client of the stack's API (urllib: the test tools bring no HTTP client)."""

    def __init__(self, url: str, token: str):
        self.url, self.token = url, token

    def call(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None) -> tuple[int, object]:
        headers = {"Authorization": f"Bearer {self.token}", **({"Content-Type": content_type} if content_type else {})}
        request = urllib.request.Request(self.url + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310 - the local stack
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def upload(self, path: str, name: str) -> tuple[int, object]:
        boundary = uuid.uuid4().hex
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode() + Path(path).read_bytes() + f"\r\n--{boundary}--\r\n".encode()
        return self.call("POST", "/api/imap/mine/file/api-user", body, f"multipart/form-data; boundary={boundary}")


def test_an_upload_through_the_api_of_fetch_dispatch_mines_like_the_embedded_mode(stack, mailbox, embedded_export, tmp_path):
    """The FastAPI app in the fetch-dispatch Worker (SDK ASGI bridge): upload → R2 → the fetch
    queue → the stage Workers → refined contacts, exported by the API."""
    import jwt

    archive = shutil.make_archive(str(tmp_path / "box"), "gztar", mailbox)
    token = jwt.encode({"sub": "api-user", "aud": "authenticated", "exp": int(time.time()) + 600}, JWT_SECRET, algorithm="HS256")
    api = _Api(stack.url, token)
    status, health = api.call("GET", "/health")
    assert status == 200 and health["data"]["dependencies"]["temp_db"]["ok"]
    status, answer = api.upload(archive, "box.tar.gz")
    assert status == 202, answer
    mining_id = answer["data"]["miningId"]
    deadline = time.monotonic() + 240
    while (mining := api.call("GET", f"/api/imap/mine/file/{mining_id}")[1]["data"])["status"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert mining["status"] == "done", mining
    assert mining["counters"]["fetched"] == 12
    status, exported = api.call("POST", "/api/contacts/export/json", json.dumps({"exportAllContacts": True}).encode(), "application/json")
    assert status == 200 and exported and exported == embedded_export


async def test_a_message_delivered_twice_doubles_nothing(stack, mailbox):
    services = cloudflare_local.services(stack)
    mining_id = await _start(services, mailbox, "once")
    once = await _until_ended(services, mining_id)
    sent = cloudflare_local.services(stack)
    extract = sent.queues["extract"]
    original = extract.send

    async def twice(body):
        await original(body)
        await original(body)

    extract.send = twice
    mining_id = await _start(sent, mailbox, "twice")
    twice_mining = await _until_ended(services, mining_id)
    assert once["status"] == twice_mining["status"] == "done"
    persons_once = await services.main.persons("once")
    persons_twice = await services.main.persons("twice")
    assert [p.email for p in persons_twice] == [p.email for p in persons_once]
    assert [p.occurrence for p in persons_twice] == [p.occurrence for p in persons_once]
    log = stack.call("log", {})["messages"]
    assert sum(1 for m in log if m["queue"] == "mining-extract-dev") >= 2


async def test_a_handler_that_raises_is_retried_then_dead_lettered_and_the_mining_fails(stack, mailbox):
    services = cloudflare_local.services(stack)
    flow = MiningFlow(services)
    mining_id = await flow.start(user_id="poison", source="test")
    await services.queues["extract"].send({"mining_id": mining_id, "batch": "not a number"})
    mining = await _until_ended(services, mining_id)
    assert mining["status"] == "failed"
    assert mining["stats"]["error"].startswith("extract stage failed after 4 attempts: ")
    attempts = [m for m in stack.call("log", {})["messages"] if m["queue"] == "mining-extract-dev" and m["verdict"] == "retry"]
    assert len(attempts) >= 4
    assert mining_id not in await services.temp.mining_ids()


async def test_stopping_a_mining_empties_its_d1_rows_and_r2_objects(stack, mailbox):
    services = cloudflare_local.services(stack)
    flow = MiningFlow(services)
    source, _ = open_message_source(str(mailbox), user_id="stop", password_prompt=lambda prompt: "")
    mining_id = await flow.start(user_id="stop", source=source.label)
    services.queues["extract"].send = _swallow  # the batches stay in R2: nothing extracts them
    await flow.fetch(mining_id, source, batch_size=5)
    assert await services.raw.keys(f"minings/{mining_id}/")
    assert await flow.stop(mining_id)
    assert await services.raw.keys(f"minings/{mining_id}/") == []
    assert mining_id not in await services.temp.mining_ids()
    assert (await services.main.mining(mining_id))["status"] == "canceled"


async def _swallow(body) -> None:
    return None


@pytest.mark.parametrize("env", ["staging", "production"])
def test_the_deploy_dry_run_of_every_worker_uploads_the_core_and_its_dependencies(env):
    done = subprocess.run([str(PROJECT_ROOT / "scripts" / "cf"), "deploy", "--dry-run", "--env", env],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    for worker in ("fetch-dispatch", "extract", "clean", "signature", "refine"):
        assert f"{worker} ({env}): ok" in done.stderr
        out = PROJECT_ROOT / "build" / "cloudflare" / "out" / f"{worker}-{env}"
        assert (out / "entry.py").is_file()
        assert (out / "leadminer" / "flow" / "mining.py").is_file()
        assert (out / "leadminer" / "schemas" / "sqlite" / "temp.sql").is_file()
        for module in ("pydantic", "pydantic_core", "phonenumbers", "fastapi", "workers"):
            assert (out / "python_modules" / module).is_dir(), module


def _export(persons) -> list:
    out = io.StringIO()
    write_export(persons, "json", out)
    return json.loads(out.getvalue())


async def test_a_dovecot_mailbox_through_the_fetcher_process_and_the_workers_equals_the_embedded_mode(
    stack, supabase_database, mailbox, dovecot_server, dovecot_account, tmp_path
):
    """IMAP → the fetch as a plain process (the fetcher's role) → R2 + the extract queue → the five
    Workers → the same contacts as the embedded mode on the same IMAP mailbox; a second mining
    reads nothing (the folder state was saved in the main store)."""
    files = sorted((mailbox / "cur").iterdir())
    dovecot_server.fill_folder(dovecot_account, "INBOX", files)

    def imap() -> ImapMessageSource:
        return ImapMessageSource(dovecot_account.url(), "imap-user", password=dovecot_account.password)

    services = cloudflare_local.services(stack)
    mining_id = await enqueue_mining(services, imap(), user_id="imap-user", identities=[])
    mining = await _until_ended(services, mining_id)
    assert mining["status"] == "done" and mining["stats"]["fetched"] == len(files)
    cloudflare_persons = await services.main.persons("imap-user")

    db = tmp_path / "embedded.db"
    await asyncio.to_thread(embedded_mine, imap(), db_path=db, user_id="imap-user")
    conn = sqlite_connect(db, readonly=True)
    embedded_persons = await SqliteMainStore(conn).persons("imap-user")
    conn.close()
    assert cloudflare_persons and _export(cloudflare_persons) == _export(embedded_persons)
    assert _refined_rows(supabase_database, "imap-user") == len(cloudflare_persons)  # written to Supabase

    again = await enqueue_mining(services, imap(), user_id="imap-user", identities=[])
    assert (await _until_ended(services, again))["stats"]["fetched"] == 0


def test_fetch_transport_speaks_http_from_the_workers_interpreter(stack):
    """FetchTransport (the Workers' side of the Supabase writer's HTTP port) under Pyodide: method,
    headers and body reach a server, status, headers and body come back; an unreachable server is
    StoreUnavailable."""
    pytest.importorskip("leadminer.adapters.http", reason="the HTTP transport port comes with the Supabase writer")
    seen = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            seen["body"] = self.rfile.read(int(self.headers["Content-Length"]))
            seen["auth"] = self.headers["Authorization"]
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("X-Answer", "yes")
            self.end_headers()
            self.wfile.write(b'{"ok": true}')

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.handle_request, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/rest/v1/rpc/f"
    code = f"""
import json
from leadminer.adapters.cloudflare.fetch import FetchTransport
from leadminer.storage import StoreUnavailable
t = FetchTransport()
r = await t.request("POST", {url!r}, headers={{"Authorization": "Bearer k"}}, body=b'{{"a": 1}}')
try:
    await t.request("GET", "http://127.0.0.1:9/")
    down = "answered"
except StoreUnavailable:
    down = "unavailable"
json.dumps({{"status": r.status, "answer": r.headers.get("x-answer"), "json": r.json(), "down": down}})
"""
    result = json.loads(stack.call("run", {"code": code})["result"])
    server.server_close()
    assert result == {"status": 201, "answer": "yes", "json": {"ok": True}, "down": "unavailable"}
    assert seen == {"body": b'{"a": 1}', "auth": "Bearer k"}


# The fetcher (a container in production, a process the stack starts here) --------------------
def _token(user: str) -> str:
    import jwt

    return jwt.encode({"sub": user, "aud": "authenticated", "exp": int(time.time()) + 900}, JWT_SECRET, algorithm="HS256")


def _lkml(count: int) -> list[Path]:
    return sorted(p for p in corpus_dir("lkml").rglob("*") if p.is_file())[:count]


def _stored_mailbox(stack, dovecot_server, files: list[Path], folder: str = "INBOX") -> tuple[_Api, str, object]:
    """A Dovecot account holding ``files`` in ``folder``, stored through the API of fetch-dispatch."""
    account = dovecot_server.add_account(user=f"cf{uuid.uuid4().hex[:8]}@example.com")
    dovecot_server.fill_folder(account, folder, files)
    user = f"imap-{uuid.uuid4().hex[:8]}"
    api = _Api(stack.url, _token(user))
    body = {"email": account.user, "host": account.host, "port": account.port, "secure": "plain", "password": account.password}
    status, saved = api.call("POST", "/api/imap/mine/sources/imap", json.dumps(body).encode(), "application/json")
    assert status == 201, saved
    return api, user, account


def _mine(api: _Api, user: str, email: str) -> str:
    body = json.dumps({"miningSource": {"email": email}}).encode()
    status, answer = api.call("POST", f"/api/imap/mine/email/{user}", body, "application/json")
    assert status == 202, answer
    return answer["data"]["miningId"]


def _fetchers(stack, mining_id: str) -> list[dict]:
    return [f for f in stack.call("fetchers", {})["fetchers"] if f["name"] == mining_id]


async def _handed_over(stack, mining_id: str, batches: int = 1) -> dict:
    """The mining's first fetcher process once it has handed ``batches`` batches over."""
    deadline = time.monotonic() + 120
    while not (found := _fetchers(stack, mining_id)) or found[0]["output"].count("batch handed over") < batches:
        assert time.monotonic() < deadline, "the fetcher handed nothing over"
        await asyncio.sleep(0.02)
    return found[0]


async def _exited(stack, mining_id: str, timeout: float = 15) -> list[dict]:
    """The mining's fetcher processes once every one has exited (a fetcher exits just after its
    last answer, which may end the mining first)."""
    deadline = time.monotonic() + timeout
    while True:
        found = _fetchers(stack, mining_id)
        if all(f["exit"] is not None for f in found):
            return found
        assert time.monotonic() < deadline, f"a fetcher of mining {mining_id} still runs"
        await asyncio.sleep(0.05)


async def _embedded(account, tmp_path) -> list:
    db = tmp_path / f"embedded-{account.user}.db"
    source = ImapMessageSource(account.url(), "embedded", password=account.password)
    await asyncio.to_thread(embedded_mine, source, db_path=db, user_id="embedded")
    conn = sqlite_connect(db, readonly=True)
    try:
        return _export(await SqliteMainStore(conn).persons("embedded"))
    finally:
        conn.close()


def _exported(api: _Api) -> list:
    status, exported = api.call("POST", "/api/contacts/export/json", json.dumps({"exportAllContacts": True}).encode(), "application/json")
    assert status == 200
    return exported


async def test_a_stored_mailbox_mined_through_the_api_is_read_by_the_fetcher_and_equals_the_embedded_mode(
    stack, dovecot_server, tmp_path
):
    """Dovecot → the fetcher (started by the FETCHER Durable Object; a process here) → the fetcher
    routes of fetch-dispatch → R2 + the extract queue → the Workers → the same contacts as the
    embedded mode on the same mailbox. The password is stored sealed (AES-GCM, readable with the
    key only) and never appears in the fetcher's output."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    files = _lkml(12)
    api, user, account = _stored_mailbox(stack, dovecot_server, files)
    status, listed = api.call("GET", "/api/imap/mine/sources")
    assert status == 200 and [m["email"] for m in listed["data"]] == [account.user]
    from leadminer.adapters.postgrest import PostgrestMailboxTable

    ((*_row, sealed),) = await PostgrestMailboxTable(cloudflare_local.services(stack).main).select(user, account.user, secret=True)
    assert account.password not in sealed and sealed.startswith("v1.")
    raw = base64.urlsafe_b64decode(sealed[3:])
    assert AESGCM(base64.urlsafe_b64decode(SECRET_KEY)).decrypt(raw[:12], raw[12:], None).decode() == account.password

    mining_id = _mine(api, user, account.user)
    mining = await _until_ended(cloudflare_local.services(stack), mining_id, timeout=300)
    assert mining["status"] == "done", mining
    assert mining["stats"]["fetched"] == len(files)
    assert _exported(api) == await _embedded(account, tmp_path) != []
    (fetcher,) = await _exited(stack, mining_id)
    assert fetcher["exit"] == 0 and "fetch over" in fetcher["output"]
    assert fetcher["output"].count("batch handed over") == -(-len(files) // FETCH_BATCH)
    assert account.password not in fetcher["output"]
    assert await cloudflare_local.services(stack).raw.keys(f"minings/{mining_id}/") == []

    again = await _until_ended(cloudflare_local.services(stack), _mine(api, user, account.user))
    assert again["status"] == "done" and again["stats"]["fetched"] == 0  # the folder state was saved: nothing new


async def test_a_fetcher_killed_mid_fetch_is_started_again_and_resumes_without_doubling_or_losing(
    stack, dovecot_server, tmp_path
):
    files = _lkml(60)
    api, user, account = _stored_mailbox(stack, dovecot_server, files)
    mining_id = _mine(api, user, account.user)
    os.kill((await _handed_over(stack, mining_id, 2))["pid"], signal.SIGKILL)  # as a container that dies
    mining = await _until_ended(cloudflare_local.services(stack), mining_id, timeout=300)
    assert mining["status"] == "done", mining
    first, second = await _exited(stack, mining_id)
    assert first["exit"] == "SIGKILL" and second["exit"] == 0
    resumed_at = int(second["output"].split(" from batch ")[1].split()[0])
    assert resumed_at >= 2  # it began where the first one stopped, not at batch 0
    assert mining["stats"]["fetched"] == len(files)  # nothing read twice, nothing lost
    assert _exported(api) == await _embedded(account, tmp_path)
    for fetcher in (first, second):
        assert account.password not in fetcher["output"]


async def test_a_fetcher_restarted_after_a_uidvalidity_change_reads_the_folder_again_and_loses_nothing(
    stack, dovecot_server, tmp_path
):
    """The folder is rebuilt while the fetcher is down (new UIDVALIDITY, UIDs handed out again from
    1 to other messages): the UIDs the first fetcher stored belong to the old numbering, so the
    restarted one must not skip the new UIDs under them (message ids keep the re-read from doubling)."""
    files = _lkml(60)
    api, user, account = _stored_mailbox(stack, dovecot_server, files, "Archive")
    old_validity = account.uidvalidity("Archive")
    mining_id = _mine(api, user, account.user)
    first = await _handed_over(stack, mining_id, 2)
    os.kill(first["pid"], signal.SIGSTOP)  # the container hangs, then dies
    account.delete_folder("Archive")
    for path in reversed(files):  # the first UIDs now name the messages not yet stored
        account.append("Archive", path.read_bytes(), ("\\Seen",))
    assert account.uidvalidity("Archive") != old_validity
    os.kill(first["pid"], signal.SIGKILL)
    mining = await _until_ended(cloudflare_local.services(stack), mining_id, timeout=300)
    assert mining["status"] == "done", mining
    first, second = await _exited(stack, mining_id)
    assert first["exit"] == "SIGKILL" and second["exit"] == 0
    assert mining["stats"]["fetched"] >= len(files)
    assert _exported(api) == await _embedded(account, tmp_path) != []


async def test_a_fetch_message_delivered_again_while_its_fetcher_runs_replaces_it_once(stack, dovecot_server, tmp_path):
    """Queues deliver at least once: a second delivery of the fetch launches a new fetcher in
    place of the running one (new token, the old container destroyed). The destroyed one is no
    crash: its watcher must not queue the fetch again (each launch would replace the last one,
    until the mining fails after MAX_LAUNCHES)."""
    files = _lkml(60)
    api, user, account = _stored_mailbox(stack, dovecot_server, files)
    mining_id = _mine(api, user, account.user)
    await _handed_over(stack, mining_id)
    fetch_queue = cloudflare_local.services(stack).queues["fetch"]
    await fetch_queue.send({"mining_id": mining_id, "source": {"kind": "imap", "email": account.user}})
    mining = await _until_ended(cloudflare_local.services(stack), mining_id, timeout=300)
    assert mining["status"] == "done", mining
    fetchers = await _exited(stack, mining_id)
    assert len(fetchers) == 2, [f["exit"] for f in fetchers]  # the first one replaced, once
    assert mining["stats"]["fetched"] == len(files)
    assert _exported(api) == await _embedded(account, tmp_path)


def test_the_folder_tree_answers_like_the_self_host_api_a_404_for_an_unknown_mailbox(stack):
    """POST /api/imap/boxes: an address the user never stored is a 404 as on the self-host API;
    only a stored one gets the 501 of this mode (no IMAP client in a Worker)."""
    user = f"boxes-{uuid.uuid4().hex[:8]}"
    api = _Api(stack.url, _token(user))
    status, answer = api.call("POST", "/api/imap/boxes", json.dumps({"email": "nobody@example.com"}).encode(), "application/json")
    assert status == 404 and answer["error"]["code"] == "not_found", answer
    body = {"email": "ann@example.com", "host": "imap.example.com", "port": 993, "secure": True, "password": "pw"}
    assert api.call("POST", "/api/imap/mine/sources/imap", json.dumps(body).encode(), "application/json")[0] == 201
    status, answer = api.call("POST", "/api/imap/boxes", json.dumps({"email": "Ann@example.com"}).encode(), "application/json")
    assert status == 501 and answer["error"]["code"] == "not_available", answer


async def test_stopping_a_mining_makes_its_fetcher_quit_at_once(stack, dovecot_server):
    files = _lkml(60)
    api, user, account = _stored_mailbox(stack, dovecot_server, files)
    mining_id = _mine(api, user, account.user)
    await _handed_over(stack, mining_id)
    status, stopped = api.call("POST", f"/api/imap/mine/email/{user}/{mining_id}", b"{}", "application/json")
    assert status == 200 and stopped["data"]["status"] == "canceled", stopped
    stop_time = time.monotonic()
    while (fetcher := _fetchers(stack, mining_id)[0])["exit"] is None:
        assert time.monotonic() - stop_time < 15, "the fetcher still runs after the stop"
        await asyncio.sleep(0.05)
    quit_after = time.monotonic() - stop_time
    assert fetcher["exit"] == 0 and "ends this fetcher" in fetcher["output"], fetcher["output"][-2000:]
    assert fetcher["output"].count("batch handed over") < -(-len(files) // FETCH_BATCH)  # it did not read on
    assert len(_fetchers(stack, mining_id)) == 1  # a stop is no crash: not started again
    services = cloudflare_local.services(stack)
    await asyncio.sleep(1)
    assert await services.raw.keys(f"minings/{mining_id}/") == []
    assert mining_id not in await services.temp.mining_ids()
    print(f"fetcher quit {quit_after:.2f} s after the stop")


async def test_the_fetcher_routes_refuse_a_wrong_token_a_batch_out_of_order_and_an_ended_mining(stack, mailbox):
    """fetch-dispatch's fetcher routes on their own: a retried batch is answered, not stored twice."""
    from leadminer.adapters.cloudflare.d1 import D1Driver
    from leadminer.adapters.cloudflare.r2 import encode_messages
    from leadminer.adapters.cloudflare.remote_fetch import RemoteFetches, token_hash
    from leadminer_fetcher.remote import Ended, FetchApi

    services = cloudflare_local.services(stack)
    flow = MiningFlow(services)
    mining_id = await flow.start(user_id="routes", source="imap://routes@example.com:993")
    fetches = RemoteFetches(D1Driver(cloudflare_local.BridgeD1Database(stack, "DB")))
    token = await fetches.launch(mining_id)
    ((stored,),) = await cloudflare_local.BridgeD1Database(stack, "DB").prepare(
        "SELECT token_hash FROM remote_fetches WHERE mining_id = ?").bind(mining_id).raw()  # fmt: skip
    assert stored == token_hash(token) and token not in stored  # only its hash is kept
    api = FetchApi(stack.url, mining_id, token, retries=())
    source, _ = open_message_source(str(mailbox), user_id="routes", password_prompt=lambda prompt: "")
    read = [m for m in source.iter_messages(mining_id) if isinstance(m, RawMessage)][:4]
    raws = [RawMessage(mining_id, "INBOX", str(uid), m.data, ()) for uid, m in enumerate(read, start=11)]  # as IMAP reads them

    with pytest.raises(Ended, match="wrong token"):
        FetchApi(stack.url, mining_id, "not-the-token", retries=()).post("begin", {})
    begin = api.post("begin", {})
    assert begin["user_id"] == "routes" and begin["cursor"]["batch"] == 0
    with pytest.raises(RuntimeError, match="409.*out of order"):
        api.post("batch", {"batch": 1, "messages": encode_messages(raws[:2])})
    with pytest.raises(RuntimeError, match="400.*malformed"):
        api.post("batch", {"batch": 0, "messages": [{"folder": "INBOX"}]})
    request = urllib.request.Request(f"{api.url}/batch", data=b"{not json", method="POST", headers={"Authorization": f"Bearer {token}"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)  # noqa: S310 - the local stack
    assert refused.value.code == 400 and json.loads(refused.value.read())["error"]["code"] == "bad_request"
    batch = {"batch": 0, "messages": encode_messages(raws[:2]), "failures": [], "state": [], "total": 4, "uidvalidity": {"INBOX": 7}}
    assert api.post("batch", batch) == {"next": 1}
    assert api.post("batch", batch) == {"next": 1}  # a retried request: answered again
    own = ["routes", "imap://routes@example.com:993", "INBOX", 7, 14]
    states = [own, ["someone-else", "imap://routes@example.com:993", "INBOX", 7, 10**9], ["routes", "imap://other", "INBOX", 7, 1], ["bad"]]
    assert api.post("batch", {**batch, "batch": 1, "messages": encode_messages(raws[2:]), "state": states}) == {"next": 2}
    assert api.post("begin", {})["cursor"] == {
        "batch": 2, "fetched": 4, "failed": 0, "total": 4, "uids": {"INBOX": 14}, "uidvalidity": {"INBOX": 7}, "state": [own], "pending": None,
    }  # where a restarted fetcher begins; only the folder states of the token's own mining
    assert (await services.ledger.run(mining_id)).fetched == 4
    assert await flow.stop(mining_id)
    with pytest.raises(Ended, match="ended"):
        api.post("batch", {**batch, "batch": 2})
    assert await services.raw.keys(f"minings/{mining_id}/") == []


def test_a_password_sealed_with_one_key_is_refused_with_another_under_pyodide(stack):
    first, second = (base64.urlsafe_b64encode(os.urandom(32)).decode() for _ in range(2))
    code = f"""
import json
from leadminer.adapters.cloudflare.secrets import WebCryptoBox
from leadminer.mailboxes import SecretError
sealed = await WebCryptoBox({first!r}).encrypt("pässword")
rotated = await WebCryptoBox({second!r} + "," + {first!r}).decrypt(sealed)
try:
    await WebCryptoBox({second!r}).decrypt(sealed)
    other = "decrypted"
except SecretError:
    other = "refused"
json.dumps({{"rotated": rotated, "other": other, "clear": "pässword" in sealed}})
"""
    assert json.loads(stack.call("run", {"code": code})["result"]) == {"rotated": "pässword", "other": "refused", "clear": False}


async def test_a_wrong_password_fails_the_mining_with_the_servers_answer_and_is_never_logged(stack, dovecot_server):
    api, user, account = _stored_mailbox(stack, dovecot_server, _lkml(2))
    wrong = f"wrong-{uuid.uuid4().hex}"
    body = {"email": account.user, "host": account.host, "port": account.port, "secure": "plain", "password": wrong}
    assert api.call("POST", "/api/imap/mine/sources/imap", json.dumps(body).encode(), "application/json")[0] == 201  # replaced
    mining_id = _mine(api, user, account.user)
    mining = await _until_ended(cloudflare_local.services(stack), mining_id)
    assert mining["status"] == "failed" and mining["stats"]["error"].startswith("fetch: IMAP login failed"), mining
    (fetcher,) = await _exited(stack, mining_id)  # a refused login is an answer, not a crash: not started again
    assert fetcher["exit"] == 0
    for text in (fetcher["output"], json.dumps(mining)):
        assert wrong not in text and account.password not in text


def test_the_fetcher_process_logs_neither_its_password_nor_its_token(stack, caplog, capsys):
    from leadminer_fetcher.remote import main

    environ = {
        "LEADMINER_FETCH_API": stack.url, "LEADMINER_MINING_ID": uuid.uuid4().hex, "LEADMINER_FETCH_TOKEN": "token-never-logged",
        "LEADMINER_IMAP": json.dumps({"host": "127.0.0.1", "port": 1, "security": "plain", "login": "x@example.com"}),
        "LEADMINER_IMAP_PASSWORD": "password-never-logged",
    }  # fmt: skip
    with caplog.at_level("DEBUG"):
        assert main(environ) == 0  # no such mining: fetch-dispatch ends it
    assert "LEADMINER_FETCH_TOKEN" not in environ and "LEADMINER_IMAP_PASSWORD" not in environ  # taken out at start
    out = capsys.readouterr()
    logged = caplog.text + out.out + out.err
    assert "ends this fetcher" in logged
    assert "never-logged" not in logged


@pytest.mark.parametrize("dies", ["after its R2 copy", "before its R2 copy"])
async def test_a_batch_whose_storing_was_cut_short_is_settled_by_the_next_fetcher(stack, mailbox, dies):
    """The fetcher route records a batch as pending before storing it: a Worker dying in between
    leaves the next fetcher's begin to move the cursor past exactly the copy R2 kept (its extract
    message sent again), or to leave it where it was when no copy was kept; either way the mining
    ends with every message once."""
    from leadminer.adapters.cloudflare.d1 import D1Driver
    from leadminer.adapters.cloudflare.r2 import encode_messages
    from leadminer.adapters.cloudflare.remote_fetch import RemoteFetch, RemoteFetches

    services = cloudflare_local.services(stack)
    flow = MiningFlow(services)
    user = f"settle-{dies.split()[0]}"
    mining_id = await flow.start(user_id=user, source=f"imap:{user}")
    fetches = RemoteFetches(D1Driver(cloudflare_local.BridgeD1Database(stack, "DB")))
    files = sorted((mailbox / "cur").iterdir())[:5]
    raws = [RawMessage(mining_id, "INBOX", str(n), path.read_bytes()) for n, path in enumerate(files, 1)]
    body = {"batch": 0, "messages": encode_messages(raws), "uidvalidity": {"INBOX": 7}}

    async def dying_store(mining_id, batch_no, batch, **counters):
        if dies == "after its R2 copy":
            await services.raw.add_raw_batch(mining_id, batch_no, batch)
        raise RuntimeError("the Worker died")

    dying = RemoteFetch(flow, fetches)
    dying.flow = MiningFlow(services)
    dying.flow.store_batch = dying_store
    with pytest.raises(RuntimeError, match="died"):
        await dying.batch(mining_id, await fetches.launch(mining_id), body)

    remote, token = RemoteFetch(flow, fetches), await fetches.launch(mining_id)
    cursor = (await remote.begin(mining_id, token))["cursor"]
    assert cursor.get("pending") is None
    if dies == "after its R2 copy":
        assert cursor["batch"] == 1 and cursor["uids"] == {"INBOX": 5} and cursor["fetched"] == 5
    else:
        assert cursor["batch"] == 0 and cursor["uids"] == {}
        await remote.batch(mining_id, token, body)
    await remote.end(mining_id, token, {"state": []})
    mining = await _until_ended(services, mining_id)
    assert mining["status"] == "done" and mining["stats"]["fetched"] == 5
    assert await services.main.persons(user)
