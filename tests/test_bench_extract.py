"""pytest-benchmark view of scripts/bench_extract.py (the full comparison runs there).

Benchmarks are disabled by default (``--benchmark-disable`` in pyproject), so
these run once as plain tests; ``pytest tests/test_bench_extract.py
--benchmark-enable`` times them.
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys

import pytest

pytestmark = pytest.mark.corpus

_SCRIPT = pathlib.Path(__file__).resolve().parent.parent / "scripts" / "bench_extract.py"
_spec = importlib.util.spec_from_file_location("bench_extract", _SCRIPT)
bench = sys.modules.setdefault("bench_extract", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(bench)

SAMPLE = 600  # messages: enough mix (ham, hard ham, spam) while staying fast


@pytest.fixture(scope="module")
def messages() -> list[bytes]:
    from corpora import corpus_dir

    corpus_dir("spamassassin")  # skips the module when ../shared/corpora is absent
    everything = bench.corpus_messages("spamassassin")
    step = max(1, len(everything) // SAMPLE)
    return everything[::step][:SAMPLE]


def test_bench_leadminer_extract(benchmark, messages):
    result = benchmark(bench.mine_leadminer, messages)
    assert result.failed == 0
    assert len(result.pairs) > len(messages)  # several addresses per message


def test_bench_stdlib_email(benchmark, messages):
    result = benchmark(bench.mine_stdlib, messages)
    assert len(result.pairs) > len(messages)


def test_leadminer_finds_what_the_stdlib_finds(messages):
    ours = bench.mine_leadminer(messages).pairs
    stdlib = bench.mine_stdlib(messages).pairs
    missed = {pair for pair in stdlib - ours if not pair[2].startswith("@")}
    assert len(missed) <= 0.002 * len(stdlib), sorted(missed)[:10]
    assert len(ours & stdlib) >= 0.99 * len(stdlib)
