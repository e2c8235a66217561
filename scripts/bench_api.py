#!/usr/bin/env python3
"""End-to-end benchmark of the self-host service: a big Maildir served by Dovecot, mined
through the HTTP API by 1 and then 2 worker processes, next to the raw IMAP fetch rate of
the same mailbox in the same run.

    .venv/bin/python scripts/bench_api.py [--messages 100000] [--workers 1 2]

Everything runs on this machine, on loopback: a throw-away Dovecot, PostgreSQL and Redis
(runner/leadminer_runner/local_servers.py, tests/dovecot.py), `leadminer api` and `leadminer selfhost worker`
processes. The mailbox is built from every message of the corpora (spamassassin, lkml,
quagga-enron-train, newsletters, notmuch-threading, malformed), copied with rewritten
Message-IDs until it holds ``--messages`` messages. For each worker count: a fresh user
adds the mailbox (POST sources/imap), starts a mining (POST mine/email), and the clock
stops when its status is done; printed: messages/s end to end, its ratio to the raw fetch
rate, and each process's peak RSS (VmHWM), with the same figures at a tenth of the
mailbox to show whether memory stays flat.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from leadminer_runner import local_servers as servers  # noqa: E402
from corpora import extract_corpus  # noqa: E402
from dovecot import start_dovecot  # noqa: E402

CORPORA = ("spamassassin", "lkml", "quagga-enron-train", "newsletters", "notmuch-threading", "malformed")
_MSG_ID = re.compile(rb"<([^<>@\s]+)@")
SECRET = "bench-secret-bench-secret-bench-secret!"


def corpus_messages() -> list[bytes]:
    messages = []
    for name in CORPORA:
        folder = extract_corpus(name)
        messages += [p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.endswith(".ann")]
    return messages


def fill_maildir(cur: Path, total: int, messages: list[bytes]) -> None:
    cur.mkdir(parents=True, exist_ok=True)
    n = 0
    copy = 0
    while n < total:
        tag = f"c{copy}-".encode()
        for data in messages:
            if n >= total:
                break
            data = _MSG_ID.sub(lambda m: b"<" + tag + m.group(1) + b"@", data)
            (cur / f"{1_700_000_000 + n}.{n}.bench:2,S").write_bytes(data)
            n += 1
        copy += 1


def raw_fetch_rate(account) -> tuple[int, float]:
    """Messages/s of the fetcher alone reading every folder (no mining)."""
    from leadminer_fetcher.imap import ImapSource

    source = ImapSource(account.host, account.port, account.user, account.password, security="plain", timeout=60)
    started = time.perf_counter()
    count = sum(1 for _ in source.iter_messages("bench"))
    return count, count / (time.perf_counter() - started)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def call(port: int, method: str, path: str, token: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", method=method, data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def token(user: str) -> str:
    import jwt

    return jwt.encode({"sub": user, "aud": "authenticated", "exp": int(time.time()) + 86_400}, SECRET, algorithm="HS256")


def wait_http(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the API process died")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the API did not start")


def mine_through_api(env: dict, account, workers: int, port: int) -> dict:
    api = subprocess.Popen([sys.executable, "-m", "leadminer_runner.cli", "api", "--port", str(port)], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    pool = [
        subprocess.Popen([sys.executable, "-m", "leadminer_runner.cli", "selfhost", "worker"], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        for _ in range(workers)
    ]
    try:
        wait_http(port, api)
        user = f"bench-{uuid.uuid4().hex[:6]}"
        auth = token(user)
        email = f"{account.user}@example.com"
        call(port, "POST", "/api/imap/mine/sources/imap", auth,
             {"email": email, "host": account.host, "port": account.port, "secure": "plain", "password": account.password})  # fmt: skip
        started = time.perf_counter()
        mining_id = call(port, "POST", f"/api/imap/mine/email/{user}", auth, {"miningSource": {"email": email}})["data"]["miningId"]
        while (status := call(port, "GET", f"/api/imap/mine/email/{mining_id}", auth)["data"])["status"] == "running":
            time.sleep(0.5)
        seconds = time.perf_counter() - started
        return {
            "status": status["status"], "fetched": status["counters"].get("fetched"), "seconds": seconds,
            "rss_api": rss_mb(api.pid), "rss_workers": [rss_mb(w.pid) for w in pool],
        }  # fmt: skip
    finally:
        for process in (api, *pool):
            process.terminate()
        for process in (api, *pool):
            process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    messages = corpus_messages()
    dovecot = start_dovecot(tls=False)
    postgres, redis_server = servers.start_postgres(), servers.start_redis()
    try:
        import psycopg

        results = []
        for size in (args.messages // 10, args.messages):
            account = dovecot.add_account()
            fill_maildir(account.maildir / "cur", size, messages)
            dovecot._give_to_mail_user(account.maildir)
            raw_fetch_rate(account)  # Dovecot indexes the Maildir on first read
            count, raw_rate = raw_fetch_rate(account)
            print(f"mailbox of {count:,} messages: raw IMAP fetch {raw_rate:,.0f} msg/s", flush=True)
            for workers in args.workers:
                database = f"bench_{uuid.uuid4().hex[:8]}"
                with psycopg.connect(f"{postgres.url} dbname=postgres", autocommit=True) as conn:
                    for suffix in ("main", "temp"):
                        conn.execute(f'CREATE DATABASE "{database}_{suffix}"')
                env = {
                    **os.environ, "LEADMINER_DATABASE_URL": f"{postgres.url} dbname={database}_main",
                    "LEADMINER_TEMP_DATABASE_URL": f"{postgres.url} dbname={database}_temp", "LEADMINER_REDIS_URL": redis_server.url,
                    "LEADMINER_QUEUE_PREFIX": f"{database}:", "SUPABASE_JWT_SECRET": SECRET,
                    "LEADMINER_SECRET_KEY": "4a0pUo6t3Xb0Q1m2VQ6cKq2r3oHqS0l8p0m5x7VYd4E=",
                    "LEADMINER_SPOOL_DIR": str(Path(postgres.base_dir) / "spool"), "LEADMINER_MINING_RATE": "100000/60",
                }  # fmt: skip
                got = mine_through_api(env, account, workers, servers.free_port())
                rate = got["fetched"] / got["seconds"]
                print(
                    f"  {workers} worker(s): {got['status']}, {got['fetched']:,} messages in {got['seconds']:.1f} s = "
                    f"{rate:,.0f} msg/s end to end ({rate / raw_rate:.2f} of the raw fetch); peak RSS api "
                    f"{got['rss_api']:.0f} MB, workers {', '.join(f'{r:.0f}' for r in got['rss_workers'])} MB",
                    flush=True,
                )
                results.append((size, workers, rate, rate / raw_rate, got))
    finally:
        dovecot.stop()
        postgres.stop()
        redis_server.stop()


if __name__ == "__main__":
    main()
