"""Refine: threading, reply detection, counts, names, idempotency and incremental merge."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime

import pytest

from leadminer.adapters.sqlite import SqliteMainStore, SqliteTempStore, connect
from leadminer.contracts import Field, MessageRecord, PointOfContact, Signature
from leadminer.refine import index_messages, refine_persons
from leadminer.scoring import Interactions, temperature
from leadminer.stages import MiningContext, handle_refine


ME = "me@corp.example"


def msg(mid, sender, to, *, date, reply_to=None, refs=(), names=None, tags=(), cc=()):
    names = names or {}
    points = [PointOfContact(mid, Field.FROM, sender, names.get(sender))]
    points += [PointOfContact(mid, Field.TO, a, names.get(a)) for a in to]
    points += [PointOfContact(mid, Field.CC, a, names.get(a)) for a in cc]
    return MessageRecord(
        mining_id="m",
        message_id=mid,
        folder="INBOX",
        uid=mid,
        date=f"2024-{date}T10:00:00+00:00",
        subject="s",
        in_reply_to=reply_to,
        references=list(refs),
        points=points,
        tags=list(tags),
    )


THREAD = [
    msg("a1", "bob@corp.example", [ME], date="01-10", names={"bob@corp.example": "Bob Stone"}),
    msg("a2", ME, ["bob@corp.example"], date="01-11", reply_to="a1", refs=["a1"]),
    msg("a3", "bob@corp.example", [ME], date="01-12", reply_to="a2", refs=["a1", "a2"], names={"bob@corp.example": "Bob"}),
    msg("b1", "news@letters.example", [ME], date="02-01", tags=["newsletter"]),
    msg("b2", "news@letters.example", [ME], date="03-01", tags=["newsletter"]),
    msg("c1", ME, ["carol+work@home.example"], date="03-05", cc=["bob@corp.example"]),
    msg("d1", "bob@corp.example", ["list@lists.example"], date="03-06", names={"bob@corp.example": "Bob Stone"}),
]


def refine_all(records, keys={ME}):
    indexed, occ = index_messages(records, keys, {})
    by_id = {m.message_id: m for m in indexed}
    return {
        p.email: p
        for p in refine_persons(
            "u",
            {o.key for o in occ},
            messages=indexed,
            occurrences=occ,
            parents=by_id,
            thread_sizes=Counter(m.thread_id for m in indexed),
            identity_keys=keys,
            cleaned={},
            signatures={},
            previous={},
            as_of=datetime.fromisoformat("2024-03-06T10:00:00+00:00"),
        )
    }


def test_threads_follow_references_and_in_reply_to():
    indexed, _ = index_messages(THREAD, {ME}, {})
    threads = {m.message_id: m.thread_id for m in indexed}
    assert threads["a1"] == threads["a2"] == threads["a3"] == "a1"
    assert threads["b1"] != threads["b2"]


def test_thread_found_through_known_parent_when_references_missing():
    indexed, _ = index_messages(THREAD[:1], {ME}, {})
    reply = msg("x", ME, ["bob@corp.example"], date="01-20", reply_to="a1")
    later, _ = index_messages([reply], {ME}, {"a1": indexed[0]})
    assert later[0].thread_id == "a1"


def test_counts_and_replies():
    persons = refine_all(THREAD)
    assert ME not in persons
    bob = persons["bob@corp.example"]
    assert (bob.occurrence, bob.sender, bob.recipient) == (5, 3, 2)
    assert bob.conversations == 1  # the a-thread; c1 and d1 are single messages
    assert bob.replied_conversations == 1
    assert bob.name == "Bob Stone"  # most frequent in his own From header
    assert (bob.given_name, bob.family_name) == ("Bob", "Stone")
    assert bob.first_seen.startswith("2024-01-10") and bob.last_seen.startswith("2024-03-06")
    news = persons["news@letters.example"]
    assert news.replied_conversations == 0 and "newsletter" in news.tags
    assert news.temperature < bob.temperature


def test_plus_tag_addresses_merge_into_one_person():
    persons = refine_all(THREAD)
    carol = persons["carol@home.example"]
    assert carol.alternate_emails == ["carol+work@home.example"]
    assert carol.recipient == 1


def test_person_is_newsletter_only_when_all_their_messages_are():
    records = [*THREAD, msg("e1", "bob@corp.example", [ME], date="03-06", tags=["transactional"])]
    bob = refine_all(records)["bob@corp.example"]
    assert "transactional" not in bob.tags and "newsletter" not in bob.tags


def test_signature_fields_merge_and_keep_earlier_values():
    indexed, occ = index_messages(THREAD, {ME}, {})
    common = dict(
        messages=indexed, occurrences=occ, parents={m.message_id: m for m in indexed},
        thread_sizes=Counter(m.thread_id for m in indexed), identity_keys={ME}, cleaned={}, as_of=None,
    )  # fmt: skip
    first = refine_persons(
        "u", ["bob@corp.example"], signatures={"bob@corp.example": Signature("bob@corp.example", "a3", job_title="CTO", telephone=["+33142685300"])},
        previous={}, **common,
    )[0]  # fmt: skip
    second = refine_persons(
        "u", ["bob@corp.example"], signatures={"bob@corp.example": Signature("bob@corp.example", "d1", organization="Corp")},
        previous={"bob@corp.example": first}, **common,
    )[0]  # fmt: skip
    assert (second.job_title, second.organization, second.telephone) == ("CTO", "Corp", ["+33142685300"])


def test_temperature_weights():
    now = datetime.fromisoformat("2024-06-01T00:00:00+00:00")
    cold = temperature(Interactions(1, 0, now, now), now)
    warm = temperature(Interactions(50, 5, datetime.fromisoformat("2023-06-01T00:00:00+00:00"), now), now)
    assert warm == 100
    assert cold == round(100 * (0.25 * (0.693147 / 3.931826) + 0.10))
    assert temperature(Interactions(0, 0, None, None), now) == 0


@pytest.fixture
async def stores(tmp_path):
    main_conn, temp_conn = connect(tmp_path / "main.db"), connect(tmp_path / "temp.db")
    main, temp = SqliteMainStore(main_conn), SqliteTempStore(temp_conn)
    await main.migrate()
    await temp.migrate()
    yield main, temp
    main_conn.close()
    temp_conn.close()


async def _mine(stores, mining_id, records):
    main, temp = stores
    ctx = MiningContext(mining_id, "u", temp, main, [ME])
    known = await main.known_message_ids("u", [r.message_id for r in records])
    await temp.add_messages(mining_id, [r for r in records if r.message_id not in known])
    await handle_refine(ctx)
    await temp.drop_mining(mining_id)
    return {p.email: p for p in await main.persons("u")}


async def test_remining_is_idempotent_and_incremental_merge_is_exact(stores):
    once = await _mine(stores, "m1", THREAD[:4])
    again = await _mine(stores, "m2", THREAD[:4])
    assert once == again
    merged = await _mine(stores, "m3", THREAD)  # old mail again + new mail

    def facts(persons):
        return {
            k: (p.occurrence, p.sender, p.recipient, p.conversations, p.replied_conversations, p.first_seen, p.last_seen, p.temperature)
            for k, p in persons.items()
        }

    assert facts(merged) == facts(refine_all(THREAD))


async def test_reply_to_a_message_mined_earlier_is_threaded(stores):
    await _mine(stores, "m1", THREAD[:1])
    persons = await _mine(stores, "m2", THREAD[1:2])
    assert persons["bob@corp.example"].replied_conversations == 1
    assert persons["bob@corp.example"].conversations == 1


def test_reply_to_an_unmined_parent_counts_for_to_not_for_cc():
    reply_all = msg("r1", ME, ["ann@x.example"], date="05-01", reply_to="never-mined", cc=["cc@x.example"])
    persons = refine_all([reply_all])
    assert persons["ann@x.example"].replied_conversations == 1
    assert persons["cc@x.example"].replied_conversations == 0


def test_fast_name_split_agrees_with_nameparser_on_corpus_names():
    from corpora import corpus_dir
    from nameparser import HumanName

    from leadminer.contracts import RawMessage
    from leadminer.pipeline import extract_batch
    from leadminer.refine import _simple_split

    raws = [
        RawMessage("t", name, p.name, p.read_bytes())
        for name in ("spamassassin", "lkml", "quagga-enron-train")
        for p in sorted(corpus_dir(name).rglob("*"))
        if p.is_file() and not p.name.endswith(".ann")
    ]
    records, _ = extract_batch(raws)
    names = {p.name for r in records for p in r.points if p.name}
    fast = {n: _simple_split(n) for n in names}
    assert sum(v is not None for v in fast.values()) > len(names) // 3
    for name, split in fast.items():
        if split is not None:
            parsed = HumanName(name)
            assert split == (parsed.first, parsed.last), name


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("Beck, Sally", "Sally Beck"),
        ("Davis, Pete", "Pete Davis"),
        ("Smith, John Jr.", "Smith, John Jr."),  # a suffix: kept as written rather than misplaced
        ("Acme, Inc.", "Acme, Inc."),
        ("HAMILTON,DAVID (HP-Ireland,ex2)", "HAMILTON,DAVID (HP-Ireland,ex2)"),
        ("Sally Beck", "Sally Beck"),
        ("Support, Team", "Support, Team"),
    ],
)
def test_directory_order_names_are_shown_given_name_first(written, shown):
    record = msg("n1", "sally@corp.example", [ME], date="01-10", names={"sally@corp.example": written})
    assert refine_all([record])["sally@corp.example"].name == shown


@pytest.mark.parametrize("corpus", ["notmuch-threading", "lkml", "spamassassin"])
def test_a_reply_always_lands_in_its_parents_thread(corpus):
    """Threading on real mail (dates out of order, missing Date, parents that
    arrive after their replies): every message that names a mined message in
    In-Reply-To or References shares its thread."""
    from corpora import corpus_dir

    from leadminer.contracts import RawMessage
    from leadminer.pipeline import extract_batch

    raws = [RawMessage("t", corpus, p.name, p.read_bytes()) for p in sorted(corpus_dir(corpus).rglob("*")) if p.is_file()]
    records, _ = extract_batch(raws)
    unique = list({r.message_id: r for r in records}.values())
    indexed, _ = index_messages(unique, set(), {})
    thread = {m.message_id: m.thread_id for m in indexed}
    links = [(r.message_id, p) for r in unique for p in (r.in_reply_to, *r.references) if p in thread]
    assert links
    assert [link for link in links if thread[link[0]] != thread[link[1]]] == []


def test_a_parent_dated_after_its_reply_shares_the_thread():
    reply = msg("r", "bob@corp.example", [ME], date="01-01", reply_to="p")
    parent = msg("p", ME, ["bob@corp.example"], date="01-02", refs=["root"])
    indexed, _ = index_messages([reply, parent], {ME}, {})
    assert {m.thread_id for m in indexed} == {"root"}


def test_refine_chunks_give_the_busiest_addresses_chunks_of_their_own_and_keep_every_address_once():
    from leadminer import stages

    weights = {"list@lists.example": 90_000, "big@example.com": 30_000, **{f"p{i}@example.com": 3 for i in range(5_000)}}
    chunks = stages._history_chunks(weights)
    assert chunks[0] == ["list@lists.example"]  # over the budget alone: read once, by itself
    assert sorted(k for c in chunks for k in c) == sorted(weights)
    for chunk in chunks[1:]:
        assert len(chunk) <= stages._PERSONS_CHUNK
        assert len(chunk) == 1 or sum(weights[k] for k in chunk) <= stages._HISTORY_BUDGET
    assert stages._history_chunks({}) == []


def _fold_in_pages(records, keys, page):
    """refine_persons over the whole history, and a HistoryFold of the same history in pages of
    ``page`` messages (Message-ID order, as MainStore.history_page gives them)."""
    from leadminer.refine import HistoryFold

    indexed, occ = index_messages(records, keys, {})
    by_id = {m.message_id: m for m in indexed}
    sizes = Counter(m.thread_id for m in indexed)
    persons = {o.key for o in occ}
    signatures = {
        r.sender.email: Signature(r.sender.email, r.message_id, "Sig Name", job_title="Boss") for r in records[::7] if r.sender
    }
    options = {"cleaned": {}, "previous": {}, "as_of": datetime.fromisoformat("2024-03-06T10:00:00+00:00")}
    whole = refine_persons(
        "u", persons, messages=indexed, occurrences=occ, parents=by_id, thread_sizes=sizes, identity_keys=keys,
        signatures=signatures, **options,
    )  # fmt: skip
    fold = HistoryFold(persons, keys, signatures)
    ordered = sorted(indexed, key=lambda m: m.message_id)
    for start in range(0, len(ordered), page):
        ids = {m.message_id for m in ordered[start : start + page]}
        fold.add(ordered[start : start + page], [o for o in occ if o.message_id in ids], by_id, sizes)
    return whole, fold.persons("u", **options)


@pytest.mark.parametrize("corpus", ["spamassassin", "lkml"])
def test_a_history_folded_in_pages_gives_the_persons_of_the_whole_history(corpus):
    from corpora import corpus_dir

    from leadminer.contracts import RawMessage
    from leadminer.pipeline import extract_batch

    raws = [RawMessage("t", corpus, p.name, p.read_bytes()) for p in sorted(corpus_dir(corpus).rglob("*")) if p.is_file()]
    records, _ = extract_batch(raws)
    records = list({r.message_id: r for r in records}.values())
    busiest = Counter(p.key for r in records for p in r.points if p.field is Field.TO).most_common(1)[0][0]
    whole, paged = _fold_in_pages(records, {busiest}, 37)
    assert len(whole) > 100 and sum(p.conversations for p in whole) > 0 and any(p.name for p in whole)
    assert paged == whole


def test_equal_instants_in_other_offsets_keep_the_first_and_last_seen_of_the_whole_history():
    sent = msg("m2", "bob@corp.example", [ME], date="01-10")  # 10:00 UTC
    received = msg("m1", ME, ["bob@corp.example"], date="01-10")
    received.date = "2024-01-10T11:00:00+01:00"  # the same instant, written in another offset
    for page in (1, 2):
        whole, paged = _fold_in_pages([sent, received], {ME}, page)
        bob = {p.email: p for p in paged}["bob@corp.example"]
        assert paged == whole
        # as sorted() gives them: of equal dates the first seen first (m1 comes first), the last seen last
        assert (bob.first_seen, bob.last_seen) == ("2024-01-10T11:00:00+01:00", "2024-01-10T10:00:00+00:00")
        # direct mail: theirs, then the user's (sorted's order on the list sent + received)
        assert (bob.direct_first, bob.direct_last) == ("2024-01-10T10:00:00+00:00", "2024-01-10T11:00:00+01:00")
