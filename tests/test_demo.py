"""The seeded demo mailbox: reproducible bytes, a valid mbox, and facts that
agree with the messages (threads, categories, signatures, identities, breakage)."""

from __future__ import annotations

import email
import mailbox
import os
import re
import subprocess
import sys
from email import policy
from email.header import decode_header, make_header
from email.utils import getaddresses, parsedate_to_datetime

import pytest

from leadminer_runner import demo
from leadminer_runner.demo import MALFORMED_KINDS, generate_demo_mailbox


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo") / "demo.mbox"
    info = generate_demo_mailbox(path)
    box = mailbox.mbox(path, create=False)
    raws = [box.get_bytes(key) for key in box.keys()]
    box.close()
    return info, raws


@pytest.fixture(scope="module")
def parsed(generated):
    _, raws = generated
    return [email.message_from_bytes(raw, policy=policy.compat32) for raw in raws]


def decoded(value) -> str:
    return str(make_header(decode_header(str(value)))) if value is not None else ""


def body_text(raw: bytes) -> str:
    """All text parts, decoded (unknown charsets read as UTF-8)."""
    message = email.message_from_bytes(raw, policy=policy.default)
    texts = []
    for part in message.walk():
        if part.get_content_maintype() != "text":
            continue
        try:
            texts.append(part.get_content())
        except (LookupError, UnicodeError):
            texts.append((part.get_payload(decode=True) or b"").decode("utf-8", "replace"))
    return "\n".join(texts)


def sender(message) -> str:
    """From address as DemoInfo writes it: lower case, IDN domain as U-label."""
    value = str(message.get("From", "")).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    local, _, domain = getaddresses([value])[0][1].lower().rpartition("@")
    return f"{local}@{domain.encode().decode('idna')}" if "xn--" in domain else f"{local}@{domain}"


def ids(value) -> list[str]:
    return re.findall(r"<([^>]+)>", str(value or ""))


# --------------------------------------------------------------------------- #


def test_same_seed_gives_identical_bytes_even_in_another_process(tmp_path, generated):
    info, _ = generated
    again = tmp_path / "again.mbox"
    generate_demo_mailbox(again)
    assert again.read_bytes() == info.path.read_bytes()
    cli = tmp_path / "cli.mbox"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run([sys.executable, "-m", "leadminer_runner.demo", str(cli), "--facts", str(tmp_path / "f.json")],
                          env=env, capture_output=True, text=True, check=True)  # fmt: skip
    assert "wrote 400 messages" in done.stdout
    assert cli.read_bytes() == info.path.read_bytes()
    other = tmp_path / "other.mbox"
    generate_demo_mailbox(other, seed=8)
    assert other.read_bytes() != info.path.read_bytes()


def test_mbox_holds_the_requested_count_in_order(generated, parsed):
    info, raws = generated
    assert info.messages == 400 == len(raws) == len(info.message_ids) == len(info.kinds)
    for message, expected in zip(parsed, info.message_ids):
        found = ids(message.get("Message-ID"))
        assert (found[0] if found else None) == expected
    present = [i for i in info.message_ids if i]
    assert len(present) == len(set(present)), "Message-IDs are unique"
    for i, raw in enumerate(raws):
        assert not re.search(rb"(?m)^From ", raw.split(b"\n\n", 1)[1]), f"unescaped From_ line in message {i}"
    assert sum(b"\n>From the editor" in raw for raw in raws) > 10, "body lines starting 'From ' are escaped"


def test_threads_are_consistent_and_go_both_ways(generated, parsed):
    info, _ = generated
    known = set(filter(None, info.message_ids))
    position = {mid: i for i, mid in enumerate(info.message_ids) if mid}
    user_replies = contact_replies = 0
    for i, message in enumerate(parsed):
        parent = ids(message.get("In-Reply-To"))
        if not parent:
            continue
        assert parent[0] in known, f"message {i} replies to a missing message"
        assert position[parent[0]] < i, "a reply comes after its parent"
        assert ids(message.get("References"))[-1] == parent[0]
        assert info.replies[info.message_ids[i]] == parent[0]
        assert re.match(r"(?i)(re|aw|sv) ?:", decoded(message["Subject"]))
        parent_from = sender(parsed[position[parent[0]]])
        if sender(message) in info.identities and parent_from not in info.identities:
            user_replies += 1
        if sender(message) not in info.identities and parent_from in info.identities:
            contact_replies += 1
    assert user_replies > 20 and contact_replies > 20
    assert set(info.replies) <= known and set(info.replies.values()) <= known
    assert set(info.colleagues[:3]) <= set(info.replied)


