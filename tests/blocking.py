"""Until the stages run on the async ports (``leadminer.flow``): stores whose calls block.

``leadminer.stages`` still calls the storage ports synchronously; a test that drives
the stages over the async adapters wraps each store in :class:`Blocking`, which runs
every call to completion on one event loop (async iterators come back as lists).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator


async def collect(items: AsyncIterator) -> list:
    return [item async for item in items]


class Blocking:
    """``store`` with every method run to completion on ``loop``."""

    def __init__(self, store, loop: asyncio.AbstractEventLoop):
        self._store, self._loop = store, loop

    def __getattr__(self, name: str):
        method = getattr(self._store, name)

        def call(*args, **kwargs):
            result = method(*args, **kwargs)
            if inspect.isasyncgen(result):
                return iter(self._loop.run_until_complete(collect(result)))
            return self._loop.run_until_complete(result)

        return call
