"""Quality floors of message and person tagging on the labelled public corpora.

Labels: tests/data/tagging_labels.csv, built by scripts/label_tagging.py
without the tagger (docs/quality-tagging.md), split by sender domain into a
tuning and a held-out half. Messages are read as the product reads them (the
file source with the pipeline's 16 KiB body cap, then the pipeline's extract
stage). The floors sit just under what scripts/quality_tagging.py reports —
for the whole set and for each half — so a regression fails CI. Skipped only
when ``../shared/corpora`` is absent.
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys

import pytest

from corpora import corpus_dir

pytestmark = pytest.mark.corpus

_SCRIPTS = pathlib.Path(__file__).resolve().parent.parent / "scripts"
_CORPORA = ("spamassassin", "lkml", "quagga-enron-train", "newsletters", "malformed", "notmuch-threading")


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, _SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def corpora():
    for name in _CORPORA:
        corpus_dir(name)  # skips the module when ../shared/corpora is absent


@pytest.fixture(scope="module")
def report(corpora):
    return _load("quality_tagging").evaluate()


def test_labels_file_is_what_the_labelling_rules_produce(corpora):
    labeller = _load("label_tagging")
    assert labeller.OUT.read_text(encoding="utf-8") == labeller.build()


def test_label_set_covers_every_class(report):
    counts = {cls: figures["messages"] for cls, figures in report.per_class.items()}
    assert counts["newsletter"] >= 900 and counts["group"] >= 2000
    assert counts["personal"] >= 400 and counts["transactional"] >= 50
    for half in report.halves.values():
        assert half.per_class["transactional"]["messages"] >= 15
        assert half.per_class["transactional"]["senders"] >= 10


def test_halves_never_share_a_sender_domain(corpora):
    labeller = _load("label_tagging")
    rows = _load("quality_tagging").load_labels()
    halves_of: dict[str, set[str]] = {}
    for row in rows:
        halves_of.setdefault(labeller.sender_domain(row["sender"]), set()).add(row["half"])
    assert all(len(h) == 1 for h in halves_of.values())
    assert {h for hs in halves_of.values() for h in hs} == {"tuning", "held-out"}


@pytest.mark.parametrize(
    ("part", "cls", "accuracy", "precision"),
    [
        ("all", "newsletter", 0.97, 0.99),
        ("all", "group", 0.997, 0.995),
        ("all", "personal", 0.995, 0.935),
        ("all", "transactional", 0.96, 0.99),
        ("tuning", "newsletter", 0.895, 0.99),
        ("tuning", "group", 0.998, 0.995),
        ("tuning", "personal", 0.99, 0.68),
        ("tuning", "transactional", 0.97, 0.99),
        ("held-out", "newsletter", 0.98, 0.995),
        ("held-out", "group", 0.997, 0.995),
        ("held-out", "personal", 0.995, 0.96),
        ("held-out", "transactional", 0.89, 0.99),
    ],
)
def test_message_accuracy_floors(report, part, cls, accuracy, precision):
    figures = (report if part == "all" else report.halves[part]).per_class[cls]
    assert figures["accuracy"] >= accuracy, figures
    assert figures["precision"] >= precision, figures


@pytest.mark.parametrize(("part", "floor"), [("all", 0.94), ("tuning", 0.99), ("held-out", 0.89)])
def test_transactional_accuracy_per_sender(report, part, floor):
    """Averaged per sender, so the 24 bug-tracker messages of one address do not carry the figure."""
    figures = (report if part == "all" else report.halves[part]).per_class["transactional"]
    assert figures["sender_accuracy"] >= floor, figures


@pytest.mark.parametrize(
    ("source", "floor"),
    [
        ("spamassassin/hard-ham-1 newsletter", 0.94),
        ("spamassassin/easy-ham-1 group", 0.99),
        ("lkml group", 0.99),
        ("newsletters newsletter", 1.0),
        ("quagga-enron-train personal", 0.995),
        ("quagga-enron-train newsletter", 0.7),
        ("malformed transactional", 1.0),
        ("spamassassin/easy-ham-1 transactional", 1.0),
    ],
)
def test_per_source_floors(report, source, floor):
    assert report.per_source[source]["accuracy"] >= floor, report.per_source[source]


def test_person_tags(report):
    assert report.person_accuracy >= 0.965, report.person_confusion
    assert report.halves["tuning"].person_accuracy >= 0.955
    assert report.halves["held-out"].person_accuracy >= 0.97
    people = report.person_confusion["person"]
    assert sum(n for got, n in people.items() if got != "person") == 0, people


def test_nobody_who_wrote_personally_is_tagged_newsletter(report):
    assert report.personal_writers_tagged_newsletter == []
    assert report.personal_writers_tagged_automated == []


def test_quality_is_measured_on_capped_messages_like_the_product(corpora):
    """The product caps raw bodies at 16 KiB; long newsletters keep their tag under the cap
    (header signs and the body's start decide, not a footer past the cap)."""
    quality = _load("quality_tagging")
    rows = [r for r in quality.load_labels() if r["corpus"] == "spamassassin" and "hard-ham" in r["path"]]
    capped = {t.row["path"]: t.tags for t in quality.tag_rows(rows)}
    whole = {t.row["path"]: t.tags for t in quality.tag_rows(rows, body_cap=None)}
    long_ones = [p for p in capped if (corpus_dir("spamassassin") / p).stat().st_size > 20_000]
    assert len(long_ones) >= 10
    assert all(capped[p] == whole[p] for p in long_ones), [p for p in long_ones if capped[p] != whole[p]]


def test_bench_tag_messages(benchmark, corpora):
    """Throughput of what extract_batch adds to extract_message — tags and list addresses of a
    message, read once (``tags_and_list_addresses``) — over the SpamAssassin corpus as the file
    source reads it (16 KiB body cap), extracted beforehand."""
    from leadminer.contracts import RawMessage
    from leadminer.extract import extract_message
    from leadminer.pipeline import DEFAULT_BODY_CAP
    from leadminer.sources import open_source
    from leadminer.tagging import tags_and_list_addresses

    items = open_source(corpus_dir("spamassassin")).iter_messages("b", body_cap=DEFAULT_BODY_CAP)
    records = [extract_message(item) for item in items if isinstance(item, RawMessage)]

    def run():
        return [tags_and_list_addresses(r) for r in records]

    results = benchmark(run)
    assert len(results) == 3250
    tags = [t for t, _lists in results]
    assert sum("group" in t for t in tags) > 1500 and sum("newsletter" in t for t in tags) > 800
    assert sum(bool(lists) for _t, lists in results) > 1500


def test_folder_of_labelled_mail_is_measured(tmp_path):
    """``--folder``: mail outside the label file, laid out as <label>/<file>.eml, is scored like the corpora."""
    quality = _load("quality_tagging")
    (tmp_path / "transactional").mkdir()
    (tmp_path / "personal").mkdir()
    (tmp_path / "transactional" / "bounce.eml").write_bytes(
        b"From: Mail Delivery System <mailer-daemon@mx.example.com>\r\nTo: jane@example.org\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <b1@mx.example.com>\r\n\r\nSorry.\r\n"
    )
    (tmp_path / "personal" / "note.eml").write_bytes(
        b"From: Jane Doe <jane@example.org>\r\nTo: bob@example.com\r\nSubject: Lunch\r\n"
        b"Message-ID: <n1@example.org>\r\n\r\nFriday?\r\n"
    )
    (tmp_path / "personal" / "miss.eml").write_bytes(
        b"From: Shop <noreply@shop.example>\r\nTo: bob@example.com\r\nSubject: Your order #12 has shipped\r\n"
        b"Message-ID: <s1@shop.example>\r\n\r\nTracking inside.\r\n"
    )
    report = quality.summarise(quality.tag_folder(tmp_path))
    assert report.per_class["transactional"]["accuracy"] == 1.0
    assert report.per_class["personal"]["accuracy"] == 0.5  # the shipping notice filed as personal is a miss
    assert [miss[3] for miss in report.misses] == ["personal/miss.eml"]
    (tmp_path / "unknown").mkdir()
    with pytest.raises(ValueError, match="not a label"):
        quality.tag_folder(tmp_path)
