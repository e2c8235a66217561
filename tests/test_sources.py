"""File sources: mbox, Maildir, folders of messages, zip / tar archives (leadminer.sources)."""

from __future__ import annotations

import email
import io
import re
import shutil
import tarfile
import zipfile
from email import policy
from pathlib import Path

import pytest

from corpora import corpus_dir, corpus_tarball
from leadminer.contracts import FailedMessage, RawMessage
from leadminer.sources import FileSource, SourceError, open_source

pytestmark = pytest.mark.corpus

_ESCAPE = re.compile(rb"(?m)^(>*From )")


# --------------------------------------------------------------------------- helpers


def read_all(source: FileSource, **options) -> tuple[list[RawMessage], list[FailedMessage]]:
    items = list(source.iter_messages("mining-1", **options))
    messages = [item for item in items if isinstance(item, RawMessage)]
    failures = [item for item in items if isinstance(item, FailedMessage)]
    assert len(messages) + len(failures) == len(items), "only RawMessage / FailedMessage may come out"
    return messages, failures


def to_mboxrd(messages: list[bytes], newline: bytes = b"\n") -> bytes:
    """An mboxrd file: envelope line, escaped ``From`` lines, blank separator."""
    out = bytearray()
    for data in messages:
        body = _ESCAPE.sub(rb">\1", data)
        if not body.endswith(b"\n"):
            body += newline
        out += b"From sender@example.com Mon Jan  1 10:00:00 2024" + newline + body + newline
    return bytes(out)


def header_block(data: bytes) -> bytes:
    match = re.search(rb"\r?\n\r?\n", data)
    return data[: match.end()] if match else data


def message_id(data: bytes) -> str | None:
    return email.message_from_bytes(header_block(data), policy=policy.compat32).get("Message-ID")


@pytest.fixture(scope="module")
def ham() -> list[Path]:
    return sorted((corpus_dir("spamassassin") / "ham" / "easy-ham-1").glob("*.eml"))


@pytest.fixture(scope="module")
def lkml() -> Path:
    return corpus_dir("lkml")


# --------------------------------------------------------------------------- Maildir


def test_maildir_corpus_reads_every_message_byte_for_byte(lkml: Path):
    source = open_source(lkml)
    assert source.kind == "maildir"
    messages, failures = read_all(source)
    files = {path.name: path.read_bytes() for path in (lkml / "cur").iterdir()}
    assert not failures
    assert len(messages) == len(files) == source.count()
    assert {m.folder for m in messages} == {"INBOX"}
    for message in messages:
        # uid: the Maildir unique name, without the ":2," info that changes with flags
        assert ":2," not in message.uid
        assert message.data == files[message.uid + ":2,"]


def test_maildir_plus_plus_folders_flags_and_stable_uids(tmp_path: Path, ham: list[Path]):
    root = tmp_path / "Maildir"
    layout = {
        "cur/1000.1.host:2,RS": ham[0],
        "new/1000.2.host": ham[1],
        ".Sent/cur/1000.3.host:2,S": ham[2],
        ".Lists.sub/new/1000.4.host": ham[3],
        "tmp/1000.5.host": ham[4],  # being delivered: not mail yet
    }
    for name, origin in layout.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(origin, root / name)
    for sub in ("cur", "new", "tmp"):
        (root / ".Sent" / sub).mkdir(exist_ok=True)
    (root / "dovecot-uidlist").write_text("3 V1 N5\n")
    (root / ".Sent" / "maildirfolder").touch()

    source = open_source(root)
    messages, failures = read_all(source)
    assert not failures
    by_uid = {m.uid: m for m in messages}
    assert {(m.folder, m.uid) for m in messages} == {
        ("INBOX", "1000.1.host"),
        ("INBOX", "1000.2.host"),
        ("Sent", ".Sent/1000.3.host"),
        ("Lists.sub", ".Lists.sub/1000.4.host"),
    }
    assert by_uid["1000.1.host"].flags == ("\\Answered", "\\Seen")
    assert by_uid["1000.2.host"].flags == ()
    assert {s.path for s in source.skipped} >= {"dovecot-uidlist", ".Sent/maildirfolder"}
    assert source.count() == 4

    # a flag change renames the file and moves it new/ → cur/: the uid stays
    (root / "new/1000.2.host").rename(root / "cur/1000.2.host:2,FS")
    again = {m.uid: m for m in read_all(open_source(root))[0]}
    assert set(again) == set(by_uid)
    assert again["1000.2.host"].flags == ("\\Flagged", "\\Seen")
    assert again["1000.2.host"].data == by_uid["1000.2.host"].data


