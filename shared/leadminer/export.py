"""Contact exports: JSON, CSV (Outlook / Google Contacts layouts) and vCard 4.0.

Pure standard library. Every function takes ``RefinedPerson`` rows (see
``contracts.py``) and returns text; :func:`write_export` writes it to a stream or
a file (atomically). Design notes and the reasons behind each choice are in
``docs/export.md``.

* :func:`to_json` – a JSON list, stable key order, signature keys only when known.
* :func:`to_csv` – ``style="outlook"`` (default: the Outlook template, which both
  Outlook and Google Contacts import) or ``style="google"`` (Google's own layout:
  labels, several phones / websites and custom fields). RFC 4180 quoting, CRLF,
  optional UTF-8 BOM, spreadsheet-formula injection neutralised.
* :func:`to_vcard` – vCard 4.0 (RFC 6350) written by hand: correct TEXT vs.
  component escaping, lines folded at 75 octets without splitting a UTF-8
  sequence, CRLF line endings.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, TextIO

from .contracts import SIGNATURE_FIELDS, RefinedPerson

__all__ = [
    "CSV_STYLES",
    "FORMATS",
    "GOOGLE_FIXED_HEADER",
    "OUTLOOK_HEADER",
    "render",
    "to_csv",
    "to_json",
    "to_vcard",
    "write_export",
]

# --------------------------------------------------------------------------- #
# Column layouts
# --------------------------------------------------------------------------- #

#: The 61 columns of the Outlook contacts CSV template (what Outlook.com / new
#: Outlook export and expect; classic Outlook maps them by name). Google
#: Contacts imports this layout as well.
OUTLOOK_HEADER: tuple[str, ...] = (
    "First Name", "Middle Name", "Last Name", "Title", "Suffix", "Nickname",
    "Given Yomi", "Surname Yomi", "E-mail Address", "E-mail 2 Address",
    "E-mail 3 Address", "Home Phone", "Home Phone 2", "Business Phone",
    "Business Phone 2", "Mobile Phone", "Car Phone", "Other Phone",
    "Primary Phone", "Pager", "Business Fax", "Home Fax", "Other Fax",
    "Company Main Phone", "Callback", "Radio Phone", "Telex", "TTY/TDD Phone",
    "IMAddress", "Job Title", "Department", "Company", "Office Location",
    "Manager's Name", "Assistant's Name", "Assistant's Phone", "Company Yomi",
    "Business Street", "Business City", "Business State", "Business Postal Code",
    "Business Country/Region", "Home Street", "Home City", "Home State",
    "Home Postal Code", "Home Country/Region", "Other Street", "Other City",
    "Other State", "Other Postal Code", "Other Country/Region",
    "Personal Web Page", "Spouse", "Schools", "Hobby", "Location", "Web Page",
    "Birthday", "Anniversary", "Notes",
)  # fmt: skip

#: The fixed leading columns of Google Contacts' own CSV export; numbered groups
#: (``E-mail 1 - Label`` …) follow, as many as the widest contact needs.
GOOGLE_FIXED_HEADER: tuple[str, ...] = (
    "First Name", "Middle Name", "Last Name", "Phonetic First Name",
    "Phonetic Middle Name", "Phonetic Last Name", "Name Prefix", "Name Suffix",
    "Nickname", "File As", "Organization Name", "Organization Title",
    "Organization Department", "Birthday", "Notes", "Photo", "Labels",
)  # fmt: skip

GOOGLE_ADDRESS_COLUMNS: tuple[str, ...] = (
    "Label", "Formatted", "Street", "City", "PO Box", "Region", "Postal Code",
    "Country", "Extended Address",
)  # fmt: skip

#: Leadminer metrics exported as Google custom fields (label, attribute).
METRICS: tuple[tuple[str, str], ...] = (
    ("Occurrence", "occurrence"),
    ("Messages sent", "sender"),
    ("Messages received", "recipient"),
    ("Conversations", "conversations"),
    ("Replied conversations", "replied_conversations"),
    ("First seen", "first_seen"),
    ("Last seen", "last_seen"),
    ("Status", "status"),
    ("Temperature", "temperature"),
)

CSV_STYLES = ("outlook", "google")

# --------------------------------------------------------------------------- #
# JSON
# --------------------------------------------------------------------------- #

_CORE_KEYS = (
    "email", "name", "given_name", "family_name", "alternate_names",
    "alternate_emails", "occurrence", "sender", "recipient", "conversations",
    "replied_conversations", "first_seen", "last_seen", "tags", "status",
    "temperature",
)  # fmt: skip
_SIGNATURE_KEYS = SIGNATURE_FIELDS


def person_record(person: RefinedPerson) -> dict[str, Any]:
    """Plain dict of one person in export key order; empty signature keys left out."""
    record: dict[str, Any] = {}
    for key in _CORE_KEYS:
        value = getattr(person, key)
        record[key] = list(value) if isinstance(value, (list, tuple)) else value
    for key in _SIGNATURE_KEYS:
        value = getattr(person, key, None)
        if value:
            record[key] = list(value) if isinstance(value, (list, tuple)) else value
    return record


def to_json(persons: Iterable[RefinedPerson], *, indent: int | None = 2) -> str:
    """A JSON list of contacts (UTF-8 text, not ASCII-escaped)."""
    return json.dumps([person_record(p) for p in persons], ensure_ascii=False, indent=indent) + "\n"


# --------------------------------------------------------------------------- #
# Shared helpers
# --------------------------------------------------------------------------- #

_E164 = re.compile(r"\+[1-9][0-9]{3,14}")


@lru_cache(maxsize=4096)
def phone_kind(number: str) -> str:
    """``"cell"`` for a mobile number, else ``"voice"``.

    Uses ``phonenumbers`` (a pure-Python project dependency) when importable;
    without it every number is ``"voice"``. FIXED_LINE_OR_MOBILE stays voice.
    """
    try:
        import phonenumbers
    except ImportError:  # pragma: no cover - phonenumbers is a project dependency
        return "voice"
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return "voice"
    return "cell" if phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.MOBILE else "voice"


def _phones(person: RefinedPerson) -> tuple[list[str], list[str], list[str]]:
    """(work/voice numbers, mobile numbers, fax numbers), order kept, deduplicated."""
    fax = list(dict.fromkeys(person.fax))
    voice: list[str] = []
    mobile: list[str] = []
    for number in dict.fromkeys(person.telephone):
        if number in fax:
            continue
        (mobile if phone_kind(number) == "cell" else voice).append(number)
    return voice, mobile, fax


def _name_parts(person: RefinedPerson) -> tuple[str, str]:
    """(given, family); a name that was never split goes whole into *given*."""
    given, family = person.given_name or "", person.family_name or ""
    if not given and not family and person.name:
        given = person.name
    return given, family


def _emails(person: RefinedPerson) -> list[str]:
    return list(dict.fromkeys([person.email, *person.alternate_emails]))


def notes_text(person: RefinedPerson, *, profiles: bool = True) -> str:
    """Human-readable Leadminer summary for a notes field (``profiles``: list same_as)."""
    parts = [
        f"Occurrence: {person.occurrence}",
        f"Messages sent: {person.sender}",
        f"Messages received: {person.recipient}",
        f"Conversations: {person.conversations} ({person.replied_conversations} replied)",
    ]
    if person.first_seen or person.last_seen:
        parts.append(f"Seen: {person.first_seen or '?'} to {person.last_seen or '?'}")
    parts.append(f"Status: {person.status}")
    parts.append(f"Temperature: {person.temperature}")
    if person.tags:
        parts.append("Tags: " + ", ".join(person.tags))
    if profiles and person.same_as:
        parts.append("Profiles: " + " ".join(person.same_as))
    if person.alternate_names:
        parts.append("Also known as: " + "; ".join(person.alternate_names))
    return "Leadminer\n" + "\n".join(parts)


# --------------------------------------------------------------------------- #
# CSV
# --------------------------------------------------------------------------- #

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: str) -> str:
    """Prefix ``'`` to a cell a spreadsheet would run as a formula.

    A bare E.164 number (``+33612345678``) is left alone: it cannot hold a
    function call, and importers would otherwise keep the quote in the phone.
    """
    if value.startswith(_FORMULA_START) and not _E164.fullmatch(value):
        return "'" + value
    return value


def _outlook_row(person: RefinedPerson) -> dict[str, str]:
    given, family = _name_parts(person)
    voice, mobile, fax = _phones(person)
    emails = _emails(person)
    row = {
        "First Name": given,
        "Last Name": family,
        "E-mail Address": emails[0],
        "E-mail 2 Address": emails[1] if len(emails) > 1 else "",
        "E-mail 3 Address": emails[2] if len(emails) > 2 else "",
        "Business Phone": voice[0] if voice else "",
        "Business Phone 2": voice[1] if len(voice) > 1 else "",
        "Mobile Phone": mobile[0] if mobile else "",
        "Other Phone": " ".join(voice[2:] + mobile[1:]),
        "Business Fax": fax[0] if fax else "",
        "Other Fax": " ".join(fax[1:]),
        "Job Title": person.job_title or "",
        "Company": person.organization or "",
        "Business Street": person.address or "",
        "Web Page": person.url or "",
        "Personal Web Page": person.same_as[0] if person.same_as else "",
        "Notes": notes_text(person),
    }
    return row


def _google_rows(persons: Sequence[RefinedPerson]) -> tuple[list[str], list[dict[str, str]]]:
    width_emails = max([1, *(len(_emails(p)) for p in persons)])
    width_phones = max([1, *(sum(map(len, _phones(p))) for p in persons)])
    width_sites = max([1, *(bool(p.url) + len(p.same_as) for p in persons)])
    header = list(GOOGLE_FIXED_HEADER)
    for i in range(1, width_emails + 1):
        header += [f"E-mail {i} - Label", f"E-mail {i} - Value"]
    for i in range(1, width_phones + 1):
        header += [f"Phone {i} - Label", f"Phone {i} - Value"]
    header += [f"Address 1 - {column}" for column in GOOGLE_ADDRESS_COLUMNS]
    for i in range(1, width_sites + 1):
        header += [f"Website {i} - Label", f"Website {i} - Value"]
    for i in range(1, len(METRICS) + 1):
        header += [f"Custom Field {i} - Label", f"Custom Field {i} - Value"]

    rows = []
    for person in persons:
        given, family = _name_parts(person)
        row = {
            "First Name": given,
            "Last Name": family,
            "Organization Name": person.organization or "",
            "Organization Title": person.job_title or "",
            "Notes": notes_text(person, profiles=False),
            "Labels": " ::: ".join(["* myContacts", *person.tags]),
        }
        kind = "Home" if "personal" in person.tags else "Work"
        for i, email in enumerate(_emails(person), 1):
            row[f"E-mail {i} - Label"] = f"* {kind}" if i == 1 else "Other"
            row[f"E-mail {i} - Value"] = email
        voice, mobile, fax = _phones(person)
        labelled = [("Work", n) for n in voice] + [("Mobile", n) for n in mobile] + [("Work Fax", n) for n in fax]
        for i, (label, number) in enumerate(labelled, 1):
            row[f"Phone {i} - Label"], row[f"Phone {i} - Value"] = label, number
        if person.address:
            row["Address 1 - Label"] = "Work"
            row["Address 1 - Formatted"] = person.address
            row["Address 1 - Street"] = person.address
        sites = ([("Work", person.url)] if person.url else []) + [("Profile", u) for u in person.same_as]
        for i, (label, url) in enumerate(sites, 1):
            row[f"Website {i} - Label"], row[f"Website {i} - Value"] = label, url
        for i, (label, attribute) in enumerate(METRICS, 1):
            value = getattr(person, attribute)
            row[f"Custom Field {i} - Label"] = label
            row[f"Custom Field {i} - Value"] = "" if value is None else str(value)
        rows.append(row)
    return header, rows


def to_csv(persons: Iterable[RefinedPerson], *, style: str = "outlook", bom: bool = False) -> str:
    """Contacts as CSV for an address-book importer.

    ``style="outlook"`` (default) writes the Outlook template, which Outlook
    (classic, new, Outlook.com) and Google Contacts both import.
    ``style="google"`` writes Google Contacts' own layout (labels, every phone,
    website and Leadminer metric as its own column). ``bom=True`` starts the
    text with U+FEFF so Excel and classic Outlook read it as UTF-8.
    """
    if style not in CSV_STYLES:
        raise ValueError(f"unknown CSV style {style!r}; expected one of {', '.join(CSV_STYLES)}")
    persons = list(persons)
    if style == "outlook":
        header, rows = list(OUTLOOK_HEADER), [_outlook_row(p) for p in persons]
    else:
        header, rows = _google_rows(persons)
    buffer = io.StringIO()
    writer = csv.writer(buffer, dialect="excel", lineterminator="\r\n")  # RFC 4180
    writer.writerow(header)
    for row in rows:
        writer.writerow([neutralise_cell(row.get(column, "")) for column in header])
    return ("\ufeff" if bom else "") + buffer.getvalue()


# --------------------------------------------------------------------------- #
# vCard 4.0 (RFC 6350)
# --------------------------------------------------------------------------- #

PRODID = "-//Leadminer//Contact export//EN"
_FOLD_OCTETS = 75
_SOCIAL_SERVICES = {
    "linkedin.com": "LinkedIn",
    "github.com": "GitHub",
    "gitlab.com": "GitLab",
    "twitter.com": "X",
    "x.com": "X",
    "facebook.com": "Facebook",
    "instagram.com": "Instagram",
    "youtube.com": "YouTube",
    "medium.com": "Medium",
    "xing.com": "XING",
}
_NEWLINES = re.compile(r"\r\n|\r|\n")
_PARAM_SAFE = re.compile(r"[^\x00-\x1f\x7f\";:,]*")


def escape_text(value: str) -> str:
    """Escape a TEXT value (RFC 6350 §3.4): backslash, comma, newline.

    A semicolon is a plain character in TEXT (FN, TITLE, NOTE, each item of a
    CATEGORIES list); only structured values escape it, see :func:`escape_component`.
    """
    value = value.replace("\\", "\\\\").replace(",", "\\,")
    return _NEWLINES.sub("\\\\n", value)


def escape_component(value: str) -> str:
    """Escape one component of a structured value (N, ADR, ORG): TEXT rules plus ``;``."""
    return escape_text(value).replace(";", "\\;")


def param_value(value: str) -> str:
    """A parameter value, caret-encoded (RFC 6868) and quoted when needed."""
    value = value.replace("^", "^^").replace('"', "^'")
    value = _NEWLINES.sub("^n", value)
    value = "".join(ch for ch in value if ch >= " " and ch != "\x7f")
    return value if _PARAM_SAFE.fullmatch(value) else f'"{value}"'


def _uri(value: str) -> str:
    """A URI value is not escaped; drop whitespace so it stays one line."""
    return "".join(value.split())


def fold(line: str) -> str:
    """Fold a content line at 75 octets (RFC 6350 §3.2) on UTF-8 character boundaries."""
    data = line.encode("utf-8")
    if len(data) <= _FOLD_OCTETS:
        return line
    chunks, start, limit = [], 0, _FOLD_OCTETS
    while start < len(data):
        end = min(start + limit, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # never cut inside a character
            end -= 1
        chunks.append(data[start:end].decode("utf-8"))
        start, limit = end, _FOLD_OCTETS - 1  # a continuation line starts with one space
    return "\r\n ".join(chunks)


def _social_service(url: str) -> str | None:
    host = re.sub(r"^[a-z][a-z0-9+.-]*://", "", url.lower()).split("/", 1)[0].split(":", 1)[0]
    for domain, service in _SOCIAL_SERVICES.items():
        if host == domain or host.endswith("." + domain):
            return service
    return None


def _tel(number: str, types: str) -> str:
    if _E164.fullmatch(number):
        return f"TEL;VALUE=uri;TYPE={types}:tel:{number}"
    return f"TEL;TYPE={types}:{escape_text(number)}"


def vcard_lines(person: RefinedPerson, *, rev: datetime) -> list[str]:
    """Unfolded content lines of one contact, BEGIN to END."""
    given, family = person.given_name or "", person.family_name or ""
    lines = [
        "BEGIN:VCARD",
        "VERSION:4.0",
        f"PRODID:{escape_text(PRODID)}",
        f"UID:urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'mailto:' + person.email)}",
        f"FN:{escape_text(person.name or person.email)}",
    ]
    if given or family:
        lines.append(f"N:{escape_component(family)};{escape_component(given)};;;")
    email_type = "home" if "personal" in person.tags else "work"
    for i, email in enumerate(_emails(person)):
        lines.append(f"EMAIL;TYPE={email_type}{';PREF=1' if i == 0 else ''}:{escape_text(email)}")
    voice, mobile, fax = _phones(person)
    lines += [_tel(n, "work,voice") for n in voice]
    lines += [_tel(n, "cell") for n in mobile]
    lines += [_tel(n, "work,fax") for n in fax]
    if person.organization:
        lines.append(f"ORG:{escape_component(person.organization)}")
    if person.job_title:
        lines.append(f"TITLE:{escape_text(person.job_title)}")
    if person.address:
        # Free text that was never split into fields: the whole address goes in
        # the street component (what importers display) and in LABEL (RFC 6350
        # §6.3.1, the formatted delivery label).
        lines.append(f"ADR;TYPE=work;LABEL={param_value(person.address)}:;;{escape_component(person.address)};;;;")
    if person.url:
        lines.append(f"URL;TYPE=work:{_uri(person.url)}")
    for profile in person.same_as:
        # URL: every client shows it. SOCIALPROFILE (RFC 9554): the typed form.
        lines.append(f"URL:{_uri(profile)}")
        service = _social_service(profile)
        params = f";SERVICE-TYPE={param_value(service)}" if service else ""
        lines.append(f"SOCIALPROFILE{params}:{_uri(profile)}")
    if person.tags:
        lines.append("CATEGORIES:" + ",".join(escape_text(tag) for tag in person.tags))
    lines.append(f"NOTE:{escape_text(notes_text(person, profiles=False))}")
    lines.append(f"REV:{rev.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}")
    lines.append("END:VCARD")
    return lines


def to_vcard(persons: Iterable[RefinedPerson], *, rev: datetime | None = None) -> str:
    """Contacts as one vCard 4.0 stream (``.vcf``), CRLF line endings.

    ``rev`` is the REV timestamp of every card (default: now, UTC); pass a fixed
    value for reproducible output.
    """
    rev = rev or datetime.now(timezone.utc)
    if rev.tzinfo is None:
        raise ValueError("rev must be timezone-aware")
    out = []
    for person in persons:
        out.extend(fold(line) + "\r\n" for line in vcard_lines(person, rev=rev))
    return "".join(out)


# --------------------------------------------------------------------------- #
# Dispatch
# --------------------------------------------------------------------------- #

FORMATS: dict[str, Callable[..., str]] = {
    "json": to_json,
    "csv": to_csv,
    "vcard": to_vcard,
    "vcf": to_vcard,
}


def render(persons: Iterable[RefinedPerson], fmt: str, **options: Any) -> str:
    """Text of an export in ``fmt`` (``json``, ``csv``, ``vcard``/``vcf``)."""
    try:
        renderer = FORMATS[fmt.lower()]
    except KeyError:
        raise ValueError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}") from None
    return renderer(persons, **options)


def write_export(
    persons: Iterable[RefinedPerson],
    fmt: str,
    out: TextIO | str | os.PathLike[str],
    **options: Any,
) -> None:
    """Render and write an export; options go to the format function.

    ``out`` is a text stream (opened with ``newline=""`` so CRLF survives) or a
    path. A path is replaced atomically: the whole export is rendered first, then
    written to a temporary file beside it, so a failure never leaves a half file.
    """
    text = render(persons, fmt, **options)
    if hasattr(out, "write"):
        out.write(text)  # type: ignore[union-attr]
        return
    target = Path(out)  # type: ignore[arg-type]
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or ".")
    try:
        with open(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
