"""Stage handlers over the storage ports: the work of one stage of one mining.

A handler never knows the deployment mode; it receives a :class:`MiningContext`
holding the mining's identity and the ports, and awaits them. The mining flow
(:mod:`leadminer.flow`) calls these for every mode: embedded, self-host,
Cloudflare Workers, the in-memory reference.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from .clean import AddressCleaner
from .contracts import CleanedAddress, MessageRecord, RawMessage, RefinedPerson, Signature
from .mx import MxChecker
from .parallel import CpuPool, InProcess, split
from .pipeline import (
    DEFAULT_BODY_CAP,
    AliasCounter,
    RecentBySender,
    SignatureExtractor,
    clean_batch,
    extract_batch,
    identity_keys,
    signature_batch,
)
from .refine import HistoryFold, index_messages
from .scoring import person_temperature
from .storage import MainStore, TempStore

_REFINE_CHUNK = 1_000
_PERSONS_CHUNK = 2_000  # persons refined from one reading of their history, at the most
_HISTORY_BUDGET = 50_000  # occurrences (this mining's) of the persons of one chunk, at the most
_HISTORY_PAGE = 10_000  # messages of a chunk's history folded at a time (each page reads the key index again)
_CLEAN_CHUNK = 1_000
_SIGNATURE_ROUND = 1_000  # senders (at least) per round of the signature stage
_PARALLEL_MIN = 16  # messages (or senders) below which splitting the work across cores costs more than it saves


@dataclass(slots=True)
class MiningContext:
    mining_id: str
    user_id: str
    temp: TempStore
    main: MainStore
    identities: list[str] = field(default_factory=list)
    body_cap: int = DEFAULT_BODY_CAP
    identity_cache: set[str] | None = None  # filled by mining_identity_keys once extract is done
    cpu: CpuPool = field(default_factory=InProcess)  # runs the CPU-bound work of extract and signatures
    on_progress: StageProgress | None = None  # told how far a later stage is, as it goes

    def progress(self, stage: str, phase: str, done: int, total: int | None) -> None:
        if self.on_progress is not None:
            self.on_progress(stage, phase, done, total)


StageProgress = Callable[[str, str, int, "int | None"], None]
"""``(stage, phase, done, total)``: how far a stage is (``total`` None: not known yet); a
stage may go through several phases (refine: ``index`` messages, then ``persons``, then
``save``), each counted from 0."""


@dataclass(slots=True)
class ExtractResult:
    extracted: int  # new messages stored for this mining
    already_mined: int  # skipped: indexed by an earlier mining of this user
    duplicates: int  # skipped: same Message-ID already extracted in this mining
    failed: int
    contacts: int  # points of contact in the new messages

    @property
    def records(self) -> int:
        """Messages parsed: new, already mined or duplicate."""
        return self.extracted + self.already_mined + self.duplicates


async def batched(items: AsyncIterable, size: int) -> AsyncIterator[list]:
    """``items`` in lists of ``size`` (the last one shorter)."""
    chunk: list = []
    async for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def handle_extract(ctx: MiningContext, raws: list[RawMessage]) -> ExtractResult:
    parts = await ctx.cpu.map(partial(extract_batch, body_cap=ctx.body_cap), split(raws, ctx.cpu.ways, _PARALLEL_MIN))
    records = [record for part_records, _ in parts for record in part_records]
    failures = [failure for _, part_failures in parts for failure in part_failures]
    known = await ctx.main.known_message_ids(ctx.user_id, [r.message_id for r in records])
    fresh = [r for r in records if r.message_id not in known]
    added = await ctx.temp.add_messages(ctx.mining_id, fresh)
    await ctx.temp.add_failures(ctx.mining_id, failures)
    return ExtractResult(
        extracted=added,
        already_mined=len(records) - len(fresh),
        duplicates=len(fresh) - added,
        failed=len(failures),
        contacts=sum(len(r.points) for r in fresh),
    )


async def mining_identity_keys(ctx: MiningContext) -> set[str]:
    """The user's addresses: given for this mining, remembered from earlier
    minings, and aliases revealed by Delivered-To (known once extract is done)."""
    if ctx.identity_cache is None:
        aliases = AliasCounter()
        async for record in ctx.temp.iter_messages(ctx.mining_id, with_body=False):
            aliases.add(record)
        ctx.identity_cache = (
            identity_keys(ctx.identities) | await ctx.main.identities(ctx.user_id) | identity_keys(aliases.aliases())
        )
    return ctx.identity_cache


async def contact_tag_counts(ctx: MiningContext) -> dict[str, int]:
    """How many of the user's contacts (their own addresses left out) carry each tag, most
    common first: the tag line of a mining's summary."""
    keys = await mining_identity_keys(ctx)
    tags: Counter[str] = Counter()
    for person in await ctx.main.persons(ctx.user_id):
        if person.email not in keys:
            tags.update(person.tags)
    return dict(tags.most_common())