# --------------------------------------------------------------------------- mbox


def test_mbox_round_trip_unescapes_from_lines(tmp_path: Path, ham: list[Path]):
    originals = [path.read_bytes() for path in ham[:150]]
    tricky = (
        b"From: a@example.com\nTo: b@example.com\nSubject: froms\nMessage-ID: <froms@example.com>\n\n"
        b"From the start of a line\n>From quoted once\n>>From quoted twice\n"
        b"From someone Mon Jan  1 10:00:00 2024\nnot a header line, so not a separator\n"
    )
    originals.insert(7, tricky)
    path = tmp_path / "archive.mbox"
    path.write_bytes(to_mboxrd(originals))

    source = open_source(path)
    assert source.kind == "mbox"
    messages, failures = read_all(source)
    assert not failures
    assert [m.data for m in messages] == [d if d.endswith(b"\n") else d + b"\n" for d in originals]
    assert [m.uid for m in messages[:2]] == ["archive.mbox#1", "archive.mbox#2"]
    assert {m.folder for m in messages} == {"archive"}
    assert source.count() == len(originals)


def test_mbox_with_crlf_and_without_extension_in_a_folder(tmp_path: Path, ham: list[Path]):
    originals = [path.read_bytes().replace(b"\n", b"\r\n") for path in ham[:20]]
    folder = tmp_path / "Thunderbird" / "Local Folders"
    folder.mkdir(parents=True)
    (folder / "Inbox").write_bytes(to_mboxrd(originals, newline=b"\r\n"))
    (folder / "Inbox.msf").write_bytes(b"// <!-- <mdb:mork:z v=\"1.4\"/> -->")

    source = open_source(tmp_path)
    assert source.kind == "directory"
    messages, failures = read_all(source)
    assert not failures
    assert [message_id(m.data) for m in messages] == [message_id(d) for d in originals]
    assert messages[0].data == originals[0]
    assert {m.folder for m in messages} == {"Thunderbird/Local Folders/Inbox"}
    assert [s.path for s in source.skipped] == ["Thunderbird/Local Folders/Inbox.msf"]


def test_body_cap_keeps_whole_header_and_caps_body(tmp_path: Path, ham: list[Path]):
    originals = [path.read_bytes() for path in ham[:60]]
    path = tmp_path / "mail.mbox"
    path.write_bytes(to_mboxrd(originals))
    for source_path in (path, ham[0].parent):
        messages, _ = read_all(open_source(source_path), body_cap=100)
        by_id = {message_id(d): d for d in originals}
        for message in messages:
            if message_id(message.data) not in by_id:
                continue
            original = by_id[message_id(message.data)]
            head = header_block(original)
            assert message.data == original[: len(head) + 100]


# --------------------------------------------------------------------------- folders of files


def test_eml_folder_recursive_with_relative_folders(ham: list[Path]):
    root = corpus_dir("spamassassin")
    source = open_source(root)
    messages, failures = read_all(source)
    files = sorted(root.rglob("*.eml"))
    assert not failures and not source.skipped
    assert len(messages) == len(files) == source.count()
    assert {m.folder for m in messages} == {"ham/easy-ham-1", "ham/hard-ham-1", "spam/spam-1"}
    first = messages[0]
    assert (root / first.uid).read_bytes() == first.data


