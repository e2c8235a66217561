"""Fast, tolerant parsing of RFC 5322 header blocks (no ``email`` package on the hot path).

What is here:

* :func:`parse_header_block` — split raw message bytes at the header/body
  separator, unfold continuation lines, decode non-UTF-8 bytes, cap huge headers;
* :func:`decode_words` — RFC 2047 encoded words in any charset (Q and B, adjacent
  words joined, broken words kept as written);
* :func:`decode_text` / :func:`resolve_charset` — bytes → str for a MIME charset
  label, with WHATWG-style aliases and a UTF-8 → windows-1252 fallback;
* :func:`parse_addresses` — address lists with groups, comments, quoted names,
  angle/bare/route addresses, IDN domains, and junk reported as defects;
* :func:`clean_display_name`, :func:`normalise_email`, :func:`parse_msg_ids`,
  :func:`parse_date`.

Every function tolerates bad input: problems are appended to a ``defects`` list
instead of raising.
"""

from __future__ import annotations

import binascii
import codecs
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_tz
from functools import lru_cache

import idna

from .contracts import Address

MAX_HEADER_LENGTH = 64 * 1024
"""Longest value kept of a header that names no contact (characters); longer values are cut
and a defect recorded. Address headers are never cut (:data:`UNCAPPED_HEADERS`): a message
to 10,000 recipients is mined whole (the message size limit of the source still applies)."""

UNCAPPED_HEADERS = frozenset(
    {"from", "sender", "reply-to", "to", "cc", "bcc", "resent-from", "resent-to", "resent-cc", "list-post"}
)

MIN_YEAR = 1980
"""Dates before this year are absurd for mined mail (usually a zero epoch or a broken clock)."""

MAX_FUTURE_YEARS = 1
"""Dates more than this many years after today are absurd (spam, broken clocks)."""


# --------------------------------------------------------------------------- header block


def unfold(value: str) -> str:
    """Unfold a raw header value (drop line breaks, keep whitespace) and strip it."""
    if "\n" in value:
        value = value.replace("\r\n", "").replace("\n", "")
    return value.strip()


@dataclass(slots=True)
class HeaderBlock:
    """The parsed header block of one message.

    ``fields`` maps each lower-cased header name to its values in message order
    (duplicates kept); values may still be folded, so read them through
    :meth:`get` / :meth:`get_all`, which unfold and strip (lazily: most headers of
    a message are never read). ``body_offset`` is the byte offset of the body in
    the raw data, or None when the message has no header/body separator (a
    headers-only fetch).
    """

    fields: dict[str, list[str]]
    body_offset: int | None
    defects: list[str] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        """First value of header ``name`` (lower case), unfolded; None if absent."""
        values = self.fields.get(name)
        return unfold(values[0]) if values else None

    def get_all(self, name: str) -> list[str]:
        """All values of header ``name`` (lower case), unfolded, in message order."""
        values = self.fields.get(name)
        return [unfold(value) for value in values] if values else []


_FIELD = re.compile(r"([\x21-\x39\x3b-\x7e]+)[ \t]*:([^\n]*(?:\n[ \t][^\n]*)*)\n?")
"""One header field: printable ASCII name (no colon or space), optional WSP, colon,
the value and its continuation lines (those starting with a space or tab)."""

_HEADER_NAMES: dict[str, str] = {}
"""Cache: header name as written → lower-cased name (names repeat across messages)."""
_FIELD_START = re.compile(r"\n(?![ \t])")
_FIELD_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]+[ \t]*")


def find_body_separator(data: bytes, start: int = 0) -> tuple[int, int] | None:
    """(end of header block, start of body) for the first blank line at or after
    ``start``, or None when there is none."""
    lf = data.find(b"\n\n", start)
    crlf = data.find(b"\n\r\n", start, lf if lf >= 0 else len(data))
    if crlf >= 0:
        return crlf + 1, crlf + 3
    if lf >= 0:
        return lf + 1, lf + 2
    return None


