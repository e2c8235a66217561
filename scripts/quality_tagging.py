"""Measure message and person tagging against tests/data/tagging_labels.csv.

Every labelled corpus message is read as the product reads it — through
``leadminer.sources.open_source(...).iter_messages(body_cap=DEFAULT_BODY_CAP)``
(all headers + the first 16 KiB of raw body) — and mined with the pipeline's
extract stage (``leadminer.pipeline.extract_batch``: extract, list points,
tags); senders are then tagged with
``person_tags`` exactly as the refine stage does (address tags from
``AddressCleaner``, ``group`` for List-Post addresses, ``wrote_personally`` =
some message of theirs carries no automated kind).

Figures are given for the whole set and for its two halves (the ``half``
column: a split by sender domain, see ``scripts/label_tagging.py``). Rules are
tuned on the ``tuning`` half; the ``held-out`` half is the honest figure. So
that tuning never peeks at it, misses are listed for the tuning half unless
``--misses-from`` says otherwise.

A class's messages are those whose label holds it: ``group+transactional`` (a
bug tracker posting to a list) counts for group AND for transactional.
Accuracy (recall) = share of a class's messages that got the class's tag
(``personal``: got no tag at all); precision = share of the messages tagged
with the class whose label holds it. ``sender_accuracy`` averages accuracy
per sender address, so one chatty sender does not dominate.

Usage:  python scripts/quality_tagging.py [--misses N] [--misses-from tuning|held-out|all] [--json] [--whole-messages]
        python scripts/quality_tagging.py --folder DIR   (DIR/<label>/*.eml: mail outside the label file)
"""

from __future__ import annotations

import argparse
import csv
import json
import pathlib
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.corpora import extract_corpus  # noqa: E402

from leadminer.clean import AddressCleaner  # noqa: E402
from leadminer.contracts import Field, MessageRecord, RawMessage, canonical_key  # noqa: E402
from leadminer.pipeline import DEFAULT_BODY_CAP, extract_batch  # noqa: E402
from leadminer.sources import open_source  # noqa: E402
from leadminer.tagging import AUTOMATED_KINDS, person_tags  # noqa: E402

LABELS = ROOT / "tests" / "data" / "tagging_labels.csv"
CLASSES = ("newsletter", "transactional", "group", "social", "personal")
KINDS = ("newsletter", "transactional", "group", "social")
HALVES = ("tuning", "held-out")
PERSON_CLASSES = ("person", "group", "newsletter", "transactional", "social", "newsletter+transactional")


@dataclass
class Tagged:
    """One labelled message and what the tagger said about it."""

    row: dict[str, str]
    tags: list[str]
    list_posts: set[str]

    @property
    def classes(self) -> list[str]:
        """The classes the label puts the message in (``group+transactional`` → both)."""
        return self.row["label"].split("+")

    def hit(self, cls: str) -> bool:
        if cls == "personal":
            return not self.tags
        return cls in self.tags


@dataclass
class Report:
    """Message and person figures of one run (or of one half of it)."""

    messages: int = 0
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)
    per_source: dict[str, dict[str, float]] = field(default_factory=dict)
    message_confusion: dict[str, Counter] = field(default_factory=dict)
    misses: list[tuple[str, str, str, str, str, list[str]]] = field(default_factory=list)
    person_confusion: dict[str, Counter] = field(default_factory=dict)
    persons: int = 0
    person_accuracy: float = 0.0
    personal_writers_tagged_newsletter: list[str] = field(default_factory=list)
    personal_writers_tagged_automated: list[str] = field(default_factory=list)
    halves: dict[str, Report] = field(default_factory=dict)

    def figures(self) -> dict:
        """The numbers as plain JSON-able data."""
        return {
            "messages": self.messages, "per_class": self.per_class, "per_source": self.per_source,
            "persons": self.persons, "person_accuracy": self.person_accuracy,
            "personal_writers_tagged_newsletter": self.personal_writers_tagged_newsletter,
            "personal_writers_tagged_automated": self.personal_writers_tagged_automated,
        }


def load_labels(path: pathlib.Path = LABELS) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [row for row in csv.DictReader(handle) if row["label"] != "unclear"]


def source_uid(path: str) -> str:
    """The uid the file source gives the message at ``path``: the path inside the corpus, but
    for a Maildir message (``<maildir>/cur/<name>:2,<flags>``) ``<maildir>/<name>``."""
    dirs, _slash, name = path.rpartition("/")
    maildir, _slash, sub = dirs.rpartition("/")
    if sub not in ("cur", "new"):
        return path
    unique = _MAILDIR_INFO.sub("", name)
    return f"{maildir}/{unique}" if maildir else unique


_MAILDIR_INFO = re.compile(r"[:!;]2,[A-Za-z]*$")
"""The ``:2,<flags>`` info suffix of a Maildir file name (``!`` or ``;`` where ``:`` is not allowed)."""


