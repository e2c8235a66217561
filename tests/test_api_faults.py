"""Faults through the HTTP API, with real processes: a worker SIGKILLed mid-mining, Redis
restarted mid-mining (a Redis of the test's own), and one SSE client served alternately by
two API processes. The session's PostgreSQL; small mailboxes, so each test takes seconds."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient

from leadminer_runner import local_servers as servers
from leadminer.contracts import to_dict
from leadminer.flow import MiningFlow, StageWorker
from leadminer.settings import Settings
from leadminer_runner.demo import generate_demo_mailbox
from leadminer_runner.embedded import mine
from leadminer_runner.services import selfhost_services
from leadminer_runner.sources import FileMessageSource
from pg import postgres_database  # noqa: F401 - fixture
from test_api import SECRET, auth, settings, sse_events, upload  # noqa: F401 - fixtures and helpers

from leadminer_api.app import create_app

TIMEOUT = 60.0
MESSAGES = 1200  # three raw batches of 500


@pytest.fixture
def big_settings(settings) -> Settings:  # noqa: F811 - test_api's fixture
    return dataclasses.replace(settings, upload_limit_mb=64)


@pytest.fixture(scope="module")
def big_mailbox(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("mail") / "big.mbox"
    generate_demo_mailbox(path, seed=9, messages=MESSAGES)
    return path


@pytest.fixture(scope="module")
def reference(big_mailbox, tmp_path_factory) -> list[dict]:
    """The contacts of the embedded mode on the same mailbox, for user ann."""
    from leadminer.adapters.sqlite import SqliteMainStore
    from leadminer.adapters.sqlite import connect as sqlite_connect

    db = tmp_path_factory.mktemp("embedded") / "e.db"
    mine(FileMessageSource(big_mailbox), db_path=db, user_id="ann")
    conn = sqlite_connect(db)
    try:
        return [to_dict(p) for p in asyncio.run(SqliteMainStore(conn).persons("ann"))]
    finally:
        conn.close()


def environment(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "LEADMINER_TEMP_DATABASE_URL": settings.temp_database_url,
        "LEADMINER_DATABASE_URL": settings.database_url,
        "LEADMINER_REDIS_URL": settings.redis_url,
        "LEADMINER_QUEUE_PREFIX": settings.queue_prefix,
        "LEADMINER_SPOOL_DIR": settings.spool_dir,
        "LEADMINER_SECRET_KEY": settings.secret_keys[0],
        "SUPABASE_JWT_SECRET": SECRET,
        "LEADMINER_UPLOAD_LIMIT_MB": str(settings.upload_limit_mb),
        **extra,
    }


@contextlib.contextmanager
def worker_process(settings: Settings, **extra: str) -> Iterator[subprocess.Popen]:
    """``leadminer selfhost worker`` in a process of its own (stopped by SIGTERM at the end if alive)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "leadminer_runner.cli", "selfhost", "worker"],
        env=environment(settings, **extra), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        yield process
    finally:
        terminate(process)
        process.stderr.close()


@contextlib.contextmanager
def api_process(settings: Settings) -> Iterator[str]:
    """``leadminer api`` on a free port; yields its base URL once /health answers."""
    port = servers.free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "leadminer_runner.cli", "api", "--port", str(port)],
        env=environment(settings), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + TIMEOUT
        while True:
            assert process.poll() is None and time.monotonic() < deadline, "the API process did not start"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            time.sleep(0.1)
        yield url
    finally:
        terminate(process)


