"""The CPU pool: the core's port (split, in process) and the embedded runner's worker
processes, whose minings must equal those of one process exactly."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path

import pytest

from leadminer.adapters.sqlite import SqliteMainStore, connect
from leadminer.export import write_export
from leadminer.parallel import InProcess, split
from leadminer_runner.cpu_pool import ProcessCpuPool, cpu_pool
from leadminer_runner.embedded import mine
from leadminer_runner.sources import FileMessageSource
from corpora import corpus_dir


def _square_all(chunk: list[int]) -> list[int]:
    return [x * x for x in chunk]


def _pid(_chunk) -> int:
    time.sleep(0.02)  # long enough for the worker to start on some chunks
    return os.getpid()


def _nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def _die(chunk) -> list[int]:
    if os.getpid() != chunk[0]:  # in a worker: the worker dies
        os._exit(1)
    return [chunk[0]]


@pytest.mark.parametrize("n, ways, min_size", [(0, 4, 1), (1, 4, 1), (10, 3, 1), (10, 3, 4), (100, 8, 64), (7, 2, 1)])
def test_split_keeps_order_and_sizes(n, ways, min_size):
    items = list(range(n))
    chunks = split(items, ways, min_size)
    assert [x for c in chunks for x in c] == items
    assert 1 <= len(chunks) <= max(1, ways)
    if len(chunks) > 1:
        assert min(map(len, chunks)) >= min_size
        assert max(map(len, chunks)) - min(map(len, chunks)) <= 1


def test_in_process_pool_maps_in_order():
    assert asyncio.run(InProcess().map(_square_all, [[1, 2], [3]])) == [[1, 4], [9]]


def test_process_pool_uses_its_workers_and_keeps_order():
    pool = ProcessCpuPool(1)
    try:
        chunks = [[i] for i in range(40)]
        assert asyncio.run(pool.map(_square_all, chunks)) == [[i * i] for i in range(40)]
        pids = set(asyncio.run(pool.map(_pid, [[0]] * 40)))
        assert pids - {os.getpid()}, "no chunk ran in a worker"
    finally:
        pool.close()


def test_maps_return_in_the_order_they_were_called():
    """The embedded loop extracts a batch while it writes the one before: the later map, done
    first in the other worker, returns second, so the batches are stored in order."""
    pool = ProcessCpuPool(2)

    async def both() -> list[str]:
        returned: list[str] = []

        async def run(label: str, seconds: float) -> None:
            assert await pool.map(_nap, [seconds]) == [seconds]
            returned.append(label)

        await asyncio.gather(run("first, slow", 0.5), run("second, fast", 0.0))
        return returned

    try:
        assert asyncio.run(both()) == ["first, slow", "second, fast"]
    finally:
        pool.close()


def test_a_dying_worker_loses_no_chunk():
    pool = ProcessCpuPool(1)
    try:
        me = os.getpid()
        chunks = [[me] for _ in range(12)]
        assert asyncio.run(pool.map(_die, chunks)) == [[me]] * 12  # the worker's chunks ran here
        assert asyncio.run(pool.map(_square_all, [[2], [3]])) == [[4], [9]]  # and later maps too
    finally:
        pool.close()


def test_one_core_needs_no_pool():
    assert isinstance(cpu_pool(1), InProcess)


def _export(db: Path, fmt: str) -> str:
    conn = connect(db)
    try:
        persons = asyncio.run(SqliteMainStore(conn).persons("local"))
    finally:
        conn.close()
    out = db.with_suffix("." + fmt)
    with open(out, "w", encoding="utf-8", newline="") as stream:
        write_export(persons, fmt, stream)
    return out.read_text(encoding="utf-8")


def test_worker_processes_mine_exactly_what_one_process_mines(tmp_path):
    mail = tmp_path / "mail"
    for name in ("lkml", "quagga-enron-train", "malformed", "newsletters"):
        shutil.copytree(corpus_dir(name), mail / name)
    exports = {}
    for cores in (1, 2):
        db = tmp_path / f"cores{cores}.db"
        summary = mine(FileMessageSource(mail), db_path=db, identities=["me@example.com"], batch_size=300, cores=cores)
        assert summary.extracted > 600 and summary.signatures > 0
        exports[cores] = (_export(db, "json"), _export(db, "csv"), summary.persons, summary.signatures, summary.failed)
    assert exports[1] == exports[2]


def test_every_later_stage_reports_its_progress_to_the_end(tmp_path):
    reports: list[tuple[str, str, int, int | None]] = []
    mine(FileMessageSource(corpus_dir("lkml")), db_path=tmp_path / "p.db", stage_progress=lambda *r: reports.append(r))
    stages = [r[0] for r in reports]
    assert stages.index("clean") < stages.index("signature") < stages.index("refine")
    assert stages == sorted(stages, key=["clean", "signature", "refine"].index)  # one stage after the other
    for stage, phase in (("clean", "addresses"), ("signature", "senders"), ("refine", "persons")):
        last = [r for r in reports if r[:2] == (stage, phase)][-1]
        assert last[2] == last[3] and last[3] > 0, last
    assert reports[-1][:2] == ("refine", "save")
