"""Self-host mode (the flow over ``leadminer_runner.services.selfhost_services``) on a real PostgreSQL and Redis:
the same result as the embedded runner, shared work, crashed workers, the fan-in
barrier under duplicate deliveries, failed and dead minings.

Each test gets two fresh schemas (temp and main database), its own stream names
(a uuid prefix, deleted afterwards) and its own connections per worker, on the
session's PostgreSQL and Redis (runner/leadminer_runner/local_servers.py starts them).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from leadminer.contracts import to_dict
from leadminer.flow import MiningFlow, MiningServices, StageWorker
from leadminer.settings import Settings
from leadminer_runner.demo import generate_demo_mailbox
from leadminer_runner import local_servers as servers
from pg import SERVER, admin, postgres_database  # noqa: F401 - fixtures

redis = pytest.importorskip("redis")
pytest.importorskip("psycopg")

from leadminer_runner.embedded import mine  # noqa: E402
from leadminer_runner.selfhost import enqueue_mining, run_worker  # noqa: E402
from leadminer_runner.services import selfhost_services  # noqa: E402
from leadminer_runner.sources import FileMessageSource  # noqa: E402

BATCH = 20
BATCHES = 7  # 123 messages (see ``mailbox``)
IDLE_MS = 50  # claim_idle_ms of the tests that simulate a crashed worker
TIMEOUT = 20.0


@dataclass
class Env:
    settings: Settings
    redis: redis.Redis
    mailbox: Path
    identities: list[str]

    @asynccontextmanager
    async def services(self, **options):
        """Services with their own connections and consumer name: each is another runner.
        ``options``: settings to change (``claim_idle_ms``, ``queue_max_attempts``)."""
        settings = dataclasses.replace(self.settings, **options)
        async with selfhost_services(settings, consumer=uuid.uuid4().hex) as services:
            yield services

    def cli_env(self, **extra: str) -> dict[str, str]:
        return {
            "LEADMINER_TEMP_DATABASE_URL": self.settings.temp_database_url,
            "LEADMINER_DATABASE_URL": self.settings.database_url,
            "LEADMINER_REDIS_URL": self.settings.redis_url,
            "LEADMINER_QUEUE_PREFIX": self.settings.queue_prefix,
            **extra,
        }


@pytest.fixture(scope="module")
def mailbox(tmp_path_factory) -> tuple[Path, list[str]]:
    """A reproducible demo mbox (threads, signatures, newsletters, odd encodings), plus a
    copy of its first message (a duplicate Message-ID in another batch) and two
    messages without a header block (failures, one with NUL bytes)."""
    path = tmp_path_factory.mktemp("mail") / "demo.mbox"
    info = generate_demo_mailbox(path, seed=11, messages=120)
    data = path.read_bytes()
    with path.open("ab") as f:
        f.write(data[: data.index(b"\nFrom ", 10) + 1])
        f.write(b"From broken@x Mon Jan  1 00:00:00 2024\n\x00\x01garbage without any header\n\n")
        f.write(b"From broken@x Mon Jan  1 00:00:00 2024\nnot a header line\n\nbody\n\n")
    return path, list(info.identities)


@pytest.fixture(scope="module")
def embedded(mailbox, tmp_path_factory):
    """Persons and summary of the embedded runner on the same mailbox."""
    from leadminer.adapters.sqlite import SqliteMainStore
    from leadminer.adapters.sqlite import connect as sqlite_connect

    path, identities = mailbox
    db = tmp_path_factory.mktemp("embedded") / "e.db"
    summary = mine(FileMessageSource(path), db_path=db, identities=identities, batch_size=BATCH)
    conn = sqlite_connect(db)
    persons = [to_dict(p) for p in asyncio.run(SqliteMainStore(conn).persons("local"))]
    conn.close()
    return persons, summary


@pytest.fixture
def env(postgres_database, redis_client, redis_url, mailbox) -> Iterator[Env]:  # noqa: F811 - fixture
    schemas = [f"t_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    with admin(postgres_database) as conn:
        for schema in schemas:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    dsn = [f"{SERVER} dbname={postgres_database} options='-c search_path={s}'" for s in schemas]
    prefix = f"t{uuid.uuid4().hex[:12]}:"
    settings = Settings(
        storage_mode="postgresql", temp_database_url=dsn[0], database_url=dsn[1], redis_url=redis_url, queue_prefix=prefix
    )
    yield Env(settings, redis_client, *mailbox)
    keys = list(redis_client.scan_iter(match=f"leadminer:{prefix}*"))
    if keys:
        redis_client.delete(*keys)
    with admin(postgres_database) as conn:
        for schema in schemas:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


async def start(env: Env, services: MiningServices) -> str:
    source = FileMessageSource(env.mailbox)
    return await enqueue_mining(services, source, user_id="local", identities=env.identities, batch_size=BATCH)


async def status(services: MiningServices, mining_id: str) -> str:
    return (await services.main.mining(mining_id))["status"]


async def work_until_ended(services: MiningServices, mining_id: str, *workers: StageWorker) -> list[int]:
    """Rounds of every worker until the mining ended; how many deliveries each handled."""
    workers = workers or (StageWorker(MiningFlow(services)),)
    handled = [0] * len(workers)
    deadline = time.monotonic() + TIMEOUT
    while await status(services, mining_id) == "running":
        assert time.monotonic() < deadline, "the mining did not end in time"
        for i, worker in enumerate(workers):
            handled[i] += await worker.step()
        await asyncio.sleep(0.005)
    return handled


async def assert_same_as_embedded(services: MiningServices, mining_id: str, embedded) -> None:
    persons, summary = embedded
    assert await status(services, mining_id) == "done"
    assert [to_dict(p) for p in await services.main.persons("local")] == persons
    got = await MiningFlow(services).summary(mining_id)
    skip = {"mining_id", "seconds", "failures"}
    assert {k: getattr(got, k) for k in got.__slots__ if k not in skip} == {
        k: getattr(summary, k) for k in summary.__slots__ if k not in skip
    }
    assert [(f.folder, f.uid, f.reason) for f in got.failures] == [(f.folder, f.uid, f.reason) for f in summary.failures]
    assert await services.temp.mining_ids() == []  # temp rows (raw batches included) dropped


async def test_same_persons_and_summary_as_the_embedded_runner(env, embedded):
    async with env.services() as services:
        mining_id = await start(env, services)
        assert await status(services, mining_id) == "running"
        handled = await work_until_ended(services, mining_id)
        assert handled == [BATCHES + 3]  # one message per batch, then clean, signature, refine
        await assert_same_as_embedded(services, mining_id, embedded)
    summary = embedded[1]
    assert (summary.fetched, summary.failed, summary.duplicates) == (123, 2, 1) and len(embedded[0]) > 30


async def test_two_workers_share_the_work(env, embedded):
    async with env.services() as fetcher, env.services() as one, env.services() as two:
        mining_id = await start(env, fetcher)
        workers = [StageWorker(MiningFlow(one)), StageWorker(MiningFlow(two))]
        handled = await work_until_ended(fetcher, mining_id, *workers)
        assert all(handled) and sum(handled) == BATCHES + 3
        await assert_same_as_embedded(fetcher, mining_id, embedded)


async def test_a_message_left_unacked_by_a_crashed_worker_is_claimed_by_another(env, embedded):
    async with env.services() as fetcher, env.services(claim_idle_ms=IDLE_MS) as crashed:
        async with env.services(claim_idle_ms=IDLE_MS) as survivor_services:
            mining_id = await start(env, fetcher)
            assert len(await crashed.queues["extract"].receive(1)) == 1  # received, never acked: the worker died
            survivor = StageWorker(MiningFlow(survivor_services))
            while not (await fetcher.ledger.run(mining_id)).steps.get("signature"):
                await survivor.step()
            assert len(await crashed.queues["refine"].receive(1)) == 1  # dies again, on the last stage
            await asyncio.sleep(IDLE_MS / 1000 * 1.5)
            await work_until_ended(fetcher, mining_id, survivor)
            await assert_same_as_embedded(fetcher, mining_id, embedded)


async def test_duplicate_deliveries_hand_the_mining_to_clean_once(env, embedded):
    async with env.services() as services:
        sent: list = []
        clean = services.queues["clean"]
        send = clean.send

        async def recording_send(body):
            sent.append(body)
            await send(body)

        clean.send = recording_send
        mining_id = await start(env, services)
        for batch in range(BATCHES):  # every batch delivered twice
            await services.queues["extract"].send({"mining_id": mining_id, "batch": batch})
        await work_until_ended(services, mining_id)
        assert sent == [{"mining_id": mining_id}]
        await assert_same_as_embedded(services, mining_id, embedded)


async def test_a_stage_that_always_fails_fails_the_mining_with_the_reason(env, monkeypatch):
    import leadminer.flow.mining as flow_mining

    async def boom(ctx, extractor=None):
        raise RuntimeError("signature model unavailable")

    monkeypatch.setattr(flow_mining, "handle_signatures", boom)
    async with env.services(queue_max_attempts=2) as services:
        mining_id = await start(env, services)
        await work_until_ended(services, mining_id)
        mining = await services.main.mining(mining_id)
        assert mining["status"] == "failed"
        assert mining["stats"]["error"] == "signature stage failed after 2 attempts: RuntimeError: signature model unavailable"
        assert await services.main.failures(mining_id) and await services.temp.mining_ids() == []
        assert await run_worker(services, stop=lambda: True) == 0


def lose_the_streams(env: Env) -> None:
    """What a Redis restarted without its data does to the queues."""
    env.redis.delete(*env.redis.scan_iter(match=f"leadminer:{env.settings.queue_prefix}*"))


async def test_cleanup_spares_a_mining_whose_messages_wait_behind_a_backlog(env, embedded):
    async with env.services() as services:
        flow = MiningFlow(services)
        mining_id = await start(env, services)  # its batches are queued; no worker has come yet
        await services.ledger.start_run("orphan", "local", "gone", [])  # temp rows of a mining that is not running
        assert await flow.cleanup(stale_seconds=0) == []  # waiting is not dying
        assert await services.temp.mining_ids() == [mining_id]  # the orphan's rows went
        await work_until_ended(services, mining_id)
        await assert_same_as_embedded(services, mining_id, embedded)


async def test_cleanup_ends_a_mining_without_activity_whose_messages_are_gone(env):
    async with env.services() as services:
        flow = MiningFlow(services)
        mining_id = await start(env, services)
        lose_the_streams(env)
        await services.ledger.touch(mining_id)  # a delivery of it just started: activity
        assert await flow.cleanup(stale_seconds=5) == []
        assert await flow.cleanup(stale_seconds=0) == [mining_id]
        mining = await services.main.mining(mining_id)
        assert mining["status"] == "interrupted" and mining["stats"]["error"].startswith("no progress for")
        assert await services.temp.mining_ids() == []


async def test_cleanup_never_races_a_stage_or_a_fetch_in_progress(env):
    from leadminer.flow.mining import fetch_lease

    async with env.services() as services, env.services() as runner:
        flow = MiningFlow(services)
        mining_id = await start(env, services)
        lose_the_streams(env)  # nothing waits anywhere, and no activity: only the locks tell
        for held in (mining_id, fetch_lease(mining_id)):  # a long stage, then a long fetch, of another runner
            async with runner.ledger.mining_lock(held):
                assert await flow.cleanup(stale_seconds=0) == []
                assert await status(services, mining_id) == "running"
        assert await flow.cleanup(stale_seconds=0) == [mining_id]


async def test_a_stopped_mining_drops_its_queued_work_and_temp_rows(env):
    async with env.services() as services:
        flow = MiningFlow(services)
        mining_id = await start(env, services)
        assert await flow.stop(mining_id) is True
        assert await flow.stop(mining_id) is False  # already ended
        mining = await services.main.mining(mining_id)
        assert mining["status"] == "canceled" and mining["stats"]["error"] == "stopped by the user"
        assert await services.temp.mining_ids() == []
        worker = StageWorker(flow)
        while await worker.step():
            pass
        assert await status(services, mining_id) == "canceled" and await services.temp.mining_ids() == []


async def test_a_message_that_kills_every_worker_fails_the_mining(env):
    async with env.services() as services:
        mining_id = await start(env, services)
        for _ in range(2):  # two workers die on the same batch
            async with env.services(claim_idle_ms=IDLE_MS, queue_max_attempts=2) as dying:
                assert len(await dying.queues["extract"].receive(1)) == 1
            await asyncio.sleep(IDLE_MS / 1000 * 1.5)
        async with env.services(claim_idle_ms=IDLE_MS, queue_max_attempts=2) as survivor:
            await work_until_ended(services, mining_id, StageWorker(MiningFlow(survivor)))
        mining = await services.main.mining(mining_id)
        assert mining["status"] == "failed"
        assert mining["stats"]["error"].startswith("extract stage failed after 2 attempts: not acked after 2")


async def test_the_barrier_is_claimed_once_by_concurrent_runners(env):
    from leadminer.storage import BatchCounts

    async with env.services() as first:
        await first.ledger.start_run("m1", "local", "src", [])
    claims = []

    async def last_batch(i: int) -> None:  # 8 runners: 7 finish a batch, the fetcher ends, all at once
        async with env.services() as runner:
            await gate.wait()
            if i < 7:
                await runner.ledger.finish_batch("m1", i, BatchCounts(1, 0, 0, 1))
            else:
                await runner.ledger.end_fetch("m1", batches=7, fetched=7, failed=0, fetch_state=[])
            claims.append(await runner.ledger.claim_clean("m1"))

    gate = asyncio.Event()
    tasks = [asyncio.create_task(last_batch(i)) for i in range(8)]
    await asyncio.sleep(0.5)
    gate.set()
    await asyncio.gather(*tasks)
    assert sorted(claims) == [False] * 7 + [True]


async def test_a_worker_rides_out_a_redis_restart_mid_mining(env, embedded, caplog):
    own = servers.start_redis(persistent=True)  # a Redis of this test's own, restarted mid-mining
    try:
        settings = dataclasses.replace(env.settings, redis_url=own.url)
        async with selfhost_services(settings, consumer="w1") as services:
            mining_id = await start(env, services)
            flow = MiningFlow(services)
            worker = StageWorker(flow)
            for _ in range(3):  # some batches extracted, then Redis goes away
                await worker.step()
            own.stop(keep_data=True)

            async def restart_later() -> None:
                await asyncio.sleep(1.0)
                own.process = servers.start_redis(port=own.port, base_dir=own.base_dir, persistent=True).process

            state = "running"

            async def watch() -> None:
                nonlocal state
                state = await status(services, mining_id)

            restarter = asyncio.create_task(restart_later())
            with caplog.at_level(logging.WARNING, logger="leadminer.flow"):
                await asyncio.wait_for(worker.run(lambda: state != "running", idle_wait=0.01, on_round=watch), TIMEOUT)
            await restarter
            await assert_same_as_embedded(services, mining_id, embedded)
        lines = [r.getMessage() for r in caplog.records]
        assert sum("unreachable" in line for line in lines) == 1 and sum("reachable again" in line for line in lines) == 1
    finally:
        own.stop()


# command line ------------------------------------------------------------------------
def test_cli_mine_wait_prints_the_embedded_summary(env, embedded):
    from typer.testing import CliRunner

    from leadminer_runner.cli import app

    args = ["selfhost", "mine", str(env.mailbox), "--wait", "--json"]
    for identity in env.identities:
        args += ["--identity", identity]
    result = CliRunner().invoke(app, args, env=env.cli_env())
    assert result.exit_code == 1, result.output  # done, with 2 messages that could not be mined
    summary = json.loads(result.stdout)
    assert summary["persons"] == embedded[1].persons and summary["tags"] == embedded[1].tags
    assert summary["failed"] == 2 and len(summary["failures"]) == 2
    result = CliRunner().invoke(app, ["selfhost", "cleanup"], env=env.cli_env())
    assert result.exit_code == 0 and result.stdout == ""


def test_cli_refuses_missing_settings_and_unreachable_services_without_showing_passwords(env):
    from typer.testing import CliRunner

    from leadminer_runner.cli import app

    def run(command: str, **variables: str):
        result = CliRunner().invoke(app, ["selfhost", command], env=variables)
        return result.exit_code, " ".join(result.output.split())  # rich wraps long lines

    code, output = run("worker", LEADMINER_DATABASE_URL="", LEADMINER_TEMP_DATABASE_URL="")
    assert code == 2 and "needs LEADMINER_TEMP_DATABASE_URL and LEADMINER_DATABASE_URL" in output
    bad_pg = "postgresql://lm:pg-secret-pw@127.0.0.1:1/x?connect_timeout=2"
    code, output = run("cleanup", **env.cli_env(LEADMINER_DATABASE_URL=bad_pg))
    assert code == 2 and "cannot connect to PostgreSQL" in output
    assert "pg-secret-pw" not in output and "***" in output
    code, output = run("cleanup", **env.cli_env(LEADMINER_REDIS_URL="redis://:redis-secret-pw@127.0.0.1:1/0"))
    assert code == 2 and "cannot connect to Redis" in output
    assert "redis-secret-pw" not in output and "***" in output


def test_worker_processes_mine_a_queued_mining_and_stop_on_sigterm(env, embedded):
    import os
    import signal
    import subprocess
    import sys

    from typer.testing import CliRunner

    from leadminer_runner.cli import app

    args = ["selfhost", "mine", str(env.mailbox), *[x for i in env.identities for x in ("--identity", i)]]
    result = CliRunner().invoke(app, args, env=env.cli_env())
    assert result.exit_code == 0, result.output
    mining_id = result.stdout.strip()
    worker_env = {**os.environ, **env.cli_env()}
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "leadminer_runner.cli", "selfhost", "worker"],
            env=worker_env, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        for _ in range(2)
    ]
    async def wait_and_check() -> None:
        async with env.services() as services:
            deadline = time.monotonic() + TIMEOUT
            while await status(services, mining_id) == "running" and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await assert_same_as_embedded(services, mining_id, embedded)

    try:
        asyncio.run(wait_and_check())
    finally:
        started = []
        for worker in workers:  # a worker still importing has no SIGTERM handler yet: wait for its "started"
            lines = []
            while (line := worker.stderr.readline()) and " started " not in line:
                lines.append(line)
            started.append("".join(lines) + line)
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        outputs = [head + worker.communicate(timeout=10)[1] for head, worker in zip(started, workers)]
    assert [w.returncode for w in workers] == [0, 0], outputs
    assert all("SIGTERM: stopping after the current message" in out and "worker stopped after" in out for out in outputs)


def test_export_minings_and_failures_read_the_main_postgresql_in_self_host_mode(env, embedded, tmp_path):
    from typer.testing import CliRunner

    from leadminer.export import render
    from leadminer_runner.cli import app

    args = ["selfhost", "mine", str(env.mailbox), "--wait", "--json", *[x for i in env.identities for x in ("--identity", i)]]
    assert CliRunner().invoke(app, args, env=env.cli_env()).exit_code == 1  # done, 2 failed messages
    mode = env.cli_env(STORAGE_MODE="postgresql")
    exported = CliRunner().invoke(app, ["export", "--format", "json"], env=mode)
    assert exported.exit_code == 0, exported.output
    from leadminer.contracts import RefinedPerson

    assert exported.stdout == render([RefinedPerson(**p) for p in embedded[0]], "json")
    minings = [json.loads(line) for line in CliRunner().invoke(app, ["minings"], env=mode).stdout.splitlines()]
    assert [m["status"] for m in minings] == ["done"]
    failures = CliRunner().invoke(app, ["failures", minings[0]["id"]], env=mode).stdout.splitlines()
    assert len(failures) == 2 and all(json.loads(f)["reason"] for f in failures)


class SlowFileOpener:
    """Opens the test's mailbox as a source that takes ``delay`` seconds per message, and counts its readings."""

    def __init__(self, path: Path, delay: float):
        self.path, self.delay, self.readings = path, delay, 0

    async def open(self, user_id, spec):
        opener = self

        class Slow:
            def __init__(self):
                self.inner = FileMessageSource(opener.path)
                self.label = self.inner.label

            def count(self, state):
                return self.inner.count(state)

            async def iter_messages(self, mining_id, state):
                opener.readings += 1
                for item in self.inner.iter_messages(mining_id, state):
                    await asyncio.sleep(opener.delay)
                    yield item

        return Slow()


