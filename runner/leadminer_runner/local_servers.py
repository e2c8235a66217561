"""Throw-away PostgreSQL and Redis servers for the tests and the local developer tools (``scripts/cf``,
benchmarks), started as child processes on free loopback ports.

Use the session fixtures of ``tests/conftest.py`` (``postgres_server``, ``redis_url``,
``redis_client``) and ``tests/pg.py`` (``postgres_database``, ``postgres_dsn``), or from a script::

    server = start_postgres()        # or start_redis()
    print(server.describe())         # "PostgreSQL 15.18 on 127.0.0.1:40123 (throwaway)"
    ...
    server.stop()

Everything lives in a temporary folder (data directory, socket, log) that :meth:`stop`
deletes. PostgreSQL is ``initdb``'d with trust authentication for the superuser
``postgres`` and runs with ``fsync=off`` (as the ``postgres`` OS user when we are
root: ``initdb`` and ``postgres`` refuse root); Redis keeps nothing on disk.

A server of your own is used instead when its variable is set:
``LEADMINER_TEST_DATABASE_URL`` (a superuser DSN, URL or ``key=value`` form; the
tests create and drop one database in it) and ``LEADMINER_REDIS_URL``. When a
binary is missing, the Debian package (``postgresql``, ``redis-server``) is installed
with ``apt-get`` (as root, or through ``sudo -n``); :class:`ServerUnavailable` says
why when that is impossible.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
POSTGRES_URL_VARIABLE = "LEADMINER_TEST_DATABASE_URL"
REDIS_URL_VARIABLE = "LEADMINER_REDIS_URL"
START_TIMEOUT_S = 30.0

ACTIVE: dict[str, Server] = {}
"""The servers of the running test session by kind ("PostgreSQL", "Redis"), set by the conftest fixtures."""


class ServerUnavailable(RuntimeError):
    """The server's binaries are not installed and could not be installed, or your own server does not answer."""


@dataclass
class Server:
    """A database server the tests use: a throw-away child process, or the user's own (``process`` None)."""

    kind: str  # "PostgreSQL" | "Redis"
    url: str  # Redis URL, or libpq keywords without dbname (PostgreSQL); may hold a password
    host: str
    port: int
    version: str = "?"
    process: subprocess.Popen | None = None
    base_dir: Path | None = None
    log_path: Path | None = None
    admin_dbname: str = "postgres"  # PostgreSQL: the database admin() connects to by default

    @property
    def throwaway(self) -> bool:
        return self.base_dir is not None

    def describe(self) -> str:
        """``PostgreSQL 15.18 on 127.0.0.1:40123 (throwaway)``, or ``(LEADMINER_REDIS_URL)`` for the user's own."""
        origin = "throwaway" if self.throwaway else POSTGRES_URL_VARIABLE if self.kind == "PostgreSQL" else REDIS_URL_VARIABLE
        return f"{self.kind} {self.version} on {self.host}:{self.port} ({origin})"

    def log_text(self) -> str:
        if self.log_path and self.log_path.exists():
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]
        return ""

    def stop(self, *, keep_data: bool = False) -> None:
        """Stop a throw-away server (our own child process only) and delete its folder (unless
        ``keep_data``: a restart follows); the user's own is left alone."""
        if self.process is not None and self.process.poll() is None:
            if self.kind == "PostgreSQL":
                self.process.send_signal(signal.SIGINT)  # "fast" shutdown; SIGTERM ("smart") waits for clients
            else:
                self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None
        if self.base_dir is not None and not keep_data:
            shutil.rmtree(self.base_dir, ignore_errors=True)


# --------------------------------------------------------------------------- install


def apt_install(package: str, what: str) -> None:
    """``apt-get install package`` (as root, or through ``sudo -n``), with an ``apt-get update`` retry."""
    if not shutil.which("apt-get"):
        raise ServerUnavailable(f"{what} is not installed and apt-get is not available to install {package}")
    if os.geteuid() == 0:
        prefix: list[str] = []
    elif shutil.which("sudo"):
        prefix = ["sudo", "-n"]
    else:
        raise ServerUnavailable(f"{what} is not installed; installing {package} needs root or sudo")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [*prefix, "apt-get", "install", "-y", "-q", "--no-install-recommends", package]
    update = [*prefix, "apt-get", "update", "-q"]
    output = ""
    for commands in ([install], [update, install]):
        try:
            for command in commands:
                done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
                output = (done.stdout + done.stderr)[-2000:]
                if done.returncode != 0:
                    break
            else:
                return
        except (OSError, subprocess.TimeoutExpired) as exc:
            output = str(exc)
    raise ServerUnavailable(f"{what} is not installed and `apt-get install {package}` failed: {output.strip()}")


