"""Parse IMAP FETCH responses (as :mod:`imaplib` returns them) and pick the text part of a BODYSTRUCTURE.

imap-tools covers connecting, login, LIST, STATUS, SEARCH; it has no parser for
``BODYSTRUCTURE`` or for several body sections in one FETCH, so this small one
does it. Values come out as: ``str`` for atoms (``UID``, ``NIL`` → None,
numbers, flags), ``bytes`` for strings and literals, ``list`` for parenthesised
lists.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["FetchParseError", "TextPart", "body_section", "find_text_part", "parse_fetch", "uid_set"]

_TOKEN = re.compile(
    rb"""(?P<open>\()
    | (?P<close>\))
    | "(?P<quoted>(?:[^"\\]|\\.)*)"
    | \{(?P<literal>\d+)\+?\}\s*$
    | (?P<atom>(?:[^\s()\[\]"{]+|\[[^\]]*\])+)
    | (?P<junk>\S)
    """,
    re.VERBOSE | re.DOTALL,
)
_UNQUOTE = re.compile(rb"\\(.)", re.DOTALL)


class FetchParseError(ValueError):
    """The server's FETCH response could not be understood."""


class _Literal(bytes):
    """A literal's bytes, kept apart from the text around it."""


def _segments(data: list[Any]) -> Iterator[bytes]:
    """imaplib hands out ``[(b'1 (UID 5 BODY[] {12}', b'<12 bytes>'), b')', …]``: flatten it."""
    for item in data:
        if item is None:
            continue
        if isinstance(item, tuple):
            yield item[0]
            yield _Literal(item[1])
        else:
            yield item


def _tokens(data: list[Any]) -> Iterator[Any]:
    segments = _segments(data)
    for segment in segments:
        if isinstance(segment, _Literal):
            raise FetchParseError("literal without a {size} marker")
        for match in _TOKEN.finditer(segment):
            kind = match.lastgroup
            if kind == "atom":
                atom = match.group("atom").decode("ascii", "replace")
                yield None if atom.upper() == "NIL" else _Atom(atom)
            elif kind == "quoted":
                value = match.group("quoted")
                yield _UNQUOTE.sub(rb"\1", value) if b"\\" in value else value
            elif kind == "open":
                yield _OPEN
            elif kind == "close":
                yield _CLOSE
            elif kind == "literal":
                literal = next(segments, None)
                if not isinstance(literal, _Literal):
                    raise FetchParseError("literal announced but missing")
                yield bytes(literal)
            else:
                start = match.start()
                raise FetchParseError(f"unexpected data {segment[start:start + 40]!r}")


class _Atom(str):
    """An IMAP atom (a string value is ``bytes``)."""


_OPEN, _CLOSE = object(), object()


def parse_fetch(data: list[Any]) -> Iterator[dict[str, Any]]:
    """One dict per ``* n FETCH (…)`` response: upper-case item name → value.

    Body sections keep their name as sent by the server, e.g. ``BODY[HEADER]``,
    ``BODY[1.2]<0>``, ``BODY[1.2.MIME]``.
    """
    stream = _tokens(data)
    for token in stream:
        if not isinstance(token, _Atom) or not token.isdigit():
            raise FetchParseError(f"expected a message number, got {token!r}")
        if next(stream, None) is not _OPEN:
            raise FetchParseError("expected '(' after the message number")
        items = _read_list(stream)
        if len(items) % 2:
            raise FetchParseError("odd number of FETCH items")
        yield {str(items[i]).upper(): items[i + 1] for i in range(0, len(items), 2)}


def _read_list(stream: Iterator[Any]) -> list[Any]:
    items: list[Any] = []
    for token in stream:
        if token is _OPEN:
            items.append(_read_list(stream))
        elif token is _CLOSE:
            return items
        else:
            items.append(token)
    raise FetchParseError("unbalanced parentheses")


def body_section(item: dict[str, Any], section: str) -> bytes | None:
    """The bytes of ``BODY[section]`` (partial or whole) in a parsed FETCH item."""
    for key in (f"BODY[{section}]<0>", f"BODY[{section}]"):
        value = item.get(key)
        if isinstance(value, bytes):
            return value
    return None


def uid_set(uids: list[int]) -> str:
    """Compact IMAP sequence set: ``[1, 2, 3, 7]`` → ``"1:3,7"``."""
    ranges: list[str] = []
    ordered = sorted(set(uids))
    start = previous = None
    for uid in ordered:
        if previous is not None and uid == previous + 1:
            previous = uid
            continue
        if start is not None:
            ranges.append(f"{start}:{previous}" if previous != start else str(start))
        start = previous = uid
    if start is not None:
        ranges.append(f"{start}:{previous}" if previous != start else str(start))
    return ",".join(ranges)


@dataclass(slots=True, frozen=True)
class TextPart:
    """The body part to fetch for a message.

    ``section`` is ``"TEXT"`` for a single-part message (the whole body) or a
    part number such as ``"1.2"``; ``boundary`` is the top-level multipart
    boundary the part is wrapped in (None for single-part messages);
    ``content_type`` / ``params`` / ``encoding`` describe the part, used when its
    own MIME header lacks a Content-Type.
    """

    section: str
    boundary: bytes | None
    content_type: str
    params: tuple[tuple[str, str], ...]
    encoding: str


def find_text_part(structure: Any) -> TextPart | None:
    """The first text/plain part (else the first text/html) that is not an attachment.

    Walks multiparts depth-first and does not descend into attached messages
    (message/rfc822), the order in which a mail reader picks the body.
    """
    if not isinstance(structure, list) or not structure:
        return None
    if not isinstance(structure[0], list):  # single part: the body is BODY[TEXT]
        part = _single(structure)
        if part and part[0] == "text" and part[1] in ("plain", "html") and not part[4]:
            return TextPart("TEXT", None, f"{part[0]}/{part[1]}", part[2], part[3])
        return None
    boundary = _multipart_boundary(structure)
    found: dict[str, tuple[str, tuple[Any, ...]]] = {}
    for section, part in _walk(structure, ""):
        kind = f"{part[0]}/{part[1]}"
        if kind in ("text/plain", "text/html") and not part[4] and kind not in found:
            found[kind] = (section, part)
            if kind == "text/plain":
                break
    for kind in ("text/plain", "text/html"):
        if kind in found:
            section, part = found[kind]
            if boundary is None:  # cannot rebuild a multipart: fall back to the raw body start
                return TextPart("TEXT", None, kind, part[2], part[3])
            return TextPart(section, boundary, kind, part[2], part[3])
    return None


def _walk(multipart: list[Any], prefix: str) -> Iterator[tuple[str, tuple[Any, ...]]]:
    number = 0
    for child in multipart:
        if not isinstance(child, list):
            break  # the subtype: children are over
        number += 1
        section = f"{prefix}{number}"
        if child and isinstance(child[0], list):
            yield from _walk(child, section + ".")
        else:
            part = _single(child)
            if part:
                yield section, part


def _single(node: list[Any]) -> tuple[str, str, tuple[tuple[str, str], ...], str, bool] | None:
    """``(type, subtype, params, encoding, is_attachment)`` of a single-part BODYSTRUCTURE."""
    if len(node) < 7:
        return None
    main, sub = _text(node[0]).lower(), _text(node[1]).lower()
    params = _params(node[2])
    encoding = _text(node[5]).lower() or "7bit"
    # extension data: text has "lines" at 7, message/rfc822 has envelope, body, lines
    if main == "text":
        disposition_at = 9
    elif (main, sub) in (("message", "rfc822"), ("message", "global")):
        disposition_at = 11
    else:
        disposition_at = 8
    disposition = node[disposition_at] if len(node) > disposition_at else None
    attachment = isinstance(disposition, list) and bool(disposition) and _text(disposition[0]).lower() == "attachment"
    return main, sub, params, encoding, attachment


def _multipart_boundary(node: list[Any]) -> bytes | None:
    index = next((i for i, child in enumerate(node) if not isinstance(child, list)), None)
    if index is None or len(node) <= index + 1:
        return None
    for key, value in _params(node[index + 1]):
        if key == "boundary" and value:
            return value.encode("utf-8", "surrogateescape")
    return None


def _params(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list):
        return ()
    pairs = []
    for i in range(0, len(value) - 1, 2):
        pairs.append((_text(value[i]).lower(), _text(value[i + 1])))
    return tuple(pairs)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return "" if value is None else str(value)