def terminate(process: subprocess.Popen) -> None:
    """SIGTERM (a graceful stop), then SIGKILL if it has not exited within 15 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def progress(settings: Settings, mining_id: str):
    async def read():
        async with selfhost_services(settings, consumer="watch") as services:
            return await MiningFlow(services).progress(mining_id)

    return asyncio.run(read())


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def follow(client: TestClient, url: str, user: str = "ann") -> tuple[list, threading.Thread]:
    """Read the SSE stream in a thread until it ends; the events land in the list."""
    events: list = []

    def read() -> None:
        events.extend(sse_events(client.get(url, headers=auth(user)).text))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return events, reader


def contacts(settings: Settings, user: str = "ann") -> list[dict]:
    async def read():
        async with selfhost_services(settings, consumer="check") as services:
            return [to_dict(p) for p in await services.main.persons(user)]

    return asyncio.run(read())


# -------------------------------------------------------------------------------------------------
def test_a_worker_killed_mid_mining_loses_and_doubles_nothing(big_settings, big_mailbox, reference):
    settings = big_settings
    with TestClient(create_app(settings)) as client:
        started = upload(client, "ann", big_mailbox)
        assert started.status_code == 202, started.text
        mining_id, url = started.json()["data"]["miningId"], started.json()["data"]["progressUrl"]
        events, reader = follow(client, url)
        with worker_process(settings, LEADMINER_CLAIM_IDLE_SECONDS="1") as doomed:
            wait_for(lambda: (p := progress(settings, mining_id)) is not None and p.fetched > 0, "the fetch to start")
            doomed.send_signal(signal.SIGKILL)  # mid-fetch: its delivery and its locks are left behind
            doomed.wait(10)
        killed_at = progress(settings, mining_id)
        assert killed_at is not None and killed_at.extracted < MESSAGES  # it did die mid-mining
        with worker_process(settings, LEADMINER_CLAIM_IDLE_SECONDS="1"):
            reader.join(TIMEOUT)
        assert not reader.is_alive(), "the SSE stream did not end"
    assert events[-1][0] == "mining-completed", events[-1]
    assert events[-1][1]["fetched"] == MESSAGES
    assert contacts(settings) == reference  # 0 lost, 0 doubled


def test_a_redis_restart_mid_mining_ends_the_mining_and_its_stream(big_settings, big_mailbox, reference):
    own = servers.start_redis(persistent=True)  # this test's own Redis, restarted mid-mining
    try:
        settings = dataclasses.replace(big_settings, redis_url=own.url)
        with TestClient(create_app(settings)) as client:
            started = upload(client, "ann", big_mailbox)
            mining_id, url = started.json()["data"]["miningId"], started.json()["data"]["progressUrl"]
            events, reader = follow(client, url)
            with worker_process(settings, LEADMINER_CLAIM_IDLE_SECONDS="1") as worker:
                wait_for(lambda: (p := progress(settings, mining_id)) is not None and p.fetched > 0, "the fetch to start")
                own.stop(keep_data=True)
                time.sleep(1.0)
                own.process = servers.start_redis(port=own.port, base_dir=own.base_dir, persistent=True).process
                reader.join(TIMEOUT)
                assert not reader.is_alive(), "the SSE stream did not end"
                assert worker.poll() is None  # the worker rode the outage out
            mining = client.get(f"/api/imap/mine/file/{mining_id}", headers=auth("ann")).json()["data"]
        name, data = events[-1]
        assert name in ("mining-completed", "mining-failed") and mining["status"] != "running"
        if name == "mining-failed":
            assert data["reason"] and mining["error"]
        else:
            assert contacts(settings) == reference
    finally:
        own.stop()


def test_one_sse_client_served_alternately_by_two_api_processes(big_settings, big_mailbox):
    settings = big_settings
    with api_process(settings) as first, api_process(settings) as second:
        with big_mailbox.open("rb") as handle:
            started = httpx.post(
                f"{first}/api/imap/mine/file/ann", headers=auth("ann"), files={"file": ("big.mbox", handle)}, timeout=30
            )  # fmt: skip
        assert started.status_code == 202, started.text
        mining_id, path = started.json()["data"]["miningId"], started.json()["data"]["progressUrl"]

        async def worker_round() -> int:  # one round of an in-process worker, on its own loop
            async with selfhost_services(settings, consumer="stepper") as services:
                return await StageWorker(MiningFlow(services)).step()

        seen: list[tuple[int | None, str, object]] = []  # (id, event, data) in the order received
        served = {first: 0, second: 0}
        last_id: str | None = None
        for turn in range(40):
            base = (first, second)[turn % 2]
            headers = {**auth("ann"), **({"Last-Event-ID": last_id} if last_id else {})}
            got = read_for(f"{base}{path}", headers, seconds=0.5)
            served[base] += bool(got)
            seen += got
            if got and got[-1][0] is not None:
                last_id = str(got[-1][0])
            if got and got[-1][1] in ("mining-completed", "mining-failed"):
                break
            asyncio.run(worker_round())
        names = [name for _, name, _ in seen]
    assert names[-1] == "mining-completed", names[-3:]
    assert served[first] >= 2 and served[second] >= 2, served  # both processes served the client, in turn
    ids = [event_id for event_id, _, _ in seen if event_id is not None]
    assert ids == sorted(ids)  # resumed where it was: nothing older sent again
    for counter in ("fetched", "extracted", "verifiedContacts"):
        values = [data for _, name, data in seen if name == f"{counter}-{mining_id}"]
        assert values and values == sorted(values), (counter, values)  # counters only grow
    assert seen[-1][2]["fetched"] == MESSAGES


def read_for(url: str, headers: dict, *, seconds: float) -> list[tuple[int | None, str, object]]:
    """SSE events read from ``url`` for ``seconds`` at most (or until the stream ends), then disconnected."""
    out = []
    block: dict[str, str] = {}
    deadline = time.monotonic() + seconds
    with contextlib.suppress(httpx.ReadTimeout):
        with httpx.stream("GET", url, headers=headers, timeout=httpx.Timeout(5, read=seconds)) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if line:
                    key, _, value = line.partition(": ")
                    block[key] = value
                    continue
                if block:
                    event_id = int(block["id"]) if "id" in block else None
                    out.append((event_id, block["event"], json.loads(block["data"])))
                    block = {}
                if time.monotonic() > deadline:
                    break
    return out
