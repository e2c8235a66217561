"""Fields of a signature block: name, job title, organisation, phones, fax,
postal address, website, social profiles and other e-mail addresses.

Phones go through ``phonenumbers`` (``Leniency.VALID``: the number must be a
valid number of its region, which rejects dates, zip codes and ids) with a
region hint from the sender's country-code TLD, and come out in E.164.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import phonenumbers
from nameparser import HumanName
from phonenumbers import Leniency, PhoneNumberFormat, PhoneNumberMatcher

from ..data import word_list
from . import lexicon as lx
from .detect import LineInfo, classify, one_line_parts
from .identity import Identity, fold

_INITIALS = re.compile(r"[A-Z]{1,4}")  # "JD" under a message is a sign-off, not a name
_SEGMENT_SPLIT = re.compile(r"\t+|\s{3,}|\s[*|•·]\s")
_PART_SPLIT = re.compile(r",\s+|;\s+|\s[-–—/]\s|\s\|\s|\s+at\s+|\s{2,}")
_LABEL_WORDS = re.compile(
    r"\b(fax|facsimile|telefax|télécopie|fx|phone|ph|tel|tél|telephone|téléphone|telefon|telefono|"
    r"teléfono|office|direct|work|home|mobile|mob|cell|cellular|wireless|handy|portable|móvil|movil|"
    r"celular|pager|voice|main)\b|\b([tfmpocdwh])\s*[:.]",
    re.IGNORECASE,
)
_TRAILING_LABEL = re.compile(
    r"^\s*[-(\[]?\s*(fax|facsimile|telefax|fx|phone|ph|tel|telephone|office|direct|work|home|mobile|mob|"
    r"cell|cellular|wireless|pager|voice|main)\b\.?\s*[)\]]?",
    re.IGNORECASE,
)
DEFAULT_REGION = "US"
_CC_TO_REGION = {"uk": "GB", "el": "GR"}
# Country-code TLDs sold as generic names (kestrel-labs.io, acme.ai): no country hint.
_GENERIC_CC_TLDS = frozenset(
    "io co ai me tv fm ly to gg sh ws cc la im vc so ag sc nu tk gd ms mu pw cx ac st".split()
)


def region_for(email: str) -> str:
    """Phone region hint from the address's country-code TLD ("US" by default)."""
    tld = email.rpartition(".")[2].lower()
    region = _CC_TO_REGION.get(tld, tld.upper())
    if len(tld) == 2 and tld not in _GENERIC_CC_TLDS and region in phonenumbers.SUPPORTED_REGIONS:
        return region
    return DEFAULT_REGION


@dataclass(slots=True)
class Fields:
    """What a signature block says (all optional)."""

    name: str | None = None
    job_title: str | None = None
    organization: str | None = None
    telephone: list[str] = field(default_factory=list)
    fax: list[str] = field(default_factory=list)
    address: str | None = None
    url: str | None = None
    same_as: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)


def _kind(word: str) -> str:
    if lx.FAX_LABEL.fullmatch(word):
        return "fax"
    if lx.MOBILE_LABEL.fullmatch(word):
        return "mobile"
    return "phone"


def _trailing_label(text: str) -> re.Match[str] | None:
    """A label written after a number: "… (fax)", "… Office", "… ph." (not "Fx: …")."""
    m = _TRAILING_LABEL.match(text)
    if not m:
        return None
    rest = text[m.end() :].lstrip()
    forward = rest[:1] in {":", "#", "-", "–", "+", "("} or rest[:1].isdigit()  # "Fax - 713…", "Fx: …"
    return None if forward else m


def _label_kind(before: str, after: str, *, follows_number: bool) -> str | None:
    """"fax" / "mobile" / "phone" for a number between ``before`` and ``after``."""
    trailing = _trailing_label(after)
    if trailing:
        return _kind(trailing.group(1).lower())
    previous = _trailing_label(before) if follows_number else None  # the previous number's label
    if previous:
        before = before[previous.end() :]
    found = list(_LABEL_WORDS.finditer(before))
    if not found:
        return None
    word = found[-1].group(1) or found[-1].group(2)
    return _kind(word.lower())


