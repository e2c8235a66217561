"""Hostile input for the command line: odd file names and path bytes, huge headers, broken
databases and outputs, bad URLs, interrupts. For every case: no traceback, the exit code
docs/cli.md documents, and every message mined or recorded with a reason."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from leadminer.contracts import RawMessage
from leadminer.extract import ADDRESS_HEADERS, extract_message
from leadminer.headers import UNCAPPED_HEADERS
from leadminer_runner.cli import app
from leadminer_runner.errors import EXIT_BAD_INPUT, EXIT_FAILED_MESSAGES, EXIT_INTERRUPTED

runner = CliRunner()


def message(n: int, sender: str = "ann@example.com") -> bytes:
    return (
        f"From: Ann <{sender}>\r\nTo: Bob <bob@example.org>\r\nSubject: note {n}\r\n"
        f"Message-ID: <m{n}@example.com>\r\nDate: Mon, 1 Jul 2024 10:{n % 60:02d}:00 +0000\r\n\r\nhello {n}\r\n"
    ).encode()


def invoke(*args: str, **kwargs):
    result = runner.invoke(app, list(args), **kwargs)
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def summary_of(result) -> dict:
    return json.loads(result.stdout)


# help and markup ------------------------------------------------------------------------------
@pytest.mark.parametrize("command", [["--help"], ["mine", "--help"], ["selfhost", "mine", "--help"], ["export", "--help"]])
def test_help_of_every_command_prints_without_error(command):
    result = invoke(*command)
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_user_data_is_never_read_as_markup(tmp_path):
    folder = tmp_path / "[/x] [bold]mail[/bold]"  # nested folders: "[", "x] [bold]mail[", "bold]"
    folder.mkdir(parents=True)
    (folder / "[bold] [red].eml").write_bytes(message(1, sender="x@[bold].example"))
    result = invoke("mine", str(folder), "--db", str(tmp_path / "db"), "--quiet")
    assert result.exit_code == 0, result.output
    assert "[/x] [bold]mail[/bold]" in " ".join(result.output.split())
    missing = invoke("mine", str(tmp_path / "[/nothing]"), "--db", str(tmp_path / "db"))
    assert missing.exit_code == EXIT_BAD_INPUT and "No such file or folder" in missing.output


# file names and path bytes -----------------------------------------------------------------------
NAME_BYTES = st.binary(min_size=1, max_size=24).filter(lambda b: b"/" not in b and b"\x00" not in b and b not in (b".", b".."))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(NAME_BYTES, min_size=1, max_size=6, unique=True))
def test_files_with_names_of_any_bytes_are_mined_and_recognised_again(tmp_path_factory, names):
    root = tmp_path_factory.mktemp("names")
    source = root / os.fsdecode(b"src\xe9 \n[x]")
    source.mkdir()
    for n, name in enumerate(names):
        if name.startswith(b"."):
            name = b"_" + name  # hidden files are skipped on purpose
        (source / os.fsdecode(name)).write_bytes(message(n))
    db = root / "m.db"
    first = invoke("mine", str(source), "--db", str(db), "--quiet", "--json")
    assert first.exit_code == 0, first.output
    got = summary_of(first)
    assert got["fetched"] == len(names) and got["extracted"] == len(names) and got["failed"] == 0
    again = summary_of(invoke("mine", str(source), "--db", str(db), "--quiet", "--json"))
    assert again["already_mined"] == len(names) and again["extracted"] == 0
    minings = [json.loads(line) for line in invoke("minings", "--db", str(db)).stdout.splitlines()]
    assert len({m["source"] for m in minings}) == 1  # the same label on both runs


def test_a_symlink_loop_and_unreadable_entries_fail_alone_with_a_reason(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "1.eml").write_bytes(message(1))
    (source / "loop1").symlink_to("loop2")
    (source / "loop2").symlink_to("loop1")
    result = invoke("mine", str(source), "--db", str(tmp_path / "db"), "--quiet", "--json")
    assert result.exit_code == EXIT_FAILED_MESSAGES
    got = summary_of(result)
    assert got["extracted"] == 1 and got["failed"] == 2
    assert {f["uid"] for f in got["failures"]} == {"loop1", "loop2"}
    assert all("symbolic links" in f["reason"] for f in got["failures"])
    listed = [json.loads(line) for line in invoke("failures", "--db", str(tmp_path / "db")).stdout.splitlines()]
    assert {f["uid"] for f in listed} == {"loop1", "loop2"}


# header sizes ------------------------------------------------------------------------------------
def test_every_address_header_is_uncapped():
    assert set(ADDRESS_HEADERS) <= UNCAPPED_HEADERS


@settings(max_examples=8, deadline=None)
@given(recipients=st.sampled_from([0, 1, 2_000, 5_000, 10_000, 12_345]), field=st.sampled_from(["To", "Cc", "Bcc"]))
def test_an_address_header_of_any_realistic_size_is_mined_whole(recipients, field):
    addresses = ",\r\n ".join(f'"Person {i}" <p{i}@host{i % 101}.example>' for i in range(recipients))
    data = f"From: a@b.example\r\n{field}: {addresses}\r\nSubject: all\r\nMessage-ID: <big@x>\r\n\r\nhi\r\n".encode()
    record = extract_message(RawMessage("m", "f", "1", data))
    assert len([p for p in record.points if p.field.value == field.lower()]) == recipients


# databases and outputs ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mined_db(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("mail")
    for n in range(5):
        (folder / f"{n}.eml").write_bytes(message(n, sender=f"p{n}@example.com"))
    db = tmp_path_factory.mktemp("db") / "mined.db"
    assert invoke("mine", str(folder), "--db", str(db), "--quiet").exit_code == 0
    return db


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


@pytest.mark.parametrize("target", ["mined.db", "mined.db.mining", "mined.db-wal"])
def test_export_never_writes_over_the_database(mined_db, target):
    before = snapshot(mined_db.parent)
    result = invoke("export", "--db", str(mined_db), "--format", "csv", "-o", str(mined_db.parent / target), "--force")
    assert result.exit_code == EXIT_BAD_INPUT and "database" in result.output
    assert snapshot(mined_db.parent) == before


def test_export_to_a_device_writes_in_place_and_keeps_the_device(mined_db):
    result = invoke("export", "--db", str(mined_db), "--format", "vcard", "-o", "/dev/null")
    assert result.exit_code == 0, result.output
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_export_to_a_fifo_writes_in_place(mined_db, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    result = invoke("export", "--db", str(mined_db), "--format", "json", "-o", str(fifo))
    out, _ = reader.communicate(timeout=20)
    assert result.exit_code == 0 and len(json.loads(out)) == 6  # 5 senders and their recipient
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_export_keeps_an_existing_file_unless_forced(mined_db, tmp_path):
    target = tmp_path / "contacts.csv"
    target.write_text("precious")
    result = invoke("export", "--db", str(mined_db), "--format", "csv", "-o", str(target))
    assert result.exit_code == EXIT_BAD_INPUT and "--force" in result.output and target.read_text() == "precious"
    assert invoke("export", "--db", str(mined_db), "--format", "csv", "-o", str(target), "--force").exit_code == 0
    assert "E-mail Address" in target.read_text()


def test_a_read_only_database_is_exported_and_listed_without_being_touched(mined_db, tmp_path):
    copy_dir = tmp_path / "ro"
    copy_dir.mkdir()
    copy = copy_dir / "mined.db"
    copy.write_bytes(mined_db.read_bytes())
    copy.chmod(0o444)
    copy_dir.chmod(0o555)
    try:
        before = snapshot(copy_dir)
        assert len(json.loads(invoke("export", "--db", str(copy)).stdout)) == 6
        assert invoke("minings", "--db", str(copy)).exit_code == 0
        assert invoke("failures", "--db", str(copy)).exit_code == 0
        assert snapshot(copy_dir) == before  # no -wal, -shm or lock file, same bytes
    finally:
        copy_dir.chmod(0o755)


def foreign_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    conn.execute("INSERT INTO notes (text) VALUES ('mine, not leadminer''s')")
    conn.commit()
    conn.close()


@pytest.mark.parametrize("kind", ["folder", "random bytes", "foreign sqlite", "empty file"])
@pytest.mark.parametrize("command", ["mine", "export", "minings", "failures"])
def test_a_db_that_is_not_ours_is_refused_without_being_modified(tmp_path, kind, command):
    source = tmp_path / "mail"
    source.mkdir()
    (source / "1.eml").write_bytes(message(1))
    place = tmp_path / "place"
    place.mkdir()
    db = place / "x.db"
    if kind == "folder":
        db.mkdir()
    elif kind == "random bytes":
        db.write_bytes(os.urandom(4096))
    elif kind == "foreign sqlite":
        foreign_sqlite(db)
    else:
        db.write_bytes(b"")
    before = snapshot(place)
    args = {"mine": ["mine", str(source), "--quiet"], "export": ["export"], "minings": ["minings"], "failures": ["failures"]}
    result = invoke(*args[command], "--db", str(db))
    if kind == "empty file" and command == "mine":
        assert result.exit_code == 0, result.output  # an empty file is an empty database: mined into
        return
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert snapshot(place) == before  # same bytes, no WAL switch, no side file
    assert result.output.count("\n") <= 3


# IMAP URLs ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("imap://imap.example.com/INBOX", "without a user"),
        ("imaps://me:hunter2@imap.example.com", "IMAP_PASSWORD"),
        ("imap://me@/INBOX", "without a host"),
        ("imaps://me@imap.example.com:99999", "Bad port"),
        ("imap://me@imap.example.com?security=rot13", "Unknown security"),
    ],
)
def test_bad_imap_urls_are_refused_before_any_password_prompt(tmp_path, url, expected):
    result = invoke("mine", url, "--db", str(tmp_path / "db"), input="")
    assert result.exit_code == EXIT_BAD_INPUT and expected in " ".join(result.output.split())
    assert "password:" not in result.output.lower() and "hunter2" not in result.output


# interrupts -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def big_mbox(tmp_path_factory) -> Path:
    """An mbox long enough to interrupt mid-mining (about 5 s of work)."""
    path = tmp_path_factory.mktemp("big") / "big.mbox"
    with path.open("wb") as out:
        for n in range(30_000):
            out.write(b"From ann@example.com Mon Jul  1 10:00:00 2024\n" + message(n, sender=f"p{n % 300}@example.com") + b"\n")
    return path


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_ends_the_mining_with_a_reason_and_a_rerun_completes_it(tmp_path, sig, big_mbox):
    db = tmp_path / "m.db"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    command = [sys.executable, "-m", "leadminer_runner.cli", "mine", str(big_mbox), "--db", str(db)]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)
    temp = db.with_name(db.name + ".mining")
    deadline = time.monotonic() + 60
    while sum(p.stat().st_size for p in tmp_path.glob("m.db.mining*")) < 200_000:  # extract is under way
        assert time.monotonic() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.02)
    process.send_signal(sig)
    _out, err = process.communicate(timeout=60)
    assert process.returncode == EXIT_INTERRUPTED, err
    assert "interrupted by the user" in err and "Traceback" not in err
    minings = [json.loads(line) for line in invoke("minings", "--db", str(db)).stdout.splitlines()]
    assert [m["status"] for m in minings] == ["interrupted"]
    assert minings[0]["stats"]["error"] == "interrupted by the user"
    assert temp.exists()
    rerun = invoke("mine", str(big_mbox), "--db", str(db), "--quiet", "--json")
    assert rerun.exit_code == 0 and summary_of(rerun)["extracted"] + summary_of(rerun)["already_mined"] == 30_000


def test_an_unreachable_imap_server_is_a_clear_error(tmp_path):
    import socket

    with socket.socket() as probe:  # a loopback port where nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = invoke(
        "mine", f"imaps://me@127.0.0.1:{port}/INBOX", "--db", str(tmp_path / "db"), env={"IMAP_PASSWORD": "pw-not-shown"}
    )
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert "127.0.0.1" in result.output and "pw-not-shown" not in result.output
    assert result.output.strip().count("\n") <= 2
