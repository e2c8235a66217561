"""Locate the signature block at the bottom of the sender's own text.

Each line of the top zone gets cheap regex features (contact data, title and
organisation words, the sender's name, sign-off, prose shape). The block is
grown upwards from the last own line while lines look like signature lines;
it must carry real evidence (a phone, e-mail, URL or postal address, or a name
with a title/organisation) to count. Right under the sender's name (after a
sign-off, or set apart by a blank line), a short run of title / organisation
lines is a signature without any contact data; so is one line made of the
sender's name and title / organisation / contact parts ("Jane Doe | CTO | Acme").
Two spans are reported:

* ``block`` — the contact block (the Quagga ``Body/Signature`` convention);
* ``closing`` — the sign-off and the sender's name just above it ("Thanks,\\n
  Bob"), which some annotations (Talon/forge ``#sig#``) count as signature too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import lexicon as lx
from .identity import Identity, fold
from .quotes import ATTACHMENT, TopZone, top_zone

MAX_BLOCK_LINES = 15  # non-blank lines; longer bottoms are text, not a signature
MAX_GAP = 2  # blank lines allowed between two signature lines
MAX_DASH_DISTANCE = 20  # a "-- " delimiter this far from the end still opens the block
MAX_PHONE_LINES = 4  # more phone lines than this is a directory, not a signature
MAX_INNER_SCAN = 80  # own lines (from the bottom) searched for a contact block inside the text
MIN_INNER_LINES = 3  # name + two lines: a block inside the text must be complete
MAX_TRAILER_PARAGRAPHS = 3  # notice / enclosure / P.S. paragraphs allowed under the block
MAX_TRAILER_LINES = 12  # non-blank lines of those paragraphs together

_WORD = re.compile(r"\S+")
_ALPHA_WORD = re.compile(r"^[\W\d_]*([^\W\d_])")
_LIST_ITEM = re.compile(r"^\s*(?:\d{1,2}[.)]|[•·●▪]|[a-z][.)])\s+\S")
_SENTENCE_END = re.compile(r"[.?!]\s*[\"')]*$")
_ABBREVIATION_END = re.compile(
    r"\b(?:inc|corp|co|ltd|llc|l\.l\.c|l\.l\.p|llp|dept|jr|sr|st|ste|ave|blvd|rd|dr|no|ext|[A-Z])\.$", re.IGNORECASE
)
_DIGITS = re.compile(r"\d")
_HAS_ALNUM = re.compile(r"[^\W_]")
_COLUMN_SEPARATOR = re.compile(r"\s[|·•*]\s|\t")
_CJK_RUN = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]{8}")
_ZIP_PLUS_4 = re.compile(r"\d{5}-\d{4}")
_EXPLICIT_URL = re.compile(r"https?://|www\.", re.IGNORECASE)
_SPLIT_TOKENS = re.compile(r"[\s,/|&()\[\]:;]+")
_FUNCTION_WORDS = frozenset(
    "a an the or and at to me my i we us you your if is are can for on in with by of this will be call "
    "contact please reach let know write visit".split()
)
# "Jane Doe | CTO | Acme Inc." / "Jane Doe – CTO – Acme" / "Jane Doe, CTO, Acme Inc." / "Jane Doe / CTO / Acme"
_ONE_LINE_SEPARATOR = re.compile(r"\s*[|·•]\s*|\s+[-–—/]\s+|,\s+")
MAX_ONE_LINE_PARTS = 6
MAX_CAPITALISED_WORDS = 16  # a title / organisation line of capitalised parts is shorter
MAX_IDENTITY_LINES = 4  # name / title / organisation lines with no contact data
# Lower-case words inside a proper name ("Universidad de Chile", "Bank of America").
_CONNECTORS = frozenset(
    "of and for the de del la le les des du di da der die das und für fur van von en et y e & à".split()
)
_SIGN_OFF_STOP = frozenset(
    "for your you the a to all and so much again this that it in with of on my me be very lot".split()
)


@dataclass(slots=True)
class LineInfo:
    """Features of one line."""

    blank: bool = False
    sig_dash: bool = False
    rule: bool = False
    sign_off: bool = False
    prose: bool = False
    phone: bool = False
    email: bool = False
    url: bool = False
    address: bool = False
    title: bool = False
    org: bool = False
    company: bool = False  # an organisation with a legal form or the sender's domain name
    name: bool = False  # compatible with the sender's name
    person: bool = False  # looks like some person's name
    one_line: bool = False  # "Name | Title | Org" (name is the sender's when ``name`` is set)
    titled: bool = False  # starts with a capital and most words are capitalised
    proper: bool = False  # every word capitalised but connectors ("Universidad de Chile")
    weak: bool = False  # short, non-prose line
    junk: bool = False  # attachment stub, bare date: never part of a signature
    words: int = 0
    digits: int = 0

    @property
    def strong(self) -> bool:
        return self.phone or self.email or self.url or self.address

    @property
    def medium(self) -> bool:
        return self.title or self.org or self.name or self.person or self.one_line

    @property
    def name_only(self) -> bool:
        """A line that is just a name (or initials): part of a closing."""
        return (self.name or self.person or (self.weak and self.words == 1)) and not (
            self.strong or self.title or self.org or self.one_line
        )


def _capitalised_phrase(text: str, words: list[str]) -> bool:
    """A long line of capitalised parts ("Vice President, Regulatory Affairs, Pacific Gas
    and Electric Company"): every word capitalised but connectors, no sentence end."""
    if not 2 <= len(words) < MAX_CAPITALISED_WORDS or _SENTENCE_END.search(text) or text.endswith((":", ";")):
        return False
    return all(m.group(1).isupper() or fold(w) in _CONNECTORS for w in words if (m := _ALPHA_WORD.match(w)))


def _lowercase_ratio(words: list[str]) -> float:
    alpha = [m.group(1) for w in words if (m := _ALPHA_WORD.match(w))]
    if not alpha:
        return 0.0
    return sum(ch.islower() for ch in alpha) / len(alpha)


def is_sign_off(text: str) -> bool:
    """"Best regards," / "Thanks, Bob" / "Cordialement" — not "Thanks for your help"."""
    m = lx.SIGN_OFF.match(text)
    if not m:
        return False
    rest = (m.group("rest") or "").strip(" .!-–—")
    if not rest:
        return True
    tokens = rest.split()
    if any(fold(t).strip(".!'") in _SIGN_OFF_STOP for t in tokens):
        return False
    if len(tokens) == 1:
        return True  # "Thanks, BT" / "tx, rick"
    return all(t[0].isupper() for t in tokens)


def _sign_off_has_name(text: str) -> bool:
    m = lx.SIGN_OFF.match(text)
    return bool(m and (m.group("rest") or "").strip(" .!-–—"))


def _looks_like_person(text: str) -> bool:
    """"Mark D. Guinney, CFA" / "Sara Shackleton" — 2 to 4 capitalised name tokens."""
    head, _, tail = text.partition(",")
    if tail and not all(fold(t).strip(".") in lx.CREDENTIALS for t in tail.split()):
        return False
    tokens = head.split()
    if not 2 <= len(tokens) <= 4 or _DIGITS.search(head):
        return False
    for token in tokens:
        bare = token.strip(".'")
        if not bare or not bare[0].isupper():
            return False
        if fold(bare) in lx.NOT_NAME_WORDS:
            return False
        if len(bare) > 1 and not (bare[1:].islower() or bare[1:].replace("'", "").replace("-", "").isalpha()):
            return False
        if len(bare) > 3 and bare.isupper():
            return False
    return True


def one_line_parts(text: str) -> list[str]:
    """"Jane Doe | CTO | Acme Inc." → ["Jane Doe", "CTO", "Acme Inc."]; a bare legal
    form or credential stays with the part before it ("Acme, Inc.", "Jane Doe, PhD")."""
    parts: list[str] = []
    for part in _ONE_LINE_SEPARATOR.split(text):
        part = part.strip(" ,;")
        if not part:
            continue
        bare = fold(part).strip(".")
        if parts and (bare in lx.CREDENTIALS or (" " not in bare and lx.is_org_suffix(bare))):
            parts[-1] = f"{parts[-1]}, {part}"
        else:
            parts.append(part)
    return parts


def _one_line_signature(text: str, identity: Identity) -> tuple[bool, bool]:
    """(is a one-line signature, whose name is the sender's) for "Name | Title | Org | phone".

    The first part must be a person's name; every other part a title, an
    organisation, a phone, an e-mail or a URL, with at most one other short
    capitalised part when a title is present ("Jane Doe – CTO – Kestrel"). Someone
    else's one-line signature needs a title part to count (it then refuses the block).
    """
    parts = one_line_parts(text)
    if not 2 <= len(parts) <= MAX_ONE_LINE_PARTS:
        return False, False
    head = classify(parts[0], identity)
    if not (head.name or head.person) or head.strong or head.title or head.org or head.prose:
        return False, False
    described = has_title = False
    unknown = 0
    for part in parts[1:]:
        info = classify(part, identity)
        if info.prose or info.sign_off or info.junk or info.blank or info.address:
            return False, False
        if info.phone or info.email or info.url:
            described = True
        elif (info.title and info.titled) or (info.org and info.proper):  # not "Jane, the lead engineer"
            described = True
            has_title = has_title or info.title
        elif info.weak and info.proper and not info.person and not _DIGITS.search(part):
            unknown += 1
        else:
            return False, False
    if not described or unknown > 1 or (unknown and not has_title):
        return False, False
    if not head.name and not has_title:  # "Public Key - <http://…>": a name-shaped label, not a person
        return False, False
    return True, head.name


def classify(line: str, identity: Identity) -> LineInfo:
    """Regex features of one line (no phone library here: this runs on every line)."""
    text = line.strip()
    if not text:
        return LineInfo(blank=True)
    info = LineInfo()
    words = [w for w in _WORD.findall(text) if _HAS_ALNUM.search(w)]  # "|", "–", "*" are not words
    info.words = len(words)
    if lx.SIG_DASH.match(text):
        info.sig_dash = True
        return info
    if lx.RULE.match(text):
        info.rule = True
        return info
    if is_sign_off(text):
        info.sign_off = True
        return info
    if ATTACHMENT.match(text) or lx.DATE_LINE.match(text):
        info.junk = True
        return info
    digits = info.digits = sum(map(str.isdigit, text))
    has_at = "@" in text
    linked = has_at or "://" in text or "www." in text
    capitalised = _capitalised_phrase(text, words)
    if not linked and digits < 3 and (info.words >= 16 or _CJK_RUN.search(text) or (
        (info.words >= 9 or len(text) > 70) and not _COLUMN_SEPARATOR.search(text) and not capitalised
    )):
        info.prose = True  # fast path: a long line (or CJK sentence) without contact data
        return info
    lower_ratio = _lowercase_ratio(words)
    info.email = has_at and bool(lx.EMAIL.search(text))
    if "." in text:
        info.url = bool(_EXPLICIT_URL.search(text)) or (not info.email and bool(lx.URL.search(text)))
    if digits >= 3:
        bare = text
        if info.email or info.url:  # digits inside links and addresses are not phones
            bare = lx.URL.sub(" ", lx.EMAIL.sub(" ", text))
        for m in lx.PHONE_LIKE.finditer(bare):
            n = sum(ch.isdigit() for ch in m.group())
            separated = n != len(m.group().strip())
            if (
                7 <= n <= 15
                and (separated or n >= 10)
                and not lx.DATE_LIKE.search(m.group())
                and not _ZIP_PLUS_4.fullmatch(m.group().strip())
            ):
                info.phone = True
                break
        if not info.phone and (lx.EXTENSION.search(text) or (digits >= 7 and lx.PHONE_LABEL.search(text))):
            info.phone = True

    if digits and (lx.STREET.search(text) or lx.PO_BOX_OR_UNIT.search(text) or lx.is_city_state_zip(text)):
        info.address = True
    contact = info.phone or info.email or info.url or info.address
    if _LIST_ITEM.match(text) and info.words > 3:
        info.prose = True
    elif contact:
        # "Please call me at 713-…" / "… or Donna Long at (713) 215-4061." are sentences.
        function_words = sum(fold(w).strip(".,:;!?()") in _FUNCTION_WORDS for w in words)
        ends_sentence = bool(_SENTENCE_END.search(text)) and not _ABBREVIATION_END.search(text)
        info.prose = info.words >= 12 or function_words >= 2 or bool(function_words and ends_sentence)
    else:
        ends_sentence = bool(_SENTENCE_END.search(text)) and not _ABBREVIATION_END.search(text)
        columns = _COLUMN_SEPARATOR.split(text)  # "Jane Doe | CTO | Acme Inc." is three short fields
        widest = max(len([w for w in c.split() if _HAS_ALNUM.search(w)]) for c in columns)
        info.prose = (
            (widest >= 9 and not capitalised)
            or (len(text) > 70 and len(columns) == 1 and not capitalised)
            or (info.words >= 4 and lower_ratio >= 0.5)
            or (ends_sentence and info.words >= 2 and lower_ratio > 0.3)
            or text.endswith((":", ";", "?"))
        )
    if info.prose:
        return info
    tokens = [fold(t).strip(".'-") for t in _SPLIT_TOKENS.split(text) if t]
    bare_text = lx.ANGLE_EMAIL.sub(" ", text).strip(" -|,") if info.email else text  # "Jane Doe <jane@x.org>"
    name_shaped = 0 < len(bare_text.split()) <= 5 and not digits and not info.url and "@" not in bare_text
    head = bare_text.partition(",")[0]  # "Peter Aherne, Software Engineer"
    name_match = name_shaped and identity.matches_name(head)
    if (info.words <= 8 or capitalised) and not info.strong:
        info.title = any(lx.is_title_word(t) for t in tokens)
        suffix = any(lx.is_org_suffix(t) for t in tokens) or " & " in text
        # the sender's domain name in a line ("Watson Wyatt" ← watsonwyatt.com),
        # unless the line is the sender's own name (personal domains)
        own_domain = not name_match and identity.names_domain(text)
        info.org = suffix or own_domain
        info.company = own_domain or (suffix and lx.has_legal_form(tokens))
    if name_shaped:
        head_tokens = [fold(t).strip(".'-") for t in _SPLIT_TOKENS.split(head) if t]
        info.name = name_match and not any(lx.is_org_suffix(t) for t in head_tokens) and not (
            info.org and head == text
        )
        info.person = _looks_like_person(bare_text) and not (info.org or info.title)
    info.weak = info.words <= 6 and len(text) <= 60
    first_letter = _ALPHA_WORD.match(text)
    info.titled = bool(first_letter and first_letter.group(1).isupper()) and lower_ratio <= 0.5
    info.proper = info.titled and all(
        m.group(1).isupper() or fold(w) in _CONNECTORS for w in words if (m := _ALPHA_WORD.match(w))
    )
    if not info.address and info.words <= 3 * MAX_ONE_LINE_PARTS and _ONE_LINE_SEPARATOR.search(text):
        one_line, own = _one_line_signature(text, identity)
        if one_line:
            info.one_line = True
            info.name, info.person = own, not own
    return info


class LineInfos(dict):
    """Line features computed on first use: only the bottom of a long body is read."""

    def __init__(self, lines: list[str], identity: Identity) -> None:
        super().__init__()
        self._lines = lines
        self._identity = identity

    def __missing__(self, i: int) -> LineInfo:
        info = self[i] = classify(self._lines[i], self._identity)
        return info


@dataclass(slots=True)
class SignatureLines:
    """Where the signature is, as line numbers of the original body (end-exclusive)."""

    lines: list[str]  # original body lines
    zone: TopZone
    block: tuple[int, int] | None  # the contact block
    closing: tuple[int, int] | None  # sign-off / name lines just above the block or at the end
    infos: LineInfos  # features of the lines looked at (others are computed on demand)

    def block_lines(self) -> list[str]:
        return [] if self.block is None else self.lines[self.block[0] : self.block[1]]

    def line_numbers(self, *, include_closing: bool = False) -> set[int]:
        """Non-blank signature lines; with ``include_closing`` the sign-off/name too."""
        spans = [self.block] + ([self.closing] if include_closing else [])
        return {i for span in spans if span for i in range(*span) if self.lines[i].strip()}

    def cleaned_span(self) -> tuple[int, int] | None:
        """The block as a [start, end) span of lines of :func:`strip_quoted`'s text."""
        if self.block is None:
            return None
        position = {i: n for n, i in enumerate(self.zone.own)}
        start, end = self.block
        return position[start], position[end - 1] + 1


def _last_own_run(zone: TopZone) -> list[int]:
    """Own lines of the last contiguous run that has text (a quoted line cuts the zone)."""
    own = zone.own
    k = len(own) - 1
    while k >= 0 and not zone.lines[own[k]].strip():
        k -= 1
    start = k
    while start > 0 and own[start - 1] == own[start] - 1:
        start -= 1
    return own[start : k + 1] if k >= 0 else []


def _grow_block(run: list[int], infos: dict[int, LineInfo]) -> tuple[list[int], int | None]:
    """Non-blank lines of the bottom block (top-down) and the sign-off line that stopped it."""
    accepted: list[int] = []
    gap = 0
    nonblank = 0
    for i in reversed(run):
        info = infos[i]
        if info.blank:
            gap += 1
            if gap > MAX_GAP:
                break
            continue
        if info.sign_off:
            accepted.reverse()
            return accepted, i
        if info.prose or info.sig_dash or info.junk:
            break
        if info.strong or info.medium or info.rule:
            pass
        elif info.weak and (gap == 0 or not accepted):
            pass
        else:
            break
        accepted.append(i)
        nonblank += 1
        gap = 0
        if nonblank > MAX_BLOCK_LINES:
            return [], None
    accepted.reverse()
    return accepted, None


def _identity_block(lines: list[LineInfo], *, sender_above: bool, signed_off: bool = False) -> bool:
    """1–4 short lines made of the sender's name (here, or right above the block) and
    title / organisation lines, or the sender's one-line signature: a signature even
    without a phone or a link ("Best regards,\nJane Doe\nCTO\nAcme Inc."). Right under a
    sign-off, one or two organisation lines alone sign for a company ("Thank you,\n\nAcme
    Commodity Futures, Inc.")."""
    if not 1 <= len(lines) <= MAX_IDENTITY_LINES:
        return False
    if signed_off and len(lines) <= 2 and all(
        info.company and info.proper and not (info.title or info.person or info.name) for info in lines
    ):
        return True
    named = sender_above or any(info.name and (info.one_line or info.name_only) for info in lines)
    described = False
    previous: LineInfo | None = None
    for info in lines:
        if info.one_line:
            if not info.name:
                return False
            described = True
        elif info.person and not info.name:
            return False  # someone else's name
        elif (info.title and info.titled) or (info.org and info.proper):
            described = True
        elif info.name_only and info.name:
            pass
        elif previous is not None and previous.title and info.weak and info.proper and not info.person:
            pass  # the organisation under a title ("CTO\nKestrel")
        else:
            return False
        previous = info
    return named and described


def _has_evidence(
    block: list[int], infos: LineInfos, *, text_above: bool, sender_above: bool = False, signed_off: bool = False
) -> bool:
    """Does the block carry what a signature carries (and not a phone directory)?
    One phone number (not a bare extension) or e-mail line is enough right under the
    sender's name ("Thanks, Jane\n713-555-0100")."""
    lines = [infos[i] for i in block if not (infos[i].rule or infos[i].blank)]
    if not lines or sum(info.phone for info in lines) > MAX_PHONE_LINES:
        return False
    if text_above and _identity_block(lines, sender_above=sender_above, signed_off=signed_off):
        return True
    if len(lines) < 2:
        return text_above and sender_above and ((lines[0].phone and lines[0].digits >= 7) or lines[0].email)
    named = any(info.name or info.person for info in lines)
    described = any(info.title or info.org for info in lines)
    if any(info.phone or info.email or info.address for info in lines):
        return True
    if not text_above:  # a message that is only "Name / Org" is not signed text
        return False
    if any(info.url for info in lines):  # a link alone is not a signature
        return named or described
    return named and described


def _framed_block(run: list[int], infos: LineInfos) -> list[int]:
    """A block framed by rule lines at the very bottom ("*****" / contact / promo / "*****")."""
    if not infos[run[-1]].rule:
        return []
    best: list[int] = []
    nonblank = gap = 0
    for k in range(len(run) - 2, -1, -1):
        info = infos[run[k]]
        if info.blank:
            gap += 1
            if gap > MAX_GAP:
                break
            continue
        gap = 0
        nonblank += 1
        if nonblank > MAX_BLOCK_LINES or info.sign_off:
            break
        if info.rule:
            region = [i for i in run[k:] if not infos[i].blank]
            if any(infos[i].phone or infos[i].email or infos[i].address for i in region):
                best = region
    return best


def _closing_above(run: list[int], top: int, infos: dict[int, LineInfo]) -> int | None:
    """Start of a "sign-off [name]" closing ending just above line ``top``."""
    position = run.index(top) if top in run else len(run)
    names = 0
    blanks = 0
    for i in reversed(run[:position]):
        info = infos[i]
        if info.blank:
            blanks += 1
            if blanks > 3:
                return None
            continue
        blanks = 0
        if info.sign_off:
            return i
        if info.name_only and names < 2 and info.words <= 4:
            names += 1
            continue
        return None
    return None


def _sender_above(lines: list[str], run: list[int], top: int, infos: LineInfos, identity: Identity) -> bool:
    """Is the line right above ``top`` the sender's name, alone or after a sign-off ("Thanks, Jane")?"""
    position = run.index(top) if top in run else len(run)
    for i in reversed(run[:position]):
        info = infos[i]
        if info.blank:
            continue
        if info.sign_off:
            m = lx.SIGN_OFF.match(lines[i])
            rest = (m.group("rest") or "").strip(" .!-–—") if m else ""
            return bool(rest) and identity.matches_name(rest)
        return info.name and info.name_only
    return False


def _trailing_name(lines: list[str], run: list[int], infos: LineInfos) -> int | None:
    """A bare name as the last own line: the sender's name or initials ("Bert", "BT")."""
    last = run[-1]
    info = infos[last]
    if not info.name_only or info.words > 3:
        return None
    if info.name:
        return last
    text = _WORD.findall(lines[last].strip())
    single = len(text) == 1 and text[0].isalpha() and text[0][:1].isupper() and len(text[0]) <= 12
    return last if single and not info.title and not info.org else None


def _signature_like_runs(zone: TopZone, infos: LineInfos) -> list[list[int]]:
    """Runs of signature-like lines (one blank line allowed inside) among the last
    ``MAX_INNER_SCAN`` own lines, top-down; prose, sign-offs, stubs, rules and quotes cut them."""
    runs: list[list[int]] = [[]]
    blanks = 0
    previous = None
    for i in zone.own[-MAX_INNER_SCAN:]:
        info = infos[i]
        if previous is not None and i != previous + 1:  # quoted lines in between
            runs.append([])
        previous = i
        if info.blank:
            blanks += 1
            if blanks > 1:
                runs.append([])
            continue
        blanks = 0
        if info.prose or info.sign_off or info.junk or info.sig_dash or info.rule or not (
            info.strong or info.medium or info.weak
        ):
            runs.append([])
        else:
            runs[-1].append(i)
    return [run for run in runs if run]


def _full_name(info: LineInfo) -> bool:
    """The sender's name alone on its line, with at least two words ("Carolyn M. Campbell")."""
    return info.name and info.name_only and info.words >= 2


def _inner_block(zone: TopZone, infos: LineInfos) -> tuple[int, int] | None:
    """A complete contact block of the sender that is not at the bottom of the text
    (more prose, a notice or an enclosure list follows it, or it is given inside the
    text: "My coordinates:"). It opens with the sender's own full name and carries a
    phone, e-mail or postal address plus a title, an organisation or a second contact
    line. The lowest such block wins."""
    for run in reversed(_signature_like_runs(zone, infos)):
        lines = run
        opener = next((k for k, i in enumerate(lines) if _full_name(infos[i])), None)
        if opener is None or opener > 1:
            continue
        lines = lines[opener:]
        if not MIN_INNER_LINES <= len(lines) <= MAX_BLOCK_LINES:
            continue
        rest = [infos[i] for i in lines[1:]]
        strong = sum(info.strong for info in rest)
        if not strong or sum(info.phone for info in rest) > MAX_PHONE_LINES:
            continue
        if strong >= 2 or any(info.title or info.org for info in rest):
            return lines[0], lines[-1] + 1
    return None


def _grown_block(
    zone: TopZone, run: list[int], infos: LineInfos, identity: Identity, *, framed: bool = True
) -> tuple[tuple[int, int], tuple[int, int] | None] | None:
    """(block, closing) grown upwards from the last line of ``run``, when it carries evidence
    (with ``framed``, a block framed by rule lines is tried when the grown one has none)."""
    accepted, sign_off = _grow_block(run, infos)
    moved_name: int | None = None
    if accepted:
        # A name line right under the sign-off, or set apart from the contact
        # lines by a blank line, is the closing ("Regards,\nBob\n713-…").
        first = accepted[0]
        rest = accepted[1:]
        if infos[first].name_only and rest:
            apart = infos[first + 1].blank
            right_under = sign_off is not None and first == sign_off + 1
            if apart or right_under:
                moved_name = first
                accepted = rest
    sender_above = bool(accepted) and _sender_above(zone.lines, run, accepted[0], infos, identity)
    if framed and accepted and not _has_evidence(
        accepted, infos, text_above=accepted[0] > run[0], sender_above=sender_above
    ):
        rule_framed = _framed_block(run, infos)
        if rule_framed and _has_evidence(rule_framed, infos, text_above=rule_framed[0] > run[0]):
            accepted, sign_off, moved_name, sender_above = rule_framed, None, None, False
    signed_off = sign_off is not None and moved_name is None
    if not accepted or not _has_evidence(
        accepted, infos, text_above=accepted[0] > run[0], sender_above=sender_above, signed_off=signed_off
    ):
        return None
    block = (accepted[0], accepted[-1] + 1)
    closing = None
    start = sign_off if sign_off is not None else _closing_above(run, accepted[0], infos)
    if start is None:
        start = moved_name
    if start is not None and start < accepted[0]:
        closing = (start, accepted[0])
    return block, closing


def _trailer_paragraph(lines: list[LineInfo]) -> bool:
    """Text that may follow a signature (a notice, an enclosure or attachment list, a
    P.S., a few lines of prose): sentences, attachment stubs, rules and short plain
    lines, with at least one sentence or stub; no contact data, sign-off, name, title
    or organisation."""
    return any(info.prose or info.junk for info in lines) and all(
        info.prose or info.junk or info.rule or (info.weak and not (info.strong or info.medium))
        for info in lines
    )


def _block_above_trailer(
    zone: TopZone, run: list[int], infos: LineInfos, identity: Identity
) -> tuple[tuple[int, int], tuple[int, int] | None] | None:
    """The block grown above up to ``MAX_TRAILER_PARAGRAPHS`` trailing paragraphs of
    non-signature text (notice, enclosure, attachment markers, P.S., more prose)."""
    end = len(run)
    trailer_lines = 0
    for _ in range(MAX_TRAILER_PARAGRAPHS):
        while end and infos[run[end - 1]].blank:
            end -= 1
        top = end
        while top and not infos[run[top - 1]].blank:
            top -= 1
        paragraph = [infos[i] for i in run[top:end]]
        trailer_lines += len(paragraph)
        opening = zone.lines[run[top]].lstrip()[:1]
        if not top or trailer_lines > MAX_TRAILER_LINES or opening.islower() or not _trailer_paragraph(paragraph):
            return None  # (a lowercase opening continues the sentence around the block)
        end = top
        while end and infos[run[end - 1]].blank:
            end -= 1
        if not end:
            return None
        grown = _grown_block(zone, run[:end], infos, identity, framed=False)
        if grown is not None:
            return grown if _signed(zone, run[:end], grown, infos, identity) else None
    return None


def _signed(zone: TopZone, run: list[int], grown: tuple[tuple[int, int], tuple[int, int] | None],
            infos: LineInfos, identity: Identity) -> bool:
    """A block that is not the last text is the sender's when it carries their name or
    address, when a closing (sign-off / name) opens it, or when a lead-in such as "My
    contact details:" announces it."""
    (start, stop), closing = grown
    if closing is not None or any(infos[i].name for i in range(start, stop)):
        return True
    if any(
        identity.matches_email(address)
        for i in range(start, stop) if infos[i].email
        for address in lx.EMAIL.findall(zone.lines[i])
    ):
        return True
    above = [i for i in run if i < start and not infos[i].blank]
    return bool(above) and bool(lx.CONTACT_LEAD_IN.match(zone.lines[above[-1]].strip()))


def locate(zone: TopZone, identity: Identity) -> SignatureLines:
    """Find the block and closing in an already split top zone."""
    run = _last_own_run(zone)
    infos = LineInfos(zone.lines, identity)
    block: tuple[int, int] | None = None
    closing: tuple[int, int] | None = None
    if not run:
        return SignatureLines(zone.lines, zone, None, None, infos)
    end = run[-1] + 1

    dash = next((i for i in reversed(run[-MAX_DASH_DISTANCE:]) if infos[i].sig_dash), None)
    if dash is not None and sum(not infos[i].blank for i in run if i > dash) <= MAX_BLOCK_LINES:
        # The signature ends where a rule line after it starts a list footer or an ad.
        content = False
        for i in run[run.index(dash) + 1 :]:
            if infos[i].rule and content:
                end = i
                break
            content = content or not infos[i].blank
        while end - 1 > dash and infos[end - 1].blank:
            end -= 1
        block = (dash, end)
        start = _closing_above(run, dash, infos)
        closing = (start, dash) if start is not None else None
        return SignatureLines(zone.lines, zone, block, closing, infos)

    grown = _grown_block(zone, run, infos, identity)
    if grown is None:
        grown = _block_above_trailer(zone, run, infos, identity)
    if grown is not None:
        block, closing = grown
    else:
        # No block: a closing still needs a name ("Thanks,\nBob" or "Thanks, Bob");
        # a bare "Thank you!" at the end is text.
        name = _trailing_name(zone.lines, run, infos)
        last = infos[run[-1]]
        if name is not None:
            start = _closing_above(run, name, infos)
            closing = (start if start is not None else name, end)
        elif last.sign_off and _sign_off_has_name(zone.lines[run[-1]]):
            closing = (run[-1], end)
        inner = _inner_block(zone, infos)
        if inner is not None:
            block = inner
            start = _closing_above(zone.own, inner[0], infos)
            closing = (start, inner[0]) if start is not None else None
    return SignatureLines(zone.lines, zone, block, closing, infos)


def find_signature_lines(body: str, sender_email: str = "", sender_name: str | None = None) -> SignatureLines:
    """Signature block and closing of ``body``, as line numbers of the original body."""
    return locate(top_zone(body), Identity.of(sender_email, sender_name))
