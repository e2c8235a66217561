"""IMAP over TLS against the real Dovecot: STARTTLS on the plain port, implicit
TLS (imaps) on its own port, and a clear error for an untrusted certificate."""

from __future__ import annotations

import ssl

import pytest

from leadminer_fetcher.imap import ImapConnectionError, ImapSource


@pytest.fixture
def tls(dovecot_server):
    if not dovecot_server.cert:
        pytest.skip("openssl not available: the test Dovecot has no certificate")
    return dovecot_server, ssl.create_default_context(cafile=str(dovecot_server.cert))


def _source(account, port, security, context):
    return ImapSource(account.host, port, account.user, account.password, security=security, ssl_context=context)


def test_starttls_and_implicit_tls_read_the_mailbox(tls, dovecot):
    server, context = tls
    plain = {f.name for f in _source(dovecot, server.port, "plain", None).list_folders()}
    assert {f.name for f in _source(dovecot, server.port, "starttls", context).list_folders()} == plain
    assert {f.name for f in _source(dovecot, server.tls_port, "ssl", context).list_folders()} == plain
    messages = list(_source(dovecot, server.tls_port, "ssl", context).iter_messages("m"))
    assert len(messages) == sum(len(files) for folder, files in dovecot.corpus_files.items() if folder not in ("Junk", "Trash"))


def test_an_untrusted_certificate_is_refused_with_a_clear_error(tls, dovecot):
    server, _context = tls
    with pytest.raises(ImapConnectionError) as info:
        _source(dovecot, server.tls_port, "ssl", ssl.create_default_context()).list_folders()
    assert f"{server.host}:{server.tls_port}" in str(info.value)
    assert dovecot.password not in str(info.value)