async def handle_clean(ctx: MiningContext, mx: MxChecker | None = None) -> int:
    """Clean every distinct address of the mining once (offline unless ``mx`` checks DNS)."""
    ctx.progress("clean", "addresses", 0, None)
    cleaner = AddressCleaner(await mining_identity_keys(ctx), mx=mx)
    emails = await ctx.temp.distinct_emails(ctx.mining_id)
    for start in range(0, len(emails), _CLEAN_CHUNK):
        ctx.progress("clean", "addresses", start, len(emails))
        await ctx.temp.save_cleaned(ctx.mining_id, clean_batch(emails[start : start + _CLEAN_CHUNK], cleaner))
    ctx.progress("clean", "addresses", len(emails), len(emails))
    return len(emails)


async def handle_signatures(ctx: MiningContext, extractor: SignatureExtractor | None = None) -> int:
    """Signatures of every sender's newest personal messages (rule-based unless ``extractor`` is given)."""
    recent = RecentBySender()
    read = 0
    async for record in ctx.temp.iter_messages(ctx.mining_id):
        recent.add(record)
        read += 1
        if read % _SIGNATURE_ROUND == 0:
            ctx.progress("signature", "messages", read, None)
    senders = list(recent.recent.values())
    if extractor is None:  # the rules: pure, so the senders can be split across cores
        signatures = []
        step = max(_SIGNATURE_ROUND, ctx.cpu.ways * _PARALLEL_MIN)
        for start in range(0, len(senders), step):  # in rounds, to show progress
            ctx.progress("signature", "senders", start, len(senders))
            parts = await ctx.cpu.map(signature_batch, split(senders[start : start + step], ctx.cpu.ways, _PARALLEL_MIN))
            signatures.extend(signature for part in parts for signature in part)
    else:  # an LLM: network calls, and one count of failures in a row for the whole batch
        ctx.progress("signature", "senders", 0, len(senders))
        signatures = signature_batch(senders, extractor)
    ctx.progress("signature", "senders", len(senders), len(senders))
    await ctx.temp.save_signatures(ctx.mining_id, signatures)
    return len(signatures)


def _ancestor_ids(records: list[MessageRecord]) -> set[str]:
    ids: set[str] = set()
    for r in records:
        ids.update(r.references)
        if r.in_reply_to:
            ids.add(r.in_reply_to)
    return ids


