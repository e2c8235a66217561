"""Pure batch functions of the pipeline and the in-process queue."""

from __future__ import annotations

import pytest

from leadminer import pipeline
from leadminer.contracts import Field, RawMessage, Signature

LIST_MAIL = (
    b"From: Ann Poster <ann@example.org>\r\n"
    b"To: linux-kernel@vger.kernel.org\r\n"
    b"Cc: Bob <bob@example.net>\r\n"
    b"List-ID: <linux-kernel.vger.kernel.org>\r\n"
    b"Precedence: bulk\r\n"
    b"Message-ID: <1@example.org>\r\n"
    b"Subject: [PATCH] x\r\n\r\nbody\r\n"
)


def raw(data: bytes, uid: str = "1") -> RawMessage:
    return RawMessage("m", "INBOX", uid, data)


def test_list_id_names_the_list_address_among_recipients():
    (record,), failures = pipeline.extract_batch([raw(LIST_MAIL)])
    assert failures == []
    lists = [p.email for p in record.points if p.field is Field.LIST_POST]
    assert lists == ["linux-kernel@vger.kernel.org"]  # the list, not Bob, not Ann


def test_unparseable_and_crashing_messages_become_failures_with_reasons(monkeypatch):
    records, failures = pipeline.extract_batch([raw(b"", "empty"), raw(LIST_MAIL, "ok")])
    assert [r.uid for r in records] == ["ok"]
    assert failures[0].uid == "empty" and failures[0].reason

    def explode(_raw, body_cap):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(pipeline, "extract_message", explode)
    records, failures = pipeline.extract_batch([raw(LIST_MAIL)])
    assert records == [] and failures[0].reason == "internal error ZeroDivisionError: boom"


def test_merge_signatures_newest_field_wins_and_gaps_are_filled():
    newest = Signature("a@x", "3", job_title="CTO")
    older = Signature("a@x", "2", job_title="Engineer", telephone=["+15555550100"])
    merged = pipeline.merge_signatures([newest, older])
    assert (merged.message_id, merged.job_title, merged.telephone) == ("3", "CTO", ["+15555550100"])


def test_recent_by_sender_keeps_the_newest_messages_with_a_body():
    mails = [
        LIST_MAIL.replace(b"<1@", f"<{i}@".encode()).replace(b"Subject", f"Date: Mon, {i} Jan 2024 10:00:00 +0000\r\nSubject".encode())
        for i in range(1, 6)
    ]
    records, _ = pipeline.extract_batch([raw(m, str(i)) for i, m in enumerate(mails)])
    recent = pipeline.recent_by_sender(records, per_sender=2)
    assert [r.message_id for r in recent["ann@example.org"]] == ["5@example.org", "4@example.org"]


def test_infer_aliases_takes_the_final_delivery_address_never_a_list():
    def mail(i: int, delivered: bytes) -> bytes:
        return LIST_MAIL.replace(b"<1@", f"<{i}@".encode()).replace(b"From:", delivered + b"From:")

    mails = [mail(i, b"Delivered-To: me@home.example\r\nDelivered-To: fwd@relay.example\r\n") for i in range(30)]
    mails += [mail(100 + i, b"Delivered-To: linux-kernel@vger.kernel.org\r\n") for i in range(40)]  # the list's own hop
    mails.append(mail(200, b"Delivered-To: rare@else.example\r\n"))
    records, _ = pipeline.extract_batch([raw(m, str(i)) for i, m in enumerate(mails)])
    assert pipeline.infer_aliases(records) == {"me@home.example"}




@pytest.mark.parametrize("list_id", ["", "no brackets here", "<>"])
def test_list_addresses_ignores_odd_list_ids(list_id):
    data = LIST_MAIL.replace(b"<linux-kernel.vger.kernel.org>", list_id.encode())
    (record,), _ = pipeline.extract_batch([raw(data)])
    assert not [p for p in record.points if p.field is Field.LIST_POST]


def test_signatures_are_read_from_personal_mail_only():
    newsletter = (
        b"From: Acme News <news@acme.example>\r\nTo: me@x.example\r\nMessage-ID: <n1@acme.example>\r\n"
        b"List-Unsubscribe: <https://acme.example/u>\r\nPrecedence: bulk\r\nSubject: Weekly\r\n\r\n"
        b"Big sale!\r\n\r\nBest regards,\r\nAcme News\r\nHead of Marketing, Acme Inc.\r\nPhone: +1 415 555 0100\r\n"
    )
    records, _ = pipeline.extract_batch([raw(newsletter)])
    assert "newsletter" in records[0].tags
    assert pipeline.recent_by_sender(records) == {}
