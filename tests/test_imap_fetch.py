"""IMAP fetcher against a real Dovecot (tests/dovecot.py), plus its response parser."""

from __future__ import annotations

import email
import logging
import re
import socket
from collections import Counter
from email import policy
from email.message import EmailMessage

import pytest

from leadminer.contracts import FailedMessage, RawMessage
from leadminer.sources import open_source
from leadminer.storage import FolderState
from leadminer_fetcher.imap import (
    ImapAuthError,
    ImapConnectionError,
    ImapError,
    ImapSource,
    _with_special_uses,
    parse_imap_url,
)
from leadminer_fetcher.imap_response import find_text_part, parse_fetch, uid_set

pytestmark = pytest.mark.corpus


class MemoryStateStore:
    """The FetchStateStore protocol in a dict; remembers every save."""

    def __init__(self) -> None:
        self.states: dict[tuple[str, str, str], FolderState] = {}
        self.saves: list[tuple[str, FolderState]] = []

    def get_folder_state(self, user_id: str, source: str, folder: str) -> FolderState | None:
        return self.states.get((user_id, source, folder))

    def save_folder_state(self, user_id: str, source: str, folder: str, state: FolderState) -> None:
        self.states[(user_id, source, folder)] = state
        self.saves.append((folder, state))


def source_for(account, **options) -> ImapSource:
    return ImapSource(account.host, account.port, account.user, account.password, security="plain", timeout=10, **options)


def fetch(source: ImapSource, store=None, user_id: str = "u1") -> list[RawMessage]:
    items = list(source.iter_messages("mining-1", store, user_id))
    assert all(isinstance(item, RawMessage) for item in items), [i for i in items if isinstance(i, FailedMessage)]
    return items


def lf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n")


def header_block(data: bytes) -> bytes:
    match = re.search(rb"\r?\n\r?\n", data)
    return data[: match.end()] if match else data


def make_message(n: int, subject: str = "hello") -> bytes:
    message = EmailMessage()
    message["From"] = f"Sender {n} <sender{n}@example.org>"
    message["To"] = "miner@example.com"
    message["Subject"] = f"{subject} {n}"
    message["Message-ID"] = f"<msg-{subject}-{n}@example.org>"
    message.set_content(f"Hi,\n\nmessage {n}.\n\n-- \nSender {n}\nACME Corp\n")
    return message.as_bytes(policy=policy.SMTP)


def text_of(data: bytes) -> str | None:
    body = email.message_from_bytes(data, policy=policy.default).get_body(("plain", "html"))
    return body.get_content().replace("\r\n", "\n") if body is not None else None


# --------------------------------------------------------------------------- folders


def test_list_folders_reports_special_use(dovecot):
    folders = {f.name: f for f in source_for(dovecot).list_folders()}
    assert {name: f.special_use for name, f in folders.items()} == {
        "INBOX": None, "Lists": None, "Sent": "\\Sent", "Junk": "\\Junk", "Trash": "\\Trash", "Drafts": "\\Drafts",
    }
    assert not any(f.special_use_guessed for f in folders.values())


def test_special_use_guessed_from_names_only_without_flags():
    listed = [
        ("INBOX", "/", ()),
        ("Spam", "/", ("\\HasNoChildren",)),
        ("INBOX/Corbeille", "/", ()),
        ("Entwürfe", "/", ()),
        ("Projects/Sent", "/", ()),
        ("Junk", "/", ("\\Junk",)),
    ]
    uses = {f.name: (f.special_use, f.special_use_guessed) for f in _with_special_uses(listed)}
    assert uses == {
        "INBOX": (None, False),
        "Spam": (None, False),  # the server flags another folder \Junk: trust it
        "INBOX/Corbeille": ("\\Trash", True),
        "Entwürfe": ("\\Drafts", True),
        "Projects/Sent": ("\\Sent", True),
        "Junk": ("\\Junk", False),
    }


# --------------------------------------------------------------------------- fetching


def test_fetch_skips_junk_trash_drafts_and_matches_files_on_disk(dovecot):
    source = source_for(dovecot, body_cap=None)
    messages = fetch(source)
    expected = {folder: files for folder, files in dovecot.corpus_files.items() if folder not in ("Junk", "Trash")}
    assert Counter(m.folder for m in messages) == {folder: len(files) for folder, files in expected.items()}
    assert source.count() == len(messages)
    assert messages[0].folder == "INBOX"

    by_folder: dict[str, list[RawMessage]] = {}
    for message in messages:
        by_folder.setdefault(message.folder, []).append(message)
    for folder, files in expected.items():
        fetched_headers = Counter(lf(header_block(m.data)) for m in by_folder[folder])
        disk_headers = Counter(lf(header_block(path.read_bytes())) for path in files)
        assert fetched_headers == disk_headers, folder  # the same header bytes, line ends aside
        # and the text the extract stage will see is the text of the original
        fetched_texts = Counter(text_of(m.data) for m in by_folder[folder])
        disk_texts = Counter(text_of(path.read_bytes()) for path in files)
        assert fetched_texts == disk_texts, folder


