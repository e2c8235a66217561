"""Seeded demo mailbox: a realistic, reproducible mbox for demos and tests.

``generate_demo_mailbox(path, seed=7, messages=400)`` writes one mbox file whose
bytes depend only on the arguments (a ``random.Random(seed)`` and a fixed base
date; no clock, no hash-ordered iteration). It holds the user's own sent mail
and replies in real threads (Message-ID / In-Reply-To / References), colleagues
at company domains with signatures above quoted replies (quotes that carry
*other* people's signatures), personal free-mail contacts with RFC 2047 names,
ESP newsletters, no-reply receipts, a mailing list, LinkedIn notifications,
role and disposable addresses, a user alias, +tag and IDN addresses, text /
HTML / multipart bodies in quoted-printable, base64 and 8bit, and ~3 % broken
messages. The returned :class:`DemoInfo` lists the facts a miner should find.

Every name, company and domain below is invented (phone numbers are in ranges
for examples or drama where the numbering plans have them). Pure standard
library; also runs as ``python -m leadminer_runner.demo OUT.mbox``.
"""

from __future__ import annotations

import argparse
import base64
import html
import itertools
import json
import quopri
import random
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

__all__ = ["DemoInfo", "ExpectedSignature", "generate_demo_mailbox", "main"]

# =========================================================================== #
# Data tables
# =========================================================================== #

BASE_DATE = datetime(2024, 3, 4, 8, 0, tzinfo=timezone.utc)  # fixed: output never depends on the clock
SPAN_DAYS = 120
DEFAULT_USER = "alex.martin@example.com"
DEFAULT_ALIAS = "alex@example.org"
MIN_MESSAGES = 50

# Share of the mailbox per category; colleagues' threads fill the rest.
QUOTAS = {
    "newsletter": 0.15,
    "transactional": 0.06,
    "social": 0.02,
    "list": 0.14,
    "role": 0.04,
    "disposable": 0.005,
    "personal": 0.12,
    "malformed": 0.03,
}


@dataclass(frozen=True, slots=True)
class Phone:
    kind: str  # "work" | "mobile" | "fax"
    written: str  # as printed in the signature (national or international format)
    e164: str  # what a parser should return


@dataclass(frozen=True, slots=True)
class Company:
    key: str
    name: str
    domain: str  # Unicode; an IDN domain is written as U-label here
    tz_minutes: int
    locale: str  # "fr" | "de" | "uk" | "us": phone labels, greetings, quote intros
    website: str  # canonical URL
    website_written: str
    address: str


@dataclass(frozen=True, slots=True)
class Contact:
    name: str
    email: str
    company: str | None = None  # key of COMPANIES
    title: str | None = None
    phones: tuple[Phone, ...] = ()
    social: tuple[tuple[str, str], ...] = ()  # (as written, canonical URL)
    layout: str | None = None  # signature layout; None: signs with a first name only
    word: str = "q"  # RFC 2047 style for a non-ASCII name: "q", "b" or "quoted" (inside quotes)
    html_only: bool = False  # sends text/html without a plain-text part
    locale: str = "us"  # for contacts without a company


COMPANIES = {
    c.key: c
    for c in (
        Company("lumiere", "Fabrique Lumière SAS", "fabrique-lumiere.fr", 60, "fr",
                "https://www.fabrique-lumiere.fr", "www.fabrique-lumiere.fr",
                "12 rue des Lilas, 75011 Paris, France"),
        Company("nordwerk", "Nordwerk Systeme GmbH", "nordwerk-systeme.de", 60, "de",
                "https://www.nordwerk-systeme.de", "www.nordwerk-systeme.de",
                "Hafenstraße 41, 20457 Hamburg, Deutschland"),
        Company("harbour", "Harbourline Ltd", "harbourline.co.uk", 0, "uk",
                "https://harbourline.co.uk", "harbourline.co.uk",
                "3 Quayside Row, Bristol BS1 4QA, United Kingdom"),
        Company("kestrel", "Kestrel Labs Inc.", "kestrel-labs.io", -300, "us",
                "https://kestrel-labs.io", "https://kestrel-labs.io",
                "500 Harbor Blvd, Suite 210, Weehawken, NJ 07086, USA"),
        Company("zahnrad", "Zahnrad Müller KG", "zahnrad-müller.de", 60, "de",
                "https://www.zahnrad-müller.de", "www.zahnrad-müller.de",
                "Mühlenweg 7, 70173 Stuttgart, Deutschland"),
    )
}  # fmt: skip

COLLEAGUES = (
    Contact("Claire Dubois", "claire.dubois@fabrique-lumiere.fr", "lumiere", "Directrice des opérations",
            (Phone("work", "+33 (0)1 99 00 12 34", "+33199001234"), Phone("mobile", "06 12 34 56 78", "+33612345678"),
             Phone("fax", "01 99 00 12 35", "+33199001235")),
            (("linkedin.com/in/claire-dubois-fl", "https://www.linkedin.com/in/claire-dubois-fl"),), "block"),
    Contact("Mathieu Lefèvre", "mathieu.lefevre@fabrique-lumiere.fr", "lumiere", "Responsable commercial",
            (Phone("work", "01 99 00 12 40", "+33199001240"), Phone("mobile", "+33 6 12 34 77 02", "+33612347702")),
            (), "closing"),
    Contact("Inès Garnier", "ines.garnier@fabrique-lumiere.fr", "lumiere", "Cheffe de projet",
            (Phone("work", "03 53 01 22 10", "+33353012210"),),
            (("github.com/ines-garnier", "https://github.com/ines-garnier"),), "block", word="b"),
    Contact("Jonas Becker", "jonas.becker@nordwerk-systeme.de", "nordwerk", "Leiter Vertrieb",
            (Phone("work", "+49 (0)30 5557 2210", "+493055572210"), Phone("mobile", "0151 5557 3301", "+4915155573301"),
             Phone("fax", "+49 30 5557 2299", "+493055572299")),
            (("https://www.linkedin.com/in/jonas-becker-nws/", "https://www.linkedin.com/in/jonas-becker-nws"),),
            "block"),
    Contact("Lena Schröder", "lena.schroeder@nordwerk-systeme.de", "nordwerk", "Projektmanagerin",
            (Phone("work", "089 5557 4410", "+498955574410"), Phone("mobile", "0170 5557 8820", "+4917055578820")),
            (), "closing"),
    Contact("Oliver Pennington", "oliver.pennington@harbourline.co.uk", "harbour", "Head of Partnerships",
            (Phone("work", "020 7946 0321", "+442079460321"), Phone("mobile", "07400 123456", "+447400123456")),
            (("linkedin.com/in/oliver-pennington", "https://www.linkedin.com/in/oliver-pennington"),), "pipe"),
    Contact("Hannah Whitlock", "hannah.whitlock@harbourline.co.uk", "harbour"),  # signs "Hannah" only
    Contact("Marcus Reed", "marcus.reed@kestrel-labs.io", "kestrel", "VP Engineering",
            (Phone("work", "(201) 555-0142", "+12015550142"), Phone("mobile", "+1 415 555 0199", "+14155550199")),
            (("github.com/mreed-kestrel", "https://github.com/mreed-kestrel"),
             ("linkedin.com/in/marcus-reed-kl", "https://www.linkedin.com/in/marcus-reed-kl")),
            "html", html_only=True),
    Contact("Dana Whitfield", "dana.whitfield@kestrel-labs.io", "kestrel", "Account Executive",
            (Phone("work", "(201) 555-0157", "+12015550157"),), (), "pipe"),
    Contact("Tobias Müller", "tobias@zahnrad-müller.de", "zahnrad", "Geschäftsführer",
            (Phone("work", "0711 5557 6602", "+4971155576602"), Phone("mobile", "0152 5557 1190", "+4915255571190")),
            (), "block"),
)  # fmt: skip

