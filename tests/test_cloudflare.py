"""The Cloudflare mode on the local stack (cloudflare/local/stack.mjs): Miniflare's real local
Queues, R2 and D1, the five Python Workers under Node's Pyodide with the `workers` SDK, the main
store on the local Supabase (PostgREST stand-in over the session's PostgreSQL). The fetch runs
here (a plain process, like the fetcher) through the stack's bridges; the Workers do extract →
clean → signature → refine through the queues. One stack for the module."""

from __future__ import annotations

import asyncio
import http.server
import io
import json
import shutil
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
    running = cloudflare_local.Stack(supabase=supabase)
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