def test_same_message_ids_as_reading_the_maildir(dovecot):
    from_imap = Counter((m.folder, email.message_from_bytes(m.data)["Message-ID"]) for m in fetch(source_for(dovecot)))
    from_files = Counter(
        (m.folder, email.message_from_bytes(m.data)["Message-ID"])
        for m in open_source(dovecot.maildir).iter_messages("m")
        if m.folder not in ("Junk", "Trash")
    )
    assert from_imap == from_files


def test_body_is_capped_to_the_first_text_part(dovecot):
    cap = 64
    capped = {(m.folder, m.uid): m for m in fetch(source_for(dovecot, body_cap=cap, folders=["INBOX", "Lists"]))}
    full = {(m.folder, m.uid): m for m in fetch(source_for(dovecot, body_cap=None, folders=["INBOX", "Lists"]))}
    assert capped.keys() == full.keys()
    multipart = 0
    for key, message in capped.items():
        head = header_block(message.data)
        assert head == header_block(full[key].data)
        structure = email.message_from_bytes(message.data, policy=policy.default)
        if structure.is_multipart():
            multipart += 1
            part = next(structure.iter_parts())
            assert len(part.get_payload(decode=False).encode("utf-8", "surrogateescape")) <= cap
        else:
            assert message.data == full[key].data[: len(head) + cap]
    assert multipart > 0


def test_headers_only_when_body_cap_is_zero(dovecot):
    messages = fetch(source_for(dovecot, body_cap=0, folders=["Sent"]))
    assert messages and all(m.data == header_block(m.data) for m in messages)


def test_fetch_does_not_mark_messages_seen(dovecot_account):
    dovecot_account.append("INBOX", make_message(1))
    fetch(source_for(dovecot_account))
    with dovecot_account.imap() as client:
        client.select("INBOX", readonly=True)
        _, data = client.fetch("1", "(FLAGS)")
    assert b"\\Seen" not in data[0]


# --------------------------------------------------------------------------- incremental state


def test_second_run_fetches_only_new_mail(dovecot_account):
    for n in range(5):
        dovecot_account.append("INBOX", make_message(n))
    dovecot_account.append("Projects", make_message(100, "project"))
    store = MemoryStateStore()
    source = source_for(dovecot_account)

    assert len(fetch(source, store)) == 6
    key = ("u1", source.source_key, "INBOX")
    assert store.states[key].highest_uid == 5
    assert fetch(source, store) == []
    assert source.count(store, "u1") == 0

    new = [make_message(n, "new") for n in range(3)]
    for data in new:
        dovecot_account.append("INBOX", data)
    assert source.count(store, "u1") == 3
    again = fetch(source, store)
    assert [email.message_from_bytes(m.data)["Message-ID"] for m in again] == [
        email.message_from_bytes(d)["Message-ID"] for d in new
    ]
    assert [m.uid for m in again] == ["6", "7", "8"]
    # another user of the same account starts from scratch
    assert len(fetch(source, store, user_id="u2")) == 9


def test_uidvalidity_change_reads_the_folder_again(dovecot_account):
    for n in range(4):
        dovecot_account.append("INBOX", make_message(n))
    store = MemoryStateStore()
    source = source_for(dovecot_account)
    assert len(fetch(source, store)) == 4
    assert fetch(source, store) == []

    old = dovecot_account.uidvalidity("INBOX")
    dovecot_account.set_uidvalidity("INBOX", old + 1000)
    assert len(fetch(source, store)) == 4
    assert store.states[("u1", source.source_key, "INBOX")] == FolderState(old + 1000, 4)


def test_state_is_saved_only_after_a_batch_is_handed_over(dovecot_account):
    for n in range(5):
        dovecot_account.append("INBOX", make_message(n))
    store = MemoryStateStore()
    source = source_for(dovecot_account, batch_size=2)
    stream = source.iter_messages("m", store, "u1")
    first = [next(stream) for _ in range(2)]
    assert store.saves == []  # the consumer still holds the batch's last message
    third = next(stream)
    assert [s.highest_uid for _, s in store.saves] == [2]
    stream.close()  # stop mid-batch: that batch is read again next time (at-least-once)
    rest = fetch(source, store)
    assert [m.uid for m in first] == ["1", "2"] and third.uid == "3"
    assert [m.uid for m in rest] == ["3", "4", "5"]
    assert [s.highest_uid for folder, s in store.saves if folder == "INBOX"] == [2, 4, 5]
    assert ("Sent", FolderState(store.saves[-1][1].uidvalidity, 0)) in store.saves  # empty folder: validity noted