def decode_header_bytes(raw: bytes) -> str:
    """Bytes of unknown charset → str: UTF-8, else windows-1252, else latin-1 (never fails)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _split_fields(text: str) -> dict[str, list[str]] | None:
    """Fast path of :func:`parse_header_block` for a well-formed block, else None.

    Splitting before each line that does not start with whitespace yields whole
    fields; a piece without a valid ``Name:`` start sends the block to the careful
    path. Values stay folded (see :meth:`HeaderBlock.get`).
    """
    if not text or text[0] in " \t":
        return None
    names = _HEADER_NAMES
    fields: dict[str, list[str]] = {}
    for line in _FIELD_START.split(text[:-1] if text[-1] == "\n" else text):
        written, colon, value = line.partition(":")
        name = names.get(written)
        if name is None:
            if not colon or _FIELD_NAME.fullmatch(written) is None:
                return None
            name = written.rstrip(" \t").lower()
            if len(names) < 8192:
                names[written] = name
        values = fields.get(name)
        if values is None:
            fields[name] = [value]
        else:
            values.append(value)
    return fields


_FIELD_START_BYTES = re.compile(rb"[\x21-\x39\x3b-\x7e]+[ \t]*:")
MAX_LEADING_JUNK_LINES = 3


def _skip_leading_junk(data: bytes, start: int, defects: list[str]) -> int:
    """Offset of the first header line when at most a few junk lines (``>From``
    escapes, stray text) come before it; ``start`` unchanged otherwise."""
    position = start
    for _ in range(MAX_LEADING_JUNK_LINES):
        newline = data.find(b"\n", position)
        if newline < 0:
            break
        position = newline + 1
        if data.startswith((b"\n", b"\r\n"), position):
            break  # a blank line: what came before was not a header block
        if _FIELD_START_BYTES.match(data, position):
            defects.append("junk before the header block")
            return position
    return start


def parse_header_block(
    data: bytes, *, max_header_length: int = MAX_HEADER_LENGTH, skip_envelope: bool = True
) -> HeaderBlock:
    """Parse the header block at the start of raw message ``data``.

    The block ends at the first blank line. Like the stdlib's feed parser, a line
    that is neither a ``Name: value`` field nor a continuation also ends it (the
    body then starts at that line, and a defect is recorded). Leading blank lines
    and, when ``skip_envelope``, a leading mbox ``From `` envelope line are skipped.
    Values are not RFC 2047 decoded; raw 8-bit bytes that are not UTF-8 are read
    in the charset the Content-Type declares, else as windows-1252.
    """
    defects: list[str] = []
    start = 3 if data.startswith(b"\xef\xbb\xbf") else 0  # UTF-8 byte order mark
    while data.startswith((b"\n", b"\r\n"), start):
        start = data.index(b"\n", start) + 1
        if not defects:
            defects.append("leading blank line")
    if skip_envelope and data.startswith(b"From ", start):
        newline = data.find(b"\n", start)
        start = len(data) if newline < 0 else newline + 1
    if skip_envelope and not _FIELD_START_BYTES.match(data, start):
        start = _skip_leading_junk(data, start, defects)

    separator = find_body_separator(data, start)
    if separator is None:
        block_end, body_offset = len(data), None
    else:
        block_end, body_offset = separator
    block = data[start:block_end]
    try:
        text = block.decode("utf-8")
        clean_utf8 = True
    except UnicodeDecodeError:
        # Lossless for now (offsets stay computable); each value is re-decoded below.
        text = block.decode("utf-8", "surrogateescape")
        clean_utf8 = False
        defects.append("non-UTF-8 bytes in headers")

    if clean_utf8 and len(text) <= max_header_length:
        fast = _split_fields(text)
        if fast is not None:
            return HeaderBlock(fast, body_offset, defects)

    fields: dict[str, list[str]] = {}
    position = 0
    length = len(text)
    field_match = _FIELD.match
    while position < length:
        match = field_match(text, position)
        if match is None:
            if text[position] in " \t":  # continuation with nothing to continue
                defects.append("continuation line before first header")
                newline = text.find("\n", position)
                position = length if newline < 0 else newline + 1
                continue
            if text.startswith(("\n", "\r\n"), position):
                position = text.index("\n", position) + 1
                continue
            # Body without a blank separator line: the stdlib's rule, so nothing is lost.
            defects.append("missing header/body separator")
            body_offset = start + len(text[:position].encode("utf-8", "surrogateescape"))
            break
        position = match.end()
        name = match.group(1).lower()
        value = unfold(match.group(2))
        if len(value) > max_header_length and name not in UNCAPPED_HEADERS:
            value = value[:max_header_length].strip()
            defects.append(f"header too long: {name}")
        values = fields.get(name)
        if values is None:
            fields[name] = [value]
        else:
            values.append(value)
    if not clean_utf8:
        _decode_raw_8bit(fields)
    return HeaderBlock(fields, body_offset, defects)


_CHARSET_PARAMETER = re.compile(r"""charset\s*=\s*["']?([^"';\s]+)""", re.IGNORECASE)


def _decode_raw_8bit(fields: dict[str, list[str]]) -> None:
    """Re-decode values holding raw 8-bit bytes (kept as surrogates so far).

    Mailers that write unencoded 8-bit headers use their own charset, which is
    usually the one the message's Content-Type declares (EUC-KR, KOI8-R, Big5 …):
    that charset is tried first, then UTF-8 / windows-1252.
    """
    content_type = fields.get("content-type")
    declared = _CHARSET_PARAMETER.search(content_type[0]) if content_type else None
    codec = resolve_charset(declared.group(1)) if declared else None
    for values in fields.values():
        for index, value in enumerate(values):
            try:
                value.encode("utf-8")
                continue
            except UnicodeEncodeError:
                raw = value.encode("utf-8", "surrogateescape")
            decoded = None
            if codec is not None and codec != "utf-8":
                try:
                    decoded = raw.decode(codec)
                except (UnicodeError, LookupError, ValueError):
                    decoded = None
            values[index] = decoded if decoded is not None else decode_header_bytes(raw)


# --------------------------------------------------------------------------- charsets

_CHARSET_ALIASES = {
    # WHATWG encoding standard: these labels mean windows-1252 in real mail.
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "iso_8859-1": "cp1252",
    "windows-1252": "cp1252",
    # Supersets that decode what senders mislabel.
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "euc-cn": "gb18030",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "shift_jis": "cp932",
    "x-sjis": "cp932",
    "big5": "big5hkscs",
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "windows-874": "cp874",
    "tis-620": "cp874",
    "x-mac-roman": "mac-roman",
    "macintosh": "mac-roman",
    "x-user-defined": "latin-1",
}
_GUESS_LABELS = frozenset(
    {"", "us-ascii", "ascii", "unknown-8bit", "unknown", "x-unknown", "default", "8bit", "charset", "utf-8", "utf8"}
)
"""Labels that say nothing reliable: decode as UTF-8, else windows-1252."""


@lru_cache(maxsize=256)
def resolve_charset(label: str | None) -> str | None:
    """Python codec name for a MIME charset label; None means "guess" (UTF-8 → cp1252).

    Unknown labels also resolve to None, so callers fall back instead of failing.
    """
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    if label in _GUESS_LABELS:
        return None
    label = _CHARSET_ALIASES.get(label, label)
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError, TypeError):  # unknown, or junk such as NUL bytes
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_MAIL_CHARSETS:
        return None  # base64, rot13, zlib … are codecs but not charsets
    return info.name