def test_sniffs_extensionless_and_txt_messages_and_skips_other_files():
    root = corpus_dir("quagga-enron-train")
    source = open_source(root)
    messages, failures = read_all(source)
    texts = list(root.glob("*.txt"))
    annotations = list(root.glob("*.ann"))
    assert not failures
    assert len(messages) == len(texts) == source.count()
    assert {s.path for s in source.skipped} == {p.name for p in annotations}


def test_malformed_corpus_nothing_lost():
    root = corpus_dir("malformed")
    source = open_source(root)
    messages, failures = read_all(source)
    files = [p for p in root.rglob("*") if p.is_file()]
    assert len(messages) + len(failures) + len(source.skipped) == len(files)
    assert [(f.uid, f.reason) for f in failures] == [("flanker/dkim/email.01.eml", "empty file")]
    # an .eml that starts with an mbox envelope line loses that line only
    torture = next(m for m in messages if m.uid.endswith("torture.eml"))
    assert torture.data.startswith(b"Date: ")


def test_non_utf8_file_name_gives_a_storable_uid(tmp_path: Path, ham: list[Path]):
    raw_name = b"caf\xe9.eml"
    (tmp_path / raw_name.decode("utf-8", "surrogateescape")).write_bytes(ham[0].read_bytes())
    messages, _ = read_all(open_source(tmp_path))
    assert len(messages) == 1
    messages[0].uid.encode("utf-8")  # no surrogates left


# --------------------------------------------------------------------------- archives


def test_zip_of_maildir_eml_and_mbox_streams_members(tmp_path: Path, lkml: Path, ham: list[Path]):
    path = tmp_path / "export.zip"
    cur = sorted((lkml / "cur").iterdir())[:30]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in cur:
            archive.writestr(f"backup/Maildir/cur/{file.name}", file.read_bytes())
        for file in ham[:10]:
            archive.writestr(f"backup/loose/{file.name}", file.read_bytes())
        archive.writestr("backup/old.mbox", to_mboxrd([p.read_bytes() for p in ham[10:15]]))
        archive.writestr("backup/notes.json", b'{"not": "mail"}')
        archive.writestr("__MACOSX/backup/._x.eml", b"\x00\x05\x16\x07")

    source = open_source(path)
    assert source.kind == "zip"
    messages, failures = read_all(source)
    assert not failures
    folders = {}
    for message in messages:
        folders[message.folder] = folders.get(message.folder, 0) + 1
    assert folders == {"backup/Maildir": 30, "backup/loose": 10, "backup/old": 5}
    assert {s.path for s in source.skipped} == {"backup/notes.json", "__MACOSX/backup/._x.eml"}
    assert source.count() == 45
    by_uid = {m.uid: m.data for m in messages}
    assert by_uid[f"backup/loose/{ham[0].name}"] == ham[0].read_bytes()
    assert by_uid["backup/old.mbox#1"] == ham[10].read_bytes()


def test_corpus_tar_gz_is_streamed():
    tarball = corpus_tarball("lkml")
    if not tarball.is_file():
        pytest.skip("../shared/corpora not present")
    source = open_source(tarball)
    assert source.kind == "tar"
    messages, failures = read_all(source, body_cap=2048)
    assert not failures
    assert len(messages) == source.count() == 210
    assert {m.folder for m in messages} == {"lkml"}
    on_disk = {p.name.split(":2,")[0]: p.read_bytes() for p in (corpus_dir("lkml") / "cur").iterdir()}
    for message in messages:
        original = on_disk[message.uid.removeprefix("lkml/")]
        assert message.data == original[: len(header_block(original)) + 2048]


def test_tgz_with_nested_mbox_and_nested_archive(tmp_path: Path, ham: list[Path]):
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("x.eml", ham[0].read_bytes())
    mbox = to_mboxrd([p.read_bytes() for p in ham[:4]])
    path = tmp_path / "mail.tgz"
    with tarfile.open(path, "w:gz") as archive:
        for name, data in (("Mail/Inbox.mbox", mbox), ("Mail/inner.zip", inner.getvalue()), ("Mail/a.eml", ham[5].read_bytes())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))

    messages, failures = read_all(open_source(path))
    assert [m.uid for m in messages] == [f"Mail/Inbox.mbox#{i}" for i in range(1, 5)] + ["Mail/a.eml"]
    assert [f.uid for f in failures] == ["Mail/inner.zip"]
    assert "extract it first" in failures[0].reason


