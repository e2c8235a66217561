"""EXTRACT stage: raw message bytes → :class:`MessageRecord` with points of contact.

:func:`extract_message` mines whatever a message offers and lists tolerated
problems in ``record.defects``; it raises :class:`ExtractError` only when there is
nothing usable (empty input, no header block). The header parser
(:mod:`leadminer.headers`) and the body walker (:mod:`leadminer.body`) avoid the
stdlib ``email`` parser, which is several times slower.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import unquote

from .body import extract_body
from .contracts import Field, MessageRecord, PointOfContact, RawMessage
from .headers import (
    HeaderBlock,
    clean_display_name,
    decode_words,
    normalise_email,
    parse_address_list,
    parse_date,
    parse_header_block,
    parse_msg_ids,
    unfold,
)
from .tagging import TAGGING_HEADER_PREFIXES as _TAGGING_READS_PREFIXES
from .tagging import TAGGING_HEADERS as _TAGGING_READS

ADDRESS_HEADERS: dict[str, Field] = {
    "from": Field.FROM,
    "sender": Field.SENDER,
    "reply-to": Field.REPLY_TO,
    "to": Field.TO,
    "cc": Field.CC,
    "bcc": Field.BCC,
    "resent-from": Field.RESENT_FROM,
    "resent-to": Field.RESENT_TO,
    "resent-cc": Field.RESENT_CC,
}
"""Address-list headers mined as points of contact (List-Post is handled apart); never cut
(``headers.UNCAPPED_HEADERS``)."""

DELIVERED_TO_HEADERS = ("delivered-to", "x-original-to")
"""Headers naming the mailbox owner's own addresses (aliases)."""

TAGGING_HEADERS = _TAGGING_READS | frozenset(
    {
        "list-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
        "list-post",
        "list-help",
        "list-archive",
        "list-owner",
        "list-subscribe",
        "precedence",
        "auto-submitted",
        "x-auto-response-suppress",
        "return-path",
        "feedback-id",
        "x-mc-user",
        "x-mailer",
        "user-agent",
        "x-csa-complaints",
        "x-feedback-id",
        "x-msfbl",
        "x-loop",
        "x-beenthere",
        "x-autoreply",
        "x-autorespond",
        "mime-version",
        "content-type",
        "organization",
    }
)
"""Headers kept in ``record.headers`` (exact lower-case names): those :mod:`leadminer.tagging`
reads plus other list / bulk / ESP markers."""

TAGGING_HEADER_PREFIXES = (
    "x-mailgun-",
    "x-sg-",
    "x-sendgrid-",
    "x-campaign",
    "x-mailchimp-",
    "x-mc-",
    "x-ses-",
    "x-linkedin-",
    "x-facebook-",
    "x-github-",
    "x-spam-",
    "x-newsletter",
    "x-report-abuse",
    "x-mandrill-",
    "x-sib-",
    "x-mailjet-",
    "x-klaviyo-",
    "x-list-",
    *_TAGGING_READS_PREFIXES,
)
"""Name prefixes of further tagging headers (ESP and platform fingerprints)."""

MESSAGE_HEADERS = frozenset(
    {"from", "to", "cc", "date", "subject", "message-id", "received", "sender", "reply-to", "return-path",
     "mime-version", "content-type", "delivered-to", "in-reply-to", "references", "bcc", "x-original-to"}
)  # fmt: skip
"""At least one of these must be present for input to count as a message."""

MAX_DEFECTS = 50
"""Longest defect list kept per message (a junk To with thousands of entries…)."""

_MAILTO = re.compile(r"<\s*mailto:([^>?\s]+)", re.IGNORECASE)