_NOT_MAIL_CHARSETS = frozenset({"undefined", "idna", "punycode", "raw_unicode_escape", "unicode_escape"})


def decode_text(data: bytes, charset: str | None) -> str:
    """Decode ``data`` in MIME ``charset``; unknown/unreliable labels are guessed."""
    codec = resolve_charset(charset)
    if codec is None or codec == "utf-8":
        return decode_header_bytes(data)
    try:
        return data.decode(codec, "replace")
    except (UnicodeError, LookupError, ValueError):  # codecs that ignore errors="replace"
        return decode_header_bytes(data)


# --------------------------------------------------------------------------- RFC 2047

_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")
_ENCODED_WORD = re.compile(r"=\?([^?\s*]+)(?:\*[^?]*)?\?([QqBb])\?([^?]*)\?=")
# A last encoded word whose "?=" was lost (truncated or broken clients): decoded leniently.
_UNTERMINATED_WORD = re.compile(r"=\?([^?\s*]+)(?:\*[^?]*)?\?([QqBb])\?([^?\s]+)\??\s*$")


def _encoded_word_bytes(encoding: str, payload: str) -> bytes | None:
    """Raw bytes of one encoded word's payload, or None when it cannot be decoded."""
    try:
        raw = payload.encode("ascii")
    except UnicodeEncodeError:
        return None
    if encoding in "Qq":
        return binascii.a2b_qp(raw, header=True)
    raw = raw.replace(b" ", b"").rstrip(b"=")
    if _NOT_BASE64.search(raw):
        return None
    raw += b"=" * (-len(raw) % 4)
    try:
        return binascii.a2b_base64(raw)
    except (binascii.Error, ValueError):
        return None


