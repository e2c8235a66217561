"""The HTTP API over :class:`~leadminer_api.memory.MemoryBackend` (no PostgreSQL, no Redis):
an upload mined by the in-process worker, rate limits, idempotency keys, the routes of
stored mailboxes (not in this backend), and the spool folder left clean."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from fastapi.testclient import TestClient

from leadminer.flow import MiningFlow, StageWorker
from leadminer.settings import Settings
from leadminer_api.app import create_app
from leadminer_api.backend import IdempotencyConflict
from leadminer_api.memory import MemoryBackend

SECRET = "test-secret-of-at-least-32-bytes-for-hs256"
MBOX = b"".join(
    f"From x@example Mon Mar  2 09:00:00 2026\nFrom: Person {n} <p{n}@example.com>\nTo: me@example.org\n"
    f"Subject: hello {n}\nDate: Mon, 02 Mar 2026 09:0{n}:00 +0000\nMessage-ID: <m{n}@example.com>\n\nHi.\n\n".encode()
    for n in range(3)
)


def auth(user: str) -> dict[str, str]:
    claims = {"sub": user, "aud": "authenticated", "exp": int(time.time()) + 600}
    return {"Authorization": f"Bearer {jwt.encode(claims, SECRET, algorithm='HS256')}"}


@pytest.fixture
def backend(tmp_path: Path) -> MemoryBackend:
    return MemoryBackend(tmp_path / "spool")


@pytest.fixture
def client(backend: MemoryBackend) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(supabase_jwt_secret=SECRET, mining_rate=(5, 60)), backend)) as test_client:
        yield test_client


def upload(client: TestClient, user: str, data: bytes = MBOX, **headers: str):
    return client.post(f"/api/imap/mine/file/{user}", files={"file": ("box.mbox", data, "application/mbox")}, headers={**auth(user), **headers})


def drain(client: TestClient, backend: MemoryBackend) -> int:
    """The in-process worker, in the app's event loop (the in-memory databases live there)."""

    async def work() -> int:
        async with backend.services() as services:
            return await StageWorker(MiningFlow(services)).drain()

    return client.portal.call(work)


def test_an_upload_is_mined_by_the_in_process_worker_and_exported(client, backend):
    assert client.get("/health").json()["data"]["dependencies"].keys() == {"temp_db", "main_db"}
    accepted = upload(client, "ann")
    assert accepted.status_code == 202
    mining_id = accepted.json()["data"]["miningId"]
    assert [p.name for p in backend.spool_dir.iterdir()] == [mining_id]  # the upload, in the mining's folder
    assert drain(client, backend) > 0
    assert list(backend.spool_dir.iterdir()) == []  # deleted when the mining ended
    events = client.get(f"/api/imap/mine/file/{mining_id}/progress", headers=auth("ann")).text
    assert "event: mining-completed" in events
    exported = client.post("/api/contacts/export/json", headers=auth("ann"), json={})
    assert exported.status_code == 200
    assert {p["email"] for p in json.loads(exported.content)} >= {"p0@example.com", "p1@example.com", "p2@example.com"}
    assert client.get("/api/imap/mine/bob", headers=auth("bob")).json()["data"] == []  # nothing of ann's


