#!/usr/bin/env python3
"""Display-name quality: the share of persons whose chosen name is one they use
in their own From header, on the corpora, against two naive baselines.

    .venv/bin/python scripts/quality_names.py [--corpus spamassassin lkml quagga-enron-train]

Persons counted: those who sent at least one message with a usable display
name (not an address, not their local part). Word order does not count:
"Beck, Sally" written, "Sally Beck" shown is the same name. Baselines:
- "last seen": the name of the address's most recent occurrence in any header;
- "most frequent, any header": the commonest name across From/To/Cc/….
"""

from __future__ import annotations

import asyncio

import argparse
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from corpora import extract_corpus  # noqa: E402

from leadminer.contracts import Field, RawMessage  # noqa: E402
from leadminer.flow.memory import mine_in_memory  # noqa: E402
from leadminer.pipeline import extract_batch  # noqa: E402

DEFAULT_CORPORA = ("spamassassin", "lkml", "quagga-enron-train", "notmuch-threading")


def corpus_raws(name: str) -> list[RawMessage]:
    folder = extract_corpus(name)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.endswith(".ann"))
    return [RawMessage("names", name, str(p.relative_to(folder)), p.read_bytes()) for p in files]


def same_name(shown: str | None, written: set[str]) -> bool:
    """``shown`` is one of the ``written`` names, word order aside ("Sally Beck" = "Beck, Sally")."""
    def words(name: str) -> list[str]:
        return sorted(name.replace(",", " ").lower().split())

    return shown is not None and any(words(shown) == words(w) for w in written)


def usable(name: str | None, email: str) -> bool:
    return bool(name) and "@" not in name and name.lower() != email.split("@")[0]


def measure(raws: list[RawMessage]) -> dict[str, float | int]:
    records, _ = extract_batch(raws)
    own: dict[str, set[str]] = defaultdict(set)
    last_seen: dict[str, tuple[str, str]] = {}
    any_field: dict[str, Counter[str]] = defaultdict(Counter)
    for record in records:
        for point in record.points:
            if not usable(point.name, point.email):
                continue
            key = point.key
            if point.field is Field.FROM:
                own[key].add(point.name)
            any_field[key][point.name] += 1
            stamp = record.date or ""
            if key not in last_seen or stamp >= last_seen[key][0]:
                last_seen[key] = (stamp, point.name)
    persons = {p.email: p for p in asyncio.run(mine_in_memory(raws))}
    counted = [k for k in own if k in persons]
    ours = sum(same_name(persons[k].name, own[k]) for k in counted)
    last = sum(last_seen[k][1] in own[k] for k in counted)
    frequent = sum(any_field[k].most_common(1)[0][0] in own[k] for k in counted)
    n = len(counted) or 1
    return {
        "persons": len(counted),
        "ours": ours / n,
        "last_seen": last / n,
        "most_frequent_any": frequent / n,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", nargs="+", default=list(DEFAULT_CORPORA))
    args = parser.parse_args()
    print(f"{'corpus':<22} {'persons':>8} {'ours':>7} {'last seen':>10} {'most freq':>10}")
    for name in args.corpus:
        m = measure(corpus_raws(name))
        print(f"{name:<22} {m['persons']:>8} {m['ours']:>7.3f} {m['last_seen']:>10.3f} {m['most_frequent_any']:>10.3f}")


if __name__ == "__main__":
    main()
