"""Unit tests of the extract stage: header block, RFC 2047, addresses, names, ids,
dates, body, and extract_message on hand-written messages."""

from __future__ import annotations

import base64

import pytest

from leadminer.body import extract_body, html_to_text, parse_content_type
from leadminer.contracts import Address, Field, RawMessage
from leadminer.extract import TAGGING_HEADER_PREFIXES, TAGGING_HEADERS, ExtractError, extract_message
from leadminer.headers import (
    MAX_HEADER_LENGTH,
    clean_display_name,
    decode_text,
    decode_words,
    normalise_email,
    parse_addresses,
    parse_date,
    parse_header_block,
    parse_msg_ids,
)


def raw(text: str | bytes, uid: str = "1") -> RawMessage:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return RawMessage("mining", "INBOX", uid, data)


def emails(value: str, defects: list[str] | None = None) -> list[str]:
    return [address.email for address in parse_addresses(value, defects)]


def pairs(value: str) -> list[tuple[str, str | None]]:
    return [(address.email, address.name) for address in parse_addresses(value)]


# --------------------------------------------------------------------------- header block


def test_folded_headers_are_unfolded_keeping_whitespace():
    block = parse_header_block(b"Subject: a long\r\n\tsubject\r\n  line\r\nTo: x@example.com\r\n\r\nbody")
    assert block.get("subject") == "a long\tsubject  line"
    assert block.get("to") == "x@example.com"
    assert block.body_offset is not None
    assert b"Subject: a long\r\n\tsubject\r\n  line\r\nTo: x@example.com\r\n\r\nbody"[block.body_offset :] == b"body"


def test_header_names_are_case_insensitive_and_duplicates_kept_in_order():
    block = parse_header_block(b"Received: one\nRECEIVED: two\nreceived : three\n\n")
    assert block.get_all("received") == ["one", "two", "three"]
    assert block.get("received") == "one"


def test_missing_headers_read_as_none_or_empty():
    block = parse_header_block(b"Subject: x\n\nbody")
    assert block.get("from") is None
    assert block.get_all("cc") == []


def test_headers_only_message_has_no_body_offset():
    block = parse_header_block(b"From: a@example.com\nSubject: no body")
    assert block.body_offset is None
    assert block.get("subject") == "no body"


def test_non_header_line_ends_the_header_block_like_the_stdlib():
    data = b"From: a@example.com\nThis is already the body\nNext: line\n\nmore"
    block = parse_header_block(data)
    assert list(block.fields) == ["from"]
    assert data[block.body_offset :].startswith(b"This is already the body")
    assert "missing header/body separator" in block.defects


def test_mbox_envelope_and_leading_blank_lines_are_skipped():
    block = parse_header_block(b"\r\nFrom someone@example.com Mon Sep  2 10:00:00 2002\nSubject: hi\n\n")
    assert block.get("subject") == "hi"
    assert "from someone@example.com mon sep  2 10:00:00 2002" not in block.fields


def test_a_huge_header_that_names_no_contact_is_capped_with_a_defect():
    huge = b"References: " + b" ".join(b"<ref%d@example.com>" % i for i in range(20_000)) + b"\n"
    block = parse_header_block(huge + b"Subject: after\n\nbody")
    assert len(block.get("references")) <= MAX_HEADER_LENGTH
    assert block.get("subject") == "after"
    assert "header too long: references" in block.defects


def test_a_huge_address_header_is_kept_whole():
    huge = b"To: " + b", ".join(b"user%d@example.com" % i for i in range(20_000)) + b"\n"
    block = parse_header_block(huge + b"Subject: after\n\nbody")
    assert block.get("to").count("@") == 20_000 and block.get("subject") == "after"
    assert not block.defects


def test_raw_8bit_headers_use_the_declared_charset():
    data = "Subject: [광고] 자격증\nFrom: 교육팀 <m@example.kr>\n".encode("euc-kr")
    block = parse_header_block(data + b"Content-Type: text/plain; charset=euc-kr\n\n")
    assert block.get("subject") == "[광고] 자격증"
    assert block.get("from") == "교육팀 <m@example.kr>"


