"""Stage handlers over the storage interfaces: what each queue consumer runs.

A handler never knows the deployment mode; it receives a :class:`MiningContext`
holding the mining's identity and the adapters. The embedded runner, the Redis
runner and the Cloudflare Workers all call these.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice

from .clean import AddressCleaner
from .mx import MxChecker
from .contracts import MessageRecord, RawMessage
from .pipeline import (
    DEFAULT_BODY_CAP,
    SignatureExtractor,
    clean_batch,
    extract_batch,
    identity_keys,
    infer_aliases,
    recent_by_sender,
    signature_batch,
)
from .refine import index_messages, refine_persons
from .scoring import person_temperature
from .storage import MainStore, TempStore

_REFINE_CHUNK = 1_000


@dataclass(slots=True)
class MiningContext:
    mining_id: str
    user_id: str
    temp: TempStore
    main: MainStore
    identities: list[str] = field(default_factory=list)
    body_cap: int = DEFAULT_BODY_CAP
    identity_cache: set[str] | None = None  # filled by mining_identity_keys once extract is done


@dataclass(slots=True)
class ExtractResult:
    extracted: int  # new messages stored for this mining
    already_mined: int  # skipped: indexed by an earlier mining of this user
    duplicates: int  # skipped: same Message-ID already extracted in this mining
    failed: int
    contacts: int  # points of contact in the new messages


def _batched(items: Iterable, size: int) -> Iterator[list]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def handle_extract(ctx: MiningContext, raws: list[RawMessage]) -> ExtractResult:
    records, failures = extract_batch(raws, body_cap=ctx.body_cap)
    known = ctx.main.known_message_ids(ctx.user_id, [r.message_id for r in records])
    fresh = [r for r in records if r.message_id not in known]
    added = ctx.temp.add_messages(ctx.mining_id, fresh)
    ctx.temp.add_failures(ctx.mining_id, failures)
    return ExtractResult(
        extracted=added,
        already_mined=len(records) - len(fresh),
        duplicates=len(fresh) - added,
        failed=len(failures),
        contacts=sum(len(r.points) for r in fresh),
    )


def mining_identity_keys(ctx: MiningContext) -> set[str]:
    """The user's addresses: given for this mining, remembered from earlier
    minings, and aliases revealed by Delivered-To (known once extract is done)."""
    if ctx.identity_cache is None:
        aliases = infer_aliases(ctx.temp.iter_messages(ctx.mining_id, with_body=False))
        ctx.identity_cache = (
            identity_keys(ctx.identities) | ctx.main.identities(ctx.user_id) | identity_keys(aliases)
        )
    return ctx.identity_cache


def contact_tag_counts(ctx: MiningContext) -> dict[str, int]:
    """How many of the user's contacts (their own addresses left out) carry each tag, most
    common first: the tag line of a mining's summary."""
    keys = mining_identity_keys(ctx)
    tags: Counter[str] = Counter()
    for person in ctx.main.persons(ctx.user_id):
        if person.email not in keys:
            tags.update(person.tags)
    return dict(tags.most_common())


def handle_clean(ctx: MiningContext, mx: MxChecker | None = None) -> int:
    """Clean every distinct address of the mining once (offline unless ``mx`` checks DNS)."""
    cleaner = AddressCleaner(mining_identity_keys(ctx), mx=mx)
    emails = ctx.temp.distinct_emails(ctx.mining_id)
    for chunk in _batched(emails, 1_000):
        ctx.temp.save_cleaned(ctx.mining_id, clean_batch(chunk, cleaner))
    return len(emails)


def handle_signatures(ctx: MiningContext, extractor: SignatureExtractor | None = None) -> int:
    """Signatures of every sender's newest personal messages (rule-based unless ``extractor`` is given)."""
    recent = recent_by_sender(ctx.temp.iter_messages(ctx.mining_id))
    signatures = signature_batch(recent.values(), extractor)
    ctx.temp.save_signatures(ctx.mining_id, signatures)
    return len(signatures)


def _ancestor_ids(records: Iterable[MessageRecord]) -> set[str]:
    ids: set[str] = set()
    for r in records:
        ids.update(r.references)
        if r.in_reply_to:
            ids.add(r.in_reply_to)
    return ids


def handle_refine(ctx: MiningContext) -> int:
    """Index the mining's messages permanently, then recompute every touched person."""
    keys = mining_identity_keys(ctx)
    touched: set[str] = set()
    for chunk in _batched(ctx.temp.iter_messages(ctx.mining_id, with_body=False), _REFINE_CHUNK):
        known = ctx.main.lookup_threads(ctx.user_id, _ancestor_ids(chunk))
        indexed, occurrences = index_messages(chunk, keys, known)
        ctx.main.index_messages(ctx.user_id, ctx.mining_id, indexed, occurrences)
        touched.update(o.key for o in occurrences)
    messages, occurrences = ctx.main.history(ctx.user_id, touched)
    parents = ctx.main.lookup_threads(ctx.user_id, {m.in_reply_to for m in messages if m.in_reply_to})
    sizes = ctx.main.thread_sizes(ctx.user_id, {m.thread_id for m in messages})
    reference = ctx.main.reference_date(ctx.user_id)
    as_of = datetime.fromisoformat(reference) if reference else None
    previous = ctx.main.persons_by_email(ctx.user_id, touched)
    persons = refine_persons(
        ctx.user_id,
        touched,
        messages=messages,
        occurrences=occurrences,
        parents=parents,
        thread_sizes=sizes,
        identity_keys=keys,
        cleaned=ctx.temp.cleaned(ctx.mining_id),
        signatures=ctx.temp.signatures(ctx.mining_id),
        previous=previous,
        as_of=as_of,
    )
    ctx.main.upsert_persons(persons)
    ctx.main.add_identities(ctx.user_id, keys)
    rescore(ctx, as_of)
    return len(persons)


def rescore(ctx: MiningContext, as_of: datetime | None) -> int:
    """Recency is relative to the newest mail: new mail cools everyone else down a little."""
    changed = {
        p.email: t
        for p in ctx.main.persons(ctx.user_id)
        if (t := person_temperature(p, as_of)) != p.temperature
    }
    ctx.main.update_temperatures(ctx.user_id, changed)
    return len(changed)
