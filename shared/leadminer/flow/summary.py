"""What a mining reports: its live progress and, once done, its summary."""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..contracts import FailedMessage
from ..storage import MiningRun


@dataclass(slots=True)
class MiningProgress:
    """Counters of a running mining, read from the run ledger (so any process can
    report them); they only grow."""

    mining_id: str
    stage: str  # fetch | extract | clean | signature | refine
    fetched: int  # messages read (failed reads included)
    total: int | None  # the source's estimate, while known
    extracted: int  # distinct messages stored
    already_mined: int
    duplicates: int
    failed: int
    contacts: int  # points of contact in the new messages
    steps: dict[str, int]  # later stages done → their count
    started: float  # Unix time
    fetch_done: bool

    @property
    def elapsed(self) -> float:
        return max(0.0, time.time() - self.started)

    @property
    def rate(self) -> float:
        """Messages fetched per second."""
        return self.fetched / self.elapsed if self.elapsed > 0 else 0.0

    @classmethod
    def from_run(cls, run: MiningRun, totals: dict[str, int]) -> MiningProgress:
        fetch_done = run.batches is not None
        stage = "fetch"
        if fetch_done:
            stage = next((s for s in ("clean", "signature", "refine") if s not in run.steps), "refine")
            if stage == "clean" and totals["records"] + totals["failed"] < run.fetched - run.fetch_failed:
                stage = "extract"
        return cls(
            mining_id=run.mining_id,
            stage=stage,
            fetched=run.fetched,
            total=run.total,
            extracted=totals["extracted"],
            already_mined=totals["already_mined"],
            duplicates=totals["records"] - totals["already_mined"] - totals["extracted"],
            failed=run.fetch_failed + totals["failed"],
            contacts=totals["contacts"],
            steps=dict(run.steps),
            started=run.started,
            fetch_done=fetch_done,
        )


@dataclass(slots=True)
class MiningSummary:
    mining_id: str
    source: str
    fetched: int
    extracted: int
    already_mined: int
    duplicates: int  # same Message-ID seen again in this mining (another folder, a copy)
    failed: int  # messages that could not be mined (each in ``failures`` with its reason)
    skipped: int  # files passed over (not mail, index or hidden files; in ``failures`` too)
    persons: int
    signatures: int
    seconds: float
    identities: list[str]  # the user's addresses: given, implied by the source, or found in Delivered-To
    tags: dict[str, int]
    failures: list[FailedMessage]

    def stats(self) -> dict:
        """What the minings table keeps: counts and tags (failures go to failed_messages)."""
        return {name: getattr(self, name) for name in self.__slots__ if name != "failures"}

    @classmethod
    def from_stats(cls, stats: dict, failures: list[FailedMessage]) -> MiningSummary:
        fields = {name: stats[name] for name in cls.__slots__ if name not in ("failures", "skipped")}
        return cls(**fields, skipped=stats.get("skipped", 0), failures=failures)  # older minings: no skipped