def test_non_utf8_header_bytes_fall_back_to_windows_1252():
    block = parse_header_block("Subject: caf\u00e9 \u2013 ok\n".encode("cp1252") + b"From: a@example.com\n\n")
    assert block.get("subject") == "caf\u00e9 \u2013 ok"
    assert "non-UTF-8 bytes in headers" in block.defects


def test_utf8_header_bytes_are_read_as_utf8():
    block = parse_header_block("Subject: Jürgen – 日本\n\n".encode())
    assert block.get("subject") == "Jürgen – 日本"
    assert block.defects == []


# --------------------------------------------------------------------------- RFC 2047


@pytest.mark.parametrize(
    ("encoded", "expected"),
    [
        ("=?utf-8?Q?J=C3=BCrgen_M=C3=BCller?=", "Jürgen Müller"),
        ("=?UTF-8?B?" + base64.b64encode("Zoë Ågren".encode()).decode() + "?=", "Zoë Ågren"),
        ("=?iso-8859-1?q?Fran=E7ois?=", "François"),
        ("=?windows-1252?Q?=93quoted=94?=", "\u201cquoted\u201d"),
        ("=?gb2312?B?" + base64.b64encode("中文名字".encode("gb2312")).decode() + "?=", "中文名字"),
        ("=?utf-8*en?Q?lang_tag?=", "lang tag"),  # RFC 2231 language suffix
    ],
)
def test_encoded_words_in_several_charsets(encoded, expected):
    assert decode_words(encoded) == expected


def test_adjacent_encoded_words_are_joined_even_when_a_character_is_split():
    euro = "€".encode()  # three bytes, split over two words
    first = base64.b64encode(euro[:2]).decode()
    second = base64.b64encode(euro[2:] + b"!").decode()
    assert decode_words(f"=?utf-8?B?{first}?=\r\n =?utf-8?B?{second}?=") == "€!"
    assert decode_words("=?utf-8?Q?a?= =?utf-8?Q?b?= plain =?utf-8?Q?c?=") == "ab plain c"


def test_broken_encoded_words_are_tolerated():
    assert decode_words("=?utf-8?B?!!notbase64!!?= ok") == "=?utf-8?B?!!notbase64!!?= ok"
    assert decode_words("=?x-no-such-charset?Q?caf=C3=A9?=") == "café"  # unknown charset → UTF-8 guess
    assert decode_words("=?utf-8?Q?unterminated") == "unterminated"  # a lost "?=" is forgiven at the very end
    assert decode_words("no encoded words") == "no encoded words"


def test_decode_text_guesses_for_unreliable_labels():
    assert decode_text("é".encode(), "us-ascii") == "é"
    assert decode_text("é".encode("cp1252"), "utf-8") == "é"
    assert decode_text("\u2019".encode("cp1252"), "iso-8859-1") == "\u2019"  # WHATWG: latin-1 means cp1252


# --------------------------------------------------------------------------- addresses


def test_group_syntax_yields_members_only():
    assert emails("undisclosed-recipients:;") == []
    assert emails("unlisted-recipients:; (no To-header on input)") == []
    assert emails("Team: a@example.com, B <b@example.org>;, c@example.net") == [
        "a@example.com",
        "b@example.org",
        "c@example.net",
    ]


def test_comments_and_nested_comments():
    assert pairs("john@example.com (John (the boss) Doe)") == [("john@example.com", "John (the boss) Doe")]
    assert pairs("Jane (work) <jane@example.com>") == [("jane@example.com", "Jane")]


def test_quoted_names_with_commas_and_at_signs():
    assert pairs('"Doe, John" <John.Doe@Example.COM>, "x@y (admin)" <admin@example.org>') == [
        ("john.doe@example.com", "Doe, John"),
        ("admin@example.org", "x@y (admin)"),
    ]


def test_unquoted_last_first_is_kept_together():
    assert pairs("Doe, John <john@example.com>, jane@example.org") == [
        ("john@example.com", "Doe, John"),
        ("jane@example.org", None),
    ]


