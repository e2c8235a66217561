"""Contacts imported from a file (Leadminer's CSV / spreadsheet import), mined without mail.

Leadminer's web app parses the file itself and sends rows ``{email, name?, given_name?,
family_name?, alternate_name?, location?, works_for?, job_title?, same_as?, image?}`` (other
columns are ignored). Such a mining has no message to extract: its rows are kept as one raw
batch (the raw-batch store carries them between processes, as it carries mail), then the
mining's clean stage checks their addresses like mined ones and its refine stage merges them
into the user's contacts. The flow (:meth:`leadminer.flow.MiningFlow.start_import`) runs it;
these are the handlers.

What a row says wins for the fields it gives (names, job title, organisation, location,
profiles): it is what the user told. What mail taught stays: counters, dates, temperature,
tags, and every field the row leaves empty.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace

from .clean import AddressCleaner
from .contracts import RawMessage, RefinedPerson, canonical_key
from .mx import MxChecker
from .pipeline import clean_batch
from .stages import MiningContext, mining_identity_keys
from .tagging.persons import person_tags

IMPORT_PREFIX = "import:"
"""The source label of an imported mining starts with this (then the file's name)."""

IMPORT_FOLDER = "import"


@dataclass(slots=True)
class ImportedContact:
    """One row of an imported file, its values trimmed (None when empty)."""

    email: str
    name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    alternate_names: list[str] = field(default_factory=list)
    location: str | None = None
    works_for: str | None = None
    job_title: str | None = None
    same_as: list[str] = field(default_factory=list)
    image: str | None = None


def is_import(source: str) -> bool:
    """Whether a mining's source label is an import of contacts."""
    return source.startswith(IMPORT_PREFIX)


def merged_rows(contacts: Iterable[ImportedContact]) -> list[ImportedContact]:
    """One row per address (lowercased; the first row's values, then the next rows' for what it lacks)."""
    by_email: dict[str, ImportedContact] = {}
    for contact in contacts:
        email = contact.email.strip().lower()
        if "@" not in email:
            raise ValueError(f"not an email address: {contact.email!r}")
        row = replace(contact, email=email)
        first = by_email.setdefault(email, row)
        if first is not row:
            for name, value in asdict(row).items():
                if value and not getattr(first, name):
                    setattr(first, name, value)
    return list(by_email.values())


def to_raw(mining_id: str, contacts: Iterable[ImportedContact]) -> list[RawMessage]:
    return [
        RawMessage(mining_id, IMPORT_FOLDER, str(n), json.dumps(asdict(c)).encode()) for n, c in enumerate(contacts)
    ]


def from_raw(raws: Iterable[RawMessage]) -> list[ImportedContact]:
    return [ImportedContact(**json.loads(raw.data)) for raw in raws]


async def handle_import_clean(ctx: MiningContext, contacts: list[ImportedContact], mx: MxChecker | None = None) -> int:
    """Check every imported address as the clean stage checks mined ones."""
    cleaner = AddressCleaner(await mining_identity_keys(ctx), mx=mx)
    await ctx.temp.save_cleaned(ctx.mining_id, clean_batch([c.email for c in contacts], cleaner))
    return len(contacts)


async def handle_import_refine(ctx: MiningContext, contacts: list[ImportedContact]) -> int:
    """Merge the rows into the user's contacts (the user's own addresses left out)."""
    keys = await mining_identity_keys(ctx)
    cleaned = await ctx.temp.cleaned(ctx.mining_id)
    rows = {canonical_key(c.email): c for c in contacts if canonical_key(c.email) not in keys}
    previous = await ctx.main.persons_by_email(ctx.user_id, rows)
    persons = []
    for key, row in rows.items():
        verdict = cleaned.get(row.email)
        person = previous.get(key) or RefinedPerson(ctx.user_id, key)
        if verdict is not None:
            person.status = verdict.status.value
            if key not in previous:
                person.tags = person_tags([], verdict.tags, wrote_personally=False, email=key)
        for attribute, value in (("name", row.name), ("given_name", row.given_name), ("family_name", row.family_name),
                                 ("address", row.location), ("organization", row.works_for), ("job_title", row.job_title)):  # fmt: skip
            if value:
                setattr(person, attribute, value)
        person.alternate_names = sorted(set(person.alternate_names) | set(row.alternate_names))
        person.same_as = sorted(set(person.same_as) | set(row.same_as))
        persons.append(person)
    await ctx.main.upsert_persons(persons)
    return len(persons)
