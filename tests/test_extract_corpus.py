"""Every corpus message through extract_message, and its addresses compared with
the stdlib's (``email.utils.getaddresses`` on the compat32 message) on every
message, each difference put in an explained category.

docs/extract.md has the figures and the explanation table.
"""

from __future__ import annotations

import email
import email.utils
import re
from collections import Counter
from dataclasses import dataclass, field

import pytest

from corpora import corpus_dir
from leadminer.contracts import Field, RawMessage
from leadminer.extract import ExtractError, extract_message
from leadminer.headers import normalise_email

pytestmark = pytest.mark.corpus

CORPORA = ["spamassassin", "lkml", "malformed", "newsletters", "notmuch-threading", "quagga-enron-train"]
COMPARED_HEADERS = {
    "from": Field.FROM,
    "to": Field.TO,
    "cc": Field.CC,
    "bcc": Field.BCC,
    "reply-to": Field.REPLY_TO,
    "sender": Field.SENDER,
}

# Categories of (field, address) pairs only one side found. "junk" ones are not
# addresses of anyone and do not count for recall; "same mailbox" ones are one
# address written two ways and count as found by both.
STDLIB_JUNK_EMPTY_LOCAL = "stdlib junk: empty local part (stdlib keeps '@domain')"
STDLIB_JUNK_NAME_AS_ADDRESS = "stdlib junk: a display name that looks like an address (the mailbox is in <>)"
STDLIB_JUNK_PATH = "stdlib junk: a path or group before ':' inside <> (stdlib drops it as a route)"
STDLIB_JUNK_REJECTED = "stdlib junk: rejected by normalise_email"
SAME_MAILBOX_8BIT = "same mailbox: raw 8-bit header bytes (stdlib U+FFFD, leadminer windows-1252)"
SAME_MAILBOX_IDN = "same mailbox: IDN domain (stdlib A-label, leadminer U-label)"
OURS_ENCODED_WORD = "leadminer only: address hidden in an RFC 2047 encoded word"
OURS_MISSING_COMMA = "leadminer only: addresses not separated by a comma"
JUNK_CATEGORIES = {STDLIB_JUNK_EMPTY_LOCAL, STDLIB_JUNK_NAME_AS_ADDRESS, STDLIB_JUNK_PATH, STDLIB_JUNK_REJECTED}
UNEXPLAINED = "unexplained"


def corpus_files(name: str) -> list:
    folder = corpus_dir(name)
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.endswith(".ann"))


def stdlib_addresses(message: email.message.Message) -> tuple[set[tuple[str, str]], dict[str, str]]:
    """(field, lower-cased address) pairs the stdlib finds, and each field's raw text (lower case)."""
    found = set()
    raw_text = {}
    for header, field_ in COMPARED_HEADERS.items():
        values = [str(value) for value in message.get_all(header, [])]
        raw_text[field_.value] = "\n".join(values).lower()
        for _name, address in email.utils.getaddresses(values):
            address = address.strip().lower()
            if "@" in address:
                found.add((field_.value, address))
    return found, raw_text


def _local_domain(address: str) -> tuple[str, str]:
    local, _, domain = address.rpartition("@")
    return local, domain


def classify_stdlib_only(pair: tuple[str, str], ours: set[tuple[str, str]], raw_text: dict[str, str]) -> str:
    field_, address = pair
    local, domain = _local_domain(address)
    text = raw_text.get(field_, "")
    if not local:
        return STDLIB_JUNK_EMPTY_LOCAL
    if not address.isascii() and any(
        f == field_ and not a.isascii() and _local_domain(a)[1] == domain for f, a in ours
    ):
        return SAME_MAILBOX_8BIT
    if re.search(re.escape(address) + r"[\"']?\s*<[^>]*@", text):
        return STDLIB_JUNK_NAME_AS_ADDRESS
    if re.search(r"<[^<>@]*:\s*" + re.escape(address), text):
        return STDLIB_JUNK_PATH
    if "xn--" in domain:
        email_u, _ = normalise_email(address)
        if (field_, email_u) in ours:
            return SAME_MAILBOX_IDN
    if normalise_email(address)[0] is None:
        return STDLIB_JUNK_REJECTED
    return UNEXPLAINED