def extract_phones(lines: list[str], region: str) -> tuple[list[str], list[str]]:
    """(telephones, faxes) in E.164 from signature lines; fax only when labelled."""
    phones: list[str] = []
    faxes: list[str] = []
    for line in lines:
        if sum(ch.isdigit() for ch in line) < 7:
            continue
        matches = list(PhoneNumberMatcher(line, region, leniency=Leniency.VALID))
        if not matches and region != DEFAULT_REGION:  # a US-style number from abroad
            matches = list(PhoneNumberMatcher(line, DEFAULT_REGION, leniency=Leniency.VALID))
        for n, match in enumerate(matches):
            in_address = "@" in line[max(0, match.start - 1) : match.end + 1]
            in_link = "://" in line[max(0, match.start - 8) : match.start]
            if in_address or in_link:
                continue
            before = line[matches[n - 1].end if n else 0 : match.start]
            after = line[match.end : matches[n + 1].start if n + 1 < len(matches) else len(line)]
            kind = _label_kind(before, after, follows_number=n > 0)
            number = phonenumbers.format_number(match.number, PhoneNumberFormat.E164)
            target = faxes if kind == "fax" else phones
            if number not in phones and number not in faxes:
                target.append(number)
    return phones, faxes


def _segments(line: str) -> list[str]:
    return [s.strip() for s in _SEGMENT_SPLIT.split(line) if s.strip()]


def clean_name(text: str) -> str:
    """A name without honorifics, credentials or e-mail ("Dr. Mark D. Guinney, CFA" →
    "Mark D. Guinney"); a name written in capitals gets its usual case ("JANE DOE" → "Jane Doe")."""
    text = lx.ANGLE_EMAIL.sub("", text).strip(" ,;-|")
    name = HumanName(text)
    if text.isupper() and len(text.split()) >= 2:
        name.capitalize(force=True)
    parts = [name.first, name.middle, name.last]
    cleaned = " ".join(p for p in parts if p)
    return cleaned or text


def _host(url: str) -> str:
    if not re.match(r"https?://", url, re.IGNORECASE):
        url = "http://" + url
    return (urlsplit(url).hostname or "").lower()


def _is_social(url: str) -> bool:
    host = _host(url)
    if any(host == s or host.endswith("." + s) for s in lx.SOCIAL_HOSTS):
        return True
    return bool(lx.MASTODON_PATH.match(url))


def _is_website(url: str) -> bool:
    host = _host(url)
    if not host or "." not in host:
        return False
    try:
        ipaddress.ip_address(host)
        return False
    except ValueError:
        pass
    free = word_list("free_email_providers")
    labels = host.split(".")
    for k in range(len(labels) - 1):
        if ".".join(labels[k:]) in free:
            return False
    return True


_DOCUMENT = re.compile(r"\.(?:s?html?|php\d?|aspx?|jsp|cgi|pdf|txt|doc)$", re.IGNORECASE)


def _home_page_like(url: str, identity: Identity) -> bool:
    """A person's or company's site, not a link they quote: on the sender's own
    domain, or a site root / one-segment path (``/~user``, ``/team``) that is not a document."""
    host = _host(url)
    if identity.domain and (host == identity.domain or host.endswith("." + identity.domain)):
        return True
    segments = [s for s in urlsplit(_normalise_url(url)).path.split("/") if s]
    return len(segments) <= 1 and not (segments and _DOCUMENT.search(segments[0]))


_WWW_HOSTS = frozenset({"linkedin.com", "facebook.com", "instagram.com", "youtube.com", "xing.com"})


def _canonical_profile(url: str) -> str:
    """https, the host's canonical form and no trailing slash: one profile, one URL."""
    parts = urlsplit(_normalise_url(url))
    host = (parts.hostname or "").lower()
    if host in _WWW_HOSTS:
        host = "www." + host
    path = parts.path.rstrip("/")
    query = f"?{parts.query}" if parts.query else ""
    return f"https://{host}{path}{query}"


