#!/usr/bin/env python3
"""Throughput of every stage, measured side by side in one run on one core.

    .venv/bin/python scripts/bench_stages.py [--corpus spamassassin quagga-enron-train] [--repeat 3]

Stages: extract (headers + body), tag (message tags), clean (distinct
addresses, cold cache), signature (every message that has a body, as the
signature stage would see it) and refine (index + persons). Reports the best of
``--repeat`` runs in items/s, so the signature stage can be compared with the
extract stage it must not slow down.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from corpora import extract_corpus  # noqa: E402

from leadminer.clean import AddressCleaner  # noqa: E402
from leadminer.contracts import RawMessage  # noqa: E402
from leadminer.extract import ExtractError, extract_message  # noqa: E402
from leadminer.refine import index_messages, refine_persons  # noqa: E402
from leadminer.signature import extract_signature  # noqa: E402
from leadminer.tagging import tag_message  # noqa: E402


def load(names: list[str]) -> list[RawMessage]:
    raws = []
    for name in names:
        folder = extract_corpus(name)
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.endswith(".ann")):
            raws.append(RawMessage("bench", name, path.name, path.read_bytes()))
    return raws


def best_of(repeat: int, fn) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", nargs="+", default=["spamassassin", "quagga-enron-train"])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    raws = load(args.corpus)

    def extract_all():
        out = []
        for raw in raws:
            try:
                out.append(extract_message(raw))
            except ExtractError:
                pass
        return out

    t_extract, records = best_of(args.repeat, extract_all)
    t_tag, _ = best_of(args.repeat, lambda: [tag_message(r) for r in records])
    for r in records:
        r.tags = tag_message(r)
    emails = sorted({p.email for r in records for p in r.points})
    t_clean, _ = best_of(args.repeat, lambda: AddressCleaner().clean_batch(emails))  # a new cleaner: cold cache
    with_body = [r for r in records if r.body and r.sender]

    def signatures():
        return [extract_signature(r.body, sender_email=r.sender.email, sender_name=r.sender.name) for r in with_body]

    t_sig, found = best_of(args.repeat, signatures)

    def refine():
        indexed, occ = index_messages(records, set(), {})
        by_id = {m.message_id: m for m in indexed}
        return refine_persons(
            "bench", {o.key for o in occ}, messages=indexed, occurrences=occ, parents=by_id,
            thread_sizes=Counter(m.thread_id for m in indexed), identity_keys=set(), cleaned={},
            signatures={}, previous={}, as_of=None,
        )  # fmt: skip

    t_refine, persons = best_of(args.repeat, refine)
    print(f"corpus: {', '.join(args.corpus)} — {len(raws)} messages, {len(emails)} distinct addresses, "
          f"{len(with_body)} bodies, {len(persons)} persons; best of {args.repeat}")  # fmt: skip
    rows = [
        ("extract", len(raws), t_extract, "messages"),
        ("tag", len(records), t_tag, "messages"),
        ("clean", len(emails), t_clean, "addresses"),
        ("signature", len(with_body), t_sig, "bodies"),
        ("refine", len(records), t_refine, "messages"),
    ]
    for stage, n, seconds, unit in rows:
        print(f"{stage:<10} {n / seconds:>10,.0f} {unit}/s   ({seconds * 1000:,.0f} ms)")
    print(f"signatures found: {sum(s is not None for s in found)}")


if __name__ == "__main__":
    main()
