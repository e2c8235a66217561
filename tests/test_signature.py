"""Unit tests of the signature stage: quotes, delimiters, phones, links,
attribution and the optional LLM extractor (against a real local HTTP server)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from leadminer.contracts import Signature
from leadminer.signature import (
    LlmError,
    LlmSignatureExtractor,
    clean_name,
    extract_signature,
    find_signature_lines,
    region_for,
    split_lines,
    strip_quoted,
)

ALICE = {"sender_email": "alice.martin@acme.com", "sender_name": "Alice Martin"}
ALICE_SIG = (
    "Alice Martin\n"
    "Head of Sales, Acme Corp.\n"
    "Phone: +1 (415) 555-0134\n"
    "Fax: +1 (415) 555-0199\n"
    "Mobile: (415) 555-0177\n"
    "https://www.acme.com | https://www.linkedin.com/in/alicemartin | https://github.com/alicem"
)
BOB_SIG = "Bob Stone\nVP Engineering, Other Corp\nTel: +1 212 555 0188\nbob.stone@other.com"


def quoted(text: str) -> str:
    return "\n".join("> " + line for line in text.splitlines())


# --- quoted replies and forwards ------------------------------------------------

ATTRIBUTIONS = [
    "On Mon, Jan 3, 2022 at 10:00 AM Bob Stone <bob.stone@other.com> wrote:",
    "On Mon, Jan 3, 2022 at 10:00 AM Bob Stone <\nbob.stone@other.com> wrote:",
    "Le lun. 3 janv. 2022 à 10:00, Bob Stone <bob.stone@other.com> a écrit :",
    "Am 03.01.2022 um 10:00 schrieb Bob Stone <bob.stone@other.com>:",
    "El lun, 3 ene 2022 a las 10:00, Bob Stone (<bob.stone@other.com>) escribió:",
    "Il giorno lun 3 gen 2022 alle ore 10:00 Bob Stone <bob.stone@other.com> ha scritto:",
    "Op ma 3 jan. 2022 om 10:00 schreef Bob Stone <bob.stone@other.com>:",
    "Bob Stone <bob.stone@other.com> wrote:",
]


@pytest.mark.parametrize("attribution", ATTRIBUTIONS)
def test_reply_attribution_ends_the_sender_zone(attribution: str) -> None:
    thread = quoted("Can we meet?\n" + BOB_SIG)
    body = f"Sounds good.\n\nBest regards,\n{ALICE_SIG}\n\n{attribution}\n{thread}\n"
    assert strip_quoted(body).endswith("https://github.com/alicem")
    sig = extract_signature(body, **ALICE)
    assert sig is not None
    assert sig.telephone == ["+14155550134", "+14155550177"]  # never Bob's +1 212 …
    assert "bob.stone@other.com" not in sig.emails


HEADER_BLOCKS = [
    "-----Original Message-----\nFrom: Bob Stone [mailto:bob.stone@other.com]\n"
    "Sent: Monday, January 03, 2022 10:00 AM\nTo: Alice\nSubject: x",
    "From: Bob Stone <bob.stone@other.com>\nSent: Monday, January 3, 2022 10:00 AM\nTo: Alice Martin\nSubject: Hi",
    "De : Bob Stone <bob.stone@other.com>\nEnvoyé : lundi 3 janvier 2022 10:00\nÀ : Alice\nObjet : test",
    "Von: Bob Stone <bob.stone@other.com>\nGesendet: Montag, 3. Januar 2022 10:00\nAn: Alice\nBetreff: test",
    "---------- Forwarded message ---------\nFrom: Bob Stone <bob.stone@other.com>\n"
    "Date: Mon, Jan 3, 2022\nSubject: Hi",
    "Begin forwarded message:\n\nFrom: Bob Stone <bob.stone@other.com>",
    "-------- Message transféré --------\nSujet : x",
    "----- Forwarded by Alice Martin/HOU/ECT on 05/24/2001 03:42 PM -----",
    "\tBob Stone\n\t05/24/2001 10:00 AM\n\t\t\n\t\t To: Alice Martin/HOU/ECT@ECT\n\t\t cc: \n\t\t Subject: x",
    "Bob Stone@ENRON\n04/16/2001 09:06 AM\nTo: Alice Martin/HOU/ECT@ECT\ncc:\nSubject: Re: x",
    "\"Stone, Bob\" <bob.stone@other.com> on 11/16/2000 10:14:55 AM\nTo: <alice.martin@acme.com>\ncc:\nSubject: x",
    "____________________Reply Separator____________________\nSubject:    x\nAuthor: Bob Stone",
    ">>> <bob.stone@other.com> 2/16/01 10:41:43 am >>>",
]


@pytest.mark.parametrize("header", HEADER_BLOCKS)
def test_forwarded_signature_never_lands_on_the_sender(header: str) -> None:
    body = f"FYI, see below.\n\n{header}\n\nHello Alice,\nthe figures are attached.\n\n{BOB_SIG}\n"
    assert strip_quoted(body) == "FYI, see below."
    assert extract_signature(body, **ALICE) is None


def test_own_signature_above_a_forwarded_block_is_kept() -> None:
    body = f"Please handle.\n\n{ALICE_SIG}\n\n{HEADER_BLOCKS[0]}\n\n{BOB_SIG}\n"
    sig = extract_signature(body, **ALICE)
    assert sig is not None and sig.name == "Alice Martin"
    assert "+12125550188" not in sig.telephone


def test_signature_of_someone_else_in_the_top_zone_is_refused() -> None:
    """A pasted/forwarded block without a header still names someone else."""
    body = f"Please review the note below.\n\n{BOB_SIG}\n"
    found = find_signature_lines(body, **{"sender_email": ALICE["sender_email"], "sender_name": "Alice Martin"})
    assert found.block is not None  # it is a signature block …
    assert extract_signature(body, **ALICE) is None  # … but not Alice's
    assert extract_signature(body, sender_email="bob.stone@other.com", sender_name="Bob Stone") is not None


def test_quoted_lines_are_dropped_but_inline_reply_signature_found() -> None:
    body = f"> Can we meet?\n\nYes, Monday.\n\n> And the room?\n\nRoom 4.\n\n{ALICE_SIG}\n"
    assert ">" not in strip_quoted(body)
    sig = extract_signature(body, **ALICE)
    assert sig is not None and sig.job_title == "Head of Sales"


# --- delimiters and block detection ---------------------------------------------


@pytest.mark.parametrize("delimiter", ["-- ", "--", "__"])
def test_delimiter_opens_the_block(delimiter: str) -> None:
    body = f"Patch attached.\n\n{delimiter}\nAlice Martin | Acme Corp | +1 415 555 0134\n"
    found = find_signature_lines(body, ALICE["sender_email"], ALICE["sender_name"])
    assert found.block == (2, 4)
    sig = extract_signature(body, **ALICE)
    assert sig is not None
    assert (sig.name, sig.organization, sig.telephone) == ("Alice Martin", "Acme Corp", ["+14155550134"])


def test_sign_off_is_the_closing_not_the_block() -> None:
    body = "Thanks for the update.\n\nBest regards,\n\nAlice Martin\nAcme Corp\n+1 415 555 0134\n"
    found = find_signature_lines(body, ALICE["sender_email"], ALICE["sender_name"])
    lines = split_lines(body)
    assert [lines[i] for i in range(*found.block)] == ["Alice Martin", "Acme Corp", "+1 415 555 0134"]
    assert lines[found.closing[0]] == "Best regards,"
    assert found.line_numbers(include_closing=True) == {2, 4, 5, 6}


def test_lines_are_relative_to_the_cleaned_text() -> None:
    body = f"> old text\n> more\n\nNew text.\n\n{ALICE_SIG}\n"
    sig = extract_signature(body, **ALICE)
    cleaned = strip_quoted(body).split("\n")
    assert sig is not None and sig.lines is not None
    assert cleaned[sig.lines[0]] == "Alice Martin"
    assert cleaned[sig.lines[1] - 1].startswith("https://www.acme.com")


def test_no_signature_in_plain_text_or_bare_sign_off() -> None:
    assert extract_signature("Thanks\n\nBob\n", sender_email="bob@x.com", sender_name="Bob") is None
    assert extract_signature("", sender_email="bob@x.com") is None
    body = "The meeting moved to 10:30am on 03/15/2021.\nCall 713-853-1861 if you cannot make it.\n"
    assert extract_signature(body, sender_email="bob@x.com", sender_name="Bob") is None


def test_phone_directory_is_not_a_signature() -> None:
    rows = "\n".join(f"Desk {n}\t\t(713) 853-55{n:02d}" for n in range(10, 17))
    body = f"Numbers for the weekend:\n\n{rows}\n"
    assert find_signature_lines(body, "desk@acme.com", "Help Desk").block is None


def test_multilingual_sign_offs_and_titles() -> None:
    body = (
        "Hallo,\n\nanbei die Unterlagen.\n\nMit freundlichen Grüßen\n\nHans Müller\nGeschäftsführer\n"
        "Musterfirma GmbH\nMusterstraße 1\n10115 Berlin\nTel. 030 1234567\nMobil: 0171 1234567\n"
    )
    sig = extract_signature(body, sender_email="hans.mueller@musterfirma.de", sender_name="Hans Müller")
    assert sig is not None
    assert (sig.name, sig.job_title, sig.organization) == ("Hans Müller", "Geschäftsführer", "Musterfirma GmbH")
    assert sig.address == "Musterstraße 1, 10115 Berlin"
    assert sig.telephone == ["+49301234567", "+491711234567"]


def test_disclaimer_is_removed() -> None:
    body = (
        "See you.\n\nAlice Martin\nAcme Corp\n+1 415 555 0134\n\n"
        "CONFIDENTIALITY NOTICE: This e-mail and any attachments are confidential and intended solely "
        "for the addressee. If you have received this message in error, please notify the sender and "
        "delete it. Any unauthorized disclosure is prohibited.\n"
    )
    assert "CONFIDENTIALITY" not in strip_quoted(body)
    sig = extract_signature(body, **ALICE)
    assert sig is not None and sig.organization == "Acme Corp"
    assert sig.lines == (2, 5)


def test_list_footer_and_mobile_tagline_are_removed() -> None:
    body = (
        "Merged, thanks.\n\nAlice Martin\nAcme Corp\n+1 415 555 0134\n\nSent from my iPhone\n\n"
        "_______________________________________________\ndev mailing list\ndev@lists.example.org\n"
        "https://lists.example.org/mailman/listinfo/dev\n"
    )
    assert strip_quoted(body).endswith("+1 415 555 0134")
    sig = extract_signature(body, **ALICE)
    assert sig is not None and sig.url is None and sig.emails == []


def test_list_footer_right_under_a_dash_signature() -> None:
    body = (
        "I'd rather wait for the next minor.\n\n-- \nRafael Costa\nhttps://costa-dev.net\n"
        "_______________________________________________\nquill-dev mailing list\nquill-dev@lists.quill.org\n"
        "https://lists.quill.org/mailman/listinfo/quill-dev\n"
    )
    sig = extract_signature(body, sender_email="rafael@costa-dev.net", sender_name="Rafael Costa")
    assert sig is not None
    assert (sig.name, sig.url, sig.emails) == ("Rafael Costa", "https://costa-dev.net", [])


def test_one_line_pipe_layout() -> None:
    body = (
        "Thanks for the quick turnaround.\n\nBest,\nDana\n\n"
        "Dana Whitfield | Account Executive | Kestrel Labs Inc.\nOffice: (201) 555-0157 | Cell: +1 415 555 0199\n"
        "500 Harbor Blvd, Suite 210, Weehawken, NJ 07086, USA\nhttps://kestrel-labs.io\n"
    )
    sig = extract_signature(body, sender_email="dana.whitfield@kestrel-labs.io", sender_name="Dana Whitfield")
    assert sig is not None
    assert (sig.name, sig.job_title, sig.organization) == ("Dana Whitfield", "Account Executive", "Kestrel Labs Inc.")
    assert sig.telephone == ["+12015550157", "+14155550199"]  # .io gives no country hint
    assert sig.address == "500 Harbor Blvd, Suite 210, Weehawken, NJ 07086, USA"
    assert sig.url == "https://kestrel-labs.io"


# --- common layouts without contact data ----------------------------------------------

CARLA = {"sender_email": "carla.diaz@acmerobotics.com", "sender_name": "Carla Diaz"}
REPORT = "Hi Tom,\n\nPlease find the report attached.\n\n"
CTO = ("Carla Diaz", "Chief Technology Officer", "Acme Robotics Inc.")


@pytest.mark.parametrize(
    "signature, expected",
    [
        ("Best regards,\nCarla Diaz\nChief Technology Officer\nAcme Robotics Inc.", CTO),
        ("Best regards,\n\nCarla Diaz\n\nChief Technology Officer\nAcme Robotics Inc.", CTO),
        ("Carla Diaz\nChief Technology Officer\nAcme Robotics Inc.", CTO),  # no sign-off: the name opens it
        ("Carla Diaz | CTO | Acme Robotics", ("Carla Diaz", "CTO", "Acme Robotics")),
        ("Thanks,\nCarla Diaz • CTO • Acme Robotics", ("Carla Diaz", "CTO", "Acme Robotics")),
        ("Carla Diaz · Chief Technology Officer · Acme Robotics Inc.", CTO),
        ("Carla Diaz - CTO - Acme Robotics", ("Carla Diaz", "CTO", "Acme Robotics")),
        ("Carla Diaz – CTO – Acme Robotics", ("Carla Diaz", "CTO", "Acme Robotics")),
        (
            "Carla Diaz, Chief Technology Officer, Acme Robotics, Inc.",
            ("Carla Diaz", "Chief Technology Officer", "Acme Robotics, Inc."),
        ),
        ("Carla Diaz\nChief Technology Officer, Acme Robotics Inc.", CTO),
        ("Regards,\nCarla Diaz\nCTO | Acme Robotics", ("Carla Diaz", "CTO", "Acme Robotics")),
        ("Thanks, Carla\nCTO, Acme Robotics Inc.", (None, "CTO", "Acme Robotics Inc.")),
        (
            "Kind regards,\nDr. Carla Diaz\nHead of Research\nAcme Robotics GmbH",
            ("Carla Diaz", "Head of Research", "Acme Robotics GmbH"),
        ),
        ("Cheers,\nCARLA DIAZ\nSenior Engineer\nAcme Robotics", ("Carla Diaz", "Senior Engineer", "Acme Robotics")),
        ("Best regards,\nCarla Diaz\nChief Technology Officer", ("Carla Diaz", "Chief Technology Officer", None)),
        # a title with an organisation under it that has no suffix nor the sender's domain
        ("Best,\nCarla Diaz\nChief Technology Officer\nKestrel", ("Carla Diaz", "Chief Technology Officer", "Kestrel")),
    ],
)
def test_name_title_organisation_without_contact_data(signature: str, expected: tuple) -> None:
    sig = extract_signature(REPORT + signature + "\n", **CARLA)
    assert sig is not None
    assert (sig.name, sig.job_title, sig.organization) == expected
    assert sig.telephone == [] and sig.lines is not None


@pytest.mark.parametrize(
    "sign_off, title, organisation",
    [
        ("Mit freundlichen Grüßen", "Geschäftsführerin", "Acme Robotics GmbH"),
        ("Cordialement,", "Directrice technique", "Acme Robotique SAS"),
        ("Saludos,", "Directora de Tecnología", "Acme Robótica S.L."),
        ("Un saluto,", "Direttore Tecnico", "Acme Robotica S.r.l."),
        ("Met vriendelijke groet,", "Technisch directeur", "Acme Robotics B.V."),
    ],
)
def test_non_english_sign_off_name_title_organisation(sign_off: str, title: str, organisation: str) -> None:
    body = f"Hallo Tom,\n\nanbei / ci-joint / adjunto.\n\n{sign_off}\nCarla Diaz\n{title}\n{organisation}\n"
    sig = extract_signature(body, **CARLA)
    assert sig is not None
    assert (sig.name, sig.job_title, sig.organization) == ("Carla Diaz", title, organisation)


@pytest.mark.parametrize("footer", ["Sent from my iPhone", "Von meinem iPhone gesendet", "Get Outlook for iOS"])
def test_mobile_client_footer_is_not_the_organisation(footer: str) -> None:
    sig = extract_signature(REPORT + f"Best,\nCarla Diaz\nCTO\nAcme Robotics Inc.\n\n{footer}\n", **CARLA)
    assert sig is not None and (sig.job_title, sig.organization) == ("CTO", "Acme Robotics Inc.")
    assert extract_signature(REPORT + f"Best,\nCarla Diaz\n{footer}\n", **CARLA) is None
    assert extract_signature(REPORT + f"Carla\n\n{footer}\n", **CARLA) is None


def test_one_line_signature_with_phone_and_link() -> None:
    sig = extract_signature(REPORT + "Carla Diaz | acmerobotics.com | +1 415 555 0100\n", **CARLA)
    assert sig is not None
    assert (sig.name, sig.url, sig.telephone) == ("Carla Diaz", "https://acmerobotics.com", ["+14155550100"])
    assert sig.job_title is None and sig.organization is None


def test_one_line_signature_is_the_block() -> None:
    body = REPORT + "Thanks,\nCarla Diaz | CTO | Acme Robotics\n"
    found = find_signature_lines(body, CARLA["sender_email"], CARLA["sender_name"])
    lines = split_lines(body)
    assert [lines[i] for i in range(*found.block)] == ["Carla Diaz | CTO | Acme Robotics"]
    assert lines[found.closing[0]] == "Thanks,"


@pytest.mark.parametrize(
    "ending",
    [
        "Thanks, see you at Acme Robotics tomorrow",
        "Thanks,\nCarla Diaz\nSee you at Acme Robotics tomorrow",
        "Thanks,\nCarla\n\nSee you at Acme Robotics tomorrow",
        "Best,\nCarla\nlead the way, we follow",
        "Carla - the new lead",
        "Cheers,\nCarla\nP.S. Acme Robotics Inc. rocks",
        "-CD",
        "Thanks,\nCD",
    ],
)
def test_closing_sentences_and_initials_give_no_signature(ending: str) -> None:
    assert extract_signature(REPORT + ending + "\n", **CARLA) is None


def test_initials_never_become_a_name_or_a_title() -> None:
    sig = extract_signature(REPORT + "-CD\nAcme Robotics Inc.\n", **CARLA)
    assert sig is None or (sig.name is None and sig.job_title is None)
    sig = extract_signature(REPORT + "Best,\nJD\n", sender_email="jd@acmerobotics.com", sender_name="John Doe")
    assert sig is None


@pytest.mark.parametrize(
    "signature",
    [
        "Best regards,\nJohn Miller\nChief Technology Officer\nAcme Robotics Inc.",
        "John Miller\nChief Technology Officer\nAcme Robotics Inc.",
        "John Miller | CTO | Acme Robotics",
        "John Miller – CTO – Acme Robotics",
        "John Miller | CTO | Acme Robotics\n+1 415 555 0100",  # the name is only in the one-line part
    ],
)
def test_someone_elses_name_title_organisation_is_refused(signature: str) -> None:
    assert extract_signature(REPORT + signature + "\n", **CARLA) is None


def test_quoted_or_forwarded_name_title_organisation_is_not_attributed() -> None:
    theirs = "Best regards,\nJohn Miller\nChief Technology Officer\nAcme Robotics Inc."
    quoted_reply = f"Sounds good.\n\nCarla\n\nOn Mon, Jan 3, 2022 at 10:00 AM John Miller wrote:\n{quoted(theirs)}\n"
    forwarded = (
        "FYI\n\n---------- Forwarded message ---------\nFrom: Carla Diaz <carla@old-job.com>\n"
        "Date: Mon, Jan 3, 2022\nSubject: report\nTo: Tom <tom@x.org>\n\n"
        "Best regards,\nCarla Diaz\nChief Technology Officer\nAcme Robotics Inc.\n"
    )
    assert extract_signature(quoted_reply, **CARLA) is None
    assert extract_signature(forwarded, **CARLA) is None


def test_a_message_that_is_only_name_title_organisation_is_not_signed_text() -> None:
    assert extract_signature("Carla Diaz\nCTO\nAcme Robotics Inc.\n", **CARLA) is None


# --- fields -------------------------------------------------------------------------


def test_typed_phones_fax_and_mobile() -> None:
    body = f"Ok.\n\n{ALICE_SIG}\n"
    sig = extract_signature(body, **ALICE)
    assert sig is not None
    assert sig.telephone == ["+14155550134", "+14155550177"]  # office + mobile
    assert sig.fax == ["+14155550199"]


@pytest.mark.parametrize(
    "line, expected_phone, expected_fax",
    [
        ("Ph: (877) 396.3493   Fx: (877) 396.3492", ["+18773963493"], ["+18773963492"]),
        ("713-853-5620 (phone)   713-646-3490 (fax)", ["+17138535620"], ["+17136463490"]),
        ("(713) 646-3490 Facsimile", [], ["+17136463490"]),
        ("t: 202-715-7098 * f: 202-715-4953", ["+12027157098"], ["+12027154953"]),
        ("Phone - 713.853-9106   Fax     - 713.345.8100", ["+17138539106"], ["+17133458100"]),
        ("281-300-8286 Wireless   Fax  713-646-3490", ["+12813008286"], ["+17136463490"]),
    ],
)
def test_phone_labels(line: str, expected_phone: list[str], expected_fax: list[str]) -> None:
    body = f"Ok.\n\nAlice Martin\nAcme Corp\n{line}\n"
    sig = extract_signature(body, **ALICE)
    assert sig is not None
    assert (sig.telephone, sig.fax) == (expected_phone, expected_fax)


@pytest.mark.parametrize(
    "email, line, expected",
    [
        ("jean.dupont@exemple.fr", "Tél : 01 42 68 53 00", "+33142685300"),
        ("hans@beispiel.de", "Tel. 030 1234567", "+49301234567"),
        ("john@widgets.co.uk", "Tel: 020 7946 0958", "+442079460958"),
        ("ana@ejemplo.es", "Tel: 912 345 678", "+34912345678"),
        ("bob@example.com", "Tel: (212) 555-0188", "+12125550188"),
        ("bob@example.com", "Tel: +33 1 42 68 53 00", "+33142685300"),
    ],
)
def test_e164_with_country_code_tld_hint(email: str, line: str, expected: str) -> None:
    local = email.split("@")[0].split(".")[0].title()
    body = f"Ok.\n\n{local} Example\nExample Company\n{line}\n"
    sig = extract_signature(body, sender_email=email, sender_name=f"{local} Example")
    assert sig is not None and sig.telephone == [expected]


def test_region_hint() -> None:
    assert region_for("a@b.fr") == "FR"
    assert region_for("a@b.co.uk") == "GB"
    assert region_for("a@b.com") == "US"
    assert region_for("a@b.io") == "US"  # .io, .co, .ai … are sold as generic names
    assert region_for("a@b.co") == "US"
    assert region_for("a@b.xyz") == "US"


def test_dates_zip_codes_and_ids_are_not_phones() -> None:
    body = (
        "Order #12345678 shipped on 03/15/2021.\n\nAlice Martin\nAcme Corp\n"
        "1400 Smith Street\nHouston, TX 77002-7361\nDeal 3456789 / PO 2021-0315\n"
    )
    sig = extract_signature(body, **ALICE)
    assert sig is not None
    assert sig.telephone == [] and sig.fax == []
    assert sig.address == "1400 Smith Street, Houston, TX 77002-7361"


def test_social_links_website_and_other_emails() -> None:
    body = (
        "Ok.\n\nAlice Martin\nAcme Corp\nalice.martin@acme.com | alice@gmail.com\n"
        "www.acme.com/about\nhttps://twitter.com/alice · linkedin.com/in/alice/\n"
        "https://github.com/alice\nhttps://fosstodon.org/@alice\n"
    )
    sig = extract_signature(body, **ALICE)
    assert sig is not None
    assert sig.url == "https://www.acme.com/about"
    assert sig.same_as == [
        "https://twitter.com/alice",
        "https://www.linkedin.com/in/alice",
        "https://github.com/alice",
        "https://fosstodon.org/@alice",  # any Mastodon-like instance: host/@user
    ]
    assert sig.emails == ["alice@gmail.com"]  # other addresses; the sender's own is not repeated


def test_free_mail_provider_link_is_not_a_website() -> None:
    body = "Ok.\n\nAlice Martin\n+1 415 555 0134\nhttp://groups.yahoo.com/group/fans\n"
    sig = extract_signature(body, **ALICE)
    assert sig is not None and sig.url is None


def test_name_with_credentials_and_title_on_one_line() -> None:
    body = "Ok.\n\nMark D. Guinney, CFA\nConsultant\nWatson Wyatt Investment Consulting\n(415) 733-4487 ph.\n"
    sig = extract_signature(body, sender_email="mark_guinney@watsonwyatt.com", sender_name="Guinney, Mark")
    assert sig is not None
    assert (sig.name, sig.job_title, sig.organization) == (
        "Mark D. Guinney", "Consultant", "Watson Wyatt Investment Consulting",
    )
    body = "Ok.\n\nMichael Clark, Webmaster\nCenter for Democracy and Technology\nvoice: 202-637-9800\n"
    sig = extract_signature(body, sender_email="mclark@cdt.org", sender_name="Michael Clark")
    assert sig is not None and (sig.name, sig.job_title) == ("Michael Clark", "Webmaster")


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match="body must be str"):
        extract_signature(b"bytes", sender_email="a@b.com")  # type: ignore[arg-type]


# --- optional LLM extractor against a real local HTTP server --------------------------


class _CannedLlm(BaseHTTPRequestHandler):
    answer: dict = {}
    requests: list = []

    def do_POST(self) -> None:  # noqa: N802 (http.server API)
        length = int(self.headers["Content-Length"])
        body = json.loads(self.rfile.read(length))
        type(self).requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        if self.path != "/v1/chat/completions":
            self.send_response(404)
            self.end_headers()
            return
        payload = {"choices": [{"message": {"role": "assistant", "content": json.dumps(type(self).answer)}}]}
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def llm_server():
    server = HTTPServer(("127.0.0.1", 0), _CannedLlm)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _CannedLlm.requests = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_llm_extractor_drops_invented_fields(llm_server: str) -> None:
    _CannedLlm.answer = {
        "has_signature": True,
        "name": "Alice Martin",
        "job_title": "Head of Sales",
        "organization": "Acme Corporation International",  # invented: not in the text
        "telephone": ["+1 (415) 555-0134", "+1 (650) 555-0000"],  # second one invented
        "fax": ["(415) 555-0199"],
        "address": "1 Infinite Loop, Cupertino",  # invented
        "url": "https://www.acme.com",
        "same_as": ["https://www.linkedin.com/in/alicemartin", "https://twitter.com/invented"],
        "emails": ["alice.private@example.org"],  # invented
    }
    extractor = LlmSignatureExtractor(llm_server + "/v1", "sk-test-secret", "test-model")
    body = f"Sounds good.\n\nBest regards,\n{ALICE_SIG}\n\n> quoted\n"
    sig = extractor.extract(body, message_id="m1", **ALICE)
    assert isinstance(sig, Signature)
    assert sig.name == "Alice Martin" and sig.job_title == "Head of Sales"
    assert sig.organization is None and sig.address is None and sig.emails == []
    assert sig.telephone == ["+14155550134"] and sig.fax == ["+14155550199"]
    assert sig.url == "https://www.acme.com"
    assert sig.same_as == ["https://www.linkedin.com/in/alicemartin"]
    request = _CannedLlm.requests[0]
    assert request["headers"]["Authorization"] == "Bearer sk-test-secret"
    assert request["body"]["response_format"]["type"] == "json_schema"
    assert "> quoted" not in request["body"]["messages"][1]["content"]
    assert "sk-test-secret" not in repr(extractor)


def test_llm_extractor_refuses_someone_elses_signature(llm_server: str) -> None:
    _CannedLlm.answer = {
        "has_signature": True, "name": "Bob Stone", "job_title": "VP Engineering", "organization": "Other Corp",
        "telephone": ["+1 212 555 0188"], "fax": [], "address": None, "url": None, "same_as": [], "emails": [],
    }
    extractor = LlmSignatureExtractor(llm_server + "/v1", "", "test-model")
    assert extractor.extract(f"See below.\n\n{BOB_SIG}\n", **ALICE) is None


def test_llm_extractor_reports_http_errors(llm_server: str) -> None:
    extractor = LlmSignatureExtractor(llm_server + "/wrong", "sk-test-secret", "test-model")
    with pytest.raises(LlmError, match="HTTP 404") as info:
        extractor.extract(f"Ok.\n\n{ALICE_SIG}\n", **ALICE)
    assert "sk-test-secret" not in str(info.value)


def test_llm_extractor_uses_an_injected_transport() -> None:
    calls = []

    def transport(url: str, headers: dict[str, str], body: bytes, timeout: float) -> bytes:
        calls.append(url)
        return b'{"choices": [{"message": {"content": "not json"}}]}'

    extractor = LlmSignatureExtractor("https://llm.example/v1", "k", "m", transport=transport)
    with pytest.raises(LlmError, match="unexpected LLM answer"):
        extractor.extract(f"Ok.\n\n{ALICE_SIG}\n", **ALICE)
    assert calls == ["https://llm.example/v1/chat/completions"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("| Systems Programmer |", "Systems Programmer"),
        ("-  Staff TereNet", "Staff TereNet"),
        ("-- whump", "whump"),
        ("Systems and", None),
        ("Center of", None),
        ("Acme Robotics Inc.", "Acme Robotics Inc."),
        ("Procter & Gamble", "Procter & Gamble"),
        ("|", None),
        (None, None),
    ],
)
def test_field_values_lose_separator_debris(value, expected):
    from leadminer.signature import tidy_value

    assert tidy_value(value) == expected


def test_website_is_a_home_page_not_a_quoted_link():
    def url_of(link: str) -> str | None:
        body = f"Talk soon.\n\n-- \nJane Doe\nHead of Research, Acme Robotics Inc.\n{link}\n"
        signature = extract_signature(body, sender_email="jane@acme-robotics.example", sender_name="Jane Doe")
        return signature.url if signature else None

    assert url_of("http://www.acme-robotics.example/research/labs/index.html") == "http://www.acme-robotics.example/research/labs/index.html"
    assert url_of("https://janedoe.example/") == "https://janedoe.example/"
    assert url_of("http://www.example.org/~jane") == "http://www.example.org/~jane"
    assert url_of("http://www.salon.com/mwt/feature/2002/09/11/letters/index.html") is None
    assert url_of("http://www.fsf.org/no-word-attachments.html") is None


def test_mining_with_the_llm_extractor_and_its_fallback(llm_server: str, tmp_path, monkeypatch) -> None:
    """The CLI's --llm-signatures path end to end; a failing LLM falls back to the rules."""
    import json as _json

    from typer.testing import CliRunner

    from leadminer_runner.cli import app

    _CannedLlm.answer = {
        "has_signature": True, "name": "Alice Martin", "job_title": "Head of Sales", "organization": "Invented Corp",
        "telephone": ["+1 (415) 555-0134"], "fax": [], "address": None, "url": None, "same_as": [], "emails": [],
    }  # fmt: skip
    folder = tmp_path / "mail"
    folder.mkdir()
    (folder / "1.eml").write_text(
        f"From: Alice Martin <{ALICE['sender_email']}>\nTo: me@x.example\nMessage-ID: <a1@x>\nSubject: hi\n\n"
        f"Sounds good.\n\nBest regards,\n{ALICE_SIG}\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    for name, value in (("LEADMINER_LLM_URL", llm_server + "/v1"), ("LEADMINER_LLM_MODEL", "m"), ("LEADMINER_LLM_API_KEY", "sk-x")):
        monkeypatch.setenv(name, value)
    db = tmp_path / "llm.db"
    result = runner.invoke(app, ["mine", str(folder), "--db", str(db), "--quiet", "--llm-signatures"])
    assert result.exit_code == 0, result.output
    assert "sk-x" not in result.output
    def alice_in(database):
        contacts = _json.loads(runner.invoke(app, ["export", "--db", str(database)]).stdout)
        return next(c for c in contacts if c["email"] == ALICE["sender_email"])

    alice = alice_in(db)
    assert alice["job_title"] == "Head of Sales" and "organization" not in alice  # invented organisation dropped
    assert len(_CannedLlm.requests) == 1

    monkeypatch.setenv("LEADMINER_LLM_URL", llm_server + "/wrong")  # HTTP 404: the rules answer instead
    db2 = tmp_path / "fallback.db"
    assert runner.invoke(app, ["mine", str(folder), "--db", str(db2), "--quiet", "--llm-signatures"]).exit_code == 0
    alice = alice_in(db2)
    assert alice["job_title"] == "Head of Sales" and alice["organization"] == "Acme Corp."  # the rules' answer


# --- issue 11: kinds of miss seen on unseen mail (made-up people and companies) ---

ANN = {"sender_email": "ann.smith@kestrel-gas.com", "sender_name": "Smith, Ann"}
NOTE = "John,\n\nHere are the volumes for the month.\n\n"


@pytest.mark.parametrize(
    "line, title, organisation",
    [
        # a department after the title belongs to the title
        ("Specialist, Gas Settlements", "Specialist, Gas Settlements", "Kestrel Gas Company"),
        ("Vice President, Regulatory Affairs", "Vice President, Regulatory Affairs", "Kestrel Gas Company"),
        ("Director - Gas Trading", "Director, Gas Trading", "Kestrel Gas Company"),
        # an organisation after the title does not
        ("Senior Counsel, Heron Pipeline Corp.", "Senior Counsel", "Heron Pipeline Corp., Kestrel Gas Company"),
    ],
)
def test_department_after_title(line: str, title: str, organisation: str) -> None:
    body = NOTE + f"Thanks,\nAnn Smith\n{line}\nKestrel Gas Company\n(713) 853-1234\n"
    sig = extract_signature(body, **ANN)
    assert sig is not None
    assert (sig.name, sig.job_title, sig.organization) == ("Ann Smith", title, organisation)


@pytest.mark.parametrize(
    "line, title, organisation",
    [
        ("Manager, Kestrel Gas Marketing", "Manager", "Kestrel Gas Marketing"),  # the sender's domain name
        ("Senior Counsel, KGM", "Senior Counsel", "KGM"),  # an acronym names an organisation
        (
            "Vice President, Regulatory Affairs, Pacific Heron Gas and Electric Company",  # a long line is not prose
            "Vice President, Regulatory Affairs",
            "Pacific Heron Gas and Electric Company",
        ),
        ("Gas Settlements Specialist | Heron Energy Inc.", "Gas Settlements Specialist", "Heron Energy Inc."),
        ("Gas Scheduler / Heron Energy Inc.", "Gas Scheduler", "Heron Energy Inc."),
        # no separator, a link word, brackets, a semicolon, two spaces
        ("Senior Counsel Heron Energy Inc.", "Senior Counsel", "Heron Energy Inc."),
        ("Vice President of Heron Energy Inc.", "Vice President", "Heron Energy Inc."),
        ("Gas Scheduler (Heron Energy Inc.)", "Gas Scheduler", "Heron Energy Inc."),
        ("Gas Scheduler; Heron Energy Inc.", "Gas Scheduler", "Heron Energy Inc."),
        ("Gas Scheduler  Heron Energy Inc.", "Gas Scheduler", "Heron Energy Inc."),
        ("Director of Regulatory Affairs", "Director of Regulatory Affairs", None),  # no company: all title
    ],
)
def test_title_and_organisation_on_one_line(line: str, title: str, organisation: str) -> None:
    body = NOTE + f"Regards,\nAnn Smith\n{line}\n(713) 853-1234\n"
    sig = extract_signature(body, **ANN)
    assert sig is not None
    assert (sig.job_title, sig.organization, sig.telephone) == (title, organisation, ["+17138531234"])


@pytest.mark.parametrize(
    "lines, title, organisation",
    [
        # the rest of a title line is the sender's unit when the company has its own line
        (
            "Manager - Human Capital Advisory Services\nHeron & Finch LLP",
            "Manager, Human Capital Advisory Services",
            "Heron & Finch LLP",
        ),
        # ... but an organisation when no other line names the company
        ("Manager - Human Capital Advisory Services", "Manager", "Human Capital Advisory Services"),
        # a hyphenated title, an occupation known by its ending
        ("Manager-Corporate Development\nHeron Energy, Inc.", "Manager-Corporate Development", "Heron Energy, Inc."),
        ("Meteorologist\nKestrel Gas Company", "Meteorologist", "Kestrel Gas Company"),
        # no title line: a function beside the company is the position ...
        ("Kestrel Gas Company\nVendor Management", "Vendor Management", "Kestrel Gas Company"),
        ("Transaction Management\nHeron Energy, Inc.", "Transaction Management", "Heron Energy, Inc."),
        ("Kestrel Gas Company\nDebt Capital Markets", "Debt Capital Markets", "Kestrel Gas Company"),
        (
            "Transaction Management\nCorporate Advisory Division\nKestrel Gas",
            "Transaction Management",
            "Corporate Advisory Division, Kestrel Gas",
        ),
        # ... a unit named as such stays with the organisation
        ("Kestrel Gas Company\nLegal Department", None, "Kestrel Gas Company, Legal Department"),
    ],
)
def test_title_unit_and_company_lines(lines: str, title: str | None, organisation: str) -> None:
    body = NOTE + f"Thanks,\nAnn Smith\n{lines}\n(713) 853-1234\n"
    sig = extract_signature(body, **ANN)
    assert sig is not None
    assert (sig.name, sig.job_title, sig.organization) == ("Ann Smith", title, organisation)


def test_one_contact_line_under_the_senders_closing() -> None:
    for closing in ("Thanks,  Ann Smith", "Regards,\nAnn"):
        sig = extract_signature(NOTE + f"{closing}\n# 713-853-1234\n", **ANN)
        assert sig is not None and sig.telephone == ["+17138531234"], closing
    # not under someone else's name, nor without a closing
    assert extract_signature(NOTE + "Thanks,  Bob Jones\n# 713-853-1234\n", **ANN) is None
    assert extract_signature(NOTE + "713-853-1234\n", **ANN) is None


def test_company_signing_under_a_sign_off() -> None:
    body = "Friends:\n\nThe attached file lists the new contracts.\n\nThank You,\n\nHeron Commodity Futures, Inc.\n"
    sig = extract_signature(body, sender_email="george.ellis@heron-futures.com")
    assert sig is not None and sig.organization == "Heron Commodity Futures, Inc."
    # without a sign-off a company line under the text is not a signature
    assert extract_signature(body.replace("Thank You,\n\n", ""), sender_email="george.ellis@heron-futures.com") is None
    # a team is no company
    assert extract_signature(body.replace("Heron Commodity Futures, Inc.", "The Marketing Team"),
                             sender_email="george.ellis@heron-futures.com") is None


def test_block_with_the_senders_own_address_above_trailing_text() -> None:
    body = (
        "thanks for the note\n\nmb\n\n\nMarcy Brinegar\nBrinegar Consultants\n(770) 886-6202 (Office)\n"
        "brinconsult@aol.com\n\nP.S. I will be out of the office on Friday, so please call my assistant.\n"
    )
    sig = extract_signature(body, sender_email="brinconsult@aol.com")
    assert sig is not None and sig.telephone == ["+17708866202"]
    assert extract_signature(body, sender_email="someone.else@aol.com") is None


def test_one_line_signature_split_by_slashes() -> None:
    sig = extract_signature(NOTE + "Thanks,\nAnn Smith / Gas Scheduler / Heron Energy Inc.\n(713) 853-1234\n", **ANN)
    assert sig is not None
    assert (sig.name, sig.job_title, sig.organization) == ("Ann Smith", "Gas Scheduler", "Heron Energy Inc.")


@pytest.mark.parametrize(
    "block",
    [
        "Best regards, Ann Smith\nKestrel Gas Company\n(713) 853-1234",  # the name on the sign-off line
        "Thanks,\n\nAnn Smith (713) 853-1234\nKestrel Gas Company",  # the name opening a contact line
        "Thanks,\n\nAnn Smith - ann.smith@kestrel-gas.com\nKestrel Gas Company\n(713) 853-1234",
    ],
)
def test_name_on_the_sign_off_or_contact_line(block: str) -> None:
    sig = extract_signature(NOTE + block + "\n", **ANN)
    assert sig is not None
    assert (sig.name, sig.organization, sig.telephone) == ("Ann Smith", "Kestrel Gas Company", ["+17138531234"])


def test_a_label_before_the_number_is_not_part_of_the_name() -> None:
    sig = extract_signature(NOTE + "Thanks,\n\nAnn Smith Email&SMS: +44 7759 072173\nKestrel Gas Company\n", **ANN)
    assert sig is not None and (sig.name, sig.telephone) == ("Ann Smith", ["+447759072173"])


@pytest.mark.parametrize(
    "lines, title",
    [
        # a unit part after the title of a one-line signature stays with the title
        ("Ann Smith, Director, Origination & Trading\nHeron Energy Inc.", "Director, Origination & Trading"),
        ("Ann Smith, Director of Regulatory Affairs, Western Region\nHeron Energy Inc.",
         "Director of Regulatory Affairs, Western Region"),
        # the title line under the company line keeps its unit
        ("Ann Smith\nHeron Energy Inc.\nManager, Information Technology", "Manager, Information Technology"),
        ("Ann Smith, Team Leader\nHeron Energy Inc.", "Team Leader"),
    ],
)
def test_title_keeps_its_unit_when_the_company_has_its_own_line(lines: str, title: str) -> None:
    sig = extract_signature(NOTE + f"{lines}\n(713) 853-1234\n", **ANN)
    assert sig is not None
    assert (sig.name, sig.job_title, sig.organization) == ("Ann Smith", title, "Heron Energy Inc.")


def test_a_role_address_in_the_block_names_nobody() -> None:
    block = "Heron Energy Inc.\n1400 Smith Street\nHouston, TX 77002\n(713) 853-1234\ninfo@heron-energy.com\n"
    sig = extract_signature(NOTE + "Thanks!\n\n" + block, **ANN)
    assert sig is not None and (sig.organization, sig.telephone) == ("Heron Energy Inc.", ["+17138531234"])
    # someone's own address still refuses the block; a role address alone is no signature
    assert extract_signature(NOTE + "Thanks!\n\n" + block.replace("info@", "bob.jones@"), **ANN) is None
    assert extract_signature(NOTE + "----------\nFor help write to help@heron-energy.com\n----------\n", **ANN) is None


def test_long_capitalised_sentence_is_still_prose() -> None:
    body = "Please Review The Attached Draft And Send Me Your Comments By Friday Afternoon.\n\nAnn Smith\n"
    assert extract_signature(body, **ANN) is None


CAROLYN = {"sender_email": "ccampbell@heron-law.com", "sender_name": "Campbell, Carolyn"}
DRAFT = "Mark,\n\nAttached is the revised draft. Please call me with any comments.\n\n"
LAW_BLOCK = (
    "Carolyn M. Campbell\nHeron & Finch LLP\n1100 Louisiana, Suite 3300\nHouston, Texas  77002\n"
    "Telephone: (713) 751-3233\nFacsimile: (713) 751-3290\n"
)
NOTICE = (
    "This message is being sent by or on behalf of a lawyer. It is intended exclusively for the individual or "
    "entity to which it is addressed. This communication may contain information that is proprietary, privileged "
    "or confidential. If you are not the named addressee, you are not authorized to read, print, retain, copy or "
    "disseminate this message."
)


@pytest.mark.parametrize(
    "after",
    [
        f"\nCONFIDENTIALITY NOTICE\n\n{NOTICE}\n\nThank you.\n",  # heading, notice, courtesy line
        f"\nConfidentiality Notice:\n{NOTICE}\n",
        "\nThe information in this e-mail is confidential and is meant only for the named recipient.\n",
        "\nEnclosure\n - 256543_2.DOC\n",
        "\nEnclosures\ncc: Ms. Jane Roe (w/encl.)\n - draft.doc << File: draft.doc >>\n",
        "\n[IMAGE]\n",
        f"\n - agreement.DOC\n\n*******************\n{NOTICE}\n*******************\n",
        "\nP.S. The closing is moved to Friday, so please send the revised schedules before then if you can.\n",
    ],
)
def test_complete_block_followed_by_notice_enclosure_or_more_text(after: str) -> None:
    sig = extract_signature(DRAFT + LAW_BLOCK + after, **CAROLYN)
    assert sig is not None
    assert (sig.name, sig.organization) == ("Carolyn M. Campbell", "Heron & Finch LLP")
    assert (sig.telephone, sig.fax) == (["+17137513233"], ["+17137513290"])


def test_contact_block_inside_the_text() -> None:
    body = (
        "Hello Sara,\n\nThank you for your message. I will send the documents tomorrow.\nMy coordinates:\n\n"
        "Carolyn M. Campbell\nSenior Counsel\nHeron & Finch LLP\n1100 Louisiana, Suite 3300\n"
        "Houston, Texas  77002\ntel: (713) 751-3233\n\n"
        "Please send any questions to the address above, and copy my assistant who will deal with them promptly.\n\n"
        "Best regards\nCarolyn\n"
    )
    sig = extract_signature(body, **CAROLYN)
    assert sig is not None
    assert (sig.name, sig.job_title, sig.organization) == ("Carolyn M. Campbell", "Senior Counsel", "Heron & Finch LLP")
    assert sig.telephone == ["+17137513233"]


@pytest.mark.parametrize(
    "block",
    [
        "Jane Roe\nSenior Counsel\nHeron & Finch LLP\ntel: (713) 751-3233\n",  # someone else's block
        "Carolyn\nx8321\n",  # not a complete block
        "Carolyn M. Campbell\n(713) 751-3233\n",  # name and phone only: two lines
    ],
)
def test_block_inside_the_text_needs_the_senders_complete_block(block: str) -> None:
    body = DRAFT + "Please contact:\n\n" + block + "\nif you have questions about the schedules before Friday.\n"
    assert extract_signature(body, **CAROLYN) is None


@pytest.mark.parametrize(
    "display, address, signed",
    [
        ("Rivera Novo, Luis", "lrn@iberdrola-gas.es", "Luis Rivera"),  # directory order, more parts
        ("Campbell, Carolyn", "cmc3@heron-law.com", "Carolyn M. Campbell"),  # the signed name has a middle initial
        ("RIVERA NOVO, LUIS", "luis.rivera@iberdrola-gas.es", "LUIS RIVERA"),
        ("Rivera Novo, Luis Alberto", "lrn@iberdrola-gas.es", "L. Alberto Rivera"),
    ],
)
def test_directory_order_display_name_accepts_the_signed_name(display: str, address: str, signed: str) -> None:
    body = f"Mark,\n\nSee attached.\n\n{signed}\nSenior Counsel\nHeron Gas Company\n(713) 751-3233\n"
    sig = extract_signature(body, sender_email=address, sender_name=display)
    assert sig is not None and sig.telephone == ["+17137513233"]
    assert sig.name == clean_name(signed) and sig.job_title == "Senior Counsel"


IDENTITY_BLOCK = "Thanks.\n\nCarolyn Campbell\nSenior Counsel\nHeron & Finch LLP\n"


@pytest.mark.parametrize(
    "after",
    [
        "\nP.S. Please forward this to anyone on your team who should see it.\n",
        "\nI am out of the office next week but will read my messages in the evenings.\n",
        "\n - schedule.xls\n",
        "\nPS - the meeting moved to the third floor.\n\n<< File: minutes.doc >>\n",
    ],
)
def test_identity_block_above_trailing_text(after: str) -> None:
    """A name / title / organisation block stays the signature when a P.S., more prose
    or attachment markers follow it."""
    sig = extract_signature(DRAFT + IDENTITY_BLOCK + after, **CAROLYN)
    assert sig is not None
    assert (sig.name, sig.job_title, sig.organization) == ("Carolyn Campbell", "Senior Counsel", "Heron & Finch LLP")


@pytest.mark.parametrize("lead_in", ["My contact details:", "You can reach me at:", "Mes coordonnées :"])
def test_unnamed_contact_block_announced_by_a_lead_in(lead_in: str) -> None:
    body = (
        DRAFT + "Thanks,\nCarolyn\n\nI have moved offices, so please update your records.\n"
        f"{lead_in}\nTrading Support\n503-464-7486\n\nWe can go through the rest on Monday.\n"
    )
    sig = extract_signature(body, **CAROLYN)
    assert sig is not None and sig.telephone == ["+15034647486"]


@pytest.mark.parametrize(
    "above",
    [
        "Please call the front desk:\n",  # not the writer's own details
        "The new numbers are:\n",
    ],
)
def test_unnamed_block_inside_the_text_is_not_the_senders(above: str) -> None:
    body = DRAFT + f"{above}Trading Support\n503-464-7486\n\nWe can go through the rest on Monday.\n"
    assert extract_signature(body, **CAROLYN) is None


def test_trailing_text_under_someone_elses_block() -> None:
    body = DRAFT + "Jane Roe\nSenior Counsel\nHeron & Finch LLP\n(713) 751-3233\n\nShe will call you on Monday.\n"
    assert extract_signature(body, **CAROLYN) is None


def test_enclosure_line_with_a_dash_is_a_letter_trailer() -> None:
    """ "Enclosure - x.pdf" is an attachment line: it gives no second line to a lone number."""
    body = "Dial-in for tomorrow: 800.555.0199 code 80435\n\nEnclosure - agenda.pdf\ncc: File\n"
    assert extract_signature(body, sender_email="jane@acme.com", sender_name="Jane Doe") is None
    sig = extract_signature(DRAFT + IDENTITY_BLOCK + "\nEnclosure - agenda.pdf\ncc: File\n", **CAROLYN)
    assert sig is not None and sig.organization == "Heron & Finch LLP"
