"""Server-Sent Events of a mining's progress, with the names Leadminer's web app listens for.

Pure functions of two snapshots (the last one sent and the current one), so any API
process can resume a stream from the run ledger: counters only grow, and an event
is sent only when its value changed. Each event's id is the snapshot's version (a
number that only grows with the counters) times :data:`SLOTS` plus the event's fixed
slot, so ids only grow within a stream and a client reconnecting with ``Last-Event-ID``
gets the rest of a snapshot it was cut off in, then only newer snapshots (whose
counters it may get again: they are absolute values, so a repeat changes nothing).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from leadminer.flow import MiningProgress, MiningSummary

STEP_EVENTS = {"clean": "verifiedContacts", "signature": "signatures", "refine": "createdContacts"}
COUNTER_EVENTS = ("fetched", "extracted", "totalMessages", *STEP_EVENTS.values())
FINISHED_STAGES = ("fetch", "extract", "clean", "signature", "refine")
SLOTS = 16
"""Event ids per snapshot version: one slot per counter and per finished stage, in this order."""


@dataclass(slots=True)
class Snapshot:
    """What a client has been told about one mining."""

    counters: dict[str, int] = field(default_factory=dict)  # event name → value
    finished: list[str] = field(default_factory=list)  # stages finished, in order

    @property
    def version(self) -> int:
        return sum(self.counters.values()) + 1_000_000 * len(self.finished)

    @classmethod
    def of(cls, progress: MiningProgress) -> Snapshot:
        counters = {
            "fetched": progress.fetched,
            "extracted": progress.extracted,
        }
        if progress.total is not None:
            counters["totalMessages"] = progress.total
        for stage, name in STEP_EVENTS.items():
            if stage in progress.steps:
                counters[name] = progress.steps[stage]
        finished = []
        if progress.fetch_done:
            finished.append("fetch")
            if progress.stage != "extract":
                finished.append("extract")
        finished += [stage for stage in ("clean", "signature", "refine") if stage in progress.steps]
        return cls(counters, finished)


def sse(event: str, data: object, event_id: int | None = None) -> str:
    """One Server-Sent Event (the data as JSON on one line)."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


def changes(mining_id: str, before: Snapshot, now: Snapshot, *, after: int = -1) -> list[str]:
    """The events that take a client from ``before`` to ``now``, leaving out those whose id is not
    above ``after`` (the ``Last-Event-ID`` of a client that reconnected)."""
    base = now.version * SLOTS
    out = []
    for slot, name in enumerate(COUNTER_EVENTS):
        value = now.counters.get(name)
        if value is not None and before.counters.get(name) != value and value >= before.counters.get(name, 0):
            out.append((base + slot, sse(f"{name}-{mining_id}", value, base + slot)))
    for slot, stage in enumerate(FINISHED_STAGES, start=len(COUNTER_EVENTS)):
        if stage in now.finished and stage not in before.finished:
            out.append((base + slot, sse(f"{stage}-finished-{mining_id}", True, base + slot)))
    return [event for event_id, event in out if event_id > after]


def ending(mining: dict | None, summary: MiningSummary | None, mining_id: str = "") -> str:
    """The last event of a stream: ``mining-completed`` with the summary, or ``mining-failed``
    with the reason (failed, interrupted or canceled; or deleted meanwhile)."""
    if mining is None:
        return sse("mining-failed", {"miningId": mining_id, "status": "deleted", "reason": "the mining was deleted"})
    if summary is not None:
        data = {name: getattr(summary, name) for name in summary.__slots__ if name != "failures"}
        return sse("mining-completed", {"miningId": mining["id"], **data})
    reason = (mining.get("stats") or {}).get("error") or mining["status"]
    return sse("mining-failed", {"miningId": mining["id"], "status": mining["status"], "reason": reason})
