"""Refine: all points of contact of a user → one row per person.

Two pure steps, so that every storage mode can run them:

1. :func:`index_messages` turns extracted messages into content-free, permanent
   facts (thread, sender, tags) and occurrences (who appeared where);
2. :func:`refine_persons` recomputes the persons touched by a mining from their
   whole indexed history. Counting from the history (instead of adding to
   stored counters) is what makes re-mining idempotent and lets an
   incremental mining merge exactly with earlier ones.

Definitions (docs/scoring.md): occurrence = messages they appear in; sender =
messages they sent; recipient = messages the user sent to them; conversations
= threads with more than one message that they appear in; replied
conversations = threads where the user replied to them or they replied to the
user (from In-Reply-To, see :func:`_replied_threads`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import cache

from nameparser import HumanName

from .contracts import (
    RECIPIENT_FIELDS,
    SIGNATURE_FIELDS,
    CleanedAddress,
    Field,
    MessageRecord,
    RefinedPerson,
    Signature,
    Status,
    Tag,
    canonical_key,
)
from .scoring import Interactions, temperature
from .storage import IndexedMessage, Occurrence
from .tagging import AUTOMATED_KINDS, person_tags

_RECIPIENT_VALUES = frozenset(f.value for f in RECIPIENT_FIELDS)
_MAX_ALTERNATES = 5


def thread_of(record: MessageRecord, known: Mapping[str, IndexedMessage]) -> str:
    """Thread id of one message alone: the thread of the first known ancestor,
    else the root named by References (its first id), else the parent named by
    In-Reply-To, else itself."""
    candidates = [*record.references[:1], record.in_reply_to, *reversed(record.references[1:])]
    for parent_id in candidates:
        if parent_id and parent_id in known:
            return known[parent_id].thread_id
    for parent_id in candidates:
        if parent_id:
            return parent_id
    return record.message_id


def assign_threads(records: list[MessageRecord], known: Mapping[str, IndexedMessage]) -> dict[str, str]:
    """Message-ID → thread id for a batch of messages.

    Every message and the ids it names (In-Reply-To, References) are joined
    into conversations first (union-find), so dates out of order, a missing
    Date or a parent that arrives after its reply do not split a thread. A
    conversation that reaches an already indexed message takes that message's
    thread; otherwise it is named after its root as :func:`thread_of` names it
    (when its messages disagree: a name that is not itself a reply, the smallest).
    """
    parent: dict[str, str] = {}

    def find(node: str) -> str:
        root = node
        while parent.setdefault(root, root) != root:
            root = parent[root]
        while parent[node] != root:  # path compression
            parent[node], node = root, parent[node]
        return root

    for record in records:
        for other in (record.in_reply_to, *record.references):
            if other:
                a, b = find(record.message_id), find(other)
                if a != b:
                    parent[max(a, b)] = min(a, b)
        find(record.message_id)
    known_threads: dict[str, list[str]] = {}
    for node in parent:
        if node in known:
            known_threads.setdefault(find(node), []).append(known[node].thread_id)
    replies = {r.message_id for r in records if r.in_reply_to or r.references}
    names: dict[str, list[str]] = {}
    for record in records:
        names.setdefault(find(record.message_id), []).append(thread_of(record, known))

    def name(component: str) -> str:
        if component in known_threads:
            return min(known_threads[component])
        roots = [n for n in names[component] if n not in replies]  # a name that is itself a reply is no root
        return min(roots or names[component])

    return {r.message_id: name(find(r.message_id)) for r in records}


def index_messages(
    records: Iterable[MessageRecord], identity_keys: set[str], known: Mapping[str, IndexedMessage]
) -> tuple[list[IndexedMessage], list[Occurrence]]:
    """Permanent facts for new messages. ``known`` holds already indexed
    ancestors (looked up by the caller from In-Reply-To / References)."""
    records = sorted(records, key=lambda r: (r.date or "", r.message_id))
    threads = assign_threads(records, known)
    indexed: list[IndexedMessage] = []
    occurrences: list[Occurrence] = []
    for record in records:
        sender = record.sender
        from_key = sender.key if sender else None
        indexed.append(
            IndexedMessage(
                message_id=record.message_id,
                thread_id=threads[record.message_id],
                date=record.date,
                from_key=from_key,
                from_user=from_key in identity_keys if from_key else False,
                in_reply_to=record.in_reply_to,
                tags=list(record.tags),
            )
        )
        seen: set[tuple[str, str]] = set()
        for point in record.points:
            key = point.key
            if (key, point.field.value) in seen:
                continue
            seen.add((key, point.field.value))
            occurrences.append(Occurrence(record.message_id, key, point.email, point.field.value, point.name))
    return indexed, occurrences


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _add_names(stats: dict[tuple[bool, str], list], uses: Iterable[tuple[str | None, str, bool]], key: str) -> None:
    """Count ``uses`` ((name, date, own)) into ``stats``: (own, name) → [uses, latest date]."""
    local = key.split("@")[0]
    for name, date, own in uses:
        if not name or "@" in name or name.lower() == local:
            continue
        entry = stats.setdefault((own, name), [0, ""])
        entry[0] += 1
        entry[1] = max(entry[1], date)


def _best_name(stats: Mapping[tuple[bool, str], list]) -> tuple[str | None, list[str]]:
    """Most frequent name from their own From header, else from how others
    address them; ties go to the most recently used, then alphabetical order
    (so the result does not depend on storage order). ``stats`` from :func:`_add_names`."""
    ranked = sorted(stats.items(), key=lambda item: (not item[0][0], -item[1][0], _negated(item[1][1]), item[0][1]))
    names = list(dict.fromkeys(name for (_own, name), _ in ranked))
    return (names[0], names[1 : 1 + _MAX_ALTERNATES]) if names else (None, [])


def _negated(text: str) -> tuple[int, ...]:
    """Sort key that orders strings (ISO dates) descending."""
    return tuple(-ord(c) for c in text)


def _split_name(name: str | None) -> tuple[str | None, str | None]:
    if not name:
        return None, None
    simple = _simple_split(name)
    if simple is not None:
        return simple
    parsed = HumanName(name)
    return parsed.first or None, parsed.last or None


_LAST_FIRST = re.compile(r"^\s*([^\W\d_][\w'.-]*(?: [\w'.-]+){0,2}),\s*([^\W\d_][\w'.-]*(?: [\w'.-]+){0,2})\s*$")
_COMPANY_WORDS = frozenset({"inc", "ltd", "llc", "llp", "corp", "co", "gmbh", "sa", "sas", "ag", "bv", "plc", "team"})


def _natural_order(name: str | None, given: str | None, family: str | None) -> str | None:
    """"Beck, Sally" (directory order, as Exchange and Notes write it) → "Sally Beck".
    Only for one comma between two short name parts that nameparser reads as
    family, given; anything else (companies, several commas) is kept as written."""
    if not name or not given or not family:
        return name
    match = _LAST_FIRST.match(name)
    if match is None:
        return name
    last, first = match.groups()
    words = {w.lower().strip(".") for w in (last + " " + first).split()}
    if words & _COMPANY_WORDS or words & _name_particles():  # companies; "Smith, John Jr."
        return name
    if not first.startswith(given) or not last.endswith(family.split()[-1]):
        return name
    return f"{first} {last}"


@cache
def _name_particles() -> frozenset[str]:
    """Every word nameparser gives a role: titles, suffixes, prefixes (van, de), conjunctions."""
    from nameparser.config import CONSTANTS

    return frozenset().union(
        CONSTANTS.titles, CONSTANTS.suffix_acronyms, CONSTANTS.suffix_not_acronyms, CONSTANTS.prefixes,
        CONSTANTS.conjunctions,
    )  # fmt: skip


def _latin_word(word: str) -> bool:
    """Letters of the Latin script only (hyphen and apostrophe allowed inside)."""
    letters = word.replace("-", "").replace("'", "")
    return letters.isalpha() and all(ord(c) < 0x250 for c in letters)


def _simple_split(name: str) -> tuple[str, str] | None:
    """(given, family) for the common "Given Family" shape that nameparser would
    read the same way (two plain words, neither a title, suffix, prefix or
    conjunction it knows); None sends the name to nameparser. nameparser costs
    ~0.3 ms a name; tests/test_refine.py checks that both agree on corpus names."""
    parts = name.split()
    if len(parts) != 2 or not all(_latin_word(p) for p in parts):
        return None
    if any(p.lower().strip(".") in _name_particles() for p in parts):
        return None
    return parts[0], parts[1]


def _replied_threads(
    key: str,
    messages: list[IndexedMessage],
    recipients: Mapping[str, set[str]],
    to_only: Mapping[str, set[str]],
    parents: Mapping[str, IndexedMessage],
    identity_keys: set[str],
) -> set[str]:
    """Threads where the user replied to ``key`` or ``key`` replied to the user.

    With the parent message indexed, its sender decides. When the parent was
    never mined (another folder, older mail), a reply from the user with
    ``key`` in To (not only in Cc: a reply-all does not reply to everyone), or
    a reply from ``key`` addressed to the user, counts.
    """
    replied: set[str] = set()
    for m in messages:
        if not m.in_reply_to:
            continue
        parent = parents.get(m.in_reply_to)
        to = recipients.get(m.message_id, set())
        if m.from_user and key in to:
            if (parent is None and key in to_only.get(m.message_id, ())) or (parent is not None and parent.from_key == key):
                replied.add(m.thread_id)
        elif m.from_key == key:
            if (parent is not None and parent.from_user) or (parent is None and to & identity_keys):
                replied.add(m.thread_id)
    return replied


def refine_persons(
    user_id: str,
    keys: Iterable[str],
    *,
    messages: Iterable[IndexedMessage],
    occurrences: Iterable[Occurrence],
    parents: Mapping[str, IndexedMessage],
    thread_sizes: Mapping[str, int],
    identity_keys: set[str],
    cleaned: Mapping[str, CleanedAddress],
    signatures: Mapping[str, Signature],
    previous: Mapping[str, RefinedPerson],
    as_of: datetime | None,
) -> list[RefinedPerson]:
    """Recompute the persons ``keys`` from their whole indexed history, given at once (a
    :class:`HistoryFold` of one page). Of the occurrences on their messages only those of
    ``keys`` and of ``identity_keys`` are read (whether the user was a recipient): the others
    may be left out."""
    fold = HistoryFold(keys, identity_keys, signatures)
    fold.add(messages, occurrences, parents, thread_sizes)
    return fold.persons(user_id, cleaned=cleaned, previous=previous, as_of=as_of)


class _Span:
    """The first and last of dates seen in order, as ``sorted(dates)[0]`` and ``[-1]`` give
    them (stable: of equal instants, the first seen is the first, the last seen the last)."""

    __slots__ = ("first", "last")

    def __init__(self) -> None:
        self.first: datetime | None = None
        self.last: datetime | None = None

    def add(self, date: datetime | None) -> None:
        if date is None:
            return
        if self.first is None or date < self.first:
            self.first = date
        if self.last is None or date >= self.last:
            self.last = date

    def then(self, later: _Span) -> _Span:
        """The span of this one's dates followed by ``later``'s."""
        both = _Span()
        for span in (self, later):
            both.add(span.first)
            if span.last is not span.first:
                both.add(span.last)
        return both


class _History:
    """What refine keeps of one person's history as its pages go by: counts, dates, names,
    the kinds of mail they sent, the threads (no message)."""

    __slots__ = (
        "occurrence", "sent", "received", "dates", "sent_tags", "human_sent", "human_sent_dates",
        "received_dates", "conversations", "replied", "names", "emails", "list_post",
    )  # fmt: skip

    def __init__(self) -> None:
        self.occurrence = self.sent = self.received = self.human_sent = 0
        self.dates, self.human_sent_dates, self.received_dates = _Span(), _Span(), _Span()
        self.sent_tags: set[frozenset[str]] = set()  # person_tags reads only all/any over them
        self.conversations: set[str] = set()
        self.replied: set[str] = set()
        self.names: dict[tuple[bool, str], list] = {}
        self.emails: set[str] = set()
        self.list_post = False


class HistoryFold:
    """Refine of the persons ``keys`` from their indexed history, given a page at a time
    (:meth:`add`, pages in Message-ID order, each message in one page only, with the
    occurrences of ``keys`` and of ``identity_keys`` on it), then :meth:`persons`. Memory
    follows the persons and their threads, not their messages: the same persons as from the
    whole history at once, field for field."""

    def __init__(self, keys: Iterable[str], identity_keys: set[str], signatures: Mapping[str, Signature]) -> None:
        self.keys = sorted(set(keys) - identity_keys)
        self.identity_keys = identity_keys
        self.signatures = signatures
        self.signature_by_key = {canonical_key(email): sig for email, sig in signatures.items()}
        wanted = set(self.keys)
        self._signature_ids = {s.message_id for k, s in self.signature_by_key.items() if k in wanted}
        self._signature_dates: dict[str, str | None] = {}
        self._histories: dict[str, _History] = {}

    def add(
        self,
        messages: Iterable[IndexedMessage],
        occurrences: Iterable[Occurrence],
        parents: Mapping[str, IndexedMessage],
        thread_sizes: Mapping[str, int],
    ) -> None:
        """Fold one page: ``parents`` holds the indexed messages its In-Reply-To name,
        ``thread_sizes`` the size of its threads."""
        by_id = {m.message_id: m for m in messages}
        for mid in self._signature_ids & by_id.keys():
            self._signature_dates[mid] = by_id[mid].date
        by_key: dict[str, list[Occurrence]] = defaultdict(list)
        recipients: dict[str, set[str]] = defaultdict(set)
        to_only: dict[str, set[str]] = defaultdict(set)
        for o in occurrences:
            by_key[o.key].append(o)
            if o.field in _RECIPIENT_VALUES:
                recipients[o.message_id].add(o.key)
                if o.field == Field.TO.value:
                    to_only[o.message_id].add(o.key)
        for key in self.keys:
            occ = by_key.get(key)
            if occ:
                self._add_person(key, occ, by_id, recipients, to_only, parents, thread_sizes)

    def _add_person(
        self,
        key: str,
        occ: list[Occurrence],
        by_id: Mapping[str, IndexedMessage],
        recipients: Mapping[str, set[str]],
        to_only: Mapping[str, set[str]],
        parents: Mapping[str, IndexedMessage],
        thread_sizes: Mapping[str, int],
    ) -> None:
        h = self._histories.get(key)
        if h is None:
            h = self._histories[key] = _History()
        mine = [by_id[mid] for mid in sorted({o.message_id for o in occ}) if mid in by_id]
        h.occurrence += len(mine)
        for m in mine:
            date = _parse_date(m.date)
            h.dates.add(date)
            if m.from_key == key:
                h.sent += 1
                tags = frozenset(m.tags)
                h.sent_tags.add(tags)
                if not tags & _AUTOMATED:
                    h.human_sent += 1
                    h.human_sent_dates.add(date)
            if m.from_user and key in recipients.get(m.message_id, ()):
                h.received += 1
                h.received_dates.add(date)
            if thread_sizes.get(m.thread_id, 1) > 1:
                h.conversations.add(m.thread_id)
        h.replied |= _replied_threads(key, mine, recipients, to_only, parents, self.identity_keys)
        uses = [(o.name, by_id[o.message_id].date or "", o.field == Field.FROM.value) for o in occ if o.message_id in by_id]
        _add_names(h.names, uses, key)
        h.emails.update(o.email for o in occ)
        h.list_post = h.list_post or any(o.field == Field.LIST_POST.value for o in occ)

    def persons(
        self,
        user_id: str,
        *,
        cleaned: Mapping[str, CleanedAddress],
        previous: Mapping[str, RefinedPerson],
        as_of: datetime | None,
    ) -> list[RefinedPerson]:
        """The persons of every key seen in a page, in key order."""
        cleaned_by_key: dict[str, CleanedAddress] = {}
        for email, verdict in cleaned.items():
            cleaned_by_key.setdefault(canonical_key(email), verdict)
        return [
            self._person(user_id, key, h, cleaned_by_key.get(key), previous.get(key), as_of)
            for key in self.keys
            if (h := self._histories.get(key)) is not None
        ]

    def _person(
        self,
        user_id: str,
        key: str,
        h: _History,
        verdict: CleanedAddress | None,
        prev: RefinedPerson | None,
        as_of: datetime | None,
    ) -> RefinedPerson:
        signature = self.signature_by_key.get(key)
        name, alternates = _best_name(h.names)
        if name is None and signature and signature.name:
            name = signature.name
        given, family = _split_name(name)
        name = _natural_order(name, given, family)

        address_tags = list(verdict.tags) if verdict else [t for t in (prev.tags if prev else []) if t in _ADDRESS_TAGS]
        if h.list_post:
            address_tags.append(Tag.GROUP.value)
        tags = person_tags(list(h.sent_tags), address_tags, wrote_personally=h.human_sent > 0, email=key)

        person = RefinedPerson(
            user_id=user_id,
            email=key,
            name=name,
            given_name=given,
            family_name=family,
            alternate_names=alternates,
            alternate_emails=sorted(h.emails - {key}),
            occurrence=h.occurrence,
            sender=h.sent,
            recipient=h.received,
            conversations=len(h.conversations),
            replied_conversations=len(h.replied),
            first_seen=h.dates.first.isoformat() if h.dates.first else None,
            last_seen=h.dates.last.isoformat() if h.dates.last else None,
            tags=tags,
            status=(verdict.status.value if verdict else prev.status if prev else Status.UNKNOWN.value),
        )
        # what the temperature is computed from: only mail written by a person counts —
        # newsletters and notifications are not a relationship (their mail, then the user's)
        span = h.human_sent_dates.then(h.received_dates)
        direct = Interactions(h.human_sent + h.received, len(h.replied), span.first, span.last)
        person.direct_messages = direct.direct_messages
        person.direct_first = direct.first_seen.isoformat() if direct.first_seen else None
        person.direct_last = direct.last_seen.isoformat() if direct.last_seen else None
        person.temperature = temperature(direct, as_of)
        signature_date = self._signature_dates.get(signature.message_id) if signature else None
        _merge_signature(person, signature, signature_date, prev)
        return person


_AUTOMATED = frozenset(AUTOMATED_KINDS)
_ADDRESS_TAGS = frozenset(
    {Tag.ROLE.value, Tag.NO_REPLY.value, Tag.DISPOSABLE.value, Tag.PERSONAL.value, Tag.PROFESSIONAL.value}
)


def _merge_signature(
    person: RefinedPerson, signature: Signature | None, signature_date: str | None, previous: RefinedPerson | None
) -> None:
    """Field by field, the signature of the newest message wins; fields it lacks keep the older values."""
    old_date = previous.signature_date if previous else None
    candidates = [(signature_date or "", signature), (old_date or "", previous)]
    candidates.sort(key=lambda c: c[0], reverse=True)  # newest first; on a tie the new signature
    for name in SIGNATURE_FIELDS:
        for _date, source in candidates:
            value = getattr(source, name, None) if source is not None else None
            if value:
                setattr(person, name, list(value) if isinstance(value, list) else value)
                break
    dates = [d for d, source in candidates if d and source is not None]
    person.signature_date = max(dates) if dates else None
