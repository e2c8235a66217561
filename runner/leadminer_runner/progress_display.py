"""The CLI's live display of a mining: one bar per stage, each with its rate and ETA.

``fetch+extract`` counts messages read (against the source's estimate); ``clean``
addresses; ``signatures`` the messages read, then the senders whose signatures are
looked for; ``refine`` the messages indexed, then the persons refined, then the save.
A bar appears when its stage starts and is complete only once the stage is over, so a
finished bar never stands for work still going on.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from leadminer.flow import MiningProgress

LABELS = {"fetch": "fetch+extract", "clean": "clean", "signature": "signatures", "refine": "refine"}
UNITS = {
    ("fetch", ""): "messages",
    ("clean", "addresses"): "addresses",
    ("signature", "messages"): "messages read",
    ("signature", "senders"): "senders",
    ("refine", "index"): "messages indexed",
    ("refine", "history"): "reading history",
    ("refine", "persons"): "persons",
    ("refine", "save"): "saving",
}


class RateColumn(ProgressColumn):
    """Items per second of a bar (rich's estimate over its recent updates)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:>7.0f}/s" if speed else "      -/s")


class MiningDisplay:
    """Feeds a rich :class:`Progress` from the mining's callbacks (``on_fetch``, ``on_stage``)."""

    def __init__(self, console: Console, *, quiet: bool = False):
        self.progress = Progress(
            TextColumn("{task.fields[label]:<13}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[unit]:<16}", markup=False),
            RateColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=quiet,
            transient=False,
        )
        self.tasks: dict[str, TaskID] = {}
        self.phases: dict[str, str] = {}

    def __enter__(self) -> MiningDisplay:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def _task(self, stage: str) -> TaskID:
        if stage not in self.tasks:
            for earlier in list(self.tasks):  # a stage starts once the one before it is over
                task = self._by_id(self.tasks[earlier])
                if task.total is None or task.completed < task.total:
                    self.progress.update(self.tasks[earlier], total=task.completed or 1, completed=task.completed or 1)
            self.tasks[stage] = self.progress.add_task(stage, total=None, label=LABELS.get(stage, stage), unit="")
        return self.tasks[stage]

    def on_fetch(self, p: MiningProgress) -> None:
        """The fetch's counters (the embedded loop extracts each batch as it is read)."""
        if p.stage not in ("fetch", "extract"):
            return
        total = p.total if not p.fetch_done else p.fetched
        self.progress.update(self._task("fetch"), completed=p.fetched, total=total, unit="messages")

    def on_stage(self, stage: str, phase: str, done: int, total: int | None) -> None:
        """How far a later stage is; a new phase starts its counts (and its rate) afresh."""
        task = self._task(stage)
        if self.phases.get(stage) != phase:
            self.phases[stage] = phase
            unit = UNITS.get((stage, phase), phase)
            self.progress.reset(task, completed=done, label=LABELS.get(stage, stage), unit=unit)  # reset replaces the fields
        self._by_id(task).total = total  # None: an indeterminate bar (rich's update cannot set None)
        self.progress.update(task, completed=done)

    def _by_id(self, task_id: TaskID) -> Task:
        return next(t for t in self.progress.tasks if t.id == task_id)

    def done(self) -> None:
        for task_id in self.tasks.values():
            task = self._by_id(task_id)
            self.progress.update(task_id, total=task.completed or 1, completed=task.completed or 1)