INTERNAL = (  # the user's own company (domain of the ``user`` argument)
    Contact("Sam Okafor", "sam.okafor@{domain}", "internal", "Head of Sales",
            (Phone("work", "+1 201 555 0110", "+12015550110"),), (), "closing"),
    Contact("Julia Brandt", "julia.brandt@{domain}", "internal", "Marketing Lead",
            (Phone("work", "+1 201 555 0123", "+12015550123"),), (), "block"),
)  # fmt: skip

PERSONAL = (
    Contact("Élodie Brunet", "elodie.brunet@gmail.com", locale="fr"),
    Contact("Jürgen Weiß", "juergen.weiss@yahoo.de", word="quoted", locale="de"),
    Contact("李静", "li.jing.88@gmail.com", word="b"),
    Contact("Priya Nair", "priya.nair+projects@gmail.com"),
    Contact("Tom Hadley", "tom.hadley@yahoo.com", locale="uk"),
    Contact("Sophie Martin", "sophie.martin77@yahoo.fr", locale="fr"),
)

MAILING_LIST = {
    "address": "quillmate-dev@lists.quillmate.org",
    "name": "Quillmate development",
    "id": "quillmate-dev.lists.quillmate.org",
    "tag": "[quillmate-dev]",
    "bounces": "quillmate-dev-bounces@lists.quillmate.org",
}
LIST_POSTERS = (
    Contact("Rafael Costa", "rafael@costa-dev.net", title=None,
            social=(("https://costa-dev.net", "https://costa-dev.net"),), layout="minimal"),
    Contact("Mei Tanaka", "mei.tanaka@gmail.com"),
    Contact("Arjun Patel", "arjun@quillmate.org"),
    Contact("Noor Haddad", "noor.haddad@outlook.com"),
    Contact("Lukáš Novák", "lukas.novak@seznam.cz", word="b"),
)  # fmt: skip

# (display name, sender, ESP-specific headers, +tag recipient?, HTML only?)
NEWSLETTERS = (
    ("Tidewater Outfitters", "news@mail.tidewater-outfitters.com", "mailchimp", True, False),
    ("Brightpath Weekly", "hello@brightpath-weekly.com", "sendgrid", False, False),
    ("Orbit Coffee Club", "club@mg.orbitcoffee.co", "mailgun", True, False),
    ("Atelier Nuage", "newsletter@atelier-nuage.fr", "brevo", False, False),
    ("DevDigest", "digest@devdigest.news", "ses", False, True),
)
TRANSACTIONAL = (
    ("CloudNimbus Billing", "no-reply@billing.cloudnimbus.io", "Your receipt #CN-{n}", "ses"),
    ("Papertrail Books", "noreply@orders.papertrail-books.com", "Order confirmation #PB-{n}", "mailgun"),
    ("Skylark Air", "do-not-reply@notifications.skylark-air.com", "Your boarding pass, booking {n}", "sendgrid"),
    ("Ledgerly", "no-reply@ledgerly.app", "Password reset requested ({n})", None),
)
LINKEDIN = (
    ("{name} via LinkedIn", "messages-noreply@linkedin.com", "{name} just messaged you", "INBOX-MESSAGE"),
    ("LinkedIn", "notifications-noreply@linkedin.com", "You appeared in {n} searches this week", "SEARCH-APPEARANCE"),
    ("LinkedIn", "invitations@linkedin.com", "{name} wants to connect", "INVITATION"),
)
ROLES = (
    Contact("Harbourline Support", "support@harbourline.co.uk", "harbour", layout="team"),
    Contact("Kestrel Labs Sales", "sales@kestrel-labs.io", "kestrel", layout="team"),
)
DISPOSABLE = Contact("Jordan Blake", "jordan.b.4417@mailinator.com")
STRAY = Contact("Renée Lambert", "renee.lambert@fabrique-lumiere.fr", "lumiere")  # only in a broken message

MALFORMED_KINDS = (
    "broken-encoded-word",
    "missing-message-id",
    "bad-date",
    "truncated-multipart",
    "header-without-colon",
    "raw-8bit-header",
    "unterminated-address",
    "unknown-charset",
)

# --------------------------------------------------------------------------- #
# Words: topics, sentences, greetings, closings, labels, quote intros
# --------------------------------------------------------------------------- #

WORK_TOPICS = (
    "Q2 rollout plan", "Pricing for the pilot", "Contract renewal", "Workshop agenda",
    "Integration timeline", "Invoice question", "Next steps after the demo", "Data export format",
    "Security questionnaire", "Meeting notes", "Proposal draft v2", "Onboarding checklist",
)  # fmt: skip
WORK_SENTENCES = {
    "en": (
        "Thanks for the quick turnaround on this.", "I have attached the updated figures.",
        "Could we move the call to Thursday afternoon?", "The team reviewed the draft and has a few comments.",
        "Let me know if the timeline still works on your side.", "We are aligned on the scope for the first phase.",
        "I will circulate the minutes by the end of the day.", "Can you confirm the number of seats?",
        "Legal is fine with the changes to section 4.", "Happy to jump on a call if that is easier.",
    ),
    "fr": (
        "Merci pour votre retour rapide.", "Vous trouverez ci-joint la version mise à jour.",
        "Pouvons-nous décaler la réunion à jeudi ?", "L'équipe a relu le document, quelques remarques suivent.",
        "Le calendrier vous convient-il toujours ?", "Je reviens vers vous dès que possible.",
    ),
    "de": (
        "Vielen Dank für die schnelle Rückmeldung.", "Anbei die überarbeitete Fassung.",
        "Können wir den Termin auf Donnerstag verschieben?", "Das Team hat den Entwurf geprüft.",
        "Passt der Zeitplan für Sie weiterhin?", "Ich melde mich morgen mit den Zahlen.",
    ),
}  # fmt: skip
GREETINGS = {"en": "Hi {first},", "uk": "Hi {first},", "us": "Hi {first},", "fr": "Bonjour {first},", "de": "Hallo {first},"}
CLOSINGS = {"en": "Best regards,", "uk": "Kind regards,", "us": "Best,", "fr": "Cordialement,", "de": "Viele Grüße"}
PHONE_LABELS = {
    "fr": {"work": "Tél. :", "mobile": "Mobile :", "fax": "Fax :"},
    "de": {"work": "Tel.:", "mobile": "Mobil:", "fax": "Fax:"},
    "uk": {"work": "T:", "mobile": "M:", "fax": "F:"},
    "us": {"work": "Office:", "mobile": "Cell:", "fax": "Fax:"},
}
REPLY_PREFIX = {"fr": "RE : ", "de": "AW: ", "uk": "RE: ", "us": "Re: "}
PERSONAL_TOPICS = (
    "Dinner on Friday?", "Photos from the weekend", "Café ce week-end ?", "Grüße aus München",
    "周末聚会", "Book recommendation", "Hiking trip in May", "Birthday plans",
)  # fmt: skip
PERSONAL_SENTENCES = (
    "It was so good to see you last week!", "Are you free on Saturday?", "I found the recipe I mentioned.",
    "The kids loved the museum.", "Let me know what you think.", "I'll bring the board games.",
)  # fmt: skip
LIST_TOPICS = (
    "Proposal: drop Python 3.9 support", "Release 2.4.0 candidate", "Flaky test in test_sync",
    "RFC: plugin API", "Docs build failing on main", "Question about the config format",
)  # fmt: skip
LIST_SENTENCES = (
    "I ran the suite three times and it fails once.", "+1 from me, the maintenance cost is real.",
    "Could you open an issue so we can track it?", "The patch is on my branch if anyone wants to test.",
    "We discussed this at the last sync; notes are on the wiki.", "I'd rather wait for the next minor.",
)  # fmt: skip
DAY_EN = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTH_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
DAY_FR = ("lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim.")
MONTH_FR = ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc.")