def _normalise_url(url: str) -> str:
    url = url.rstrip(".,;:!?>)]")
    return url if re.match(r"https?://", url, re.IGNORECASE) else "https://" + url


def _address_like(segment: str, info: LineInfo) -> bool:
    return bool(
        lx.STREET.search(segment)
        or lx.PO_BOX_OR_UNIT.search(segment)
        or lx.is_city_state_zip(segment)
    ) and not info.phone


def _address_part(segment: str) -> bool:
    """A line that continues an address: a unit, mail stop, building ("GPP3-389", "3WTC 0306")."""
    words = segment.split()
    return 0 < len(words) <= 4 and bool(re.search(r"\d", segment)) and not lx.EMAIL.search(segment)


def _find_address(items: list[tuple[int, str, LineInfo]]) -> tuple[str | None, set[int]]:
    """Postal address from (line, segment, info) items: anchor lines plus neighbours."""
    anchors = [k for k, (_, seg, info) in enumerate(items) if _address_like(seg, info)]
    if not anchors:
        return None, set()
    first = anchors[0]
    run = [first]
    # grow downwards over address lines / parts / a country line on following lines
    k = first + 1
    while k < len(items):
        line_no, seg, info = items[k]
        if line_no - items[run[-1]][0] > 1:
            break
        if _address_like(seg, info) or lx.COUNTRY_LINE.match(seg):
            run.append(k)
        elif _address_part(seg) and not info.phone and any(
            _address_like(items[j][1], items[j][2]) for j in range(k + 1, min(len(items), k + 3))
        ):
            run.append(k)
        elif line_no == items[run[-1]][0]:
            k += 1
            continue  # another column on the same line
        else:
            break
        k += 1
    # one step upwards for a leading unit / mail stop / street number line
    k = first - 1
    while k >= 0 and items[first][0] - items[k][0] == 1:
        _, seg, info = items[k]
        if _address_part(seg) and not info.phone and not lx.EMAIL.search(seg):
            run.insert(0, k)
            first = k
            k -= 1
        else:
            break
    parts = [items[k][1] for k in run]
    return ", ".join(parts), set(run)


def _department(part: str, identity: Identity) -> bool:
    """A unit of the organisation ("Gas Settlements", "Regulatory Affairs"): capitalised
    words without a legal form or institution word, not the sender's domain name and
    not an acronym ("EWS", which is how an organisation is often named)."""
    words = part.split()
    if not words or re.search(r"[\d@]", part) or (len(words) == 1 and words[0].strip(".").isupper()):
        return False
    tokens = [fold(t).strip(".'-") for t in re.split(r"[\s/&()]+", part) if t]
    return lx.is_department(tokens) and not identity.names_domain(part) and classify(part, identity).proper


_TITLE_COMPANY_LINK = frozenset({"for", "of", "with", "at", "@"})


def _title_then_company(part: str, identity: Identity) -> tuple[str, str] | None:
    """(title, company) of a title followed by a company without a separator: "Senior
    Counsel Heron Energy Inc.", "Vice President of Heron Energy Inc.", "Analyst (Acme
    Corp.)"; the company must carry a legal form or the sender's domain name."""
    words = part.split()
    tokens = [fold(w).strip(".,'()-") for w in words]
    last_title = max((i for i, t in enumerate(tokens) if lx.is_title_word(t)), default=None)
    if last_title is None or last_title == len(words) - 1:
        return None
    start = last_title + 1
    if tokens[start] in _TITLE_COMPANY_LINK and start + 1 < len(words):
        start += 1
    rest = " ".join(words[start:]).strip("() ")
    if rest[:1].isupper() and _company(rest, identity) and not _has_title_word(rest):
        return " ".join(words[: last_title + 1]).strip("( ,.-–—:;"), rest
    return None


