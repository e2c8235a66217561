"""Quality floors of the signature stage on the public gold corpora.

The floors sit just under what ``scripts/quality_signatures.py`` reports (see
docs/quality-signatures.md), so a regression fails CI. Skipped only when
``../shared/corpora`` is absent.
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys

import pytest

from leadminer.signature import extract_signature
from corpora import corpus_dir

pytestmark = pytest.mark.corpus

_SCRIPT = pathlib.Path(__file__).resolve().parent.parent / "scripts" / "quality_signatures.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("quality_signatures", _SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def quality():
    return _load_script()


@pytest.fixture(scope="module")
def quagga(quality):
    return quality.read_quagga(corpus_dir("quagga-enron-train"))


@pytest.fixture(scope="module")
def quagga_report(quality, quagga):
    return {
        "all": quality.score_quagga(quagga),
        "A": quality.score_quagga([c for c in quagga if c.fold == "A"]),
        "B": quality.score_quagga([c for c in quagga if c.fold == "B"]),
    }


def test_quagga_corpus_is_complete(quagga) -> None:
    assert len(quagga) == 500
    assert sum(bool(c.gold_lines) for c in quagga) == 50


def test_quagga_block_lines(quagga_report) -> None:
    lines = quagga_report["all"]["lines"]
    assert lines["f1"] >= 0.86, lines
    assert lines["precision"] >= 0.85, lines
    assert lines["recall"] >= 0.85, lines
    assert quagga_report["all"]["lines_gold_with_field_spans"]["f1"] >= 0.89


@pytest.mark.parametrize("fold, floor", [("A", 0.83), ("B", 0.87)])
def test_quagga_block_lines_per_fold(quagga_report, fold: str, floor: float) -> None:
    assert quagga_report[fold]["lines"]["f1"] >= floor, quagga_report[fold]["lines"]


@pytest.mark.parametrize(
    "field, precision, recall",
    [
        ("telephone", 0.95, 0.93),
        ("fax", 0.98, 0.90),
        ("phone_or_fax", 0.98, 0.94),
        ("name", 0.82, 0.92),
        ("job_title", 0.92, 0.72),
        ("organization", 0.92, 0.83),
        ("address", 0.97, 0.97),
        ("emails", 0.97, 0.83),
    ],
)
def test_quagga_fields(quagga_report, field: str, precision: float, recall: float) -> None:
    counts = quagga_report["all"]["fields"][field]
    assert counts["precision"] >= precision, counts
    assert counts["recall"] >= recall, counts


def test_forge_lines(quality) -> None:
    report = quality.score_forge(quality.read_forge(corpus_dir("forge-signatures")))
    assert report["bodies"] == 192
    assert report["lines"]["f1"] >= 0.94, report["lines"]
    assert report["lines"]["precision"] >= 0.94, report["lines"]


def test_signature_throughput(benchmark, quagga) -> None:
    """Bodies per second (run with --benchmark-enable to measure; the target is ≥ 1 000/s/core)."""
    bodies = [(c.body, c.sender_email, c.sender_name) for c in quagga]

    def run() -> int:
        return sum(
            extract_signature(body, sender_email=email, sender_name=name) is not None for body, email, name in bodies
        )

    found = benchmark(run)
    assert 40 <= found <= 80  # the gold has 50 sender signatures; the count must stay in that range