def test_angle_bare_route_and_obsolete_forms():
    assert emails("<a@example.com>") == ["a@example.com"]
    assert emails("<@relay1.example,@relay2.example:user@Example.com>") == ["user@example.com"]
    assert emails("john . doe @ example . com") == ["john.doe@example.com"]
    assert emails('"john doe"@example.com') == ['"john doe"@example.com']
    assert emails("a@example.com b@example.org") == ["a@example.com", "b@example.org"]  # missing comma
    assert emails("Sales <mailto:sales@example.com>") == ["sales@example.com"]


def test_address_is_lowercased_but_original_is_kept():
    [address] = parse_addresses("Big Boss <Big.Boss@Example.COM>")
    assert address == Address("big.boss@example.com", "Big Boss", "Big.Boss@Example.COM")


def test_idn_domains_become_unicode_u_labels():
    assert emails("x@xn--bcher-kva.example") == ["x@bücher.example"]
    assert emails("x@BÜCHER.example") == ["x@bücher.example"]
    assert normalise_email("x@xn--zz.example") == ("x@xn--zz.example", None)  # invalid A-label: lower-cased


def test_encoded_word_hiding_a_whole_address_is_decoded():
    hidden = base64.b64encode("Jörg Schmidt <joerg@example.de>".encode()).decode()
    assert pairs(f"=?utf-8?B?{hidden}?=") == [("joerg@example.de", "Jörg Schmidt")]


def test_encoded_display_name():
    assert pairs("=?iso-8859-1?Q?Ren=E9_Dupont?= <rene@example.fr>") == [("rene@example.fr", "René Dupont")]


@pytest.mark.parametrize(
    ("value", "reason"),
    [("not an address", "junk address"), ("@example.com", "empty local part"), ("user@", "empty domain")],
)
def test_junk_addresses_are_defects_not_crashes(value, reason):
    defects: list[str] = []
    assert emails(value, defects) == []
    assert any(reason in defect for defect in defects)


def test_plus_tag_key():
    [address] = parse_addresses("John <john+newsletters@example.com>")
    assert address.email == "john+newsletters@example.com"
    assert address.key == "john@example.com"
    assert Address("+only@example.com").key == "+only@example.com"


# --------------------------------------------------------------------------- display names


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ('  "John    Doe"  ', "John Doe"),
        ("'Geege Schuman'", "Geege Schuman"),
        ("Michiel Buddingh'", "Michiel Buddingh'"),  # a trailing apostrophe can be part of a name
        ("john@example.com", None),
        ("'john@example.com'", None),
        ("John Doe (john@example.com)", "John Doe"),
        ("John Doe <john@example.com>", "John Doe"),
        ("'John Doe' via Linux Users", None),  # the relay's address is not John's
        ("Jane Roe (via Twitter)", None),
        ("Maria Via", "Maria Via"),
        ("Maria Via Rossi", "Maria Via Rossi"),
        ("Doe, John", "Doe, John"),
        ("", None),
        ('""', None),
    ],
)
def test_clean_display_name(name, expected):
    assert clean_display_name(name, "john@example.com") == expected


# --------------------------------------------------------------------------- ids and dates


def test_msg_ids_are_robust_to_junk():
    assert parse_msg_ids("<a@x> (comment) \"quoted\" <b@y>\r\n\t<c@z>") == ["a@x", "b@y", "c@z"]
    assert parse_msg_ids('<parent@x> from "John" at 10:00') == ["parent@x"]
    assert parse_msg_ids("bare-id@example.com") == ["bare-id@example.com"]
    assert parse_msg_ids("") == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Mon, 2 Sep 2002 12:00:00 +0100", "2002-09-02T11:00:00+00:00"),
        ("2 Sep 02 1:00 PST", "2002-09-02T09:00:00+00:00"),
        ("Thu, 22 Aug 0102 12:07:35 +0800", "2002-08-22T04:07:35+00:00"),  # years since 1900
        ("Tue, 3 Sep 2002 10:11:12 -0000 (GMT)", "2002-09-03T10:11:12+00:00"),
        ("2002-09-04T10:11:00+02:00", "2002-09-04T08:11:00+00:00"),
        ("sent on 4 September 2002 at 10:11 +0000 from my phone", "2002-09-04T10:11:00+00:00"),
        ("Wednesday, 4 Sep 2002 10:11 PM", "2002-09-04T22:11:00+00:00"),
        ("4 Sep 2002 12:11 AM GMT", "2002-09-04T00:11:00+00:00"),
        ("2002/09/14 Sat 02:29:32 CDT", "2002-09-14T07:29:32+00:00"),
    ],
)
def test_dates_become_iso_utc(value, expected):
    assert parse_date(value) == expected


