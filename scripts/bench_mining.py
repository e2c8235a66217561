#!/usr/bin/env python3
"""Whole-mining benchmark of the embedded mode on a large synthetic mailbox.

    .venv/bin/python scripts/bench_mining.py [--copies 6] [--keep]

Builds an mbox from every message of the corpora (spamassassin, lkml,
quagga-enron-train, newsletters, notmuch-threading, malformed), repeated
``--copies`` times with rewritten Message-IDs / References (so each copy is a
distinct mailbox history with the same thread shapes), mines it with the
embedded runner into a fresh SQLite database, and reports messages/s, the time
of each stage, peak RSS and the database size. A second run on the same
database measures the "nothing new" re-mining path.
"""

from __future__ import annotations

import argparse
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from corpora import extract_corpus  # noqa: E402

from leadminer_runner.embedded import mine  # noqa: E402
from leadminer_runner.sources import FileMessageSource  # noqa: E402

CORPORA = ("spamassassin", "lkml", "quagga-enron-train", "newsletters", "notmuch-threading", "malformed")
_MSG_ID = re.compile(rb"<([^<>@\s]+)@")


def build_mailbox(path: Path, copies: int) -> int:
    messages = []
    for name in CORPORA:
        folder = extract_corpus(name)
        messages += [p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.endswith(".ann")]
    count = 0
    with open(path, "wb") as out:
        for copy in range(copies):
            tag = f"c{copy}-".encode()
            for data in messages:
                head, sep, body = data.partition(b"\n\n") if b"\r\n\r\n" not in data[:65536] else data.partition(b"\r\n\r\n")
                head = _MSG_ID.sub(lambda m: b"<" + tag + m.group(1) + b"@", head)  # ids, In-Reply-To, References
                body = re.sub(rb"^(>*)From ", rb"\1>From ", body, flags=re.M)
                out.write(b"From bench@localhost Thu Jan  1 00:00:00 2004\n" + head + sep + body + b"\n")
                count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=6)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="leadminer-bench-"))
    mbox = work / "big.mbox"
    n = build_mailbox(mbox, args.copies)
    print(f"mailbox: {n:,} messages, {mbox.stat().st_size / 1e6:,.0f} MB ({args.copies} copies of the corpora)")

    marks: list[tuple[str, float]] = []

    def on_progress(p) -> None:
        if not marks or marks[-1][0] != p.stage:
            marks.append((p.stage, time.perf_counter()))

    db = work / "bench.db"
    start = time.perf_counter()
    summary = mine(FileMessageSource(mbox), db_path=db, progress=on_progress)
    total = time.perf_counter() - start
    marks.append(("end", time.perf_counter()))
    print(f"mined {summary.fetched:,} messages in {total:.1f} s: {summary.fetched / total:,.0f} messages/s; "
          f"{summary.persons:,} persons, {summary.signatures:,} signatures, {summary.failed} failed, "
          f"{summary.duplicates:,} duplicate Message-IDs")  # fmt: skip
    for (stage, t0), (_next, t1) in zip(marks, marks[1:], strict=False):
        if stage != "done":
            label = "fetch+extract" if stage == "fetch" else stage
            print(f"  {label:<14} {t1 - t0:7.1f} s")
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss_mb:,.0f} MB; database {db.stat().st_size / 1e6:,.1f} MB")

    start = time.perf_counter()
    again = mine(FileMessageSource(mbox), db_path=db)
    print(f"re-mining the same mailbox: {time.perf_counter() - start:.1f} s, {again.extracted} new, "
          f"{again.already_mined:,} already mined")  # fmt: skip
    if args.keep:
        print(f"kept {work}")
    else:
        for p in sorted(work.glob("*"), reverse=True):
            p.unlink()
        work.rmdir()


if __name__ == "__main__":
    main()
