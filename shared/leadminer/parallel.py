"""The CPU pool port: pure, CPU-bound work of a stage split into chunks that a mode may run
on several cores.

The core never starts a thread or a process (it runs under Pyodide too): a stage splits its
work with :func:`split` and awaits :meth:`CpuPool.map`. :class:`InProcess` (the default)
runs the chunks here, one after another; the embedded runner's pool
(``leadminer_runner.cpu_pool``) runs them in worker processes. ``fn`` must be a picklable
module-level callable (or a ``functools.partial`` of one) that is pure: the result is the
same wherever it runs, and the results come back in the order of the chunks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class CpuPool(Protocol):
    ways: int
    """How many chunks are worth making (1: no parallelism)."""

    async def map(self, fn: Callable[[Any], R], chunks: Sequence[Any]) -> list[R]:
        """``[fn(c) for c in chunks]``, in order, possibly on other cores."""
        ...


class InProcess:
    """:class:`CpuPool` in this process, one chunk after another."""

    ways = 1

    async def map(self, fn: Callable[[Any], R], chunks: Sequence[Any]) -> list[R]:
        return [fn(chunk) for chunk in chunks]


def split(items: Sequence[T], ways: int, min_size: int = 1) -> list[Sequence[T]]:
    """``items`` in at most ``ways`` contiguous chunks of near-equal size, none smaller than
    ``min_size`` (so small work stays one chunk); concatenated, they are ``items``."""
    n = max(1, min(ways, len(items) // max(1, min_size)))
    size, extra = divmod(len(items), n)
    chunks, start = [], 0
    for i in range(n):
        end = start + size + (i < extra)
        chunks.append(items[start:end])
        start = end
    return chunks
