"""Typed records that flow between the stages: fetch → extract → clean → signature → refine.

Hot-path records are slotted dataclasses (cheap to build by the thousand); they
serialise to plain dicts with :func:`to_dict` / ``from_dict`` for queues and
storage. Nothing here does I/O.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Field(StrEnum):
    """Where an address was seen in a message."""

    FROM = "from"
    SENDER = "sender"
    REPLY_TO = "reply_to"
    TO = "to"
    CC = "cc"
    BCC = "bcc"
    LIST_POST = "list_post"
    RESENT_FROM = "resent_from"
    RESENT_TO = "resent_to"
    RESENT_CC = "resent_cc"


RECIPIENT_FIELDS = frozenset({Field.TO, Field.CC, Field.BCC, Field.RESENT_TO, Field.RESENT_CC})
SENDER_FIELDS = frozenset({Field.FROM, Field.SENDER, Field.RESENT_FROM})


class Status(StrEnum):
    """Deliverability verdict of an address. UNKNOWN is the honest answer when
    nothing was (or could be) checked beyond syntax; never VALID on a timeout."""

    VALID = "valid"
    INVALID = "invalid"
    UNKNOWN = "unknown"


class Tag(StrEnum):
    """Message tags (from headers) and person tags (from all their messages + address)."""

    NEWSLETTER = "newsletter"
    TRANSACTIONAL = "transactional"
    GROUP = "group"  # mailing list / group address
    SOCIAL = "social"  # LinkedIn / Facebook … notifications
    NO_REPLY = "no-reply"
    DISPOSABLE = "disposable"
    ROLE = "role"  # info@, sales@ …
    PERSONAL = "personal"  # free-mail provider domain
    PROFESSIONAL = "professional"  # company domain
    USER = "user"  # one of the mailbox owner's own identities


def _by_fields(self) -> tuple:
    """``__reduce__`` of a slots dataclass: its class and its fields in order. Records and raw
    messages cross to the embedded mode's worker processes by the thousand; pickle's default
    for a slots dataclass (a state dict per object) costs twice as much."""
    return type(self), tuple(getattr(self, name) for name in self.__slots__)


@dataclass(slots=True)
class RawMessage:
    """fetch → extract: one message as bytes (all headers + a capped body)."""

    mining_id: str
    folder: str  # IMAP folder, mbox path, Maildir sub-folder …
    uid: str  # stable id inside the source (IMAP UID, file name, mbox index)
    data: bytes
    flags: tuple[str, ...] = ()  # IMAP / Maildir flags (\\Seen, S …)

    __reduce__ = _by_fields


@dataclass(slots=True)
class Address:
    """One parsed mailbox."""

    email: str  # normalised: lowercase, IDN domain as Unicode (U-label)
    name: str | None = None  # cleaned display name
    original: str = ""  # address exactly as written (local part case kept)

    @property
    def key(self) -> str:
        """Canonical person key: ``email`` with a ``+tag`` removed from the local part."""
        return canonical_key(self.email)


def canonical_key(email: str) -> str:
    local, sep, domain = email.rpartition("@")
    if not sep:
        return email
    base, plus, _tag = local.partition("+")
    return f"{base}@{domain}" if plus and base else email


@dataclass(slots=True)
class PointOfContact:
    """An address seen in one field of one message."""

    message_id: str
    field: Field
    email: str
    name: str | None = None

    @property
    def key(self) -> str:
        return canonical_key(self.email)

    def __reduce__(self) -> tuple:
        """As :func:`_by_fields`, the field by its value (cheaper to load than an enum member)."""
        return _point_of_contact, (self.message_id, self.field.value, self.email, self.name)


_FIELDS = {f.value: f for f in Field}


def _point_of_contact(message_id: str, field: str, email: str, name: str | None) -> PointOfContact:
    return PointOfContact(message_id, _FIELDS[field], email, name)


@dataclass(slots=True)
class MessageRecord:
    """extract → clean/signature/refine: what one message tells about people.

    ``headers`` keeps the (lower-cased) headers that tagging needs: List-*,
    Precedence, Auto-Submitted, ESP fingerprints (X-Mailgun-*, Feedback-ID, …).
    ``body`` is the first text/plain part (or text from HTML), capped, for the
    signature stage; None when the source did not give a body.
    """

    mining_id: str
    message_id: str  # without <>; synthesised ("sha1:…") when missing
    folder: str
    uid: str
    date: str | None  # ISO 8601 UTC, None when absent or unparseable
    subject: str | None
    in_reply_to: str | None
    references: list[str]
    points: list[PointOfContact]
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    delivered_to: list[str] = field(default_factory=list)  # user's own aliases
    tags: list[str] = field(default_factory=list)  # message tags (set by tagging)
    defects: list[str] = field(default_factory=list)  # tolerated problems

    __reduce__ = _by_fields

    @property
    def sender(self) -> PointOfContact | None:
        for p in self.points:
            if p.field is Field.FROM:
                return p
        return None


SKIPPED_PREFIX = "skipped: "
"""Reason prefix of a :class:`FailedMessage` that records a file passed over on purpose."""


@dataclass(slots=True)
class FailedMessage:
    """A message that could not be mined, or a file that was passed over (not mail), with a
    reason a user can read."""

    mining_id: str
    folder: str
    uid: str
    reason: str

    @property
    def skipped(self) -> bool:
        """A file passed over on purpose (not mail, an index or hidden file), not a failure."""
        return self.reason.startswith(SKIPPED_PREFIX)


@dataclass(slots=True)
class CleanedAddress:
    """clean → refine: verdict on one address."""

    email: str
    status: Status
    tags: list[str] = field(default_factory=list)
    reason: str | None = None  # why INVALID / UNKNOWN


@dataclass(slots=True)
class Signature:
    """signature → refine: what a sender's own signature block says."""

    email: str  # the sender it was attributed to
    message_id: str
    name: str | None = None
    job_title: str | None = None
    organization: str | None = None
    telephone: list[str] = field(default_factory=list)  # E.164
    fax: list[str] = field(default_factory=list)  # E.164
    address: str | None = None
    url: str | None = None  # website
    same_as: list[str] = field(default_factory=list)  # social profile URLs
    emails: list[str] = field(default_factory=list)  # other addresses in the block
    lines: tuple[int, int] | None = None  # [start, end) line span in the cleaned body

    @classmethod
    def from_json(cls, fields: dict) -> Signature:
        """A signature from its JSON form (``dataclasses.asdict`` stored as JSON: the line span
        comes back as a list)."""
        if fields.get("lines") is not None:
            fields = {**fields, "lines": tuple(fields["lines"])}
        return cls(**fields)