def read_corpus(corpus: str, wanted: set[str], body_cap: int | None = DEFAULT_BODY_CAP) -> dict[str, RawMessage]:
    """The ``wanted`` messages (paths inside the corpus) as the product's file source reads them,
    by path."""
    by_uid = {source_uid(path): path for path in wanted}
    source = open_source(extract_corpus(corpus))
    return {
        by_uid[item.uid]: item
        for item in source.iter_messages("quality", body_cap=body_cap)
        if isinstance(item, RawMessage) and item.uid in by_uid
    }


def mine(raw: RawMessage) -> MessageRecord:
    """One message through the pipeline's extract stage (extract + list points + tags)."""
    records, failures = extract_batch([raw])
    if failures:
        raise ValueError(f"{raw.folder}/{raw.uid}: {failures[0].reason}")
    return records[0]


def tag_rows(rows: list[dict[str, str]], body_cap: int | None = DEFAULT_BODY_CAP) -> list[Tagged]:
    """Read, mine and tag every labelled message (``body_cap=None``: whole messages)."""
    by_corpus: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        by_corpus[row["corpus"]].add(row["path"])
    raws = {corpus: read_corpus(corpus, paths, body_cap) for corpus, paths in by_corpus.items()}
    out = []
    for row in rows:
        raw = raws[row["corpus"]].get(row["path"])
        if raw is None:
            raise ValueError(f"{row['corpus']}/{row['path']}: not read by the file source")
        record = mine(raw)
        posts = {p.email for p in record.points if p.field is Field.LIST_POST}
        out.append(Tagged(row, record.tags, posts))
    return out


def tag_folder(root: pathlib.Path, body_cap: int | None = DEFAULT_BODY_CAP) -> list[Tagged]:
    """Read, mine and tag a folder of labelled mail laid out as ``<root>/<label>/…`` (label: one of
    CLASSES or ``group+transactional``), for checks on mail outside the label file."""
    out = []
    for label_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        label = label_dir.name
        if not set(label.split("+")) <= set(CLASSES):
            raise ValueError(f"{label_dir}: not a label ({', '.join(CLASSES)})")
        for item in open_source(label_dir).iter_messages("quality", body_cap=body_cap):
            if not isinstance(item, RawMessage):
                raise ValueError(f"{label_dir}: {item}")
            record = mine(item)
            sender = record.sender.email if record.sender else ""
            automated = not {"personal", "group"}.intersection(label.split("+"))
            row = {"corpus": label_dir.name, "path": f"{label}/{item.uid}", "sender": sender, "label": label,
                   "sender_is": "automated" if automated else "person", "how": "folder", "half": "held-out"}
            posts = {p.email for p in record.points if p.field is Field.LIST_POST}
            out.append(Tagged(row, record.tags, posts))
    return out


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


