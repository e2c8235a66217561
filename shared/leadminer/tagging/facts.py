"""The facts about one message that the tagging rules read, each computed at most once.

:class:`Message` reads the record once (header-name flags, sender, recipients,
subject); everything else is a lazy attribute, computed on first read and kept:
subject forms, the body as the phrase tables read it, the sender's words and
shape (no-reply, notifier, broadcaster, the organisation itself), the signs of
machine-made and bulk mail. The rules (:mod:`.rules`) only combine these.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..addresses import split_address, subdomain_labels, word_tokens
from ..clean import is_no_reply, is_role
from ..contracts import Field, MessageRecord
from .shapes import (
    first_address,
    is_bounce_address,
    is_broadcast_name,
    is_generated_local,
    is_notifier_id,
    is_notifier_words,
    is_org_sender,
    looks_like_list_address,
    only_broadcast_words,
    sender_words,
)
from .vocabulary import (
    ACCOUNT_BODY,
    ADMIN_NAME,
    AUTO_REPLY_SUBJECT,
    AUTOMATED_BODY,
    AUTOMATION_HEADERS,
    BROADCAST_WORDS,
    BULK_DOMAIN_LABELS,
    DELIVERY_SUBJECT,
    DISTRIBUTION_LOCAL,
    FORWARD_PREFIX,
    GROUP_HEADER_PREFIXES,
    LIST_TAG,
    LIST_TAG_STOP,
    MACHINE_WORDS,
    MARKETING_HEADER_PREFIXES,
    MASTHEAD,
    MTA_NAME,
    NEWSLETTER_BODY,
    NOTIFIER_HEADER_PREFIXES,
    PRECEDENCE_AUTOMATIC,
    PROGRAM_MAILER,
    RELAY_ESP_HEADER_PREFIXES,
    REPLY_PREFIX,
    REPORT_TYPE,
    SELF_DECLARED_AUTOMATED_BODY,
    SELF_DECLARED_AUTOMATED_SUBJECT,
    SHIPMENT_SUBJECT,
    SOCIAL_HEADER_PREFIXES,
    STRONG_BROADCAST_WORDS,
    SUBJECT_PREFIX,
    TRANSACTIONAL_SUBJECT,
    unsubscribe_instruction,
)

# --------------------------------------------------------------------------- header names

# What the names of a message's headers say, as bit flags (one pass over the names per message).
SOCIAL_HEADER, MARKETING_HEADER, RELAY_HEADER, NOTIFIER_HEADER, GROUP_HEADER = 1, 2, 4, 8, 16
AUTOMATION_HEADER, UNSUBSCRIBE_HEADER, LIST_HEADER, FEEDBACK_HEADER = 32, 64, 128, 256
_NAME_FLAGS_MAX = 4096


class _NameFlags(dict):
    """Header name → flags, computed on first sight (bounded: names past the bound are not kept)."""

    def __missing__(self, name: str) -> int:
        flags = _name_flags(name)
        if len(self) < _NAME_FLAGS_MAX:
            self[name] = flags
        return flags


_NAME_FLAGS = _NameFlags()


def _name_flags(name: str) -> int:
    """The flags of one (lower-case) header name."""
    flags = 0
    for bit, prefixes in (
        (SOCIAL_HEADER, SOCIAL_HEADER_PREFIXES), (MARKETING_HEADER, MARKETING_HEADER_PREFIXES),
        (RELAY_HEADER, RELAY_ESP_HEADER_PREFIXES), (NOTIFIER_HEADER, NOTIFIER_HEADER_PREFIXES),
        (GROUP_HEADER, GROUP_HEADER_PREFIXES),
    ):
        if name.startswith(prefixes):
            flags |= bit
    if name in AUTOMATION_HEADERS:
        flags |= AUTOMATION_HEADER
    if name == "list-unsubscribe":
        flags |= UNSUBSCRIBE_HEADER
    if name in ("list-id", "x-beenthere", "x-mailman-version", "mailing-list"):
        flags |= LIST_HEADER
    if name in ("feedback-id", "x-feedback-id"):
        flags |= FEEDBACK_HEADER
    return flags


# --------------------------------------------------------------------------- body

BODY_HEAD, BODY_TAIL = 3000, 6000
"""Characters of the body read from its start ("view in browser") and its end (footers)."""

_QUOTED_LINE = re.compile(r"^[^\S\n]*>.*", re.M)
"""A quoted line (``> …``) of a reply."""


def body_text(body: str | None) -> str:
    """Start and end of the body, lower-cased, quoted (``>``) lines dropped, whitespace collapsed."""
    if not body:
        return ""
    if len(body) > BODY_HEAD + BODY_TAIL:
        body = body[:BODY_HEAD] + "\n" + body[-BODY_TAIL:]
    body = body.lower()
    if ">" in body:
        body = _QUOTED_LINE.sub("", body)
    return " ".join(body.split())


# --------------------------------------------------------------------------- the message


class _lazy:
    """A value computed on first use and then kept on the instance (``functools.cached_property``
    without its lock, which costs more than most of these values)."""

    def __init__(self, func):
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.func(instance)
        return value


class Message:
    """The facts about one message that the rules read.

    Facts that several rules (or other facts) read on one path are lazy attributes,
    computed when first read and then kept; facts that any one path reads at most
    once (:meth:`machine_made`, :meth:`delivery_report`, :meth:`broadcaster` …) are
    plain methods, which cost less than keeping them.
    """

    def __init__(self, record: MessageRecord) -> None:
        self.record = record
        h = record.headers or {}
        self.h: Mapping[str, str] = h
        flags = 0
        name_flags = _NAME_FLAGS
        for name in h:
            flags |= name_flags[name]
        self.flags = flags
        sender = None
        fallback = None
        recipients: list[str] = []
        senders: list[str] = []
        for point in record.points:
            field = point.field
            if field is Field.TO or field is Field.CC:
                recipients.append(point.email)  # normalised (lower case) by extract
            elif field is Field.FROM:
                if sender is None:
                    sender = point
            elif field is Field.SENDER:
                senders.append(point.email)
                if fallback is None:
                    fallback = point
            elif field is Field.RESENT_FROM and fallback is None:
                fallback = point
        sender = sender or fallback
        self.email = sender.email.lower() if sender else ""
        self.name = (sender.name or "") if sender else ""
        self.local, self.domain = split_address(self.email)
        subject = record.subject or ""
        self.subject = subject
        self.is_reply = bool(record.in_reply_to or record.references or (":" in subject and REPLY_PREFIX.match(subject)))
        self.recipients = recipients
        self.senders = senders
        self.list_sets: tuple[set[str], set[str]] | None = None
        """(named, derived) list addresses, filled by :func:`.lists.list_address_sets` on first use."""

    def header(self, name: str) -> str:
        """A kept header's value, stripped ("" when absent)."""
        value = self.h.get(name)
        return value.strip() if value else ""

    # -- subject

    @_lazy
    def bare_subject(self) -> str:
        """The subject without reply / forward prefixes."""
        return SUBJECT_PREFIX.sub("", self.subject) if ":" in self.subject else self.subject

    @_lazy
    def lower_subject(self) -> str:
        return self.subject.lower()

    @_lazy
    def lower_bare_subject(self) -> str:
        """The lower-cased subject without reply / forward prefixes."""
        subject = self.lower_subject
        return SUBJECT_PREFIX.sub("", subject) if ":" in subject else subject

    @_lazy
    def is_forward(self) -> bool:
        return ":" in self.subject and bool(FORWARD_PREFIX.match(self.subject))

    @_lazy
    def transactional_subject(self) -> bool:
        """Receipt / order / account / delivery words in the subject (reply prefixes dropped)."""
        return TRANSACTIONAL_SUBJECT.search(self.lower_bare_subject) is not None or self.shipment_subject

    @_lazy
    def shipment_subject(self) -> bool:
        """A parcel / shipment notice subject (:data:`.vocabulary.SHIPMENT_SUBJECT`)."""
        return SHIPMENT_SUBJECT.search(self.lower_bare_subject) is not None

    def self_declared_automated(self) -> bool:
        """The subject says a machine wrote it: "Automated …", "Undeliverable", "Do not reply"."""
        subject = self.lower_subject
        return (
            ("repl" in subject or "deliver" in subject or "returned" in subject or "automated" in subject)
            and SELF_DECLARED_AUTOMATED_SUBJECT.search(subject) is not None
        )

    # -- body

    @_lazy
    def body(self) -> str:
        """The body as the phrase rules read it (:func:`body_text`); empty for a forward: a person
        forwarding a newsletter or a notice stays a person."""
        return "" if self.is_forward else body_text(self.record.body)

    @_lazy
    def newsletter_body(self) -> bool:
        """An unsubscribe instruction, an opt-out footer or a masthead in the body."""
        body = self.body
        return bool(body) and bool(
            unsubscribe_instruction(body) or NEWSLETTER_BODY.search(body) or MASTHEAD.search(body, 0, 300)
        )

    def notice_body(self) -> bool:
        """The body reads like a notice to one person (account or machine wording) and carries
        no newsletter sign (unsubscribe instruction, opt-out footer, masthead)."""
        body = self.body
        if not body or self.newsletter_body:
            return False
        return bool(SELF_DECLARED_AUTOMATED_BODY.search(body) or AUTOMATED_BODY.search(body) or ACCOUNT_BODY.search(body))

    # -- the sender's shape

    @_lazy
    def words(self) -> list[str]:
        """The non-numeric words of the sender's local part."""
        return sender_words(self.local) if self.local else []

    @_lazy
    def no_reply(self) -> bool:
        return bool(self.local) and is_no_reply(self.local)

    def generated(self) -> bool:
        """The sender's local part is machine-made (VERP, per-recipient token)."""
        return bool(self.local) and is_generated_local(self.local)

    @_lazy
    def notifier(self) -> bool:
        """The sender looks like a machine that sends notices (no-reply, billing@, notify@, VERP)."""
        return self.no_reply or (bool(self.local) and (is_notifier_words(self.words) or self.generated()))

    @_lazy
    def strong_broadcaster(self) -> bool:
        """From shapes that only one-to-many senders have: no-reply, a generated address, a local
        part whose words are all broadcast words (``newsletter@``, ``enron.announcements@``,
        ``rssfeeds@``) besides the domain's own name."""
        return self.no_reply or self.generated() or only_broadcast_words(self.words, self.domain)

    def list_broadcaster(self) -> bool:
        """A one-to-many sender posting to a list: no-reply, generated, a strong broadcast word
        in the local part or the display name (the list headers already say bulk)."""
        return (
            self.no_reply
            or self.generated()
            or not STRONG_BROADCAST_WORDS.isdisjoint(self.words)
            or self.broadcast_name()
        )

    @_lazy
    def org_sender(self) -> bool:
        """The sender is the organisation itself (:func:`.shapes.is_org_sender`)."""
        return is_org_sender(self.words, self.domain, self.name)

    def broadcast_name(self) -> bool:
        """The display name says newsletter / news / digest … (a whole word)."""
        return is_broadcast_name(self.name)

    def broadcaster(self) -> bool:
        """Any sign in the address that the sender mails many people at once."""
        return (
            self.strong_broadcaster
            or not BROADCAST_WORDS.isdisjoint(self.words)
            or not BULK_DOMAIN_LABELS.isdisjoint(subdomain_labels(self.domain))
        )

    def non_person_sender(self) -> bool:
        """The From address is no person's mailbox: no-reply, generated, notifier or role words
        (``billing@``, ``info@``), broadcast words only, or the organisation's own name
        (``fool@motleyfool.com``)."""
        return bool(self.local) and (
            self.notifier or is_role(self.local) or self.strong_broadcaster or self.org_sender
        )

    # -- recipients

    @_lazy
    def mass_addressed(self) -> bool:
        """Nobody visible is addressed (all blind-copied), only the sender is, or a mailing-list
        or company-wide distribution address is (``all.employees@``, ``dl-all-staff@``)."""
        recipients = self.recipients
        if not recipients or recipients == [self.email]:
            return True
        return any(looks_like_list_address(r) or DISTRIBUTION_LOCAL.match(r) for r in recipients)

    def blind_copy_blast(self) -> bool:
        """Sent to the sender's own address only: everyone else was blind-copied."""
        return bool(self.email) and self.recipients == [self.email]

    def list_traffic_signs(self) -> bool:
        """Weak group signs: a ``[list]`` subject tag, or a list-shaped recipient."""
        if "[" in self.subject:
            match = LIST_TAG.match(self.bare_subject) or LIST_TAG.match(self.subject)
            if match and match.group(1).strip().lower() not in LIST_TAG_STOP and "#" not in match.group(1):
                return True
        return any(looks_like_list_address(r) for r in self.recipients)

    # -- machine-made and bulk mail

    def delivery_report(self) -> bool:
        """A delivery-status or disposition report (DSN, MDN, ARF), or an MTA's bounce."""
        content_type = self.h.get("content-type")
        if content_type and REPORT_TYPE.search(content_type.lower()):
            return True
        return (self.local in ("mailer-daemon", "postmaster") or bool(self.name and MTA_NAME.match(self.name))) and bool(
            DELIVERY_SUBJECT.search(self.lower_subject)
        )

    def machine_made(self) -> bool:
        """Bounces, receipts, auto-replies and notification systems."""
        if self.flags & (AUTOMATION_HEADER | NOTIFIER_HEADER):
            return True
        if self.delivery_report():
            return True
        h = self.h
        auto_submitted = h.get("auto-submitted")
        if auto_submitted and not auto_submitted.strip().lower().startswith("no"):
            return True
        record = self.record
        if is_notifier_id(record.message_id or ""):
            return True
        for reference in record.references[:3]:
            if is_notifier_id(reference):
                return True
        subject, name, local = self.subject, self.name, self.local
        precedence = h.get("precedence")
        return (
            bool(subject and AUTO_REPLY_SUBJECT.match(subject))
            or ("return-path" in h and self.null_return_path())
            or bool(precedence and precedence.strip().lower() in PRECEDENCE_AUTOMATIC)
            or bool(name and MTA_NAME.match(name))
            or (
                local in ("mailer-daemon", "postmaster")
                and bool(DELIVERY_SUBJECT.search(self.lower_subject) or TRANSACTIONAL_SUBJECT.search(self.lower_subject))
            )
            or (bool(name and ADMIN_NAME.match(name)) and bool(DELIVERY_SUBJECT.search(self.lower_subject)))
            or (("bot" in local or "daemon" in local or "auto" in local or "notifier" in local)
                and not MACHINE_WORDS.isdisjoint(word_tokens(local)))
        )

    def null_return_path(self) -> bool:
        """``Return-Path: <>``: the null reverse-path that RFC 5321 and RFC 3834 reserve for
        delivery reports and automatic replies (no one can bounce or answer them)."""
        return self.header("return-path").replace(" ", "") == "<>"

    @_lazy
    def sent_in_bulk(self) -> bool:
        """Header signs of one-to-many or program-sent mail, none of which decides alone:
        a sender that is not a person's mailbox (:meth:`non_person_sender`), mass
        addressing (:attr:`mass_addressed`), a bounce-collecting envelope sender
        (VERP, bounce words or sub-domain, not the From address), an X-Mailer /
        User-Agent of a mailing library or script, an HTML-only message."""
        h = self.h
        content_type = h.get("content-type")
        if content_type and content_type.lstrip()[:9].lower() == "text/html":
            return True
        if self.mass_addressed:
            return True
        x_mailer = h.get("x-mailer") or h.get("user-agent")
        if x_mailer and PROGRAM_MAILER.search(x_mailer.lower()):
            return True
        envelope = first_address(h.get("return-path"))
        if envelope and envelope != self.email and is_bounce_address(envelope):
            return True
        return self.non_person_sender()
