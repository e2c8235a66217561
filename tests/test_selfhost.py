"""Self-host runner (``leadminer_runner.selfhost``) over a real PostgreSQL and Redis:
the same result as the embedded runner, shared work, crashed workers, the fan-in
barrier under duplicate deliveries, failed and dead minings.

Each test gets two fresh schemas (temp and main database), its own stream names
(a uuid prefix, deleted afterwards) and its own connections per worker; tests
skip when PostgreSQL or Redis is unreachable.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from leadminer.contracts import to_dict
from leadminer_runner.demo import generate_demo_mailbox
from pg import SERVER, admin, postgres_database  # noqa: F401 - fixtures

redis = pytest.importorskip("redis")
pytest.importorskip("psycopg")

from leadminer_runner import selfhost  # noqa: E402
from leadminer_runner.embedded import mine  # noqa: E402
from leadminer_runner.postgres import PostgresMainStore, PostgresTempStore, connect  # noqa: E402
from leadminer_runner.selfhost import Worker, redis_queues, start_mining  # noqa: E402
from leadminer_runner.sources import FileMessageSource  # noqa: E402

BATCH = 20
BATCHES = 7  # 123 messages (see ``mailbox``)
IDLE_MS = 50  # claim_idle_ms of the tests that simulate a crashed worker
TIMEOUT = 20.0


@dataclass
class Env:
    temp_dsn: str
    main_dsn: str
    redis: redis.Redis
    prefix: str
    mailbox: Path
    identities: list[str]

    def stores(self) -> tuple[PostgresTempStore, PostgresMainStore]:
        """Fresh connections: each worker of a test is another runner."""
        return PostgresTempStore(connect(self.temp_dsn)), PostgresMainStore(connect(self.main_dsn))

    def queues(self, **options) -> selfhost.StageQueues:
        return redis_queues(self.redis, prefix=self.prefix, consumer=uuid.uuid4().hex, **options)


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
    persons = [to_dict(p) for p in SqliteMainStore(conn).persons("local")]
    conn.close()
    return persons, summary


@pytest.fixture
def env(postgres_database, redis_client, mailbox) -> Iterator[Env]:  # noqa: F811 - fixture
    schemas = [f"t_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    with admin(postgres_database) as conn:
        for schema in schemas:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    dsn = [f"{SERVER} dbname={postgres_database} options='-c search_path={s}'" for s in schemas]
    prefix = f"t{uuid.uuid4().hex[:12]}:"
    yield Env(dsn[0], dsn[1], redis_client, prefix, *mailbox)
    keys = list(redis_client.scan_iter(match=f"leadminer:{prefix}*"))
    if keys:
        redis_client.delete(*keys)
    with admin(postgres_database) as conn:
        for schema in schemas:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def start(env: Env, stores, queues) -> str:
    return start_mining(FileMessageSource(env.mailbox), "local", env.identities, stores, queues, batch_size=BATCH)


def status(main: PostgresMainStore, mining_id: str) -> str:
    return main.mining(mining_id)["status"]


def until_ended(main: PostgresMainStore, mining_id: str) -> Callable[[], bool]:
    deadline = time.monotonic() + TIMEOUT

    def stop() -> bool:
        assert time.monotonic() < deadline, "the mining did not end in time"
        return status(main, mining_id) != "running"

    return stop


def assert_same_as_embedded(main: PostgresMainStore, temp: PostgresTempStore, mining_id: str, embedded) -> None:
    persons, summary = embedded
    assert status(main, mining_id) == "done"
    assert [to_dict(p) for p in main.persons("local")] == persons
    got = selfhost.mining_summary(main, mining_id)
    skip = {"mining_id", "seconds", "failures"}
    assert {k: getattr(got, k) for k in got.__slots__ if k not in skip} == {
        k: getattr(summary, k) for k in summary.__slots__ if k not in skip
    }
    assert [(f.folder, f.uid, f.reason) for f in got.failures] == [(f.folder, f.uid, f.reason) for f in summary.failures]
    assert temp.mining_ids() == []  # temp rows (raw batches included) dropped


def test_same_persons_and_summary_as_the_embedded_runner(env, embedded):
    stores, queues = env.stores(), env.queues()
    mining_id = start(env, stores, queues)
    assert status(stores[1], mining_id) == "running"
    handled = selfhost.run_worker(stores, queues, stop=until_ended(stores[1], mining_id), poll=0.01)
    assert handled == BATCHES + 3  # one message per batch, then clean, signature, refine
    assert_same_as_embedded(stores[1], stores[0], mining_id, embedded)
    summary = embedded[1]
    assert (summary.fetched, summary.failed, summary.duplicates) == (123, 2, 1) and len(embedded[0]) > 30


def test_two_workers_share_the_work(env, embedded):
    fetcher = env.stores()
    mining_id = start(env, fetcher, env.queues())
    workers = [Worker(env.stores(), env.queues()) for _ in range(2)]
    handled = [0, 0]
    stop = until_ended(fetcher[1], mining_id)
    while not stop():
        for i, worker in enumerate(workers):
            handled[i] += worker.step()
    assert all(handled) and sum(handled) == BATCHES + 3
    assert_same_as_embedded(fetcher[1], fetcher[0], mining_id, embedded)


def test_a_message_left_unacked_by_a_crashed_worker_is_claimed_by_another(env, embedded):
    fetcher = env.stores()
    mining_id = start(env, fetcher, env.queues())
    crashed = env.queues(claim_idle_ms=IDLE_MS)
    assert len(crashed.stages["extract"].receive(1)) == 1  # received, never acked: the worker died
    survivor = Worker(env.stores(), env.queues(claim_idle_ms=IDLE_MS))
    while not fetcher[0].run(mining_id).steps.get("signature"):
        survivor.step()
    assert len(crashed.stages["refine"].receive(1)) == 1  # dies again, on the last stage
    survivor.run(until_ended(fetcher[1], mining_id), poll=0.02)
    assert_same_as_embedded(fetcher[1], fetcher[0], mining_id, embedded)


def test_duplicate_deliveries_hand_the_mining_to_clean_once(env, embedded):
    stores, queues = env.stores(), env.queues()
    sent: list = []
    send = queues.stages["clean"].send
    queues.stages["clean"].send = lambda body: (sent.append(body), send(body))
    mining_id = start(env, stores, queues)
    for batch in range(BATCHES):  # every batch delivered twice
        queues.stages["extract"].send({"mining_id": mining_id, "batch": batch})
    selfhost.run_worker(stores, queues, stop=until_ended(stores[1], mining_id), poll=0.01)
    assert sent == [{"mining_id": mining_id}]
    assert_same_as_embedded(stores[1], stores[0], mining_id, embedded)


def test_a_stage_that_always_fails_fails_the_mining_with_the_reason(env, monkeypatch):
    def boom(ctx, extractor=None):
        raise RuntimeError("signature model unavailable")

    monkeypatch.setattr(selfhost, "handle_signatures", boom)
    stores, queues = env.stores(), env.queues(max_attempts=2)
    mining_id = start(env, stores, queues)
    selfhost.run_worker(stores, queues, stop=until_ended(stores[1], mining_id), poll=0.01)
    mining = stores[1].mining(mining_id)
    assert mining["status"] == "failed"
    assert mining["stats"]["error"] == "signature stage failed: RuntimeError: signature model unavailable"
    assert stores[1].failures(mining_id) and stores[0].mining_ids() == []
    assert selfhost.run_worker(stores, queues, stop=lambda: True) == 0


def test_cleanup_ends_minings_without_progress_and_drops_orphan_rows(env):
    stores, queues = env.stores(), env.queues()
    mining_id = start(env, stores, queues)  # no worker: it never progresses
    assert selfhost.cleanup_dead_minings(stores, stale_seconds=60) == []
    stores[0].start_run("orphan", "local", "gone", [])  # temp rows of a mining that is not running
    assert selfhost.cleanup_dead_minings(stores, stale_seconds=0) == [mining_id]
    assert status(stores[1], mining_id) == "interrupted" and stores[0].mining_ids() == []
    # its queued batches are dropped by the workers
    assert selfhost.run_worker(stores, queues, stop=lambda: not len(queues.stages["extract"])) == BATCHES


def test_a_message_that_kills_every_worker_fails_the_mining(env):
    stores = env.stores()
    mining_id = start(env, stores, env.queues())
    for _ in range(2):  # two workers die on the same batch
        assert len(env.queues(claim_idle_ms=IDLE_MS, max_attempts=2).stages["extract"].receive(1)) == 1
        time.sleep(IDLE_MS / 1000 * 1.5)
    selfhost.run_worker(stores, env.queues(claim_idle_ms=IDLE_MS, max_attempts=2), stop=until_ended(stores[1], mining_id))
    mining = stores[1].mining(mining_id)
    assert mining["status"] == "failed" and mining["stats"]["error"].startswith("extract stage failed: not acked after 2")


def test_the_barrier_is_claimed_once_by_concurrent_runners(env):
    import threading

    stores = [env.stores()[0] for _ in range(8)]
    stores[0].start_run("m1", "local", "src", [])
    barrier, claims = threading.Barrier(len(stores)), []

    def last_batch(i: int) -> None:  # 8 runners: 7 finish a batch, the fetcher ends, all at once
        barrier.wait()
        if i < 7:
            stores[i].finish_batch("m1", i, selfhost.BatchCounts(1, 0, 0, 1))
        else:
            stores[i].end_fetch("m1", batches=7, fetched=7, failed=0, fetch_state=[])
        claims.append(stores[i].claim_clean("m1"))

    threads = [threading.Thread(target=last_batch, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claims) == [False] * 7 + [True]


# command line ------------------------------------------------------------------------
def cli_env(env: Env, **extra: str) -> dict[str, str]:
    return {
        "LEADMINER_TEMP_DATABASE_URL": env.temp_dsn,
        "LEADMINER_DATABASE_URL": env.main_dsn,
        "LEADMINER_QUEUE_PREFIX": env.prefix,
        **extra,
    }


def test_cli_mine_wait_prints_the_embedded_summary(env, embedded):
    from typer.testing import CliRunner

    from leadminer_runner.cli import app

    args = ["selfhost", "mine", str(env.mailbox), "--wait", "--json"]
    for identity in env.identities:
        args += ["--identity", identity]
    result = CliRunner().invoke(app, args, env=cli_env(env))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["persons"] == embedded[1].persons and summary["tags"] == embedded[1].tags
    assert summary["failed"] == 2 and len(summary["failures"]) == 2
    result = CliRunner().invoke(app, ["selfhost", "cleanup"], env=cli_env(env))
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
    code, output = run("cleanup", **cli_env(env, LEADMINER_DATABASE_URL=bad_pg))
    assert code == 2 and "cannot connect to PostgreSQL" in output
    assert "pg-secret-pw" not in output and "***" in output
    code, output = run("cleanup", **cli_env(env, LEADMINER_REDIS_URL="redis://:redis-secret-pw@127.0.0.1:1/0"))
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
    result = CliRunner().invoke(app, args, env=cli_env(env))
    assert result.exit_code == 0, result.output
    mining_id = result.stdout.strip()
    worker_env = {**os.environ, **cli_env(env)}
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "leadminer_runner.cli", "selfhost", "worker"],
            env=worker_env, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        for _ in range(2)
    ]
    try:
        stores = env.stores()
        deadline = time.monotonic() + TIMEOUT
        while status(stores[1], mining_id) == "running" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert_same_as_embedded(stores[1], stores[0], mining_id, embedded)
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