def decode_words(text: str) -> str:
    """Decode RFC 2047 encoded words in ``text``.

    Adjacent encoded words (only whitespace between them) are joined, and words
    in the same charset are decoded together so multi-byte characters split across
    words survive. Unknown charsets fall back to UTF-8/windows-1252; a word whose
    payload cannot be decoded (bad base64) is kept as written.
    """
    if "=?" not in text:
        return text
    out: list[str] = []
    pending = bytearray()
    pending_charset: str | None = None
    position = 0
    previous_was_word = False
    for match in _ENCODED_WORD.finditer(text):
        between = text[position : match.start()]
        payload = _encoded_word_bytes(match.group(2), match.group(3))
        if payload is None:  # broken word: keep its text
            if pending:
                out.append(decode_text(bytes(pending), pending_charset))
                pending.clear()
            out.append(between + match.group(0))
            position = match.end()
            previous_was_word = False
            continue
        charset = match.group(1).lower()
        joined = previous_was_word and (not between or between.isspace())
        if not joined or charset != pending_charset:
            if pending:
                out.append(decode_text(bytes(pending), pending_charset))
                pending.clear()
            if not joined:
                out.append(between)
        pending += payload
        pending_charset = charset
        position = match.end()
        previous_was_word = True
    if pending:
        out.append(decode_text(bytes(pending), pending_charset))
    out.append(_decode_unterminated(text[position:]))
    return "".join(out)


def _decode_unterminated(tail: str) -> str:
    """``tail`` with a final, unterminated encoded word decoded (kept as written when that fails)."""
    match = _UNTERMINATED_WORD.search(tail) if "=?" in tail else None
    if match is None:
        return tail
    payload = _encoded_word_bytes(match.group(2), match.group(3))
    if payload is None:
        return tail
    return tail[: match.start()] + decode_text(payload, match.group(1).lower())


# --------------------------------------------------------------------------- addresses

_ADDRESS_TOKEN = re.compile(
    r"""
    (?P<quoted>"(?:[^"\\]|\\.)*")        # quoted string
    | (?P<angle><[^<>]*>|<[^<>,]*$)      # angle-addr (may hold a route); unterminated at the end
    | (?P<comment>\()                    # comment: nesting handled by hand
    | (?P<special>[,;:])
    | (?P<word>[^\s"<>(),;:]+)
    | (?P<space>\s+)
    | (?P<stray>.)                        # stray > ) " <
    """,
    re.VERBOSE | re.DOTALL,
)
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)
_DOMAIN_JUNK = re.compile(r"[\s<>()\[\]\\,;:\"@]")
_LOCAL_JUNK = re.compile(r"[\s<>()\\,;:]")


def _read_comment(text: str, start: int) -> tuple[str, int]:
    """Comment text starting after the ``(`` at ``start``; returns (text, end)."""
    depth = 1
    index = start + 1
    length = len(text)
    while index < length:
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return text[start + 1 : index], index + 1
        index += 1
    return text[start + 1 :], length


@dataclass(slots=True)
class _Mailbox:
    """Tokens of one mailbox while parsing a list."""

    words: list[tuple[str, str]] = field(default_factory=list)  # (display text, text as written)
    angle: str | None = None
    comments: list[str] = field(default_factory=list)

    def empty(self) -> bool:
        return not self.words and self.angle is None and not self.comments

    def phrase(self) -> str:
        return " ".join(text for text, _ in self.words)


def _is_quoted(text: str) -> bool:
    return len(text) > 1 and text[0] == '"' and text[-1] == '"'


def _unquote(text: str) -> str:
    return _QUOTED_PAIR.sub(r"\1", text[1:-1])


_ATOM = r"[A-Za-z0-9!#$%&*+/=?^_{|}~.-]"
_PLAIN_ADDRESS = re.compile(_ATOM + r"+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")
"""An ASCII address that needs nothing but lower-casing (the common case)."""
_HAS_SPACE = re.compile(r"\s")

_ANGLE_ADDRESS = r"<\s*([^<>()\s,;:\"\\@]+@[^<>()\s,;:\"\\@]+)\s*>"
_BARE_ADDRESS = r"([^<>()\s,;:\"\\@]+@[^<>()\s,;:\"\\@]+)"
_SIMPLE_MAILBOX = re.compile(
    r"\s*(?:"
    + r"(?:\"([^\"\\]*)\"\s*|([^\"\\<>()\[\],;:@]*))" + _ANGLE_ADDRESS  # [quoted] name <addr>
    + r"|" + _BARE_ADDRESS + r"(?:\s*\(([^()\\]*)\))?"  # addr [(name)]
    + r")\s*"
)  # fmt: skip
"""One mailbox in the common simple forms; anything else goes through the full tokenizer."""
_NEEDS_TOKENIZER = re.compile(r"[\"():;\\\[\]]")


