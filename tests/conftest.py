"""Shared fixtures: a real Dovecot IMAP server (see ``tests/dovecot.py``) and a client of the
real Redis server (PostgreSQL fixtures are in ``tests/pg.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from leadminer_runner.redis_queue import client_from_env, redacted, redis_url

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


@pytest.fixture(scope="session")
def redis_client() -> Iterator[redis.Redis]:
    """Redis at LEADMINER_REDIS_URL (default 127.0.0.1:6379); the test skips when it is unreachable."""
    client = client_from_env(socket_connect_timeout=1, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis unreachable at {redacted(redis_url())} (set LEADMINER_REDIS_URL): {exc}")
    yield client
    client.close()
