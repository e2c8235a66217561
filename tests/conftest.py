"""Shared fixtures: a real Dovecot IMAP server (see ``tests/dovecot.py``) and the session's
PostgreSQL and Redis servers (throw-away ones from ``runner/leadminer_runner/local_servers.py``, or yours at
``LEADMINER_TEST_DATABASE_URL`` / ``LEADMINER_REDIS_URL``; PostgreSQL databases and
schemas are in ``tests/pg.py``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
import redis

from leadminer_runner import local_servers as servers
from corpora import corpus_dir
from dovecot import DovecotAccount, DovecotServer, DovecotUnavailable, populate_from_corpora, start_dovecot


@pytest.fixture(scope="session")
def dovecot_server() -> DovecotServer:
    """One Dovecot for the whole session (installed with apt-get when missing; skipped if impossible)."""
    try:
        server = start_dovecot()
    except DovecotUnavailable as exc:
        pytest.skip(f"Dovecot IMAP server unavailable: {exc}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def dovecot_without_tls() -> DovecotServer:
    """A second Dovecot that offers no TLS at all (for the "STARTTLS required" refusal)."""
    try:
        server = start_dovecot(tls=False)
    except DovecotUnavailable as exc:
        pytest.skip(f"Dovecot IMAP server unavailable: {exc}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def dovecot(dovecot_server: DovecotServer) -> DovecotAccount:
    """The account ``miner`` filled from the corpora; treat it as read-only.

    Has ``host``, ``port``, ``user``, ``password``, ``maildir``, ``append(folder, bytes)``,
    ``url()`` and ``corpus_files`` (folder → the corpus files it was built from).
    """
    account = dovecot_server.accounts.get("miner")
    if account is None:
        account = dovecot_server.add_account("miner", "miner-secret-pw")
        populate_from_corpora(dovecot_server, account, corpus_dir)
    return account


@pytest.fixture
def dovecot_account(dovecot_server: DovecotServer) -> DovecotAccount:
    """A fresh, empty account on the shared server, for tests that change mail."""
    return dovecot_server.add_account()


# ------------------------------------------------------------------ PostgreSQL and Redis

_SERVERS_USED: list[str] = []  # describe() of each server the session used, for the summary


def _session_server(request: pytest.FixtureRequest, kind: str, get: Callable[[], servers.Server]) -> Iterator[servers.Server]:
    """Start (or reach) a server for the session, announce it, stop it at the end."""
    try:
        server = get()
    except servers.ServerUnavailable as exc:
        pytest.skip(f"{kind} unavailable: {exc}")
    servers.ACTIVE[kind] = server
    _SERVERS_USED.append(server.describe())
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # shown now, not with the first test's captured output
            reporter.write(f"\n[servers] {server.describe()}\n")
    try:
        yield server
    finally:
        servers.ACTIVE.pop(kind, None)
        server.stop()


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest) -> Iterator[servers.Server]:
    """The session's PostgreSQL (superuser ``postgres``): a throw-away one on a free loopback
    port, or yours at ``LEADMINER_TEST_DATABASE_URL``. Use ``pg.postgres_dsn`` in tests."""
    yield from _session_server(request, "PostgreSQL", servers.postgres_server)


@pytest.fixture(scope="session")
def redis_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """URL of the session's Redis: a throw-away one on a free loopback port, or yours at
    ``LEADMINER_REDIS_URL``. A throw-away server's URL is also put in ``LEADMINER_REDIS_URL``
    for the session, so code that reads the variable (the CLI, worker processes) finds it."""
    for server in _session_server(request, "Redis", servers.redis_server):
        before = os.environ.get(servers.REDIS_URL_VARIABLE)
        os.environ[servers.REDIS_URL_VARIABLE] = server.url
        try:
            yield server.url
        finally:
            if before is None:
                os.environ.pop(servers.REDIS_URL_VARIABLE, None)
            else:
                os.environ[servers.REDIS_URL_VARIABLE] = before


@pytest.fixture(scope="session")
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A client of the session's Redis (see ``redis_url``)."""
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=5)
    yield client
    client.close()


NO_SKIPS_VARIABLE = "LEADMINER_TEST_NO_SKIPS"
_UNEXPECTED_SKIPS: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """With ``LEADMINER_TEST_NO_SKIPS=1`` (CI), a skip for any reason but absent corpora is noted."""
    if report.skipped and os.environ.get(NO_SKIPS_VARIABLE) == "1":
        reason = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if "corpora" not in reason:
            _UNEXPECTED_SKIPS.append(f"{report.nodeid}: {reason}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _UNEXPECTED_SKIPS and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED  # a server or tool missing must not pass unseen


def pytest_terminal_summary(terminalreporter) -> None:
    if _UNEXPECTED_SKIPS:
        terminalreporter.write_sep("-", f"skipped, which {NO_SKIPS_VARIABLE}=1 forbids")
        for line in _UNEXPECTED_SKIPS:
            terminalreporter.write_line(line)
    if _SERVERS_USED:
        terminalreporter.write_sep("-", "servers")
        for line in _SERVERS_USED:
            terminalreporter.write_line(line)
