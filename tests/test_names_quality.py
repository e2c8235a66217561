"""Display names: a person's chosen name is one they use in their own From header
(scripts/quality_names.py), never worse than the naive "last seen" baseline."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from corpora import CorpusMissing, MISSING_MESSAGE  # noqa: E402
from quality_names import corpus_raws, measure  # noqa: E402


@pytest.mark.parametrize("corpus", ["lkml", "notmuch-threading"])
def test_chosen_name_is_the_senders_own(corpus):
    try:
        raws = corpus_raws(corpus)
    except CorpusMissing:
        pytest.skip(MISSING_MESSAGE)
    m = measure(raws)
    assert m["persons"] >= 15
    assert m["ours"] >= 0.99
    assert m["ours"] >= m["last_seen"] and m["ours"] >= m["most_frequent_any"]
