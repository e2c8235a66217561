"""Checking a mailbox before it is stored (login, local-part retry, errors the API maps to
statuses), its folder tree, and the workers' opener of stored sources, against the real
Dovecot (tests/dovecot.py)."""

from __future__ import annotations

import asyncio
import socket

import pytest
from cryptography.fernet import Fernet

from leadminer.flow import MiningFlow, StageWorker
from leadminer.flow.memory import memory_services
from leadminer_fetcher.imap import ImapFolder
from leadminer_runner.embedded import mine_async
from leadminer_runner.imap_accounts import (
    TimedOut,
    Unreachable,
    WrongCredentials,
    build_tree,
    check_login,
    folder_tree,
    security_mode,
)
from leadminer_runner.mailbox_sources import MailboxSource, SecretBox, sqlite_sources
from leadminer_runner.source_opener import StoredSourceOpener
from leadminer_runner.sources import ImapMessageSource, SourceSpecError
from test_embedded import facts, persons_of
from test_imap_embedded import demo_files  # noqa: F401 - fixture


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens there once closed


async def test_the_full_address_is_tried_then_its_local_part(dovecot_account):
    account = dovecot_account
    assert await check_login(account.user, account.host, account.port, "plain", account.password) == account.user
    # Dovecot here knows users by bare name: the full address is refused, its local part accepted
    email = f"{account.user}@example.com"
    assert await check_login(email, account.host, account.port, "plain", account.password) == account.user


async def test_a_wrong_password_is_wrong_credentials_without_the_password(dovecot_account):
    with pytest.raises(WrongCredentials, match="refused the login for .*@example.com") as info:
        await check_login(f"{dovecot_account.user}@example.com", dovecot_account.host, dovecot_account.port, "plain", "not-it-xyz")
    assert info.value.status == 401 and "not-it-xyz" not in str(info.value)


async def test_a_closed_port_is_unreachable_and_a_silent_server_times_out():
    with pytest.raises(Unreachable, match="cannot be reached") as info:
        await check_login("a@example.com", "127.0.0.1", _closed_port(), "plain", "pw-123")
    assert info.value.status == 502 and "pw-123" not in str(info.value)
    with pytest.raises(Unreachable):
        await check_login("a@example.com", "no-such-host.invalid", 993, True, "pw-123", timeout=5)
    with socket.socket() as silent:  # accepts the connection, never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        with pytest.raises(TimedOut, match="did not answer in time") as info:
            await check_login("a@example.com", "127.0.0.1", silent.getsockname()[1], "plain", "pw-123", timeout=0.5)
    assert info.value.status == 504


def test_security_modes_of_the_api():
    assert security_mode(True) == "ssl" and security_mode(False) == "starttls" and security_mode("plain") == "plain"
    assert security_mode(None, 143) == "starttls" and security_mode(None, 993) == "ssl"
    with pytest.raises(ValueError, match="secure must be"):
        security_mode("maybe")


async def test_the_folder_tree_has_counts_special_uses_and_skips(dovecot):
    source = MailboxSource("miner@example.com", dovecot.host, dovecot.port, "plain", dovecot.user)
    tree = await folder_tree(source, dovecot.password)
    assert tree[0]["path"] == "INBOX"
    by_path = {node["path"]: node for node in tree}
    for folder, files in dovecot.corpus_files.items():
        assert by_path[folder]["messages"] == len(files), folder
    assert by_path["Sent"]["special_use"] == "\\Sent" and not by_path["Sent"]["skipped"]
    for folder in ("Junk", "Trash", "Drafts"):
        assert by_path[folder]["skipped"] and by_path[folder]["special_use"] == f"\\{folder}"
    assert not by_path["INBOX"]["skipped"] and by_path["INBOX"]["children"] == []
    with pytest.raises(WrongCredentials):
        await folder_tree(source, "wrong-password")