def test_folder_from_url_and_missing_folder(dovecot):
    source = ImapSource.from_url(dovecot.url("Sent"), dovecot.password)
    assert {m.folder for m in fetch(source)} == {"Sent"}
    with pytest.raises(ImapError, match="No such folder on 127.0.0.1: Nope"):
        fetch(ImapSource.from_url(dovecot.url("Nope"), dovecot.password))


def test_utf8_password_uses_authenticate_plain(dovecot_server):
    account = dovecot_server.add_account(password="pässwörd-ünïcode")
    account.append("INBOX", make_message(1))
    assert len(fetch(source_for(account))) == 1


# --------------------------------------------------------------------------- errors


def test_wrong_password_is_an_auth_error_without_the_password(dovecot, caplog):
    secret = "Wr0ng-Secret-Value"
    caplog.set_level(logging.DEBUG)
    source = ImapSource(dovecot.host, dovecot.port, dovecot.user, secret, security="plain", timeout=10)
    with pytest.raises(ImapAuthError) as caught:
        source.list_folders()
    message = str(caught.value)
    assert message.startswith(f"IMAP login failed for {dovecot.user}@{dovecot.host}: ")
    assert "Authentication failed" in message
    assert secret not in message and secret not in repr(source)
    assert secret not in caplog.text
    assert dovecot.password not in caplog.text
    with pytest.raises(ImapAuthError):
        list(source.iter_messages("m"))


def test_unreachable_port_is_a_connection_error(dovecot):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = ImapSource("127.0.0.1", port, "someone", "pw", security="plain", timeout=5)
    with pytest.raises(ImapConnectionError, match=f"Cannot connect to IMAP server 127.0.0.1:{port}: "):
        source.check()


def test_silent_server_times_out_as_connection_error():
    with socket.socket() as silent:  # accepts connections, never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        source = ImapSource("127.0.0.1", port, "someone", "pw", security="ssl", timeout=0.3)
        with pytest.raises(ImapConnectionError, match=f"127.0.0.1:{port}.*timed out"):
            source.check()


def test_starttls_required_when_asked(dovecot_without_tls):
    account = dovecot_without_tls.add_account()
    source = ImapSource(account.host, account.port, account.user, account.password, security="starttls", timeout=10)
    with pytest.raises(ImapConnectionError, match="does not offer STARTTLS"):
        source.check()


def test_constructor_validation():
    with pytest.raises(ValueError, match="exactly one of password or oauth2_token"):
        ImapSource("h", 1, "u")
    with pytest.raises(ValueError, match="security"):
        ImapSource("h", 1, "u", "p", security="tls-please")


# --------------------------------------------------------------------------- URL parsing


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("imaps://john@imap.example.com", ("imap.example.com", 993, "john", "ssl", None)),
        ("imap://john@imap.example.com", ("imap.example.com", 143, "john", "starttls", None)),
        ("imap://john%40example.com@127.0.0.1:1143/INBOX?security=plain", ("127.0.0.1", 1143, "john@example.com", "plain", "INBOX")),
        ("imap://me;AUTH=*@host/Lists%2FLinux", ("host", 143, "me", "starttls", "Lists/Linux")),
        ("IMAPS://a@b.example:10993/?security=ssl", ("b.example", 10993, "a", "ssl", None)),
    ],
)
def test_parse_imap_url(url, expected):
    parsed = parse_imap_url(url)
    assert (parsed.host, parsed.port, parsed.user, parsed.security, parsed.folder) == expected


def test_parse_imap_url_rejects_and_hides_password():
    parsed = parse_imap_url("imap://u:s3cr%3At@h")
    assert parsed.password == "s3cr:t" and "s3cr" not in repr(parsed) and "s3cr" not in parsed.label
    for bad in ("http://u@h", "imap://h", "imap://u@h?security=maybe", "imap://u@"):
        with pytest.raises(ValueError):
            parse_imap_url(bad)
    with pytest.raises(ValueError) as caught:
        parse_imap_url("pop3://u:topsecret@h")
    assert "topsecret" not in str(caught.value)


# --------------------------------------------------------------------------- response parser


def test_parse_fetch_with_literals_and_nested_lists():
    data = [
        (b'1 (UID 7 FLAGS (\\Seen $Label) BODY[HEADER] {12}', b"Subject: x\r\n"),
        (b' BODY[1.2]<0> {3}', b"abc"),
        b' BODYSTRUCTURE ("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 3 1 NIL NIL NIL NIL))',
        b'2 (UID 9 FLAGS () BODY[HEADER] "quoted \\"value\\"")',
    ]
    first, second = parse_fetch(data)
    assert first["UID"] == "7" and first["FLAGS"] == ["\\Seen", "$Label"]
    assert first["BODY[HEADER]"] == b"Subject: x\r\n" and first["BODY[1.2]<0>"] == b"abc"
    assert first["BODYSTRUCTURE"][:3] == [b"text", b"plain", [b"charset", b"utf-8"]]
    assert first["BODYSTRUCTURE"][3] is None
    assert second == {"UID": "9", "FLAGS": [], "BODY[HEADER]": b'quoted "value"'}