def find_or_install(find: Callable[[], str | None], package: str, what: str, install: bool = True) -> str:
    """``find()``, or install ``package`` and ``find()`` again."""
    found = find()
    if found:
        return found
    if not install:
        raise ServerUnavailable(f"{what} is not installed (Debian package {package})")
    apt_install(package, what)
    found = find()
    if not found:
        raise ServerUnavailable(f"{package} was installed but no {what} binary was found")
    return found


def _postgres_bindir() -> str | None:
    """The folder holding ``initdb`` and ``postgres``: ``pg_config --bindir``, else the newest
    ``/usr/lib/postgresql/<version>/bin`` (Debian keeps them off PATH), else PATH."""
    candidates = []
    if shutil.which("pg_config"):
        done = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(done.stdout.strip())
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted(versions, key=lambda p: [int(n) for n in re.findall(r"\d+", p)], reverse=True)
    if shutil.which("initdb"):
        candidates.append(os.path.dirname(os.path.realpath(shutil.which("initdb"))))
    for bindir in candidates:
        if bindir and all(os.access(os.path.join(bindir, name), os.X_OK) for name in ("initdb", "postgres")):
            return bindir
    return None


def _redis_binary() -> str | None:
    for candidate in (shutil.which("redis-server"), "/usr/bin/redis-server"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _wait_until(server: Server, ready: Callable[[], bool], timeout: float = START_TIMEOUT_S) -> None:
    """Poll ``ready()`` until it is true; stop the server and raise with its log when it exits or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process is not None and server.process.poll() is not None:
            code, log = server.process.returncode, server.log_text()
            server.stop()
            raise RuntimeError(f"{server.kind} exited with {code}:\n{log}")
        if ready():
            return
        time.sleep(0.05)
    log = server.log_text()
    server.stop()
    raise RuntimeError(f"{server.kind} did not answer on {server.host}:{server.port} within {timeout:g} s:\n{log}")


def _service_user() -> tuple[int, int] | None:
    """(uid, gid) to run PostgreSQL as when we are root (it refuses root): ``postgres``, else ``nobody``."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return entry.pw_uid, entry.pw_gid
    raise ServerUnavailable("running as root, but there is neither a `postgres` nor a `nobody` user to run PostgreSQL as")


def _run_as(user: tuple[int, int] | None) -> dict:
    return {} if user is None else {"user": user[0], "group": user[1], "extra_groups": []}


def start_postgres(*, install: bool = True) -> Server:
    """A fresh PostgreSQL cluster (superuser ``postgres``, trust auth) on a free loopback port."""
    bindir = find_or_install(_postgres_bindir, "postgresql", "PostgreSQL", install)
    user = _service_user()
    # Not under pytest's 0700 tmp tree: the postgres OS user must reach it.
    base_dir = Path(tempfile.mkdtemp(prefix="leadminer-postgres-"))
    data, sockets, log_path = base_dir / "data", base_dir / "run", base_dir / "postgres.log"
    sockets.mkdir()
    log_path.touch()
    if user is not None:
        for path in (base_dir, sockets, log_path):
            os.chown(path, *user)
    port = free_port()
    server = Server("PostgreSQL", f"host={HOST} port={port} user=postgres connect_timeout=3", HOST, port,
                    base_dir=base_dir, log_path=log_path)  # fmt: skip
    env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    initdb = subprocess.run(
        [os.path.join(bindir, "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
         "--locale=C.UTF-8", "--no-sync"],
        capture_output=True, text=True, env=env, cwd=base_dir, timeout=120, **_run_as(user),
    )  # fmt: skip
    if initdb.returncode != 0:
        server.stop()
        raise RuntimeError(f"initdb failed ({initdb.returncode}):\n{initdb.stdout}{initdb.stderr}")
    with open(log_path, "ab") as log:
        server.process = subprocess.Popen(
            [os.path.join(bindir, "postgres"), "-D", str(data), "-p", str(port), "-k", str(sockets),
             "-c", f"listen_addresses={HOST}", "-c", "fsync=off", "-c", "synchronous_commit=off",
             "-c", "full_page_writes=off", "-c", "max_connections=200"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, cwd=base_dir, **_run_as(user),
        )  # fmt: skip
    _wait_until(server, lambda: _postgres_version(server) is not None)
    server.version = _postgres_version(server) or "?"
    return server


def postgres_server() -> Server:
    """The user's PostgreSQL when ``LEADMINER_TEST_DATABASE_URL`` is set, else a throw-away one."""
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    return postgres_from_url(url) if url else start_postgres()


def redis_server() -> Server:
    """The user's Redis when ``LEADMINER_REDIS_URL`` is set, else a throw-away one."""
    url = os.environ.get(REDIS_URL_VARIABLE)
    return redis_from_url(url) if url else start_redis()


def _postgres_version(server: Server) -> str | None:
    """``SHOW server_version`` (first word), or None while the server does not answer."""
    import psycopg

    try:
        with psycopg.connect(f"{server.url} dbname={server.admin_dbname}", autocommit=True) as conn:
            return str(conn.execute("SHOW server_version").fetchone()[0]).split()[0]
    except psycopg.OperationalError:
        return None


def postgres_from_url(url: str) -> Server:
    """The user's own PostgreSQL at a superuser DSN (URL or ``key=value``); its dbname, if any, is the admin database."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(url)
    admin_dbname = str(params.pop("dbname", None) or "postgres")
    params.setdefault("connect_timeout", "3")
    server = Server("PostgreSQL", make_conninfo(**params), str(params.get("host") or "localhost"),
                    int(params.get("port") or 5432), admin_dbname=admin_dbname)  # fmt: skip
    return _answering(server, _postgres_version(server), POSTGRES_URL_VARIABLE)


def start_redis(*, install: bool = True, port: int | None = None, base_dir: Path | None = None, persistent: bool = False) -> Server:
    """A fresh ``redis-server`` on a free loopback port that keeps nothing on disk; or, to
    restart one, on ``port`` with its data in ``base_dir`` (``persistent``: an append-only
    file synced at every write, so nothing acknowledged is lost by the restart)."""
    binary = find_or_install(_redis_binary, "redis-server", "Redis", install)
    base_dir = base_dir or Path(tempfile.mkdtemp(prefix="leadminer-redis-"))
    port = port or free_port()
    server = Server("Redis", f"redis://{HOST}:{port}/0", HOST, port, base_dir=base_dir, log_path=base_dir / "redis.log")
    persistence = ["--appendonly", "yes", "--appendfsync", "always"] if persistent else ["--appendonly", "no"]
    with open(server.log_path, "ab") as log:
        server.process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", HOST, "--save", "", *persistence,
             "--dir", str(base_dir), "--daemonize", "no"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=base_dir,
        )  # fmt: skip
    _wait_until(server, lambda: _redis_version(server) is not None)
    server.version = _redis_version(server) or "?"
    return server


def restart_redis(server: Server, *, persistent: bool = False) -> Server:
    """Stop ``server`` (a throw-away one) and start it again on the same port and folder."""
    server.stop(keep_data=True)
    return start_redis(port=server.port, base_dir=server.base_dir, persistent=persistent)


def _redis_version(server: Server) -> str | None:
    import redis

    try:
        with redis.Redis.from_url(server.url, socket_connect_timeout=1, socket_timeout=5) as client:
            return str(client.info("server")["redis_version"])
    except redis.RedisError:
        return None


def redis_from_url(url: str) -> Server:
    """The user's own Redis at ``url``."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    server = Server("Redis", url, parts.hostname or "localhost", parts.port or 6379)
    return _answering(server, _redis_version(server), REDIS_URL_VARIABLE)


def _answering(server: Server, version: str | None, variable: str) -> Server:
    """The user's server with its version, or :class:`ServerUnavailable` (no password shown) when it does not answer."""
    if version is None:
        raise ServerUnavailable(f"{server.kind} at {variable} ({server.host}:{server.port}) does not answer")
    server.version = version
    return server