# =========================================================================== #
# Public results
# =========================================================================== #


@dataclass(frozen=True, slots=True)
class ExpectedSignature:
    """What a correct signature extractor returns for one sender (E.164 phones)."""

    name: str
    job_title: str | None
    organization: str | None
    telephone: tuple[str, ...]
    fax: tuple[str, ...]
    address: str | None
    url: str | None
    same_as: tuple[str, ...]


@dataclass(slots=True)
class DemoInfo:
    """The generated file and the facts a miner should find in it.

    Addresses are normalised like ``contracts.Address.email`` (lower case, IDN
    domain as U-label); index-keyed facts use the message's position in the mbox.
    """

    path: Path
    seed: int
    messages: int
    identities: list[str]  # the user's own addresses
    names: dict[str, str]  # true display name of every sender
    colleagues: list[str]  # professional contacts at company domains (user's company included)
    internal: list[str]  # colleagues at the user's own domain
    personal: list[str]  # free-mail contacts
    newsletters: list[str]
    transactional: list[str]
    social: list[str]
    mailing_lists: list[str]
    list_posters: list[str]
    roles: list[str]
    disposable: list[str]
    idn: list[str]
    plus_tagged: list[str]  # addresses with a +tag (contacts' and the user's)
    signatures: dict[str, ExpectedSignature]  # sender → their own signature
    user_signature: ExpectedSignature
    no_signature: list[str]  # correspondents who never write a signature block
    replied: list[str]  # people with a reply exchanged with the user
    message_ids: list[str | None]  # per mbox index, without <>
    replies: dict[str, str]  # reply Message-ID → parent Message-ID
    kinds: list[str]  # category per mbox index
    malformed: dict[int, str]  # mbox index → kind of breakage

    def to_dict(self) -> dict:
        data = asdict(self)
        data["path"] = str(self.path)
        return data


# =========================================================================== #
# Small helpers: names, headers, encodings
# =========================================================================== #


def first_name(contact: Contact) -> str:
    """How people greet or sign as this contact ("team" for a role address)."""
    return "team" if contact.layout == "team" else contact.name.split()[0]


def ascii_email(email: str) -> str:
    """The address with an IDN domain as A-label (what most mail headers carry)."""
    local, _, domain = email.rpartition("@")
    return f"{local}@{domain.encode('idna').decode('ascii')}"


def _encoded_word(text: str, style: str) -> str:
    data = text.encode()
    if style == "b":
        return f"=?utf-8?b?{base64.b64encode(data).decode()}?="
    q = "".join(chr(b) if chr(b).isalnum() and b < 128 else "_" if b == 0x20 else f"={b:02X}" for b in data)
    return f"=?UTF-8?Q?{q}?="


def encoded_words(text: str, style: str = "q") -> str:
    """RFC 2047 encoded words for non-ASCII text: each at most 75 characters, never
    splitting a character, folded onto continuation lines."""
    if text.isascii():
        return text
    words, chunk = [], ""
    for ch in text:
        if chunk and len(_encoded_word(chunk + ch, style)) > 75:
            words.append(_encoded_word(chunk, style))
            chunk = ""
        chunk += ch
    words.append(_encoded_word(chunk, style))
    return "\n ".join(words)


def address_list(values: list[str]) -> str:
    """Addresses joined with commas, one per continuation line when long."""
    joined = ", ".join(values)
    return joined if len(joined) < 70 else ",\n ".join(values)


def format_address(contact: Contact, *, utf8: bool = False, email: str | None = None) -> str:
    """``Name <addr>`` with the name quoted or RFC 2047-encoded as a MUA would."""
    address = email or contact.email
    address = address if utf8 else ascii_email(address)
    name = contact.name
    if utf8 or name.isascii():
        if any(ch in name for ch in ',.;:@()<>[]"'):
            name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return f"{name} <{address}>"
    if contact.word == "quoted":  # common but non-conforming: an encoded word inside quotes
        return f'"{encoded_words(name, "q")}" <{address}>'
    return f"{encoded_words(name, contact.word)} <{address}>"


def header_date(when: datetime, tz_minutes: int) -> str:
    return format_datetime(when.astimezone(timezone(timedelta(minutes=tz_minutes))))


def mbox_date(when: datetime) -> str:
    """asctime() form for the mbox ``From `` line, independent of the locale."""
    u = when.astimezone(timezone.utc)
    return f"{DAY_EN[u.weekday()]} {MONTH_EN[u.month - 1]} {u.day:2d} {u:%H:%M:%S} {u.year}"


def encode_body(text: str, cte: str) -> bytes:
    data = text.encode("utf-8")
    if cte == "base64":
        return base64.encodebytes(data)
    if cte == "quoted-printable":
        encoded = quopri.encodestring(data)
        return encoded if encoded.endswith(b"\n") else encoded + b"\n"
    return data if data.endswith(b"\n") else data + b"\n"


def text_to_html(text: str) -> str:
    """Minimal HTML rendering: quoted lines become a blockquote, links stay visible."""
    parts, quote = [], []

    def flush_quote():
        if quote:
            parts.append("<blockquote>" + "<br>\n".join(quote) + "</blockquote>")
            quote.clear()

    for line in text.split("\n"):
        if line.startswith(">"):
            quote.append(html.escape(line[1:].removeprefix(" ")))
            continue
        flush_quote()
        parts.append(html.escape(line) + "<br>")
    flush_quote()
    return '<html><body><div style="font-family:Arial,sans-serif">\n' + "\n".join(parts) + "\n</div></body></html>\n"


# =========================================================================== #
# Messages
# =========================================================================== #


@dataclass(slots=True)
class Mail:
    """One message before serialisation."""

    when: datetime
    seq: int
    author: Contact
    kind: str
    headers: list[tuple[str | None, str | bytes]]  # (None, raw) = a raw header line
    body: bytes
    message_id: str | None
    subject: str
    text: str  # decoded plain text, for quoting by later replies
    references: list[str] = field(default_factory=list)
    malformed: str | None = None

    def to_bytes(self) -> bytes:
        lines = []
        for name, value in self.headers:
            raw = value if isinstance(value, bytes) else value.encode("utf-8")
            lines.append(raw if name is None else name.encode("ascii") + b": " + raw)
        return b"\n".join(lines) + b"\n\n" + self.body


