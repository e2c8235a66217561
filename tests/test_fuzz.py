"""Mutation fuzzing: damaged versions of real messages never crash the miner;
each one is mined or recorded as failed with a reason (seeded, so repeatable)."""

from __future__ import annotations

import asyncio

import random

import pytest

from corpora import corpus_dir
from leadminer.contracts import RawMessage
from leadminer.flow.memory import mine_in_memory
from leadminer.pipeline import extract_batch

SEED = 20261128
MUTATIONS = 10_000


def _mutate(data: bytes, rng: random.Random) -> bytes:
    """One of the ways mail arrives broken: cut, flipped bytes, spliced, repeated or stray CR/LF/NUL."""
    if not data:
        return data
    kind = rng.randrange(6)
    i = rng.randrange(len(data))
    if kind == 0:
        return data[:i]  # truncated
    if kind == 1:
        out = bytearray(data)
        for _ in range(rng.randint(1, 20)):
            out[rng.randrange(len(out))] = rng.randrange(256)
        return bytes(out)
    if kind == 2:
        j = rng.randrange(len(data))
        return data[:i] + data[j:]  # a part skipped or doubled
    if kind == 3:
        return data[:i] + rng.choice([b"\r", b"\n", b"\x00", b"\r\n\r\n", b"=?", b"?=", b"<", b"\"", b":"]) * rng.randint(1, 50) + data[i:]
    if kind == 4:
        line = data[i : i + rng.randint(1, 200)]
        return data[:i] + line * rng.randint(2, 300) + data[i:]  # a header or line repeated
    return bytes(rng.randrange(256) for _ in range(rng.randint(0, 400)))  # garbage


@pytest.fixture(scope="module")
def seeds() -> list[bytes]:
    files = []
    for name in ("malformed", "lkml", "newsletters", "notmuch-threading"):
        files += [p for p in sorted(corpus_dir(name).rglob("*")) if p.is_file()]
    return [p.read_bytes()[:200_000] for p in files]


def test_mutated_messages_are_mined_or_failed_with_a_reason(seeds):
    rng = random.Random(SEED)
    raws = [RawMessage("fuzz", "f", str(n), _mutate(rng.choice(seeds), rng)) for n in range(MUTATIONS)]
    records, failures = extract_batch(raws)
    assert len(records) + len(failures) == MUTATIONS  # nothing lost
    assert all(f.reason and not f.reason.startswith("internal error") for f in failures), [
        f.reason for f in failures if f.reason.startswith("internal error")
    ][:5]
    assert len(records) > MUTATIONS // 2
    persons = asyncio.run(mine_in_memory(raws))  # clean, signature and refine take the damaged records too
    assert persons
