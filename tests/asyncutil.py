"""Small helpers for the async tests."""

from __future__ import annotations

from collections.abc import AsyncIterator


async def collect(items: AsyncIterator) -> list:
    """Every item of an async iterator, as a list."""
    return [item async for item in items]