async def test_two_workers_never_fetch_the_same_mining_at_once(env, embedded):
    opener = SlowFileOpener(env.mailbox, 0.004)  # about 0.5 s of fetch
    async with env.services() as one, env.services() as two:
        one.sources = two.sources = opener
        flow = MiningFlow(one)
        mining_id = await flow.start(user_id="local", source="slow", identities=env.identities)
        await flow.enqueue_fetch(mining_id, {})
        (delivery,) = await one.queues["fetch"].receive()
        # the same fetch delivered twice at once (its first worker seemed dead to the queue)
        await asyncio.gather(flow.handle("fetch", delivery.body), MiningFlow(two).handle("fetch", delivery.body))
        assert opener.readings == 1
        await work_until_ended(one, mining_id)
        assert [to_dict(p) for p in await one.main.persons("local")] == embedded[0]


async def test_a_stop_does_not_wait_for_the_stage_that_holds_the_mining_lock(env):
    async with env.services() as worker_services, env.services() as api:
        mining_id = await start(env, worker_services)
        async with worker_services.ledger.mining_lock(mining_id):  # a long stage in progress elsewhere
            assert await asyncio.wait_for(MiningFlow(api).stop(mining_id), 2) is True
            assert await status(api, mining_id) == "canceled" and await MiningFlow(api).progress(mining_id) is None
            assert await api.temp.mining_ids() == [mining_id]  # rows left to the lock holder
            async with api.ledger.mining_lock(mining_id, wait=False) as held:
                assert held is False
        await StageWorker(MiningFlow(worker_services)).drain()  # its queued batches are dropped
        assert await status(api, mining_id) == "canceled"
        await MiningFlow(worker_services).cleanup(stale_seconds=3600)  # leftovers of ended minings go
        assert await api.temp.mining_ids() == []


