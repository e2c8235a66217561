"""Exports: vCard 4.0 through a strict RFC 6350 reader (and vobject), CSV through
the csv module, JSON keys; escaping, folding and formula neutralisation."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timezone

import pytest

from leadminer.contracts import RefinedPerson
from leadminer.export import (
    GOOGLE_FIXED_HEADER,
    OUTLOOK_HEADER,
    escape_component,
    escape_text,
    fold,
    neutralise_cell,
    render,
    to_csv,
    to_json,
    to_vcard,
    write_export,
)

REV = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def claire() -> RefinedPerson:
    return RefinedPerson(
        user_id="u1",
        email="claire.dubois@fabrique-lumiere.fr",
        name='Claire Dubois, PhD; "CD" \\ ops',
        given_name="Claire",
        family_name="Dubois; de la Tour, née Roy",
        alternate_emails=["c.dubois@fabrique-lumiere.fr"],
        occurrence=12,
        sender=5,
        recipient=4,
        conversations=3,
        replied_conversations=2,
        first_seen="2024-03-04T08:30:00Z",
        last_seen="2024-05-01T10:00:00Z",
        tags=["professional", "odd,tag;x"],
        status="valid",
        temperature=81,
        job_title="Directrice des opérations; R&D, Europe",
        organization="Fabrique Lumière; SAS",
        telephone=["+33199001234", "+33612345678"],
        address="12 rue des Lilas, 75011 Paris\nFrance",
        url="https://www.fabrique-lumiere.fr",
        same_as=["https://www.linkedin.com/in/claire-dubois-fl", "https://github.com/cdubois"],
    )


def long_unicode() -> RefinedPerson:
    name = "Zoë Ångström-Müller 中文名字测试 " * 4 + "🙂"
    return RefinedPerson(
        user_id="u1",
        email="zoe@müller.de",
        name=name.strip(),
        given_name="Zoë",
        family_name="Ångström-Müller",
        tags=["personal"],
        job_title="Ingénieure " * 12,
    )


def bare() -> RefinedPerson:
    return RefinedPerson(user_id="u1", email="=cmd|' /C calc'!A0@evil.example", name="-2+3")


# --------------------------------------------------------------------------- #
# A strict RFC 6350 reader, independent of the writer
# --------------------------------------------------------------------------- #


def unfold(text: str) -> list[str]:
    assert "\n" not in text.replace("\r\n", ""), "bare LF or CR in the stream"
    assert text.endswith("\r\n")
    return text[:-2].replace("\r\n ", "").replace("\r\n\t", "").split("\r\n")


def split_unescaped(value: str, sep: str) -> list[str]:
    parts, current, i = [], [], 0
    while i < len(value):
        ch = value[i]
        if ch == "\\":
            current.append(value[i : i + 2])
            i += 2
            continue
        if ch == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return parts


def unescape(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        if value[i] == "\\":
            nxt = value[i + 1]
            assert nxt in "\\,;nN", f"invalid escape \\{nxt}"
            out.append("\n" if nxt in "nN" else nxt)
            i += 2
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


LINE = re.compile(r'^(?P<name>[A-Za-z0-9-]+)(?P<params>(?:;[A-Za-z0-9-]+=(?:"[^"]*"|[^";:]*))*):(?P<value>.*)$')


def parse_cards(text: str) -> list[list[tuple[str, dict[str, str], str]]]:
    cards, current = [], None
    for line in unfold(text):
        match = LINE.match(line)
        assert match, f"malformed content line: {line!r}"
        name, value = match["name"].upper(), match["value"]
        params = {}
        for raw in re.findall(r';([A-Za-z0-9-]+)=("[^"]*"|[^";:]*)', match["params"]):
            key, val = raw
            params[key.upper()] = val.strip('"').replace("^n", "\n").replace("^'", '"').replace("^^", "^")
        if name == "BEGIN":
            assert value == "VCARD" and current is None
            current = []
        elif name == "END":
            cards.append(current)
            current = None
        else:
            current.append((name, params, value))
    assert current is None
    return cards


def props(card, name):
    return [(params, value) for n, params, value in card if n == name]


# --------------------------------------------------------------------------- #
# vCard
# --------------------------------------------------------------------------- #


def test_vcard_round_trips_through_a_strict_reader():
    person = claire()
    [card] = parse_cards(to_vcard([person], rev=REV))
    assert card[0] == ("VERSION", {}, "4.0"), "VERSION must follow BEGIN"
    assert unescape(props(card, "FN")[0][1]) == person.name
    family, given, *rest = split_unescaped(props(card, "N")[0][1], ";")
    assert (unescape(family), unescape(given), rest) == (person.family_name, person.given_name, ["", "", ""])
    assert [unescape(v) for _, v in props(card, "EMAIL")] == [person.email, *person.alternate_emails]
    assert props(card, "EMAIL")[0][0] == {"TYPE": "work", "PREF": "1"}
    tels = {v: p["TYPE"] for p, v in props(card, "TEL")}
    assert tels == {"tel:+33199001234": "work,voice", "tel:+33612345678": "cell"}
    assert [unescape(c) for c in split_unescaped(props(card, "ORG")[0][1], ";")] == [person.organization]
    assert unescape(props(card, "TITLE")[0][1]) == person.job_title
    adr_params, adr = props(card, "ADR")[0]
    components = [unescape(c) for c in split_unescaped(adr, ";")]
    assert components == ["", "", person.address, "", "", "", ""]
    assert adr_params["LABEL"] == person.address
    urls = [v for _, v in props(card, "URL")]
    assert urls == [person.url, *person.same_as]
    social = {p.get("SERVICE-TYPE"): v for p, v in props(card, "SOCIALPROFILE")}
    assert social == {"LinkedIn": person.same_as[0], "GitHub": person.same_as[1]}
    categories = [unescape(c) for c in split_unescaped(props(card, "CATEGORIES")[0][1], ",")]
    assert categories == person.tags
    note = unescape(props(card, "NOTE")[0][1])
    assert "Temperature: 81" in note and "\n" in note
    assert props(card, "REV")[0][1] == "20240501T120000Z"


def test_vcard_escaping_distinguishes_text_from_components():
    assert escape_text("a;b,c\\d\ne") == "a;b\\,c\\\\d\\ne"
    assert escape_component("a;b,c\\d\ne") == "a\\;b\\,c\\\\d\\ne"
    assert escape_text("x\r\ny\rz") == "x\\ny\\nz"


def test_vcard_lines_fold_at_75_octets_without_splitting_characters():
    text = to_vcard([long_unicode(), claire()], rev=REV)
    physical = text.split("\r\n")[:-1]
    assert max(len(line.encode()) for line in physical) <= 75
    assert any(len(line.encode()) > 70 for line in physical), "test data must reach the fold limit"
    for line in physical:
        line.encode("utf-8").decode("utf-8")  # every physical line is whole UTF-8
    [card, _] = parse_cards(text)
    assert unescape(props(card, "FN")[0][1]) == long_unicode().name


@pytest.mark.parametrize("text", ["a" * 200, "é" * 100, "中" * 60 + "a", "a" + "🙂" * 40])
def test_fold_preserves_content(text):
    folded = fold("NOTE:" + text)
    assert all(len(line.encode()) <= 75 for line in folded.split("\r\n"))
    assert folded.replace("\r\n ", "") == "NOTE:" + text


def test_vcard_minimal_contact_falls_back_to_email_and_has_no_empty_properties():
    [card] = parse_cards(to_vcard([bare()], rev=REV))
    names = [n for n, _, _ in card]
    assert unescape(props(card, "FN")[0][1]) == "-2+3"
    for absent in ("N", "TEL", "ORG", "TITLE", "ADR", "URL", "CATEGORIES"):
        assert absent not in names
    unnamed = RefinedPerson(user_id="u", email="x@example.com")
    [card] = parse_cards(to_vcard([unnamed], rev=REV))
    assert props(card, "FN")[0][1] == "x@example.com"


def test_vcard_requires_an_aware_rev():
    with pytest.raises(ValueError):
        to_vcard([claire()], rev=datetime(2024, 1, 1))


def test_vcard_parses_with_vobject():
    vobject = pytest.importorskip("vobject")
    people = [claire(), long_unicode(), bare()]
    cards = list(vobject.readComponents(to_vcard(people, rev=REV)))
    assert len(cards) == 3
    card = cards[0]
    person = people[0]
    assert card.fn.value == person.name
    assert (card.n.value.family, card.n.value.given) == (person.family_name, person.given_name)
    assert card.org.value == [person.organization]
    assert card.title.value == person.job_title
    assert card.adr.value.street == person.address
    assert card.categories.value == person.tags
    assert [t.value for t in card.tel_list] == ["tel:+33199001234", "tel:+33612345678"]
    assert cards[1].fn.value == people[1].name


# --------------------------------------------------------------------------- #
# CSV
# --------------------------------------------------------------------------- #


def read_csv(text: str) -> list[dict[str, str]]:
    assert "\r\n" in text
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline="")))


def test_outlook_csv_columns_and_values():
    person = claire()
    text = to_csv([person, bare()])
    header = next(csv.reader(io.StringIO(text)))
    assert tuple(header) == OUTLOOK_HEADER and len(header) == 61
    row = read_csv(text)[0]
    assert row["First Name"] == "Claire"
    assert row["Last Name"] == person.family_name
    assert row["E-mail Address"] == person.email
    assert row["E-mail 2 Address"] == "c.dubois@fabrique-lumiere.fr"
    assert row["Business Phone"] == "+33199001234"
    assert row["Mobile Phone"] == "+33612345678"
    assert row["Company"] == person.organization
    assert row["Job Title"] == person.job_title
    assert row["Business Street"] == person.address
    assert row["Web Page"] == person.url
    assert row["Personal Web Page"] == person.same_as[0]
    assert "Temperature: 81" in row["Notes"] and "odd,tag;x" in row["Notes"]
    assert person.same_as[1] in row["Notes"]


def test_google_csv_columns_and_values():
    person = claire()
    rows = read_csv(to_csv([person, long_unicode()], style="google"))
    header = list(rows[0])
    assert tuple(header[: len(GOOGLE_FIXED_HEADER)]) == GOOGLE_FIXED_HEADER
    row = rows[0]
    assert (row["First Name"], row["Last Name"]) == ("Claire", person.family_name)
    assert (row["E-mail 1 - Label"], row["E-mail 1 - Value"]) == ("* Work", person.email)
    assert row["E-mail 2 - Value"] == person.alternate_emails[0]
    phones = {row[f"Phone {i} - Value"]: row[f"Phone {i} - Label"] for i in (1, 2)}
    assert phones == {"+33199001234": "Work", "+33612345678": "Mobile"}
    assert row["Organization Name"] == person.organization
    assert row["Organization Title"] == person.job_title
    assert row["Address 1 - Formatted"] == person.address
    assert [row[f"Website {i} - Value"] for i in (1, 2, 3)] == [person.url, *person.same_as]
    assert row["Labels"].split(" ::: ") == ["* myContacts", *person.tags]
    custom = {row[f"Custom Field {i} - Label"]: row[f"Custom Field {i} - Value"] for i in range(1, 10)}
    assert custom["Temperature"] == "81" and custom["Occurrence"] == "12"
    assert rows[1]["E-mail 1 - Label"] == "* Home"
    assert rows[1]["E-mail 2 - Value"] == "" and rows[1]["Website 3 - Value"] == ""


def test_csv_neutralises_formulas_but_keeps_e164_phones():
    rows = read_csv(to_csv([bare(), claire()]))
    assert rows[0]["First Name"] == "'-2+3"
    assert rows[0]["E-mail Address"] == "'=cmd|' /C calc'!A0@evil.example"
    assert rows[1]["Business Phone"] == "+33199001234"
    for cell in ("=1+1", "+SUM(A1)", "-1", "@x", "\tx", "\rx", "+33 6 12"):
        assert neutralise_cell(cell).startswith("'")
    assert neutralise_cell("+447400123456") == "+447400123456"
    assert neutralise_cell("plain") == "plain"


def test_csv_bom_and_quoting():
    text = to_csv([claire()], bom=True)
    assert text.startswith("\ufeffFirst Name,")
    assert '"12 rue des Lilas, 75011 Paris\nFrance"' in text
    assert not to_csv([claire()]).startswith("\ufeff")
    with pytest.raises(ValueError, match="unknown CSV style"):
        to_csv([claire()], style="excel")


# --------------------------------------------------------------------------- #
# JSON and dispatch
# --------------------------------------------------------------------------- #


def test_json_keys_order_and_optional_signature_fields():
    data = json.loads(to_json([claire(), bare()]))
    core = ["email", "name", "given_name", "family_name", "alternate_names", "alternate_emails", "occurrence",
            "sender", "recipient", "conversations", "replied_conversations", "first_seen", "last_seen", "tags",
            "status", "temperature"]  # fmt: skip
    assert list(data[0]) == core + ["job_title", "organization", "telephone", "address", "url", "same_as"]
    assert list(data[1]) == core, "empty signature fields are left out"
    assert data[0]["telephone"] == ["+33199001234", "+33612345678"]
    assert "Lumière" in to_json([claire()]), "non-ASCII kept as is"


def test_write_export_to_path_and_stream(tmp_path):
    people = [claire(), long_unicode()]
    target = tmp_path / "contacts.vcf"
    write_export(people, "vcf", target, rev=REV)
    assert target.read_bytes() == to_vcard(people, rev=REV).encode("utf-8")
    assert b"\r\n" in target.read_bytes() and b"\r\r\n" not in target.read_bytes()
    stream = io.StringIO(newline="")
    write_export(people, "csv", stream, style="google", bom=True)
    assert stream.getvalue() == to_csv(people, style="google", bom=True)
    assert render(people, "JSON") == to_json(people)


def test_write_export_rejects_unknown_format_and_leaves_the_file(tmp_path):
    target = tmp_path / "contacts.json"
    target.write_text("previous export")
    with pytest.raises(ValueError, match="unknown export format"):
        write_export([claire()], "xlsx", target)
    with pytest.raises(TypeError):
        write_export([claire()], "json", target, style="google")
    assert target.read_text() == "previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["contacts.json"]


# --------------------------------------------------------------------------- #
# Benchmarks (run once as tests; measure with --benchmark-enable)
# --------------------------------------------------------------------------- #

PEOPLE_1K = [claire() for _ in range(500)] + [long_unicode() for _ in range(500)]


@pytest.mark.parametrize("fmt", ["json", "csv", "vcard"])
def test_benchmark_export_1000_contacts(benchmark, fmt):
    options = {"rev": REV} if fmt == "vcard" else {}
    text = benchmark(render, PEOPLE_1K, fmt, **options)
    assert text.count("claire.dubois@fabrique-lumiere.fr") >= 500