def _split_title_org(segment: str, identity: Identity) -> tuple[str | None, str | None]:
    """"Senior Counsel, EWS" → ("Senior Counsel", "EWS"); "Manager" → ("Manager", None);
    a department right after the title stays with it: "Specialist, Gas Settlements" →
    ("Specialist, Gas Settlements", None); "Director - Gas Trading, Iberdrola S.A." →
    ("Director, Gas Trading", "Iberdrola S.A.")."""
    parts = [p.strip(" ,") for p in _PART_SPLIT.split(segment) if p.strip(" ,.")]
    title_parts = []
    org_parts = []
    for part in parts:
        info = classify(part, identity)
        if info.title and not (info.org and not _has_title_word(part)):
            joined = _title_then_company(part, identity)
            if joined:
                title_parts.append(joined[0])
                org_parts.append(joined[1])
                continue
            title_parts.append(part)
        elif title_parts and not org_parts and _department(part, identity):
            title_parts.append(part)
        else:
            org_parts.append(part)
    title = ", ".join(p.rstrip(".") for p in title_parts) or None
    org = ", ".join(org_parts) or None
    return title, org


def _name_item(items: list[tuple[int, str, LineInfo]], *, any_person: bool = True) -> int | None:
    """The sender's own name line first, else (``any_person``) the first line shaped like a name."""
    for k, (_, _, info) in enumerate(items):
        if info.name and not info.strong:
            return k
    if not any_person:
        return None
    for k, (_, _, info) in enumerate(items[:3]):
        if info.person:
            return k
    return None


_CONTACT_START = re.compile(r"[\d+(@<]|https?:|www\.", re.IGNORECASE)
_PLAIN_NAME = re.compile(r"[^\W\d_][^\W\d_.'’ -]*(?:[.'’ -]+[^\W\d_]+)*\.?")
_LABEL_END = re.compile(
    r"\b(?:tel|tél|phone|ph|telephone|mobile|mob|cell|fax|office|direct|work|e-?mail|mail|web)\b\.?\s*:?\s*$",
    re.IGNORECASE,
)


def _name_before_contact(segment: str, identity: Identity) -> str | None:
    """The sender's full name opening a contact line ("Jane Doe (713) 853-1234",
    "Jane Doe - jane@acme.com", "Jane Doe  Tel: 713…")."""
    m = _CONTACT_START.search(segment)
    if not m or m.start() == 0:
        return None
    head = segment[: m.start()].rstrip()
    if head.endswith(":"):  # "Jane Doe Email&SMS: …": the label is the last word
        head = head.rpartition(" ")[0]
    head = _LABEL_END.sub("", head).strip(" -–—|,:;/")
    if not _PLAIN_NAME.fullmatch(head):
        return None
    info = classify(head, identity)
    return clean_name(head) if info.name and info.name_only and info.words >= 2 else None


def _split_name(segment: str) -> tuple[str, str | None]:
    """"Michael Clark, Webmaster" → ("Michael Clark", "Webmaster"); credentials are dropped."""
    head, _, tail = segment.partition(",")
    tail = tail.strip(" ,")
    if tail and _has_title_word(tail) and not all(fold(t).strip(".") in lx.CREDENTIALS for t in tail.split()):
        return clean_name(head), tail
    return clean_name(segment), None


def _org_like(info: LineInfo) -> bool:
    return info.org and not info.name and not info.title


def _tokens(text: str) -> list[str]:
    return [fold(t).strip(".'-") for t in re.split(r"[\s,/&()]+", text) if t]


def _company(text: str, identity: Identity) -> bool:
    """An organisation named as a company: a legal form, the sender's domain name, or
    "A & B" that is no business unit ("Deloitte & Touche", not "Parking & Transportation Desk")."""
    tokens = _tokens(text)
    return lx.has_legal_form(tokens) or identity.names_domain(text) or (
        " & " in text and not lx.is_department(tokens)
    )