def test_rate_limits_and_idempotency_keys_are_kept_in_memory(client):
    first = upload(client, "ann", **{"Idempotency-Key": "k1"})
    again = upload(client, "ann", **{"Idempotency-Key": "k1"})
    assert first.status_code == again.status_code == 202
    assert first.json()["data"]["miningId"] == again.json()["data"]["miningId"]
    conflict = upload(client, "ann", MBOX[: len(MBOX) // 2], **{"Idempotency-Key": "k1"})
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "idempotency_conflict"
    assert len(client.get("/api/imap/mine/ann", headers=auth("ann")).json()["data"]) == 1
    assert client.get("/api/imap/mine/ann", headers=auth("ann")).status_code == 200  # the 5th mining request…
    refused = client.get("/api/imap/mine/ann", headers=auth("ann"))  # …and the 6th in the window
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert client.get("/api/imap/mine/bob", headers=auth("bob")).status_code == 200  # per user


def test_stored_mailboxes_are_not_available_in_this_backend(client):
    account = {"email": "me@example.org", "host": "imap.example.org", "password": "secret"}
    added = client.post("/api/imap/mine/sources/imap", headers=auth("ann"), json=account)
    assert added.status_code == 501 and "not available in this backend" in added.json()["error"]["message"]
    assert added.json()["error"]["code"] == "not_available"
    assert client.get("/api/imap/mine/sources", headers=auth("ann")).json()["data"] == []
    assert client.post("/api/imap/boxes", headers=auth("ann"), json={"email": "me@example.org"}).status_code == 501
    mined = client.post("/api/imap/mine/email/ann", headers=auth("ann"), json={"miningSource": {"email": "me@example.org"}})
    assert mined.status_code == 404


def test_a_temporary_spool_folder_is_removed_on_close_and_a_given_one_is_kept(tmp_path):
    async def cycle(backend: MemoryBackend) -> None:
        await backend.open()
        await backend.close()

    temporary = MemoryBackend()
    asyncio.run(cycle(temporary))
    assert not temporary.spool_dir.exists()
    given = MemoryBackend(tmp_path / "spool")
    asyncio.run(cycle(given))
    assert given.spool_dir.is_dir()


async def test_once_creates_once_per_key_even_when_asked_concurrently():
    backend = MemoryBackend()
    created = []

    async def create() -> str:
        await asyncio.sleep(0.01)
        created.append(1)
        return f"m{len(created)}"

    results = await asyncio.gather(*(backend.once("s", "k", "f", create) for _ in range(3)))
    assert results == ["m1"] * 3 and created == [1]
    with pytest.raises(IdempotencyConflict):
        await backend.once("s", "k", "other", create)
    await backend.close()


IMPORT = {
    "name": "contacts.csv",
    "cleaningEnabled": True,
    "contacts": [
        {"email": "Ada.Lovelace@Analytical.example", "name": "Ada Lovelace", "job_title": "Analyst",
         "works_for": "Analytical Engines", "same_as": "https://example.org/ada, https://example.net/ada", "phone": "+44 1"},
        {"email": "grace@cobol.example", "given_name": "Grace", "family_name": "Hopper", "location": "Arlington"},
        {"email": "ada.lovelace@analytical.example", "alternate_name": "Countess of Lovelace"},  # the same person again
        {"email": "noreply@shop.example", "name": None},
    ],
}


def test_imported_contacts_are_cleaned_refined_and_listed(client, backend):
    started = client.post("/api/imap/mine/file/ann", headers=auth("ann"), json=IMPORT)
    assert started.status_code == 202, started.text
    mining_id = started.json()["data"]["miningId"]
    assert drain(client, backend) > 0
    mining = client.get(f"/api/imap/mine/file/{mining_id}", headers=auth("ann")).json()["data"]
    assert mining["status"] == "done" and mining["source"] == "import:contacts.csv"
    assert mining["stages"]["refine"] == "done" and mining["counters"]["persons"] == 3
    contacts = {c["email"]: c for c in client.get("/api/contacts/ann", headers=auth("ann")).json()["data"]["contacts"]}
    assert set(contacts) == {"ada.lovelace@analytical.example", "grace@cobol.example", "noreply@shop.example"}
    ada = contacts["ada.lovelace@analytical.example"]
    assert (ada["name"], ada["job_title"], ada["organization"]) == ("Ada Lovelace", "Analyst", "Analytical Engines")
    assert ada["same_as"] == ["https://example.net/ada", "https://example.org/ada"]
    assert ada["alternate_names"] == ["Countess of Lovelace"] and ada["status"] == "unknown"  # cleaned offline
    assert contacts["grace@cobol.example"]["address"] == "Arlington"
    assert "no-reply" in contacts["noreply@shop.example"]["tags"]  # the clean stage's address tags
    events = client.get(f"/api/imap/mine/file/{mining_id}/progress", headers=auth("ann")).text
    assert "event: mining-completed" in events
    assert client.get("/api/contacts/bob", headers=auth("bob")).json()["data"]["contacts"] == []


def test_an_import_with_a_bad_row_is_refused_naming_the_row(client):
    bad_email = {"name": "c.csv", "contacts": [{"email": "a@b.example"}, {"email": "not-an-address"}]}
    refused = client.post("/api/imap/mine/file/ann", headers=auth("ann"), json=bad_email)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid"
    assert "contacts.1.email" in refused.json()["error"]["message"] and "not-an-address" in refused.json()["error"]["message"]
    bad_url = {"name": "c.csv", "contacts": [{"email": "a@b.example", "same_as": "https://ok.example, javascript:alert(1)"}]}
    assert "contacts.0.same_as" in client.post("/api/imap/mine/file/ann", headers=auth("ann"), json=bad_url).json()["error"]["message"]
    for body in ({"name": "c.csv", "contacts": []}, {"contacts": [{"email": "a@b.example"}]}, {"name": "c.csv", "contacts": [{"name": "x"}]}):
        assert client.post("/api/imap/mine/file/bob", headers=auth("bob"), json=body).status_code == 422  # (5 a minute each)
    not_json = client.post("/api/imap/mine/file/cy", headers={**auth("cy"), "content-type": "application/json"}, content=b"{")
    assert not_json.status_code == 422
    for user in ("ann", "bob"):
        assert client.get(f"/api/imap/mine/{user}", headers=auth(user)).json()["data"] == []  # nothing started


def test_uploads_a_dead_api_process_left_half_received_are_swept_at_start(tmp_path):
    import os

    spool = tmp_path / "spool"
    abandoned, receiving = spool / "incoming-dead", spool / "incoming-live"
    for folder in (abandoned, receiving):
        folder.mkdir(parents=True)
        (folder / "mailbox").write_bytes(b"From x\n")
    hours_ago = time.time() - 7200
    for path in (abandoned / "mailbox", abandoned):
        os.utime(path, (hours_ago, hours_ago))
    mining = spool / "0123abcd"  # a queued mining's upload: not the sweep's
    mining.mkdir()
    os.utime(mining, (hours_ago, hours_ago))
    with TestClient(create_app(Settings(supabase_jwt_secret=SECRET), MemoryBackend(spool))):
        assert sorted(p.name for p in spool.iterdir()) == ["0123abcd", "incoming-live"]
