"""Outlook data files (``runner/leadminer_runner/pst.py``): a real Outlook 2003 .pst from the
corpora, and the conversion of items with and without transport headers."""

from __future__ import annotations

import json
from datetime import datetime
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from corpora import CORPORA_SOURCE
from leadminer.contracts import RawMessage
from leadminer.extract import extract_message
from leadminer_runner.cli import app
from leadminer_runner.pst import to_rfc822

PST = CORPORA_SOURCE / "outlook.pst"


def item(transport: str = "", body: bytes = b"Hello there\r\n") -> SimpleNamespace:
    """A stand-in for a pypff message (no MAPI properties): the attributes to_rfc822 reads."""
    return SimpleNamespace(
        transport_headers=transport, plain_text_body=body, subject="Plans",
        client_submit_time=datetime(2024, 3, 1, 9, 30), delivery_time=None, identifier=42,
        recipients=None, number_of_record_sets=0,
    )  # fmt: skip


def test_transport_headers_are_kept_and_the_body_is_plain_text():
    headers = (
        "From: Ann Lee <ann@acme.example>\r\nTo: bob@acme.example\r\nMessage-ID: <x1@acme.example>\r\n"
        "Content-Type: multipart/alternative; boundary=zz\r\nSubject: Plans"
    )
    record = extract_message(RawMessage("m", "Inbox", "1", to_rfc822(item(headers))))
    assert record.message_id == "x1@acme.example" and record.sender.email == "ann@acme.example"
    assert {p.email for p in record.points} == {"ann@acme.example", "bob@acme.example"}
    assert "Hello there" in record.body


def test_an_item_without_transport_headers_gets_a_stable_message_id_and_its_date():
    data = to_rfc822(item())
    record = extract_message(RawMessage("m", "Inbox", "1", data))
    assert record.message_id == "pst-42@leadminer.invalid" and record.date.startswith("2024-03-01T09:30")
    assert to_rfc822(item()) == data  # the same item, the same bytes: re-mining recognises it


@pytest.mark.corpus
def test_a_real_outlook_file_is_mined_and_recognised_again(tmp_path):
    if not PST.exists():
        pytest.skip(f"{PST} is absent (../shared/corpora)")
    db = tmp_path / "p.db"
    first = CliRunner().invoke(app, ["mine", str(PST), "--db", str(db), "--quiet", "--json"])
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert summary["fetched"] == 2 and summary["extracted"] == 2 and summary["failed"] == 0
    contacts = json.loads(CliRunner().invoke(app, ["export", "--db", str(db)]).stdout)
    assert [(c["email"], c["name"]) for c in contacts] == [("olteam@microsoft.com", "Outlook 2003 Team")]
    again = json.loads(CliRunner().invoke(app, ["mine", str(PST), "--db", str(db), "--quiet", "--json"]).stdout)
    assert again["already_mined"] == 2 and again["extracted"] == 0
