#!/usr/bin/env python3
"""A stored IMAP mailbox mined on the Cloudflare local stack (the fetcher process the FETCHER
Durable Object starts, its routes on fetch-dispatch, the Workers) next to the embedded mode on
the same Dovecot mailbox.

    .venv/bin/python scripts/bench_cloudflare_imap.py [--messages 1000] [--batch 500]

Starts a throwaway Dovecot (tests/dovecot.py) holding ``--messages`` corpus messages (as
scripts/bench_cloudflare.py), mines it with the embedded mode (``ImapMessageSource``) and through
the stack's API (mailbox stored, mining started, polled in the main D1), checks the exports are
equal and prints messages/s of each. Stack start-up is excluded.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import jwt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_cloudflare import mailbox  # noqa: E402
from dovecot import start_dovecot  # noqa: E402

from leadminer.adapters.sqlite import SqliteMainStore, connect  # noqa: E402
from leadminer.export import write_export  # noqa: E402
from leadminer_runner import cloudflare_local  # noqa: E402
from leadminer_runner.embedded import mine  # noqa: E402
from leadminer_runner.sources import ImapMessageSource  # noqa: E402

SECRET = "bench-secret-of-the-local-cloudflare-stack"


def call(url: str, token: str, method: str, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with urllib.request.urlopen(urllib.request.Request(url + path, data=data, method=method, headers=headers), timeout=120) as answer:  # noqa: S310
        return json.loads(answer.read())["data"]


def export(persons) -> list:
    out = io.StringIO()
    write_export(persons, "json", out)
    return json.loads(out.getvalue())


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = sorted((mailbox(Path(tmp), args.messages) / "cur").iterdir())
        dovecot = start_dovecot()
        try:
            account = dovecot.add_account(user="bench@example.com")
            dovecot.fill_folder(account, "INBOX", files)
            started = time.perf_counter()
            await asyncio.to_thread(mine, ImapMessageSource(account.url(), "u", password=account.password), db_path=Path(tmp) / "e.db", user_id="u")
            embedded_s = time.perf_counter() - started
            conn = connect(Path(tmp) / "e.db", readonly=True)
            embedded = export(await SqliteMainStore(conn).persons("u"))
            conn.close()
            key = base64.urlsafe_b64encode(os.urandom(32)).decode()
            stack = cloudflare_local.Stack(env={"SUPABASE_JWT_SECRET": SECRET, "LEADMINER_SECRET_KEY": key, "LEADMINER_FETCH_BATCH": str(args.batch)})
            try:
                token = jwt.encode({"sub": "u", "aud": "authenticated", "exp": int(time.time()) + 3600}, SECRET, algorithm="HS256")
                call(stack.url, token, "POST", "/api/imap/mine/sources/imap", {"email": account.user, "host": account.host, "port": account.port, "secure": "plain", "password": account.password})
                started = time.perf_counter()
                mining_id = call(stack.url, token, "POST", "/api/imap/mine/email/u", {"miningSource": {"email": account.user}})["miningId"]
                services = cloudflare_local.services(stack)
                while (mining := await services.main.mining(mining_id))["status"] == "running":
                    await asyncio.sleep(0.2)
                cloudflare_s = time.perf_counter() - started
                cloudflare = export(await services.main.persons("u"))
            finally:
                stack.close()
        finally:
            dovecot.stop()
    fetched = mining["stats"].get("fetched")
    print(f"mailbox: {len(files)} messages on Dovecot; Cloudflare mining {mining['status']}, {fetched} fetched; exports equal: {cloudflare == embedded}")
    print(f"embedded:   {embedded_s:7.2f} s  {len(files) / embedded_s:8.1f} msg/s (ImapMessageSource in the process)")
    print(f"cloudflare: {cloudflare_s:7.2f} s  {len(files) / cloudflare_s:8.1f} msg/s (fetcher process → fetch-dispatch → Workers; batches of {args.batch})")


if __name__ == "__main__":
    asyncio.run(main())
