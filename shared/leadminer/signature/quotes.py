"""Find the sender's own part of a plain-text body (the "top zone").

A reply or forward carries older mail below the sender's text: ``>`` quoting,
attribution lines ("On … wrote:" in several languages), Outlook / Lotus Notes /
GroupWise header blocks, "Original Message" and "Forwarded" separators. Legal
disclaimers, mailing-list footers, webmail ads, attachment stubs and "Sent from
my phone" lines are not part of a signature either. Everything here is
line-based so that results map back to line numbers of the original body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def split_lines(body: str) -> list[str]:
    """Body lines (CRLF, CR and LF all end a line); line numbers used everywhere."""
    return _LINE_BREAK.split(body)


# --- separators -------------------------------------------------------------

_SEPARATOR = re.compile(
    r"""^\s*(?:
        [-_=*~]{2,}\s*(?:original\s+message|ursprüngliche\s+nachricht|message\s+d'origine|
            mensaje\s+original|messaggio\s+originale|oorspronkelijk\s+bericht|originalmeddelande|
            mensagem\s+original|wiadomość\s+oryginalna|forwarded\s+message|
            weitergeleitete\s+nachricht|message\s+transf[ée]r[ée]|mensaje\s+reenviado|
            messaggio\s+inoltrato|doorgestuurd\s+bericht|mensagem\s+encaminhada|
            inline\s+attachment\s+follows|forwarded\s+by\b|reply\s+separator)
      | (?:original\s+message|forwarded\s+message)\s*[-_=]{2,}
      | begin\s+forwarded\s+message\s*:
      | d[ée]but\s+du\s+message\s+r[ée]exp[ée]di[ée]\s*:
      | anfang\s+der\s+weitergeleiteten\s+nachricht\s*:
      | _{3,}\s*reply\s+separator
      | >>>.*>>>\s*$                              # GroupWise: >>> <addr> 2/16/01 10:41 am >>>
    )""",
    re.IGNORECASE | re.VERBOSE,
)

_WROTE = (
    r"(?:wrote|writes|a\s+écrit|a\s+ecrit|schrieb|escribió|escribio|ha\s+scritto|schreef|"
    r"escreveu|napisał|skrev|kirjoitti|написал)"
)
_ATTRIBUTION_END = re.compile(_WROTE + r"\s*:\s*$", re.IGNORECASE)
_ATTRIBUTION_START = re.compile(
    r"^\s*(?:on|le|am|el|il|op|em|den|på|w\s+dniu|dne)\s+\S", re.IGNORECASE
)
# "Am 03.01.2022 um 10:00 schrieb Bob <bob@x.org>:" — the name after the verb.
_ATTRIBUTION_INNER = re.compile(r"\b" + _WROTE + r"\b.*:\s*$", re.IGNORECASE)

# Header fields of a quoted/forwarded message, in the languages mail clients use.
_FROM_FIELD = r"(?:from|de|von|van|da|od|från|fra|lähettäjä|remitente)"
_OTHER_FIELDS = (
    r"(?:sent|date|to|cc|bcc|subject|envoy[ée]|[àa]|objet|gesendet|datum|an|betreff|"
    r"verzonden|aan|onderwerp|enviado(?:\s+el)?|fecha|para|asunto|inviato|data|a|oggetto|"
    r"skickat|till|ämne|sent\s+by|reply-to)"
)
_HEADER_FIELD = re.compile(
    r"^\s*(" + _FROM_FIELD + r"|" + _OTHER_FIELDS + r")\s*:(?:\s|$)", re.IGNORECASE
)
_DATE_TIME = re.compile(
    r"\b\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}\b.*\b\d{1,2}:\d{2}|\b\d{1,2}:\d{2}(?::\d{2})?\s*(?:[ap]\.?m\.?)\b",
    re.IGNORECASE,
)
_SENT_BY = re.compile(r"^\s*sent\s+by\s*:", re.IGNORECASE)
_HEADER_WINDOW = 6


_MAYBE_MARKER = re.compile(r":|[-_=*~]{2}|>>>")


def _is_blank(line: str) -> bool:
    return not line.strip()


def _is_quoted(line: str) -> bool:
    return line.lstrip().startswith(">") and not line.lstrip().startswith(">>>")


def _header_cluster_at(lines: list[str], i: int) -> bool:
    """True when line ``i`` opens a block of at least two distinct header fields."""
    first = _HEADER_FIELD.match(lines[i])
    if not first:
        return False
    names = {first.group(1).lower()}
    for j in range(i + 1, min(len(lines), i + _HEADER_WINDOW)):
        m = _HEADER_FIELD.match(lines[j].lstrip(">").lstrip())
        if m:
            names.add(m.group(1).lower())
            if len(names) >= 2:
                return True
    return False


def _header_start(lines: list[str], i: int) -> int:
    """Back up from the first header field over the Lotus Notes "Name / date" lines."""
    start = i
    k = i - 1
    blanks = 0
    while k >= 0 and _is_blank(lines[k]) and blanks < 2:
        k -= 1
        blanks += 1
    saw_bare_date = False
    while k >= 0 and not _is_blank(lines[k]) and (_DATE_TIME.search(lines[k]) or _SENT_BY.match(lines[k])):
        if len(lines[k].strip()) <= 32 or _SENT_BY.match(lines[k]):
            saw_bare_date = True
        start = k
        k -= 1
    if start < i and saw_bare_date and k >= 0 and _is_name_line(lines[k]):
        start = k
    return start


def _is_name_line(line: str) -> bool:
    text = line.strip()
    return 0 < len(text) <= 80 and not text.endswith((".", "?", "!", ":", ";", ","))


def _attribution_start(lines: list[str], i: int) -> int | None:
    """If line ``i`` ends an "… wrote:" attribution, the line where it starts."""
    if not _ATTRIBUTION_END.search(lines[i]):
        return None
    for back in (0, 1, 2):
        k = i - back
        if k < 0 or (back and (_is_blank(lines[k]) or lines[k].rstrip().endswith((".", "!", "?")))):
            break
        if _ATTRIBUTION_START.match(lines[k]):
            return k
    text = lines[i].strip()
    # "Jane Doe <jane@x.org> wrote:" / "--- "Doe, Jane" <…>\nwrote:" without an "On" prefix.
    if "@" in text or _DATE_TIME.search(text) or re.search(r"\d", text):
        return i
    if i > 0 and not _is_blank(lines[i - 1]) and ("@" in lines[i - 1] or _DATE_TIME.search(lines[i - 1])):
        return i - 1
    if len(text.split()) <= 6:  # "John Smith wrote:"
        return i
    return None


def _attribution_continues(lines: list[str], i: int) -> bool:
    """Line ``i`` ("On …", "Am …") opens an attribution ending with "wrote:" within 3 lines."""
    for j in (i, i + 1, i + 2):
        if j >= len(lines) or (j > i and _is_blank(lines[j])):
            return False
        if _ATTRIBUTION_INNER.search(lines[j]):
            return True
    return False


def find_quote_start(lines: list[str]) -> int:
    """Index of the first line of quoted or forwarded material (``len(lines)`` if none).

    ``>``-quoted lines alone do not end the zone (inline replies keep the sender's
    text, and signature, below them); they are left out of :attr:`TopZone.own`.
    """
    for i, line in enumerate(lines):
        if not _MAYBE_MARKER.search(line):
            # Cheap skip: every marker has a colon, a rule or ">>>", except the
            # first line of an attribution wrapped over several lines.
            if _ATTRIBUTION_START.match(line) and _attribution_continues(lines, i):
                return i
            continue
        if _SEPARATOR.match(line):
            return i
        if _is_quoted(line):
            continue
        start = _attribution_start(lines, i)
        if start is not None:
            return start
        if _ATTRIBUTION_START.match(line) and _attribution_continues(lines, i):
            return i
        if _header_cluster_at(lines, i):
            return _header_start(lines, i)
    return len(lines)


# --- footers: disclaimers, list footers, ads, attachment stubs ---------------

_LEGAL_TERMS = (
    "confidential", "privileged", "intended recipient", "intended only", "intended solely",
    "intended for the", "addressee", "received this", "in error", "notify the sender",
    "notify us", "delete", "destroy", "prohibited", "unauthori", "disclosure", "dissemination",
    "distribution", "copying", "liable", "liability", "virus", "legally", "disclaimer",
    "vertraulich", "irrtümlich", "empfänger", "confidentiel", "destinataire", "par erreur",
    "confidencial", "destinatario", "riservat", "vertrouwelijk", "geadresseerde", "strictly",
)
_LEGAL_LEAD = re.compile(
    r"^\s*[*\-_=]*\s*(?:confidential|disclaimer|notice|important|privileged|legal|caution|"
    r"this\s+(?:e-?mail|message|communication|transmission|electronic)|"
    r"the\s+information\s+(?:contained|in\s+this|transmitted)|ce\s+message|le\s+pr[ée]sent|"
    r"diese\s+(?:e-?mail|nachricht)|este\s+(?:mensaje|correo)|questo\s+messaggio|"
    r"dit\s+(?:bericht|e-?mailbericht))",
    re.IGNORECASE,
)
_COPYRIGHT = re.compile(r"^\s*(?:copyright\b|©|\(c\)\s*\d{4})|all\s+rights\s+reserved", re.IGNORECASE)
_LIST_FOOTER = re.compile(
    r"mailing\s+list|listinfo|list-?serv|unsubscribe|mailman|to\s+(?:post|subscribe)\b", re.IGNORECASE
)
_AD_FOOTER = re.compile(
    r"do\s+you\s+yahoo|yahoo!\s+\w+|msn\s+(?:explorer|hotmail|messenger)|get\s+your\s+free|"
    r"hotmail\.com|free\s+e-?mail|download\s+(?:msn|now)",
    re.IGNORECASE,
)
_MOBILE_FOOTER = re.compile(
    r"^\s*(?:sent\s+(?:from|via|using)\s+(?:my\s+)?\w+|get\s+outlook\s+for|envoy[ée]\s+de\s+mon|"
    r"von\s+meinem\s+\w+\s+gesendet|enviado\s+desde\s+mi|inviato\s+da|verzonden\s+(?:vanaf|met)\s+mijn)",
    re.IGNORECASE,
)
# Attachment stubs and the trailer lines of a letter: " - file.DOC", "<< File: x.doc >>",
# "[IMAGE]", "Enclosure", "Encl.: 2", "Attachments: …", "Enclosure - x.xls", "cc: Jane Roe (w/ encl.)".
ATTACHMENT = re.compile(
    r"^\s*(?:-\s+\S.*\.[A-Za-z0-9]{2,5}(?:\s*<<.*>>)?|<<.*>>|\[(?:attachment|image|cid)(?::.*)?\]|"
    r"\(see\s+attached\s+file:.*\)|(?:attachments?|enclosures?|encls?\.?|enc\.)(?:\s*[:(].*|\s+[-–—]\s.*)?|"
    r"(?:cc|bcc|c\.c\.|xc)\s*:.*)\s*$",
    re.IGNORECASE,
)
_RULE = re.compile(r"^\s*[-_=*~#+.]{3,}\s*$")
MAX_HEADING_WORDS = 4  # "CONFIDENTIALITY NOTICE" above a notice, "Thank you." under it


def _legal_score(text: str) -> int:
    low = text.lower()
    return sum(term in low for term in _LEGAL_TERMS)


def _paragraphs(lines: list[str], indices: list[int]) -> list[list[int]]:
    """Runs of non-blank lines among ``indices``; a rule or a disclaimer lead line starts a new run."""
    runs: list[list[int]] = []
    current: list[int] = []
    for i in indices:
        line = lines[i]
        if _is_blank(line):
            if current:
                runs.append(current)
                current = []
            continue
        if current and (_LEGAL_LEAD.match(line) or _RULE.match(line)):
            runs.append(current)
            current = []
        current.append(i)
    if current:
        runs.append(current)
    return runs


def _is_footer_paragraph(lines: list[str], run: list[int]) -> bool:
    body = [lines[i] for i in run if not _RULE.match(lines[i])]
    if not body:
        return False  # a bare rule line is decided by its neighbours
    text = " ".join(line.strip() for line in body)
    if all(ATTACHMENT.match(line) or _MOBILE_FOOTER.match(line) for line in body):
        return True
    if _COPYRIGHT.search(body[0]) and len(body) <= 3:
        return True
    score = _legal_score(text)
    if score >= 3 and len(text) >= 80:
        return True
    if score >= 2 and _LEGAL_LEAD.match(body[0]):
        return True
    if score and _LEGAL_LEAD.match(body[0]) and len(body) <= 2:  # "This e-mail is confidential …"
        return True
    if _LIST_FOOTER.search(text) and (len(body) <= 6 or "http" in text):
        return True
    if _AD_FOOTER.search(text) and len(body) <= 6:
        return True
    return False


def strip_footers(lines: list[str], indices: list[int]) -> list[int]:
    """Drop trailing disclaimers, list footers, ads, attachment stubs and mobile taglines.

    Works upwards paragraph by paragraph from the bottom of the zone and stops at
    the first paragraph that is none of these, so text above it is never lost.
    """
    indices = _drop_trailing_stubs(lines, indices)
    runs = [run for run in _paragraphs(lines, indices) if not all(_RULE.match(lines[i]) for i in run)]
    # a bare rule line goes with whatever is around it; a one-line courtesy under a
    # notice ("Thank you.") goes with the notice
    if len(runs) >= 2 and _short_line(lines, runs[-1]) and _is_footer_paragraph(lines, runs[-2]):
        runs.pop()
    cut: int | None = None
    for run in reversed(runs):
        if _is_footer_paragraph(lines, run):
            cut = run[0]
        elif cut is not None and _short_line(lines, run) and _legal_score(lines[run[0]]):
            cut = run[0]  # the notice's heading ("CONFIDENTIALITY NOTICE")
        else:
            break
    if cut is None:
        return indices
    # A rule line directly above a footer ("_____ / Do You Yahoo!?") goes with it.
    kept = [i for i in indices if i < cut]
    while kept and _is_blank(lines[kept[-1]]):
        kept.pop()
    if kept and _RULE.match(lines[kept[-1]]):
        kept.pop()
    return kept


def _short_line(lines: list[str], run: list[int]) -> bool:
    return len(run) == 1 and len(lines[run[0]].split()) <= MAX_HEADING_WORDS


def _drop_trailing_stubs(lines: list[str], indices: list[int]) -> list[int]:
    """Remove attachment stubs and "Sent from my phone" lines at the very bottom."""
    kept = list(indices)
    while kept:
        line = lines[kept[-1]]
        if not (_is_blank(line) or ATTACHMENT.match(line) or _MOBILE_FOOTER.match(line)):
            break
        kept.pop()
    return kept


@dataclass(slots=True)
class TopZone:
    """The sender's own part of a body, as line numbers of the original body."""

    lines: list[str]  # all lines of the original body
    end: int  # first line of quoted/forwarded material (len(lines) when none)
    own: list[int]  # kept lines before ``end``: not quoted, not footer (blank lines kept)

    @property
    def text(self) -> str:
        """The cleaned top zone: own lines joined, trailing blank lines removed."""
        kept = [self.lines[i] for i in self.own]
        while kept and not kept[-1].strip():
            kept.pop()
        return "\n".join(kept)


def top_zone(body: str) -> TopZone:
    """Split ``body`` into the sender's own lines and everything quoted/forwarded."""
    lines = split_lines(body)
    end = find_quote_start(lines)
    own = [i for i in range(end) if not _is_quoted(lines[i])]
    own = strip_footers(lines, own)
    return TopZone(lines=lines, end=end, own=own)


def strip_quoted(body: str) -> str:
    """The sender's own text: quoted replies, forwards and footers removed."""
    return top_zone(body).text