def _unit_after_title(part: str, identity: Identity) -> bool:
    """What follows a title on its line names the sender's unit when the block names the
    company elsewhere: capitalised words without a legal form or the sender's domain
    ("Manager - Human Capital Advisory Services" above "Deloitte & Touche")."""
    return (
        not re.search(r"[\d@]", part)
        and not _company(part, identity)
        and classify(part, identity).proper
    )


def _title_and_org(
    items: list[tuple[int, str, LineInfo]],
    name_k: int | None,
    address_items: set[int],
    identity: Identity,
    title: str | None,
) -> tuple[str | None, str | None]:
    """Job title (title words) and organisation (suffix, sender's domain, "Title, Org",
    or the short line right after the name/title) among the block's other lines.

    A business unit goes with the title: the rest of a title line when a company is
    named on another line ("Manager - Human Capital Advisory Services" / "Deloitte &
    Touche"), and, when no line carries a title, a unit line next to the company line
    ("Enron North America Corp." / "ENA Legal Dept.")."""
    usable = [
        k
        for k, (_, seg, info) in enumerate(items)
        if k != name_k and k not in address_items and not (info.strong or info.rule or info.prose or info.sign_off)
    ]
    org_k: int | None = None
    org: str | None = None
    title_k: int | None = None
    # the first line naming a company (a legal form, the sender's domain) that is no title line
    company_k = next(
        (k for k in usable if not items[k][2].title and _org_like(items[k][2]) and _company(items[k][1], identity)),
        None,
    )
    absorbed: set[int] = set()
    for k in usable:
        _, seg, info = items[k]
        if k in absorbed:
            continue
        if info.title and title is None:
            title, org_part = _split_title_org(seg, identity)
            title_k = k
            if org_part and company_k is not None and _unit_after_title(org_part, identity):
                title, org_part = f"{title}, {org_part}", None  # the company has its own line
            # the parts of a one-line signature after the title that name a unit
            j = k + 1
            while j in usable and items[j][0] == items[k][0] and not org_part and (
                _department(items[j][1], identity)
                or (company_k is not None and j != company_k and _unit_after_title(items[j][1], identity))
            ):
                title = f"{title}, {items[j][1].strip(' ,').rstrip('.')}"
                absorbed.add(j)
                j += 1
            if org_part and org is None:
                org, org_k = org_part, k
        elif _org_like(info) and org is None:
            org, org_k = seg.strip(" ,"), k
    usable = [k for k in usable if k not in absorbed]
    # The line right after the name (and title) is usually the organisation; it
    # also opens a two-line organisation ("West Texas Geoscience / ExxonMobil Co.").
    after = max(k for k in (name_k, title_k, *absorbed, -1) if k is not None)
    nxt = after + 1
    if after >= 0 and nxt in usable and (org is None or org_k in (nxt, nxt + 1)):
        _, seg, info = items[nxt]
        words = seg.split()
        capitalised = sum(w[:1].isupper() for w in words) * 2 >= len(words)
        if info.weak and not info.name and not info.title and capitalised and not re.search(r"\d", seg):
            org, org_k = seg.strip(" ,"), nxt
    if org is None or org_k is None:
        return title, org
    if title is None:
        function = _function_title(items, usable, identity)
        if function is not None:
            return function
    if org_k + 1 in usable:
        line_no = items[org_k][0]
        next_line, next_seg, next_info = items[org_k + 1]
        if next_line == line_no + 1 and _org_like(next_info):
            org = f"{org}, {next_seg.strip(' ,')}"  # "West Texas Geoscience / ExxonMobil Production Co."
    return title, org


def _function_line(text: str, identity: Identity) -> bool:
    """A business function, not a unit named as such nor a company ("Vendor Management",
    "Debt Capital Markets"; not "Legal Department", "Acme Trading Inc")."""
    tokens = _tokens(text)
    return (
        any(t in lx.DEPARTMENT_WORDS for t in tokens)
        and not any(t in lx.UNIT_NOUNS for t in tokens)
        and not _company(text, identity)
        and not re.search(r"[\d@]", text)
        and classify(text, identity).proper
    )