def test_archives_inside_a_folder_are_read(tmp_path: Path, ham: list[Path]):
    with zipfile.ZipFile(tmp_path / "takeout-1.zip", "w") as archive:
        for file in ham[:3]:
            archive.writestr(f"Mail/{file.name}", file.read_bytes())
    shutil.copyfile(ham[3], tmp_path / "single.eml")
    source = open_source(tmp_path)
    messages, failures = read_all(source)
    assert not failures
    assert sorted(m.folder for m in messages) == ["takeout-1.zip/Mail"] * 3 + [tmp_path.name]
    assert source.count() == 4


# --------------------------------------------------------------------------- errors and limits


def test_missing_path_and_unknown_format_raise_source_error(tmp_path: Path):
    with pytest.raises(SourceError, match="No such file or folder: .*nowhere"):
        open_source(tmp_path / "nowhere")
    picture = tmp_path / "photo.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    with pytest.raises(SourceError, match="photo.png is not a mail source"):
        open_source(picture)


def test_corrupt_zip_is_refused_at_open(tmp_path: Path):
    path = tmp_path / "broken.zip"
    path.write_bytes(b"PK\x03\x04 this is not really a zip file")
    with pytest.raises(SourceError, match="broken.zip is not a readable zip archive"):
        open_source(path)


def test_truncated_tar_gz_yields_what_it_can_and_a_failure(tmp_path: Path, ham: list[Path]):
    path = tmp_path / "mail.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for file in ham[:40]:
            archive.add(file, f"mail/{file.name}")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])

    messages, failures = read_all(open_source(path))
    assert 0 < len(messages) < 40
    assert len(failures) >= 1
    assert "truncated or corrupt" in failures[-1].reason and "could not be read" in failures[-1].reason


def test_damaged_zip_member_is_a_failure_others_survive(tmp_path: Path, ham: list[Path]):
    path = tmp_path / "mail.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for file in ham[:3]:
            archive.writestr(file.name, file.read_bytes())
    data = bytearray(path.read_bytes())
    marker = data.find(b"Subject:", data.find(ham[1].name.encode()))
    data[marker] ^= 0xFF  # corrupt the second member's content: CRC mismatch
    path.write_bytes(bytes(data))

    messages, failures = read_all(open_source(path))
    assert [m.uid for m in messages] == [ham[0].name, ham[2].name]
    assert [f.uid for f in failures] == [ham[1].name]
    assert "CRC" in failures[0].reason


def test_size_limit_records_a_reason(tmp_path: Path, ham: list[Path]):
    sizes = {path.name: path.stat().st_size for path in ham[:30]}
    limit = sorted(sizes.values())[15]
    for path in ham[:30]:
        shutil.copyfile(path, tmp_path / path.name)
    (tmp_path / "all.mbox").write_bytes(to_mboxrd([p.read_bytes() for p in ham[:30]]))

    messages, failures = read_all(open_source(tmp_path, max_message_bytes=limit))
    too_big_files = {name for name, size in sizes.items() if size > limit}
    assert too_big_files
    assert {f.uid for f in failures if not f.uid.startswith("all.mbox")} == too_big_files
    assert all("over the" in f.reason and "size limit" in f.reason for f in failures)
    mbox_failed = sum(1 for f in failures if f.uid.startswith("all.mbox"))
    mbox_read = sum(1 for m in messages if m.uid.startswith("all.mbox"))
    assert mbox_failed >= len(too_big_files) and mbox_read + mbox_failed == 30


def test_body_cap_must_not_be_negative(lkml: Path):
    with pytest.raises(ValueError):
        next(open_source(lkml).iter_messages("m", body_cap=-1))


# --------------------------------------------------------------------------- benchmarks