def summarise(tagged: list[Tagged]) -> Report:
    """Compare the tags with the labels: message classes, sources and person tags."""
    report = Report(messages=len(tagged))
    hits: Counter = Counter()
    totals: Counter = Counter()
    sender_hits: dict[str, Counter] = defaultdict(Counter)
    sender_totals: dict[str, Counter] = defaultdict(Counter)
    source_hits: Counter = Counter()
    source_totals: Counter = Counter()
    tagged_as: Counter = Counter()
    tagged_right: Counter = Counter()
    confusion: dict[str, Counter] = defaultdict(Counter)
    by_sender: dict[str, list[Tagged]] = defaultdict(list)
    list_posts: set[str] = set()

    for item in tagged:
        row, tags = item.row, item.tags
        for cls in item.classes:
            ok = item.hit(cls)
            totals[cls] += 1
            hits[cls] += ok
            sender_totals[cls][row["sender"]] += 1
            sender_hits[cls][row["sender"]] += ok
            source = f"{_source(row)} {cls}"
            source_totals[source] += 1
            source_hits[source] += ok
            if not ok:
                report.misses.append((cls, row["half"], row["corpus"], row["path"], row["sender"], tags))
        for kind in KINDS:
            if kind in tags:
                tagged_as[kind] += 1
                tagged_right[kind] += kind in item.classes
        if not tags:
            tagged_as["personal"] += 1
            tagged_right["personal"] += "personal" in item.classes
        confusion[row["label"]][_predicted_class(tags)] += 1
        list_posts.update(item.list_posts)
        if row["sender"]:
            by_sender[canonical_key(row["sender"])].append(item)

    for cls in CLASSES:
        if totals[cls]:
            senders = sender_totals[cls]
            report.per_class[cls] = {
                "messages": totals[cls],
                "accuracy": hits[cls] / totals[cls],
                "precision": (tagged_right[cls] / tagged_as[cls]) if tagged_as[cls] else 1.0,
                "senders": len(senders),
                "sender_accuracy": sum(sender_hits[cls][s] / n for s, n in senders.items()) / len(senders),
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
        sent = [item.tags for item in items]
        address_tags = list(cleaner.clean(key).tags)
        if key in list_posts:
            address_tags.append("group")
        wrote_personally = any(not set(t).intersection(AUTOMATED_KINDS) for t in sent)
        tags = person_tags(sent, address_tags, wrote_personally=wrote_personally, email=key)
        expected = _expected_person([item.row for item in items])
        got = _person_class(tags)
        person_confusion[expected][got] += 1
        right += expected == got
        if any(item.row["label"] == "personal" for item in items):
            if "newsletter" in tags:
                report.personal_writers_tagged_newsletter.append(key)
            if set(tags).intersection(AUTOMATED_KINDS):
                report.personal_writers_tagged_automated.append(key)
    report.persons = len(by_sender)
    report.person_accuracy = right / report.persons if report.persons else 0.0
    report.person_confusion = dict(person_confusion)
    return report


def evaluate(rows: list[dict[str, str]] | None = None, body_cap: int | None = DEFAULT_BODY_CAP) -> Report:
    """Tag every labelled message and sender; compare with the labels, whole and per half."""
    tagged = tag_rows(load_labels() if rows is None else rows, body_cap)
    report = summarise(tagged)
    report.halves = {half: summarise([t for t in tagged if t.row.get("half") == half]) for half in HALVES}
    return report


def _matrix(confusion: dict[str, Counter], rows: tuple[str, ...] | None = None) -> str:
    rows = rows or tuple(sorted(confusion, key=lambda r: (r not in CLASSES, r)))
    columns = sorted({c for counts in confusion.values() for c in counts}, key=lambda c: (c not in CLASSES, c))
    width = max(len(c) for c in (*columns, *rows, "expected \\ got")) + 1
    lines = ["expected \\ got".ljust(width) + "".join(c.rjust(width) for c in columns)]
    for r in rows:
        if r in confusion:
            lines.append(r.ljust(width) + "".join(str(confusion[r].get(c, 0)).rjust(width) for c in columns))
    return "\n".join(lines)


def _class_table(reports: dict[str, Report]) -> str:
    """One line per class, one column group (messages, accuracy, precision, senders) per report."""
    head = f"{'class':<15}" + "".join(f"{name:>38}" for name in reports)
    sub = f"{'':<15}" + f"{'msgs':>7}{'acc':>7}{'prec':>7}{'senders':>9}{'s.acc':>8}" * len(reports)
    lines = [head, sub]
    for cls in CLASSES:
        cells = ""
        for report in reports.values():
            f = report.per_class.get(cls)
            cells += (f"{f['messages']:>7}{f['accuracy']:>7.3f}{f['precision']:>7.3f}{f['senders']:>9}"
                      f"{f['sender_accuracy']:>8.3f}") if f else f"{'-':>38}"
        lines.append(f"{cls:<15}{cells}")
    people = "".join(f"{f'{r.persons} senders, accuracy {r.person_accuracy:.3f}':>38}" for r in reports.values())
    lines.append(f"{'persons':<15}{people}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", type=int, default=15, help="misses to list per class")
    parser.add_argument("--misses-from", choices=(*HALVES, "all"), default="tuning",
                        help="half whose misses are listed (default: tuning, never peek at held-out while tuning)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--whole-messages", action="store_true",
                        help="read whole messages instead of the product's 16 KiB body cap (for comparison)")
    parser.add_argument("--folder", type=pathlib.Path,
                        help="measure a folder of labelled mail (<folder>/<label>/*.eml) instead of the label file")
    args = parser.parse_args()
    body_cap = None if args.whole_messages else DEFAULT_BODY_CAP
    if args.folder:
        report = summarise(tag_folder(args.folder, body_cap))
        print(f"MESSAGES ({report.messages} in {args.folder})")
        print(_class_table({"all": report}))
        print(_matrix(report.message_confusion))
        for cls, _half, _corpus, path, sender, tags in report.misses:
            print(f"MISS {cls:<13} {path}  from {sender}  got {tags}")
        return 0
    report = evaluate(body_cap=body_cap)
    if args.json:
        print(json.dumps({**report.figures(), "halves": {h: r.figures() for h, r in report.halves.items()}}, indent=2))
        return 0
    print(f"MESSAGES ({report.messages} labelled; acc = share of the class's messages that got its tag,"
          " s.acc = the same averaged per sender)")
    print(_class_table({"all": report, **report.halves}))
    print()
    print("by source (all)")
    for key, figures in report.per_source.items():
        print(f"  {key:<45}{figures['messages']:>6}{figures['accuracy']:>8.3f}")
    for name, part in {"all": report, **report.halves}.items():
        print()
        print(f"message confusion ({name})")
        print(_matrix(part.message_confusion))
    for name, part in {"all": report, **report.halves}.items():
        print()
        print(f"PERSONS ({name}: {part.persons} senders) accuracy {part.person_accuracy:.3f}")
        print(_matrix(part.person_confusion, PERSON_CLASSES))
    print()
    print(f"people who wrote personally but are tagged newsletter: {len(report.personal_writers_tagged_newsletter)}"
          f" {report.personal_writers_tagged_newsletter[:10]}")
    print(f"… tagged any automated kind: {len(report.personal_writers_tagged_automated)}"
          f" {report.personal_writers_tagged_automated[:10]}")
    if args.misses:
        print()
        shown: Counter = Counter()
        for cls, half, corpus, path, sender, tags in report.misses:
            if args.misses_from in ("all", half) and shown[cls] < args.misses:
                shown[cls] += 1
                print(f"MISS {cls:<13} [{half}] {corpus}/{path}  from {sender}  got {tags}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
