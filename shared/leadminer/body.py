"""MIME body → plain text for the signature stage.

:func:`extract_body` walks multipart boundaries itself (bytes searches, no
``email`` parser), takes the first inline ``text/plain`` part, else the first
``text/html`` part turned into text, decodes the Content-Transfer-Encoding and
charset, and caps the result. Malformed MIME (missing or wrong boundaries, bad
base64, unknown charsets, endless nesting) never raises: the best text found is
returned and the problems are appended to ``defects``.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape

from .headers import decode_text, parse_header_block, resolve_charset

MAX_DEPTH = 8
"""Deepest multipart nesting followed."""

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_PARAMETER = re.compile(r";\s*(" + _TOKEN + r")\s*=\s*(\"(?:[^\"\\]|\\.)*\"?|[^;\s]*)")
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")
_GUESSED_BOUNDARY = re.compile(rb"^--([^\s-][^\r\n]{0,69}?|-[^\s-][^\r\n]{0,68}?)[ \t]*\r?$", re.MULTILINE)


@dataclass(slots=True, frozen=True)
class ContentType:
    """A parsed Content-Type value: lower-cased ``type/subtype`` and parameters."""

    mime_type: str
    params: dict[str, str]

    @property
    def maintype(self) -> str:
        return self.mime_type.partition("/")[0]


DEFAULT_CONTENT_TYPE = ContentType("text/plain", {})


def parse_content_type(value: str | None) -> ContentType:
    """Parse a Content-Type header; missing or invalid types mean ``text/plain``.

    Parameter names are lower-cased; quoted values are unquoted; RFC 2231
    ``name*=charset''value`` and ``name*0=…`` continuations are joined (the
    charset prefix is dropped, percent escapes decoded as UTF-8).
    """
    if not value:
        return DEFAULT_CONTENT_TYPE
    mime_type, _, rest = value.partition(";")
    mime_type, _, missing_semicolon = mime_type.strip().lower().partition(" ")
    if "/" not in mime_type:
        mime_type = "text/plain"
    params: dict[str, str] = {}
    if rest or missing_semicolon:
        continued: dict[str, list[tuple[int, str]]] = {}
        for name, raw in _PARAMETER.findall(f";{missing_semicolon};{rest}"):
            name = name.lower()
            if raw.startswith('"'):
                raw = raw[1:-1] if raw.endswith('"') and len(raw) > 1 else raw[1:]
                raw = raw.replace('\\"', '"').replace("\\\\", "\\")
            if "*" in name:
                base, _, section = name.partition("*")
                extended = name.endswith("*")
                if extended:
                    raw = _decode_rfc2231(raw)
                number = section.rstrip("*")
                continued.setdefault(base, []).append((int(number) if number.isdigit() else 0, raw))
            else:
                params.setdefault(name, raw)
        for base, sections in continued.items():
            params.setdefault(base, "".join(text for _, text in sorted(sections)))
    return ContentType(mime_type, params)


def _decode_rfc2231(value: str) -> str:
    """``charset'lang'percent-encoded`` → text (only the first section has the prefix)."""
    from urllib.parse import unquote

    charset, quote1, rest = value.partition("'")
    if quote1:
        _lang, quote2, encoded = rest.partition("'")
        if quote2:
            return unquote(encoded, encoding=charset or "utf-8", errors="replace")
    return unquote(value)


def decode_transfer_encoding(payload: bytes, encoding: str | None, defects: list[str]) -> bytes:
    """Undo a Content-Transfer-Encoding (base64, quoted-printable; others as is)."""
    encoding = (encoding or "").strip().lower()
    if encoding == "base64":
        compact = payload.translate(None, b" \t\r\n")
        if _NOT_BASE64.search(compact.rstrip(b"=")):
            compact = _NOT_BASE64.sub(b"", compact)
            defects.append("invalid base64 characters in body")
        compact = compact.rstrip(b"=")
        compact = compact[: len(compact) - len(compact) % 4] if len(compact) % 4 == 1 else compact
        try:
            return binascii.a2b_base64(compact + b"=" * (-len(compact) % 4))
        except (binascii.Error, ValueError):
            defects.append("undecodable base64 body")
            return b""
    if encoding == "quoted-printable":
        return binascii.a2b_qp(payload)
    return payload


def _decode_truncated(data: bytes, charset: str | None, truncated: bool) -> str:
    """Decode, dropping a UTF-8 character cut in half at the end of a truncated payload."""
    if truncated and resolve_charset(charset) in (None, "utf-8"):
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as error:
            if error.reason == "unexpected end of data":
                data = data[: error.start]
    return decode_text(data, charset.strip("\"'") if charset else None)


# --------------------------------------------------------------------------- HTML → text

def _any_case(word: str) -> str:
    """Regex for ``word`` in any letter case, without re.IGNORECASE (which turns
    off the regex engine's fast literal-prefix search)."""
    return "".join(f"[{char.lower()}{char.upper()}]" if char.isalpha() else re.escape(char) for char in word)


_BREAK_TAGS = frozenset(
    "br p div tr li ul ol table h1 h2 h3 h4 h5 h6 blockquote hr pre section article header footer "
    "dd dt dl address center form fieldset figure main".split()
)
_CELL_TAGS = frozenset({"td", "th"})
_INVISIBLE_TAGS = "script style title template noscript xml".split()

_PRE = re.compile(r"<[pP][rR][eE]\b[^>]*+>(.*?)(?:</[pP][rR][eE]\s*>|\Z)", re.DOTALL)
_TAG = re.compile(
    r"<(?:"
    r"!--.*?(?:-->|\Z)|!\[CDATA\[.*?(?:\]\]>|\Z)|"  # comments, CDATA
    + "".join(rf"{_any_case(tag)}\b.*?(?:</{_any_case(tag)}\s*>|\Z)|" for tag in _INVISIBLE_TAGS)  # never shown
    + r"(/?[a-zA-Z][a-zA-Z0-9:]*+)[^>]*+(?:>|\Z)|"  # a tag: its name is kept by re.split
    r"[!?/][^>]*+(?:>|\Z))",  # declarations, processing instructions, junk
    re.DOTALL,
)
"""Everything in one pass with a literal ``<`` prefix: comments, invisible elements with
their content, and tags up to the next ``>``. ``re.split`` keeps the name of ordinary
tags (with a leading ``/`` when closing); the other matches leave None. Anything left
open runs to the end of the document, as in a browser: the scan stays linear."""
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_INVISIBLE_CHARS = "\u200b\u200c\u200d\u2060\ufeff\u034f\u00ad"
_ODD_SPACES = "\u00a0\u2002\u2003\u2009\u202f\u3000\f\v"


class _TagLayout(dict):
    """Cache: tag name as written → what the tag leaves in the text (a line break
    for blocks, a space for cells, else nothing). Lookups stay in C on hits."""

    def __missing__(self, name: str | None) -> str:
        if name is None:
            return ""
        tag = name.lstrip("/").lower()
        layout = "\n" if tag in _BREAK_TAGS else " " if tag in _CELL_TAGS and name[0] != "/" else ""
        if len(self) < 4096:
            self[name] = layout
        return layout


_TAG_LAYOUT = _TagLayout()
_SPACE_RUN = re.compile("  +")
_BLANK_LINES = re.compile("\n\n\n+")


def html_to_text(html: str, cap: int | None = None) -> str:
    """Visible text of an HTML document.

    Scripts, styles, titles and comments are dropped; ``<br>``, ``<p>``, ``<div>``,
    ``<tr>``, ``<li>`` and other block tags become line breaks, table cells a space;
    whitespace is collapsed as a browser would (``<pre>`` keeps its line breaks);
    entities are decoded. Built on one ``re.split`` over the tags rather than
    :mod:`html.parser`, which is ~3× slower on the tag soup of mass mail; broken
    markup is tolerated the same way (an unclosed tag runs to the next ``>``).
    """
    if "<pre" in html or "<PRE" in html:
        html = _PRE.sub(lambda match: "<pre>" + match.group(1).replace("\n", "<br>") + "</pre>", html)
    # Plain str methods and regexes with a literal prefix only: the regex engine is
    # slow at patterns it must try at every position.
    pieces = _TAG.split(html.replace("\r", " ").replace("\n", " ").replace("\t", " "))
    pieces[1::2] = map(_TAG_LAYOUT.__getitem__, pieces[1::2])
    text = "".join(pieces)
    if "&" in text:
        text = unescape(text)
    if not text.isascii():
        for char in _INVISIBLE_CHARS:
            if char in text:
                text = text.replace(char, "")
        for char in _ODD_SPACES:
            if char in text:
                text = text.replace(char, " ")
    text = _SPACE_RUN.sub(" ", text).replace(" \n", "\n").replace("\n ", "\n")
    text = _BLANK_LINES.sub("\n\n", text).strip()
    return text[:cap] if cap is not None else text


# --------------------------------------------------------------------------- MIME walk


def _find_delimiter(body: bytes, delimiter: bytes, start: int) -> tuple[int, int, bool] | None:
    """Next ``--boundary`` line at or after ``start``: (line start incl. the CRLF
    before it, content start after it, is close delimiter), or None."""
    while True:
        index = body.find(delimiter, start)
        if index < 0:
            return None
        start = index + 1
        if index and body[index - 1] != 10:  # not at the start of a line
            continue
        after = index + len(delimiter)
        close = body.startswith(b"--", after)
        if close:
            after += 2
        newline = body.find(b"\n", after)
        line_end = len(body) if newline < 0 else newline
        if body[after:line_end].strip(b" \t\r"):  # a longer boundary that shares this prefix
            continue
        line_start = index - 1 if index else 0
        if line_start and body[line_start - 1] == 13:
            line_start -= 1
        return line_start, (line_end + 1 if newline >= 0 else line_end), close


def _split_parts(body: bytes, boundary: bytes) -> Iterator[bytes] | None:
    """Body parts between ``--boundary`` lines (lazily); None if there is no delimiter."""
    delimiter = b"--" + boundary
    first = _find_delimiter(body, delimiter, 0)
    if first is None:
        return None

    def parts(current: tuple[int, int, bool]) -> Iterator[bytes]:
        while not current[2]:  # a close delimiter ends the parts; the epilogue is ignored
            following = _find_delimiter(body, delimiter, current[1])
            if following is None:  # missing close delimiter: the part runs to the end
                yield body[current[1] :]
                return
            yield body[current[1] : following[0]]
            current = following

    return parts(first)


def _part_headers(part: bytes) -> tuple[ContentType, str | None, str | None, bytes]:
    """(Content-Type, transfer encoding, disposition, payload) of one body part."""
    if part.startswith((b"\n", b"\r\n")):  # no headers at all
        return DEFAULT_CONTENT_TYPE, None, None, part[1 if part[:1] == b"\n" else 2 :]
    block = parse_header_block(part, skip_envelope=False)
    payload = part[block.body_offset :] if block.body_offset is not None else b""
    return (
        parse_content_type(block.get("content-type")),
        block.get("content-transfer-encoding"),
        block.get("content-disposition"),
        payload,
    )


class _Walker:
    """Depth-first search for the first text/plain part (first text/html kept as fallback)."""

    def __init__(self, cap: int, defects: list[str]) -> None:
        self.cap = cap
        self.defects = defects
        self.html: tuple[bytes, str | None, str | None] | None = None
        self.empty_plain = False
        # Enough raw bytes for ``cap`` characters in any charset and encoding.
        self.plain_limit = cap * 8 + 4096
        self.html_limit = max(cap * 64, 262_144)

    def walk(self, content_type: ContentType, encoding: str | None, payload: bytes, depth: int = 0) -> str | None:
        if content_type.maintype == "multipart":
            return self._walk_multipart(content_type, payload, depth)
        if content_type.mime_type == "text/plain":
            limit = self.plain_limit
            truncated = len(payload) > limit
            raw = decode_transfer_encoding(payload[:limit], encoding, self.defects)
            text = _decode_truncated(raw, content_type.params.get("charset"), truncated)
            if text.isspace() or not text:
                self.empty_plain = True  # e.g. an empty text part next to the real HTML one
                return None
            return text.replace("\r\n", "\n").replace("\r", "\n")[: self.cap]
        if content_type.mime_type in ("text/html", "application/xhtml+xml") and self.html is None:
            self.html = (payload, encoding, content_type.params.get("charset"))
        return None

    def _walk_multipart(self, content_type: ContentType, payload: bytes, depth: int) -> str | None:
        if depth >= MAX_DEPTH:
            self.defects.append("multipart nested too deeply")
            return None
        boundary = content_type.params.get("boundary", "")
        parts = _split_parts(payload, boundary.encode("utf-8", "surrogateescape")) if boundary else None
        if parts is None:
            guessed = _GUESSED_BOUNDARY.search(payload)
            self.defects.append("multipart boundary missing" if not boundary else "multipart boundary not found")
            parts = _split_parts(payload, guessed.group(1)) if guessed else None
            if parts is None:  # no structure at all: read it as plain text
                return self.walk(DEFAULT_CONTENT_TYPE, None, payload, depth + 1)
        digest = content_type.mime_type == "multipart/digest"
        for part in parts:
            part_type, part_encoding, disposition, part_payload = _part_headers(part)
            if digest and part_type is DEFAULT_CONTENT_TYPE:
                continue  # digest parts default to message/rfc822: other people's messages
            if disposition and disposition.lstrip().lower().startswith("attachment"):
                continue
            text = self.walk(part_type, part_encoding, part_payload, depth + 1)
            if text is not None:
                return text
        return None

    def html_text(self) -> str | None:
        if self.html is None:
            return None
        payload, encoding, charset = self.html
        truncated = len(payload) > self.html_limit
        raw = decode_transfer_encoding(payload[: self.html_limit], encoding, self.defects)
        if not charset:
            declared = _META_CHARSET.search(raw, 0, 4096)
            charset = declared.group(1).decode("ascii") if declared else None
        return html_to_text(_decode_truncated(raw, charset, truncated), self.cap)


def extract_body(
    content_type: str | None,
    transfer_encoding: str | None,
    body: bytes,
    *,
    cap: int = 16_384,
    defects: list[str] | None = None,
) -> str | None:
    """Text of a message body: the first text/plain part, else the first text/html
    part as text ("" when the text parts are empty), else None (e.g. only
    attachments, or a forwarded message/rfc822 on its own). At most ``cap`` characters;
    line endings become ``\\n``. ``content_type`` / ``transfer_encoding`` are the
    message's top-level header values."""
    found_defects: list[str] = [] if defects is None else defects
    walker = _Walker(cap, found_defects)
    text = walker.walk(parse_content_type(content_type), transfer_encoding, body)
    if text is None:
        text = walker.html_text()
    if text is None and walker.empty_plain:
        text = ""
    return text
