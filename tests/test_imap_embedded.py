"""End to end over a real Dovecot: IMAP gives the same contacts as the same
messages read from disk, and a second mining reads only the new mail."""

from __future__ import annotations

import mailbox
from pathlib import Path

import pytest

from leadminer_runner.demo import generate_demo_mailbox
from leadminer_runner.embedded import mine
from leadminer_runner.sources import FileMessageSource, ImapMessageSource, SourceSpecError
from test_embedded import facts, persons_of


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory) -> tuple[list[str], list[Path]]:
    folder = tmp_path_factory.mktemp("demo-eml")
    info = generate_demo_mailbox(folder / "demo.mbox", seed=5, messages=240)
    files = []
    for i, message in enumerate(mailbox.mbox(info.path)):
        path = folder / "eml" / f"{i:04d}.eml"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(message.as_bytes())
        files.append(path)
    return info.identities, files


def _disk_facts(workdir: Path, files: list[Path], identities) -> dict:
    """Facts of the same messages mined from a folder of .eml files."""
    folder = workdir / "eml"
    folder.mkdir(parents=True)
    for path in files:
        (folder / path.name).write_bytes(path.read_bytes())
    mine(FileMessageSource(folder), db_path=workdir / "disk.db", identities=identities)
    return facts(persons_of(workdir / "disk.db"))


def test_imap_mining_equals_disk_mining_and_second_run_reads_only_new_mail(
    dovecot_server, dovecot_account, demo_files, tmp_path
):
    identities, files = demo_files
    first, later = files[:200], files[200:]
    dovecot_server.fill_folder(dovecot_account, "INBOX", first)
    source = ImapMessageSource(dovecot_account.url(), "local", password=dovecot_account.password)
    db = tmp_path / "imap.db"

    summary = mine(source, db_path=db, identities=identities)
    assert summary.fetched == 200
    assert facts(persons_of(db)) == _disk_facts(tmp_path / "first", first, identities)

    for path in later:
        dovecot_account.append("INBOX", path.read_bytes())
    again = mine(ImapMessageSource(dovecot_account.url(), "local", password=dovecot_account.password), db_path=db, identities=identities)
    assert again.fetched == len(later)  # only the new UIDs were read
    assert facts(persons_of(db)) == _disk_facts(tmp_path / "all", files, identities)

    nothing = mine(ImapMessageSource(dovecot_account.url(), "local", password=dovecot_account.password), db_path=db, identities=identities)
    assert nothing.fetched == 0


def test_wrong_password_is_a_clear_error_and_never_echoed(dovecot_account, tmp_path):
    source = ImapMessageSource(dovecot_account.url(), "local", password="not-the-password-xyz")
    with pytest.raises(SourceSpecError) as info:
        mine(source, db_path=tmp_path / "x.db")
    assert dovecot_account.user in str(info.value)
    assert "not-the-password-xyz" not in str(info.value)


def test_the_password_is_never_written_to_any_database_file(dovecot_server, dovecot_account, demo_files, tmp_path):
    _identities, files = demo_files
    dovecot_server.fill_folder(dovecot_account, "INBOX", files[:20])
    db = tmp_path / "secret.db"
    mine(ImapMessageSource(dovecot_account.url(), "local", password=dovecot_account.password), db_path=db)
    secret = dovecot_account.password.encode()
    written = [p for p in tmp_path.iterdir() if p.is_file()]
    assert any(p.name == "secret.db" for p in written)
    for path in written:
        assert secret not in path.read_bytes(), path.name