@pytest.mark.parametrize(
    ("value", "defect"),
    [
        ("garbage", "unparseable date"),
        ("Tue, 32 Jan 2002 10:00:00 +0000", "invalid date"),
        ("Sat, 01 Jan 2199 00:00:00 GMT", "absurd date"),
        ("Thu, 01 Jan 1970 00:00:00 +0000", "absurd date"),
    ],
)
def test_bad_dates_give_none_and_a_defect(value, defect):
    defects: list[str] = []
    assert parse_date(value, defects) is None
    assert defects and defects[0].startswith(defect)


# --------------------------------------------------------------------------- body


def test_content_type_parameters_including_rfc2231():
    content_type = parse_content_type(
        'Multipart/Mixed; boundary="=_b; x"; charset*=utf-8\'\'%C3%A9; name*0="a"; name*1="b"'
    )
    assert content_type.mime_type == "multipart/mixed"
    assert content_type.params == {"boundary": "=_b; x", "charset": "é", "name": "ab"}
    assert parse_content_type("garbage").mime_type == "text/plain"
    missing_semicolon = parse_content_type("text/html charset=windows-1252")
    assert (missing_semicolon.mime_type, missing_semicolon.params) == ("text/html", {"charset": "windows-1252"})


def test_empty_text_part_falls_back_to_the_html_part():
    body = b"--b\nContent-Type: text/plain\n\n \n--b\nContent-Type: text/html\n\n<p>real text</p>\n--b--\n"
    assert extract_body("multipart/alternative; boundary=b", None, body) == "real text"
    assert extract_body("text/plain", None, b"\r\n") == ""


MULTIPART = (
    b"--outer\r\n"
    b"Content-Type: multipart/alternative; boundary=inner\r\n\r\n"
    b"--inner\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n\r\n"
    b"<p>html version</p>\r\n"
    b"--inner\r\n"
    b"Content-Type: text/plain; charset=iso-8859-1\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    b"Gr=FC=DFe,\r\nJ=F6rg\r\n"
    b"--inner--\r\n"
    b"--outer\r\n"
    b"Content-Type: text/plain\r\nContent-Disposition: attachment; filename=a.txt\r\n\r\n"
    b"attachment text\r\n"
    b"--outer--\r\n"
)


def test_first_text_plain_part_is_found_through_nested_multiparts():
    assert extract_body('multipart/mixed; boundary="outer"', None, MULTIPART) == "Grüße,\nJörg"


def test_html_only_body_is_converted_to_text():
    html = b"<html><head><style>p{}</style><title>T</title></head><body><p>Hi&nbsp;there</p><div>a<br>b</div>"
    html += b"<script>x()</script><table><tr><td>1</td><td>2</td></tr></table><ul><li>one<li>two</ul></body></html>"
    body = base64.b64encode(html)
    assert extract_body("text/html; charset=utf-8", "base64", body) == "Hi there\n\na\nb\n\n1 2\n\none\ntwo"


def test_html_to_text_keeps_pre_lines_and_drops_comments():
    assert html_to_text("<pre>a\n  b</pre><!-- hidden -->c &amp; d") == "a\nb\nc & d"


def test_html_to_text_tolerates_broken_markup():
    assert html_to_text("<p>kept<script>never closed <p>hidden") == "kept"  # as a browser does
    assert html_to_text("a < b and <b>bold</b> &bogus; &#0; text") == "a < b and bold &bogus; \ufffd text"
    assert html_to_text("<a href='x'>link</a>\u200b&nbsp;&nbsp;end") == "link end"