async def handle_refine(ctx: MiningContext) -> int:
    """Index the mining's messages permanently, then recompute every touched person, a chunk of
    persons at a time (each from its whole history: the result does not depend on the chunks)."""
    keys = await mining_identity_keys(ctx)
    main = ctx.main
    touched: Counter[str] = Counter()  # occurrences of each address in this mining
    done = 0
    ctx.progress("refine", "index", 0, None)
    async for chunk in batched(ctx.temp.iter_messages(ctx.mining_id, with_body=False), _REFINE_CHUNK):
        known = await main.lookup_threads(ctx.user_id, _ancestor_ids(chunk))
        indexed, occurrences = index_messages(chunk, keys, known)
        await main.index_messages(ctx.user_id, ctx.mining_id, indexed, occurrences)
        touched.update(o.key for o in occurrences)
        done += len(chunk)
        ctx.progress("refine", "index", done, None)
    reference = await main.reference_date(ctx.user_id)
    as_of = datetime.fromisoformat(reference) if reference else None
    cleaned = await ctx.temp.cleaned(ctx.mining_id)
    signatures = await ctx.temp.signatures(ctx.mining_id)
    todo = {key: n for key, n in touched.items() if key not in keys}  # the user's own addresses are no persons
    refined = started = 0
    for chunk in _history_chunks(todo):  # each history read once, a page at a time
        ctx.progress("refine", "persons", started, len(todo))
        started += len(chunk)
        persons = await _refine_chunk(ctx, chunk, keys, cleaned, signatures, as_of)
        await main.upsert_persons(persons)
        refined += len(persons)
    ctx.progress("refine", "persons", len(todo), len(todo))
    ctx.progress("refine", "save", 0, None)
    await main.add_identities(ctx.user_id, keys)
    await rescore(ctx, as_of)
    return refined


async def _refine_chunk(
    ctx: MiningContext,
    chunk: list[str],
    keys: set[str],
    cleaned: dict[str, CleanedAddress],
    signatures: dict[str, Signature],
    as_of: datetime | None,
) -> list[RefinedPerson]:
    """The persons ``chunk`` from their history folded a page of messages at a time: memory
    follows the page, not the history (a list address on a third of the mailbox included)."""
    main = ctx.main
    fold = HistoryFold(chunk, keys, signatures)
    after: str | None = None
    while True:
        # only the occurrences the fold reads: the chunk's persons' and the user's own
        messages, occurrences = await main.history_page(
            ctx.user_id, chunk, after=after, limit=_HISTORY_PAGE, occurrences_of=keys.union(chunk)
        )
        fold.add(
            messages,
            occurrences,
            parents=await main.lookup_threads(ctx.user_id, {m.in_reply_to for m in messages if m.in_reply_to}),
            thread_sizes=await main.thread_sizes(ctx.user_id, {m.thread_id for m in messages}),
        )
        if len(messages) < _HISTORY_PAGE:
            break
        after = messages[-1].message_id
        del messages, occurrences
    previous = await main.persons_by_email(ctx.user_id, chunk)
    return fold.persons(ctx.user_id, cleaned=cleaned, previous=previous, as_of=as_of)


def _history_chunks(weights: dict[str, int]) -> list[list[str]]:
    """Persons in chunks whose histories are about the same size: the busiest first (a mailing
    list's address, on most messages, takes a chunk of its own instead of making every chunk
    read most of the mailbox), then the others together up to the budget. A person is refined
    from its whole history whatever its chunk, so the chunks change no result."""
    chunks: list[list[str]] = []
    chunk: list[str] = []
    load = 0
    for key in sorted(weights, key=lambda k: (-weights[k], k)):
        if chunk and (load + weights[key] > _HISTORY_BUDGET or len(chunk) >= _PERSONS_CHUNK):
            chunks.append(chunk)
            chunk, load = [], 0
        chunk.append(key)
        load += weights[key]
    if chunk:
        chunks.append(chunk)
    return chunks


async def rescore(ctx: MiningContext, as_of: datetime | None) -> int:
    """Recency is relative to the newest mail: new mail cools everyone else down a little."""
    changed = {
        p.email: t
        for p in await ctx.main.persons(ctx.user_id)
        if (t := person_temperature(p, as_of)) != p.temperature
    }
    await ctx.main.update_temperatures(ctx.user_id, changed)
    return len(changed)