def test_folders_nest_by_their_delimiter_with_totals():
    listed = [
        (ImapFolder("INBOX", "/", ()), 3),
        (ImapFolder("Archive/2024/Q1", "/", ()), 2),  # parents not listed
        (ImapFolder("Archive/2023", "/", ()), 1),
        (ImapFolder("Work", "/", ("\\HasChildren",)), 4),
        (ImapFolder("Work/Spam", "/", ("\\Junk",), "\\Junk"), 5),
    ]
    tree = build_tree(listed, lambda folder: folder.special_use == "\\Junk")
    assert [node["path"] for node in tree] == ["INBOX", "Archive", "Work"]
    archive = tree[1]
    assert archive["selectable"] is False and archive["messages"] is None and archive["total"] == 3
    assert [c["name"] for c in archive["children"]] == ["2023", "2024"]
    assert archive["children"][1]["children"][0]["path"] == "Archive/2024/Q1"
    work = tree[2]
    assert work["total"] == 9 and work["children"][0]["skipped"] is True and work["skipped"] is False


# --------------------------------------------------------------------------- the workers' opener


async def test_a_stored_mailbox_is_mined_by_the_flow_like_the_cli_does(dovecot_server, dovecot_account, demo_files, tmp_path):
    identities, files = demo_files
    dovecot_server.fill_folder(dovecot_account, "INBOX", files[:160])
    dovecot_server.fill_folder(dovecot_account, "Sent", files[160:])
    email = f"{dovecot_account.user}@example.com"
    login = await check_login(email, dovecot_account.host, dovecot_account.port, "plain", dovecot_account.password)

    async with memory_services() as services:
        sources = sqlite_sources(services.main.conn, SecretBox([Fernet.generate_key().decode()]))
        stored = await sources.save("u1", MailboxSource(email, dovecot_account.host, dovecot_account.port, "plain", login), dovecot_account.password)
        services.sources = StoredSourceOpener(sources)
        flow = MiningFlow(services)
        worker = StageWorker(flow, batch=16)
        mining_id = await flow.start(user_id="u1", source=stored.label, identities=identities)
        await flow.enqueue_fetch(mining_id, {"kind": "imap", "email": email})
        await worker.drain()
        mining = await services.main.mining(mining_id)
        assert mining["status"] == "done", mining["stats"]
        queued = {p.email: p for p in await services.main.persons("u1")}
        assert await services.main.folder_states("u1", stored.label)  # incremental state kept under the label

        again = await flow.start(user_id="u1", source=stored.label, identities=identities)  # nothing new
        await flow.enqueue_fetch(again, {"kind": "imap", "email": email, "folders": ["INBOX"]})
        await worker.drain()
        assert (await services.main.mining(again))["status"] == "done"

    db = tmp_path / "cli.db"
    await mine_async(ImapMessageSource(dovecot_account.url(), "local", password=dovecot_account.password), db_path=db, identities=identities)
    assert queued and facts(queued) == facts(await asyncio.to_thread(persons_of, db))


async def test_the_opener_refuses_unknown_sources_and_paths_outside_the_spool(tmp_path):
    async with memory_services() as services:
        sources = sqlite_sources(services.main.conn, SecretBox([Fernet.generate_key().decode()]))
        spool = tmp_path / "spool"
        spool.mkdir()
        (spool / "up.mbox").write_bytes(b"From a@b Mon Jan  1 00:00:00 2024\nFrom: a@b\n\nhi\n")
        (tmp_path / "secret.mbox").write_bytes(b"")
        opener = StoredSourceOpener(sources, spool)
        with pytest.raises(SourceSpecError, match="no stored mailbox ann@example.com"):
            await opener.open("u1", {"kind": "imap", "email": "ann@example.com"})
        with pytest.raises(SourceSpecError, match="unknown source kind 'pop3'"):
            await opener.open("u1", {"kind": "pop3"})
        for outside in (str(tmp_path / "secret.mbox"), "../secret.mbox"):
            with pytest.raises(SourceSpecError, match="not in the spool folder"):
                await opener.open("u1", {"kind": "file", "path": outside})
        with pytest.raises(SourceSpecError, match="no longer in the spool folder"):
            await opener.open("u1", {"kind": "file", "path": str(spool / "gone.mbox")})
        assert (await opener.open("u1", {"kind": "file", "path": str(spool / "up.mbox")})).count() == 1

        services.sources = opener  # through the flow: the mining fails with the sentence
        flow = MiningFlow(services)
        mining_id = await flow.start(user_id="u1", source="x")
        await flow.enqueue_fetch(mining_id, {"kind": "imap", "email": "ann@example.com"})
        await StageWorker(flow, batch=16).drain()
        mining = await services.main.mining(mining_id)
        assert mining["status"] == "failed" and "no stored mailbox ann@example.com" in mining["stats"]["error"]
