"""Pure batch functions of the stages, and an in-memory miner built from them.

Every deployment mode calls these same functions; only the I/O around them
(:mod:`leadminer.stages` over the storage interfaces) differs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Protocol
from datetime import datetime

from .clean import AddressCleaner
from .contracts import (
    SIGNATURE_FIELDS,
    CleanedAddress,
    FailedMessage,
    Field,
    MessageRecord,
    PointOfContact,
    RawMessage,
    RefinedPerson,
    Signature,
    canonical_key,
)
from .extract import ExtractError, extract_message
from .refine import index_messages, refine_persons
from .scoring import reference_date
from .signature import LlmError, extract_signature
from .tagging import AUTOMATED_KINDS, list_addresses, tags_and_list_addresses

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


def recent_by_sender(
    records: Iterable[MessageRecord], per_sender: int = SIGNATURE_MESSAGES_PER_SENDER
) -> dict[str, list[MessageRecord]]:
    """Each sender's newest personal messages that have a body (newest first), by
    canonical key. Newsletters, notifications and other automated mail are left
    out: their footers are a company's boilerplate, not a person's signature."""
    recent: dict[str, list[MessageRecord]] = {}
    for record in records:
        sender = record.sender
        if sender is None or not record.body or _AUTOMATED.intersection(record.tags):
            continue
        kept = recent.setdefault(sender.key, [])
        kept.append(record)
        kept.sort(key=lambda r: (r.date or "", r.message_id), reverse=True)
        del kept[per_sender:]
    return recent


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


def signature_batch(
    recent: Iterable[list[MessageRecord]], extractor: SignatureExtractor | None = None
) -> list[Signature]:
    """One merged signature per sender from their newest messages; a block is
    kept only when it is attributed to that message's sender. When an optional
    extractor (an LLM) fails on a message, the rule-based one answers instead."""
    out = []
    for records in recent:
        found = []
        for record in records:
            sender = record.sender
            fields = dict(sender_email=sender.email, sender_name=sender.name, message_id=record.message_id)
            try:
                signature = (extractor or extract_signature)(record.body, **fields)
            except LlmError:
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


def infer_aliases(records: Iterable[MessageRecord]) -> set[str]:
    """The user's own addresses revealed by Delivered-To / X-Original-To.

    Only the topmost one of each message counts: every delivery hop adds one,
    so lower ones name list or forwarding addresses the message passed
    through, and the top one the mailbox it was finally delivered to. A list
    address is never an alias, and an address must be the final delivery of at
    least ``ALIAS_SHARE`` of the messages and of ``ALIAS_MIN_MESSAGES``.
    """
    counts: Counter[str] = Counter()
    lists: set[str] = set()
    total = 0
    for record in records:
        total += 1
        lists.update(p.email for p in record.points if p.field is Field.LIST_POST)
        if record.delivered_to:
            counts[record.delivered_to[0]] += 1
    return {
        a for a, n in counts.items() if a not in lists and n >= max(ALIAS_MIN_MESSAGES, ALIAS_SHARE * total)
    }


def identity_keys(identities: Iterable[str]) -> set[str]:
    return {canonical_key(i.strip().lower()) for i in identities if i and "@" in i}


def mine_in_memory(
    raws: Iterable[RawMessage],
    identities: Iterable[str] = (),
    *,
    user_id: str = "local",
    cleaner: AddressCleaner | None = None,
    as_of: datetime | None = None,
) -> list[RefinedPerson]:
    """Run every stage over messages held in memory (no storage). Used under
    Pyodide to prove the core and by tests as the reference result."""
    records, _failures = extract_batch(raws)
    seen: set[str] = set()
    records = [r for r in records if not (r.message_id in seen or seen.add(r.message_id))]
    keys = identity_keys(identities) | identity_keys(infer_aliases(records))
    cleaner = cleaner or AddressCleaner(keys)
    emails = sorted({p.email for r in records for p in r.points})
    cleaned = {c.email: c for c in clean_batch(emails, cleaner)}
    signatures = {s.email: s for s in signature_batch(recent_by_sender(records).values())}
    indexed, occurrences = index_messages(records, keys, {})
    by_id = {m.message_id: m for m in indexed}
    sizes = Counter(m.thread_id for m in indexed)
    if as_of is None and (reference := reference_date(indexed)):
        as_of = datetime.fromisoformat(reference)
    return refine_persons(
        user_id,
        {o.key for o in occurrences},
        messages=indexed,
        occurrences=occurrences,
        parents=by_id,
        thread_sizes=sizes,
        identity_keys=keys,
        cleaned=cleaned,
        signatures=signatures,
        previous={},
        as_of=as_of,
    )