def test_find_text_part_walks_like_a_mail_reader():
    plain = [b"TEXT", b"PLAIN", [b"CHARSET", b"utf-8"], None, None, b"QUOTED-PRINTABLE", 10, 1, None, None, None, None]
    html = [b"text", b"html", [b"charset", b"utf-8"], None, None, b"base64", 10, 1, None, None, None, None]
    attached_txt = [b"text", b"plain", None, None, None, b"7bit", 5, 1, None, [b"attachment", [b"filename", b"a.txt"]], None, None]
    pdf = [b"application", b"pdf", None, None, None, b"base64", 100, None, [b"attachment", None], None, None]
    alternative = [html, plain, b"alternative", [b"boundary", b"inner"], None, None]
    mixed = [attached_txt, alternative, pdf, b"mixed", [b"boundary", b"outer"], None, None]

    part = find_text_part(mixed)
    assert (part.section, part.boundary, part.content_type, part.encoding) == ("2.2", b"outer", "text/plain", "quoted-printable")
    assert find_text_part([pdf, html, b"mixed", [b"boundary", b"b"], None, None]).section == "2"
    assert find_text_part(plain).section == "TEXT"
    assert find_text_part(pdf) is None
    assert find_text_part([pdf, b"mixed", [b"boundary", b"b"], None, None]) is None
    assert find_text_part([html, plain, b"alternative", None]).section == "TEXT"  # no boundary: raw body start


def test_uid_set():
    assert uid_set([5, 1, 2, 3, 9, 10, 7]) == "1:3,5,7,9:10"
    assert uid_set([42]) == "42"


# --------------------------------------------------------------------------- benchmarks


def test_bench_imap_fetch(benchmark, dovecot):
    """Messages per second over IMAP (run with --benchmark-enable); compare with the next one."""
    source = source_for(dovecot)
    count = benchmark(lambda: sum(1 for _ in source.iter_messages("m")))
    assert count == 360


def test_bench_read_same_maildir(benchmark, dovecot):
    source = open_source(dovecot.maildir)
    count = benchmark(
        lambda: sum(1 for m in source.iter_messages("m", body_cap=16384) if m.folder not in ("Junk", "Trash"))
    )
    assert count == 360


def test_a_dropped_connection_is_reopened_and_the_folder_resumed(dovecot_server, dovecot_account, tmp_path, caplog):
    """The server drops the session mid-folder (doveadm kick): the fetcher reconnects and
    goes on after the last message it handed over, so nothing is lost or read twice."""
    files = []
    for i in range(12):
        path = tmp_path / f"{i}.eml"
        path.write_bytes(f"From: a{i}@x.example\nTo: b@y.example\nMessage-ID: <drop{i}@x>\nSubject: {i}\n\nbody {i}\n".encode())
        files.append(path)
    dovecot_server.fill_folder(dovecot_account, "INBOX", files)
    source = ImapSource(
        dovecot_account.host, dovecot_account.port, dovecot_account.user, dovecot_account.password,
        security="plain", batch_size=4, timeout=10,
    )  # fmt: skip
    seen = []
    for n, message in enumerate(source.iter_messages("m")):
        seen.append(message)
        if n == 5:  # in the middle of the second batch of INBOX
            dovecot_server.doveadm("kick", dovecot_account.user)
    ids = [m.data.split(b"Message-ID: <")[1].split(b">")[0] for m in seen if isinstance(m, RawMessage)]
    assert sorted(ids) == sorted(f"drop{i}@x".encode() for i in range(12))
    assert "reconnecting (1 of 3)" in caplog.text  # the session really was dropped
    assert dovecot_account.password not in caplog.text


def test_reconnects_are_bounded(dovecot_server, dovecot_account):
    source = ImapSource(
        dovecot_account.host, dovecot_account.port, dovecot_account.user, dovecot_account.password,
        security="plain", batch_size=1, timeout=10, reconnects=0,
    )  # fmt: skip
    for i in range(3):
        dovecot_account.append("INBOX", f"From: a@x.example\nMessage-ID: <r{i}@x>\nSubject: s\n\nb\n".encode())
    messages = source.iter_messages("m")
    next(messages)
    dovecot_server.doveadm("kick", dovecot_account.user)
    with pytest.raises(ImapConnectionError):
        list(messages)