def test_categories_carry_their_headers(generated, parsed):
    info, _ = generated
    by_kind = {}
    for kind, message in zip(info.kinds, parsed):
        by_kind.setdefault(kind, []).append(message)
    esp = ("X-MC-User", "X-SG-EID", "X-Mailgun-Sid", "X-Mailin-EID", "X-SES-Outgoing")
    for message in by_kind["newsletter"]:
        assert message["List-Unsubscribe"] and message["List-Id"] and message["Precedence"] == "bulk"
        assert sender(message) in info.newsletters
    assert {h for m in by_kind["newsletter"] for h in esp if m[h]} == set(esp)
    for message in by_kind["transactional"]:
        assert message["Auto-Submitted"] == "auto-generated"
        assert re.match(r"(no-?reply|do-not-reply)@", sender(message))
    list_posts = [m for m in by_kind["list"] if sender(m) not in info.identities]
    for message in list_posts:
        assert message["List-Post"] == "<mailto:quillmate-dev@lists.quillmate.org>"
        assert message["Precedence"] == "list" and "quillmate-dev" in message["List-Id"]
    assert set(info.list_posters) == {sender(m) for m in list_posts} and len(info.list_posters) >= 4
    assert all(sender(m).endswith("linkedin.com") for m in by_kind["social"])
    assert {sender(m) for m in by_kind["role"]} <= set(info.roles) | set(info.identities)
    assert [sender(m) for m in by_kind["disposable"] if sender(m) not in info.identities] == info.disposable
    assert info.disposable[0].endswith("@mailinator.com")
    assert set(info.kinds) == {"colleague", "personal", "newsletter", "transactional", "social", "list", "role",
                               "disposable", "malformed"}  # fmt: skip


def test_expected_signatures_are_in_the_senders_messages(generated, parsed):
    info, raws = generated
    assert len(info.signatures) >= 10
    for address, signature in info.signatures.items():
        bodies = [body_text(raw) for raw, m in zip(raws, parsed) if sender(m) == address]
        assert bodies, address
        own = [b.split("\n> ")[0].split("-----Original Message-----")[0] for b in bodies]
        joined = "\n".join(own)
        for value in (signature.name, signature.job_title, signature.organization, signature.url, signature.address):
            if value:
                shown = value.removeprefix("https://").removeprefix("www.")
                assert shown in joined, f"{address}: {value!r} not in own text"
        digits = re.sub(r"\D", "", joined)
        for number in signature.telephone + signature.fax:
            assert number[-8:] in digits, f"{address}: {number} not written"


def test_quoted_replies_carry_other_peoples_signatures(generated, parsed):
    info, raws = generated
    titles = {a: s.job_title for a, s in info.signatures.items() if s.job_title}
    found = 0
    for raw, message in zip(raws, parsed):
        text = body_text(raw)
        quoted = "\n".join(line for line in text.split("\n") if line.startswith(">"))
        quoted += text.partition("-----Original Message-----")[2]
        me = sender(message)
        found += any(title in quoted for a, title in titles.items() if a != me)
    assert found > 30


def test_signature_phones_parse_to_the_expected_e164():
    phonenumbers = pytest.importorskip("phonenumbers")
    region = {"fr": "FR", "de": "DE", "uk": "GB", "us": "US"}
    for contact in demo.COLLEAGUES + demo.INTERNAL:
        company = demo.COMPANIES.get(contact.company)
        for phone in contact.phones:
            number = phonenumbers.parse(phone.written, region[company.locale if company else "us"])
            assert phonenumbers.is_valid_number(number), phone
            assert phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) == phone.e164


def test_names_and_encodings(generated, parsed):
    info, raws = generated
    raw_from = {sender(m): str(m["From"]) for m in parsed if m["From"]}
    for address in ("elodie.brunet@gmail.com", "juergen.weiss@yahoo.de", "li.jing.88@gmail.com"):
        assert "=?" in raw_from[address], "non-ASCII names are RFC 2047-encoded"
        name = email.message_from_bytes(next(r for r, m in zip(raws, parsed) if sender(m) == address),
                                        policy=policy.default)["From"].addresses[0].display_name  # fmt: skip
        assert name == info.names[address]
    encodings = {str(m.get("Content-Transfer-Encoding", "")).lower() for m in parsed}
    encodings |= {str(p.get("Content-Transfer-Encoding", "")).lower() for m in parsed for p in m.walk()}
    assert {"quoted-printable", "base64", "8bit", "7bit"} <= encodings
    types = {m.get_content_type() for m in parsed}
    assert {"text/plain", "text/html", "multipart/alternative", "multipart/mixed"} <= types


