"""SSE progress events (api/leadminer_api/events.py): ids, and resuming with Last-Event-ID."""

from __future__ import annotations

import re

from leadminer_api.events import Snapshot, changes


def parsed(events: list[str]) -> list[tuple[int, str]]:
    return [(int(re.search(r"^id: (\d+)$", e, re.M)[1]), re.search(r"^event: (.+)$", e, re.M)[1]) for e in events]


def test_a_client_cut_off_inside_a_snapshot_gets_the_rest_of_it_then_only_newer_ones():
    first = Snapshot({"fetched": 500, "extracted": 0, "totalMessages": 1200}, [])
    second = Snapshot({"fetched": 1200, "extracted": 500, "totalMessages": 1200}, ["fetch"])
    stream = parsed(changes("m", Snapshot(), first)) + parsed(changes("m", first, second))
    ids = [event_id for event_id, _ in stream]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)  # every event its own id, growing

    cut = 4  # the client had the first snapshot and part of the second, then lost the connection
    last_id = ids[cut - 1]
    resumed = parsed(changes("m", Snapshot(), second, after=last_id))  # another process: nothing sent yet
    assert set(stream[cut:]) <= set(resumed)  # nothing lost
    repeats = {name for _, name in resumed} - {name for _, name in stream[cut:]}
    assert repeats == {"totalMessages-m"}  # unchanged since the first snapshot: an absolute value, sent again
    assert changes("m", Snapshot(), second, after=ids[-1]) == []


def test_a_resumed_stream_after_newer_progress_sends_the_current_counters_and_skips_nothing():
    old = Snapshot({"fetched": 500, "extracted": 0}, [])
    now = Snapshot({"fetched": 1200, "extracted": 1200, "verifiedContacts": 40}, ["fetch", "extract", "clean"])
    last_id = parsed(changes("m", Snapshot(), old))[-1][0]
    names = [name for _, name in parsed(changes("m", Snapshot(), now, after=last_id))]
    assert names == ["fetched-m", "extracted-m", "verifiedContacts-m", "fetch-finished-m", "extract-finished-m", "clean-finished-m"]