def _function_title(
    items: list[tuple[int, str, LineInfo]], usable: list[int], identity: Identity
) -> tuple[str, str] | None:
    """(position, organisation) for a block without a title line whose company line has a
    business function beside it, or one unit line away ("Enron NetWorks LLC" / "Vendor
    Management"; "Transaction Management" / "Corporate Advisory Division" / "Lehman
    Brothers"): the function is the sender's position, the unit and company the organisation."""
    companies = [k for k in usable if _org_like(items[k][2]) and _company(items[k][1], identity)]
    for c in companies:
        for f in (c - 1, c + 1, c - 2, c + 2):
            between = range(min(f, c) + 1, max(f, c))
            run = range(min(f, c), max(f, c) + 1)
            if (
                f in usable
                and all(k in usable and _org_like(items[k][2]) for k in between)
                and all(items[k][0] - items[run[0]][0] == n for n, k in enumerate(run))  # consecutive lines
                and _function_line(items[f][1], identity)
            ):
                org = ", ".join(items[k][1].strip(" ,") for k in run if k != f)
                return items[f][1].strip(" ,").rstrip("."), org
    return None


def _has_title_word(text: str) -> bool:
    return any(lx.is_title_word(fold(t).strip(".'-")) for t in re.split(r"[\s,/&()]+", text) if t)


def extract_fields(block: list[str], identity: Identity, *, name_above: str | None = None) -> Fields:
    """Read the fields of a signature ``block`` (lines) sent by ``identity``.

    ``name_above`` is the sender's name written right above the block (under the
    sign-off); when given, a person-shaped line of the block that is not the
    sender's is not taken for the name ("Acme Robotica S.r.l.").
    """
    out = Fields()
    region = region_for(identity.email)
    out.telephone, out.fax = extract_phones(block, region)

    items: list[tuple[int, str, LineInfo]] = []
    for line_no, line in enumerate(block):
        whole = line.strip()
        if "\t" not in whole and lx.is_city_state_zip(whole):
            items.append((line_no, whole, classify(whole, identity)))  # "Houston, Texas   77002"
            continue
        for seg in _segments(line):
            info = classify(seg, identity)
            if info.one_line:  # "Jane Doe – CTO – Acme Inc." / "Jane Doe, CTO, Acme Inc."
                items.extend((line_no, part, classify(part, identity)) for part in one_line_parts(seg))
            else:
                items.append((line_no, seg, info))

    # e-mails, websites, social profiles
    websites: list[str] = []
    for _, seg, _ in items:
        for address in lx.EMAIL.findall(seg):
            address = address.lower()
            if address != identity.email and address not in out.emails:
                out.emails.append(address)
        for m in lx.URL.finditer(seg):
            url = m.group(0)
            if "@" in seg[max(0, m.start() - 1) : m.start() + 1]:
                continue
            if _is_social(url):
                normalised = _canonical_profile(url)
                if normalised not in out.same_as:
                    out.same_as.append(normalised)
            elif _is_website(url):
                websites.append(_normalise_url(url))

    websites = [u for u in websites if _home_page_like(u, identity)]
    if websites:  # a home page rather than a deep link
        out.url = min(websites, key=lambda u: urlsplit(u).path.rstrip("/").count("/"))
    address, address_items = _find_address(items)
    out.address = address

    name_k = _name_item(items, any_person=name_above is None)
    if name_k is not None:
        name, title_on_name_line = _split_name(items[name_k][1])
        out.name = None if _INITIALS.fullmatch(name) else name
        out.job_title = title_on_name_line
    else:
        out.name = name_above or next(
            (name for _, seg, info in items[:2] if info.strong and (name := _name_before_contact(seg, identity))),
            None,
        )
    out.job_title, out.organization = _title_and_org(items, name_k, address_items, identity, out.job_title)
    return out
