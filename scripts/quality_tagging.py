"""Measure message and person tagging against tests/data/tagging_labels.csv.

Every labelled corpus message is mined with the real extract stage
(``leadminer.extract.extract_message``) and tagged with
``leadminer.tagging.tag_message``; senders are then tagged with
``person_tags`` exactly as the refine stage does (address tags from
``AddressCleaner``, ``group`` for List-Post addresses, ``wrote_personally`` =
some message of theirs carries no automated kind).

Prints per-class message accuracy (recall: share of the messages of a class
that got the class's tag) and precision, the worst misses, and a confusion
matrix of PERSON tags.

Usage:  python scripts/quality_tagging.py [--misses N] [--json]
"""

from __future__ import annotations

import argparse
import csv
import json
import pathlib
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.corpora import extract_corpus  # noqa: E402

from leadminer.clean import AddressCleaner  # noqa: E402
from leadminer.contracts import Field, MessageRecord, RawMessage, canonical_key  # noqa: E402
from leadminer.extract import extract_message  # noqa: E402
from leadminer.tagging import AUTOMATED_KINDS, person_tags, tag_message  # noqa: E402

LABELS = ROOT / "tests" / "data" / "tagging_labels.csv"
CLASSES = ("newsletter", "transactional", "group", "social", "personal")
PERSON_CLASSES = ("person", "group", "newsletter", "transactional", "social", "newsletter+transactional")


@dataclass
class Report:
    """Message and person figures of one run."""

    messages: int = 0
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)
    per_source: dict[str, dict[str, float]] = field(default_factory=dict)
    message_confusion: dict[str, Counter] = field(default_factory=dict)
    misses: list[tuple[str, str, str, str, list[str]]] = field(default_factory=list)
    person_confusion: dict[str, Counter] = field(default_factory=dict)
    persons: int = 0
    person_accuracy: float = 0.0
    personal_writers_tagged_newsletter: list[str] = field(default_factory=list)
    personal_writers_tagged_automated: list[str] = field(default_factory=list)


def load_labels(path: pathlib.Path = LABELS) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [row for row in csv.DictReader(handle) if row["label"] != "unclear"]


def mine(row: dict[str, str]) -> MessageRecord:
    """The labelled message, through the real extract stage."""
    path = extract_corpus(row["corpus"]) / row["path"]
    return extract_message(RawMessage("quality", row["corpus"], row["path"], path.read_bytes()))


def _source(row: dict[str, str]) -> str:
    """Corpus, plus the sub-folder for SpamAssassin (easy / hard ham)."""
    if row["corpus"] == "spamassassin":
        return "spamassassin/" + row["path"].split("/")[1]
    return row["corpus"]


def _predicted_class(tags: list[str]) -> str:
    """One class per message for the confusion matrix."""
    kinds = [k for k in ("group", "social", "newsletter", "transactional") if k in tags]
    return "+".join(kinds) if kinds else "personal"


def _expected_person(rows: list[dict[str, str]]) -> str:
    if any(r["sender_is"] == "list" for r in rows):
        return "group"
    if any(r["sender_is"] == "person" for r in rows):
        return "person"
    kinds = {k for r in rows for k in r["label"].split("+") if k in AUTOMATED_KINDS}
    return "+".join(k for k in AUTOMATED_KINDS if k in kinds) or "person"


def _person_class(tags: list[str]) -> str:
    if "group" in tags:
        return "group"
    kinds = [k for k in AUTOMATED_KINDS if k in tags]
    return "+".join(kinds) if kinds else "person"


