"""A :class:`leadminer.parallel.CpuPool` over worker processes (embedded mode): the CPU-bound
work of extract and signatures on every core.

``n`` cores take ``n`` workers, and every chunk of a map runs in a worker: the mining
process has work of its own while they run (reading the next batch, writing the last one to
the databases, the stages that are not split), and the system shares the cores between them.
(A mining process that ran chunks itself, as this pool did once, took most of them from its
single worker and left a core idle: measured by ``scripts/bench_whole.py``.) The workers are
forked when the pool is made, before the mining opens its database files or takes its lock
(no worker holds them), and ignore Ctrl-C (the mining process handles it and shuts them
down). A worker that dies breaks the executor: its chunks, and every later map of the pool,
then run here (workers started later would inherit the open database and its lock).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from leadminer.parallel import InProcess


CHUNKS_PER_PROCESS = 16
"""Chunks per worker and map: small enough that the workers end together."""


def usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _ignore_interrupts() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class ProcessCpuPool:
    """Chunks in ``workers`` worker processes."""

    def __init__(self, workers: int):
        self.workers = workers
        self.ways = CHUNKS_PER_PROCESS * workers
        self._executor: ProcessPoolExecutor | None = None
        self._last_map: asyncio.Future | None = None  # set once the latest map has returned
        self._start()

    def _start(self) -> None:
        method = "fork" if sys.platform == "linux" else None  # fork: no re-import, workers start at once
        self._executor = ProcessPoolExecutor(
            self.workers, mp_context=multiprocessing.get_context(method), initializer=_ignore_interrupts
        )
        for future in [self._executor.submit(os.getpid) for _ in range(self.workers)]:
            future.result()  # fork every worker now, before any database is open

    async def map(self, fn: Callable[[Any], Any], chunks: Sequence[Any]) -> list[Any]:
        """Every chunk runs in a worker; this process awaits them (its other tasks run meanwhile).

        Maps return in the order they were called: a map started while another runs (the
        embedded loop extracts the next batch while the last one is written) returns after
        it, so what their callers do next happens in that order too (batches are stored in
        the order they were read)."""
        previous, self._last_map = self._last_map, asyncio.get_running_loop().create_future()
        done = self._last_map
        try:
            results = await self._map(fn, chunks)
            if previous is not None and not previous.done():
                await asyncio.shield(previous)
            return results
        finally:
            done.set_result(None)

    async def _map(self, fn: Callable[[Any], Any], chunks: Sequence[Any]) -> list[Any]:
        if not chunks or self._executor is None:
            return [fn(chunk) for chunk in chunks]
        try:
            futures = [self._executor.submit(fn, chunk) for chunk in chunks]
        except BrokenProcessPool:
            return await self._inline_from_now(fn, chunks)
        outcomes = await asyncio.gather(*(asyncio.wrap_future(f) for f in futures), return_exceptions=True)
        broken = [i for i, r in enumerate(outcomes) if isinstance(r, BrokenProcessPool)]
        if broken:
            self.close()  # a worker died: its chunks, and every later map, run here
        results: list[Any] = []
        for i, outcome in enumerate(outcomes):
            if i in broken:
                results.append(fn(chunks[i]))
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                results.append(outcome)
        return results

    async def _inline_from_now(self, fn: Callable[[Any], Any], chunks: Sequence[Any]) -> list[Any]:
        """A worker died: these chunks, and those of later maps, run here."""
        self.close()
        return [fn(chunk) for chunk in chunks]

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None


def cpu_pool(cores: int | None = None) -> ProcessCpuPool | InProcess:
    """A pool over every usable core (``cores``: how many), or :class:`InProcess` on one core."""
    cores = usable_cores() if cores is None else cores
    return ProcessCpuPool(cores) if cores > 1 else InProcess()