def test_bench_read_eml_folder(benchmark):
    """Throughput of a folder of 3,250 .eml files (run with --benchmark-enable)."""
    source = open_source(corpus_dir("spamassassin"))
    count = benchmark(lambda: sum(1 for _ in source.iter_messages("m", body_cap=16384)))
    assert count == 3250


def test_bench_read_mbox(benchmark, tmp_path: Path, ham: list[Path]):
    path = tmp_path / "big.mbox"
    path.write_bytes(to_mboxrd([p.read_bytes() for p in ham]))
    source = open_source(path)
    count = benchmark(lambda: sum(1 for _ in source.iter_messages("m", body_cap=16384)))
    assert count == len(ham)


def test_mbox_envelope_before_a_message_whose_first_line_is_not_a_header(tmp_path: Path):
    box = tmp_path / "odd.mbox"
    box.write_bytes(
        b"From a@x Thu Jan  1 00:00:00 2004\nFrom: a@x\nSubject: one\n\nbody one\nFrom 10:00 to 12:00 we meet\n\n"
        b"From b@x Thu Jan  1 00:00:00 2004\n   leading blank-ish line\nFrom: b@x\n\nbody two\n\n"
        b"From c@x Thu Jan  1 00:00:00 2004\nFrom MAILER-DAEMON  Tue Jul  7 22:47:39 2009\nFrom: c@x\n\nbody three\n"
    )
    items = list(open_source(box).iter_messages("m"))
    assert len(items) == 3  # the stray "From 10:00" body line is no separator; a doubled envelope adds no message
    assert b"From 10:00 to 12:00" in items[0].data
    assert items[1].data.startswith(b"   leading")
    assert items[2].data.startswith(b"From: c@x")


def test_hostile_member_names_and_links_in_archives_are_read_never_written_or_followed(tmp_path: Path, ham: list[Path]):
    """Uploads are archives from strangers: member names that climb out (``../``), absolute
    names and links are only labels here. Members are streamed, never extracted, so nothing
    is written anywhere, and a link member is not followed (its target is not read)."""
    hostile = ["../../escape.eml", "/etc/cron.d/absolute.eml", "inbox/../../../climb.eml", "C:\\Windows\\x.eml"]
    secret = tmp_path / "outside" / "secret.eml"
    secret.parent.mkdir()
    secret.write_bytes(ham[9].read_bytes())
    upload_dir = tmp_path / "spool" / "upload"
    upload_dir.mkdir(parents=True)

    zip_path = upload_dir / "hostile.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        for name, file in zip(hostile, ham):
            archive.writestr(zipfile.ZipInfo(name), file.read_bytes())
    tar_path = upload_dir / "hostile.tar.gz"
    with tarfile.open(tar_path, "w:gz") as archive:
        for name, file in zip(hostile, ham):
            data = file.read_bytes()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for kind, name in ((tarfile.SYMTYPE, "link.eml"), (tarfile.LNKTYPE, "hardlink.eml")):
            link = tarfile.TarInfo(name)
            link.type, link.linkname = kind, str(secret)
            archive.addfile(link)

    before = sorted(p for p in tmp_path.rglob("*"))
    for path in (zip_path, tar_path):
        source = open_source(path)
        messages, failures = read_all(source)
        assert not failures
        links = {"link.eml", "hardlink.eml"} if path == tar_path else set()
        assert {(s.path, s.reason) for s in source.skipped} == {(n, "a link inside the archive (not followed)") for n in links}
        assert {m.folder for m in messages} == {"inbox", "etc/cron.d", path.name.split(".")[0]}
        assert sorted(map(message_id, (m.data for m in messages))) == sorted(message_id(f.read_bytes()) for f in ham[:4])
        assert {m.uid for m in messages} == set(hostile)  # the names are kept as labels, verbatim
        assert message_id(secret.read_bytes()) not in {message_id(m.data) for m in messages}  # no link followed
    assert sorted(p for p in tmp_path.rglob("*")) == before  # nothing was written anywhere
    assert not Path("/etc/cron.d/absolute.eml").exists() and not (tmp_path / "escape.eml").exists()