class ExtractError(Exception):
    """Nothing usable could be mined from a message; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# content-type carries a multipart message's random boundary: distinct messages differ there
_SYNTHETIC_ID_HEADERS = (
    "from", "sender", "reply-to", "to", "cc", "date", "subject", "in-reply-to", "references", "content-type", "x-mailer",
)  # fmt: skip


def synthetic_message_id(block: HeaderBlock) -> str:
    """Stable id for a message without Message-ID: sha1 of its identifying
    headers and its Received chain (unique per delivery). Only headers count, so
    the same message read from a file or over IMAP (where only the first text
    part is fetched) gets the same id, and mining it twice gives the same id."""
    digest = hashlib.sha1()
    for name in _SYNTHETIC_ID_HEADERS:
        digest.update((block.get(name) or "").encode("utf-8", "surrogateescape"))
        digest.update(b"\n")
    for value in block.get_all("received") if "received" in block.fields else ():
        digest.update(value.encode("utf-8", "surrogateescape"))
        digest.update(b"\n")
    return "sha1:" + digest.hexdigest()


def _message_id(block: HeaderBlock, defects: list[str]) -> str:
    values = block.get_all("message-id")
    if len(values) > 1:
        defects.append("duplicate header: message-id")
    if values:
        ids = parse_msg_ids(values[0])
        if ids:
            return ids[0]
        token = values[0].strip().strip("<>").strip()
        if token and " " not in token:
            defects.append("message-id without <>")
            return token
        defects.append("unusable message-id")
    return synthetic_message_id(block)


def _list_post_addresses(values: list[str], defects: list[str]) -> list[str]:
    """Addresses of the ``<mailto:…>`` URLs in List-Post values."""
    found = []
    for value in values:
        for target in _MAILTO.findall(value):
            email, reason = normalise_email(unquote(target))
            if email is None:
                defects.append(f"junk list-post address ({reason}): {target[:80]}")
            else:
                found.append(email)
    return found


_IS_TAGGING: dict[str, bool] = {}
"""Cache: header name → is it a tagging header."""


def is_tagging_header(name: str) -> bool:
    """Whether ``record.headers`` keeps header ``name`` (lower case)."""
    kept = _IS_TAGGING.get(name)
    if kept is None:
        kept = name in TAGGING_HEADERS or name.startswith(TAGGING_HEADER_PREFIXES)
        if len(_IS_TAGGING) < 8192:
            _IS_TAGGING[name] = kept
    return kept


def _tagging_headers(block: HeaderBlock) -> dict[str, str]:
    """First value (unfolded, RFC 2047 decoded) of every tagging header present."""
    cached = _IS_TAGGING.get
    kept = {}
    for name, values in block.fields.items():
        keep = cached(name)
        if keep is None:
            keep = is_tagging_header(name)
        if keep:
            value = unfold(values[0])
            kept[name] = decode_words(value) if "=?" in value else value
    return kept


def _x_from_name(value: str | None) -> str | None:
    """The sender's name from an X-From header (Exchange / Lotus Notes exports,
    e.g. the Enron corpus: ``X-From: Beck, Sally </O=ENRON/OU=NA/CN=SBECK>``),
    used only when From carries no display name."""
    if not value:
        return None
    text = decode_words(unfold(value)) if "=?" in value else unfold(value)
    text = text.split("<", 1)[0]
    return clean_display_name(text) if "@" not in text else None


def extract_message(raw: RawMessage, *, body_cap: int = 16_384) -> MessageRecord:
    """Mine one raw message into a :class:`MessageRecord`.

    Raises :class:`ExtractError` only for input with nothing usable (empty, or no
    header block); every other problem is tolerated and listed in ``defects``.
    """
    data = raw.data
    if not data or data.isspace():
        raise ExtractError("empty message")
    block = parse_header_block(data)
    if not block.fields:
        raise ExtractError("no header block: the first line is not a header field")
    if MESSAGE_HEADERS.isdisjoint(block.fields):
        raise ExtractError("no message headers (From, To, Date, Subject, Message-ID, Received …)")
    defects = block.defects
    body_bytes = data[block.body_offset :] if block.body_offset is not None else b""
    message_id = _message_id(block, defects)

    points: list[PointOfContact] = []
    seen: dict[tuple[Field, str], PointOfContact] = {}
    for header, field in ADDRESS_HEADERS.items():
        if header not in block.fields:
            continue
        values = block.get_all(header)
        if len(values) > 1 and field in (Field.FROM, Field.SENDER):
            defects.append(f"duplicate header: {header}")
        for value in values:
            for email, name, _written in parse_address_list(value, defects):
                point = seen.get((field, email))
                if point is None:
                    point = seen[(field, email)] = PointOfContact(message_id, field, email, name)
                    points.append(point)
                elif point.name is None:
                    point.name = name
    sender = next((p for p in points if p.field is Field.FROM), None)
    if sender is not None and sender.name is None and "x-from" in block.fields:
        sender.name = _x_from_name(block.get("x-from"))
    list_post = block.get_all("list-post") if "list-post" in block.fields else ()
    for email in _list_post_addresses(list_post, defects):
        if (Field.LIST_POST, email) not in seen:
            seen[(Field.LIST_POST, email)] = point = PointOfContact(message_id, Field.LIST_POST, email)
            points.append(point)

    delivered_to: list[str] = []
    for header in DELIVERED_TO_HEADERS:
        for value in block.get_all(header) if header in block.fields else ():
            for email, _name, _written in parse_address_list(value, defects):
                if email not in delivered_to:
                    delivered_to.append(email)

    subject = block.get("subject")
    in_reply_to = parse_msg_ids(block.get("in-reply-to"))
    references = [ref for value in block.get_all("references") for ref in parse_msg_ids(value)]
    date = parse_date(block.get("date"), defects)

    body = None
    if block.body_offset is not None:
        body = extract_body(
            block.get("content-type"),
            block.get("content-transfer-encoding"),
            body_bytes,
            cap=body_cap,
            defects=defects,
        )
    if len(defects) > MAX_DEFECTS:
        dropped = len(defects) - MAX_DEFECTS
        del defects[MAX_DEFECTS:]
        defects.append(f"… {dropped} more defects")
    return MessageRecord(
        mining_id=raw.mining_id,
        message_id=message_id,
        folder=raw.folder,
        uid=raw.uid,
        date=date,
        subject=decode_words(subject) if subject is not None else None,
        in_reply_to=in_reply_to[0] if in_reply_to else None,
        references=references,
        points=points,
        headers=_tagging_headers(block),
        body=body,
        delivered_to=delivered_to,
        defects=defects,
    )