def classify_ours_only(pair: tuple[str, str], stdlib: set[tuple[str, str]], raw_text: dict[str, str]) -> str:
    field_, address = pair
    _local, domain = _local_domain(address)
    text = raw_text.get(field_, "")
    if not address.isascii() and any(
        f == field_ and not a.isascii() and _local_domain(a)[1] == domain for f, a in stdlib
    ):
        return SAME_MAILBOX_8BIT
    if not domain.isascii() and any(f == field_ and "xn--" in a for f, a in stdlib):
        return SAME_MAILBOX_IDN
    if "=?" in text and address not in text:
        return OURS_ENCODED_WORD
    if re.search(r"@[^\s,<>]+\s+[^\s,<>]*" + re.escape(address), text) or re.search(
        re.escape(address) + r"\s+[^\s,<>(]+@", text
    ):
        return OURS_MISSING_COMMA
    return UNEXPLAINED


@dataclass
class CorpusReport:
    messages: int = 0
    refused: Counter = field(default_factory=Counter)  # ExtractError reason → count
    ours: int = 0
    stdlib: int = 0
    both: int = 0
    categories: Counter = field(default_factory=Counter)
    unexplained: list = field(default_factory=list)

    def count(self, predicate) -> int:
        return sum(n for category, n in self.categories.items() if predicate(category))

    @property
    def valid(self) -> int:
        """Distinct real mailboxes found by either side: the union less the stdlib's
        junk, a mailbox written two ways counted once."""
        junk = self.count(JUNK_CATEGORIES.__contains__)
        same_twice = self.count(lambda c: c.startswith("same mailbox")) // 2
        return self.ours + self.stdlib - self.both - junk - same_twice

    def recall(self, side: str) -> float:
        """Share of the valid mailboxes that one side found."""
        found = self.ours if side == "ours" else self.stdlib - self.count(JUNK_CATEGORIES.__contains__)
        return found / self.valid if self.valid else 1.0


def mine_corpus(name: str) -> CorpusReport:
    report = CorpusReport()
    for path in corpus_files(name):
        data = path.read_bytes()
        report.messages += 1
        try:
            record = extract_message(RawMessage("corpus", name, str(path), data))
        except ExtractError as error:
            assert error.reason, f"{path}: ExtractError without a reason"
            report.refused[error.reason] += 1
            ours: set[tuple[str, str]] = set()
        else:
            compared = set(COMPARED_HEADERS.values())
            ours = {(p.field.value, p.email) for p in record.points if p.field in compared}
        stdlib, raw_text = stdlib_addresses(email.message_from_bytes(data))
        both = ours & stdlib
        report.ours += len(ours)
        report.stdlib += len(stdlib)
        report.both += len(both)
        for pair in stdlib - both:
            category = classify_stdlib_only(pair, ours, raw_text)
            report.categories[category] += 1
            if category == UNEXPLAINED:
                report.unexplained.append((str(path), "stdlib only", pair))
        for pair in ours - both:
            category = classify_ours_only(pair, stdlib, raw_text)
            report.categories[category] += 1
            if category == UNEXPLAINED:
                report.unexplained.append((str(path), "leadminer only", pair))
    return report


@pytest.fixture(scope="module", params=CORPORA)
def corpus_report(request) -> tuple[str, CorpusReport]:
    return request.param, mine_corpus(request.param)


def test_every_message_is_mined_or_refused_with_a_reason(corpus_report):
    name, report = corpus_report
    assert report.messages > 0
    allowed = {"malformed": {"empty message"}}.get(name, set())
    assert set(report.refused) <= allowed, f"{name}: unexpected refusals {dict(report.refused)}"


def test_addresses_match_the_stdlib_or_the_difference_is_explained(corpus_report):
    name, report = corpus_report
    print(f"\n{name}: {report.messages} messages, refused {dict(report.refused)}")
    print(f"  pairs leadminer {report.ours}, stdlib {report.stdlib}, both {report.both}")
    for category, count in sorted(report.categories.items()):
        print(f"  {count:5d}  {category}")
    print(f"  recall leadminer {report.recall('ours'):.4f}, stdlib {report.recall('stdlib'):.4f}")
    assert report.unexplained == []
    assert report.recall("ours") >= report.recall("stdlib")
    assert report.recall("ours") >= 0.999