def test_body_cap_and_truncated_multibyte_character():
    text = "é" * 50
    assert extract_body("text/plain; charset=utf-8", "8bit", text.encode(), cap=10) == "é" * 10
    assert extract_body("text/plain; charset=utf-8", "base64", base64.b64encode(text.encode()), cap=7) == "é" * 7


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("multipart/mixed", b"--guess\nContent-Type: text/plain\n\nfound\n--guess--\n", "found"),  # no boundary
        ("multipart/mixed; boundary=nope", b"just text", "just text"),  # boundary never appears
        ("multipart/mixed; boundary=b", b"--b\nContent-Type: text/plain\n\nno close delimiter", "no close delimiter"),
        ("application/pdf", b"%PDF-1.4", None),
    ],
)
def test_malformed_mime_never_crashes(content_type, body, expected):
    defects: list[str] = []
    assert extract_body(content_type, None, body, defects=defects) == expected


def test_bad_base64_body_keeps_what_decodes():
    defects: list[str] = []
    assert extract_body("text/plain", "base64", b"aGVsbG8g!!d29ybGQ=", defects=defects) == "hello world"
    assert defects == ["invalid base64 characters in body"]


# --------------------------------------------------------------------------- extract_message

MESSAGE = """\
Return-Path: <bounce@lists.example.org>
Delivered-To: Me+Lists@Example.com
X-Original-To: me@example.com
Delivered-To: me@example.com
From: =?utf-8?Q?J=C3=B6rg_M=C3=BCller?= <Joerg@Example.DE>
Sender: list-owner@lists.example.org
Reply-To: "Doe, John" <john@example.com>
To: undisclosed-recipients:;
Cc: Jane <jane@example.org>, Jane Roe <JANE@example.org>, a@xn--bcher-kva.example
Bcc: secret@example.net
Resent-From: forwarder@example.net
List-Post: <mailto:talk@lists.example.org?subject=hi>, <https://example.org/post>
List-Id: Talk <talk.lists.example.org>
List-Unsubscribe: <mailto:leave@lists.example.org>
X-Mailgun-Sid: abc
Precedence: list
Message-ID: <abc123@mail.example.de>
In-Reply-To: <parent@mail.example.com> (John's message)
References: <root@x> junk <parent@mail.example.com>
Date: Mon, 2 Sep 2002 12:00:00 +0100
Subject: =?iso-8859-1?Q?Gr=FC=DFe?= from the list
Content-Type: text/plain; charset=utf-8

Hello,
--\x20
Jörg
"""


def test_extract_message_fields():
    record = extract_message(raw(MESSAGE), body_cap=100)
    assert record.message_id == "abc123@mail.example.de"
    assert record.in_reply_to == "parent@mail.example.com"
    assert record.references == ["root@x", "parent@mail.example.com"]
    assert record.date == "2002-09-02T11:00:00+00:00"
    assert record.subject == "Grüße from the list"
    assert record.body == "Hello,\n-- \nJörg\n"
    assert record.delivered_to == ["me+lists@example.com", "me@example.com"]
    assert (record.mining_id, record.folder, record.uid) == ("mining", "INBOX", "1")
    points = [(p.field, p.email, p.name) for p in record.points]
    assert points == [
        (Field.FROM, "joerg@example.de", "Jörg Müller"),
        (Field.SENDER, "list-owner@lists.example.org", None),
        (Field.REPLY_TO, "john@example.com", "Doe, John"),
        (Field.CC, "jane@example.org", "Jane"),  # duplicate address: one point
        (Field.CC, "a@bücher.example", None),
        (Field.BCC, "secret@example.net", None),
        (Field.RESENT_FROM, "forwarder@example.net", None),
        (Field.LIST_POST, "talk@lists.example.org", None),
    ]
    assert all(p.message_id == record.message_id for p in record.points)
    assert record.sender is not None and record.sender.email == "joerg@example.de"