async def test_a_fetch_longer_than_the_claim_time_is_kept_by_its_live_worker(env, embedded, caplog):
    opener = SlowFileOpener(env.mailbox, 0.02)  # about 2.5 s of fetch: five claim periods
    async with env.services(claim_idle_ms=500) as one, env.services(claim_idle_ms=500) as two:
        one.sources = two.sources = opener
        flow = MiningFlow(one)
        mining_id = await flow.start(user_id="local", source="slow", identities=env.identities)
        await flow.enqueue_fetch(mining_id, {})
        state = "running"

        async def watch() -> None:
            nonlocal state
            state = await status(one, mining_id)

        workers = [StageWorker(MiningFlow(services)) for services in (one, two)]
        runs = [worker.run(lambda: state != "running", idle_wait=0.02, on_round=watch) for worker in workers]
        with caplog.at_level(logging.WARNING, logger="leadminer_runner.redis_queue"):
            await asyncio.wait_for(asyncio.gather(*runs), TIMEOUT)
        assert not [r.getMessage() for r in caplog.records if "took over" in r.getMessage()]
        mining = await one.main.mining(mining_id)
        assert mining["status"] == "done", mining["stats"].get("error")
        assert opener.readings == 1  # never taken over, never read twice
        assert [to_dict(p) for p in await one.main.persons("local")] == embedded[0]