@dataclass(slots=True)
class RefinedPerson:
    """One row per person and user: the product's output."""

    user_id: str
    email: str
    name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    alternate_names: list[str] = field(default_factory=list)
    alternate_emails: list[str] = field(default_factory=list)
    occurrence: int = 0
    sender: int = 0  # messages they sent
    recipient: int = 0  # messages the user sent to them
    conversations: int = 0  # threads they took part in
    replied_conversations: int = 0  # threads with a reply between them and the user
    first_seen: str | None = None
    last_seen: str | None = None
    tags: list[str] = field(default_factory=list)
    status: str = Status.UNKNOWN.value
    temperature: int = 0
    # what the temperature is computed from (docs/scoring.md); kept so that a
    # later mining can rescore persons it did not touch without their history
    direct_messages: int = 0
    direct_first: str | None = None
    direct_last: str | None = None
    signature_date: str | None = None  # date of the message the signature fields come from
    job_title: str | None = None
    organization: str | None = None
    telephone: list[str] = field(default_factory=list)
    fax: list[str] = field(default_factory=list)
    address: str | None = None
    url: str | None = None
    same_as: list[str] = field(default_factory=list)


# Person fields that come from a signature block (same names on Signature and RefinedPerson).
SIGNATURE_FIELDS = ("job_title", "organization", "telephone", "fax", "address", "url", "same_as")


def to_dict(record: Any) -> dict[str, Any]:
    """Plain JSON-able dict of a contract record (enums become their values)."""
    out = {}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        if isinstance(value, list) and value and dataclasses.is_dataclass(value[0]):
            value = [to_dict(v) for v in value]
        elif isinstance(value, StrEnum):
            value = value.value
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def message_from_dict(data: dict[str, Any]) -> MessageRecord:
    data = dict(data)
    data["points"] = [
        PointOfContact(p["message_id"], Field(p["field"]), p["email"], p.get("name")) for p in data["points"]
    ]
    return MessageRecord(**data)
