"""Pure batch functions of the stages.

Every deployment mode calls these same functions; only the I/O around them
(:mod:`leadminer.stages` over the storage ports, driven by :mod:`leadminer.flow`) differs.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from typing import Protocol

from .clean import AddressCleaner
from .contracts import (
    SIGNATURE_FIELDS,
    CleanedAddress,
    FailedMessage,
    Field,
    MessageRecord,
    PointOfContact,
    RawMessage,
    Signature,
    canonical_key,
)
from .extract import ExtractError, extract_message
from .signature import LlmError, extract_signature
from .tagging import AUTOMATED_KINDS, list_addresses, tags_and_list_addresses

log = logging.getLogger(__name__)

DEFAULT_BODY_CAP = 16_384
ALIAS_SHARE = 0.05  # a Delivered-To address on ≥5 % of messages …
ALIAS_MIN_MESSAGES = 3  # … and on at least 3 of them is one of the user's own


def list_points(record: MessageRecord, addresses: list[str] | None = None) -> list[PointOfContact]:
    """``list_post`` points for list addresses that headers other than List-Post
    name (List-Id + a matching recipient, X-BeenThere, X-Mailing-List, list-admin
    senders), so that refine tags those addresses as groups. ``addresses``: the
    message's :func:`~leadminer.tagging.list_addresses` when already known."""
    if addresses is None:
        addresses = list_addresses(record)
    if not addresses:
        return []
    known = {p.email for p in record.points if p.field is Field.LIST_POST}
    return [PointOfContact(record.message_id, Field.LIST_POST, a, None) for a in addresses if a not in known]


def extract_batch(
    raws: Iterable[RawMessage], *, body_cap: int = DEFAULT_BODY_CAP
) -> tuple[list[MessageRecord], list[FailedMessage]]:
    """Extract and tag messages. Nothing is lost: a message is mined or failed with a reason."""
    records: list[MessageRecord] = []
    failures: list[FailedMessage] = []
    for raw in raws:
        try:
            record = extract_message(raw, body_cap=body_cap)
            record.tags, addresses = tags_and_list_addresses(record)  # one reading of the message for both
            record.points.extend(list_points(record, addresses))
        except ExtractError as exc:
            failures.append(FailedMessage(raw.mining_id, raw.folder, raw.uid, str(exc)))
        except Exception as exc:  # a parser bug must not stop the mining; record it
            failures.append(
                FailedMessage(raw.mining_id, raw.folder, raw.uid, f"internal error {type(exc).__name__}: {exc}")
            )
        else:
            records.append(record)
    return records, failures


def clean_batch(emails: Iterable[str], cleaner: AddressCleaner) -> list[CleanedAddress]:
    return [cleaner.clean(email) for email in emails]


SIGNATURE_MESSAGES_PER_SENDER = 3  # newest messages with a body tried per sender
_AUTOMATED = frozenset(AUTOMATED_KINDS)


class RecentBySender:
    """Each sender's newest personal messages that have a body (newest first), by
    canonical key, fed one message at a time (memory: ``per_sender`` messages per
    sender). Newsletters, notifications and other automated mail are left out:
    their footers are a company's boilerplate, not a person's signature."""

    def __init__(self, per_sender: int = SIGNATURE_MESSAGES_PER_SENDER):
        self.per_sender = per_sender
        self.recent: dict[str, list[MessageRecord]] = {}

    def add(self, record: MessageRecord) -> None:
        sender = record.sender
        if sender is None or not record.body or _AUTOMATED.intersection(record.tags):
            return
        kept = self.recent.setdefault(sender.key, [])
        kept.append(record)
        kept.sort(key=lambda r: (r.date or "", r.message_id), reverse=True)
        del kept[self.per_sender :]


def recent_by_sender(
    records: Iterable[MessageRecord], per_sender: int = SIGNATURE_MESSAGES_PER_SENDER
) -> dict[str, list[MessageRecord]]:
    """:class:`RecentBySender` over ``records``."""
    recent = RecentBySender(per_sender)
    for record in records:
        recent.add(record)
    return recent.recent


_MERGED_FIELDS = ("name", *SIGNATURE_FIELDS, "emails")


def merge_signatures(newest_first: list[Signature]) -> Signature:
    """One signature per sender: field by field, the newest message that has the field wins."""
    merged = Signature(newest_first[0].email, newest_first[0].message_id, lines=newest_first[0].lines)
    for name in _MERGED_FIELDS:
        for signature in newest_first:
            value = getattr(signature, name)
            if value:
                setattr(merged, name, value)
                break
    return merged