class MailboxBuilder:
    """Builds the messages of one demo mailbox from one random generator."""

    def __init__(self, rng: random.Random, user: str, alias: str) -> None:
        self.rng = rng
        local, _, domain = user.rpartition("@")
        self.user = Contact(" ".join(p.capitalize() for p in local.replace("_", ".").split(".")), user, "internal",
                            "Partnerships Manager", (Phone("work", "+1 201 555 0100", "+12015550100"),), (), "block")
        self.alias = alias
        self.domain = domain
        self.companies = dict(COMPANIES)
        company_name = "Example Corp" if domain == "example.com" else domain.split(".")[0].capitalize() + " Corp"
        self.companies["internal"] = Company("internal", company_name, domain, -300, "us", f"https://{domain}",
                                             domain, "100 Example Plaza, Hoboken, NJ 07030, USA")
        self.internal = tuple(
            Contact(c.name, c.email.format(domain=domain), c.company, c.title, c.phones, c.social, c.layout)
            for c in INTERNAL
        )
        self.mails: list[Mail] = []
        self.seq = 0
        self.signed: set[str] = set()  # membership only, never iterated
        self.replied: dict[str, None] = {}  # ordered set
        self.replies: dict[str, str] = {}
        self.plus_user = f"{local}+news@{domain}"
        self.utf8_seen: set[str] = set()  # IDN senders whose first message used raw UTF-8 headers

    # ----------------------------------------------------------------- basics
    def company(self, contact: Contact) -> Company | None:
        return self.companies.get(contact.company) if contact.company else None

    def locale(self, contact: Contact) -> str:
        company = self.company(contact)
        return company.locale if company else contact.locale

    def tz(self, contact: Contact) -> int:
        company = self.company(contact)
        if company:
            return company.tz_minutes
        return {"fr": 60, "de": 60, "uk": 0}.get(contact.locale, -300)

    def is_user(self, contact: Contact) -> bool:
        return contact.email == self.user.email

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def message_id(self, contact: Contact, seq: int) -> str:
        domain = ascii_email(contact.email).rpartition("@")[2]
        token = f"{self.rng.getrandbits(64):016x}"
        if domain in ("gmail.com",):
            return f"CA{base64.b32encode(token.encode()).decode().rstrip('=')}@mail.gmail.com"
        if domain.endswith("outlook.com") or contact.company == "harbour":
            return f"{token.upper()}{seq:04d}@EUR03.PROD.OUTLOOK.COM"
        return f"{token}.{seq}@{domain}"

    def boundary(self) -> str:
        return f"----=_Part_{self.seq}_{self.rng.getrandbits(40):010x}"

    def random_time(self) -> datetime:
        return BASE_DATE + timedelta(seconds=self.rng.randrange(SPAN_DAYS * 86400))

    def later(self, when: datetime) -> datetime:
        return when + timedelta(seconds=self.rng.randrange(20 * 60, 36 * 3600))

    def pick_cte(self, text: str) -> str:
        if text.isascii() and self.rng.random() < 0.7:
            return "7bit"
        return self.rng.choice(("quoted-printable", "base64", "8bit" if not text.isascii() else "quoted-printable"))

    # ---------------------------------------------------------- signatures
    def signature_lines(self, contact: Contact) -> list[str]:
        """The contact's signature block as plain-text lines ([] when none)."""
        company = self.company(contact)
        locale = self.locale(contact)
        if contact.layout is None:
            return [first_name(contact)]
        if contact.layout == "minimal":
            return ["-- ", contact.name] + [written for written, _ in contact.social]
        if contact.layout == "team":
            assert company is not None, contact
            return ["The team at " + company.name, contact.name, company.website_written]
        labels = PHONE_LABELS.get(locale, PHONE_LABELS["us"])
        phones = [f"{labels[p.kind]} {p.written}" for p in contact.phones]
        socials = [written for written, _ in contact.social]
        assert company is not None, contact
        if contact.layout == "block":
            return ["-- ", contact.name, contact.title or "", company.name, company.address, *phones,
                    company.website_written, *socials]  # fmt: skip
        if contact.layout == "pipe":
            return [CLOSINGS.get(locale, CLOSINGS["en"]), first_name(contact), "",
                    f"{contact.name} | {contact.title} | {company.name}", " | ".join(phones), company.address,
                    company.website_written, *(f"LinkedIn: {s}" for s in socials)]  # fmt: skip
        if contact.layout == "html":  # as a mail client renders the HTML signature to text
            return ["Best,", first_name(contact), "", contact.name, f"{contact.title}, {company.name}",
                    " · ".join(phones), " · ".join([company.website_written, *socials])]  # fmt: skip
        if contact.layout == "closing":
            return [CLOSINGS.get(locale, CLOSINGS["en"]), "", contact.name, f"{contact.title} – {company.name}",
                    *phones, company.website]  # fmt: skip
        raise ValueError(f"unknown signature layout {contact.layout!r}")

    def expected_signature(self, contact: Contact) -> ExpectedSignature:
        company = self.company(contact)
        return ExpectedSignature(
            name=contact.name,
            job_title=contact.title,
            organization=company.name if company and contact.title else None,
            telephone=tuple(p.e164 for p in contact.phones if p.kind != "fax"),
            fax=tuple(p.e164 for p in contact.phones if p.kind == "fax"),
            address=company.address if company and contact.layout in ("block", "pipe") else None,
            url=(company.website if company and contact.layout in ("block", "pipe", "closing", "html") else
                 (contact.social[0][1] if contact.layout == "minimal" and contact.social else None)),
            same_as=tuple(url for _, url in contact.social) if contact.layout != "minimal" else (),
        )  # fmt: skip

    # ------------------------------------------------------------ bodies
    def own_text(self, author: Contact, reader: Contact, topic_sentences: tuple[str, ...], sign: bool) -> str:
        locale = self.locale(author)
        greeting = GREETINGS.get(locale, GREETINGS["en"]).format(first=first_name(reader))
        sentences = self.rng.sample(topic_sentences, k=min(len(topic_sentences), self.rng.randint(1, 3)))
        lines = [greeting, "", " ".join(sentences), ""]
        if sign:
            lines += self.signature_lines(author)
        else:
            lines += [first_name(author), "", self.rng.choice(("Sent from my iPhone", "Envoyé de mon mobile",
                                                               "Von meinem Handy gesendet", "Sent from Outlook"))]
        return "\n".join(lines)

    def quote(self, parent: Mail, replier: Contact) -> str:
        """Quoted parent under an intro line in the replier's mail client style."""
        when = parent.when.astimezone(timezone(timedelta(minutes=self.tz(replier))))
        author = parent.author
        address = f"{author.name} <{author.email}>"
        body = [line for line in parent.text.split("\n") if not line.startswith(">>")]  # quotes stay 2 deep
        locale = self.locale(replier)
        if locale == "uk" and not self.is_user(replier):  # Outlook: header block, parent unquoted
            own = parent.text.split("\n-----Original Message-----")[0]
            sent = f"{DAY_EN[when.weekday()]}, {when.day} {MONTH_EN[when.month - 1]} {when.year} {when:%H:%M}"
            return "\n".join(["", "-----Original Message-----", f"From: {author.name} <{author.email}>",
                              f"Sent: {sent}", f"To: {replier.name}", f"Subject: {parent.subject}", "", own])
        if locale == "fr":
            intro = (f"Le {DAY_FR[when.weekday()]} {when.day} {MONTH_FR[when.month - 1]} {when.year} à "
                     f"{when:%H:%M}, {address} a écrit :")  # fmt: skip
        elif locale == "de":
            intro = f"Am {when:%d.%m.%Y} um {when:%H:%M} schrieb {address}:"
        else:
            clock = f"{(when.hour - 1) % 12 + 1}:{when:%M} {'AM' if when.hour < 12 else 'PM'}"
            intro = (f"On {DAY_EN[when.weekday()]}, {MONTH_EN[when.month - 1]} {when.day}, {when.year} at "
                     f"{clock}, {address} wrote:")  # fmt: skip
        quoted = [(">" + line) if line.startswith(">") else ("> " + line if line else ">") for line in body]
        return "\n".join(["", intro, *quoted])

    def mime_body(self, text: str, html_text: str | None, mode: str) -> tuple[list[tuple[str, str]], bytes]:
        """Content headers and encoded body; ``mode`` is "text", "alternative" or "html"."""
        if mode == "html":
            cte = self.rng.choice(("quoted-printable", "base64"))
            return ([("Content-Type", 'text/html; charset="utf-8"'), ("Content-Transfer-Encoding", cte)],
                    encode_body(html_text or text_to_html(text), cte))  # fmt: skip
        if mode == "alternative":
            boundary = self.boundary()
            parts = []
            for subtype, content in (("plain", text), ("html", html_text or text_to_html(text))):
                cte = self.pick_cte(content)
                parts.append(
                    f"--{boundary}\nContent-Type: text/{subtype}; charset=\"utf-8\"\n"
                    f"Content-Transfer-Encoding: {cte}\n\n".encode() + encode_body(content, cte)
                )
            body = b"".join(parts) + f"--{boundary}--\n".encode()
            return [("Content-Type", f'multipart/alternative; boundary="{boundary}"')], body
        cte = self.pick_cte(text)
        return ([("Content-Type", 'text/plain; charset="utf-8"'), ("Content-Transfer-Encoding", cte)],
                encode_body(text, cte))  # fmt: skip

    # ---------------------------------------------------------- assembly
    def trace_headers(self, author: Contact, delivered_to: str, when: datetime) -> list[tuple[str | None, str]]:
        """Return-Path, Delivered-To, X-Original-To and Received, as the user's MTA adds them."""
        sender_domain = ascii_email(author.email).rpartition("@")[2]
        final = self.user.email if delivered_to == self.alias else delivered_to
        headers: list[tuple[str | None, str]] = [("Return-Path", f"<{ascii_email(author.email)}>"),
                                                 ("Delivered-To", final)]
        if delivered_to != final or "+" in delivered_to:
            headers.append(("X-Original-To", delivered_to))
        ip = f"{self.rng.choice(('192.0.2', '198.51.100', '203.0.113'))}.{self.rng.randrange(1, 255)}"
        headers.append(("Received", f"from mail.{sender_domain} (mail.{sender_domain} [{ip}])\n\tby mx.{self.domain} "
                                    f"(Postfix) with ESMTPS id {self.rng.getrandbits(40):010X}\n\tfor <{delivered_to}>; "
                                    f"{header_date(when, 0)}"))  # fmt: skip
        return headers

    def compose(
        self,
        *,
        author: Contact,
        to: Sequence[Contact] | str,
        subject: str,
        text: str,
        when: datetime,
        kind: str,
        cc: Sequence[Contact] = (),
        bcc: Sequence[Contact] = (),
        parent: Mail | None = None,
        delivered_to: str | None = None,
        from_address: str | None = None,
        html_text: str | None = None,
        mode: str = "text",
        extra: Sequence[tuple[str, str]] = (),
        utf8_headers: bool = False,
    ) -> Mail:
        """Build one message; the user's own (sent) mail carries no trace headers."""
        seq = self.next_seq()
        message_id = self.message_id(author, seq)
        references = (parent.references + [parent.message_id]) if parent and parent.message_id else []
        headers: list[tuple[str | None, str | bytes]] = []
        if not self.is_user(author):
            headers += self.trace_headers(author, delivered_to or self.user.email, when)
        headers.append(("Date", header_date(when, self.tz(author))))
        headers.append(("From", format_address(author, utf8=utf8_headers, email=from_address)))
        to_value = to if isinstance(to, str) else address_list([format_address(c, utf8=utf8_headers) for c in to])
        headers.append(("To", to_value))
        if cc:
            headers.append(("Cc", address_list([format_address(c, utf8=utf8_headers) for c in cc])))
        if bcc:
            headers.append(("Bcc", address_list([format_address(c) for c in bcc])))
        headers.append(("Subject", subject if utf8_headers else encoded_words(subject, "q")))
        headers.append(("Message-ID", f"<{message_id}>"))
        if parent and parent.message_id:
            headers.append(("In-Reply-To", f"<{parent.message_id}>"))
            headers.append(("References", "\n ".join(f"<{r}>" for r in references)))
            self.replies[message_id] = parent.message_id
        headers += list(extra)
        headers.append(("MIME-Version", "1.0"))
        content_headers, body = self.mime_body(text, html_text, mode)
        headers += content_headers
        mail = Mail(when, seq, author, kind, headers, body, message_id, subject, text, references)
        self.mails.append(mail)
        if parent and self.is_user(author) != self.is_user(parent.author):
            self.replied[(parent.author if self.is_user(author) else author).email] = None
        return mail

    # ------------------------------------------------------------ threads
    def reply_subject(self, author: Contact, subject: str) -> str:
        if re.match(r"(re|aw|sv|antw)\s?:", subject, re.IGNORECASE):
            return subject
        return ("Re: " if self.is_user(author) else REPLY_PREFIX.get(self.locale(author), "Re: ")) + subject

    def should_sign(self, author: Contact) -> bool:
        """Always on someone's first message, then 80 % (the rest come "from my phone")."""
        sign = self.is_user(author) or author.email not in self.signed or self.rng.random() < 0.8
        if sign and author.layout is not None:
            self.signed.add(author.email)
        return sign

    def next_author(self, author: Contact, addressed: Contact, participants: list[Contact]) -> Contact:
        """Who answers next: the person addressed, sometimes another participant."""
        if self.is_user(author):
            others = [p for p in participants if p.email != addressed.email]
            return self.rng.choice(others) if others and self.rng.random() < 0.3 else addressed
        others = [p for p in participants if p.email != author.email]
        return self.rng.choice(others) if others and self.rng.random() < 0.25 else self.user

    def conversation(
        self,
        *,
        kind: str,
        participants: list[Contact],
        length: int,
        subject: str,
        sentences: tuple[str, ...],
        user_address: str | None = None,
        user_starts: bool | None = None,
    ) -> list[Mail]:
        """A reply-all thread between the user and ``participants``, replies both ways."""
        user_address = user_address or self.user.email
        user_view = Contact(self.user.name, user_address)
        main = participants[0]
        starts = user_starts if user_starts is not None else self.rng.random() < 0.5
        author = self.user if starts else main
        when, parent, mails = self.random_time(), None, []
        for _ in range(length):
            if self.is_user(author):
                addressed = parent.author if parent and not self.is_user(parent.author) else main
                to, reader = [addressed], addressed
            else:
                addressed, to, reader = self.user, [user_view], self.user
            cc = [p for p in participants if p.email not in (author.email, addressed.email)]
            internal_copy = self.internal[0]
            bcc = [internal_copy] if (self.is_user(author) and kind == "colleague" and internal_copy not in
                                      participants and self.rng.random() < 0.1) else []  # fmt: skip
            text = self.own_text(author, reader, sentences, self.should_sign(author))
            if parent:
                text += "\n" + self.quote(parent, author)
            mode = "html" if author.html_only else "alternative" if self.rng.random() < 0.3 else "text"
            mail = self.compose(
                author=author, to=to, cc=cc, bcc=bcc, when=when, kind=kind, parent=parent,
                subject=self.reply_subject(author, parent.subject) if parent else subject, text=text,
                delivered_to=None if self.is_user(author) else user_address,
                from_address=user_address if self.is_user(author) else None, mode=mode,
                utf8_headers=author.company == "zahnrad" and (author.email not in self.utf8_seen or
                                                              self.rng.random() < 0.3),
            )  # fmt: skip
            if author.company == "zahnrad":
                self.utf8_seen.add(author.email)
            mails.append(mail)
            parent, when = mail, self.later(when)
            author = self.next_author(author, addressed, participants)
        return mails

    # --------------------------------------------------------- categories
    def shuffled_then_random(self, pool: Sequence[Contact]) -> Iterator[Contact]:
        """Every contact of ``pool`` once, in an order shuffled now, then random picks."""
        order = list(pool)
        self.rng.shuffle(order)
        return itertools.chain(order, iter(lambda: self.rng.choice(pool), None))

    def colleague_threads(self, budget: int) -> None:
        contacts = list(COLLEAGUES) + list(self.internal)
        mains = self.shuffled_then_random(contacts)
        while budget > 0:
            main = next(mains)
            same_company = [c for c in contacts if c.company == main.company and c.email != main.email]
            extra = self.rng.sample(same_company, k=min(len(same_company), self.rng.choice((0, 0, 1, 2))))
            if main.company != "internal" and self.rng.random() < 0.2:
                extra.append(self.rng.choice(self.internal))
            length = min(budget, self.rng.randint(1, 6))
            locale = self.locale(main)
            sentences = WORK_SENTENCES["en"] if locale in ("uk", "us") or self.rng.random() < 0.3 else \
                WORK_SENTENCES[locale]  # fmt: skip
            topic = self.rng.choice(WORK_TOPICS)
            budget -= len(self.conversation(kind="colleague", participants=[main, *extra], length=length,
                                            subject=topic, sentences=sentences))  # fmt: skip

    def personal_threads(self, budget: int) -> None:
        friends = self.shuffled_then_random(PERSONAL)
        while budget > 0:
            friend = next(friends)
            length = min(budget, self.rng.randint(1, 4))
            address = self.alias if self.rng.random() < 0.5 else self.user.email
            budget -= len(self.conversation(kind="personal", participants=[friend], length=length,
                                            subject=self.rng.choice(PERSONAL_TOPICS), sentences=PERSONAL_SENTENCES,
                                            user_address=address, user_starts=False))  # fmt: skip

    def list_headers(self) -> list[tuple[str, str]]:
        ml = MAILING_LIST
        host = ml["id"].split(".", 1)[1]
        name = ml["address"].split("@")[0]
        return [
            ("Sender", f'"{name}" <{ml["bounces"]}>'),
            ("Errors-To", ml["bounces"]),
            ("Precedence", "list"),
            ("X-BeenThere", ml["address"]),
            ("X-Mailman-Version", "2.1.39"),
            ("List-Id", f'{ml["name"]} <{ml["id"]}>'),
            ("List-Unsubscribe", f"<https://{host}/mailman/options/{name}>,\n <mailto:{name}-request@{host}"
                                 "?subject=unsubscribe>"),
            ("List-Archive", f"<https://{host}/pipermail/{name}/>"),
            ("List-Post", f"<mailto:{ml['address']}>"),
            ("List-Help", f"<mailto:{name}-request@{host}?subject=help>"),
        ]  # fmt: skip

    def list_threads(self, budget: int) -> None:
        ml = MAILING_LIST
        name, host = ml["address"].split("@")
        footer = (f"\n_______________________________________________\n{name} mailing list\n{ml['address']}\n"
                  f"https://{host}/mailman/listinfo/{name}\n")  # fmt: skip
        posters = list(LIST_POSTERS)
        self.rng.shuffle(posters)
        turn = 0
        while budget > 0:
            length = min(budget, self.rng.randint(1, 5))
            budget -= length
            subject = f"{ml['tag']} {self.rng.choice(LIST_TOPICS)}"
            author, when, parent = posters[turn % len(posters)], self.random_time(), None
            turn += 1
            for _ in range(length):
                greeting = f"Hi {first_name(parent.author)}," if parent else "Hi all,"
                lines = [greeting, "", " ".join(self.rng.sample(LIST_SENTENCES, k=2)), ""]
                self.should_sign(author)
                text = "\n".join(lines + self.signature_lines(author))
                if parent:
                    text += "\n" + self.quote(parent, author)
                if not self.is_user(author):
                    text += footer
                parent = self.compose(
                    author=author, to=ml["address"], when=when, kind="list", parent=parent, text=text,
                    cc=[parent.author] if parent and parent.author.email != author.email else [],
                    subject=("Re: " + parent.subject.removeprefix("Re: ")) if parent else subject,
                    extra=[] if self.is_user(author) else self.list_headers(),
                )  # fmt: skip
                when = self.later(when)
                others = [p for p in posters if p.email != author.email]
                author = self.user if not self.is_user(author) and self.rng.random() < 0.25 else self.rng.choice(others)

    def esp_headers(self, esp: str | None, sender: str) -> list[tuple[str, str]]:
        r = self.rng
        domain = sender.rpartition("@")[2]
        token = f"{r.getrandbits(48):012x}"
        if esp == "mailchimp":
            return [("X-Mailer", "Mailchimp Mailer - **CID" + token + "**"), ("X-MC-User", token[:10]),
                    ("Feedback-ID", f"21:21.{r.randrange(10**6)}:us21:mc"),
                    ("List-Id", f"{token[:20]}mc list <{token[:20]}.{r.randrange(10**5)}.list-id.mcsv.net>")]
        if esp == "sendgrid":
            return [("X-SG-EID", base64.b64encode(token.encode() * 3).decode()),
                    ("X-SG-ID", base64.b64encode(token[::-1].encode()).decode()),
                    ("X-Feedback-ID", f"{r.randrange(10**7)}:SG")]
        if esp == "mailgun":
            return [("X-Mailgun-Sid", base64.b64encode(token.encode()).decode()),
                    ("X-Mailgun-Tag", "newsletter"), ("X-Mailgun-Variables", f'{{"campaign": "{token[:8]}"}}')]
        if esp == "brevo":
            return [("X-Mailin-EID", f"{r.randrange(10**8)}.{token}"), ("X-sib-id", token * 2),
                    ("Feedback-ID", f"{r.randrange(10**6)}:{r.randrange(10**6)}:Sendinblue")]
        if esp == "ses":
            return [("Feedback-ID", f"1.us-east-1.{base64.b64encode(token.encode()).decode()}:AmazonSES"),
                    ("X-SES-Outgoing", f"2024.03.04-54.240.8.{r.randrange(1, 255)}")]
        return [("X-Mailer", f"{domain} notifier")]  # fmt: skip

    def unsubscribe(self, sender: str) -> list[tuple[str, str]]:
        domain = sender.rpartition("@")[2]
        token = f"{self.rng.getrandbits(64):016x}"
        return [("List-Unsubscribe", f"<https://{domain}/unsubscribe?u={token}>, <mailto:unsubscribe@{domain}"
                                     f"?subject=unsubscribe-{token[:8]}>"),
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")]  # fmt: skip

    def newsletters(self, budget: int) -> None:
        for i in range(budget):
            name, sender, esp, plus, html_only = NEWSLETTERS[i % len(NEWSLETTERS)]
            contact = Contact(name, sender)
            issue = 100 + i
            items = self.rng.sample(("Spring collection is here", "5 tips for remote teams", "Members-only event",
                                     "Our roastery tour", "What's new in 3.0", "Save 20% this weekend",
                                     "Reader survey results", "Behind the scenes"), k=3)  # fmt: skip
            domain = sender.rpartition("@")[2]
            text = "\n".join([f"{name} - Issue #{issue}", "", "From the editor: thanks for reading!", "",
                              *(f"* {item}: https://{domain}/r/{issue}/{n}"
                              for n, item in enumerate(items)), "", "You receive this because you subscribed.",
                              f"Unsubscribe: https://{domain}/unsubscribe", f"{name}, 1 Example Way, Springfield"])
            html_text = (f'<html><body><h1>{html.escape(name)}</h1>' + "".join(
                f'<p><a href="https://{domain}/r/{issue}/{n}">{html.escape(item)}</a></p>' for n, item in
                enumerate(items)) + f'<p><a href="https://{domain}/unsubscribe">Unsubscribe</a></p>'
                f'<img src="https://{domain}/o/{issue}.gif" width="1" height="1" alt=""></body></html>\n')
            recipient = self.plus_user if plus else self.user.email
            extra = self.esp_headers(esp, sender) + self.unsubscribe(sender)
            if not any(h == "List-Id" for h, _ in extra):
                extra.append(("List-Id", f"<newsletter.{domain}>"))
            extra.append(("Precedence", "bulk"))
            self.compose(author=contact, to=recipient, subject=f"{name}: {items[0]}", text=text,
                         html_text=html_text, when=self.random_time(), kind="newsletter", delivered_to=recipient,
                         mode="html" if html_only else "alternative", extra=extra)  # fmt: skip

    def transactional(self, budget: int) -> None:
        for i in range(budget):
            name, sender, subject, esp = TRANSACTIONAL[i % len(TRANSACTIONAL)]
            number = self.rng.randrange(10000, 99999)
            amount = f"{self.rng.randrange(5, 500)}.{self.rng.randrange(100):02d}"
            text = "\n".join([f"Hello {first_name(self.user)},", "", f"Reference: {number}", f"Amount: ${amount}",
                              "", "This is an automated message, please do not reply.", f"The {name} team"])
            extra = [("Auto-Submitted", "auto-generated"), ("X-Auto-Response-Suppress", "All")]
            extra += self.esp_headers(esp, sender) if esp else []
            self.compose(author=Contact(name, sender), to=[self.user], subject=subject.format(n=number), text=text,
                         when=self.random_time(), kind="transactional",
                         mode="alternative" if i % 2 else "text", extra=extra)  # fmt: skip

    def social(self, budget: int) -> None:
        people = [c for c in PERSONAL + COLLEAGUES if c.name.isascii()]
        for i in range(budget):
            display, sender, subject, template = LINKEDIN[i % len(LINKEDIN)]
            person = self.rng.choice(people)
            text = (f"{person.name}\n{person.title or 'Professional'}\n\nView profile: https://www.linkedin.com/comm/"
                    f"in/{person.name.lower().replace(' ', '-')}\n\nThis email was intended for {self.user.name}.\n"
                    f"Unsubscribe: https://www.linkedin.com/e/v2?e=unsub\n© 2024 LinkedIn")  # fmt: skip
            extra = [("X-LinkedIn-Class", template), ("X-LinkedIn-Template", template.lower().replace("-", "_")),
                     ("X-LinkedIn-fbl", f"m2-{self.rng.getrandbits(64):016x}")] + self.unsubscribe(sender)
            self.compose(author=Contact(display.format(name=person.name), sender), to=[self.user],
                         subject=subject.format(name=person.name, n=self.rng.randrange(5, 40)), text=text,
                         when=self.random_time(), kind="social", mode="alternative", extra=extra)  # fmt: skip

    def role_threads(self, budget: int) -> None:
        i = 0
        while budget > 0:
            role = ROLES[i % len(ROLES)]
            i += 1
            length = min(budget, self.rng.randint(2, 3))
            ticket = f"[Ticket #{self.rng.randrange(1000, 9999)}] " if role.email.startswith("support@") else ""
            subject = ticket + self.rng.choice(("Login issue", "Quote request", "Invoice copy", "Licence upgrade"))
            budget -= len(self.conversation(kind="role", participants=[role], length=length, subject=subject,
                                            sentences=WORK_SENTENCES["en"], user_starts=i % 2 == 1))  # fmt: skip

    def disposable(self, budget: int) -> None:
        self.conversation(kind="disposable", participants=[DISPOSABLE], length=budget,
                          subject="Inquiry via website form", sentences=WORK_SENTENCES["en"], user_starts=False)

    # ----------------------------------------------------------- breakage
    def malformed(self, count: int) -> None:
        authors = [STRAY, COLLEAGUES[1], COLLEAGUES[3], COLLEAGUES[5], COLLEAGUES[4], PERSONAL[0], COLLEAGUES[8]]
        for i in range(count):
            kind = MALFORMED_KINDS[i % len(MALFORMED_KINDS)]
            author = STRAY if kind == "broken-encoded-word" else authors[i % len(authors)]
            text = self.own_text(author, self.user, WORK_SENTENCES["en"], sign=True)
            mail = self.compose(author=author, to=[self.user], subject=self.rng.choice(WORK_TOPICS), text=text,
                                when=self.random_time(), kind="malformed")  # fmt: skip
            self.break_mail(mail, kind)

    def break_mail(self, mail: Mail, kind: str) -> None:
        """Damage a composed message in one of the ways real mail is broken."""
        mail.malformed = kind
        headers = mail.headers

        def replace(name: str, value: str | bytes | None) -> None:
            index = next(i for i, (n, _) in enumerate(headers) if n == name)
            if value is None:
                del headers[index]
            else:
                headers[index] = (name, value)

        if kind == "broken-encoded-word":
            replace("From", f"=?utf-8?Q?Ren=C3=A9e_Lambert <{mail.author.email}>")  # the word is never closed
            replace("Subject", "=?utf-8?B?UHLDqXNlbnRhdGlvbg?= =?x-unknown?Q?slides=ZZ?=")
        elif kind == "missing-message-id":
            replace("Message-ID", None)
            mail.message_id = None
        elif kind == "bad-date":
            replace("Date", "sometime next week, 25:61 +9999")
        elif kind == "truncated-multipart":
            boundary = self.boundary()
            attachment = base64.encodebytes(bytes(self.rng.getrandbits(8) for _ in range(600)))
            body = (f"--{boundary}\nContent-Type: text/plain; charset=\"utf-8\"\n\n{mail.text}\n"
                    f"--{boundary}\nContent-Type: application/pdf; name=\"offer.pdf\"\n"
                    "Content-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=\"offer.pdf\"\n\n"
                    ).encode() + attachment[: len(attachment) // 2 - 7] + b"\n"  # cut mid-line, no closing boundary
            headers[:] = [(n, v) for n, v in headers if n not in ("Content-Type", "Content-Transfer-Encoding")]
            headers.append(("Content-Type", f'multipart/mixed; boundary="{boundary}"'))
            mail.body = body
        elif kind == "header-without-colon":
            headers.append((None, "X-Note this header line lost its colon"))  # parsers end the header here
        elif kind == "raw-8bit-header":
            replace("Subject", "Réunion d'équipe".encode("latin-1"))
            replace("From", f"{mail.author.name} <{mail.author.email}>".encode("latin-1"))
        elif kind == "unterminated-address":
            replace("From", f"{mail.author.name} <{ascii_email(mail.author.email)}")
        elif kind == "unknown-charset":
            headers[:] = [(n, v) for n, v in headers if n not in ("Content-Type", "Content-Transfer-Encoding")]
            headers += [("Content-Type", 'text/plain; charset="x-mac-klingon"'), ("Content-Transfer-Encoding", "8bit")]
            mail.body = mail.text.encode("utf-8") + b"\n"
        else:  # pragma: no cover - guarded by MALFORMED_KINDS
            raise ValueError(kind)


# =========================================================================== #
# Entry points
# =========================================================================== #


def quotas(messages: int) -> dict[str, int]:
    """How many messages each category gets; colleagues take the rest."""
    counts = {name: max(1, round(messages * share)) for name, share in QUOTAS.items()}
    counts["disposable"] = max(2, counts["disposable"])
    counts["colleague"] = messages - sum(counts.values())
    return counts


def write_mbox(path: Path, mails: list[Mail]) -> None:
    """mboxo: ``From `` separator lines, body lines starting with ``From `` escaped."""
    out = bytearray()
    for mail in mails:
        sender = ascii_email(mail.author.email) if "@" in mail.author.email else "MAILER-DAEMON"
        out += f"From {sender} {mbox_date(mail.when)}\n".encode()
        data = mail.to_bytes()
        data = b"\n".join(b">" + line if line.startswith(b"From ") else line for line in data.split(b"\n"))
        out += data if data.endswith(b"\n") else data + b"\n"
        out += b"\n"
    path.write_bytes(bytes(out))


def generate_demo_mailbox(
    path: Path | str,
    *,
    seed: int = 7,
    messages: int = 400,
    user: str = DEFAULT_USER,
    alias: str = DEFAULT_ALIAS,
) -> DemoInfo:
    """Write a reproducible demo mbox to ``path`` and return the facts it holds."""
    if messages < MIN_MESSAGES:
        raise ValueError(f"messages must be at least {MIN_MESSAGES} to hold every kind of mail (got {messages})")
    if user.count("@") != 1 or alias.count("@") != 1:
        raise ValueError("user and alias must be email addresses")
    path = Path(path)
    builder = MailboxBuilder(random.Random(seed), user.lower(), alias.lower())
    counts = quotas(messages)
    builder.colleague_threads(counts["colleague"])
    builder.personal_threads(counts["personal"])
    builder.list_threads(counts["list"])
    builder.role_threads(counts["role"])
    builder.disposable(counts["disposable"])
    builder.newsletters(counts["newsletter"])
    builder.transactional(counts["transactional"])
    builder.social(counts["social"])
    builder.malformed(counts["malformed"])
    mails = sorted(builder.mails, key=lambda m: (m.when, m.seq))
    assert len(mails) == messages, (len(mails), messages)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_mbox(path, mails)
    return _facts(builder, mails, path, seed)


def _unique(values) -> list[str]:
    return list(dict.fromkeys(values))


def _facts(builder: MailboxBuilder, mails: list[Mail], path: Path, seed: int) -> DemoInfo:
    authors = [m.author for m in mails if not builder.is_user(m.author)]
    by_kind = {}
    for mail in mails:
        by_kind.setdefault(mail.kind, []).append(mail.author.email)
    colleagues = _unique(c.email for c in (*COLLEAGUES, *builder.internal))
    signers = [c for c in (*COLLEAGUES, *builder.internal, *LIST_POSTERS) if c.layout]
    return DemoInfo(
        path=path,
        seed=seed,
        messages=len(mails),
        identities=[builder.user.email, builder.alias],
        names={c.email: c.name for c in authors if "via LinkedIn" not in c.name}
        | {builder.user.email: builder.user.name, builder.alias: builder.user.name},
        colleagues=colleagues,
        internal=[c.email for c in builder.internal],
        personal=[c.email for c in PERSONAL],
        newsletters=_unique(by_kind.get("newsletter", [])),
        transactional=_unique(by_kind.get("transactional", [])),
        social=_unique(by_kind.get("social", [])),
        mailing_lists=[MAILING_LIST["address"]],
        list_posters=_unique(e for e in by_kind.get("list", []) if e != builder.user.email),
        roles=[c.email for c in ROLES],
        disposable=[DISPOSABLE.email],
        idn=_unique(c.email for c in (*COLLEAGUES, *PERSONAL) if not c.email.rpartition("@")[2].isascii()),
        plus_tagged=[c.email for c in PERSONAL if "+" in c.email] + [builder.plus_user],
        signatures={c.email: builder.expected_signature(c) for c in signers if c.email in builder.signed},
        user_signature=builder.expected_signature(builder.user),
        no_signature=[c.email for c in (*COLLEAGUES, *PERSONAL) if c.layout is None],
        replied=list(builder.replied),
        message_ids=[m.message_id for m in mails],
        replies=dict(builder.replies),
        kinds=[m.kind for m in mails],
        malformed={i: m.malformed for i, m in enumerate(mails) if m.malformed},
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m leadminer_runner.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="mbox file to write")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--user", default=DEFAULT_USER)
    parser.add_argument("--alias", default=DEFAULT_ALIAS)
    parser.add_argument("--facts", type=Path, help="also write the expected facts as JSON here")
    args = parser.parse_args(argv)
    try:
        info = generate_demo_mailbox(args.out, seed=args.seed, messages=args.messages, user=args.user,
                                     alias=args.alias)  # fmt: skip
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.facts:
        args.facts.write_text(json.dumps(info.to_dict(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {info.messages} messages to {info.path} (seed {info.seed}; "
          f"{len(info.malformed)} malformed, {len(info.signatures)} signers)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
