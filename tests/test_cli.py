"""The `leadminer` command line: its options and outputs are a contract for other tools."""

from __future__ import annotations

import csv
import io
import json

from typer.testing import CliRunner

from leadminer_runner.demo import generate_demo_mailbox
from leadminer_runner.cli import app

runner = CliRunner()

REQUIRED_JSON_KEYS = {
    "email", "name", "given_name", "family_name", "occurrence", "sender", "recipient", "conversations",
    "replied_conversations", "first_seen", "last_seen", "tags", "status", "temperature",
}  # fmt: skip


def test_mine_then_export_every_format(tmp_path):
    info = generate_demo_mailbox(tmp_path / "box.mbox", seed=3, messages=150)
    db = tmp_path / "c.db"
    args = ["mine", str(info.path), "--db", str(db), "--quiet", "--json"]
    for identity in info.identities:
        args += ["--identity", identity]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["fetched"] == 150 and summary["persons"] > 10

    result = runner.invoke(app, ["export", "--db", str(db), "--format", "json"])
    contacts = json.loads(result.stdout)
    assert len(contacts) == summary["persons"]
    assert all(REQUIRED_JSON_KEYS <= set(c) for c in contacts)
    assert any("job_title" in c for c in contacts)
    assert not set(info.identities) & {c["email"] for c in contacts}

    out = tmp_path / "c.csv"
    assert runner.invoke(app, ["export", "--db", str(db), "--format", "csv", "-o", str(out)]).exit_code == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert len(rows) == len(contacts) and "E-mail Address" in rows[0]

    vcf = runner.invoke(app, ["export", "--db", str(db), "--format", "vcard"]).stdout
    assert vcf.count("BEGIN:VCARD") == len(contacts)

    again = json.loads(runner.invoke(app, args).stdout)
    assert again["extracted"] == 0 and again["already_mined"] > 0


def test_clear_errors_for_bad_sources_and_formats(tmp_path):
    result = runner.invoke(app, ["mine", str(tmp_path / "nope.mbox"), "--db", str(tmp_path / "x.db")])
    assert result.exit_code == 2 and "No such file or folder" in result.output
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01 not mail")
    result = runner.invoke(app, ["mine", str(junk), "--db", str(tmp_path / "x.db")])
    assert result.exit_code == 2 and "not a mail source" in result.output
    result = runner.invoke(app, ["export", "--db", str(tmp_path / "x.db"), "--format", "xml"])
    assert result.exit_code == 2 and "unknown format" in result.output


def test_signature_command_prints_export_field_names(tmp_path):
    eml = tmp_path / "m.eml"
    eml.write_bytes(
        "From: Jane Doe <jane.doe@acme.example>\r\nTo: me@x.example\r\nSubject: hi\r\n"
        "Message-ID: <s1@acme.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "Let's talk tomorrow.\r\n\r\nBest regards,\r\nJane Doe\r\nHead of Sales, Acme Inc.\r\n"
        "Mobile: +1 415 555 0132\r\nhttps://www.linkedin.com/in/janedoe\r\n".encode()
    )
    result = runner.invoke(app, ["signature", str(eml)])
    assert result.exit_code == 0, result.output
    fields = json.loads(result.stdout)
    assert fields["email"] == "jane.doe@acme.example"
    assert fields["telephone"] == ["+14155550132"]
    assert fields["same_as"] == ["https://www.linkedin.com/in/janedoe"]
    assert fields["job_title"] == "Head of Sales"


def test_demo_command_mines_its_generated_mailbox(tmp_path):
    result = runner.invoke(app, ["demo", "--db", str(tmp_path / "demo" / "demo.db"), "--messages", "120"])
    assert result.exit_code == 0, result.output
    assert "Top contacts" in result.output and "messages mined" in result.output
    contacts = json.loads(runner.invoke(app, ["export", "--db", str(tmp_path / "demo" / "demo.db")]).stdout)
    assert any("newsletter" in c["tags"] for c in contacts) and any(c.get("job_title") for c in contacts)


def test_token_mints_a_token_the_api_accepts_for_that_user(monkeypatch):
    from leadminer_api.auth import user_from_token

    monkeypatch.setenv("SUPABASE_JWT_SECRET", "a-secret-of-at-least-32-bytes-for-hs256!")
    result = runner.invoke(app, ["token", "--user", "ann", "--hours", "0.5"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert user_from_token(f"Bearer {token}", "a-secret-of-at-least-32-bytes-for-hs256!") == "ann"
    monkeypatch.delenv("SUPABASE_JWT_SECRET")
    missing = runner.invoke(app, ["token", "--user", "ann"])
    assert missing.exit_code == 2 and "SUPABASE_JWT_SECRET" in missing.output