class SignatureExtractor(Protocol):
    """The signature extractor interface: :func:`leadminer.signature.extract_signature`
    (the default, no network) or ``LlmSignatureExtractor(...).extract``."""

    def __call__(
        self, body: str, *, sender_email: str, sender_name: str | None = None, message_id: str = ""
    ) -> Signature | None: ...


LLM_GIVE_UP_AFTER = 3
"""Consecutive failed calls after which a batch stops asking the optional extractor (an LLM
endpoint that is down would otherwise cost its timeout on every message)."""


def signature_batch(
    recent: Iterable[list[MessageRecord]], extractor: SignatureExtractor | None = None
) -> list[Signature]:
    """One merged signature per sender from their newest messages; a block is
    kept only when it is attributed to that message's sender. When an optional
    extractor (an LLM) fails on a message, the rule-based one answers instead; the
    first failure is logged once (a warning), and after ``LLM_GIVE_UP_AFTER`` failures in a
    row the rules answer for the rest of the batch."""
    out = []
    failures_in_a_row = 0
    warned = False
    for records in recent:
        found = []
        for record in records:
            sender = record.sender
            fields = dict(sender_email=sender.email, sender_name=sender.name, message_id=record.message_id)
            use = extractor if extractor is not None and failures_in_a_row < LLM_GIVE_UP_AFTER else extract_signature
            try:
                signature = use(record.body, **fields)
                if use is extractor:
                    failures_in_a_row = 0
            except LlmError as exc:
                failures_in_a_row += 1
                if not warned:
                    warned = True
                    log.warning("signature extractor failed (%s); the rules answer for that message", exc)
                if failures_in_a_row == LLM_GIVE_UP_AFTER:
                    log.warning("signature extractor failed %d times in a row: the rules answer for the rest of this mining", LLM_GIVE_UP_AFTER)
                signature = extract_signature(record.body, **fields)
            if signature is not None:
                found.append(signature)
        if found:
            out.append(merge_signatures(found))
    return out


SIGNATURE_EXPORT_FIELDS = ("name", *SIGNATURE_FIELDS)


def signature_of_message(data: bytes, *, body_cap: int = DEFAULT_BODY_CAP) -> dict:
    """Signature fields of one raw message's sender, keyed like the exports.

    Always has ``email`` and ``message_id``; a field is present only when found.
    Raises :class:`ExtractError` when the message has no usable header block.
    """
    record = extract_message(RawMessage("signature", "", "", data), body_cap=body_cap)
    sender = record.sender
    out: dict = {"email": sender.email if sender else None, "message_id": record.message_id}
    if sender is None or not record.body:
        return out
    signature = extract_signature(record.body, sender_email=sender.email, sender_name=sender.name, message_id=record.message_id)
    if signature is not None:
        out.update({k: v for k in SIGNATURE_EXPORT_FIELDS if (v := getattr(signature, k))})
        if signature.emails:
            out["emails"] = signature.emails
    return out


class AliasCounter:
    """The user's own addresses revealed by Delivered-To / X-Original-To, fed one
    message at a time.

    Only the topmost one of each message counts: every delivery hop adds one,
    so lower ones name list or forwarding addresses the message passed
    through, and the top one the mailbox it was finally delivered to. A list
    address is never an alias, and an address must be the final delivery of at
    least ``ALIAS_SHARE`` of the messages and of ``ALIAS_MIN_MESSAGES``.
    """

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.lists: set[str] = set()
        self.total = 0

    def add(self, record: MessageRecord) -> None:
        self.total += 1
        self.lists.update(p.email for p in record.points if p.field is Field.LIST_POST)
        if record.delivered_to:
            self.counts[record.delivered_to[0]] += 1

    def aliases(self) -> set[str]:
        threshold = max(ALIAS_MIN_MESSAGES, ALIAS_SHARE * self.total)
        return {a for a, n in self.counts.items() if a not in self.lists and n >= threshold}


def infer_aliases(records: Iterable[MessageRecord]) -> set[str]:
    """:class:`AliasCounter` over ``records``."""
    counter = AliasCounter()
    for record in records:
        counter.add(record)
    return counter.aliases()


def identity_keys(identities: Iterable[str]) -> set[str]:
    return {canonical_key(i.strip().lower()) for i in identities if i and "@" in i}