def evaluate(rows: list[dict[str, str]] | None = None) -> Report:
    """Tag every labelled message and sender; compare with the labels."""
    rows = load_labels() if rows is None else rows
    report = Report(messages=len(rows))
    hits: Counter = Counter()
    totals: Counter = Counter()
    source_hits: Counter = Counter()
    source_totals: Counter = Counter()
    tagged: Counter = Counter()
    tagged_right: Counter = Counter()
    confusion: dict[str, Counter] = defaultdict(Counter)
    by_sender: dict[str, list[tuple[dict[str, str], list[str]]]] = defaultdict(list)
    list_posts: set[str] = set()

    for row in rows:
        record = mine(row)
        tags = tag_message(record)
        label = row["label"]
        primary = label.split("+")[0]
        totals[primary] += 1
        if primary == "personal":
            ok = not tags
        else:
            ok = primary in tags
        hits[primary] += ok
        source = f"{_source(row)} {primary}"
        source_totals[source] += 1
        source_hits[source] += ok
        for kind in ("newsletter", "transactional", "group", "social"):
            if kind in tags:
                tagged[kind] += 1
                tagged_right[kind] += kind in label.split("+")
        if not tags:
            tagged["personal"] += 1
            tagged_right["personal"] += primary == "personal"
        confusion[primary][_predicted_class(tags)] += 1
        if not ok:
            report.misses.append((primary, row["corpus"], row["path"], row["sender"], tags))
        list_posts.update(p.email for p in record.points if p.field is Field.LIST_POST)
        if row["sender"]:
            by_sender[canonical_key(row["sender"])].append((row, tags))

    for cls in CLASSES:
        if totals[cls]:
            report.per_class[cls] = {
                "messages": totals[cls],
                "accuracy": hits[cls] / totals[cls],
                "precision": (tagged_right[cls] / tagged[cls]) if tagged[cls] else 1.0,
            }
    report.message_confusion = dict(confusion)
    report.per_source = {
        key: {"messages": source_totals[key], "accuracy": source_hits[key] / source_totals[key]}
        for key in sorted(source_totals)
    }

    cleaner = AddressCleaner()
    person_confusion: dict[str, Counter] = defaultdict(Counter)
    right = 0
    for key, items in sorted(by_sender.items()):
        sent = [tags for _row, tags in items]
        address_tags = list(cleaner.clean(key).tags)
        if key in list_posts:
            address_tags.append("group")
        wrote_personally = any(not set(t).intersection(AUTOMATED_KINDS) for t in sent)
        tags = person_tags(sent, address_tags, wrote_personally=wrote_personally, email=key)
        expected = _expected_person([r for r, _t in items])
        got = _person_class(tags)
        person_confusion[expected][got] += 1
        right += expected == got
        if any(r["label"] == "personal" for r, _t in items):
            if "newsletter" in tags:
                report.personal_writers_tagged_newsletter.append(key)
            if set(tags).intersection(AUTOMATED_KINDS):
                report.personal_writers_tagged_automated.append(key)
    report.persons = len(by_sender)
    report.person_accuracy = right / report.persons if report.persons else 0.0
    report.person_confusion = dict(person_confusion)
    return report


def _matrix(confusion: dict[str, Counter], rows: tuple[str, ...]) -> str:
    columns = sorted({c for counts in confusion.values() for c in counts}, key=lambda c: (c not in rows, c))
    width = max(len(c) for c in (*columns, *rows, "expected \\ got")) + 1
    lines = ["expected \\ got".ljust(width) + "".join(c.rjust(width) for c in columns)]
    for r in rows:
        if r in confusion:
            lines.append(r.ljust(width) + "".join(str(confusion[r].get(c, 0)).rjust(width) for c in columns))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", type=int, default=15, help="misses to list per class")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    report = evaluate()
    if args.json:
        print(json.dumps({
            "messages": report.messages, "per_class": report.per_class, "per_source": report.per_source,
            "persons": report.persons,
            "person_accuracy": report.person_accuracy,
            "personal_writers_tagged_newsletter": report.personal_writers_tagged_newsletter,
        }, indent=2))
        return 0
    print(f"MESSAGES ({report.messages} labelled; accuracy = share of the class's messages that got its tag)")
    print(f"{'class':<15}{'messages':>9}{'accuracy':>10}{'precision':>11}")
    for cls, figures in report.per_class.items():
        print(f"{cls:<15}{figures['messages']:>9}{figures['accuracy']:>10.3f}{figures['precision']:>11.3f}")
    print()
    print("by source")
    for key, figures in report.per_source.items():
        print(f"  {key:<40}{figures['messages']:>6}{figures['accuracy']:>8.3f}")
    print()
    print(_matrix(report.message_confusion, CLASSES))
    print()
    print(f"PERSONS ({report.persons} senders) accuracy {report.person_accuracy:.3f}")
    print(_matrix(report.person_confusion, PERSON_CLASSES))
    print()
    print(f"people who wrote personally but are tagged newsletter: {len(report.personal_writers_tagged_newsletter)}"
          f" {report.personal_writers_tagged_newsletter[:10]}")
    print(f"… tagged any automated kind: {len(report.personal_writers_tagged_automated)}"
          f" {report.personal_writers_tagged_automated[:10]}")
    if args.misses:
        print()
        shown: Counter = Counter()
        for cls, corpus, path, sender, tags in report.misses:
            if shown[cls] < args.misses:
                shown[cls] += 1
                print(f"MISS {cls:<13} {corpus}/{path}  from {sender}  got {tags}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
