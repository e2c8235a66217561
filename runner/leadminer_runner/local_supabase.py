"""The Cloudflare mode's local Supabase: a PostgreSQL holding the main schema and its functions
(``main.sql`` then ``main_api.sql``, the SQL production's Supabase runs) behind the local
PostgREST stand-in (:mod:`leadminer_runner.local_postgrest`) started as a process on a free
loopback port. The keys are what Supabase hands out: JWTs signed with the project's JWT secret,
``service_role`` for the Workers, ``authenticated`` + ``sub`` for a user.

Used by ``scripts/cf`` (the local stack's main store) and the Cloudflare tests::

    supabase = LocalSupabase.start()            # a throwaway PostgreSQL, or database_url=… of yours
    supabase.url, supabase.service_role_key     # what the Workers get as SUPABASE_URL / …_SERVICE_ROLE_KEY
    supabase.close()

The JWT secret reaches the stand-in through its environment, never its command line.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request

import jwt

from . import local_servers, postgres

READY_TIMEOUT_S = 30.0


async def migrate_main(database_url: str) -> None:
    """Create (or check) the main schema and its PostgREST functions, as a Supabase migration does."""
    conn = await postgres.connect(database_url)
    try:
        await postgres.PostgresMainStore(conn).migrate()
    finally:
        await conn.close()


class LocalSupabase:
    """A running stand-in (``url``) over a PostgreSQL (a throwaway one it owns, or yours)."""

    def __init__(self, url: str, jwt_secret: str, process: subprocess.Popen, server: local_servers.Server | None):
        self.url, self.jwt_secret, self.process, self.server = url, jwt_secret, process, server

    @classmethod
    def start(cls, database_url: str | None = None, jwt_secret: str | None = None) -> LocalSupabase:
        server = None
        if database_url is None:
            server = local_servers.start_postgres()
            database_url = f"{server.url} dbname=postgres"
        try:
            asyncio.run(migrate_main(database_url))
            secret = jwt_secret or secrets.token_urlsafe(32)
            port = local_servers.free_port()
            process = subprocess.Popen(
                [sys.executable, "-m", "leadminer_runner.local_postgrest", "--database-url", database_url,
                 "--port", str(port)],
                env={**os.environ, "SUPABASE_JWT_SECRET": secret}, stdin=subprocess.DEVNULL,
            )  # fmt: skip
            supabase = cls(f"http://127.0.0.1:{port}", secret, process, server)
            supabase._wait_ready()
        except BaseException:
            if server is not None:
                server.stop()
            raise
        return supabase

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                self.close()
                raise RuntimeError(f"the local PostgREST stand-in exited ({self.process.returncode})")
            try:
                urllib.request.urlopen(f"{self.url}/rest/v1/rpc/lm_dated_count", data=b"{}", timeout=2)  # noqa: S310
            except urllib.error.HTTPError:
                return  # it answers (401 without a key)
            except OSError:
                if time.monotonic() > deadline:
                    self.close()
                    raise RuntimeError(f"the local PostgREST stand-in did not answer within {READY_TIMEOUT_S:.0f} s") from None
                time.sleep(0.1)
            else:
                return

    def token(self, role: str, user_id: str | None = None, seconds: int = 24 * 3600) -> str:
        claims = {"role": role, "iat": int(time.time()), "exp": int(time.time()) + seconds}
        if user_id is not None:
            claims["sub"] = user_id
        return jwt.encode(claims, self.jwt_secret, algorithm="HS256")

    @property
    def service_role_key(self) -> str:
        return self.token("service_role", seconds=10 * 365 * 24 * 3600)  # as long-lived as Supabase's

    def worker_env(self) -> dict[str, str]:
        """What the Workers read: the main store setting, the URL and the keys (secrets in production)."""
        return {
            "LEADMINER_MAIN_STORE": "supabase",
            "SUPABASE_URL": self.url,
            "SUPABASE_SERVICE_ROLE_KEY": self.service_role_key,
            "SUPABASE_JWT_SECRET": self.jwt_secret,
        }

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if self.server is not None:
            self.server.stop()
            self.server = None