def test_identities_alias_plus_and_idn(generated, parsed):
    info, raws = generated
    assert info.identities == ["alex.martin@example.com", "alex@example.org"]
    user_plus = [a for a in info.plus_tagged if a.startswith("alex.martin+")]
    delivered = {str(v).lower() for m in parsed for v in m.get_all("Delivered-To", []) + m.get_all("X-Original-To", [])}
    assert delivered <= set(info.identities) | set(user_plus)
    assert "alex@example.org" in delivered and user_plus[0] in delivered
    own = [m for m in parsed if sender(m) in info.identities]
    assert own and not any(m["Delivered-To"] for m in own), "sent mail has no delivery trace"
    assert {sender(m) for m in own} == set(info.identities)
    assert any("+" in a and not a.startswith("alex.martin") for a in info.plus_tagged)
    assert info.idn == ["tobias@zahnrad-müller.de"]
    from_lines = b"\n".join(re.findall(rb"(?m)^From: .*", b"\n".join(raws)))
    assert b"tobias@xn--zahnrad-mller-4ob.de" in from_lines and "tobias@zahnrad-müller.de".encode() in from_lines


def test_malformed_messages_are_broken_as_recorded(generated, parsed):
    info, raws = generated
    assert len(info.malformed) == 12 and set(info.malformed.values()) == set(MALFORMED_KINDS)
    assert all(info.kinds[i] == "malformed" for i in info.malformed)
    for index, kind in info.malformed.items():
        raw, message = raws[index], parsed[index]
        head = raw.split(b"\n\n", 1)[0]
        if kind == "missing-message-id":
            assert message["Message-ID"] is None and info.message_ids[index] is None
        elif kind == "bad-date":
            with pytest.raises((TypeError, ValueError)):
                parsedate_to_datetime(message["Date"])
        elif kind == "header-without-colon":
            assert any(type(d).__name__ == "MissingHeaderBodySeparatorDefect" for d in message.defects)
        elif kind == "truncated-multipart":
            boundary = message.get_boundary()
            assert f"--{boundary}--".encode() not in raw
        elif kind == "raw-8bit-header":
            with pytest.raises(UnicodeDecodeError):
                head.decode("utf-8")
        elif kind == "unterminated-address":
            assert re.search(rb"(?m)^From: [^\n]*<[^>\n]*$", head)
        elif kind == "broken-encoded-word":
            assert b"=?utf-8?Q?Ren=C3=A9e_Lambert <" in head
        elif kind == "unknown-charset":
            assert message.get_content_charset() == "x-mac-klingon"
    healthy = [m for i, m in enumerate(parsed) if i not in info.malformed]
    assert all(m["Message-ID"] and parsedate_to_datetime(m["Date"]) for m in healthy)


def test_small_mailbox_and_other_user(tmp_path):
    info = generate_demo_mailbox(tmp_path / "small.mbox", messages=50, user="Kim.Lee@acme.test", alias="kim@lee.test")
    assert info.identities == ["kim.lee@acme.test", "kim@lee.test"]
    assert len(mailbox.mbox(info.path)) == 50
    assert set(info.kinds) >= {"colleague", "personal", "newsletter", "transactional", "social", "list", "role",
                               "disposable", "malformed"}  # fmt: skip
    assert info.internal == ["sam.okafor@acme.test", "julia.brandt@acme.test"]
    assert info.user_signature.name == "Kim Lee"


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="at least 50"):
        generate_demo_mailbox(tmp_path / "x.mbox", messages=10)
    with pytest.raises(ValueError, match="email addresses"):
        generate_demo_mailbox(tmp_path / "x.mbox", user="nobody")
    assert not (tmp_path / "x.mbox").exists()
    assert demo.main([str(tmp_path / "y.mbox"), "--messages", "3"]) == 2


def test_benchmark_generate_400_messages(benchmark, tmp_path):
    info = benchmark(generate_demo_mailbox, tmp_path / "bench.mbox")
    assert info.messages == 400


def test_the_core_does_not_ship_the_demo_generator():
    """The generator lives with the runner: the core every Worker uploads has no copy and no import of it."""
    import importlib.util
    from pathlib import Path

    import leadminer

    assert importlib.util.find_spec("leadminer.demo") is None
    runner_import = re.compile(r"^\s*(?:from|import)\s+leadminer_runner\b", re.M)
    for path in Path(leadminer.__file__).parent.rglob("*.py"):
        assert not runner_import.search(path.read_text(encoding="utf-8")), path