def _simple_mailboxes(value: str) -> list[tuple[str, str | None]] | None:
    """(address, name) pairs when ``value`` is a list of simple mailboxes, else None."""
    match = _SIMPLE_MAILBOX.fullmatch(value)
    if match is not None:
        pieces = [match]
    elif "," in value and not _NEEDS_TOKENIZER.search(value):
        pieces = []
        for piece in value.split(","):
            if piece and not piece.isspace():
                match = _SIMPLE_MAILBOX.fullmatch(piece)
                if match is None:
                    return None
                pieces.append(match)
    else:
        return None
    pairs = []
    for match in pieces:
        quoted, phrase, angle, bare, comment = match.groups()
        if angle is not None:
            pairs.append((angle, quoted if quoted is not None else phrase))
        else:
            pairs.append((bare, comment))
    return pairs


def normalise_email(raw: str) -> tuple[str | None, str | None]:
    """(normalised address, None) or (None, reason) for an address as written.

    Removes a route (``@a,@b:``), ``mailto:``, wrapping quotes and whitespace;
    lower-cases; turns the domain into its Unicode (U-label) form with ``idna``
    (lower-case only when that fails). Junk without a local part or domain is
    rejected with a reason.
    """
    if _PLAIN_ADDRESS.fullmatch(raw):
        lowered = raw.lower()
        if "xn--" not in lowered:
            return lowered, None
    address = raw.strip().strip("<>").strip()
    if address.startswith("@") and ":" in address:
        address = address.rpartition(":")[2]
    if address[:7].lower() == "mailto:":
        address = address[7:].partition("?")[0]
    while len(address) > 1 and address[0] == address[-1] and address[0] in "'\"`":
        address = address[1:-1].strip()  # 'john@example.com' wrapped whole in quotes
    if '"' not in address and _HAS_SPACE.search(address):
        address = "".join(address.split())  # obsolete spaces around dots and @
    local, at, domain = address.rpartition("@")
    if not at:
        return None, "no @"
    if not local:
        return None, "empty local part"
    domain = domain.rstrip(".")
    if not domain:
        return None, "empty domain"
    if _LOCAL_JUNK.search(local) and not local.startswith('"'):
        return None, "bad local part"
    if domain.startswith("[") and domain.endswith("]"):
        return f"{local.lower()}@{domain}", None
    if _DOMAIN_JUNK.search(domain):
        return None, "bad domain"
    if domain.isascii() and "xn--" not in domain.lower():
        return f"{local.lower()}@{domain.lower()}", None
    try:
        domain = idna.decode(domain, uts46=True)
    except (idna.IDNAError, UnicodeError, ValueError):
        domain = domain.lower()
    return f"{local.lower()}@{domain}", None


_VIA_SUFFIX = re.compile(r"\s+(?:\(via\s[^)]*\)|via\s+\S.*)$")  # lower-case "via": "Maria Via Rossi" is a name
_ADDRESS_IN_NAME = re.compile(r"\s*[(<\[]\s*(?:mailto:)?[^\s()<>\[\]@]+@[^\s()<>\[\]]+\s*[)>\]]\s*")
_ADDRESS_LIKE = re.compile(r"^(?:mailto:)?[^\s@]+@[^\s@]+$", re.IGNORECASE)
_NAME_QUOTES = "\"'`"


def _strip_quotes(name: str) -> str:
    """Remove wrapping quotes: ``"`` and backticks at either end, ``'`` only in pairs
    (an apostrophe can end a name: "Michiel Buddingh'")."""
    while True:
        stripped = name.strip('"` ')
        if len(stripped) > 1 and stripped[0] == stripped[-1] == "'":
            stripped = stripped[1:-1]
        if stripped == name:
            return name
        name = stripped


def clean_display_name(name: str | None, email: str | None = None) -> str | None:
    """A display name fit to show, or None.

    Collapses whitespace, strips wrapping quotes and an address written inside
    the name, and drops a name that is only an address. A name with a " via List"
    / "(via X)" suffix is dropped too: it names the author of a message relayed
    by the list or service whose address this is. "Last, First" is kept as written.
    """
    if not name:
        return None
    name = " ".join(name.split())
    if "via" in name and _VIA_SUFFIX.search(name):
        return None  # "Jane via LinkedIn" names the author, not the relay address it came from
    if "@" in name:
        name = _ADDRESS_IN_NAME.sub(" ", name).strip()
    name = _strip_quotes(name)
    if not name:
        return None
    if "@" in name:
        bare = name.strip("<>()[]" + _NAME_QUOTES + " ")
        if _ADDRESS_LIKE.match(bare) or (email and bare.lower() == email):
            return None
    return name or None