def test_extract_message_keeps_tagging_headers_only():
    record = extract_message(raw(MESSAGE))
    assert record.headers["list-id"] == "Talk <talk.lists.example.org>"
    assert record.headers["list-unsubscribe"] == "<mailto:leave@lists.example.org>"
    assert record.headers["precedence"] == "list"
    assert record.headers["x-mailgun-sid"] == "abc"
    assert record.headers["return-path"] == "<bounce@lists.example.org>"
    assert "subject" not in record.headers and "message-id" not in record.headers
    assert "list-id" in TAGGING_HEADERS and "x-mailgun-" in TAGGING_HEADER_PREFIXES


def test_missing_message_id_is_synthesised_stably_from_headers_only():
    message = "Received: from a by b; Mon, 2 Sep 2002\nFrom: a@example.com\nDate: Mon, 2 Sep 2002 12:00:00 +0100\nSubject: hi\n\nbody text\n"
    first = extract_message(raw(message, uid="1"))
    second = extract_message(raw(message, uid="2"))
    assert first.message_id == second.message_id
    assert first.message_id.startswith("sha1:") and len(first.message_id) == 45
    # the same message with another body (IMAP fetches only the first text part) keeps its id …
    assert extract_message(raw(message.replace("body text", "other text"))).message_id == first.message_id
    # … another delivery or another subject does not
    assert extract_message(raw(message.replace("from a by b", "from c by d"))).message_id != first.message_id
    assert extract_message(raw(message.replace("Subject: hi", "Subject: ho"))).message_id != first.message_id


def test_duplicate_from_headers_are_all_mined_with_a_defect():
    record = extract_message(raw("From: a@example.com\nFrom: b@example.com\nSubject: x\n\n"))
    assert [p.email for p in record.points] == ["a@example.com", "b@example.com"]
    assert "duplicate header: from" in record.defects


def test_bad_date_and_junk_address_are_tolerated():
    record = extract_message(raw("From: nobody\nTo: ok@example.com\nDate: yesterday\n\nhi"))
    assert [p.email for p in record.points] == ["ok@example.com"]
    assert record.date is None
    assert any(d.startswith("unparseable date") for d in record.defects)
    assert any(d.startswith("junk address") for d in record.defects)


def test_headers_only_message_has_no_body():
    record = extract_message(raw("From: a@example.com\nSubject: x"))
    assert record.body is None and record.subject == "x"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty message"),
        (b"  \r\n\r\n", "empty message"),
        (b"\x89PNG\r\n\x1a\n binary", "no header block"),
        (b"hello: this is prose, not mail\n\nmore prose", "no message headers"),
    ],
)
def test_extract_error_only_when_nothing_is_usable(data, reason):
    with pytest.raises(ExtractError) as error:
        extract_message(raw(data))
    assert error.value.reason.startswith(reason)


def test_unterminated_encoded_word_is_decoded_leniently():
    from leadminer.headers import decode_words, parse_address_list

    assert decode_words("=?utf-8?Q?Ren=C3=A9e_Lambert") == "Renée Lambert"
    assert decode_words("Hi =?iso-8859-1?q?J=FCrgen") == "Hi Jürgen"
    assert decode_words("=?utf-8?Q?ok?= and =?bad") == "ok and =?bad"
    assert parse_address_list("=?utf-8?Q?Ren=C3=A9e_Lambert <r@x.example>")[0][1] == "Renée Lambert"


def test_x_from_names_a_sender_whose_from_has_no_display_name():
    from leadminer.contracts import RawMessage
    from leadminer.extract import extract_message

    def sender_name(headers: bytes) -> str | None:
        raw = RawMessage("m", "f", "1", headers + b"Subject: s\r\n\r\nbody\r\n")
        return extract_message(raw).sender.name

    assert sender_name(b"From: sally.beck@enron.com\r\nX-From: Beck, Sally </O=ENRON/OU=NA/CN=SBECK>\r\n") == "Beck, Sally"
    assert sender_name(b"From: tana.jones@enron.com\r\nX-From: Tana Jones\r\n") == "Tana Jones"
    assert sender_name(b"From: a@x.example\r\nX-From: ARSystem@mailman.enron.com\r\n") is None
    assert sender_name(b"From: Real Name <a@x.example>\r\nX-From: Other\r\n") == "Real Name"