def _mailbox_addresses(box: _Mailbox) -> list[tuple[str, str | None]]:
    """(address as written, display name) pairs of one finished mailbox."""
    if box.angle is not None:
        return [(box.angle, box.phrase() or " ".join(box.comments) or None)]
    if not box.words:
        return []
    # addr-spec without <>: glue quoted local parts and obsolete spaces around "@" / ".".
    glued: list[list[str]] = []  # [written, display]
    for display, written in box.words:
        if glued and (written.startswith(("@", ".")) or glued[-1][0].endswith(("@", "."))):
            glued[-1][0] += written
            glued[-1][1] += display
        else:
            glued.append([written, display])
    candidates = [entry for entry in glued if "@" in entry[0] and not _is_quoted(entry[0])]
    if not candidates:  # a quoted "someone@example.com" alone
        candidates = [entry for entry in glued if _ADDRESS_LIKE.match(entry[1])]
        if candidates:
            candidates[0][0] = candidates[0][1]
    if not candidates:
        return []
    comment_name = " ".join(box.comments) or None
    if len(candidates) == 1:
        phrase = " ".join(entry[1] for entry in glued if entry is not candidates[0])
        return [(candidates[0][0], comment_name or phrase or None)]
    return [(entry[0], None) for entry in candidates]  # missing commas between addresses


def _split_mailboxes(text: str) -> list[_Mailbox]:
    """Tokenise an address list into mailboxes (groups flattened)."""
    boxes: list[_Mailbox] = []
    box = _Mailbox()
    index = 0
    length = len(text)
    while index < length:
        match = _ADDRESS_TOKEN.match(text, index)
        assert match is not None  # the "stray" alternative matches anything
        kind = match.lastgroup
        index = match.end()
        if kind == "space":
            continue
        if kind == "word":
            box.words.append((match.group(), match.group()))
        elif kind == "quoted":
            box.words.append((_unquote(match.group()), match.group()))
        elif kind == "angle":
            inner = match.group()[1:].rstrip(">").strip()
            if box.angle is None:
                box.angle = inner
            elif inner:  # two <…> in one mailbox: a missing comma
                boxes.append(box)
                box = _Mailbox(angle=inner)
        elif kind == "comment":
            comment, index = _read_comment(text, match.start())
            comment = " ".join(comment.split())
            if comment:
                box.comments.append(comment)
        elif kind == "special":
            char = match.group()
            if char == ":" and box.angle is None:
                box = _Mailbox()  # group display name: not a person
            elif char == ":":
                box.words.append((":", ":"))
            else:
                boxes.append(box)
                box = _Mailbox()
    boxes.append(box)
    return [b for b in boxes if not b.empty()]


ParsedAddress = tuple[str, "str | None", str]
"""(normalised email, cleaned display name, address as written)."""


def _addresses(pairs: list[tuple[str, str | None]], defects: list[str] | None) -> list[ParsedAddress]:
    """Normalised addresses for (address as written, name) pairs; junk goes to ``defects``."""
    results = []
    for written, name in pairs:
        email, reason = normalise_email(written)
        if email is None:
            if defects is not None:
                defects.append(f"junk address ({reason}): {written[:80]}")
            continue
        if name and "=?" in name:
            name = decode_words(name)
        results.append((email, clean_display_name(name, email), written.strip()))
    return results


def parse_addresses(value: str | None, defects: list[str] | None = None) -> list[Address]:
    """Parse an address-list header value into :class:`Address` records.

    See :func:`parse_address_list` (same parsing, plain tuples: faster).
    """
    return [Address(email, name, original) for email, name, original in parse_address_list(value, defects)]


_ADDRESS_CACHE: dict[str, tuple[tuple[ParsedAddress, ...], tuple[str, ...]]] = {}
ADDRESS_CACHE_SIZE = 8192
"""Header values remembered by :func:`parse_address_list` (mailboxes repeat the same
From/To/Cc values: lists, colleagues). Values longer than 1 KB are not kept."""


def clear_caches() -> None:
    """Forget cached parses (benchmarks start each run cold)."""
    _ADDRESS_CACHE.clear()
    _HEADER_NAMES.clear()
    resolve_charset.cache_clear()


def parse_address_list(value: str | None, defects: list[str] | None = None) -> list[ParsedAddress]:
    """Parse an address-list header value into (email, name, original) tuples.

    Handles groups (``undisclosed-recipients:;``), comments (nested), quoted names
    holding commas or ``@``, angle and bare addresses, obsolete routes, a missing
    comma between addresses, "Last, First <addr>" written without quotes,
    RFC 2047 names, and encoded words that hide a whole address. Junk (no ``@``,
    empty local part or domain) is left out and described in ``defects``.
    Results are cached per value.
    """
    if not value:
        return []
    hit = _ADDRESS_CACHE.get(value)
    if hit is None:
        found: list[str] = []
        hit = (tuple(_parse_address_list(value, found)), tuple(found))
        if len(value) <= 1024:
            if len(_ADDRESS_CACHE) >= ADDRESS_CACHE_SIZE:
                _ADDRESS_CACHE.clear()
            _ADDRESS_CACHE[value] = hit
    if hit[1] and defects is not None:
        defects.extend(hit[1])
    return list(hit[0])


def _parse_address_list(value: str, defects: list[str] | None) -> list[ParsedAddress]:
    """:func:`parse_address_list` without the cache."""
    simple = _simple_mailboxes(value)
    if simple is not None:
        return _addresses(simple, defects)
    results: list[ParsedAddress] = []
    orphan: str | None = None  # "Last" of an unquoted "Last, First <addr>"
    for box in _split_mailboxes(value):
        pairs = _mailbox_addresses(box)
        if not pairs:
            if box.words and "=?" in value:
                decoded = decode_words(value)
                if decoded != value and "@" in decoded:
                    return _parse_address_list(decoded, defects)
            if box.words and len(box.words) <= 4 and box.angle is None:
                orphan = box.phrase()
            elif box.words and defects is not None:
                defects.append(f"junk address: {box.phrase()[:80]}")
            continue
        if orphan is not None:
            if box.angle is not None and box.words and pairs[0][1]:
                pairs[0] = (pairs[0][0], f"{orphan}, {pairs[0][1]}")
            elif defects is not None:
                defects.append(f"junk address: {orphan[:80]}")
            orphan = None
        results.extend(_addresses(pairs, defects))
    if orphan is not None and defects is not None:
        defects.append(f"junk address: {orphan[:80]}")
    return results


# --------------------------------------------------------------------------- ids and dates

_MSG_ID = re.compile(r"<\s*([^<>\s]+?)\s*>")


def parse_msg_ids(value: str | None) -> list[str]:
    """Message-IDs in a References/In-Reply-To/Message-ID value, without ``<>``.

    Junk between ids (comments, quoted names, dates) is skipped; a value without
    any ``<…>`` falls back to whitespace-separated tokens that contain ``@``.
    """
    if not value:
        return []
    ids = _MSG_ID.findall(value)
    if ids:
        return ids
    return [token.strip("<>,;\"'") for token in value.split() if "@" in token and token.strip("<>,;\"'")]


_DATE_TAIL = re.compile(
    r"(\d{1,2})[\s-]+([A-Za-z]{3})[a-z]*[\s-]+(\d{2,4})[\sT,]+(?:at\s+)?(\d{1,2}):(\d{2})(?::(\d{2}))?"
    r"\s*(?:([AaPp][Mm])\b\s*)?([+-]\d{4}|[A-Za-z]{1,5}\b)?"
)
"""Last-chance date: "DD Mon[th] YYYY [at] HH:MM[:SS] [zone]" anywhere in the value."""
_NUMERIC_DATE = re.compile(
    r"(\d{4})[/.-](\d{1,2})[/.-](\d{1,2})\D{1,12}?(\d{1,2}):(\d{2})(?::(\d{2}))?"
    r"\s*(?:([AaPp][Mm])\b\s*)?([+-]\d{4}|[A-Za-z]{1,5}\b)?"
)
"""Last-chance numeric date: "YYYY/MM/DD [weekday] HH:MM[:SS] [zone]"."""
_MONTHS = {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}
_ZONES = {"UT": 0, "GMT": 0, "Z": 0, "UTC": 0, "EST": -500, "EDT": -400, "CST": -600, "CDT": -500,
          "MST": -700, "MDT": -600, "PST": -800, "PDT": -700}  # fmt: skip


def _from_tuple(parts: tuple) -> datetime:
    """Naive UTC datetime from a ``parsedate_tz`` 10-tuple; a missing zone counts as UTC."""
    year, month, day, hour, minute, second = parts[:6]
    moment = datetime(year, month, day, hour, minute, min(second, 59))
    return moment - timedelta(seconds=parts[9]) if parts[9] else moment


def _regex_date(value: str) -> tuple | None:
    """Last-chance parse of "DD Mon YYYY HH:MM[:SS] [zone]" or "YYYY/MM/DD … HH:MM[:SS]
    [zone]" anywhere in ``value``."""
    match = _DATE_TAIL.search(value)
    if match is not None:
        day, month, year, hour, minute, second, meridiem, zone = match.groups()
        month_number = _MONTHS.get(month.lower())
    else:
        match = _NUMERIC_DATE.search(value)
        if match is None:
            return None
        year, month, day, hour, minute, second, meridiem, zone = match.groups()
        month_number = int(month)
    if month_number is None:
        return None
    hour_number = int(hour) % 12 + 12 if meridiem and meridiem.lower() == "pm" else int(hour)
    if meridiem and meridiem.lower() == "am":
        hour_number %= 12
    year_number = int(year)
    if year_number < 100:
        year_number += 2000 if year_number < 50 else 1900
    offset = 0
    if zone and zone[0] in "+-":
        offset = (1 if zone[0] == "+" else -1) * (int(zone[1:3]) * 3600 + int(zone[3:5]) * 60)
    elif zone:
        hhmm = _ZONES.get(zone.upper(), 0)
        offset = (hhmm // 100) * 3600
    return (year_number, month_number, int(day), hour_number, int(minute), int(second or 0), 0, 1, -1, offset)


_CANONICAL_DATE = re.compile(
    r"\s*(?:[A-Za-z]{3},\s*)?(\d{1,2}) ([A-Za-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d\d)(\d\d)\b"
)


def _canonical_date(value: str) -> tuple | None:
    """Fast path for the RFC 5322 form ``Mon, 2 Sep 2002 12:00:00 +0100``."""
    match = _CANONICAL_DATE.match(value)
    if match is None:
        return None
    day, month, year, hour, minute, second, sign, zone_hours, zone_minutes = match.groups()
    month_number = _MONTHS.get(month.lower())
    if month_number is None:
        return None
    offset = int(zone_hours) * 3600 + int(zone_minutes) * 60
    return (int(year), month_number, int(day), int(hour), int(minute), int(second), 0, 1, -1,
            -offset if sign == "-" else offset)  # fmt: skip


def _iso_date(value: str) -> tuple | None:
    """parsedate_tz-style tuple for an ISO 8601 date (some scripts write those)."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    offset = moment.utcoffset()
    return (*moment.timetuple()[:9], int(offset.total_seconds()) if offset else 0)


_MERIDIEM = re.compile(r"\d\s*[AaPp][Mm]\b")


def parse_date(value: str | None, defects: list[str] | None = None) -> str | None:
    """RFC 5322 date → ISO 8601 UTC (``YYYY-MM-DDTHH:MM:SS+00:00``), or None.

    Tolerates obsolete and broken forms (two-digit years, years counted from
    1900 such as ``0102``, missing seconds, named zones, AM/PM, junk around the
    date). Dates that cannot be read, or whose year is absurd (before 1980 or
    more than a year ahead), give None and a defect.
    """
    if not value:
        return None
    parts = _canonical_date(value)
    if parts is None and _MERIDIEM.search(value):  # parsedate_tz ignores AM/PM
        parts = _regex_date(value)
    if parts is None:
        try:
            parts = parsedate_tz(value)
        except (TypeError, ValueError, IndexError):
            parts = None
    if parts is None:
        parts = _iso_date(value) or _regex_date(value)
    if parts is None:
        if defects is not None:
            defects.append(f"unparseable date: {value[:80]}")
        return None
    if 100 <= parts[0] < 200:  # "0102": a client printed struct tm's years-since-1900
        parts = (parts[0] + 1900, *parts[1:])
    try:
        moment = _from_tuple(parts)
    except (ValueError, OverflowError, TypeError):
        if defects is not None:
            defects.append(f"invalid date: {value[:80]}")
        return None
    if not MIN_YEAR <= moment.year <= time.gmtime().tm_year + MAX_FUTURE_YEARS:
        if defects is not None:
            defects.append(f"absurd date: {value[:80]}")
        return None
    return moment.isoformat(timespec="seconds") + "+00:00"
